//! Per-store merge contracts (see `docs/MERGE.md`).
//!
//! Pure logic, no I/O. Every device that has seen the same set of record
//! versions holds the same state, whatever order (and batching, and
//! duplication) they arrived in: per key, the greatest version under the
//! store's [`Contract`] wins, and that order is total and deterministic.
//!
//! - [`Record`] / [`RecordKey`]: one version of one record, keyed by
//!   `(scope, id)`; tombstones (`deleted`, no body) are explicit deletes.
//! - [`Contract`]: `LwwByTime`, `LwwByVersion`, `LwwPerGroup`, with
//!   [`Contract::compare`] as the total order.
//! - [`StoreSpec`] / [`StoreName`] / [`Registry`]: store registrations; the
//!   built-ins (snippets, todos, memory) are just registrations.
//! - [`validate_todos`]: the todo-list invariants.
//! - [`merge`] / [`merge_in_place`]: the engine, returning the new
//!   [`StoreState`], the [`Change`]s the host must apply and [`MergeCounts`].
//! - [`ArrivalBounds`], [`MAX_VERSION`], [`next_write_time`],
//!   [`next_version`]: how far `updatedAt` and `version` may run ahead, and
//!   the stamps of a local edit that beat whatever was accepted.
//! - [`Body`]: a record's content, kept as shared canonical JSON text.
//! - [`canonical_json`]: the canonical serialisation behind [`Body`] and
//!   [`Record::content_hash`].
//!
//! Workspace memory (`<workspace>/.azmx/memory/`) is excluded by design and
//! cannot be registered: no contract takes a path, store names cannot contain
//! path characters, and ids or scopes that look like machine-local paths are
//! rejected. Workspace paths differ across machines, so syncing them would
//! create dead pointers.

mod body;
mod bounds;
mod canonical_json;
mod contract;
mod engine;
mod error;
mod record;
mod state;
mod store;
mod todos;

pub use body::Body;
pub use bounds::{
    next_version, next_write_time, ArrivalBounds, CREATED_AT_SKEW_MS, FUTURE_DRIFT_RANGE_MS,
    MAX_FUTURE_DRIFT_MS, MAX_VERSION,
};
pub use canonical_json::{canonical_json, write_canonical};
pub use contract::Contract;
pub use engine::{merge, merge_in_place, Change, MergeCounts, MergeOutcome, MergeReport};
pub use error::{InvalidReason, RegistryError, StoreNameError};
pub use record::{
    looks_like_absolute_path, Record, RecordKey, MAX_DEVICE_ID_BYTES, MAX_ID_BYTES, MAX_SCOPE_BYTES,
};
pub use state::StoreState;
pub use store::{
    NoScope, Registry, RequireScope, StoreName, StoreSpec, TodosValidator, Validator,
    ValidatorKind, BUILTIN_STORES, MAX_STORE_NAME_LEN,
};
pub use todos::{
    validate_todos, validate_todos_body, TodoInvalid, MAX_TODO_CONTENT_CHARS, MAX_TODO_ID_CHARS,
    MAX_TODO_ITEMS, TODO_STATUSES,
};
