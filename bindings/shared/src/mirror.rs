//! Macros for the types a binding must declare itself (its generator reads
//! only its own crate) but that mirror a facade or core type variant for
//! variant: the mapping is written here once.

/// `From` both ways between a binding's enum and the facade's (or core's)
/// enum of the same fieldless variants:
/// `same_variants!(MergeContract <=> Contract { LwwByTime, LwwByVersion })`.
#[macro_export]
macro_rules! same_variants {
    ($binding:ident <=> $facade:ty { $($v:ident),* $(,)? }) => {
        impl From<$binding> for $facade {
            fn from(x: $binding) -> Self {
                match x { $($binding::$v => Self::$v,)* }
            }
        }
        impl From<$facade> for $binding {
            fn from(x: $facade) -> Self {
                match x { $(<$facade>::$v => Self::$v,)* }
            }
        }
    };
}
