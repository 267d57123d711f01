//! Test harness: a real relay on a loopback port, real ed25519 devices,
//! ureq as the HTTP client.
#![allow(dead_code)]

use std::io::Read;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use azmx_sync_core::{sha256_hex, AuthorityKey, AuthorityStatement, DeviceIdentity, SignedRequest};
use azmx_sync_relay::{add_license, Clock, Relay, RelayConfig, RunningRelay};
use azmx_sync_test_support::client::{auth_headers, init_body, push_headers};
use serde_json::Value;

pub mod fixture;
pub mod flow;
pub mod postgres;

pub const T0: i64 = 1_800_000_000;
pub const ADMIN: &str = "admin-token-for-tests-0123456789";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub relay: Option<RunningRelay>,
    pub url: String,
    pub clock: Arc<AtomicI64>,
    pub agent: ureq::Agent,
}

impl Env {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// A relay with a manual clock at T0 and an admin token; `tweak` may
    /// change the config further.
    pub fn start_with(tweak: impl FnOnce(&mut RelayConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (clock, handle) = Clock::manual(T0);
        let mut cfg = RelayConfig::new(dir.path().join("data"));
        cfg.clock = clock;
        cfg.admin_token = Some(ADMIN.into());
        cfg.worker_threads = 2;
        tweak(&mut cfg);
        let relay = Relay::start(cfg).unwrap();
        let url = relay.url();
        Self {
            dir,
            relay: Some(relay),
            url,
            clock: handle,
            agent: ureq::AgentBuilder::new()
                .timeout(std::time::Duration::from_secs(30))
                .build(),
        }
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    pub fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    pub fn license(&self, lid: &str) -> String {
        add_license(&self.data_dir(), lid).unwrap()
    }

    /// A license `lid` with two devices registered on it: (key, a, b).
    pub fn license_with_two_devices(&self, lid: &str) -> (String, Device, Device) {
        let key = self.license(lid);
        let a = self.device(lid, &key);
        let b = self.device(lid, &key);
        (key, a, b)
    }

    /// A new identity (not registered).
    pub fn identity(&self) -> DeviceIdentity {
        let p = self.dir.path().join(format!("key-{}", hex_rand()));
        DeviceIdentity::create(p).unwrap()
    }

    /// Registers a fresh device on `lid`.
    pub fn device(&self, lid: &str, key: &str) -> Device {
        let id = self.identity();
        let r = self.init(lid, key, &id, "laptop", self.now());
        assert_eq!(r.status, 201, "{:?}", r.json());
        Device {
            id: r.json()["deviceId"].as_str().unwrap().to_string(),
            identity: Arc::new(id),
            lid: lid.into(),
        }
    }

    pub fn init(&self, lid: &str, key: &str, id: &DeviceIdentity, name: &str, ts: i64) -> Resp {
        self.post_json("/sync/init", &[], init_body(lid, key, id, name, ts))
    }

    pub fn call(&self, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> Resp {
        let mut req = self.agent.request(method, &format!("{}{}", self.url, path));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let res = if method == "GET" {
            req.call()
        } else {
            req.send_bytes(body)
        };
        Resp::from_ureq(res)
    }

    pub fn post_json(&self, path: &str, headers: &[(&str, String)], v: Value) -> Resp {
        let mut h = headers.to_vec();
        h.push(("Content-Type", "application/json".into()));
        self.call("POST", path, &h, v.to_string().as_bytes())
    }

    // ------------------------------------------------------------ signed calls

    pub fn push_at(&self, d: &Device, seq: u64, data: &[u8], ts: i64) -> Resp {
        let mut h = push_headers(&d.id, &d.identity, seq, &sha256_hex(data), ts);
        h.push(("Content-Type", "application/octet-stream".into()));
        self.call("POST", "/sync/push", &h, data)
    }

    /// `n` pushes of `d` at `seq`, the i-th of `vec![i; size]`, each on a
    /// connection of its own to `envs[i % envs.len()]`, released together:
    /// (i, status, JSON answer) of each.
    pub fn race_pushes(
        envs: &[&Env],
        d: &Device,
        seq: u64,
        n: u8,
        size: usize,
    ) -> Vec<(u8, u16, Value)> {
        let barrier = std::sync::Barrier::new(n.into());
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..n)
                .map(|i| {
                    let (env, barrier) = (envs[usize::from(i) % envs.len()], &barrier);
                    s.spawn(move || {
                        let data = vec![i; size];
                        let h =
                            push_headers(&d.id, &d.identity, seq, &sha256_hex(&data), env.now());
                        let agent = ureq::AgentBuilder::new().build();
                        let req = agent.post(&format!("{}/sync/push", env.url));
                        let req = azmx_sync_test_support::client::with_headers(req, &h);
                        barrier.wait();
                        let resp = azmx_sync_test_support::client::answer(req.send_bytes(&data))
                            .expect("relay answers");
                        let status = resp.status();
                        let body = serde_json::from_str(&resp.into_string().unwrap()).unwrap();
                        (i, status, body)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    pub fn push(&self, d: &Device, seq: u64, data: &[u8]) -> Resp {
        self.push_at(d, seq, data, self.now())
    }

    pub fn pull(&self, d: &Device, since: Option<&str>, limit: Option<u32>) -> Resp {
        let ts = self.now();
        let sig = d.sign(SignedRequest::Pull {
            device_id: d.id.clone(),
            since: since.unwrap_or("").into(),
            limit: limit.unwrap_or(100),
            ts,
        });
        let mut q = Vec::new();
        if let Some(s) = since {
            q.push(format!("since={s}"));
        }
        if let Some(l) = limit {
            q.push(format!("limit={l}"));
        }
        let path = if q.is_empty() {
            "/sync/pull".to_string()
        } else {
            format!("/sync/pull?{}", q.join("&"))
        };
        self.call("GET", &path, &d.headers(ts, sig), b"")
    }

    pub fn blob(&self, d: &Device, owner: &str, seq: u64) -> Resp {
        let ts = self.now();
        let sig = d.sign(SignedRequest::Blob {
            device_id: d.id.clone(),
            owner_device_id: owner.into(),
            seq,
            ts,
        });
        self.call(
            "GET",
            &format!("/sync/blob/{owner}/{seq}"),
            &d.headers(ts, sig),
            b"",
        )
    }

    pub fn revoke(&self, d: &Device, target: &str) -> Resp {
        self.revoke_as(d, target, None)
    }

    /// `revoke`, also signed by the license authority `auth` when given
    /// (PROTOCOL §11).
    pub fn revoke_as(&self, d: &Device, target: &str, auth: Option<&AuthorityKey>) -> Resp {
        let ts = self.now();
        let sig = d.sign(SignedRequest::Revoke {
            device_id: d.id.clone(),
            target_device_id: target.into(),
            ts,
        });
        let mut h = d.headers(ts, sig);
        authority_header(
            &mut h,
            auth,
            AuthorityStatement::RevokeDevice {
                license_id: d.lid.clone(),
                target_device_id: target.into(),
                ts,
            },
        );
        self.post_json(
            "/sync/revoke",
            &h,
            serde_json::json!({ "targetDeviceId": target }),
        )
    }

    pub fn keycheck_put(&self, d: &Device, data: &[u8]) -> Resp {
        self.keycheck_put_as(d, data, None)
    }

    /// `keycheck_put`, also signed by the license authority `auth` when
    /// given (PROTOCOL §11).
    pub fn keycheck_put_as(&self, d: &Device, data: &[u8], auth: Option<&AuthorityKey>) -> Resp {
        let ts = self.now();
        let sha = sha256_hex(data);
        let sig = d.sign(SignedRequest::KeycheckPut {
            device_id: d.id.clone(),
            sha256: sha.clone(),
            ts,
        });
        let mut h = d.headers(ts, sig);
        h.push(("X-Sha256", sha.clone()));
        authority_header(
            &mut h,
            auth,
            AuthorityStatement::SetKeycheck {
                license_id: d.lid.clone(),
                sha256: sha,
                ts,
            },
        );
        self.call("PUT", "/sync/keycheck", &h, data)
    }

    pub fn keycheck_get(&self, d: &Device) -> Resp {
        let ts = self.now();
        let sig = d.sign(SignedRequest::KeycheckGet {
            device_id: d.id.clone(),
            ts,
        });
        self.call("GET", "/sync/keycheck", &d.headers(ts, sig), b"")
    }

    pub fn prune(&self, d: &Device, checkpoint_seq: u64) -> Resp {
        let ts = self.now();
        let sig = d.sign(SignedRequest::Prune {
            device_id: d.id.clone(),
            checkpoint_seq,
            ts,
        });
        self.post_json(
            "/sync/prune",
            &d.headers(ts, sig),
            serde_json::json!({ "checkpointSeq": checkpoint_seq }),
        )
    }

    pub fn devices(&self, d: &Device) -> Resp {
        let ts = self.now();
        let sig = d.sign(SignedRequest::Devices {
            device_id: d.id.clone(),
            ts,
        });
        self.call("GET", "/sync/devices", &d.headers(ts, sig), b"")
    }

    pub fn admin(&self, lid: &str, token: Option<&str>) -> Resp {
        let h: Vec<(&str, String)> = token
            .map(|t| vec![("Authorization", format!("Bearer {t}"))])
            .unwrap_or_default();
        self.call("GET", &format!("/admin/licenses/{lid}/devices"), &h, b"")
    }
}

#[derive(Clone)]
pub struct Device {
    pub id: String,
    pub identity: Arc<DeviceIdentity>,
    pub lid: String,
}

impl Device {
    pub fn sign(&self, r: SignedRequest) -> String {
        self.identity.sign(&r).unwrap()
    }

    pub fn headers(&self, ts: i64, sig: String) -> Vec<(&'static str, String)> {
        auth_headers(&self.id, ts, sig)
    }

    /// The signature of a push of a body with SHA-256 `sha256` as `seq` at `ts`.
    pub fn sign_push(&self, seq: u64, sha256: &str, ts: i64) -> String {
        self.sign(SignedRequest::Push {
            device_id: self.id.clone(),
            seq,
            sha256: sha256.into(),
            ts,
        })
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// An answer of any status as a [`Resp`]; a transport error panics.
    pub fn from_ureq(res: Result<ureq::Response, ureq::Error>) -> Self {
        let resp = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("transport error: {e}"),
        };
        let status = resp.status();
        let headers = resp
            .headers_names()
            .into_iter()
            .map(|n| {
                let v = resp.header(&n).unwrap_or("").to_string();
                (n, v)
            })
            .collect();
        let mut body = Vec::new();
        resp.into_reader().read_to_end(&mut body).unwrap();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON (status {}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts status and JSON error code; returns the body.
    #[track_caller]
    pub fn err(&self, status: u16, code: &str) -> Value {
        let j = self.json();
        assert_eq!(
            (self.status, j["error"].as_str()),
            (status, Some(code)),
            "body: {j}"
        );
        assert!(j["message"].is_string(), "every error has a message: {j}");
        j
    }
}

/// The head of a raw `POST /sync/push` of seq 1 (for what ureq will not
/// send): the signed headers, then `framing` (more header lines, joined by
/// CRLF), then the blank line; the body goes after it.
/// Adds `X-Authority-Signature`, `auth`'s signature of `stmt`, when a key
/// is given.
fn authority_header(
    h: &mut Vec<(&'static str, String)>,
    auth: Option<&AuthorityKey>,
    stmt: AuthorityStatement,
) {
    if let Some(a) = auth {
        h.push(("X-Authority-Signature", a.sign(&stmt).unwrap()));
    }
}

pub fn raw_push_head(
    device_id: &str,
    sha256: &str,
    ts: impl std::fmt::Display,
    sig: &str,
    framing: &str,
) -> String {
    format!(
        "POST /sync/push HTTP/1.1\r\nHost: x\r\nX-Device-Id: {device_id}\r\nX-Seq: 1\r\n\
         X-Sha256: {sha256}\r\nX-Ts: {ts}\r\nX-Signature: {sig}\r\n{framing}\r\n\r\n"
    )
}

/// The entry of device `id` in a devices listing (`{"devices": [...]}`).
#[track_caller]
pub fn device_entry(listing: &Value, id: &str) -> Value {
    listing["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["deviceId"] == id)
        .unwrap_or_else(|| panic!("{id} not listed: {listing}"))
        .clone()
}

/// The items of a pull page.
#[track_caller]
pub fn items(page: &Value) -> &Vec<Value> {
    page["items"].as_array().unwrap()
}

/// The seqs of a pull page's items, in order.
#[track_caller]
pub fn seqs(page: &Value) -> Vec<u64> {
    items(page)
        .iter()
        .map(|i| i["seq"].as_u64().unwrap())
        .collect()
}

pub fn hex_rand() -> String {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
