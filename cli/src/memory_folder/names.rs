//! Memory key <-> file name. The file name is the key, except for the few
//! characters a file system refuses or gives a meaning to, which are
//! written `%XX` (upper-case hex of each UTF-8 byte). The mapping is
//! reversible and canonical: a name is read as a key only if that key maps
//! back to exactly that name, so two files never claim one key.
//!
//! Names an editor or a tool uses for its own temporary files are never
//! read as keys (dotfiles, `name~`, `#name#`, `*.swp`, `*.tmp`, ...), so a
//! half-saved temporary copy never syncs; a key that would map to such a
//! name has no file (it is kept in the index only).

use std::fmt::Write;

/// The longest file name the common file systems accept, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// Reserved on Windows or by the shell/URL conventions, plus `%` itself.
const ESCAPED: &[char] = &['%', '/', '\\', '<', '>', ':', '"', '|', '?', '*'];

/// Suffixes of editors' and downloaders' temporary files.
const TEMP_SUFFIXES: &[&str] = &[".swp", ".swo", ".swx", ".tmp", ".part", ".crdownload"];

/// The file name of `key`, or `None` when it cannot have one (too long, or
/// it would look like a temporary file).
pub fn file_name(key: &str) -> Option<String> {
    let n = key.chars().count();
    let mut out = String::with_capacity(key.len());
    for (i, c) in key.chars().enumerate() {
        let escape = ESCAPED.contains(&c)
            || c.is_control()
            || (i == 0 && matches!(c, '.' | '#' | '-'))
            || (i + 1 == n && matches!(c, '~' | '.' | ' '));
        if escape {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    let temp_like = TEMP_SUFFIXES.iter().any(|s| out.ends_with(s));
    (!out.is_empty() && out.len() <= MAX_NAME_BYTES && !temp_like).then_some(out)
}

/// `true` for names that are never memory files: hidden files (the
/// bookkeeping directory, this store's own temporary files) and editors'
/// temporary files.
pub fn is_ignored(name: &str) -> bool {
    name.starts_with('.')
        || name.starts_with('#')
        || name.ends_with('~')
        || TEMP_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// The key a file name stands for, or `None` for a name that is not the
/// canonical name of any key.
pub fn key_of(name: &str) -> Option<String> {
    if is_ignored(name) {
        return None;
    }
    let raw = name.as_bytes();
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    let key = String::from_utf8(bytes).ok()?;
    (file_name(&key).as_deref() == Some(name)).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keys_are_their_own_file_names() {
        for k in ["editor.indent", "shell", "notes.md", "a b", "café", "a:b"] {
            let name = file_name(k).unwrap();
            assert_eq!(key_of(&name).as_deref(), Some(k), "{k}");
        }
        assert_eq!(file_name("notes.md").unwrap(), "notes.md");
        assert_eq!(file_name("café").unwrap(), "café");
    }

    #[test]
    fn unsafe_characters_are_escaped_and_come_back() {
        let cases = [
            ("a/b", "a%2Fb"),
            ("100%", "100%25"),
            ("x\\y:z", "x%5Cy%3Az"),
            (".hidden", "%2Ehidden"),
            ("#tag", "%23tag"),
            ("-flag", "%2Dflag"),
            ("backup~", "backup%7E"),
            ("dot.", "dot%2E"),
            ("q?*", "q%3F%2A"),
        ];
        for (key, name) in cases {
            assert_eq!(file_name(key).as_deref(), Some(name), "{key}");
            assert_eq!(key_of(name).as_deref(), Some(key), "{name}");
        }
    }

    #[test]
    fn only_the_canonical_name_of_a_key_is_read() {
        // `%41` is "A", but "A" is written as itself: two files never claim one key.
        assert_eq!(key_of("%41"), None);
        assert_eq!(key_of("%2f"), None, "lower-case hex is not canonical");
        assert_eq!(key_of("50%"), None, "a lone % is not a name of this store");
        assert_eq!(key_of("%zz"), None);
        assert_eq!(key_of("%C3"), None, "not UTF-8");
    }

    #[test]
    fn temporary_and_hidden_files_are_never_keys() {
        for n in [
            ".azmx-sync",
            ".notes.md.swp",
            "notes.md~",
            "#notes.md#",
            "notes.md.swp",
            "download.part",
            "x.tmp",
        ] {
            assert!(is_ignored(n), "{n}");
            assert_eq!(key_of(n), None, "{n}");
        }
        assert_eq!(file_name("x.tmp"), None, "such a key has no file");
    }

    #[test]
    fn names_are_bounded() {
        assert!(file_name(&"k".repeat(255)).is_some());
        assert_eq!(file_name(&"k".repeat(256)), None);
        assert_eq!(file_name(&"/".repeat(100)), None, "300 bytes once escaped");
        assert_eq!(file_name(""), None);
    }
}
