//! The admin console over real HTTP: absent without an admin token;
//! sign-in, sessions, CSRF and Origin checks, security headers, escaping
//! of device names, sorting, the per-day chart, revoke and rotate through
//! their confirmation steps, and the failed-sign-in rate limit.
//! (The browser test is scripts/test.d/55-console.sh.)

mod common;

use common::{Env, Resp, ADMIN};

/// A console client: no redirects followed, the session cookie sent by
/// hand, `Origin` set as a browser would on a POST.
struct Browser<'a> {
    env: &'a Env,
    agent: ureq::Agent,
    cookie: Option<String>,
    origin: Option<String>,
}

impl<'a> Browser<'a> {
    fn new(env: &'a Env) -> Self {
        Self {
            env,
            agent: ureq::AgentBuilder::new().redirects(0).build(),
            cookie: None,
            origin: Some(env.url.clone()),
        }
    }

    fn send(&self, method: &str, path: &str, form: Option<&str>) -> Resp {
        let mut req = self
            .agent
            .request(method, &format!("{}{}", self.env.url, path));
        if let Some(c) = &self.cookie {
            req = req.set("Cookie", c);
        }
        let res = match form {
            Some(f) => {
                if let Some(o) = &self.origin {
                    req = req.set("Origin", o);
                }
                req.set("Content-Type", "application/x-www-form-urlencoded")
                    .send_string(f)
            }
            None => req.call(),
        };
        Resp::from_ureq(res)
    }

    fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None)
    }

    fn post(&self, path: &str, form: &str) -> Resp {
        self.send("POST", path, Some(form))
    }

    fn sign_in(&mut self) {
        let r = self.post("/admin/login", &format!("token={ADMIN}"));
        assert_eq!(r.status, 303, "{}", text(&r));
        assert_eq!(r.header("location"), Some("/admin/"));
        let set = r
            .header("set-cookie")
            .expect("a session cookie")
            .to_string();
        for part in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
            assert!(set.contains(part), "{set}");
        }
        assert!(!set.contains("Secure"), "plain HTTP relay: {set}");
        self.cookie = Some(set.split(';').next().unwrap().to_string());
    }
}

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// The CSRF token of the first form on a page.
fn csrf_of(r: &Resp) -> String {
    let t = text(r);
    let at = t.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    t[at..].split('"').next().unwrap().to_string()
}

fn assert_protected(r: &Resp) {
    let csp = r.header("content-security-policy").unwrap_or("");
    for d in [
        "default-src 'none'",
        "style-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(d), "CSP {csp:?} lacks {d}");
    }
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("referrer-policy"), Some("same-origin"));
}

#[test]
fn no_console_without_an_admin_token() {
    let env = Env::start_with(|c| c.admin_token = None);
    let b = Browser::new(&env);
    for path in ["/admin/", "/admin/login", "/admin/console.css"] {
        assert_eq!(b.get(path).status, 404, "{path}");
    }
    assert_eq!(b.post("/admin/login", "token=x").status, 404);
}

#[test]
fn sign_in_read_revoke_rotate_sign_out() {
    let env = Env::start();
    let key = env.license("lic_console");
    let a = env.device("lic_console", &key);
    let evil_id = env.identity();
    let r = env.init(
        "lic_console",
        &key,
        &evil_id,
        "<script>alert(1)</script>",
        env.now(),
    );
    assert_eq!(r.status, 201);
    let evil = r.json()["deviceId"].as_str().unwrap().to_string();
    assert_eq!(env.push(&a, 1, &[7u8; 3000]).status, 201);

    let mut b = Browser::new(&env);
    // Signed out: every page sends to the sign-in form; the stylesheet is
    // public (the sign-in page uses it).
    let home = b.get("/admin/");
    assert_eq!(
        (home.status, home.header("location")),
        (303, Some("/admin/login"))
    );
    assert_protected(&home);
    assert_eq!(b.get("/admin").status, 303);
    let login = b.get("/admin/login");
    assert_eq!(login.status, 200);
    assert_protected(&login);
    assert!(text(&login).contains("<html lang=\"en\">"));
    assert!(text(&login).contains("name=\"viewport\""));
    let css = b.get("/admin/console.css");
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));

    // Wrong token, no Origin, a foreign Origin: no session.
    let wrong = b.post("/admin/login", "token=not-the-token");
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("set-cookie").is_none());
    assert!(text(&wrong).contains("Wrong admin token"));
    assert!(
        !text(&wrong).contains("not-the-token"),
        "the guess is not echoed"
    );
    b.origin = None;
    assert_eq!(
        b.post("/admin/login", &format!("token={ADMIN}")).status,
        403
    );
    b.origin = Some("http://evil.example".into());
    assert_eq!(
        b.post("/admin/login", &format!("token={ADMIN}")).status,
        403
    );
    b.origin = Some(env.url.clone());
    b.sign_in();

    let home = b.get("/admin/");
    assert_eq!(home.status, 200);
    assert!(text(&home).contains("lic_console"));
    let page = b.get("/admin/licenses/lic_console");
    assert_eq!(page.status, 200);
    assert_protected(&page);
    let html = text(&page);
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script"), "a device name must render inert");
    assert!(html.contains(&a.id) && html.contains(&evil));
    assert!(html.contains("1 push"), "the chart counts the push");
    assert!(html.contains("<svg"));
    assert!(html.contains("2.9 KiB"));
    assert!(html.contains(&a.identity.device_fingerprint()));
    // Sorted by sealed bytes, largest first: the device that pushed leads.
    let sorted = text(&b.get("/admin/licenses/lic_console?sort=-bytes"));
    assert!(sorted.find(&a.id).unwrap() < sorted.find(&evil).unwrap());
    let sorted = text(&b.get("/admin/licenses/lic_console?sort=bytes"));
    assert!(sorted.find(&a.id).unwrap() > sorted.find(&evil).unwrap());
    assert_eq!(b.get("/admin/licenses/nope").status, 404);

    // Revoke: the confirmation page, then only a POST with its token and
    // this relay's Origin acts.
    let revoke = format!("/admin/licenses/lic_console/devices/{}/revoke", a.id);
    let confirm = b.get(&revoke);
    assert_eq!(confirm.status, 200);
    let csrf = csrf_of(&confirm);
    assert_eq!(b.post(&revoke, "csrf=wrong").status, 403);
    assert_eq!(b.post(&revoke, "").status, 403);
    b.origin = Some("http://evil.example".into());
    assert_eq!(b.post(&revoke, &format!("csrf={csrf}")).status, 403);
    b.origin = Some(env.url.clone());
    assert_eq!(env.push(&a, 2, b"still live").status, 201);
    let done = b.post(&revoke, &format!("csrf={csrf}"));
    assert_eq!(done.status, 303);
    env.push(&a, 3, b"after").err(403, "revoked");
    assert!(text(&b.get("/admin/licenses/lic_console")).contains("Revoked"));

    // Rotate: the new key is shown once and works; the old one does not.
    let rotate = "/admin/licenses/lic_console/rotate-key";
    let csrf = csrf_of(&b.get(rotate));
    let shown = b.post(rotate, &format!("csrf={csrf}"));
    assert_eq!(shown.status, 200);
    let t = text(&shown);
    let at = t.find("<code class=\"key\">").unwrap() + 18;
    let new_key = t[at..].split('<').next().unwrap().to_string();
    assert_eq!(new_key.len(), 43);
    let old = env.init("lic_console", &key, &env.identity(), "old", env.now());
    assert_eq!(old.json()["error"], "bad_license");
    let new = env.init("lic_console", &new_key, &env.identity(), "new", env.now());
    assert_eq!(new.status, 201);

    // Sign out: the session is gone server-side.
    let before = b.cookie.clone();
    let csrf = csrf_of(&b.get("/admin/"));
    let out = b.post("/admin/logout", &format!("csrf={csrf}"));
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    b.cookie = before;
    assert_eq!(b.get("/admin/").status, 303, "the old cookie is dead");
}

#[test]
fn failed_sign_ins_cost_the_address_tokens() {
    let env = Env::start_with(|c| {
        c.limits.unauth_rate_per_sec = 0.01;
        c.limits.unauth_rate_burst = 3.0;
    });
    let b = Browser::new(&env);
    for _ in 0..3 {
        assert_eq!(b.post("/admin/login", "token=guess").status, 401);
    }
    // The bucket is empty: even the right token waits now.
    let limited = b.post("/admin/login", &format!("token={ADMIN}"));
    assert_eq!(limited.status, 429);
    assert!(limited.header("set-cookie").is_none());
}

#[test]
fn behind_a_tls_proxy_the_https_page_signs_in_with_a_secure_cookie() {
    // The relay speaks plain HTTP; the browser's page is the proxy's
    // https:// origin for the same Host.
    let env = Env::start();
    let mut b = Browser::new(&env);
    b.origin = Some(env.url.replacen("http://", "https://", 1));
    let r = b.post("/admin/login", &format!("token={ADMIN}"));
    assert_eq!(r.status, 303, "{}", text(&r));
    let set = r.header("set-cookie").expect("a session cookie");
    assert!(set.contains("; Secure"), "{set}");
}
