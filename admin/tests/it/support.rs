//! The test world: a fresh database, a runtime on a manual clock, staff with known passwords
//! and TOTP secrets, and helpers for signing in and posting forms.

use std::sync::Arc;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header;
use actix_web::test::TestRequest;
use certdesk_admin::{AdminState, Settings, staff, totp};
use certdesk_audit::Signer;
use certdesk_domain::clock::{Clock, ManualClock};
use certdesk_runtime::Runtime;
use certdesk_store::schema::{definitions, files, instances, staff_credentials, tasks};
use certdesk_store::testing::{TestDb, seed};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

pub const ORIGIN: &str = "http://127.0.0.1:8080";

/// A real 2×2 RGB PNG (browsers decode it).
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a,
    0x73, 0x00, 0x00, 0x00, 0x10, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0x00,
    0x44, 0x0c, 0x10, 0x0a, 0x00, 0x1f, 0xee, 0x03, 0xfd, 0x8b, 0x5f, 0x14, 0xd4, 0x00, 0x00, 0x00,
    0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

macro_rules! app {
    ($world:expr) => {
        actix_web::test::init_service(
            actix_web::App::new()
                .app_data(actix_web::web::Data::new($world.state.clone()))
                .configure(certdesk_admin::configure),
        )
        .await
    };
}
pub(crate) use app;

pub struct Person {
    pub id: Uuid,
    pub login: String,
    pub password: String,
    pub secret: Vec<u8>,
}

pub struct World {
    pub state: AdminState,
    pub clock: Arc<ManualClock>,
    _db: TestDb,
    pub enterprise: Uuid,
}

impl World {
    pub async fn new() -> World {
        let db = TestDb::new().await;
        // A Tuesday, 10:00 Beijing time.
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).unwrap(),
        ));
        let (registry, env) = certdesk_testkit::runtime::definitions();
        let pool = certdesk_store::db::pool(db.url(), 8).unwrap();
        let runtime = Runtime::new(pool, Signer::generate(), clock.clone(), registry, env);
        runtime.sync_definitions().await.unwrap();
        let now = clock.now();
        let mut conn = runtime.pool().get().await.unwrap();
        let enterprise =
            seed::enterprise(&mut conn, "91350100M000100Y43", "福州示例科技有限公司", now).await;
        drop(conn);
        let reasons = certdesk_testkit::runtime::repo_root().join("templates/reasons.toml");
        let settings = Settings::new(ORIGIN).with_reasons_file(&reasons).unwrap();
        let state = AdminState::new(runtime, settings).unwrap();
        World {
            state,
            clock,
            _db: db,
            enterprise,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub async fn conn(
        &self,
    ) -> diesel_async::pooled_connection::deadpool::Object<diesel_async::AsyncPgConnection> {
        self.state.runtime.pool().get().await.unwrap()
    }

    /// A staff member with `roles` who has already replaced the one-time password.
    pub async fn staff(&self, email: &str, roles: &[&str]) -> Person {
        let mut conn = self.conn().await;
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        let new = staff::add(&mut conn, email, None, Some(email), &roles, self.now())
            .await
            .unwrap();
        diesel::update(staff_credentials::table.find(new.user_id))
            .set(staff_credentials::must_change_password.eq(false))
            .execute(&mut conn)
            .await
            .unwrap();
        Person {
            id: new.user_id,
            login: email.to_owned(),
            password: new.password,
            secret: new.secret,
        }
    }

    /// The current TOTP code of `p`.
    pub fn code(&self, p: &Person) -> String {
        totp::code(&p.secret, totp::step_at(self.now()))
    }

    /// An open task of `group` on a fresh instance, opened `ago` before now, due `due_in`.
    pub async fn task(
        &self,
        group: &str,
        ago: TimeDelta,
        due_in: Option<TimeDelta>,
        subject: Option<Uuid>,
    ) -> Uuid {
        let mut conn = self.conn().await;
        let now = self.now();
        let version: i32 = definitions::table
            .filter(definitions::name.eq("join_request"))
            .select(definitions::version)
            .first(&mut conn)
            .await
            .unwrap();
        // Each its own requester: one open join request per person and enterprise.
        let requester = seed::person(&mut conn, "申请人乙", now).await;
        let instance = Uuid::now_v7();
        diesel::insert_into(instances::table)
            .values((
                instances::id.eq(instance),
                instances::definition.eq("join_request"),
                instances::version.eq(version),
                instances::subject_type.eq("enterprise"),
                instances::subject_id.eq(subject),
                instances::requester.eq(requester),
                instances::state.eq("review"),
                instances::status.eq("running"),
                instances::engine.eq(json!({})),
                instances::data.eq(json!({"phone": "13712345678", "note": "请审核"})),
                instances::created_at.eq(now - ago),
                instances::updated_at.eq(now - ago),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
        let id = Uuid::now_v7();
        diesel::insert_into(tasks::table)
            .values((
                tasks::id.eq(id),
                tasks::instance_id.eq(instance),
                tasks::entry.eq(1),
                tasks::state.eq("review"),
                tasks::parties.eq(json!([{"kind": "group", "name": group}])),
                tasks::approval.eq("any"),
                tasks::status.eq("open"),
                tasks::opened_at.eq(now - ago),
                tasks::sla_due_at.eq(due_in.map(|d| now + d)),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
        id
    }

    /// A file row owned by `owner` whose bytes are in the console's file store.
    pub async fn file(&self, owner: Uuid, purpose: &str, media_type: &str, bytes: &[u8]) -> Uuid {
        let sm3 = certdesk_api::files::sm3(bytes);
        self.state
            .files
            .put(&sm3, actix_web::web::Bytes::copy_from_slice(bytes))
            .await
            .unwrap();
        let id = Uuid::now_v7();
        diesel::insert_into(files::table)
            .values((
                files::id.eq(id),
                files::owner_id.eq(owner),
                files::purpose.eq(purpose),
                files::media_type.eq(media_type),
                files::size_bytes.eq(bytes.len() as i64),
                files::sm3.eq(sm3.to_vec()),
                // Images have dimensions (PNG is 2×2), PDFs none.
                files::width.eq((media_type != "application/pdf").then_some(2)),
                files::height.eq((media_type != "application/pdf").then_some(2)),
                files::created_at.eq(self.now()),
            ))
            .execute(&mut self.conn().await)
            .await
            .unwrap();
        id
    }

    /// A real-name review (passport) submitted by `requester` through the runtime, with a
    /// document photo and a portrait; returns (instance, the open CS task, the document file).
    pub async fn review(&self, requester: Uuid) -> (Uuid, Uuid, Uuid) {
        self.review_with(requester, None).await
    }

    /// [`World::review`] with a back side (`document_back`) too.
    pub async fn review_with(&self, requester: Uuid, back: Option<Uuid>) -> (Uuid, Uuid, Uuid) {
        let front = self.file(requester, "passport", "image/png", PNG).await;
        let portrait = self.file(requester, "face_photo", "image/png", PNG).await;
        let mut input = json!({
            "id_type": "passport",
            "name": "JOHN SMITH",
            "id_number": "E12345678",
            "valid_until": "2030-06-06",
            "document_front": front.to_string(),
            "portrait": portrait.to_string(),
        });
        if let Some(back) = back {
            input["document_back"] = json!(back.to_string());
        }
        let started = self
            .state
            .runtime
            .start("real_name_review", requester, Some(requester), &input)
            .await
            .unwrap();
        assert_eq!(started.state, "cs_review");
        let task = tasks::table
            .filter(tasks::instance_id.eq(started.instance_id))
            .filter(tasks::status.eq("open"))
            .select(tasks::id)
            .first(&mut self.conn().await)
            .await
            .unwrap();
        (started.instance_id, task, front)
    }

    /// An applicant.
    pub async fn applicant(&self, name: &str) -> Uuid {
        let mut conn = self.conn().await;
        seed::person(&mut conn, name, self.now()).await
    }

    /// (instance state, task status, history length) of an instance and task.
    pub async fn progress(&self, instance: Uuid, task: Uuid) -> (String, String, i64) {
        let mut conn = self.conn().await;
        let (state, count) = instances::table
            .find(instance)
            .select((instances::state, instances::history_count))
            .first::<(String, i64)>(&mut conn)
            .await
            .unwrap();
        let status = tasks::table
            .find(task)
            .select(tasks::status)
            .first::<String>(&mut conn)
            .await
            .unwrap();
        (state, status, count)
    }

    pub async fn claimer(&self, task: Uuid) -> Option<Uuid> {
        let mut conn = self.conn().await;
        tasks::table
            .find(task)
            .select(tasks::claimed_by)
            .first(&mut conn)
            .await
            .unwrap()
    }
}

/// The `Set-Cookie` value of the session cookie, if the response set one.
pub fn session_cookie(res: &ServiceResponse) -> Option<String> {
    res.response()
        .cookies()
        .find(|c| c.name() == certdesk_admin::session::COOKIE && !c.value().is_empty())
        .map(|c| c.value().to_owned())
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", totp::percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A POST of a form from the console's origin.
pub fn post(path: &str, cookie: Option<&str>, body: &str) -> TestRequest {
    let mut req = TestRequest::post()
        .uri(path)
        .insert_header((header::ORIGIN, ORIGIN))
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(body.to_owned());
    if let Some(c) = cookie {
        req = req.cookie(actix_web::cookie::Cookie::new(
            certdesk_admin::session::COOKIE,
            c.to_owned(),
        ));
    }
    req
}

pub fn get(path: &str, cookie: &str) -> TestRequest {
    TestRequest::get()
        .uri(path)
        .cookie(actix_web::cookie::Cookie::new(
            certdesk_admin::session::COOKIE,
            cookie.to_owned(),
        ))
}

/// Signs in; returns the session cookie, or None when refused.
pub async fn sign_in<S>(app: &S, login: &str, password: &str, code: &str) -> Option<String>
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let res = actix_web::test::call_service(
        app,
        post(
            "/admin/login",
            None,
            &form(&[("login", login), ("password", password), ("code", code)]),
        )
        .to_request(),
    )
    .await;
    session_cookie(&res)
}

pub async fn body<S>(app: &S, req: TestRequest) -> (u16, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let res = actix_web::test::call_service(app, req.to_request()).await;
    let status = res.status().as_u16();
    let bytes = actix_web::test::read_body(res).await;
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The CSRF token in a page's forms.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf field");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}
