//! The detail fields of an [`ApiError`] as `(camelCaseName, value)` pairs:
//! what Node attaches to a thrown error as properties, and what any binding
//! that carries errors as plain data can use. Never a secret or user content.

use azmx_sync_core::error::KeyFileProblem;
use azmx_sync_core::merge::{StoreNameError, TodoInvalid};
use serde_json::Value;

use crate::error::ApiError;

/// One detail field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum DetailValue {
    Text(String),
    Number(f64),
}

type Details = Vec<(&'static str, DetailValue)>;

fn text(name: &'static str, value: impl Into<String>) -> (&'static str, DetailValue) {
    (name, DetailValue::Text(value.into()))
}

fn num(name: &'static str, value: impl Into<f64>) -> (&'static str, DetailValue) {
    (name, DetailValue::Number(value.into()))
}

/// The camelCase name of a key-file problem (`"insecurePermissions"`).
pub fn key_file_problem_name(p: KeyFileProblem) -> &'static str {
    match p {
        KeyFileProblem::MissingDirectory => "missingDirectory",
        KeyFileProblem::InsecurePermissions { .. } => "insecurePermissions",
        KeyFileProblem::Corrupt => "corrupt",
        KeyFileProblem::Io => "io",
    }
}

/// The camelCase name of a store-name problem (`"workspaceScoped"`).
pub fn store_name_problem_name(e: &StoreNameError) -> &'static str {
    match e {
        StoreNameError::Empty => "empty",
        StoreNameError::TooLong => "tooLong",
        StoreNameError::BadStart => "badStart",
        StoreNameError::BadChar => "badChar",
        StoreNameError::WorkspaceScoped => "workspaceScoped",
    }
}

/// The camelCase name of a todo-list problem and its item index, if any.
pub fn todo_problem(t: TodoInvalid) -> (String, Option<u64>) {
    match serde_json::to_value(t).unwrap_or(Value::Null) {
        Value::String(s) => (s, None),
        Value::Object(m) => match m.into_iter().next() {
            Some((k, v)) => (k, v.get("index").and_then(Value::as_u64)),
            None => ("other".into(), None),
        },
        _ => ("other".into(), None),
    }
}

impl ApiError {
    /// The detail fields, in a fixed order.
    pub fn details(&self) -> Details {
        match self {
            Self::EnvelopeTooShort { len } => vec![num("length", *len as f64)],
            Self::UnsupportedVersion { version } => vec![num("version", *version)],
            Self::BlobIntegrity { expected, actual } => {
                vec![text("expected", expected), text("actual", actual)]
            }
            Self::KeyFile { path, problem } => {
                let mut d = vec![
                    text("path", path),
                    text("problem", key_file_problem_name(*problem)),
                ];
                if let KeyFileProblem::InsecurePermissions { mode } = problem {
                    d.push(num("mode", *mode));
                }
                d
            }
            Self::MalformedField { field, reason } => {
                vec![text("field", field), text("reason", reason)]
            }
            Self::ClockSkew {
                skew_secs,
                max_secs,
            } => {
                let mut d = vec![num("skewSecs", *skew_secs as f64)];
                d.extend(max_secs.map(|m| num("maxSecs", m as f64)));
                d
            }
            Self::InvalidJson {
                what, line, column, ..
            } => vec![
                text("what", what),
                num("line", *line as f64),
                num("column", *column as f64),
            ],
            Self::InvalidTodos { problem } => {
                let (name, index) = todo_problem(*problem);
                let mut d = vec![text("problem", name)];
                d.extend(index.map(|i| num("index", i as f64)));
                d
            }
            Self::InvalidStoreName { problem } => {
                vec![text("problem", store_name_problem_name(problem))]
            }
            Self::BuiltinStoreRedefined { .. } => vec![text("problem", "builtinRedefined")],
            Self::RateLimited { retry_after_secs } => {
                vec![num("retryAfterSecs", *retry_after_secs as f64)]
            }
            Self::RelayError { status, code, .. } => {
                vec![num("status", *status), text("relayCode", code)]
            }
            Self::StoreFailed { store, .. } => vec![text("store", store)],
            Self::StateDir { path, .. } => vec![text("path", path)],
            _ => Vec::new(),
        }
    }
}
