//! A relay in its own process, so the simulator can SIGKILL it:
//! `sim_relay DATA_DIR full|pipelined PORT`. Prints `url=<url>` once it
//! listens, then serves until killed.

use std::io::Write;

use azmx_sync_relay::{Durability, Relay, RelayConfig};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (dir, mode, port) = (&a[1], &a[2], a[3].parse::<u16>().expect("port"));
    let mut config = RelayConfig::new(dir);
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    config.limits.rate_per_sec = 0.0;
    config.worker_threads = 2;
    config.durability = match mode.as_str() {
        "full" => Durability::Full,
        _ => Durability::PipelinedFsync,
    };
    let relay = Relay::start(config).expect("relay starts");
    let mut out = std::io::stdout();
    writeln!(out, "url={}", relay.url()).expect("stdout");
    out.flush().expect("stdout");
    relay.wait();
}
