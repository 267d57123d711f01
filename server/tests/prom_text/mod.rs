//! A strict parser of the Prometheus text exposition format (0.0.4), for
//! the metrics tests: it refuses anything a Prometheus server would, and
//! more (blank lines, stray comments, a family without HELP and TYPE),
//! so what passes it is a valid scrape.

use std::collections::{BTreeMap, HashMap};

use crate::common::{Env, ADMIN};

/// A successful scrape of `env`'s main listener with the admin token,
/// parsed strictly.
#[track_caller]
pub fn scrape(env: &Env) -> Scrape {
    let h = [("Authorization", format!("Bearer {ADMIN}"))];
    let r = env.call("GET", "/metrics", &h, b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    parse(std::str::from_utf8(&r.body).unwrap()).unwrap_or_else(|e| panic!("{e}"))
}

/// A parsed scrape.
pub struct Scrape {
    /// Family name → type (`counter`, `gauge`, `histogram`, ...).
    pub families: BTreeMap<String, String>,
    /// `name{label="value",...}` with labels sorted → value.
    series: HashMap<String, f64>,
    pub text: String,
}

impl Scrape {
    /// The value of one series; 0 when the family has no such series yet
    /// (a counter that never moved). Panics for an unknown family.
    #[track_caller]
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let family = self.family_of(name);
        assert!(family.is_some(), "no metric family serves {name}");
        let mut l: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        l.sort();
        self.series.get(&key(name, &l)).copied().unwrap_or(0.0)
    }

    fn family_of(&self, name: &str) -> Option<&str> {
        if let Some((f, _)) = self.families.get_key_value(name) {
            return Some(f);
        }
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix) {
                if let Some((f, t)) = self.families.get_key_value(base) {
                    if t == "histogram" || (t == "summary" && suffix != "_bucket") {
                        return Some(f);
                    }
                }
            }
        }
        None
    }
}

fn key(name: &str, labels: &[(String, String)]) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

fn valid_name(s: &str, colon: bool) -> bool {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'));
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
}

/// Go's ParseFloat as the format uses it: a decimal, `+Inf`, `-Inf`, `NaN`.
fn number(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => return Ok(f64::INFINITY),
        "-Inf" => return Ok(f64::NEG_INFINITY),
        "NaN" => return Ok(f64::NAN),
        _ => {}
    }
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((a, b)) => digits(a) && digits(b) && !(a.is_empty() && b.is_empty()),
        None => !mantissa.is_empty() && digits(mantissa),
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if !(mantissa_ok && exp_ok) {
        return Err(format!("not a number: {s:?}"));
    }
    s.parse().map_err(|_| format!("not a number: {s:?}"))
}

/// Label pairs, sorted by name.
type Labels = Vec<(String, String)>;

/// `{a="1",b="2"}` at the start of `s`: the labels and the rest of `s`.
fn labels(s: &str) -> Result<(Labels, &str), String> {
    let Some(mut rest) = s.strip_prefix('{') else {
        return Ok((Vec::new(), s));
    };
    let mut out: Vec<(String, String)> = Vec::new();
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            out.sort();
            return Ok((out, r));
        }
        let eq = rest.find('=').ok_or("label without '='")?;
        let name = &rest[..eq];
        if !valid_name(name, false) || name.starts_with("__") {
            return Err(format!("bad label name {name:?}"));
        }
        if out.iter().any(|(k, _)| k == name) {
            return Err(format!("label {name} twice"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or_else(|| format!("label {name}: value not quoted"))?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?}")),
                },
                Some((_, '\n')) => return Err("newline in a label value".into()),
                Some((_, c)) => value.push(c),
            }
        };
        out.push((name.to_string(), value));
        rest = &rest[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

struct Family {
    name: String,
    kind: String,
}

/// Parses a whole scrape, refusing the first problem.
pub fn parse(text: &str) -> Result<Scrape, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the text does not end with a newline".into());
    }
    let mut families = BTreeMap::new();
    let mut series = HashMap::new();
    // Per histogram series (labels without `le`): its buckets in order.
    let mut buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut current: Option<Family> = None;
    let mut pending_help: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest
                .split_once(' ')
                .ok_or_else(|| at("HELP without text".into()))?;
            if !valid_name(name, true) || families.contains_key(name) || pending_help.is_some() {
                return Err(at("bad or repeated HELP".into()));
            }
            if help.replace("\\\\", "").replace("\\n", "").contains('\\') {
                return Err(at("bad escape in HELP".into()));
            }
            pending_help = Some(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| at("TYPE without type".into()))?;
            if pending_help.take().as_deref() != Some(name) {
                return Err(at("TYPE not right after its HELP".into()));
            }
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(at(format!("unknown type {kind}")));
            }
            families.insert(name.to_string(), kind.to_string());
            current = Some(Family {
                name: name.into(),
                kind: kind.into(),
            });
            continue;
        }
        if line.is_empty() || line.starts_with('#') || pending_help.is_some() {
            return Err(at("blank line, stray comment or HELP without TYPE".into()));
        }
        let fam = current
            .as_ref()
            .ok_or_else(|| at("sample before any TYPE".into()))?;
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        let (labels, rest) = labels(&line[name_end..]).map_err(at)?;
        let rest = rest
            .strip_prefix(' ')
            .ok_or_else(|| at("no space before the value".into()))?;
        let mut parts = rest.split(' ');
        let value = number(parts.next().unwrap_or("")).map_err(at)?;
        if let Some(ts) = parts.next() {
            ts.parse::<i64>().map_err(|_| at("bad timestamp".into()))?;
        }
        if parts.next().is_some() {
            return Err(at("trailing fields".into()));
        }
        let suffix = name
            .strip_prefix(fam.name.as_str())
            .ok_or_else(|| at("sample outside its family".into()))?;
        let allowed: &[&str] = match fam.kind.as_str() {
            "histogram" => &["_bucket", "_sum", "_count"],
            "summary" => &["", "_sum", "_count"],
            _ => &[""],
        };
        if !allowed.contains(&suffix) {
            return Err(at("sample outside its family".into()));
        }
        if fam.kind == "counter" && (value.is_nan() || value < 0.0) {
            return Err(at("negative or NaN counter".into()));
        }
        if suffix == "_bucket" {
            let le = labels
                .iter()
                .find(|(k, _)| k == "le")
                .ok_or_else(|| at("bucket without le".into()))?;
            let le = number(&le.1).map_err(at)?;
            let rest: Vec<_> = labels.iter().filter(|(k, _)| k != "le").cloned().collect();
            buckets
                .entry(key(&fam.name, &rest))
                .or_default()
                .push((le, value));
        }
        if series.insert(key(name, &labels), value).is_some() {
            return Err(at("the same series twice".into()));
        }
    }
    if pending_help.is_some() {
        return Err("HELP without TYPE at the end".into());
    }
    for (k, b) in &buckets {
        let ok_order = b.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
        let inf = b
            .last()
            .filter(|(le, _)| *le == f64::INFINITY)
            .map(|(_, v)| *v);
        let count_key = k.replacen('{', "_count{", 1);
        let sum_key = k.replacen('{', "_sum{", 1);
        if !ok_order
            || inf.is_none()
            || series.get(&count_key).copied() != inf
            || !series.contains_key(&sum_key)
        {
            return Err(format!(
                "histogram {k}: buckets {b:?} vs count {:?}",
                series.get(&count_key)
            ));
        }
    }
    Ok(Scrape {
        families,
        series,
        text: text.to_string(),
    })
}
