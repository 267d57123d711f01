use std::collections::{BTreeMap, HashSet};

use azmx_sync_core::engine::SyncError as EngineError;
use azmx_sync_core::error::KeyFileProblem;
use azmx_sync_core::merge::{StoreNameError, TodoInvalid};
use azmx_sync_core::Error as CoreError;

use crate::error::{c_status_name, C_STATUSES};
use crate::{ApiError, DetailValue, ErrorKind};

/// Kinds that report a C status named after another kind, with why.
const SHARED_C_STATUS: [(ErrorKind, &str); 3] = [
    (ErrorKind::BuiltinStoreRedefined, "INVALID_STORE_NAME"),
    (ErrorKind::Config, "INVALID_ARGUMENT"),
    (ErrorKind::Busy, "INTERNAL"),
];

/// `AZMX_STATUS_<NAME> = <n>` from the committed, cbindgen-generated header.
fn header_statuses() -> BTreeMap<i32, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../include/azmx_sync.h");
    let header = std::fs::read_to_string(path).expect("include/azmx_sync.h");
    header
        .split("AZMX_STATUS_")
        .skip(1)
        .filter_map(|rest| {
            let (name, tail) = rest.split_once(" = ")?;
            let n: String = tail.chars().take_while(|c| c.is_ascii_digit()).collect();
            Some((n.parse().ok()?, name.to_string()))
        })
        .collect()
}

#[test]
fn c_statuses_are_the_headers() {
    let ours: BTreeMap<i32, String> = C_STATUSES
        .iter()
        .map(|(n, s)| (*n, s.to_string()))
        .collect();
    assert_eq!(ours.len(), C_STATUSES.len(), "numbers are unique");
    assert_eq!(ours, header_statuses());
}

#[test]
fn every_kind_has_a_unique_code_and_its_own_c_status() {
    let mut codes = HashSet::new();
    let mut numbers = HashSet::new();
    for &kind in ErrorKind::ALL {
        assert!(codes.insert(kind.code()), "duplicate code {}", kind.code());
        let c_name = c_status_name(kind.c_status()).expect("a C status");
        match SHARED_C_STATUS.iter().find(|(k, _)| *k == kind) {
            Some((_, shared)) => assert_eq!(c_name, *shared, "{kind:?}"),
            None => {
                assert_eq!(c_name, kind.code(), "{kind:?}: code is the C name");
                assert!(numbers.insert(kind.c_status()), "{kind:?}");
            }
        }
    }
    // Every C status but OK is some kind's own.
    assert_eq!(numbers.len(), C_STATUSES.len() - 1);
    assert!(codes.iter().all(|c| !c.is_empty()
        && c.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')));
}

#[test]
fn node_codes_differ_only_where_kept_for_compatibility() {
    let renamed: Vec<_> = ErrorKind::ALL
        .iter()
        .filter(|k| k.node_code() != k.code())
        .map(|k| (k.code(), k.node_code()))
        .collect();
    assert_eq!(
        renamed,
        [
            ("BUILTIN_STORE_REDEFINED", "INVALID_STORE_NAME"),
            ("RELAY_UNREACHABLE", "NETWORK"),
            ("HOST_CALLBACK_FAILED", "STORE_ERROR"),
            ("STATE_DIR", "STATE_IO"),
        ]
    );
}

#[test]
fn core_errors_keep_their_code_and_message() {
    for e in [
        CoreError::EmptyReceipt,
        CoreError::EmptyLicenseId,
        CoreError::InvalidBase64,
        CoreError::EnvelopeTooShort { len: 3 },
        CoreError::UnsupportedVersion(2),
        CoreError::DecryptFailed,
        CoreError::BlobIntegrity {
            expected: "aa".into(),
            actual: "bb".into(),
        },
        CoreError::KeyFile {
            path: "/x/device.key".into(),
            problem: KeyFileProblem::InsecurePermissions { mode: 0o644 },
        },
        CoreError::MalformedField {
            field: "f",
            reason: "r",
        },
        CoreError::BadSignature,
        CoreError::ClockSkew {
            skew_secs: -301,
            max_secs: 300,
        },
    ] {
        let message = e.to_string();
        let code = e.code().to_ascii_uppercase();
        let api = ApiError::from(e);
        assert_eq!(api.to_string(), message);
        assert_eq!(api.code(), code);
    }
}

#[test]
fn engine_errors_keep_their_message_and_map_to_one_kind() {
    let cases = [
        (
            EngineError::WrongReceipt { authority: None },
            ErrorKind::WrongReceipt,
        ),
        (
            EngineError::WrongReceipt {
                authority: Some(azmx_sync_core::engine::AuthorityMismatch {
                    receipt: "0011-2233-4455-6677".into(),
                    license: "8899-aabb-ccdd-eeff".into(),
                }),
            },
            ErrorKind::WrongReceipt,
        ),
        (EngineError::NoReceipt, ErrorKind::NoReceipt),
        (EngineError::NotRegistered, ErrorKind::NotRegistered),
        (EngineError::Revoked, ErrorKind::Revoked),
        (
            EngineError::ClockSkew { skew_secs: -400 },
            ErrorKind::ClockSkew,
        ),
        (
            EngineError::RateLimited {
                retry_after_secs: 7,
            },
            ErrorKind::RateLimited,
        ),
        (
            EngineError::Network {
                message: "refused".into(),
            },
            ErrorKind::RelayUnreachable,
        ),
        (
            EngineError::Relay {
                status: 500,
                code: "x".into(),
                message: "m".into(),
            },
            ErrorKind::RelayError,
        ),
        (
            EngineError::Store {
                store: "notes".into(),
                message: "boom".into(),
            },
            ErrorKind::StoreFailed,
        ),
        (EngineError::Config("twice".into()), ErrorKind::Config),
        (
            EngineError::State {
                path: "/s".into(),
                message: "m".into(),
            },
            ErrorKind::StateDir,
        ),
        (
            EngineError::ExportFormat("bad".into()),
            ErrorKind::ExportFormat,
        ),
        (
            EngineError::Internal {
                message: "oops".into(),
            },
            ErrorKind::Internal,
        ),
        (
            EngineError::Core(CoreError::DecryptFailed),
            ErrorKind::DecryptFailed,
        ),
    ];
    for (e, kind) in cases {
        let message = e.to_string();
        let api = ApiError::from(e);
        assert_eq!(api.kind(), kind);
        assert_eq!(api.to_string(), message);
    }
    assert_eq!(
        ApiError::from(EngineError::Internal {
            message: "oops".into()
        }),
        ApiError::Internal {
            code: "internal".into(),
            detail: "internal error: oops".into()
        }
    );
}

#[test]
fn details_are_the_node_properties() {
    let text = |s: &str| DetailValue::Text(s.into());
    let d = ApiError::from(CoreError::KeyFile {
        path: "/k".into(),
        problem: KeyFileProblem::InsecurePermissions { mode: 0o644 },
    })
    .details();
    assert_eq!(
        d,
        [
            ("path", text("/k")),
            ("problem", text("insecurePermissions")),
            ("mode", DetailValue::Number(420.0))
        ]
    );
    let skew = ApiError::from(EngineError::ClockSkew { skew_secs: -9 }).details();
    assert_eq!(skew, [("skewSecs", DetailValue::Number(-9.0))]);
    let todo = ApiError::from(TodoInvalid::DuplicateId { index: 3, first: 0 }).details();
    assert_eq!(
        todo,
        [
            ("problem", text("duplicateId")),
            ("index", DetailValue::Number(3.0))
        ]
    );
    let name = ApiError::from(StoreNameError::WorkspaceScoped).details();
    assert_eq!(name, [("problem", text("workspaceScoped"))]);
    assert!(ApiError::DecryptFailed.details().is_empty());
}

#[test]
fn invalid_json_names_the_argument_never_the_content() {
    let e = serde_json::from_str::<serde_json::Value>("{\"TOPSECRET\": ").unwrap_err();
    let api = ApiError::invalid_json("local_json", &e);
    let msg = api.to_string();
    assert!(msg.starts_with("`local_json` is not valid JSON for this call: unexpected end"));
    assert!(!msg.contains("TOPSECRET"));
    assert_eq!(api.c_status(), 30);
}
