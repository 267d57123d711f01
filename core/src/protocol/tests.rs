//! The wire, byte for byte: each body serialised with [`to_json`] against
//! the exact text the relay answered with before the bodies were typed
//! (captured from the relay at commit 75f4732, device ids replaced).

use super::*;

const T: i64 = 1_800_000_000;
const A: &str = "dev_0123456789abcdef";
const SHA_ONE: &str = "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed";

fn text<B: serde::Serialize>(b: &B) -> String {
    String::from_utf8(to_json(b).unwrap()).unwrap()
}

fn device(id: &str, last_push_at: Option<i64>, last_pull_at: Option<i64>) -> DeviceInfo {
    DeviceInfo {
        device_id: id.into(),
        name: "laptop".into(),
        created_at: T,
        last_push_at,
        last_pull_at,
        blob_count: 2,
        sealed_bytes: 6,
        revoked: false,
    }
}

#[test]
fn success_bodies_are_the_relays_bytes() {
    let cases: Vec<(String, &str)> = vec![
        (text(&HealthResponse { ok: true }), r#"{"ok":true}"#),
        (
            text(&InitResponse {
                device_id: A.into(),
                server_time: T,
            }),
            r#"{"deviceId":"dev_0123456789abcdef","serverTime":1800000000}"#,
        ),
        (
            text(&PushResponse {
                seq: 1,
                server_time: T,
            }),
            r#"{"seq":1,"serverTime":1800000000}"#,
        ),
        (
            text(&PullPage {
                items: vec![PullItem {
                    device_id: A.into(),
                    seq: 1,
                    sha256: SHA_ONE.into(),
                    size: 3,
                    created_at: T,
                }],
                next_cursor: "c_1099511627777".into(),
                has_more: false,
                server_time: T,
            }),
            concat!(
                r#"{"hasMore":false,"items":[{"createdAt":1800000000,"deviceId":"dev_0123456789abcdef","seq":1,"#,
                r#""sha256":"7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed","size":3}],"#,
                r#""nextCursor":"c_1099511627777","serverTime":1800000000}"#
            ),
        ),
        (
            text(&PullPage {
                items: vec![],
                next_cursor: String::new(),
                has_more: false,
                server_time: T,
            }),
            r#"{"hasMore":false,"items":[],"nextCursor":"","serverTime":1800000000}"#,
        ),
        (
            text(&KeycheckPutResponse {
                sha256: SHA_ONE.into(),
                server_time: T,
            }),
            r#"{"serverTime":1800000000,"sha256":"7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed"}"#,
        ),
        (
            text(&RevokeResponse { revoked: A.into() }),
            r#"{"revoked":"dev_0123456789abcdef"}"#,
        ),
        (text(&PruneResponse { pruned: 1 }), r#"{"pruned":1}"#),
        (
            text(&DevicesResponse {
                devices: vec![device(A, Some(T), None), device("dev_b", None, Some(T))],
            }),
            concat!(
                r#"{"devices":[{"blobCount":2,"createdAt":1800000000,"deviceId":"dev_0123456789abcdef","#,
                r#""lastPullAt":null,"lastPushAt":1800000000,"name":"laptop","revoked":false,"sealedBytes":6},"#,
                r#"{"blobCount":2,"createdAt":1800000000,"deviceId":"dev_b","lastPullAt":1800000000,"#,
                r#""lastPushAt":null,"name":"laptop","revoked":false,"sealedBytes":6}]}"#
            ),
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

#[test]
fn error_bodies_are_the_relays_bytes() {
    let with = |code, message: &str, f: &dyn Fn(&mut ErrorBody)| {
        let mut b = ErrorBody::new(code, message);
        f(&mut b);
        text(&b)
    };
    let msg = "seq must be greater than the last accepted seq 2";
    let cases = [
        (
            with(ErrorCode::NotFound, "not found", &|_| {}),
            r#"{"error":"not_found","message":"not found"}"#,
        ),
        (
            with(
                ErrorCode::ClockSkew,
                "clock skew of 1000 s exceeds the allowed ±300 s",
                &|b| b.server_time = Some(T),
            ),
            r#"{"error":"clock_skew","message":"clock skew of 1000 s exceeds the allowed ±300 s","serverTime":1800000000}"#,
        ),
        (
            with(ErrorCode::SeqConflict, msg, &|b| {
                b.last_seq = Some(2);
                b.existing_sha256 = Some(Some(SHA_ONE.into()));
            }),
            r#"{"error":"seq_conflict","existingSha256":"7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed","lastSeq":2,"message":"seq must be greater than the last accepted seq 2"}"#,
        ),
        (
            with(ErrorCode::SeqConflict, msg, &|b| {
                b.last_seq = Some(2);
                b.existing_sha256 = Some(None);
            }),
            r#"{"error":"seq_conflict","existingSha256":null,"lastSeq":2,"message":"seq must be greater than the last accepted seq 2"}"#,
        ),
        (
            with(
                ErrorCode::TooLarge,
                "body exceeds the 4096-byte limit",
                &|b| b.max_bytes = Some(4096),
            ),
            r#"{"error":"too_large","maxBytes":4096,"message":"body exceeds the 4096-byte limit"}"#,
        ),
        (
            with(
                ErrorCode::RateLimited,
                "too many requests; retry later",
                &|b| b.retry_after = Some(1000),
            ),
            r#"{"error":"rate_limited","message":"too many requests; retry later","retryAfter":1000}"#,
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

/// A v1 `init` body (no authority fields) and its bytes on the wire.
fn init_v1() -> InitRequest {
    InitRequest {
        license_id: "lic_a".into(),
        license_key: "k".into(),
        public_key: "p".into(),
        device_name: "laptop".into(),
        ts: T,
        signature: "s".into(),
        authority_signature: None,
        authority_key: None,
        authority_claim: None,
    }
}
const INIT_V1: &str = r#"{"deviceName":"laptop","licenseId":"lic_a","licenseKey":"k","publicKey":"p","signature":"s","ts":1800000000}"#;

/// The client's request bodies, as `json!` wrote them before.
#[test]
fn request_bodies_keep_their_bytes() {
    assert_eq!(text(&init_v1()), INIT_V1);
    assert_eq!(
        text(&RevokeRequest {
            target_device_id: A.into()
        }),
        r#"{"targetDeviceId":"dev_0123456789abcdef"}"#
    );
    assert_eq!(
        text(&PruneRequest { checkpoint_seq: 7 }),
        r#"{"checkpointSeq":7}"#
    );
}

#[test]
fn error_body_reads_as_clients_always_did() {
    let b: ErrorBody = serde_json::from_str(
        r#"{"error":"seq_conflict","existingSha256":null,"lastSeq":2,"message":"m","maxBytes":"x","retryAfter":-1,"extra":1}"#,
    )
    .unwrap();
    assert!(b.is(ErrorCode::SeqConflict));
    assert_eq!((b.last_seq, b.existing_sha256()), (Some(2), None));
    assert_eq!((b.max_bytes, b.retry_after), (None, None));
    let b: ErrorBody = serde_json::from_str("{}").unwrap();
    assert_eq!(b, ErrorBody::default());
    // A lastSeq that is not a u64 makes the body unreadable (the client
    // then answers with its own `http_<status>` code), as before.
    assert!(serde_json::from_str::<ErrorBody>(r#"{"lastSeq":-1}"#).is_err());
}

#[test]
fn devices_read_leniently() {
    let d: DevicesResponse =
        serde_json::from_str(r#"{"devices":[{"deviceId":"dev_a","name":"n"}]}"#).unwrap();
    assert_eq!(d.devices[0].created_at, 0);
    assert_eq!(d.devices[0].last_push_at, None);
}

/// Fields the engine never read before the bodies were typed (a pull item's
/// `size` and `createdAt`, a page's or init answer's `serverTime`, a
/// device's `createdAt` that was optional) must not make an answer
/// unreadable when a relay sends them as `null` or another type.
#[test]
fn fields_clients_never_read_do_not_fail_an_answer() {
    let page: PullPage = serde_json::from_str(
        r#"{"items":[{"deviceId":"dev_a","seq":1,"sha256":"ab","size":null,"createdAt":"x"}],"nextCursor":"1","serverTime":null}"#,
    )
    .unwrap();
    assert_eq!((page.items[0].size, page.items[0].created_at), (0, 0));
    assert_eq!(page.server_time, 0);
    let init: InitResponse =
        serde_json::from_str(r#"{"deviceId":"dev_a","serverTime":1.5}"#).unwrap();
    assert_eq!(init.device_id, "dev_a");
    let d: DevicesResponse =
        serde_json::from_str(r#"{"devices":[{"deviceId":"dev_a","name":"n","createdAt":null}]}"#)
            .unwrap();
    assert_eq!(d.devices[0].created_at, 0);
}

#[test]
fn every_code_is_in_the_protocol_document_with_its_status() {
    let doc = include_str!("../../../docs/PROTOCOL.md");
    for code in ErrorCode::ALL {
        let row = format!("| `{}` | {}", code.as_str(), code.status());
        assert!(doc.contains(&row), "docs/PROTOCOL.md lacks the row {row}");
    }
}

#[test]
fn paths_are_filled_in_encoded() {
    assert_eq!(routes::blob_path("dev_a/b", 7), "/sync/blob/dev_a%2Fb/7");
    assert_eq!(routes::blob_path("{seq}", 7), "/sync/blob/%7Bseq%7D/7");
    assert_eq!(
        routes::pull_path("c_1 2", 100),
        "/sync/pull?since=c_1%202&limit=100"
    );
    assert_eq!(
        routes::admin_devices_path("lic_a"),
        "/admin/licenses/lic_a/devices"
    );
}

/// PROTOCOL §11: the authority fields of `init` are left out when absent
/// (a v1 body keeps its bytes, checked above) and camelCase when present;
/// a v1 relay's answer without `claimOpen` still reads.
#[test]
fn authority_bodies_on_the_wire() {
    let init = InitRequest {
        authority_signature: Some("as".into()),
        authority_key: Some("ak".into()),
        authority_claim: Some("ac".into()),
        ..init_v1()
    };
    assert_eq!(
        text(&init),
        r#"{"authorityClaim":"ac","authorityKey":"ak","authoritySignature":"as","deviceName":"laptop","licenseId":"lic_a","licenseKey":"k","publicKey":"p","signature":"s","ts":1800000000}"#
    );
    let v1: InitRequest = serde_json::from_str(INIT_V1).unwrap();
    assert_eq!(
        (v1.authority_signature, v1.authority_key, v1.authority_claim),
        (None, None, None)
    );
    let a = AuthorityResponse {
        license_id: "lic_a".into(),
        authority_key: None,
        claim_open: true,
        server_time: T,
    };
    assert_eq!(
        text(&a),
        r#"{"authorityKey":null,"claimOpen":true,"licenseId":"lic_a","serverTime":1800000000}"#
    );
    let read: AuthorityResponse =
        serde_json::from_str(r#"{"licenseId":"lic_a","authorityKey":"ak"}"#).unwrap();
    assert_eq!(
        (read.authority_key.as_deref(), read.claim_open),
        (Some("ak"), false)
    );
    assert_eq!(routes::AUTHORITY, "/sync/authority");
    assert_eq!(headers::AUTHORITY_SIGNATURE, "X-Authority-Signature");
}
