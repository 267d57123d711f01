//! `uniffi-bindgen`, pinned to the uniffi version of `azmx-sync-ffi`.
//!
//! Library mode: `cargo run --bin uniffi-bindgen -- generate --library
//! target/debug/libazmx_sync.so --config uniffi.toml --language python --out-dir OUT`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
