//! The todo-list invariants, checked on incoming live todo lists.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use thiserror::Error;

use super::body::Body;

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
/// A list that is too long is reported as such; otherwise the first broken
/// rule, in item order, is reported. [`validate_todos_body`] gives the same
/// answer for a [`Body`].
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
    let mut checker = Checker::new();
    for item in items {
        let fields = item.as_object().map(|item| {
            let text = |name: &str| item.get(name).and_then(Value::as_str).map(Cow::Borrowed);
            ItemFields {
                id: text("id"),
                content: text("content"),
                status: text("status"),
            }
        });
        checker.item(fields);
        if checker.first_error.is_some() {
            break;
        }
    }
    checker.finish()
}

/// [`validate_todos`] for a [`Body`], read straight from its JSON text: no
/// value tree is built, and strings without escapes are not copied.
///
/// ```
/// use azmx_sync_core::merge::{validate_todos_body, Body, TodoInvalid};
/// let body = Body::from_json(r#"{"items": [{"id": "1", "content": " ", "status": "pending"}]}"#)?;
/// assert_eq!(validate_todos_body(&body), Err(TodoInvalid::EmptyContent { index: 0 }));
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn validate_todos_body(body: &Body) -> Result<(), TodoInvalid> {
    body.reader()
        .deserialize_any(BodyVisitor)
        .expect("a body holds valid JSON")
}

/// The fields the rules look at; `None` when missing or not a string.
struct ItemFields<'a> {
    id: Option<Cow<'a, str>>,
    content: Option<Cow<'a, str>>,
    status: Option<Cow<'a, str>>,
}

/// Applies the rules item by item, so that a list can be checked while it is
/// being read.
struct Checker<'a> {
    count: usize,
    first_error: Option<TodoInvalid>,
    in_progress: bool,
    // Small lists (the common case) check duplicates without allocating.
    small: [Cow<'a, str>; SMALL],
    large: Option<HashMap<Cow<'a, str>, usize>>,
}

const SMALL: usize = 16;

impl<'a> Checker<'a> {
    fn new() -> Self {
        Checker {
            count: 0,
            first_error: None,
            in_progress: false,
            small: std::array::from_fn(|_| Cow::Borrowed("")),
            large: None,
        }
    }

    /// The next item; `None` if it is not an object.
    fn item(&mut self, fields: Option<ItemFields<'a>>) {
        let index = self.count;
        self.count += 1;
        // Past the limit the list is rejected as too long whatever its items.
        if self.first_error.is_none() && index < MAX_TODO_ITEMS {
            if let Err(e) = self.check(index, fields) {
                self.first_error = Some(e);
            }
        }
    }

    fn check(&mut self, index: usize, fields: Option<ItemFields<'a>>) -> Result<(), TodoInvalid> {
        let item = fields.ok_or(TodoInvalid::ItemNotAnObject { index })?;

        let id = item.id.ok_or(TodoInvalid::MissingId { index })?;
        if id.is_empty() {
            return Err(TodoInvalid::EmptyId { index });
        }
        if exceeds_chars(&id, MAX_TODO_ID_CHARS) {
            return Err(TodoInvalid::IdTooLong { index });
        }
        let first = if index < SMALL {
            let first = self.small[..index].iter().position(|seen| *seen == id);
            self.small[index] = id;
            first
        } else {
            let large = self.large.get_or_insert_with(|| {
                self.small
                    .iter()
                    .enumerate()
                    .map(|(i, seen)| (seen.clone(), i))
                    .collect()
            });
            match large.get(&id) {
                Some(&first) => Some(first),
                None => {
                    large.insert(id, index);
                    None
                }
            }
        };
        if let Some(first) = first {
            return Err(TodoInvalid::DuplicateId { index, first });
        }

        let content = item.content.ok_or(TodoInvalid::MissingContent { index })?;
        if content.trim().is_empty() {
            return Err(TodoInvalid::EmptyContent { index });
        }
        if exceeds_chars(&content, MAX_TODO_CONTENT_CHARS) {
            return Err(TodoInvalid::ContentTooLong { index });
        }

        match item.status.as_deref() {
            Some("pending" | "completed") => {}
            Some("in_progress") => {
                if self.in_progress {
                    return Err(TodoInvalid::MultipleInProgress { index });
                }
                self.in_progress = true;
            }
            _ => return Err(TodoInvalid::BadStatus { index }),
        }
        Ok(())
    }

    fn finish(self) -> Result<(), TodoInvalid> {
        if self.count > MAX_TODO_ITEMS {
            return Err(TodoInvalid::TooManyItems { count: self.count });
        }
        self.first_error.map_or(Ok(()), Err)
    }
}

// The visitors below read a body's JSON text in one pass. Each accepts every
// JSON type, because a wrong type is a typed `TodoInvalid`, not a parse
// error; values the rules do not look at are skipped without being built.

/// Accepting and discarding the JSON types a visitor has no use for.
macro_rules! skip_scalars {
    ($out:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($out)
        }
    };
}

macro_rules! skip_strings {
    ($out:expr) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($out)
        }
    };
}

macro_rules! skip_seqs {
    ($out:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($out)
        }
    };
}

macro_rules! skip_maps {
    ($out:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($out)
        }
    };
}

/// A string (borrowed from the text when it has no escapes), or anything else.
enum Text<'de> {
    Str(Cow<'de, str>),
    Other,
}

impl<'de> Text<'de> {
    fn into_str(self) -> Option<Cow<'de, str>> {
        match self {
            Text::Str(s) => Some(s),
            Text::Other => None,
        }
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            skip_scalars!(Text::Other);
            skip_seqs!(Text::Other);
            skip_maps!(Text::Other);
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text::Str(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Text<'de>, E> {
                Ok(Text::Str(Cow::Owned(s)))
            }
        }
        d.deserialize_any(V)
    }
}

/// One item: its fields, or `None` if it is not an object.
struct Item<'de>(Option<ItemFields<'de>>);

impl<'de> Deserialize<'de> for Item<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Item<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            skip_scalars!(Item(None));
            skip_strings!(Item(None));
            skip_seqs!(Item(None));
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item<'de>, A::Error> {
                let mut fields = ItemFields {
                    id: None,
                    content: None,
                    status: None,
                };
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    let slot = match key.into_str().as_deref() {
                        Some("id") => &mut fields.id,
                        Some("content") => &mut fields.content,
                        Some("status") => &mut fields.status,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = map.next_value::<Text<'de>>()?.into_str();
                }
                Ok(Item(Some(fields)))
            }
        }
        d.deserialize_any(V)
    }
}

/// The `items` value, fed to a [`Checker`]; the result is `false` if it is
/// not an array.
struct Items<'c, 'de>(&'c mut Checker<'de>);

impl<'de> DeserializeSeed<'de> for Items<'_, 'de> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Items<'_, 'de> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    skip_scalars!(false);
    skip_strings!(false);
    skip_maps!(false);
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        loop {
            // Once the verdict is known only the length still matters.
            if self.0.first_error.is_some() || self.0.count >= MAX_TODO_ITEMS {
                match seq.next_element::<IgnoredAny>()? {
                    Some(_) => self.0.count += 1,
                    None => break,
                }
            } else {
                match seq.next_element::<Item<'de>>()? {
                    Some(Item(fields)) => self.0.item(fields),
                    None => break,
                }
            }
        }
        Ok(true)
    }
}

/// The whole body.
struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = Result<(), TodoInvalid>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    skip_scalars!(Err(TodoInvalid::NotAnObject));
    skip_strings!(Err(TodoInvalid::NotAnObject));
    skip_seqs!(Err(TodoInvalid::NotAnObject));
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut checker = Checker::new();
        let mut has_items = false;
        while let Some(key) = map.next_key::<Text<'de>>()? {
            if key.into_str().as_deref() == Some("items") {
                has_items = map.next_value_seed(Items(&mut checker))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !has_items {
            return Ok(Err(TodoInvalid::MissingItems));
        }
        Ok(checker.finish())
    }
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
