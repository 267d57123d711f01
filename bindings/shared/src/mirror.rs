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

/// `From<$from> for $binding`, one way, for a binding's enum that mirrors a
/// core enum it cannot export as is (it has a variant of its own, e.g. a
/// catch-all): each listed variant maps to the one of the same name, its
/// numeric fields cast (`as`), then the `else` arms map the rest:
/// `variants_into!(TodoInvalid => TodoProblem { NotAnObject, MissingId { index } } else { _ => Self::Other })`.
#[macro_export]
macro_rules! variants_into {
    ($from:ident => $binding:ty {
        $($v:ident $({ $($f:ident),* })?),* $(,)?
    } else { $($arms:tt)* }) => {
        impl From<$from> for $binding {
            fn from(x: $from) -> Self {
                match x {
                    $($from::$v $({ $($f),* })? => Self::$v $({ $($f: $f as _),* })?,)*
                    $($arms)*
                }
            }
        }
    };
}

/// Declares a binding's enum that mirrors a core enum it cannot export as
/// it is (field types the foreign side lacks, a catch-all of its own) and
/// `From<$from>` for it, from one list: each listed variant maps to the one
/// of the same name, its numeric fields cast (`as`); the core's variants
/// not listed (added after the binding was written) map to the `else`
/// variant, the binding's own.
#[macro_export]
macro_rules! mirror_enum {
    (
        $(#[$attr:meta])*
        $vis:vis enum $name:ident from $from:ident {
            $($v:ident $({ $($f:ident: $t:ty),* })?),* $(,)?
        } else {
            $(#[$other_attr:meta])* $other:ident
        }
    ) => {
        $(#[$attr])*
        $vis enum $name {
            $($v $({ $($f: $t),* })?,)*
            $(#[$other_attr])* $other,
        }
        impl From<$from> for $name {
            fn from(x: $from) -> Self {
                match x {
                    $($from::$v $({ $($f),* })? => Self::$v $({ $($f: $f as _),* })?,)*
                    _ => Self::$other,
                }
            }
        }
    };
}
