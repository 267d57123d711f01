//! The device commands, one module per subcommand (or small group); what
//! they print is shaped by `crate::render`.

use std::io::Read;

use crate::error::CliResult;

pub mod activity;
pub mod authority;
pub mod backup;
pub mod devices;
pub mod init;
pub mod login;
pub mod memory;
pub mod receipt;
pub mod service;
pub mod snippet;
pub mod status;
pub mod sync;
pub mod todo;

fn read_text_arg(text: String) -> CliResult<String> {
    if text == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s.trim_end_matches(['\n', '\r']).to_string())
    } else {
        Ok(text)
    }
}
