//! What the published-vector tests share: loading a file of
//! `tests/vectors/`, walking one of its sections case by case, and reading
//! a case's fields. Each vectors test binary includes it with `mod common;`.

use serde_json::Value;

/// The path of a published vectors file, `tests/vectors/<name>.json`.
pub fn path(name: &str) -> String {
    format!(
        "{}/../tests/vectors/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// One published vectors file, parsed.
pub struct Vectors {
    name: &'static str,
    root: Value,
}

impl Vectors {
    /// Loads `tests/vectors/<name>.json`.
    pub fn load(name: &'static str) -> Self {
        let text = std::fs::read_to_string(path(name)).expect("vectors file");
        Self {
            name,
            root: serde_json::from_str(&text).unwrap(),
        }
    }

    /// Runs `check` on every case of `section`, after asserting there are at
    /// least `min` of them (a section that lost its cases would otherwise
    /// pass by checking nothing), and returns the cases for checks across
    /// them.
    pub fn each(mut self, section: &str, min: usize, check: impl Fn(&Value)) -> Vec<Value> {
        let Value::Array(cases) = self.root[section].take() else {
            panic!("{}: no section {section}", self.name)
        };
        assert!(
            cases.len() >= min,
            "{}: {section} has < {min} cases",
            self.name
        );
        cases.iter().for_each(check);
        println!("{} {section}: {} cases passed", self.name, cases.len());
        cases
    }
}

/// The string field `k` of a case.
pub fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("missing {k}"))
}

/// A 32-byte key or seed given in hex.
pub fn key32(hex_str: &str) -> [u8; 32] {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}
