//! [`forward_methods!`]: methods that only call the method of the same name
//! on an inner value with the same arguments, written as a list. The facade
//! (`engine.rs`) uses it for the engine methods that pass straight through to
//! the core; the bindings' own glue is generated from `bindings/exports.toml`
//! (`cargo run -p xtask -- gen-bindings`).

/// Declares `impl $ty` (with the given attributes, e.g. `#[uniffi::export]`)
/// holding one `pub fn` per listed signature, each calling the method of
/// the same name on `self.$field` with the same arguments. A `try fn`
/// returns `Result<T, $err>`, converting the facade's error with `?`.
///
/// ```ignore
/// azmx_sync_bridge::forward_methods! {
///     #[uniffi::export]
///     impl SyncEngine => inner, error SyncError {
///         /// Starts the background scheduler.
///         fn start();
///         try fn export_to(path: String) -> u64;
///     }
/// }
/// ```
#[macro_export]
macro_rules! forward_methods {
    (
        $(#[$impl_attr:meta])*
        impl $ty:ty => $field:ident, error $err:ty { $($items:tt)* }
    ) => {
        $crate::forward_methods!(@munch [$(#[$impl_attr])*] [$ty] $field [$err] [] $($items)*);
    };
    // The `impl` is emitted whole at the end: an attribute macro on it sees
    // only finished methods, never a macro call.
    (@munch [$($impl_attr:tt)*] [$ty:ty] $field:ident [$err:ty] [$($done:tt)*]) => {
        $($impl_attr)*
        impl $ty { $($done)* }
    };
    (@munch $attrs:tt $ty:tt $field:ident [$err:ty] [$($done:tt)*]
        $(#[$attr:meta])* try fn $name:ident($($arg:ident: $arg_ty:ty),* $(,)?) -> $ret:ty;
        $($rest:tt)*
    ) => {
        $crate::forward_methods!(@munch $attrs $ty $field [$err] [
            $($done)*
            $(#[$attr])*
            pub fn $name(&self $(, $arg: $arg_ty)*) -> ::std::result::Result<$ret, $err> {
                Ok(self.$field.$name($($arg),*)?)
            }
        ] $($rest)*);
    };
    (@munch $attrs:tt $ty:tt $field:ident $err:tt [$($done:tt)*]
        $(#[$attr:meta])* fn $name:ident($($arg:ident: $arg_ty:ty),* $(,)?) $(-> $ret:ty)?;
        $($rest:tt)*
    ) => {
        $crate::forward_methods!(@munch $attrs $ty $field $err [
            $($done)*
            $(#[$attr])*
            pub fn $name(&self $(, $arg: $arg_ty)*) $(-> $ret)? {
                self.$field.$name($($arg),*)
            }
        ] $($rest)*);
    };
}
