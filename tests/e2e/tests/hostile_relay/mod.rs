//! A misbehaving HTTP proxy in front of the real relay on loopback (issue
//! 13, item 3). It forwards every request unchanged and, while a fault is
//! armed, edits the relay's answers the way a hostile relay could: it
//! drops one listed item of a pull answer, swaps two, or lists an item (and
//! serves the blob) it recorded from an earlier answer. It cannot forge a
//! bundle: it only ever serves bytes the relay served.
//!
//! Plain std (TcpListener, one thread per connection, `Connection: close`
//! on every answer): the e2e crate has no async HTTP dependency.
// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// What the proxy does to pull answers while armed.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Leave out the item (device, seq) of every answer listing it.
    Drop { device: String, seq: u64 },
    /// Swap the items (device, a) and (device, b) when one answer lists both.
    Swap { device: String, a: u64, b: u64 },
    /// Append this recorded item to the next answer (once), and serve its
    /// recorded blob if the relay no longer has it.
    Replay { item: Value },
}

#[derive(Default)]
struct Shared {
    fault: Option<Fault>,
    /// Every item any pull answer listed, in order.
    listed: Vec<Value>,
    /// Every blob the relay served: (owner, seq) → (X-Sha256, bytes).
    blobs: HashMap<(String, u64), (String, Vec<u8>)>,
    /// How many answers the armed fault changed.
    applied: usize,
}

pub struct HostileProxy {
    pub url: String,
    shared: Arc<Mutex<Shared>>,
}

impl HostileProxy {
    /// Listens on a free loopback port and forwards to `relay_url`.
    pub fn start(relay_url: &str) -> Self {
        let upstream = relay_url.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s = Arc::clone(&shared);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (s, upstream) = (Arc::clone(&s), upstream.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &upstream, &s);
                });
            }
        });
        Self { url, shared }
    }

    pub fn arm(&self, f: Fault) {
        let mut s = self.shared.lock().unwrap();
        s.fault = Some(f);
        s.applied = 0;
    }

    pub fn disarm(&self) {
        self.shared.lock().unwrap().fault = None;
    }

    /// How many answers the armed fault changed so far.
    pub fn applied(&self) -> usize {
        self.shared.lock().unwrap().applied
    }

    /// The first item an earlier answer listed for (device, seq).
    pub fn recorded(&self, device: &str, seq: u64) -> Value {
        self.shared
            .lock()
            .unwrap()
            .listed
            .iter()
            .find(|i| i["deviceId"] == device && i["seq"] == seq)
            .cloned()
            .unwrap_or_else(|| panic!("no answer listed {device}/{seq}"))
    }
}

struct Message {
    head: Vec<String>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.head[1..].iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The message with `Content-Length` for `body` and `Connection: close`.
    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut text = format!("{}\r\n", self.head[0]);
        for l in &self.head[1..] {
            let name = l
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if !["content-length", "connection", "transfer-encoding"].contains(&name.as_str()) {
                text.push_str(l);
                text.push_str("\r\n");
            }
        }
        text.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        out.write_all(text.as_bytes())?;
        out.write_all(&self.body)?;
        out.flush()
    }
}

/// Reads one HTTP/1.1 message; `until_eof` for an answer to a request that
/// said `Connection: close` without a length (chunked is decoded).
fn read_message(r: &mut impl BufRead, is_response: bool) -> std::io::Result<Option<Message>> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let mut m = Message {
        head,
        body: Vec::new(),
    };
    if let Some(n) = m.header("content-length") {
        let mut body = vec![0; n.parse().unwrap_or(0)];
        r.read_exact(&mut body)?;
        m.body = body;
    } else if m
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            m.body.extend_from_slice(&chunk[..n]);
        }
    } else if is_response {
        r.read_to_end(&mut m.body)?;
    }
    Ok(Some(m))
}

fn serve(conn: TcpStream, upstream: &str, shared: &Mutex<Shared>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut conn = conn;
    let Some(req) = read_message(&mut reader, false)? else {
        return Ok(());
    };
    let target = req.head[0].split(' ').nth(1).unwrap_or("").to_string();
    let mut up = TcpStream::connect(upstream)?;
    req.write(&mut up)?;
    let mut up_reader = BufReader::new(up);
    let Some(mut resp) = read_message(&mut up_reader, true)? else {
        return Ok(());
    };
    let status: u16 = resp.head[0]
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if target.starts_with("/sync/pull") && status == 200 {
        resp.body = edit_listing(&resp.body, shared);
    } else if let Some(rest) = target.strip_prefix("/sync/blob/") {
        let mut parts = rest.split('/');
        let owner = parts.next().unwrap_or("").to_string();
        let seq: u64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut s = shared.lock().unwrap();
        if status == 200 {
            let sha = resp.header("x-sha256").unwrap_or("").to_string();
            s.blobs.insert((owner, seq), (sha, resp.body.clone()));
        } else if status == 404 {
            // Serving a recorded blob the relay has since pruned is exactly
            // what a relay rolling back to an earlier copy would do.
            if let Some((sha, bytes)) = s.blobs.get(&(owner, seq)) {
                resp = Message {
                    head: vec![
                        "HTTP/1.1 200 OK".into(),
                        "Content-Type: application/octet-stream".into(),
                        format!("X-Sha256: {sha}"),
                    ],
                    body: bytes.clone(),
                };
            }
        }
    }
    resp.write(&mut conn)
}

fn edit_listing(body: &[u8], shared: &Mutex<Shared>) -> Vec<u8> {
    let Ok(mut answer) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    let mut s = shared.lock().unwrap();
    let items = answer["items"]
        .as_array_mut()
        .expect("a pull answer lists items");
    s.listed.extend(items.iter().cloned());
    let is = |i: &Value, d: &str, q: u64| i["deviceId"] == d && i["seq"] == q;
    let changed = match s.fault.clone() {
        None => false,
        Some(Fault::Drop { device, seq }) => {
            let before = items.len();
            items.retain(|i| !is(i, &device, seq));
            items.len() != before
        }
        Some(Fault::Swap { device, a, b }) => {
            let pa = items.iter().position(|i| is(i, &device, a));
            let pb = items.iter().position(|i| is(i, &device, b));
            match (pa, pb) {
                (Some(x), Some(y)) => {
                    items.swap(x, y);
                    true
                }
                _ => false,
            }
        }
        Some(Fault::Replay { item }) => {
            items.push(item);
            s.fault = None;
            true
        }
    };
    if changed {
        s.applied += 1;
    }
    serde_json::to_vec(&answer).unwrap()
}
