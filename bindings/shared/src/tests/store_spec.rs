use azmx_sync_core::merge::StoreNameError;

use crate::store_spec::{
    builtin_store, builtin_stores, check_store_spec, custom_store_spec, Contract, ValidatorKind,
};
use crate::{ApiError, ErrorKind};

#[test]
fn builtins_are_listed_in_order() {
    let names: Vec<_> = builtin_stores()
        .iter()
        .map(|s| s.name.as_str().to_string())
        .collect();
    assert_eq!(names, ["snippets", "todos", "memory"]);
    assert_eq!(
        builtin_store("notes").unwrap_err(),
        ApiError::UnknownStore {
            name: "notes".into()
        }
    );
}

#[test]
fn a_builtin_name_only_with_its_own_contract_and_validator() {
    check_store_spec("memory", Contract::LwwByVersion, ValidatorKind::NoScope).unwrap();
    let e = check_store_spec("memory", Contract::LwwByTime, ValidatorKind::NoScope).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BuiltinStoreRedefined);
    let e = check_store_spec("todos", Contract::LwwPerGroup, ValidatorKind::ShapeOnly).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BuiltinStoreRedefined);
}

#[test]
fn a_custom_store_never_takes_a_builtin_name() {
    let e =
        custom_store_spec("memory", Contract::LwwByVersion, ValidatorKind::NoScope).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BuiltinStoreRedefined);
    assert_eq!(e.c_status(), 32);
    let s = custom_store_spec("notes", Contract::LwwByTime, ValidatorKind::RequireScope).unwrap();
    assert_eq!(s.name.as_str(), "notes");
    assert!(s.validator.is_some());
}

#[test]
fn bad_names_are_refused_before_anything_else() {
    for (name, problem) in [
        ("", StoreNameError::Empty),
        ("Notes", StoreNameError::BadStart),
        ("team-workspace", StoreNameError::WorkspaceScoped),
    ] {
        for check in [check_store_spec, custom_store_spec] {
            let e = check(name, Contract::LwwByTime, ValidatorKind::ShapeOnly).unwrap_err();
            assert_eq!(
                e,
                ApiError::InvalidStoreName {
                    problem: problem.clone()
                }
            );
        }
    }
}
