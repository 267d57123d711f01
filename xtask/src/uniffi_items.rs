//! The uniffi classes and functions of the non-engine exports
//! (`bindings/ffi/src/uniffi_api/<module>/generated.rs`, included into the
//! module, whose record types and conversions it uses: uniffi orders items
//! by module, so the generated ones stay in the module they always were).

use std::fmt::Write;

use crate::items::{Arg, Class, Export, Ty};
use crate::spec::{doc_lines, Spec};

/// uniffi's module of a group.
pub fn module(group: &str) -> &str {
    match group {
        "key" => "crypto",
        other => other,
    }
}

pub fn path(group: &str) -> String {
    format!("bindings/ffi/src/uniffi_api/{}/generated.rs", module(group))
}

pub fn generate(spec: &Spec, group: &str) -> Result<String, String> {
    let mut out = format!(
        "// The uniffi exports of `{}`: one per `[[class]]` and `[[export]]` of\n\
         // bindings/exports.toml with a `uniffi` table (included by the module).\n",
        module(group)
    );
    for class in spec.class.iter().filter(|c| c.group == group) {
        class_items(&mut out, spec, class)?;
    }
    for e in spec
        .export
        .iter()
        .filter(|e| e.group == group && e.class.is_none())
    {
        if let Some(u) = &e.uniffi {
            let mut attr = String::new();
            let defaults: Vec<String> = e
                .args
                .iter()
                .filter_map(|a| Some(format!("{} = {}", name(a), a.uniffi_default.as_ref()?)))
                .collect();
            if !defaults.is_empty() {
                attr = format!("(default({}))", defaults.join(", "));
            }
            let f = function(e, None).map_err(|err| format!("uniffi {}: {err}", e.name))?;
            let _ = write!(
                out,
                "\n{}#[uniffi::export{attr}]\n{f}",
                doc_lines(&u.doc, "")
            );
        }
    }
    Ok(out)
}

fn class_items(out: &mut String, spec: &Spec, class: &Class) -> Result<(), String> {
    let name = &class.name;
    let (derive, traits) = match class.eq_doc {
        Some(_) => (", PartialEq, Eq", ", Eq"),
        None => ("", ""),
    };
    let debug = &class.uniffi_debug;
    let args: String = debug
        .args
        .iter()
        .map(|m| format!(", self.inner.{m}()"))
        .collect();
    let _ = write!(
        out,
        "\n{doc}#[derive(uniffi::Object{derive})]\n#[uniffi::export(Debug, Display{traits})]\n\
         pub struct {name} {{\npub(crate) inner: {inner},\n}}\n\n\
         impl std::fmt::Debug for {name} {{\n\
         fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{\n\
         write!(f, \"{format}\"{args})\n}}\n}}\n\n\
         impl std::fmt::Display for {name} {{\n\
         fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{\n\
         std::fmt::Debug::fmt(self, f)\n}}\n}}\n\n\
         #[uniffi::export]\nimpl {name} {{\n",
        doc = doc_lines(&class.uniffi_doc, ""),
        inner = class.inner,
        format = debug.format,
    );
    for e in spec
        .export
        .iter()
        .filter(|e| e.class.as_deref() == Some(name))
    {
        if let Some(u) = &e.uniffi {
            let f = function(e, Some(class)).map_err(|err| format!("uniffi {}: {err}", e.name))?;
            let ctor = if e.is_ctor() {
                "#[uniffi::constructor]\n"
            } else {
                ""
            };
            let _ = writeln!(out, "{}{ctor}{f}", doc_lines(&u.doc, ""));
        }
    }
    out.push_str("}\n");
    Ok(())
}

fn name(a: &Arg) -> &str {
    a.uniffi_name.as_deref().unwrap_or(&a.name)
}

/// The parameter type, the statement converting it (if any) and how the
/// call passes it.
fn arg(a: &Arg) -> Result<(&'static str, String, String), String> {
    let n = name(a);
    let local = |expr: String| format!("let {n} = {expr};\n");
    Ok(match a.ty {
        Ty::Str | Ty::EnvelopeText => ("String", String::new(), format!("&{n}")),
        Ty::Path => ("String", String::new(), n.to_string()),
        Ty::Bytes => ("Vec<u8>", String::new(), format!("&{n}")),
        Ty::I64 => ("i64", String::new(), n.to_string()),
        Ty::Receipt => (
            "String",
            local(format!("zeroize::Zeroizing::new({n})")),
            format!("&{n}"),
        ),
        Ty::Json => (
            "String",
            local(format!("json_value(&{n}, \"{n}\")?")),
            format!("&{n}"),
        ),
        Ty::Store | Ty::Spec => (
            "StoreSpec",
            local(format!("to_core_spec(&{n})?")),
            n.to_string(),
        ),
        Ty::State | Ty::Records => (
            "Vec<SyncRecord>",
            local(format!("to_core_records({n}, \"{n}\")?")),
            n.to_string(),
        ),
        other => return Err(format!("no uniffi form for a {other:?} argument")),
    })
}

/// The result type and the expression converting the call's value `v`.
fn result(ty: Ty) -> Result<(&'static str, &'static str), String> {
    Ok(match ty {
        Ty::Unit => ("()", "v"),
        Ty::Str => ("String", "v"),
        Ty::Bytes => ("Vec<u8>", "v"),
        Ty::Itself => (
            "std::sync::Arc<Self>",
            "std::sync::Arc::new(Self { inner: v })",
        ),
        Ty::Verified => ("VerifiedRequest", "v"),
        Ty::StoreParts => ("StoreSpec", "builtin_spec(&v)"),
        Ty::StorePartsList => ("Vec<StoreSpec>", "v.iter().map(builtin_spec).collect()"),
        Ty::Merged => ("MergeOutcome", "MergeOutcome::from(v)"),
        other => return Err(format!("no uniffi form for a {other:?} result")),
    })
}

fn function(e: &Export, class: Option<&Class>) -> Result<String, String> {
    let mut params = Vec::new();
    let mut locals = String::new();
    let mut call_args = Vec::new();
    if class.is_some() && !e.is_ctor() {
        params.push("&self".to_string());
        call_args.push("&self.inner".to_string());
    }
    for a in &e.args {
        let (ty, local, pass) = arg(a)?;
        params.push(format!("{}: {ty}", name(a)));
        locals.push_str(&local);
        call_args.push(pass);
    }
    let (ty, conv) = result(e.returns)?;
    let call = format!("{}({})", e.call()?, call_args.join(", "));
    let fallible = e.fallible || !locals.is_empty() && locals.contains('?');
    let value = if conv == "v" {
        call.clone()
    } else {
        format!(
            "{{ let v = {call}{q}; {conv} }}",
            q = if e.fallible { "?" } else { "" }
        )
    };
    let (ret, body) = match (fallible, conv == "v") {
        (true, _) if e.returns == Ty::Unit && !e.fallible => (
            "Result<(), crate::uniffi_api::SyncError>".to_string(),
            format!("{call};\nOk(())"),
        ),
        (true, true) => (
            format!("Result<{ty}, crate::uniffi_api::SyncError>"),
            format!("Ok({value}{q})", q = if e.fallible { "?" } else { "" }),
        ),
        (true, false) => (
            format!("Result<{ty}, crate::uniffi_api::SyncError>"),
            format!("Ok({value})"),
        ),
        (false, _) => (ty.to_string(), value),
    };
    let ret = if ret == "()" {
        String::new()
    } else {
        format!(" -> {ret}")
    };
    Ok(format!(
        "pub fn {name}({params}){ret} {{\n{locals}{body}\n}}\n",
        name = e.name,
        params = params.join(", "),
    ))
}
