//! The C entry points (`bindings/ffi/src/c_api/engine/generated.rs`). cbindgen
//! reads them for `include/azmx_sync.h`, so each keeps its doc (the header's)
//! and the order of the spec; the body converts the arguments with the
//! per-type helpers of `c_api/guard.rs` and `c_api/engine/mod.rs`.

use std::fmt::Write;

use crate::spec::{doc_lines, ArgType, Method, Ret, Spec};

pub const PATH: &str = "bindings/ffi/src/c_api/engine/generated.rs";

pub fn generate(spec: &Spec) -> Result<String, String> {
    let mut out = String::from(
        "//! The engine's C entry points that only convert arguments and results:\n\
         //! one per `[[method]]` of bindings/exports.toml with a `c` table.\n\
         //! Conversions: `super` (results) and `c_api/guard.rs` (arguments).\n\n\
         use std::ffi::c_char;\n\n\
         use super::super::buffer::AzmxBuffer;\n\
         use super::super::error::AzmxStatus;\n\
         use super::super::guard::{self as g, ffi_boundary};\n\
         use super::{engine_ref, fill_opt, AzmxCycleReport, AzmxSyncEngine, CText};\n",
    );
    for m in &spec.method {
        if let Some(c) = &m.c {
            entry(&mut out, m, &c.name, c.out.as_deref(), &c.doc)
                .map_err(|e| format!("{}: {e}", c.name))?;
        }
    }
    Ok(out)
}

/// How a result leaves: nothing, an `AzmxBuffer`, or an optional out-pointer.
enum Shape {
    Status,
    Buffer,
    Optional(&'static str),
}

fn shape(ret: Ret) -> Result<Shape, String> {
    Ok(match ret {
        Ret::Unit => Shape::Status,
        Ret::Str | Ret::OptStr | Ret::Status | Ret::Devices | Ret::Events => Shape::Buffer,
        Ret::U64 => Shape::Optional("u64"),
        Ret::Report => Shape::Optional("AzmxCycleReport"),
        other => return Err(format!("no C form for a {other:?} result")),
    })
}

fn entry(
    out: &mut String,
    m: &Method,
    name: &str,
    out_param: Option<&str>,
    doc: &str,
) -> Result<(), String> {
    let facade = m.facade()?;
    let shape = shape(m.ret())?;
    let mut params = vec!["engine: *const AzmxSyncEngine".to_string()];
    let mut before = String::new();
    let mut call_args = Vec::new();
    for a in &m.args {
        let n = &a.name;
        match a.ty {
            ArgType::Str => {
                params.push(format!("{n}: *const c_char"));
                call_args.push(format!("g::text({n}, \"{n}\")?"));
            }
            ArgType::Path => {
                params.push(format!("{n}: *const c_char"));
                call_args.push(format!("g::path({n}, \"{n}\")?"));
            }
            ArgType::Bool => {
                params.push(format!("{n}: i32"));
                call_args.push(format!("{n} != 0"));
            }
            ArgType::U32 | ArgType::U64 => {
                let ty = if a.ty == ArgType::U32 { "u32" } else { "u64" };
                params.push(format!("{n}: {ty}"));
                call_args.push(n.clone());
            }
            ArgType::Receipt => {
                // Wiped however the call ends; a NULL buffer is refused
                // before the engine is looked at, as the C ABI always did.
                params.push(format!("{n}: *mut u8"));
                params.push(format!("{n}_len: usize"));
                let _ = writeln!(before, "let _wipe = g::WipeOnDrop::new({n}, {n}_len);");
                let _ = writeln!(before, "g::bytes({n}, {n}_len, \"{n}\")?;");
                call_args.push(format!("g::utf8({n}, {n}_len, \"{n}\")?.into()"));
            }
            other => return Err(format!("no C form for a {other:?} argument")),
        }
    }
    let call = format!("e.inner.{facade}({})", call_args.join(", "));
    let result = match (m.fallible, m.ret()) {
        (true, _) => call.clone(),
        (false, Ret::Unit) => format!("{call};\nOk(())"),
        (false, _) => format!("Ok({call})"),
    };
    let lookup = "let e = engine_ref(engine)?;";
    let (head, body) = match shape {
        Shape::Status => (String::new(), format!("{lookup}\n{result}")),
        Shape::Buffer => {
            let o = out_param.ok_or("a buffer result needs `out`")?;
            params.push(format!("{o}: *mut AzmxBuffer"));
            let q = if m.fallible { "?" } else { "" };
            (format!("{o} => "), format!("{lookup}\n{call}{q}.c_text()"))
        }
        Shape::Optional(ty) => {
            let o = out_param.ok_or("an optional result needs `out`")?;
            params.push(format!("{o}: *mut {ty}"));
            (
                String::new(),
                format!("fill_opt({o}, || {{\n{lookup}\n{result}\n}})"),
            )
        }
    };
    let _ = write!(
        out,
        "\n{doc}#[no_mangle]\npub unsafe extern \"C\" fn {name}({params}) -> AzmxStatus {{\n\
         // SAFETY: the pointers are NULL or valid as the contract above says.\n\
         ffi_boundary!(\"{name}\", {head}unsafe {{\n{before}{body}\n}})\n}}\n",
        doc = doc_lines(doc, ""),
        params = params.join(", "),
    );
    Ok(())
}
