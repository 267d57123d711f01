//! The uniffi methods of `SyncEngine`
//! (`bindings/ffi/src/uniffi_api/engine/generated.rs`, included into
//! `engine.rs`, whose types and conversions it uses). Python, Kotlin and
//! Swift are generated from them by uniffi-bindgen.

use std::fmt::Write;

use crate::spec::{doc_lines, ArgType, Method, Ret, Spec};

pub const PATH: &str = "bindings/ffi/src/uniffi_api/engine/generated.rs";

pub fn generate(spec: &Spec) -> Result<String, String> {
    // Included (`include!`) into `engine.rs`, not a module of its own: uniffi
    // orders an object's methods by module first, and the generated Swift
    // keeps one alphabetical list only when every method is in one module.
    let mut out = String::from(
        "// The `SyncEngine` methods that only convert arguments and results: one\n\
         // per `[[method]]` of bindings/exports.toml with a `uniffi` table.\n\n\
         #[uniffi::export]\nimpl SyncEngine {\n",
    );
    for m in &spec.method {
        if let Some(u) = &m.uniffi {
            method(&mut out, m, &u.name, &u.doc).map_err(|e| format!("uniffi {}: {e}", u.name))?;
        }
    }
    out.push_str("}\n");
    Ok(out)
}

fn ty(ret: Ret) -> Result<&'static str, String> {
    Ok(match ret {
        Ret::Unit => "()",
        Ret::Str => "String",
        Ret::OptStr => "Option<String>",
        Ret::U64 => "u64",
        Ret::Report => "CycleReport",
        Ret::Unsynced => "Unsynced",
        Ret::Status => "EngineStatus",
        Ret::Devices => "Vec<DeviceInfo>",
        Ret::Events => "Vec<ActivityEvent>",
        other => return Err(format!("no uniffi form for a {other:?} result")),
    })
}

fn method(out: &mut String, m: &Method, name: &str, doc: &str) -> Result<(), String> {
    let facade = m.facade()?;
    let mut params = Vec::new();
    let mut call_args = Vec::new();
    for a in &m.args {
        let n = &a.name;
        let (ty, expr) = match a.ty {
            ArgType::Str => ("String", format!("&{n}")),
            ArgType::Path | ArgType::Secret | ArgType::Receipt => ("String", n.clone()),
            ArgType::U32 => ("u32", n.clone()),
            ArgType::U64 => ("u64", n.clone()),
            ArgType::Bool => ("bool", n.clone()),
            ArgType::Adapter => ("Arc<dyn StoreAdapter>", format!("self::store({n})")),
            ArgType::Listener => ("Arc<dyn ActivityListener>", format!("self::listener({n})")),
        };
        params.push(format!(", {n}: {ty}"));
        call_args.push(expr);
    }
    let ret = m.ret();
    let conv = if ret.is_record() {
        ".into()"
    } else if ret.is_list() {
        ".into_iter().map(Into::into).collect()"
    } else {
        ""
    };
    let call = format!("self.inner.{facade}({})", call_args.join(", "));
    let (ty, body) = match (m.fallible, ret) {
        (true, _) => (
            format!(" -> Result<{}, SyncError>", ty(ret)?),
            format!("Ok({call}?{conv})"),
        ),
        (false, Ret::Unit) => (String::new(), call),
        (false, _) => (format!(" -> {}", ty(ret)?), format!("{call}{conv}")),
    };
    let _ = write!(
        out,
        "{doc}pub fn {name}(&self{params}){ty} {{\n{body}\n}}\n\n",
        doc = doc_lines(doc, ""),
        params = params.concat(),
    );
    Ok(())
}
