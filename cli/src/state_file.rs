//! The CLI's small settings files in the state directory (the secret-store
//! marker, the relay TLS options, the memory folder's path): read with a
//! size bound, so a damaged or replaced file cannot make a command read
//! without end.

use std::io::Read;
use std::path::Path;

/// Every such file is a line or a small JSON object.
pub const MAX_BYTES: u64 = 16 * 1024;

/// The file's text, or `None` when it is missing, unreadable, not UTF-8
/// or over [`MAX_BYTES`] (each caller then acts as without the file).
pub fn read_small(path: &Path) -> Option<String> {
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_BYTES + 1).read_to_string(&mut text))
        .ok()?;
    (text.len() as u64 <= MAX_BYTES).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_bound_reads_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        assert_eq!(read_small(&p), None);
        std::fs::write(&p, "x".repeat(MAX_BYTES as usize)).unwrap();
        assert_eq!(read_small(&p).map(|t| t.len()), Some(MAX_BYTES as usize));
        std::fs::write(&p, "x".repeat(MAX_BYTES as usize + 1)).unwrap();
        assert_eq!(read_small(&p), None);
    }
}
