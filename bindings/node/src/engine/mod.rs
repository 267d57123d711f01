//! `SyncEngine`: the core sync engine for Node.js / Electron main processes.
//!
//! Design: the engine runs its cycle synchronously on the JS thread, inside
//! `syncNow()` (and `exportTo`/`importFrom`/`unsynced`), with the built-in HTTP
//! transport (blocking `ureq`). Store adapters are plain JS objects with
//! `snapshot()` and `apply(changes)` methods; they are called directly with
//! the `Env` of the running call, so no threadsafe function is needed and a
//! callback can never run on another thread. Outside such a call (e.g. from
//! a background thread) an adapter refuses with a `STORE_ERROR`.
//!
//! The background schedule (`start`/`stop`/`trigger`) cannot use the core's
//! scheduler thread, since the adapters may only be called on the JS thread.
//! Instead each next cycle is a JS timer (the global `setTimeout`, called
//! from Rust) whose callback runs the same code path as `syncNow()`, and the
//! waiting time comes from the core's `SchedulePolicy`, so the interval,
//! backoff, `Retry-After` and stop-on-revoke are the core's. The timer's
//! arguments hold the engine object, so a pending timer never calls into a
//! finalized engine: the engine cannot be collected while one is pending.
//!
//! - [`bridge`]: the JS store adapters as the core sees them, and raw
//!   `napi` calls into JS objects;
//! - [`timer`]: the schedule's JS timers (its state is the facade's
//!   `azmx_sync_bridge::schedule::Schedule`, unit-tested there);
//! - [`class`]: the `#[napi]` class (state, constructor, store registration,
//!   result conversions);
//! - [`generated`]: its other methods, from bindings/exports.toml.

mod bridge;
mod class;
mod generated;
mod timer;

pub use class::SyncEngine;
