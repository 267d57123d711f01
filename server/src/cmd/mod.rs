//! The relay's one command-line front end: flags, environment variables,
//! the TOML config file and what each command does. The `azmx-sync-relay`
//! binary parses [`RelayCli`] and calls [`run`]; `azmx-sync relay` flattens
//! [`RelayArgs`], calls [`execute`] and prints the [`Outcome`] its own way.

mod args;
mod backup_cmd;
mod config;
mod error;
mod operator_cmd;
mod run;

pub use args::{
    AdminCmd, BackupArgs, ClaimWindowArgs, DeviceCap, DeviceCmd, DeviceRevokeArgs, DurabilityArg,
    LicenseAddArgs, LicenseArgs, LicenseCmd, LogFormat, MaxDevicesArgs, RelayArgs, RelayCli,
    RelayCmd, RestoreArgs, ServeArgs, SetAuthorityKeyArgs, StoreArgs,
};
pub use config::{Store, DEFAULT_LISTEN};
pub use error::CmdError;
pub use operator_cmd::{
    claim_window_line, device_revoked_line, key_rotated_line, max_devices_line,
};
pub use run::{
    authority_key_set_line, execute, init_logging, license_added_line, license_lines, run, Outcome,
};
