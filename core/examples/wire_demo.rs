//! A small tour of the wire contract: derive, seal, verify, open, sign.
fn main() {}
