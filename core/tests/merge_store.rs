//! Store names, registry, host-registered stores, todo invariants and the
//! canonical serialiser.

use azmx_sync_core::merge::{
    canonical_json, merge, validate_todos, Contract, InvalidReason, Record, Registry,
    RegistryError, StoreName, StoreNameError, StoreSpec, StoreState, TodoInvalid,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------- names

#[test]
fn store_name_rules() {
    assert!(StoreName::new("a").is_ok());
    assert!(StoreName::new("my-store_2").is_ok());
    assert!(StoreName::new(format!("a{}", "b".repeat(63))).is_ok());
    assert_eq!(
        StoreName::new(format!("a{}", "b".repeat(64))),
        Err(StoreNameError::TooLong)
    );
    assert_eq!(StoreName::new(""), Err(StoreNameError::Empty));
    for bad_start in ["1abc", "_abc", "-abc", "Abc", "/abc", "éa"] {
        assert_eq!(
            StoreName::new(bad_start),
            Err(StoreNameError::BadStart),
            "{bad_start}"
        );
    }
    for bad_char in ["aBc", "a.b", "a/b", "a\\b", "a b", "a:b", "a~", "aé"] {
        assert_eq!(
            StoreName::new(bad_char),
            Err(StoreNameError::BadChar),
            "{bad_char}"
        );
    }
    for ws in ["workspace", "workspace-memory", "my_workspace_notes"] {
        assert_eq!(
            StoreName::new(ws),
            Err(StoreNameError::WorkspaceScoped),
            "{ws}"
        );
    }
    // Only the whole word is reserved.
    assert!(StoreName::new("workspaces2").is_ok());
    assert_eq!(StoreName::new("notes").unwrap().as_str(), "notes");
    assert_eq!(StoreName::new("notes").unwrap().to_string(), "notes");
}

#[test]
fn store_name_errors_carry_no_input() {
    let e = StoreName::new("/home/secret-user/x").unwrap_err();
    assert!(!e.to_string().contains("secret-user"));
}

// ---------------------------------------------------------------- registry

#[test]
fn registry_with_builtins() {
    let reg = Registry::with_builtins();
    assert_eq!(reg.len(), 3);
    let names: Vec<&str> = reg.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["memory", "snippets", "todos"]);
    assert_eq!(reg.get("snippets").unwrap().contract, Contract::LwwByTime);
    assert_eq!(reg.get("todos").unwrap().contract, Contract::LwwPerGroup);
    assert_eq!(reg.get("memory").unwrap().contract, Contract::LwwByVersion);
    assert!(reg.get("todos").unwrap().validator.is_some());
    assert!(reg.get("nope").is_none());
    assert!(reg.get("/etc/passwd").is_none());
}

#[test]
fn registry_refuses_duplicates() {
    let mut reg = Registry::with_builtins();
    let name = StoreName::new("notes").unwrap();
    reg.register(StoreSpec::new(name.clone(), Contract::LwwByTime))
        .unwrap();
    assert_eq!(
        reg.register(StoreSpec::new(name, Contract::LwwByVersion)),
        Err(RegistryError::Duplicate)
    );
    assert_eq!(
        reg.register(StoreSpec::todos()),
        Err(RegistryError::Duplicate)
    );
    assert_eq!(reg.get("notes").unwrap().contract, Contract::LwwByTime);
    assert_eq!(reg.len(), 4);
}

#[test]
fn host_registered_store_with_validator() {
    let spec = StoreSpec::new(StoreName::new("bookmarks").unwrap(), Contract::LwwByTime)
        .with_validator(|r: &Record| match &r.body {
            Some(b) if b.to_value().get("url").is_none() => {
                Err(InvalidReason::Custom("missing-url"))
            }
            _ => Ok(()),
        });
    let good = Record::new("b1", None, 1, None, "d1", json!({"url": "https://x"}));
    let bad = Record::new("b2", None, 1, None, "d1", json!({"title": "x"}));
    let gone = Record::tombstone("b3", None, 1, None, "d1");
    let out = merge(&spec, &StoreState::new(), [good, bad, gone]);
    assert_eq!(out.state.len(), 2);
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].1, InvalidReason::Custom("missing-url"));
    assert_eq!(
        out.rejected[0].1.to_string(),
        "rejected by store validator: missing-url"
    );
}

#[test]
fn host_registered_group_store_replaces_whole_group() {
    let spec = StoreSpec::new(StoreName::new("tabs").unwrap(), Contract::LwwPerGroup);
    let g1 = Record::new("window-1", None, 1, None, "d1", json!({"tabs": ["a", "b"]}));
    let g2 = Record::new("window-1", None, 2, None, "d2", json!({"tabs": ["c"]}));
    let out = merge(&spec, &StoreState::from([g1]), [g2.clone()]);
    assert_eq!(out.state.records().collect::<Vec<_>>(), vec![&g2]);
}

#[test]
fn host_registered_unscoped_and_scoped_keys_coexist() {
    let spec = StoreSpec::new(StoreName::new("notes").unwrap(), Contract::LwwByTime);
    let a = Record::new("n", None, 1, None, "d1", json!(1));
    let b = Record::new("n", Some("h".into()), 1, None, "d1", json!(2));
    assert_eq!(merge(&spec, &StoreState::new(), [a, b]).state.len(), 2);
}

// ---------------------------------------------------------------- todos

fn item(id: &str, content: &str, status: &str) -> Value {
    json!({"id": id, "content": content, "status": status})
}

fn list(items: Vec<Value>) -> Value {
    json!({ "items": items })
}

#[test]
fn validate_todos_accepts_valid_lists() {
    assert_eq!(validate_todos(&list(vec![])), Ok(()));
    let ok = list(vec![
        item("1", "a", "pending"),
        item("2", "b", "in_progress"),
        item("3", "c", "completed"),
        item("4", "d", "completed"),
    ]);
    assert_eq!(validate_todos(&ok), Ok(()));
    // Extra fields are allowed and untouched.
    let extra = json!({"title": "t", "items": [{"id": "1", "content": "a", "status": "pending", "activeForm": "A-ing"}]});
    assert_eq!(validate_todos(&extra), Ok(()));
}

#[test]
fn validate_todos_bounds() {
    let at = |n: usize| {
        list(
            (0..n)
                .map(|i| item(&i.to_string(), "x", "pending"))
                .collect(),
        )
    };
    assert_eq!(validate_todos(&at(500)), Ok(()));
    assert_eq!(
        validate_todos(&at(501)),
        Err(TodoInvalid::TooManyItems { count: 501 })
    );

    let content = |s: String| list(vec![item("1", &s, "pending")]);
    assert_eq!(validate_todos(&content("é".repeat(4096))), Ok(()));
    assert_eq!(validate_todos(&content("x".repeat(4096))), Ok(()));
    assert_eq!(
        validate_todos(&content("é".repeat(4097))),
        Err(TodoInvalid::ContentTooLong { index: 0 })
    );
    assert_eq!(
        validate_todos(&content("😀".repeat(4097))),
        Err(TodoInvalid::ContentTooLong { index: 0 })
    );

    let id = |s: String| list(vec![item(&s, "x", "pending")]);
    assert_eq!(validate_todos(&id("é".repeat(128))), Ok(()));
    assert_eq!(
        validate_todos(&id("i".repeat(129))),
        Err(TodoInvalid::IdTooLong { index: 0 })
    );
}

#[test]
fn validate_todos_typed_reasons() {
    let cases: Vec<(Value, TodoInvalid)> = vec![
        (json!([]), TodoInvalid::NotAnObject),
        (json!("x"), TodoInvalid::NotAnObject),
        (json!({}), TodoInvalid::MissingItems),
        (json!({"items": {}}), TodoInvalid::MissingItems),
        (
            list(vec![json!("x")]),
            TodoInvalid::ItemNotAnObject { index: 0 },
        ),
        (
            list(vec![json!({"content": "a", "status": "pending"})]),
            TodoInvalid::MissingId { index: 0 },
        ),
        (
            list(vec![json!({"id": 1, "content": "a", "status": "pending"})]),
            TodoInvalid::MissingId { index: 0 },
        ),
        (
            list(vec![item("", "a", "pending")]),
            TodoInvalid::EmptyId { index: 0 },
        ),
        (
            list(vec![
                item("1", "a", "pending"),
                item("2", "b", "pending"),
                item("1", "c", "pending"),
            ]),
            TodoInvalid::DuplicateId { index: 2, first: 0 },
        ),
        (
            list(vec![json!({"id": "1", "status": "pending"})]),
            TodoInvalid::MissingContent { index: 0 },
        ),
        (
            list(vec![item("1", "", "pending")]),
            TodoInvalid::EmptyContent { index: 0 },
        ),
        (
            list(vec![item("1", " \n\t", "pending")]),
            TodoInvalid::EmptyContent { index: 0 },
        ),
        (
            list(vec![item("1", "a", "done")]),
            TodoInvalid::BadStatus { index: 0 },
        ),
        (
            list(vec![item("1", "a", "Pending")]),
            TodoInvalid::BadStatus { index: 0 },
        ),
        (
            list(vec![json!({"id": "1", "content": "a"})]),
            TodoInvalid::BadStatus { index: 0 },
        ),
        (
            list(vec![
                item("1", "a", "in_progress"),
                item("2", "b", "pending"),
                item("3", "c", "in_progress"),
            ]),
            TodoInvalid::MultipleInProgress { index: 2 },
        ),
    ];
    for (body, reason) in cases {
        assert_eq!(validate_todos(&body), Err(reason), "{body}");
    }
}

#[test]
fn todo_reasons_carry_no_user_content() {
    let body = list(vec![
        item("secret-id", "secret-content", "pending"),
        item("secret-id", "x", "secret-status"),
    ]);
    let err = validate_todos(&body).unwrap_err();
    let shown = format!("{err} {err:?} {}", InvalidReason::from(err));
    assert!(!shown.contains("secret"), "{shown}");
}

// ---------------------------------------------------------------- canonical JSON

#[test]
fn canonical_json_sorts_keys_and_drops_whitespace() {
    let v: Value = serde_json::from_str(
        r#"{ "b" : [ 1 , 2.50, {"y": null, "x": false} ], "a": "é\u0001\"", "B": -3, "aa": 1e3 }"#,
    )
    .unwrap();
    assert_eq!(
        canonical_json(&v),
        r#"{"B":-3,"a":"é\u0001\"","aa":1000.0,"b":[1,2.5,{"x":false,"y":null}]}"#
    );
}

#[test]
fn canonical_json_key_order_is_bytewise() {
    let v = json!({"é": 1, "z": 2, "Z": 3, "": 4, "a\u{0}": 5, "a": 6});
    assert_eq!(
        canonical_json(&v),
        "{\"\":4,\"Z\":3,\"a\":6,\"a\\u0000\":5,\"z\":2,\"é\":1}"
    );
}

#[test]
fn records_round_trip_through_json_bit_exactly() {
    // Found by `canonical_json_round_trips_and_is_unique`: without serde_json's
    // `float_roundtrip` feature this float parses back one ulp off, so a peer
    // would hash (and tie-break) a different record than its writer.
    let body = json!({ "": 1.1139821475301931e-45, "g": 0.1, "h": 5e-324 });
    let r = Record::new("a", None, 1, Some(1), "d1", body);
    let back: Record = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(back, r);
    assert_eq!(back.content_hash(), r.content_hash());
}

#[test]
fn validate_todos_duplicates_in_long_lists() {
    // Lists over 16 items use a hash set; shorter ones a linear scan.
    for len in [3usize, 16, 17, 40, 500] {
        let mut items: Vec<Value> = (0..len)
            .map(|i| item(&format!("id-{i}"), "x", "pending"))
            .collect();
        assert_eq!(validate_todos(&list(items.clone())), Ok(()), "{len}");
        items[len - 1] = item("id-1", "x", "pending");
        assert_eq!(
            validate_todos(&list(items)),
            Err(TodoInvalid::DuplicateId {
                index: len - 1,
                first: 1
            }),
            "{len}"
        );
    }
}
