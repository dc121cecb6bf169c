//! The console in a real headless Chromium (Debian `chromium` + `chromium-driver`), driven over
//! WebDriver with fantoccini, against the real app (JSON API + console) served on loopback with
//! a real database. Two tests, each with its own app, database and browser.
//!
//! The first is one scenario in phases:
//!
//! an applicant logs in by SMS and submits a passport for real-name review through the JSON
//! API; reviewer 王 signs in with password and TOTP, filters the inbox, claims the review, opens
//! it, sees the document photo and the diagram with the current state lit, reveals the masked
//! passport number, and rejects it with a reason; the applicant's API shows the rejection.
//! Reviewer 李 had the form open: posting it shows who decided what. A POST without the CSRF token and one from another origin are
//! refused; a `finance` user cannot open the `cs_reviewer` task. Screenshots of the inbox and
//! the task page (1280 px and tablet 820 px wide) go to `target/screenshots/`, and with
//! `CERTDESK_BLESS=1` to `docs/screenshots/` too.
//!
//! The second signs in a system administrator who also reviews, and opens every page of the
//! console: sign-in, inbox, task, supervisor dashboard, instance search and page, staff,
//! definitions and one definition, dead jobs, audit, password and not-found. Each page passes
//! the same checks ([`assert_accessible`]): language, one `h1` and no skipped heading level,
//! labels, names of images, charts, links and buttons, contrast, a focus ring on every Tab
//! stop, and no sideways scroll at 820 px.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs,
    reason = "tests fail loudly"
)]

use certdesk_api::sample as png;

/// Database set-up, apart: `diesel_async::RunQueryDsl::execute` would shadow
/// `Client::execute` (DEPENDENCIES G6).
mod db {
    use certdesk_admin::staff;
    use certdesk_domain::clock::{Clock, SystemClock};
    use certdesk_runtime::Runtime;
    use certdesk_store::schema::{staff_credentials, tasks};
    use diesel::{ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;
    use uuid::Uuid;

    pub struct Person {
        pub login: String,
        pub password: String,
        pub secret: Vec<u8>,
    }

    /// A staff member with these roles who has already replaced the one-time password.
    pub async fn add_staff(runtime: &Runtime, name: &str, email: &str, roles: &[&str]) -> Person {
        let mut conn = runtime.pool().get().await.unwrap();
        let new = staff::add(
            &mut conn,
            name,
            None,
            Some(email),
            &roles.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>(),
            SystemClock.now(),
        )
        .await
        .unwrap();
        diesel::update(staff_credentials::table.find(new.user_id))
            .set(staff_credentials::must_change_password.eq(false))
            .execute(&mut conn)
            .await
            .unwrap();
        Person {
            login: email.to_owned(),
            password: new.password,
            secret: new.secret,
        }
    }

    /// The open task of `instance`.
    pub async fn open_task(runtime: &Runtime, instance: Uuid) -> Uuid {
        tasks::table
            .filter(tasks::instance_id.eq(instance))
            .filter(tasks::status.eq("open"))
            .select(tasks::id)
            .first(&mut runtime.pool().get().await.unwrap())
            .await
            .unwrap()
    }
}

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certdesk_admin::{AdminState, Settings, totp};
use certdesk_api::ApiState;
use certdesk_api::files::FileStore;
use certdesk_api::identity::{CodeKey, Identity};
use certdesk_api::realname::RealName;
use certdesk_domain::clock::{Clock, SystemClock};
use certdesk_notify::SandboxSms;
use certdesk_store::testing::TestDb;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use uuid::Uuid;

const PACKAGES: &str = "chromium chromium-driver fonts-noto-cjk";
const CHROMIUM: &str = "/usr/bin/chromium";
const APPLICANT_PHONE: &str = "13912345678";

/// `chromedriver` on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver leads its own process group, which the browsers it started are in:
        // ending the group also ends browsers a failed assertion left open.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

async fn start_driver() -> Driver {
    let chromedriver = which("chromedriver").unwrap_or_else(|| {
        panic!(
            "chromedriver is missing: install the Debian packages `{PACKAGES}` (CI's .ci/run does)"
        )
    });
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: install the Debian packages `{PACKAGES}` (CI's .ci/run does)"
    );
    let port = certdesk_testkit::free_port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = http
            .get(format!("{}/status", driver.url))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success());
        if ready.is_some() {
            return driver;
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not come up in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A new headless Chromium session (1280×900).
async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--lang=zh-CN", "--hide-scrollbars"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// The folder screenshots go to: `<target>/screenshots`.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("screenshots")
}

/// Saves a screenshot of the viewport as `name.png` (and into docs/ when blessing).
async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
    if std::env::var("CERTDESK_BLESS").as_deref() == Ok("1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join(format!("{name}.png")), &png).unwrap();
    }
}

/// Polls `script` (a JS function body returning a value) until `ok` accepts its result.
async fn until(client: &Client, script: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = client.execute(script, vec![]).await.unwrap();
        if ok(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out: {script} last gave {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every piece of text on the page has a contrast of at least 4.5:1 (3:1 when large) against
/// the background it is drawn on (WCAG 2.x relative luminance).
async fn assert_contrast(client: &Client, page: &str) {
    let failures = client
        .execute(
            r#"
            const rgb = c => (c.match(/[\d.]+/g) || []).map(Number);
            const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255;
              return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
              .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
            const background = e => { for (; e; e = e.parentElement) {
                const c = rgb(getComputedStyle(e).backgroundColor);
                if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3); }
              return [255, 255, 255]; };
            const bad = [];
            for (const e of document.querySelectorAll('body *')) {
              if (e.closest('svg') || e.getClientRects().length === 0) continue;
              const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
              const field = ['INPUT', 'SELECT', 'TEXTAREA', 'BUTTON'].includes(e.tagName);
              if (!own && !field) continue;
              const s = getComputedStyle(e);
              if (s.visibility === 'hidden' || s.clip === 'rect(0px, 0px, 0px, 0px)') continue;
              const [a, b] = [lum(rgb(s.color).slice(0, 3)), lum(background(e))];
              const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
              const size = parseFloat(s.fontSize), weight = parseInt(s.fontWeight, 10);
              const large = size >= 24 || (size >= 18.66 && weight >= 700);
              if (ratio < (large ? 3 : 4.5))
                bad.push(e.tagName + ' ' + (e.textContent || '').trim().slice(0, 20) + ' ' + ratio.toFixed(2));
            }
            return bad;"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(failures, json!([]), "text below 4.5:1 on the {page}");
}

/// The page fits the window's width (no sideways scrolling).
async fn assert_no_sideways_scroll(client: &Client, page: &str) {
    let overflow = client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().is_some_and(|px| px <= 0),
        "the {page} scrolls sideways by {overflow} px"
    );
}

/// Clicks the element `css` finds and waits for the page that loads. A marker set on the old
/// document is gone, and the new one has finished loading. Waiting for an element alone can
/// find it on the old page a moment before the browser leaves it.
async fn click_and_load(client: &Client, css: &str) {
    client
        .execute("window.certdeskOldPage = true;", vec![])
        .await
        .unwrap();
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        // Between documents the script may fail; that is "not yet".
        let loaded = client
            .execute(
                "return window.certdeskOldPage === undefined && document.readyState === 'complete';",
                vec![],
            )
            .await;
        if matches!(loaded, Ok(Value::Bool(true))) {
            return;
        }
        assert!(Instant::now() < deadline, "clicking {css} loaded no page");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The checks every console page passes: its language set, one `h1` and no skipped heading
/// level, every control labelled, every image and chart named, every link and button with a
/// name, text contrast, a visible ring on each Tab stop, and no sideways scroll at 820 px.
async fn assert_accessible(client: &Client, page: &str) {
    let problems = client
        .execute(
            r#"
            const out = [];
            const lang = document.documentElement.lang;
            if (lang !== 'zh-CN') out.push('lang is ' + lang);
            const levels = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')]
              .map(h => Number(h.tagName[1]));
            const ones = levels.filter(l => l === 1).length;
            if (ones !== 1) out.push(ones + ' h1 elements');
            levels.reduce((prev, l) => {
              if (l > prev + 1) out.push('heading skips from h' + prev + ' to h' + l);
              return l;
            }, 0);
            for (const e of document.querySelectorAll('select, textarea, input:not([type=hidden])'))
              if (!(e.labels && e.labels.length) && !e.closest('label') && !e.getAttribute('aria-label'))
                out.push('unlabelled ' + e.outerHTML);
            for (const e of document.querySelectorAll('img'))
              if (!e.hasAttribute('alt')) out.push('image without alt ' + e.outerHTML);
            for (const e of document.querySelectorAll('svg'))
              if (!e.closest('[aria-hidden=true]') && !e.getAttribute('aria-label')
                  && !e.getAttribute('aria-labelledby') && !e.querySelector(':scope > title'))
                out.push('unnamed svg ' + e.outerHTML.slice(0, 160));
            for (const e of document.querySelectorAll('a[href], button'))
              if (!(e.textContent.trim() || e.getAttribute('aria-label') || e.getAttribute('title')
                    || [...e.querySelectorAll('img[alt]')].some(i => i.alt.trim())))
                out.push('nameless ' + e.outerHTML);
            return out;
            "#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(problems, json!([]), "the {page}");
    assert_contrast(client, page).await;
    assert_tab_rings(client, page).await;
    client.set_window_size(820, 1180).await.unwrap();
    assert_no_sideways_scroll(client, page).await;
    client.set_window_size(1280, 900).await.unwrap();
}

/// Real Tab presses from the top of the page: every stop (up to 40) shows a focus ring of at
/// least 2 px.
async fn assert_tab_rings(client: &Client, page: &str) {
    client
        .execute(
            "document.activeElement.blur(); window.scrollTo(0, 0);",
            vec![],
        )
        .await
        .unwrap();
    let tab = Key::Tab.to_string();
    let mut stops = 0;
    for _ in 0..40 {
        client
            .active_element()
            .await
            .unwrap()
            .send_keys(&tab)
            .await
            .unwrap();
        let focused = client
            .execute(
                "const e = document.activeElement;
                 if (!e || e === document.body) return null;
                 const s = getComputedStyle(e);
                 return [e.outerHTML.slice(0, 160),
                         s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2];",
                vec![],
            )
            .await
            .unwrap();
        if focused.is_null() {
            break;
        }
        stops += 1;
        assert_eq!(
            focused[1], true,
            "the {page}: no visible focus ring on {}",
            focused[0]
        );
    }
    assert!(stops > 0, "the {page}: Tab reaches nothing");
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn sign_in(client: &Client, base: &str, login: &str, password: &str, secret: &[u8]) {
    client.goto(&format!("{base}/admin/login")).await.unwrap();
    client
        .find(Locator::Id("login"))
        .await
        .unwrap()
        .send_keys(login)
        .await
        .unwrap();
    client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    let code = totp::code(secret, totp::step_at(SystemClock.now()));
    client
        .find(Locator::Id("code"))
        .await
        .unwrap()
        .send_keys(&code)
        .await
        .unwrap();
    click_and_load(client, "form button[type=submit]").await;
    assert_eq!(
        text_of(client, "h1").await,
        "待办任务",
        "{login} is signed in"
    );
}

/// The applicant's side, through the JSON API only.
struct Applicant {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Applicant {
    async fn log_in(base: &str, sms: &SandboxSms) -> Applicant {
        let http = reqwest::Client::new();
        let r = http
            .post(format!("{base}/api/v1/auth/sms-codes"))
            .json(&json!({"phone": APPLICANT_PHONE, "purpose": "login"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202, "{}", r.text().await.unwrap());
        let messages = sms.messages_to(APPLICANT_PHONE).await.unwrap();
        let text = &messages.last().expect("the code's SMS").body;
        let code = text
            .split(|c: char| !c.is_ascii_digit())
            .find(|run| run.len() == 6)
            .expect("a 6-digit code")
            .to_owned();
        let r = http
            .post(format!("{base}/api/v1/auth/sessions"))
            .json(&json!({"phone": APPLICANT_PHONE, "code": code}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let body: Value = r.json().await.unwrap();
        Applicant {
            http,
            base: base.to_owned(),
            token: body["token"].as_str().unwrap().to_owned(),
        }
    }

    async fn upload(&self, purpose: &str, png: Vec<u8>) -> String {
        let r = self
            .http
            .post(format!(
                "{}/api/v1/files?purpose={purpose}&filename={purpose}.png",
                self.base
            ))
            .bearer_auth(&self.token)
            .header("content-type", "image/png")
            .body(png)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let body: Value = r.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    /// Uploads a passport photo and a portrait and submits the passport for real-name review:
    /// (the review's instance, the photo's file id, the answer's `review`).
    async fn submit_passport(&self) -> (Uuid, String, Value) {
        let front = self.upload("passport", png::passport(640, 440)).await;
        let portrait = self.upload("face_photo", png::portrait(330, 440)).await;
        let r = self
            .http
            .post(format!("{}/api/v1/me/real-name", self.base))
            .bearer_auth(&self.token)
            .json(&json!({
                "id_type": "passport", "name": "JOHN SMITH", "id_number": "E12345678",
                "valid_until": "2030-06-06", "document_front": front, "portrait": portrait,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let submitted: Value = r.json().await.unwrap();
        let instance = submitted["review"]["id"].as_str().unwrap().parse().unwrap();
        (instance, front, submitted["review"].clone())
    }

    async fn real_name(&self) -> Value {
        let r = self
            .http
            .get(format!("{}/api/v1/me/real-name", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.json().await.unwrap()
    }
}

/// The app: API + console on a free loopback port, a fresh database, the system clock (TOTP
/// codes are computed from it), uploaded files in a temporary folder.
struct Served {
    runtime: certdesk_runtime::Runtime,
    sms: SandboxSms,
    base: String,
    handle: actix_web::dev::ServerHandle,
    _db: TestDb,
    _folder: tempfile::TempDir,
}

async fn serve() -> Served {
    let db = TestDb::new().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let runtime = certdesk_testkit::runtime::runtime(db.url(), clock.clone(), 8).await;
    let sms = SandboxSms::new(
        certdesk_store::db::pool(db.url(), 2).unwrap(),
        clock.clone(),
    );
    let folder = tempfile::tempdir().unwrap();
    let files = FileStore::local(folder.path()).unwrap();
    let port = certdesk_testkit::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let api = actix_web::web::Data::new(ApiState {
        runtime: runtime.clone(),
        identity: Identity::new(Arc::new(sms.clone()), CodeKey::generate().unwrap()),
        files: files.clone(),
        real_name: RealName::sandbox(Duration::ZERO),
    });
    let reasons = certdesk_testkit::runtime::repo_root().join("templates/reasons.toml");
    let admin = actix_web::web::Data::new(
        AdminState::new(
            runtime.clone(),
            Settings::new(base.clone())
                .with_reasons_file(&reasons)
                .unwrap(),
        )
        .unwrap()
        .with_files(files),
    );
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(api.clone())
            .app_data(admin.clone())
            .configure(certdesk_api::configure)
            .configure(certdesk_admin::configure)
    })
    .workers(2)
    .disable_signals()
    .bind(("127.0.0.1", port))
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Served {
        runtime,
        sms,
        base,
        handle,
        _db: db,
        _folder: folder,
    }
}

#[actix_web::test]
async fn a_reviewer_rejects_a_real_name_review_in_chromium() {
    // Fail, never pass silently, when the browser is missing.
    let driver = start_driver().await;

    // Bound by name, not `..`: the database and folder must live until the end.
    let Served {
        runtime,
        sms,
        base,
        handle,
        _db,
        _folder,
    } = serve().await;

    // ---- the applicant submits a passport through the JSON API ----------------------------
    let applicant = Applicant::log_in(&base, &sms).await;
    let (instance, front, review) = applicant.submit_passport().await;
    assert_eq!(review["state"], "cs_review");
    let task = db::open_task(&runtime, instance).await;
    let task_url = format!("{base}/admin/tasks/{task}");

    let wang = db::add_staff(&runtime, "王审核", "wang@example.cn", &["cs_reviewer"]).await;
    let li = db::add_staff(&runtime, "李审核", "li@example.cn", &["cs_reviewer"]).await;
    let zhao = db::add_staff(&runtime, "赵财务", "zhao@example.cn", &["finance"]).await;

    // ---- 李 opens the task while it is free: his form will go stale -----------------------
    let b = browser(&driver).await;
    sign_in(&b, &base, &li.login, &li.password, &li.secret).await;
    b.goto(&task_url).await.unwrap();
    b.wait()
        .for_element(Locator::Css("form.outcome"))
        .await
        .unwrap();

    // A POST without the CSRF token (from the page itself) is refused and changes nothing.
    let status = b
        .execute_async(
            &format!(
                "const done = arguments[0];
                 fetch('/admin/tasks/{task}/decide', {{method: 'POST',
                   headers: {{'Content-Type': 'application/x-www-form-urlencoded'}},
                   body: 'outcome=approve'}}).then(r => done(r.status));"
            ),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status, json!(403), "a POST without the CSRF token");
    // One with the right token and session but from another origin: refused too.
    let session = b
        .get_named_cookie(certdesk_admin::session::COOKIE)
        .await
        .unwrap();
    let csrf = b
        .find(Locator::Css("form.outcome input[name=csrf]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    let r = reqwest::Client::new()
        .post(format!("{task_url}/decide"))
        .header("origin", "http://evil.example")
        .header("cookie", format!("{}={}", session.name(), session.value()))
        .form(&[("csrf", csrf.as_str()), ("outcome", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "a POST from another origin");
    assert_eq!(applicant.real_name().await["review"]["state"], "cs_review");

    // ---- 王 signs in with TOTP, filters the inbox, claims and opens the review ------------
    let a = browser(&driver).await;
    sign_in(&a, &base, &wang.login, &wang.password, &wang.secret).await;
    a.find(Locator::Css("select[name=queue]"))
        .await
        .unwrap()
        .select_by_value("cs_reviewer")
        .await
        .unwrap();
    a.find(Locator::Css("select[name=chain]"))
        .await
        .unwrap()
        .select_by_value("real_name_review")
        .await
        .unwrap();
    click_and_load(&a, "form.filters button[type=submit]").await;
    until(&a, "return location.search;", |v| {
        v.as_str()
            .is_some_and(|q| q.contains("chain=real_name_review"))
    })
    .await;
    let rows = a
        .find_all(Locator::Css("table.dense tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one real-name review in the filtered inbox");
    assert!(rows[0].text().await.unwrap().contains("实名认证人工审核"));
    assert_contrast(&a, "inbox").await;
    screenshot(&a, "inbox-1280").await;
    a.set_window_size(820, 1180).await.unwrap();
    assert_no_sideways_scroll(&a, "inbox").await;
    screenshot(&a, "inbox-820").await;
    a.set_window_size(1280, 900).await.unwrap();

    click_and_load(
        &a,
        &format!("form[action='/admin/tasks/{task}/claim'] button"),
    )
    .await;
    a.wait()
        .for_element(Locator::Css("p.notice"))
        .await
        .unwrap();
    assert_eq!(text_of(&a, "p.notice").await, "已认领任务。");
    click_and_load(&a, &format!("a[href='/admin/tasks/{task}']")).await;
    a.wait()
        .for_element(Locator::Css("form.outcome"))
        .await
        .unwrap();
    assert_eq!(text_of(&a, "h1").await, "实名认证人工审核 · 客服审核");

    // The document photo is decoded, not a broken image.
    let widths = until(
        &a,
        "return [...document.querySelectorAll('.document img')].map(i => i.complete ? i.naturalWidth : -1);",
        |v| v.as_array().is_some_and(|a| !a.is_empty() && a.iter().all(|w| w.as_i64() != Some(-1))),
    )
    .await;
    assert_eq!(
        widths,
        json!([640, 330]),
        "both photos decoded at their size"
    );
    let alt = a
        .find(Locator::Css(&format!("img[src='/admin/files/{front}']")))
        .await
        .unwrap()
        .attr("alt")
        .await
        .unwrap();
    assert_eq!(alt.as_deref(), Some("证件人像面"));

    // The diagram is drawn with the current state lit, and only that one.
    let lit = a
        .execute(
            "return [...document.querySelectorAll('.diagram svg [aria-current=step]')]
               .map(g => [g.id, g.classList.contains('current'), g.textContent.trim()]);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(lit[0][0], "node-cs_review", "{lit}");
    assert_eq!(lit[0][1], true);
    assert!(lit[0][2].as_str().unwrap().contains("客服审核"), "{lit}");
    assert_eq!(lit.as_array().unwrap().len(), 1, "{lit}");
    assert!(
        text_of(&a, ".diagram figcaption")
            .await
            .ends_with("当前环节：客服审核")
    );
    // The timeline has the submission.
    assert!(
        text_of(&a, "table.timeline tbody")
            .await
            .contains("提交申请")
    );

    // Every form control has a label, and Tab reaches the decision form.
    let unlabelled = a
        .execute(
            "return [...document.querySelectorAll('main select, main textarea, main input:not([type=hidden])')]
               .filter(e => !(e.labels && e.labels.length) && !e.closest('label')).map(e => e.outerHTML);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(unlabelled, json!([]), "every input is labelled");
    // Real Tab key presses from the top of the page reach the reject form's reason, every
    // stop with a visible focus ring.
    a.execute(
        "document.activeElement.blur(); window.scrollTo(0, 0);",
        vec![],
    )
    .await
    .unwrap();
    let tab = Key::Tab.to_string();
    let mut presses = 0;
    loop {
        a.active_element()
            .await
            .unwrap()
            .send_keys(&tab)
            .await
            .unwrap();
        presses += 1;
        let focused = a
            .execute(
                "const e = document.activeElement; const s = getComputedStyle(e);
                 return [e.id || e.tagName, s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2];",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(focused[1], true, "a visible focus ring on {focused}");
        if focused[0] == "reason-reject" {
            break;
        }
        assert!(presses < 80, "Tab never reached the reject form");
    }
    assert_contrast(&a, "task page").await;
    a.execute(
        "document.activeElement.blur(); window.scrollTo(0, 0);",
        vec![],
    )
    .await
    .unwrap();
    screenshot(&a, "task-1280").await;
    a.set_window_size(820, 1180).await.unwrap();
    assert_no_sideways_scroll(&a, "task page").await;
    screenshot(&a, "task-820").await;
    a.set_window_size(1280, 900).await.unwrap();

    // The passport number is masked; 王 reveals it to compare with the photo (recorded).
    let facts = text_of(&a, "main table.dense tbody").await;
    assert!(
        facts.contains("E1*****78") && !facts.contains("E12345678"),
        "{facts}"
    );
    click_and_load(&a, "form.reveal button").await;
    let facts = text_of(&a, "main table.dense tbody").await;
    assert!(facts.contains("E12345678"), "{facts}");
    assert_eq!(
        a.current_url().await.unwrap().path(),
        format!("/admin/tasks/{task}")
    );

    // ---- 王 rejects with a reason -----------------------------------------------------------
    a.find(Locator::Id("reason-reject"))
        .await
        .unwrap()
        .select_by_value("document_expired")
        .await
        .unwrap();
    a.find(Locator::Id("comment-reject"))
        .await
        .unwrap()
        .send_keys("护照已过有效期，请换新证件后重新提交。")
        .await
        .unwrap();
    click_and_load(&a, "form.outcome.danger button[type=submit]").await;
    a.wait()
        .for_element(Locator::Css("p.notice"))
        .await
        .unwrap();
    assert_eq!(text_of(&a, "p.notice").await, "审核决定已提交。");

    // ---- the applicant's API shows the rejection --------------------------------------------
    let shown = applicant.real_name().await;
    assert_eq!(shown["review"]["state"], "rejected", "{shown:#}");
    assert_eq!(shown["review"]["reason"], "document_expired");
    assert_eq!(
        shown["review"]["comment"],
        "护照已过有效期，请换新证件后重新提交。"
    );

    // ---- 李's stale form: a clear message, not an error page --------------------------------
    click_and_load(&b, "form.outcome.approve button[type=submit]").await;
    b.wait()
        .for_element(Locator::Id("decision-message"))
        .await
        .unwrap();
    assert_eq!(text_of(&b, "h1").await, "实名认证人工审核 · 客服审核");
    let message = text_of(&b, "#decision-message").await;
    assert!(
        message.starts_with("此任务已由王审核于 ")
            && message.contains("作出决定：“拒绝”（原因：证件已过期）"),
        "{message}"
    );
    assert!(
        b.find_all(Locator::Css("form.outcome"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(applicant.real_name().await["review"]["state"], "rejected");
    b.close().await.unwrap();

    // ---- a finance user cannot open the cs_reviewer task, nor its document ------------------
    let c = browser(&driver).await;
    sign_in(&c, &base, &zhao.login, &zhao.password, &zhao.secret).await;
    c.goto(&task_url).await.unwrap();
    assert_eq!(text_of(&c, "h1").await, "页面不存在（404）");
    assert!(!c.source().await.unwrap().contains("JOHN SMITH"));
    c.goto(&format!("{base}/admin/files/{front}"))
        .await
        .unwrap();
    assert_eq!(text_of(&c, "h1").await, "页面不存在（404）");
    c.close().await.unwrap();

    a.close().await.unwrap();
    handle.stop(true).await;
    println!("screenshots in {}", screenshot_dir().display());
}

#[actix_web::test]
async fn every_console_page_is_labelled_readable_and_fits_a_tablet() {
    let driver = start_driver().await;
    let Served {
        runtime,
        sms,
        base,
        handle,
        _db,
        _folder,
    } = serve().await;

    // Something on every page: a real-name review with its documents, waiting for CS.
    let applicant = Applicant::log_in(&base, &sms).await;
    let (instance, _, _) = applicant.submit_passport().await;
    let task = db::open_task(&runtime, instance).await;
    // A system administrator who also reviews: every page of the console is theirs.
    let zhou = db::add_staff(
        &runtime,
        "周主管",
        "zhou@example.cn",
        &["sys_admin", "cs_reviewer"],
    )
    .await;

    let c = browser(&driver).await;
    c.goto(&format!("{base}/admin/login")).await.unwrap();
    assert_accessible(&c, "sign-in page").await;
    sign_in(&c, &base, &zhou.login, &zhou.password, &zhou.secret).await;
    let pages = [
        ("inbox", "/admin/tasks".to_owned()),
        ("task page", format!("/admin/tasks/{task}")),
        ("supervisor dashboard", "/admin/supervise".to_owned()),
        (
            "instance search",
            format!("/admin/instances?applicant={APPLICANT_PHONE}"),
        ),
        ("instance page", format!("/admin/instances/{instance}")),
        ("staff list", "/admin/staff".to_owned()),
        ("definitions list", "/admin/definitions".to_owned()),
        (
            "definition page",
            "/admin/definitions/real_name_review/2".to_owned(),
        ),
        ("dead jobs page", "/admin/jobs".to_owned()),
        ("audit page", "/admin/audit".to_owned()),
        ("password page", "/admin/password".to_owned()),
        ("not-found page", "/admin/no-such-page".to_owned()),
    ];
    for (page, path) in pages {
        c.goto(&format!("{base}{path}")).await.unwrap();
        c.wait().for_element(Locator::Css("h1")).await.unwrap();
        assert_accessible(&c, page).await;
    }
    // The search found the review; the instance page shows its documents.
    c.goto(&format!(
        "{base}/admin/instances?applicant={APPLICANT_PHONE}"
    ))
    .await
    .unwrap();
    assert!(
        c.source()
            .await
            .unwrap()
            .contains(&format!("/admin/instances/{instance}"))
    );
    c.close().await.unwrap();
    handle.stop(true).await;
}
