//! Console sessions in PostgreSQL and the guard every `/admin` request passes.
//!
//! A session id is 32 random bytes (base64url) in the cookie [`COOKIE`]
//! (`HttpOnly; Secure; SameSite=Strict; Path=/admin`); only its SHA-256 is stored in
//! `staff_sessions`. A session ends at logout, after [`crate::Settings::idle`] without a
//! request, or [`crate::Settings::absolute`] after sign-in, all read at the runtime clock.
//!
//! The guard ([`guard`]) denies by default: every path under `/admin` needs a live session
//! except the sign-in page and the static files. Every POST, signed in or not, must come from
//! the configured origin (`Origin`, or `Referer` when a browser sends no `Origin`), and every
//! POST of a session must carry the session's CSRF token in the form field `csrf`. A refused
//! POST is answered 403 before any handler runs, so it changes nothing.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use certdesk_store::schema::{staff_credentials, staff_roles, staff_sessions, users};
use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::pages::{self, PageError};
use crate::{AdminState, Settings, totp};

/// The session cookie's name.
pub const COOKIE: &str = "certdesk_admin";

/// The signed-in staff member of a request (an extractor; the guard put it there).
#[derive(Debug, Clone)]
pub struct Staff {
    /// Their user id.
    pub user_id: Uuid,
    /// Their name.
    pub name: String,
    /// Their roles, which are also the staff groups whose tasks they see.
    pub roles: Vec<String>,
    /// The session's anti-CSRF token, for the forms of the page.
    pub csrf: String,
    /// The password came from `staff add` and must be replaced before anything else.
    pub must_change_password: bool,
    /// SHA-256 of the session id (what logout ends).
    pub session: Vec<u8>,
}

impl Staff {
    /// Whether they hold `role`.
    #[must_use]
    pub fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

impl FromRequest for Staff {
    type Error = PageError;
    type Future = std::future::Ready<Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<Staff>()
                .cloned()
                .ok_or(PageError::Forbidden),
        )
    }
}

fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn sha256(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}

/// Starts a session for `user`; returns the cookie value.
///
/// # Errors
///
/// On database or random-number failure.
pub async fn create(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<String, PageError> {
    let id = random_token().map_err(|e| PageError::internal(e.to_string()))?;
    let csrf = random_token().map_err(|e| PageError::internal(e.to_string()))?;
    diesel::insert_into(staff_sessions::table)
        .values((
            staff_sessions::id_sha256.eq(sha256(&id)),
            staff_sessions::user_id.eq(user),
            staff_sessions::csrf_token.eq(csrf),
            staff_sessions::created_at.eq(now),
            staff_sessions::last_seen_at.eq(now),
            staff_sessions::expires_at.eq(now + settings.absolute),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

/// The live session of cookie value `id` at `now`, touching its last-seen time.
///
/// # Errors
///
/// On database failure.
pub async fn load(
    conn: &mut AsyncPgConnection,
    id: &str,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Option<Staff>, PageError> {
    let key = sha256(id);
    let live: Option<(Uuid, String)> = diesel::update(staff_sessions::table.find(&key))
        .filter(staff_sessions::ended_at.is_null())
        .filter(staff_sessions::last_seen_at.gt(now - settings.idle))
        .filter(staff_sessions::expires_at.gt(now))
        .set(staff_sessions::last_seen_at.eq(now))
        .returning((staff_sessions::user_id, staff_sessions::csrf_token))
        .get_result(conn)
        .await
        .optional()?;
    let Some((user_id, csrf)) = live else {
        return Ok(None);
    };
    let person: Option<(String, bool)> = users::table
        .inner_join(staff_credentials::table)
        .filter(users::id.eq(user_id))
        .filter(users::kind.eq("staff"))
        .filter(staff_credentials::disabled_at.is_null())
        .select((users::name, staff_credentials::must_change_password))
        .first(conn)
        .await
        .optional()?;
    let Some((name, must_change_password)) = person else {
        return Ok(None);
    };
    let roles = staff_roles::table
        .filter(staff_roles::user_id.eq(user_id))
        .select(staff_roles::role)
        .order(staff_roles::role)
        .load::<String>(conn)
        .await?;
    Ok(Some(Staff {
        user_id,
        name,
        roles,
        csrf,
        must_change_password,
        session: key,
    }))
}

/// Ends a session (logout).
///
/// # Errors
///
/// On database failure.
pub async fn end(
    conn: &mut AsyncPgConnection,
    session: &[u8],
    now: DateTime<Utc>,
) -> Result<(), PageError> {
    diesel::update(staff_sessions::table.find(session))
        .filter(staff_sessions::ended_at.is_null())
        .set(staff_sessions::ended_at.eq(now))
        .execute(conn)
        .await?;
    Ok(())
}

/// The session cookie carrying `value`.
#[must_use]
pub fn cookie(value: &str) -> Cookie<'static> {
    Cookie::build(COOKIE, value.to_owned())
        .path("/admin")
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .finish()
}

/// A cookie that deletes the session cookie.
#[must_use]
pub fn removal() -> Cookie<'static> {
    let mut c = cookie("");
    c.make_removal();
    c
}

/// Whether a state-changing request comes from `origin` (`scheme://host[:port]`).
#[must_use]
pub fn same_origin(headers: &header::HeaderMap, origin: &str) -> bool {
    if let Some(o) = headers.get(header::ORIGIN) {
        return o.to_str().is_ok_and(|o| o == origin);
    }
    headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.strip_prefix(origin))
        .is_some_and(|rest| rest.starts_with('/'))
}

/// Paths reachable without a session.
fn is_public(method: &Method, path: &str) -> bool {
    path == "/admin/login" || (method == Method::GET && path.starts_with("/admin/static/"))
}

#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

/// The guard in front of every `/admin` route (see the module docs).
///
/// # Errors
///
/// Never for a refusal (those are pages); only what the inner service returns.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AdminState>>().cloned() else {
        let res = HttpResponse::InternalServerError().body("web::Data<AdminState> is missing");
        return Ok(req.into_response(res));
    };
    let post = req.method() == Method::POST;
    if post && !same_origin(req.headers(), &state.settings.origin) {
        tracing::warn!(
            path = req.path(),
            "admin POST refused: not from the console's origin"
        );
        let res = pages::error_page(&state, &PageError::Forbidden);
        return Ok(req.into_response(res));
    }
    if is_public(req.method(), req.path()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let now = state.runtime.clock().now();
    let cookie = req.cookie(COOKIE).map(|c| c.value().to_owned());
    let staff = match cookie {
        None => None,
        Some(id) => {
            let loaded = async {
                let mut conn = pages::conn(&state).await?;
                load(&mut conn, &id, now, &state.settings).await
            }
            .await;
            match loaded {
                Ok(s) => s,
                Err(e) => {
                    let res = pages::error_page(&state, &e);
                    return Ok(req.into_response(res));
                }
            }
        }
    };
    let Some(staff) = staff else {
        let res = if post {
            pages::error_page(&state, &PageError::Forbidden)
        } else {
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/admin/login"))
                .cookie(removal())
                .finish()
        };
        return Ok(req.into_response(res));
    };
    if post {
        let body = match req.extract::<web::Bytes>().await {
            Ok(b) => b,
            Err(e) => return Ok(req.error_response(e)),
        };
        let sent = std::str::from_utf8(&body)
            .ok()
            .and_then(|s| web::Query::<CsrfField>::from_query(s).ok())
            .and_then(|q| q.into_inner().csrf);
        let ok = sent.is_some_and(|s| totp::constant_time_eq(s.as_bytes(), staff.csrf.as_bytes()));
        if !ok {
            tracing::warn!(path = req.path(), user.id = %staff.user_id, "admin POST refused: CSRF token missing or wrong");
            let res = pages::error_page(&state, &PageError::Forbidden);
            return Ok(req.into_response(res));
        }
        req.set_payload(Payload::from(body));
    }
    let path = req.path();
    if staff.must_change_password && path != "/admin/password" && path != "/admin/logout" {
        let res = HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/admin/password"))
            .finish();
        return Ok(req.into_response(res));
    }
    req.extensions_mut().insert(staff);
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}
