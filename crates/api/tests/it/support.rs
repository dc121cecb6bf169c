//! The test world: a fresh database, a runtime on a manual clock, people with tokens, and
//! helpers that make requests read like scenarios.

use std::path::Path;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::test::TestRequest;
use certdesk_api::files::FileStore;
use certdesk_api::identity::{CodeKey, Identity};
use certdesk_api::realname::{RealName, Retry, SandboxRealName};
use certdesk_api::{ApiState, issue_token};
use certdesk_audit::Signer;
use certdesk_domain::clock::{Clock, ManualClock};
use certdesk_notify::SandboxSms;
use certdesk_runtime::Runtime;
use certdesk_runtime::actions::DatabaseActions;
use certdesk_runtime::outbox::Delivery;
use certdesk_store::schema::{files, instances, memberships, outbox, users};
use certdesk_store::testing::{TestDb, seed};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;

/// The admin of the main enterprise, as an applicant types them in verify-admin mode.
pub const ADMIN_NAME: &str = "管理员甲";
pub const ADMIN_PHONE: &str = "18600008621";
pub const ENTERPRISE_NAME: &str = "福州示例科技有限公司";
pub const ENTERPRISE_USCC: &str = "91350100M000100Y43";

/// Builds the app under test from a world (a macro: the service type cannot be named).
macro_rules! app {
    ($world:expr) => {
        actix_web::test::init_service(
            actix_web::App::new()
                .app_data(actix_web::web::Data::new($world.state.clone()))
                .configure(certdesk_api::configure),
        )
        .await
    };
}

/// A person who can call the API.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub token: String,
}

pub struct World {
    pub state: ApiState,
    pub clock: Arc<ManualClock>,
    /// The SMS gateway stand-in the API sends codes through.
    pub sms: SandboxSms,
    /// The real-name provider stand-in (no latency, retries without waiting).
    pub real_name: Arc<SandboxRealName>,
    _db: TestDb,
    /// The folder the file store writes to (a real local store, as in production).
    pub files_dir: tempfile::TempDir,
    /// 福州示例科技有限公司: admins `admin` and `admin2`.
    pub enterprise: Uuid,
    /// Another enterprise, whose only admin is `other_admin`.
    pub other_enterprise: Uuid,
    pub applicant: User,
    pub admin: User,
    pub admin2: User,
    pub stranger: User,
    pub other_admin: User,
}

/// A runtime over `url`, with the repository's definitions.
pub fn runtime(url: &str, clock: Arc<ManualClock>) -> Runtime {
    let (registry, env) = certdesk_testkit::runtime::definitions();
    let pool = certdesk_store::db::pool(url, 8).unwrap();
    Runtime::new(pool, Signer::generate(), clock, registry, env)
}

/// An SMS sandbox over its own small pool of `url` (as `certdesk serve` gives it).
pub fn sandbox_sms(url: &str, clock: Arc<ManualClock>) -> SandboxSms {
    SandboxSms::new(certdesk_store::db::pool(url, 4).unwrap(), clock)
}

/// The identity part of the API state: codes sent through `sms`, a fresh random key.
pub fn identity(sms: SandboxSms) -> Identity {
    Identity::new(Arc::new(sms), CodeKey::generate().unwrap())
}

/// A valid unified social credit code (GB 32100-2015 check character) from 17 characters.
pub fn uscc(first17: &str) -> String {
    const CHARS: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    const WEIGHTS: [usize; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let sum: usize = first17
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| CHARS.find(c).unwrap() * w)
        .sum();
    let check = (31 - sum % 31) % 31;
    format!("{first17}{}", CHARS.as_bytes()[check] as char)
}

/// Percent-encodes a query value (UTF-8, everything but unreserved characters).
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl World {
    pub async fn new() -> World {
        let db = TestDb::new().await;
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap(),
        ));
        let runtime = runtime(db.url(), clock.clone());
        runtime.sync_definitions().await.unwrap();
        let files_dir = tempfile::tempdir().unwrap();
        let files = FileStore::local(files_dir.path()).unwrap();
        let sms = sandbox_sms(db.url(), clock.clone());
        let real_name = Arc::new(SandboxRealName::new(std::time::Duration::ZERO));
        let state = ApiState {
            runtime,
            identity: identity(sms.clone()),
            files,
            real_name: RealName::new(
                real_name.clone(),
                Retry {
                    attempts: 3,
                    backoff: std::time::Duration::ZERO,
                },
            ),
        };
        let mut w = World {
            state,
            clock,
            sms,
            real_name,
            _db: db,
            files_dir,
            enterprise: Uuid::nil(),
            other_enterprise: Uuid::nil(),
            applicant: User {
                id: Uuid::nil(),
                token: String::new(),
            },
            admin: User {
                id: Uuid::nil(),
                token: String::new(),
            },
            admin2: User {
                id: Uuid::nil(),
                token: String::new(),
            },
            stranger: User {
                id: Uuid::nil(),
                token: String::new(),
            },
            other_admin: User {
                id: Uuid::nil(),
                token: String::new(),
            },
        };
        w.applicant = w.user("申请人", Some("13900001111")).await;
        w.admin = w.user(ADMIN_NAME, Some(ADMIN_PHONE)).await;
        w.admin2 = w.user("管理员乙", Some("18600002222")).await;
        w.stranger = w.user("路人", Some("13900003333")).await;
        w.other_admin = w.user("别家管理员", Some("13900004444")).await;
        w.enterprise = w
            .enterprise(ENTERPRISE_USCC, ENTERPRISE_NAME, &[w.admin.id, w.admin2.id])
            .await;
        w.other_enterprise = w
            .enterprise(
                &uscc("91350200MA2Y3K000"),
                "厦门另一家贸易有限公司",
                &[w.other_admin.id],
            )
            .await;
        w
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub async fn conn(
        &self,
    ) -> diesel_async::pooled_connection::deadpool::Object<diesel_async::AsyncPgConnection> {
        self.state.runtime.pool().get().await.unwrap()
    }

    /// A person with a phone and a 30-day token.
    pub async fn user(&self, name: &str, phone: Option<&str>) -> User {
        let mut conn = self.conn().await;
        let id = seed::person(&mut conn, name, self.now()).await;
        if let Some(phone) = phone {
            diesel::update(users::table.find(id))
                .set(users::phone.eq(phone))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        let token = issue_token(
            self.state.runtime.pool(),
            id,
            "test",
            self.now(),
            TimeDelta::days(30),
        )
        .await
        .unwrap();
        User { id, token }
    }

    /// An active enterprise with these admins.
    pub async fn enterprise(&self, uscc: &str, name: &str, admins: &[Uuid]) -> Uuid {
        let mut conn = self.conn().await;
        let id = seed::enterprise(&mut conn, uscc, name, self.now()).await;
        for admin in admins {
            seed::member(&mut conn, id, *admin, "enterprise_admin", self.now()).await;
        }
        id
    }

    pub async fn instance_count(&self) -> i64 {
        let mut conn = self.conn().await;
        instances::table
            .count()
            .get_result(&mut conn)
            .await
            .unwrap()
    }

    pub async fn file_count(&self) -> i64 {
        let mut conn = self.conn().await;
        files::table.count().get_result(&mut conn).await.unwrap()
    }

    /// Every file under the file store's folder (objects, and any staging file left behind).
    pub fn stored_objects(&self) -> Vec<std::path::PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.files_dir.path(), &mut out);
        out
    }

    pub async fn instance_state(&self, id: Uuid) -> String {
        let mut conn = self.conn().await;
        instances::table
            .select(instances::state)
            .find(id)
            .first(&mut conn)
            .await
            .unwrap()
    }
}

impl World {
    /// Gives `user` a role (`enterprise_admin`, `legal_rep`, `member`) in `enterprise`.
    pub async fn add_role(&self, enterprise: Uuid, user: Uuid, role: &str) {
        let mut conn = self.conn().await;
        seed::member(&mut conn, enterprise, user, role, self.now()).await;
    }

    /// The roles `user` holds in `enterprise`, sorted.
    pub async fn roles(&self, enterprise: Uuid, user: Uuid) -> Vec<String> {
        let mut conn = self.conn().await;
        memberships::table
            .select(memberships::role)
            .filter(memberships::enterprise_id.eq(enterprise))
            .filter(memberships::user_id.eq(user))
            .order(memberships::role.asc())
            .load(&mut conn)
            .await
            .unwrap()
    }

    /// Marks `user` real-name verified (as a resident-ID check would).
    pub async fn verify_real_name(&self, user: Uuid, name: &str) {
        let mut conn = self.conn().await;
        diesel::update(users::table.find(user))
            .set((
                users::real_name_status.eq("verified"),
                users::real_name_name.eq(name),
                users::real_name_id_type.eq("resident_id"),
                users::real_name_id_masked.eq("350102********0011"),
                users::real_name_id_digest.eq(user.as_bytes().repeat(2)),
                users::real_name_updated_at.eq(self.now()),
                users::real_name_verified_at.eq(self.now()),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
    }

    /// Runs every owed database action of `instance` (what a worker does), returning their
    /// names; each is then delivered a second time, as Redis may, and must change nothing.
    pub async fn run_actions(&self, instance: Uuid) -> Vec<String> {
        let rows: Vec<(Uuid, String)> = outbox::table
            .select((outbox::id, outbox::name))
            .filter(outbox::instance_id.eq(instance))
            .filter(outbox::kind.eq("action"))
            .filter(outbox::status.eq("pending"))
            .load(&mut self.conn().await)
            .await
            .unwrap();
        let mut names = Vec::new();
        for (id, name) in rows {
            let rt = &self.state.runtime;
            assert_eq!(
                rt.deliver(id, &DatabaseActions).await.unwrap(),
                Delivery::Done
            );
            assert_eq!(
                rt.deliver(id, &DatabaseActions).await.unwrap(),
                Delivery::AlreadySettled
            );
            names.push(name);
        }
        names
    }

    /// The templates of the notifications `instance` owes, oldest first, as `template:to`.
    pub async fn notices(&self, instance: Uuid) -> Vec<String> {
        let rows: Vec<Value> = outbox::table
            .select(outbox::payload)
            .filter(outbox::instance_id.eq(instance))
            .filter(outbox::kind.eq("notification"))
            .order((outbox::created_at.asc(), outbox::id.asc()))
            .load(&mut self.conn().await)
            .await
            .unwrap();
        rows.iter()
            .map(|p| {
                format!(
                    "{}:{}",
                    p["template"].as_str().unwrap(),
                    p["to"].as_str().unwrap()
                )
            })
            .collect()
    }
}

/// A GET with a bearer token.
pub fn get(uri: &str, user: &User) -> TestRequest {
    TestRequest::get()
        .uri(uri)
        .insert_header((header::AUTHORIZATION, format!("Bearer {}", user.token)))
}

/// A POST of a JSON body with a bearer token.
pub fn post(uri: &str, user: &User, body: Value) -> TestRequest {
    TestRequest::post()
        .uri(uri)
        .insert_header((header::AUTHORIZATION, format!("Bearer {}", user.token)))
        .set_json(body)
}

/// What came back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the RFC 9457 shape certdesk documents, with this status and code; returns the
    /// body for further checks.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{:#}",
            self.body
        );
        let b = &self.body;
        assert_eq!(b["code"], code, "{b:#}");
        assert_eq!(b["status"], status, "{b:#}");
        let ty = b["type"].as_str().unwrap();
        assert!(
            ty == "about:blank" || ty == format!("https://certdesk.example/problems/{code}"),
            "{ty}"
        );
        for key in ["title", "detail", "message_zh", "message_en", "request_id"] {
            assert!(
                b[key].as_str().is_some_and(|s| !s.is_empty()),
                "`{key}` missing in {b:#}"
            );
        }
        assert_eq!(
            b["request_id"].as_str(),
            self.header("x-request-id"),
            "the body and the header carry the same request id"
        );
        let errors = b["errors"].as_array().expect("errors is an array");
        for e in errors {
            for key in ["field", "code", "message"] {
                assert!(e[key].is_string(), "`{key}` missing in error {e:#}");
            }
        }
        b
    }

    /// The codes of the field errors, as (field, code).
    pub fn field_errors(&self) -> Vec<(String, String)> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["field"].as_str().unwrap_or_default().to_owned(),
                            e["code"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Sends a request and reads the reply's raw bytes.
pub async fn send_bytes<S, R, B, E>(app: &S, req: R) -> (StatusCode, HeaderMap, Vec<u8>)
where
    S: Service<R, Response = ServiceResponse<B>, Error = E>,
    E: std::fmt::Debug,
    B: MessageBody,
{
    let res = actix_web::test::call_service(app, req).await;
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = actix_web::test::read_body(res).await;
    (status, headers, bytes.to_vec())
}

/// Sends a request and reads the reply.
pub async fn send<S, R, B, E>(app: &S, req: R) -> Reply
where
    S: Service<R, Response = ServiceResponse<B>, Error = E>,
    E: std::fmt::Debug,
    B: MessageBody,
{
    let res = actix_web::test::call_service(app, req).await;
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = actix_web::test::read_body(res).await;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// Runs futures concurrently on this task and returns their outputs in order (the app under
/// test is not `Send`, so requests cannot be spawned; interleaved they still race in the
/// database, where each holds its own connection).
pub async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    use std::task::Poll;
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, future) in out.iter_mut().zip(futures.iter_mut()) {
            if slot.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}
