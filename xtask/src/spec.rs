//! `bindings/exports.toml`, read into typed form: the engine's exports and
//! the small type vocabulary their arguments and results use.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// TypeScript of the Node results carried as plain objects, by type.
    pub node_ts: BTreeMap<String, String>,
    pub method: Vec<Method>,
    /// The non-engine classes and their exports (`items.rs`).
    #[serde(default)]
    pub class: Vec<crate::items::Class>,
    #[serde(default)]
    pub export: Vec<crate::items::Export>,
}

impl Spec {
    pub fn class(&self, name: &str) -> Result<&crate::items::Class, String> {
        self.class
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| format!("no [[class]] named `{name}`"))
    }
}

/// One engine export. `facade` is absent for Node-only methods whose body
/// is hand-written (`node.hand`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Method {
    pub facade: Option<String>,
    #[serde(default)]
    pub args: Vec<Arg>,
    pub returns: Option<Ret>,
    #[serde(default)]
    pub fallible: bool,
    #[serde(default)]
    pub stores: bool,
    #[serde(default)]
    pub reentrant: bool,
    pub c: Option<CExport>,
    pub uniffi: Option<UniffiExport>,
    pub node: Option<NodeExport>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arg {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ArgType,
    /// Node takes the argument as optional, this constant being its default.
    pub node_default: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgType {
    Str,
    Path,
    U32,
    U64,
    Bool,
    /// A license key: the binding's copy is wiped.
    Secret,
    /// The recovery receipt: C takes `(ptr, len)` and wipes it.
    Receipt,
    /// A host store adapter.
    Adapter,
    /// uniffi's activity listener.
    Listener,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ret {
    Unit,
    Str,
    OptStr,
    U64,
    Report,
    Unsynced,
    Status,
    Devices,
    Events,
    /// Node-only results of hand-written methods.
    F64,
    Bool,
}

impl Ret {
    /// The facade's plain records and lists (not text or numbers).
    pub fn is_record(self) -> bool {
        matches!(self, Ret::Report | Ret::Unsynced | Ret::Status)
    }
    pub fn is_list(self) -> bool {
        matches!(self, Ret::Devices | Ret::Events)
    }
    /// The key of its TypeScript in `[node_ts]`.
    pub fn ts_key(self) -> Option<&'static str> {
        Some(match self {
            Ret::Report => "report",
            Ret::Unsynced => "unsynced",
            Ret::Status => "status",
            Ret::Devices => "devices",
            Ret::Events => "events",
            _ => return None,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CExport {
    pub name: String,
    /// The out-parameter of a result other than unit.
    pub out: Option<String>,
    pub doc: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniffiExport {
    pub name: String,
    #[serde(default)]
    pub doc: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeExport {
    /// The JS name.
    pub name: String,
    /// The Rust name when it is not the JS name in snake case.
    pub rust: Option<String>,
    #[serde(default)]
    pub getter: bool,
    #[serde(default)]
    pub doc: String,
    /// The JS name of the method this one is a deprecated name of.
    pub alias: Option<String>,
    /// The parameters (after `env`) of a hand-written body.
    pub hand: Option<String>,
    /// The hand-written body's name (default `<rust>_js`).
    pub hand_fn: Option<String>,
    /// The result of a hand-written body when it is not the facade's.
    pub returns: Option<Ret>,
    /// `ts_args_type` when the arguments' TypeScript is not napi's.
    pub ts_args: Option<String>,
}

impl NodeExport {
    pub fn rust_name(&self) -> String {
        self.rust.clone().unwrap_or_else(|| snake_case(&self.name))
    }
}

/// `exportTo` → `export_to`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for ch in name.chars() {
        if ch.is_ascii_uppercase() {
            out.push('_');
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// `export_to` → `exportTo`, as napi names a method.
pub fn camel_case(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for ch in name.chars() {
        if ch == '_' {
            upper = true;
        } else if upper {
            out.push(ch.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(ch);
        }
    }
    out
}

/// `text` as `///` doc lines at `indent`.
pub fn doc_lines(text: &str, indent: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                format!("{indent}///\n")
            } else {
                format!("{indent}/// {l}\n")
            }
        })
        .collect()
}

impl Method {
    /// The facade method, for the bindings that generate a body calling it.
    pub fn facade(&self) -> Result<&str, String> {
        self.facade
            .as_deref()
            .ok_or_else(|| "a method without `facade` needs a hand-written body".to_string())
    }

    pub fn ret(&self) -> Ret {
        self.returns.unwrap_or(Ret::Unit)
    }
}
