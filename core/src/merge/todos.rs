//! The todo-list invariants, checked on every incoming live todo list.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

/// Most items in one session's list.
pub const MAX_TODO_ITEMS: usize = 500;
/// Longest item content, in characters (Unicode scalar values).
pub const MAX_TODO_CONTENT_CHARS: usize = 4096;
/// Longest item id, in characters (Unicode scalar values).
pub const MAX_TODO_ID_CHARS: usize = 128;
/// The accepted item statuses.
pub const TODO_STATUSES: [&str; 3] = ["pending", "in_progress", "completed"];

/// Why a todo list is invalid. Items are identified by their index in
/// `items` (0-based); no variant carries user content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum TodoInvalid {
    /// The body is not a JSON object.
    #[error("body is not an object")]
    NotAnObject,
    /// The body has no `items` array.
    #[error("body has no items array")]
    MissingItems,
    /// More than [`MAX_TODO_ITEMS`] items.
    #[error("too many items ({count} > 500)")]
    TooManyItems {
        /// Number of items in the list.
        count: usize,
    },
    /// An item is not a JSON object.
    #[error("item {index} is not an object")]
    ItemNotAnObject {
        /// Index of the item.
        index: usize,
    },
    /// An item's `id` is missing or not a string.
    #[error("item {index} has no string id")]
    MissingId {
        /// Index of the item.
        index: usize,
    },
    /// An item's `id` is the empty string.
    #[error("item {index} has an empty id")]
    EmptyId {
        /// Index of the item.
        index: usize,
    },
    /// An item's `id` is longer than [`MAX_TODO_ID_CHARS`].
    #[error("item {index} id is longer than 128 characters")]
    IdTooLong {
        /// Index of the item.
        index: usize,
    },
    /// An item's `id` equals the id of an earlier item.
    #[error("item {index} repeats the id of item {first}")]
    DuplicateId {
        /// Index of the repeated item.
        index: usize,
        /// Index of the first item with that id.
        first: usize,
    },
    /// An item's `content` is missing or not a string.
    #[error("item {index} has no string content")]
    MissingContent {
        /// Index of the item.
        index: usize,
    },
    /// An item's `content` is empty or only whitespace.
    #[error("item {index} has empty content")]
    EmptyContent {
        /// Index of the item.
        index: usize,
    },
    /// An item's `content` is longer than [`MAX_TODO_CONTENT_CHARS`].
    #[error("item {index} content is longer than 4096 characters")]
    ContentTooLong {
        /// Index of the item.
        index: usize,
    },
    /// An item's `status` is missing, not a string, or not one of
    /// [`TODO_STATUSES`].
    #[error("item {index} has an invalid status")]
    BadStatus {
        /// Index of the item.
        index: usize,
    },
    /// A second item is `in_progress`.
    #[error("item {index} is a second in_progress item")]
    MultipleInProgress {
        /// Index of the second `in_progress` item.
        index: usize,
    },
}

/// Checks the invariants of one session's todo list:
///
/// - the body is an object with an `items` array of at most
///   [`MAX_TODO_ITEMS`] (500) objects;
/// - every item has a string `id`, non-empty, at most [`MAX_TODO_ID_CHARS`]
///   (128) characters, unique within the list;
/// - every item has a string `content`, not empty or blank, at most
///   [`MAX_TODO_CONTENT_CHARS`] (4096) characters;
/// - every item has a `status` in `pending | in_progress | completed`;
/// - at most one item is `in_progress`.
///
/// Other fields (on the body or on items) are allowed and left untouched.
/// The first broken rule, in item order, is reported.
///
/// ```
/// use azmx_sync_core::merge::{validate_todos, TodoInvalid};
/// use serde_json::json;
/// let ok = json!({"items": [{"id": "1", "content": "ship it", "status": "in_progress"}]});
/// assert_eq!(validate_todos(&ok), Ok(()));
/// let dup = json!({"items": [
///     {"id": "1", "content": "a", "status": "pending"},
///     {"id": "1", "content": "b", "status": "pending"}]});
/// assert_eq!(validate_todos(&dup), Err(TodoInvalid::DuplicateId { index: 1, first: 0 }));
/// ```
pub fn validate_todos(body: &Value) -> Result<(), TodoInvalid> {
    let obj = body.as_object().ok_or(TodoInvalid::NotAnObject)?;
    let items = obj
        .get("items")
        .and_then(Value::as_array)
        .ok_or(TodoInvalid::MissingItems)?;
    if items.len() > MAX_TODO_ITEMS {
        return Err(TodoInvalid::TooManyItems { count: items.len() });
    }
    // Small lists (the common case) check duplicates without allocating.
    const SMALL: usize = 16;
    let mut seen: Option<HashSet<&str>> =
        (items.len() > SMALL).then(|| HashSet::with_capacity(items.len()));
    let mut small: [&str; SMALL] = [""; SMALL];
    let mut in_progress = false;
    for (index, item) in items.iter().enumerate() {
        let item = item
            .as_object()
            .ok_or(TodoInvalid::ItemNotAnObject { index })?;

        let id = item
            .get("id")
            .and_then(Value::as_str)
            .ok_or(TodoInvalid::MissingId { index })?;
        if id.is_empty() {
            return Err(TodoInvalid::EmptyId { index });
        }
        if exceeds_chars(id, MAX_TODO_ID_CHARS) {
            return Err(TodoInvalid::IdTooLong { index });
        }
        let duplicate = match &mut seen {
            Some(seen) => !seen.insert(id),
            None => {
                // index < SMALL here.
                let dup = small[..index].contains(&id);
                small[index] = id;
                dup
            }
        };
        if duplicate {
            let first = items
                .iter()
                .position(|it| item_id(it) == Some(id))
                .unwrap_or(0);
            return Err(TodoInvalid::DuplicateId { index, first });
        }

        let content = item
            .get("content")
            .and_then(Value::as_str)
            .ok_or(TodoInvalid::MissingContent { index })?;
        if content.trim().is_empty() {
            return Err(TodoInvalid::EmptyContent { index });
        }
        if exceeds_chars(content, MAX_TODO_CONTENT_CHARS) {
            return Err(TodoInvalid::ContentTooLong { index });
        }

        match item.get("status").and_then(Value::as_str) {
            Some("pending" | "completed") => {}
            Some("in_progress") => {
                if in_progress {
                    return Err(TodoInvalid::MultipleInProgress { index });
                }
                in_progress = true;
            }
            _ => return Err(TodoInvalid::BadStatus { index }),
        }
    }
    Ok(())
}

/// The string id of an already-checked item.
fn item_id(item: &Value) -> Option<&str> {
    item.get("id").and_then(Value::as_str)
}

/// `s.chars().count() > max`, without counting past `max` when the byte
/// length already decides it.
fn exceeds_chars(s: &str, max: usize) -> bool {
    // A char is 1..=4 bytes.
    if s.len() <= max {
        return false;
    }
    if s.len() > 4 * max {
        return true;
    }
    s.chars().nth(max).is_some()
}
