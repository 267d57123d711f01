//! What a binding does around one call into the library, written once: the
//! panic boundary ([`catch_panic`]), the re-entry flag of a host whose store
//! callbacks run on the caller's thread ([`BusyFlag`]), and the host objects
//! that are callable only while that call is on the stack ([`enter_frame`],
//! [`in_frame`]; Node's JS values live only in the current call's scope).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::ApiError;

/// Runs the body of an exported function: a panic becomes
/// [`ApiError::Panic`] naming `entry_point` (the payload is deliberately not
/// copied: it could quote anything), never an unwind into the host.
pub fn catch_panic<T>(
    entry_point: &str,
    body: impl FnOnce() -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    // AssertUnwindSafe: after a panic nothing observes the body's state
    // again; the objects it may have touched are immutable after creation
    // or synchronise inside.
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| Err(ApiError::panic_in(entry_point)))
}

/// Set while an engine call runs store callbacks on the caller's thread, so
/// that a callback calling the engine again gets `BUSY` instead of a
/// deadlock or a nested cycle (C and uniffi callbacks run under the core's
/// cycle lock and cannot re-enter: only Node needs it).
#[derive(Debug, Default)]
pub struct BusyFlag(Cell<bool>);

/// Clears its [`BusyFlag`] when the call ends (also on panic).
pub struct BusyGuard<'a>(&'a Cell<bool>);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

impl BusyFlag {
    pub fn is_busy(&self) -> bool {
        self.0.get()
    }

    /// Marks the engine busy until the guard drops; `BUSY` if it is already.
    pub fn enter(&self) -> Result<BusyGuard<'_>, ApiError> {
        if self.0.replace(true) {
            return Err(ApiError::Busy {
                detail: "the engine is running a store callback; call it again after syncNow/exportTo/importFrom returns".into(),
            });
        }
        Ok(BusyGuard(&self.0))
    }
}

thread_local! {
    /// The frames of the engine calls in progress on this thread, innermost
    /// last: the engine's id and the binding's frame value.
    static FRAMES: RefCell<Vec<(u64, Box<dyn Any>)>> = const { RefCell::new(Vec::new()) };
}

/// Pops its frame when the engine call ends (also on panic). Not `Send`:
/// it must drop on the thread whose stack it changed.
pub struct FrameGuard(PhantomData<*const ()>);

impl Drop for FrameGuard {
    fn drop(&mut self) {
        FRAMES.with(|f| {
            f.borrow_mut().pop();
        });
    }
}

/// Makes `frame` (e.g. the host values the store adapters of engine
/// `engine_id` call into) reachable by [`in_frame`] on this thread until the
/// guard drops.
pub fn enter_frame<F: 'static>(engine_id: u64, frame: F) -> FrameGuard {
    FRAMES.with(|f| f.borrow_mut().push((engine_id, Box::new(frame))));
    FrameGuard(PhantomData)
}

/// `pick` applied to the innermost frame of engine `engine_id` on this
/// thread; `None` outside any call of that engine (another thread, or after
/// the call returned). `pick` runs while the frames are borrowed: it must
/// only read the frame, never call into the host.
pub fn in_frame<F: 'static, T>(engine_id: u64, pick: impl FnOnce(&F) -> Option<T>) -> Option<T> {
    FRAMES.with(|f| {
        let frames = f.borrow();
        let (_, frame) = frames.iter().rev().find(|(id, _)| *id == engine_id)?;
        pick(frame.downcast_ref::<F>()?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_panic_error_without_its_payload() {
        let e = catch_panic::<()>("azmx_x", || panic!("secret payload")).unwrap_err();
        assert_eq!(e.code(), "PANIC");
        assert!(e.to_string().contains("azmx_x"));
        assert!(!e.to_string().contains("secret"));
        assert_eq!(catch_panic("y", || Ok(3)), Ok(3));
    }

    #[test]
    fn busy_refuses_reentry_until_the_guard_drops() {
        let flag = BusyFlag::default();
        {
            let _g = flag.enter().unwrap();
            assert!(flag.is_busy());
            assert_eq!(flag.enter().err().map(|e| e.code()), Some("BUSY"));
            assert!(flag.is_busy(), "a refused entry leaves the flag set");
        }
        assert!(!flag.is_busy());
        assert!(flag.enter().is_ok());
    }

    #[test]
    fn frames_nest_per_engine_and_pop_on_drop() {
        assert_eq!(in_frame(1, |f: &Vec<u8>| f.first().copied()), None);
        let outer = enter_frame(1, vec![10u8]);
        {
            let _other = enter_frame(2, vec![20u8]);
            let _inner = enter_frame(1, vec![11u8]);
            assert_eq!(in_frame(1, |f: &Vec<u8>| f.first().copied()), Some(11));
            assert_eq!(in_frame(2, |f: &Vec<u8>| f.first().copied()), Some(20));
            assert_eq!(in_frame(1, |f: &String| f.parse().ok()), None::<u8>);
        }
        assert_eq!(in_frame(1, |f: &Vec<u8>| f.first().copied()), Some(10));
        assert_eq!(in_frame(2, |f: &Vec<u8>| f.first().copied()), None);
        drop(outer);
        assert_eq!(in_frame(1, |f: &Vec<u8>| f.first().copied()), None);
    }
}
