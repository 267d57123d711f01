//! The C entry points of the non-engine exports
//! (`bindings/ffi/src/c_api/<group>/generated.rs`). cbindgen reads them for
//! `include/azmx_sync.h`: each keeps its doc (the header's) and the order of
//! the spec. Arguments convert with `c_api/guard.rs` and the per-type
//! helpers of the group's hand-written module.

use std::fmt::Write;

use crate::items::{Arg, Class, Export, Ty};
use crate::spec::{doc_lines, Spec};

pub fn path(group: &str) -> String {
    format!("bindings/ffi/src/c_api/{group}/generated.rs")
}

pub fn generate(spec: &Spec, group: &str) -> Result<String, String> {
    let mut body = String::new();
    for e in spec.export.iter().filter(|e| e.group == group) {
        if let Some(c) = &e.c {
            let class = match &e.class {
                Some(name) => Some(spec.class(name)?),
                None => None,
            };
            entry(&mut body, e, class, c).map_err(|err| format!("{}: {err}", c.name))?;
        }
    }
    let mut out = format!(
        "//! The C entry points of `{group}`: one per `[[export]]` of\n\
         //! bindings/exports.toml with a `c` table, in the header's order.\n\n"
    );
    for (word, import) in [
        ("c_char", "use std::ffi::c_char;\n"),
        ("AzmxBuffer", "use crate::c_api::buffer::AzmxBuffer;\n"),
        ("AzmxStatus", "use crate::c_api::error::AzmxStatus;\n"),
        ("ffi_boundary!", "use crate::c_api::guard::ffi_boundary;\n"),
        ("g::", "use crate::c_api::guard as g;\n"),
    ] {
        if body.contains(word) {
            out.push_str(import);
        }
    }
    for class in spec.class.iter().filter(|c| c.group == group) {
        if let Some(h) = &class.c_handle {
            if body.contains(h.as_str()) {
                let _ = writeln!(out, "use crate::c_api::{group}::{h};");
            }
        }
    }
    out.push_str(&body);
    Ok(out)
}

/// The C parameters of one argument.
fn c_params(a: &Arg) -> Result<Vec<String>, String> {
    let c = a.c_name.as_deref().unwrap_or(&a.name);
    Ok(match a.ty {
        Ty::Str | Ty::Path | Ty::EnvelopeText | Ty::Json | Ty::Store | Ty::State | Ty::Records => {
            vec![format!("{c}: *const c_char")]
        }
        Ty::Bytes => vec![format!("{c}: *const u8"), format!("{c}_len: usize")],
        Ty::Receipt => vec![format!("{c}: *mut u8"), format!("{c}_len: usize")],
        Ty::I64 => vec![format!("{c}: i64")],
        Ty::Usize => vec![format!("{c}: usize")],
        Ty::CustomStore => vec![
            format!("{c}: *const c_char"),
            "contract: u32".into(),
            "scope_rule: u32".into(),
        ],
        other => return Err(format!("no C form for a {other:?} argument")),
    })
}

/// The statement converting one argument into the local the call takes.
fn convert(a: &Arg) -> Result<String, String> {
    let c = a.c_name.as_deref().unwrap_or(&a.name);
    let json = |ty: &str| {
        format!("azmx_sync_bridge::records::parse_as::<{ty}>(g::text({c}, \"{c}\")?, \"{c}\")?")
    };
    let expr = match a.ty {
        Ty::Str => format!("g::text({c}, \"{c}\")?"),
        Ty::Path => format!("g::path({c}, \"{c}\")?"),
        Ty::Bytes => format!("g::bytes({c}, {c}_len, \"{c}\")?"),
        Ty::Receipt => format!("g::utf8({c}, {c}_len, \"{c}\")?"),
        Ty::I64 | Ty::Usize => return Ok(String::new()),
        Ty::EnvelopeText => format!("crate::c_api::key::envelope_text({c})?"),
        Ty::Json => json("serde_json::Value"),
        Ty::State => json("azmx_sync_core::merge::StoreState"),
        Ty::Records => json("Vec<azmx_sync_core::merge::Record>"),
        Ty::Store => {
            format!("azmx_sync_bridge::store_spec::builtin_store(g::text({c}, \"{c}\")?)?")
        }
        Ty::CustomStore => format!(
            "crate::c_api::merge::custom_spec(g::text({c}, \"{c}\")?, contract, scope_rule)?"
        ),
        other => return Err(format!("no C form for a {other:?} argument")),
    };
    Ok(format!("let {c} = {expr};\n"))
}

/// How the call passes the local of one argument.
fn pass(a: &Arg) -> String {
    let c = a.c_name.as_deref().unwrap_or(&a.name);
    match a.ty {
        Ty::Json => format!("&{c}"),
        _ => c.to_string(),
    }
}

fn entry(
    out: &mut String,
    e: &Export,
    class: Option<&Class>,
    c: &crate::items::CItem,
) -> Result<(), String> {
    let name = &c.name;
    let doc = doc_lines(&c.doc, "");
    let handle = class.and_then(|k| k.c_handle.as_deref());
    let self_param = class.and_then(|k| k.c_param.as_deref());
    if c.free {
        let (h, p) = handle
            .zip(self_param)
            .ok_or("`free` needs a class with c_handle")?;
        let _ = write!(
            out,
            "\n{doc}#[no_mangle]\npub unsafe extern \"C\" fn {name}({p}: *mut {h}) {{\n\
             // SAFETY: NULL or a live handle freed once, per the contract; the\n\
             // wrapped secret zeroizes itself on drop.\n\
             unsafe {{ g::free_handle({p}) }}\n}}\n"
        );
        return Ok(());
    }
    let call = e.call()?;
    let mut params = Vec::new();
    let mut before = String::new();
    let mut locals = String::new();
    let mut call_args = Vec::new();
    if !e.is_ctor() {
        if let (Some(h), Some(p)) = (handle, self_param) {
            params.push(format!("{p}: *const {h}"));
            let _ = writeln!(locals, "let {p} = &g::handle({p}, \"{p}\")?.inner;");
            call_args.push(p.to_string());
        }
    }
    for a in &e.args {
        params.extend(c_params(a)?);
        if a.ty == Ty::Receipt {
            let c = a.c_name.as_deref().unwrap_or(&a.name);
            let _ = writeln!(before, "let _wipe = g::WipeOnDrop::new({c}, {c}_len);");
        }
        locals.push_str(&convert(a)?);
        call_args.push(pass(a));
    }
    let call = format!("{call}({})", call_args.join(", "));
    let q = if e.fallible { "?" } else { "" };
    let safety = if before.is_empty() {
        "// SAFETY: the pointers are NULL or valid as the contract above says.\n"
    } else {
        "// SAFETY: the pointers are NULL or valid as the contract above says;\n\
         // every borrow of the receipt ends before `_wipe` zeroes it.\n"
    };
    let (ret, boundary) = match e.returns {
        Ty::Usize => {
            let _ = write!(
                out,
                "\n{doc}#[no_mangle]\npub extern \"C\" fn {name}({params}) -> usize {{\n\
                 // SAFETY (extern \"C\"): integers only; a panic would give 0,\n\
                 // never unwind into C.\n\
                 g::call_value(0, || {call})\n}}\n",
                params = params.join(", "),
            );
            return Ok(());
        }
        Ty::Itself => {
            let h = handle.ok_or("a constructor needs a class with c_handle")?;
            let o = c.out.as_deref().ok_or("a constructor needs `out`")?;
            params.push(format!("{o}: *mut *mut {h}"));
            (
                "AzmxStatus",
                format!(
                    "ffi_boundary!(\"{name}\", unsafe {{\n{before}\
                     g::put_opt({o}, std::ptr::null_mut());\n{locals}\
                     if {o}.is_null() {{\nreturn Err(g::null(\"{o}\"));\n}}\n\
                     let inner = {call}{q};\n\
                     g::put_handle({o}, {h} {{ inner }}, \"{o}\")\n}})"
                ),
            )
        }
        Ty::Unit | Ty::Verified => (
            "AzmxStatus",
            format!("ffi_boundary!(\"{name}\", unsafe {{\n{before}{locals}{call}{q};\nOk(())\n}})"),
        ),
        Ty::Bytes | Ty::Str | Ty::Merged => {
            let o = c.out.as_deref().ok_or("a buffer result needs `out`")?;
            params.push(format!("{o}: *mut AzmxBuffer"));
            let value = match e.returns {
                Ty::Merged => format!("{call}{q}.json()"),
                _ => format!("{call}{q}"),
            };
            (
                "AzmxStatus",
                format!(
                    "ffi_boundary!(\"{name}\", {o} => unsafe {{\n{before}{locals}Ok({value})\n}})"
                ),
            )
        }
        other => return Err(format!("no C form for a {other:?} result")),
    };
    let _ = write!(
        out,
        "\n{doc}#[no_mangle]\npub unsafe extern \"C\" fn {name}({params}) -> {ret} {{\n\
         {safety}{boundary}\n}}\n",
        params = params.join(", "),
    );
    Ok(())
}
