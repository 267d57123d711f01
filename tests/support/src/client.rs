//! A relay client built by hand from the wire contract (docs/PROTOCOL.md):
//! signed bodies and headers, sent with ureq, for tests that drive a relay
//! over HTTP without the engine. Every answer is kept: an error status is
//! an answer too; only a relay that does not answer is `None`.

use azmx_sync_core::{sha256_hex, DeviceIdentity, SignedRequest};
use serde_json::Value;

/// Unix seconds of the system clock (what a relay on the real clock checks
/// a request's `ts` against).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// The body of `POST /sync/init` registering `key` as `name` on license
/// `lid`, signed at `ts`.
pub fn init_body(lid: &str, license_key: &str, key: &DeviceIdentity, name: &str, ts: i64) -> Value {
    let sig = key
        .sign(&SignedRequest::Init {
            license_id: lid.into(),
            public_key: key.public_key(),
            device_name: name.into(),
            ts,
        })
        .expect("sign init");
    serde_json::json!({
        "licenseId": lid, "licenseKey": license_key, "publicKey": key.public_key(),
        "deviceName": name, "ts": ts, "signature": sig,
    })
}

/// The headers that authenticate a signed request: the device, the `ts`
/// it signed and the signature.
pub fn auth_headers(device_id: &str, ts: i64, signature: String) -> Vec<(&'static str, String)> {
    vec![
        ("X-Device-Id", device_id.to_string()),
        ("X-Ts", ts.to_string()),
        ("X-Signature", signature),
    ]
}

/// The headers of `POST /sync/push` of a body whose SHA-256 is `sha256`,
/// as `seq`, signed by `key` at `ts`.
pub fn push_headers(
    device_id: &str,
    key: &DeviceIdentity,
    seq: u64,
    sha256: &str,
    ts: i64,
) -> Vec<(&'static str, String)> {
    let sig = key
        .sign(&SignedRequest::Push {
            device_id: device_id.into(),
            seq,
            sha256: sha256.into(),
            ts,
        })
        .expect("sign push");
    let mut h = auth_headers(device_id, ts, sig);
    h.push(("X-Seq", seq.to_string()));
    h.push(("X-Sha256", sha256.to_string()));
    h
}

/// The response whatever its status; `None` when the relay did not answer
/// (refused, reset, timed out).
pub fn answer(r: Result<ureq::Response, ureq::Error>) -> Option<ureq::Response> {
    match r {
        Ok(r) | Err(ureq::Error::Status(_, r)) => Some(r),
        Err(ureq::Error::Transport(_)) => None,
    }
}

/// `req` with every header of `headers`.
pub fn with_headers(mut req: ureq::Request, headers: &[(&str, String)]) -> ureq::Request {
    for (k, v) in headers {
        req = req.set(k, v);
    }
    req
}

/// A listed blob: (device id, seq, sha256).
pub type Listed = (String, u64, String);

/// One page of `GET /sync/pull`.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Listed>,
    pub next_cursor: String,
    pub has_more: bool,
}

impl Page {
    /// The page in a pull's JSON answer.
    pub fn from_json(v: &Value) -> Self {
        let items = v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|it| {
                (
                    it["deviceId"].as_str().expect("deviceId").to_string(),
                    it["seq"].as_u64().expect("seq"),
                    it["sha256"].as_str().expect("sha256").to_string(),
                )
            })
            .collect();
        Self {
            items,
            next_cursor: v["nextCursor"].as_str().expect("nextCursor").to_string(),
            has_more: v["hasMore"] == true,
        }
    }
}

/// A device registered over HTTP: its id and its signing key.
pub struct RemoteDevice {
    pub id: String,
    pub key: DeviceIdentity,
}

impl RemoteDevice {
    /// `POST /sync/init` of `key` as `name`; the device, or the status of a
    /// refusal (`None`: no answer).
    pub fn register(
        agent: &ureq::Agent,
        url: &str,
        lid: &str,
        license_key: &str,
        key: DeviceIdentity,
        name: &str,
    ) -> Result<Self, Option<u16>> {
        let body = init_body(lid, license_key, &key, name, unix_now());
        let r = answer(
            agent
                .post(&format!("{url}/sync/init"))
                .send_string(&body.to_string()),
        )
        .ok_or(None)?;
        if r.status() / 100 != 2 {
            return Err(Some(r.status()));
        }
        let v: Value = serde_json::from_str(&r.into_string().expect("init body")).expect("JSON");
        Ok(Self {
            id: v["deviceId"].as_str().expect("deviceId").into(),
            key,
        })
    }

    /// `POST /sync/push` of `data` as `seq`, signed now: the status (`None`:
    /// no answer).
    pub fn push(&self, agent: &ureq::Agent, url: &str, seq: u64, data: &[u8]) -> Option<u16> {
        let headers = push_headers(&self.id, &self.key, seq, &sha256_hex(data), unix_now());
        answer(with_headers(agent.post(&format!("{url}/sync/push")), &headers).send_bytes(data))
            .map(|r| r.status())
    }

    /// A `GET` of `path` authenticated by signing `req` (at `req.ts()`).
    pub fn get(
        &self,
        agent: &ureq::Agent,
        url: &str,
        path: &str,
        req: SignedRequest,
    ) -> Option<ureq::Response> {
        let sig = self.key.sign(&req).expect("sign");
        let headers = auth_headers(&self.id, req.ts(), sig);
        answer(with_headers(agent.get(&format!("{url}{path}")), &headers).call())
    }

    /// The status of `GET /sync/keycheck`: 200 or 404 for a device the
    /// relay knows; panics when the relay does not answer.
    pub fn keycheck_status(&self, agent: &ureq::Agent, url: &str) -> u16 {
        let req = SignedRequest::KeycheckGet {
            device_id: self.id.clone(),
            ts: unix_now(),
        };
        self.get(agent, url, "/sync/keycheck", req)
            .expect("relay unreachable")
            .status()
    }

    /// One page of up to 1000 items after cursor `since`, or the status of
    /// a refusal (`None`: no answer).
    pub fn pull_page(
        &self,
        agent: &ureq::Agent,
        url: &str,
        since: &str,
    ) -> Result<Page, Option<u16>> {
        let req = SignedRequest::Pull {
            device_id: self.id.clone(),
            since: since.into(),
            limit: 1000,
            ts: unix_now(),
        };
        let path = format!("/sync/pull?since={since}&limit=1000");
        let r = self.get(agent, url, &path, req).ok_or(None)?;
        if r.status() != 200 {
            return Err(Some(r.status()));
        }
        let v: Value = serde_json::from_str(&r.into_string().expect("pull body")).expect("JSON");
        Ok(Page::from_json(&v))
    }

    /// Every item listed after cursor `since`, all pages; panics on a
    /// refusal or no answer.
    pub fn pull_all(&self, agent: &ureq::Agent, url: &str, since: &str) -> Vec<Listed> {
        let (mut all, mut since) = (Vec::new(), since.to_string());
        loop {
            let page = self
                .pull_page(agent, url, &since)
                .unwrap_or_else(|s| panic!("pull by {}: {s:?}", self.id));
            all.extend(page.items);
            since = page.next_cursor;
            if !page.has_more {
                return all;
            }
        }
    }
}
