//! The `#[napi]` classes and functions of the non-engine exports
//! (`bindings/node/src/<group>/generated.rs`, a child module of the group's
//! hand-written module, whose types and conversions it uses). A class's
//! members are in the spec's order, which is index.d.ts's; every body runs
//! inside `guard` (typed JS errors, no panic across the boundary).

use std::fmt::Write;

use crate::items::{Arg, Class, Export, Ty};
use crate::spec::{camel_case, doc_lines, Spec};

pub fn path(group: &str) -> String {
    format!("bindings/node/src/{group}/generated.rs")
}

pub fn generate(spec: &Spec, group: &str) -> Result<String, String> {
    let mut out = format!(
        "//! The Node exports of `{group}`: one per `[[class]]` and `[[export]]` of\n\
         //! bindings/exports.toml with a `node` table.\n\n\
         // Each body has the one shape of its types; some shapes are not\n\
         // what a hand would write for that particular type.\n\
         #![allow(\n\
             unused_imports,\n\
             clippy::needless_question_mark,\n\
             clippy::redundant_closure,\n\
             clippy::unnecessary_lazy_evaluations,\n\
             clippy::useless_format\n\
         )]\n\n\
         use napi::bindgen_prelude::{{Buffer, Either, Uint8Array}};\n\
         use napi::Env;\n\
         use napi_derive::napi;\n\
         use serde_json::Value;\n\n\
         use super::*;\n\
         use crate::error::guard;\n"
    );
    for class in spec.class.iter().filter(|c| c.group == group) {
        class_items(&mut out, spec, class)?;
    }
    for e in spec
        .export
        .iter()
        .filter(|e| e.group == group && e.class.is_none())
    {
        if let Some(n) = &e.node {
            let js = camel_case(&e.name);
            let f = function(e, None, &js).map_err(|err| format!("node {js}: {err}"))?;
            let _ = write!(out, "\n{}{f}", doc_lines(&n.doc, ""));
        }
    }
    Ok(out)
}

fn class_items(out: &mut String, spec: &Spec, class: &Class) -> Result<(), String> {
    let name = &class.name;
    let _ = write!(
        out,
        "\n{doc}#[napi]\npub struct {name} {{\npub(crate) inner: {inner},\n}}\n\n#[napi]\nimpl {name} {{\n",
        doc = doc_lines(&class.node_doc, ""),
        inner = class.inner,
    );
    for e in spec
        .export
        .iter()
        .filter(|e| e.class.as_deref() == Some(name))
    {
        if let Some(n) = &e.node {
            let js = format!("{name}.{}", camel_case(&e.name));
            let f = function(e, Some(class), &js).map_err(|err| format!("node {js}: {err}"))?;
            let _ = writeln!(out, "{}{f}", doc_lines(&n.doc, ""));
        }
    }
    if let Some(doc) = &class.eq_doc {
        let _ = write!(
            out,
            "{}#[napi]\npub fn equals(&self, other: &{name}) -> bool {{\n\
             self.inner == other.inner\n}}\n\n",
            doc_lines(doc, "")
        );
    }
    let d = &class.node_display;
    let args: String = d
        .args
        .iter()
        .map(|m| format!(", self.inner.{m}()"))
        .collect();
    let _ = write!(
        out,
        "{}#[napi(js_name = \"toString\")]\npub fn to_js_string(&self) -> String {{\n\
         format!(\"{}\"{args})\n}}\n\n\
         {}#[napi(js_name = \"toJSON\")]\npub fn to_json(&self) -> String {{\n\
         self.to_js_string()\n}}\n}}\n",
        doc_lines(&class.node_to_string_doc, ""),
        d.format,
        doc_lines(&class.node_to_json_doc, ""),
    );
    Ok(())
}

/// The parameter type, the statement converting it (if any) and how the
/// call passes it.
fn arg(a: &Arg) -> Result<(&'static str, String, String), String> {
    let n = &a.name;
    let local = |expr: String| format!("let {n} = {expr};\n");
    Ok(match (a.ty, &a.node_default) {
        (Ty::Str | Ty::EnvelopeText, None) => ("String", String::new(), format!("&{n}")),
        (Ty::Path, None) => ("String", local(format!("path_arg(&{n})?")), n.clone()),
        (Ty::Bytes, None) => ("&[u8]", String::new(), n.clone()),
        (Ty::I64, None) => ("i64", String::new(), n.clone()),
        (Ty::I64, Some(d)) => (
            "Option<i64>",
            local(format!("{n}.unwrap_or_else(|| {d})")),
            n.clone(),
        ),
        (Ty::Receipt, None) => (
            "Either<String, Uint8Array>",
            local(format!("crate::key::take_receipt({n})?")),
            format!("&{n}"),
        ),
        (Ty::Json, None) => ("Value", String::new(), format!("&{n}")),
        (Ty::Store, None) => (
            "Either<String, StoreSpec>",
            local(format!("store_arg({n})?")),
            n.clone(),
        ),
        (Ty::Spec, None) => (
            "StoreSpec",
            local(format!("to_core_spec(&{n})?")),
            n.clone(),
        ),
        (Ty::State | Ty::Records, None) => (
            "Vec<SyncRecord>",
            local(format!("to_core_list({n}, \"{n}\")?")),
            n.clone(),
        ),
        (other, _) => return Err(format!("no Node form for a {other:?} argument `{n}`")),
    })
}

/// The result type and the expression converting the call's value `v`.
fn result(ty: Ty) -> Result<(&'static str, &'static str), String> {
    Ok(match ty {
        Ty::Unit => ("()", "v"),
        Ty::Str => ("String", "v"),
        Ty::Bytes => ("Buffer", "Buffer::from(v)"),
        Ty::Itself => ("Self", "Self { inner: v }"),
        Ty::Verified => ("VerifiedRequest", "VerifiedRequest::from(v)"),
        Ty::StoreParts => ("StoreSpec", "builtin_spec(&v)"),
        Ty::StorePartsList => ("Vec<StoreSpec>", "v.iter().map(builtin_spec).collect()"),
        Ty::Merged => ("MergeOutcome", "MergeOutcome::from(v)"),
        other => return Err(format!("no Node form for a {other:?} result")),
    })
}

fn function(e: &Export, class: Option<&Class>, js: &str) -> Result<String, String> {
    let n = e.node.as_ref().expect("called for node exports");
    let mut attrs = Vec::new();
    // A hand-written body of a class is static (`deriveAsync`).
    if e.is_ctor() && n.hand_fn.is_none() {
        attrs.push("factory".to_string());
    }
    if let Some(ts) = &n.ts_return {
        attrs.push(format!("ts_return_type = \"{ts}\""));
    }
    let attrs = if attrs.is_empty() {
        String::new()
    } else {
        format!("({})", attrs.join(", "))
    };
    let method = class.is_some() && !e.is_ctor();
    let mut params = vec![if method {
        "&self, env: Env"
    } else {
        "env: Env"
    }
    .to_string()];
    let (ty, body) = if let Some(hand) = &n.hand_fn {
        let hand_params = n.hand_params.as_deref().unwrap_or("");
        let names: Vec<&str> = hand_params
            .split(',')
            // A piece without `:` is the rest of a generic type.
            .filter_map(|p| p.split_once(':').map(|(name, _)| name.trim()))
            .filter(|p| !p.is_empty())
            .collect();
        if !hand_params.is_empty() {
            params.push(hand_params.to_string());
        }
        let ty = n
            .hand_returns
            .clone()
            .ok_or("`hand_fn` needs `hand_returns`")?;
        (ty, format!("{hand}({})", names.join(", ")))
    } else {
        let mut locals = String::new();
        let mut call_args = Vec::new();
        if method {
            call_args.push("&self.inner".to_string());
        }
        for a in &e.args {
            let (ty, local, pass) = arg(a)?;
            params.push(format!("{}: {ty}", a.name));
            locals.push_str(&local);
            call_args.push(pass);
        }
        let (ty, conv) = result(e.returns)?;
        let q = if e.fallible { "?" } else { "" };
        let call = format!("{}({}){q}", e.call()?, call_args.join(", "));
        let body = match (e.returns, e.fallible) {
            (Ty::Unit, false) => format!("{call};\nOk(())"),
            _ if conv == "v" => format!("Ok({call})"),
            _ => format!("Ok({{ let v = {call}; {conv} }})"),
        };
        (ty.to_string(), format!("{{\n{locals}{body}\n}}"))
    };
    Ok(format!(
        "#[napi{attrs}]\npub fn {name}({params}) -> napi::Result<{ty}> {{\n\
         guard(&env, \"{js}\", || {body})\n}}\n",
        name = e.name,
        params = params.join(", "),
    ))
}
