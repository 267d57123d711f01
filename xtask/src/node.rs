//! The `#[napi]` methods of Node's `SyncEngine`
//! (`bindings/node/src/engine/generated.rs`), in the order of the spec, which
//! is index.d.ts's. Each runs inside `guard` (typed JS errors, no panic
//! across the boundary) and the engine's busy check; results leave through
//! the `IntoJs` conversions of `class.rs`.

use std::fmt::Write;

use crate::spec::{camel_case, doc_lines, ArgType, Method, NodeExport, Ret, Spec};

pub const PATH: &str = "bindings/node/src/engine/generated.rs";

pub fn generate(spec: &Spec) -> Result<String, String> {
    let mut out = String::from(
        "//! The `#[napi]` methods of `SyncEngine` after its constructor and store\n\
         //! registration (class.rs): one per `[[method]]` of bindings/exports.toml\n\
         //! with a `node` table, in index.d.ts's order.\n\n\
         use napi::bindgen_prelude::{Either, ObjectRef, This, Uint8Array};\n\
         use napi::Env;\n\
         use napi_derive::napi;\n\
         use serde_json::Value;\n\
         use zeroize::Zeroizing;\n\n\
         use azmx_sync_bridge::engine::DEFAULT_ACTIVITY_LIMIT;\n\n\
         use super::class::{IntoJs, SyncEngine};\n\
         use crate::error::guard;\n\
         use crate::key::take_receipt;\n\n\
         #[napi]\nimpl SyncEngine {\n",
    );
    for m in &spec.method {
        if let Some(n) = &m.node {
            method(&mut out, spec, m, n).map_err(|e| format!("node {}: {e}", n.name))?;
        }
    }
    out.push_str("}\n");
    Ok(out)
}

fn js_type(ret: Ret) -> &'static str {
    match ret {
        Ret::Unit => "()",
        Ret::Str => "String",
        Ret::OptStr => "Option<String>",
        Ret::U64 | Ret::F64 => "f64",
        Ret::Bool => "bool",
        Ret::Report | Ret::Unsynced | Ret::Status | Ret::Devices | Ret::Events => "Value",
    }
}

fn method(out: &mut String, spec: &Spec, m: &Method, n: &NodeExport) -> Result<(), String> {
    if let Some(target) = &n.alias {
        return alias(out, spec, n, target);
    }
    let rust = n.rust_name();
    let ret = n.returns.unwrap_or(m.ret());
    let mut attrs = Vec::new();
    if camel_case(&rust) != n.name {
        attrs.push(format!("js_name = \"{}\"", n.name));
    }
    if n.getter {
        attrs.push("getter".to_string());
    }
    if let Some(key) = ret.ts_key() {
        let ts = spec.node_ts.get(key).ok_or(format!("no [node_ts] {key}"))?;
        attrs.push(format!("ts_return_type = \"{ts}\""));
    }
    let (params, body) = match &n.hand {
        Some(hand) => {
            let names = hand
                .split(',')
                .filter_map(|p| p.split(':').next())
                .map(str::trim)
                .filter(|p| !p.is_empty());
            let hand_fn = n.hand_fn.clone().unwrap_or(format!("{rust}_js"));
            let args = std::iter::once("&env").chain(names).collect::<Vec<_>>();
            (hand.clone(), format!("self.{hand_fn}({})", args.join(", ")))
        }
        None => generic(spec, m, &mut attrs)?,
    };
    if let Some(ts) = &n.ts_args {
        attrs.push(format!("ts_args_type = \"{ts}\""));
    }
    let attrs = if attrs.is_empty() {
        String::new()
    } else {
        format!("({})", attrs.join(", "))
    };
    let _ = write!(
        out,
        "{doc}#[napi{attrs}]\npub fn {rust}(&self, env: Env{sep}{params}) -> napi::Result<{ty}> {{\n\
         guard(&env, \"{name}\", || {{ {body} }})\n}}\n\n",
        doc = doc_lines(&n.doc, ""),
        sep = if params.is_empty() { "" } else { ", " },
        ty = js_type(ret),
        name = n.name,
    );
    Ok(())
}

/// A deprecated name: the same parameters, calling the method it names.
fn alias(out: &mut String, spec: &Spec, n: &NodeExport, target: &str) -> Result<(), String> {
    let m = spec
        .method
        .iter()
        .find(|m| m.node.as_ref().is_some_and(|t| t.name == target))
        .ok_or(format!("alias of an unknown method `{target}`"))?;
    let (params, _) = generic(spec, m, &mut Vec::new())?;
    let names: Vec<&str> = m.args.iter().map(|a| a.name.as_str()).collect();
    let _ = write!(
        out,
        "{doc}#[napi]\npub fn {rust}(&self, env: Env, {params}) -> napi::Result<{ty}> {{\n\
         self.{target}(env, {args})\n}}\n\n",
        doc = doc_lines(&n.doc, ""),
        rust = n.rust_name(),
        ty = js_type(m.ret()),
        target = crate::spec::snake_case(target),
        args = names.join(", "),
    );
    Ok(())
}

/// The parameters and body of a method that calls the facade.
fn generic(spec: &Spec, m: &Method, attrs: &mut Vec<String>) -> Result<(String, String), String> {
    let facade = m.facade()?;
    let mut params = Vec::new();
    let mut ts = Vec::new();
    let mut before = String::new();
    let mut call_args = Vec::new();
    let mut adapter = None;
    for a in &m.args {
        let n = &a.name;
        let (ty, expr) = match (a.ty, &a.node_default) {
            (ArgType::Str | ArgType::Path, None) => ("String", format!("&{n}")),
            (ArgType::Bool, None) => ("bool", n.clone()),
            (ArgType::U32, None) => ("u32", n.clone()),
            (ArgType::U32, Some(d)) => ("Option<u32>", format!("{n}.unwrap_or({d})")),
            (ArgType::Secret, None) => {
                // Wiped also when the engine is busy and the facade never gets it.
                let _ = write!(before, "let mut {n} = Zeroizing::new({n});");
                ("String", format!("std::mem::take(&mut *{n})"))
            }
            (ArgType::Receipt, None) => {
                let _ = write!(before, "let mut {n} = take_receipt({n})?;");
                (
                    "Either<String, Uint8Array>",
                    format!("std::mem::take(&mut *{n})"),
                )
            }
            (ArgType::Adapter, None) => {
                adapter = Some(n.clone());
                ("ObjectRef<false>", n.clone())
            }
            (other, _) => return Err(format!("no Node form for a {other:?} argument `{n}`")),
        };
        params.push(format!("{n}: {ty}"));
        let ts_ty = match a.ty {
            ArgType::Adapter => spec.node_ts.get("adapter").ok_or("no [node_ts] adapter")?,
            _ => "",
        };
        ts.push((n, ts_ty));
        call_args.push(expr);
    }
    if ts.iter().any(|(_, t)| !t.is_empty()) {
        let list: Vec<String> = ts.iter().map(|(n, t)| format!("{n}: {t}")).collect();
        attrs.push(format!("ts_args_type = \"{}\"", list.join(", ")));
    }
    let call = format!("self.inner.{facade}({})", call_args.join(", "));
    let result = match (m.fallible, m.ret()) {
        (true, _) => call.clone(),
        (false, Ret::Unit) => format!("{{ {call}; Ok(()) }}"),
        (false, _) => format!("Ok({call})"),
    };
    let value = if let Some(a) = adapter {
        format!("self.add_store(&env, {a}, |{a}| {result})?")
    } else if m.stores {
        format!("self.with_adapters(&env, || {result})?")
    } else if m.reentrant && m.fallible {
        format!("{call}?")
    } else if m.reentrant && m.ret() == Ret::Unit {
        return Ok((params.join(", "), format!("{before}{call};\nOk(())")));
    } else if m.reentrant {
        call
    } else {
        format!("self.call(|| {result})?")
    };
    Ok((params.join(", "), format!("{before}{value}.into_js()")))
}
