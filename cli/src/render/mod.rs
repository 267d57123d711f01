//! Everything the CLI prints for people: colour only on a terminal (and
//! never with `NO_COLOR`), aligned tables, human times and sizes, activity
//! events as notices and log lines, and a progress line on stderr that
//! exists only on a terminal.

mod events;
mod progress;
mod style;
mod table;
mod text;

pub use events::{authority_change, event_line, print_notices};
pub use progress::{Progress, ProgressHandle};
pub use style::Style;
pub use table::{devices, print_json, table};
#[cfg(feature = "relay")]
pub use text::clock;
pub use text::{ago, bytes, now_ms, one_line, plural, utc};
