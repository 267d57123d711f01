//! The exports that are not engine methods (`[[class]]` and `[[export]]` of
//! `bindings/exports.toml`): the envelope key, the device identity, merge and
//! store specs, verification helpers. Each is declared once; the per-target
//! generators (`c_items`, `uniffi_items`, `node_items`) write the glue, one
//! file per group (`key`, `identity`, `merge`).

use serde::Deserialize;

/// The groups, in the order of the C header (and of the modules).
pub const GROUPS: [&str; 3] = ["identity", "key", "merge"];

/// A class wrapping one core value (`inner`), opaque in every binding.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Class {
    /// The uniffi and Node class name.
    pub name: String,
    pub group: String,
    /// The wrapped Rust type.
    pub inner: String,
    /// Constant-time equality (`Eq` in uniffi, `equals` in Node).
    pub eq_doc: Option<String>,
    /// C: the handle struct (hand-written) and the name of the handle
    /// argument of its methods.
    pub c_handle: Option<String>,
    pub c_param: Option<String>,
    pub uniffi_doc: String,
    /// `Debug`/`Display` of uniffi: a format string and its arguments
    /// (methods of `inner`).
    pub uniffi_debug: Display,
    pub node_doc: String,
    /// `toString()`/`toJSON()` of Node.
    pub node_display: Display,
    pub node_to_string_doc: String,
    pub node_to_json_doc: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Display {
    pub format: String,
    #[serde(default)]
    pub args: Vec<String>,
}

/// One export: a constructor (`returns = "self"`) or method of `class`, or a
/// free function. The generated body calls `call` with the converted
/// arguments (a method's wrapped value first, borrowed).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {
    pub group: String,
    pub class: Option<String>,
    /// The Rust name (uniffi's, and Node's in camel case).
    pub name: String,
    pub call: Option<String>,
    #[serde(default)]
    pub args: Vec<Arg>,
    pub returns: Ty,
    #[serde(default)]
    pub fallible: bool,
    pub c: Option<CItem>,
    pub uniffi: Option<Doc>,
    pub node: Option<NodeItem>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arg {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: Ty,
    /// The C parameter's name when it is not `name`.
    pub c_name: Option<String>,
    /// The uniffi parameter's name when it is not `name`.
    pub uniffi_name: Option<String>,
    /// uniffi's default value (`#[uniffi::export(default(..))]`).
    pub uniffi_default: Option<String>,
    /// Node takes the argument as optional, this expression its default.
    pub node_default: Option<String>,
}

/// The types of arguments and results; each binding has its own form and
/// conversion of each (see the generators).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ty {
    Unit,
    Str,
    /// A file path (C: bytes as the OS takes them; Node: not empty).
    Path,
    Bytes,
    I64,
    Usize,
    /// The recovery receipt (C: `(ptr, len)` wiped; Node: string or bytes).
    Receipt,
    /// Text that must be base64url (C: non-UTF-8 is `INVALID_BASE64`).
    EnvelopeText,
    /// Any JSON value (C and uniffi: JSON text).
    Json,
    /// A store: C a built-in name, uniffi a `StoreSpec`, Node either.
    Store,
    /// C only: a custom store from its name, contract and scope rule.
    CustomStore,
    /// A store spec record, checked on the way in.
    Spec,
    /// A local state (C: JSON text) and a list of records (C: JSON text).
    State,
    Records,
    /// Results: the class itself, a verified request, a built-in store's
    /// parts, all of them, a merge outcome.
    #[serde(rename = "self")]
    Itself,
    Verified,
    StoreParts,
    StorePartsList,
    Merged,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CItem {
    pub name: String,
    /// The out-parameter of a result.
    pub out: Option<String>,
    /// The handle's release function (no call).
    #[serde(default)]
    pub free: bool,
    pub doc: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Doc {
    #[serde(default)]
    pub doc: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeItem {
    #[serde(default)]
    pub doc: String,
    /// A hand-written body: `fn` called with the Rust parameters `params`,
    /// returning `napi::Result<returns>` content (inside `guard`).
    pub hand_fn: Option<String>,
    pub hand_params: Option<String>,
    pub hand_returns: Option<String>,
    pub ts_return: Option<String>,
}

impl Export {
    /// The call, for the exports that are not hand-written in a binding.
    pub fn call(&self) -> Result<&str, String> {
        self.call
            .as_deref()
            .ok_or_else(|| format!("`{}` has no `call`", self.name))
    }

    pub fn is_ctor(&self) -> bool {
        self.returns == Ty::Itself
    }
}
