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
use certdesk_store::schema::{definitions, instances, staff_credentials, tasks};
use certdesk_store::testing::{TestDb, seed};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

pub const ORIGIN: &str = "http://127.0.0.1:8080";

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
        let state = AdminState::new(runtime, Settings::new(ORIGIN)).unwrap();
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
