//! `Idempotency-Key` on authenticated POSTs (draft-ietf-httpapi-idempotency-key-header).
//!
//! A phone on a bad network sends a POST, loses the answer and sends it again. With the same
//! `Idempotency-Key` header the second request gets the first one's answer, replayed, and
//! nothing is created twice:
//!
//! - the first request with a key claims it for its user (a row in `idempotency_keys`, status
//!   `running`), runs, and keeps its 2xx answer (status, `Content-Type`, `Location`, body);
//! - a retry with the same key and the same request (method, path, query, content type and
//!   body, by SHA-256) gets that answer again with `Idempotent-Replayed: true`;
//! - the same key with a different request is refused (422 `idempotency_key_reused`), and a
//!   retry while the first is still running waits its turn (409
//!   `idempotency_key_in_progress`, `Retry-After: 1`);
//! - an answer that is not 2xx is not kept: errors change nothing (the API's rule), so the
//!   retry simply runs again. A claim whose request died (a crash before the answer was kept)
//!   is taken over after [`ABANDONED_AFTER`]; keys live [`KEPT_FOR`].
//!
//! Keys belong to the token's user, so nobody can read another applicant's answer by guessing
//! a key. Requests without a bearer token (the login endpoints) have their own rules (resend
//! windows, single-use codes) and pass through, as do uploads (`/files`), which are
//! idempotent by content already. The claim and the handler's own transaction are separate: a
//! crash between the handler's commit and keeping its answer leaves a claim that is taken over
//! later and runs again, which the handlers' own uniqueness rules (one open join request per
//! applicant and enterprise, a decided task answering 409) turn into a refusal, not a copy.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use chrono::{DateTime, TimeDelta, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use certdesk_store::schema::idempotency_keys as keys;

use crate::auth::Caller;
use crate::problem::ApiError;
use crate::{ApiState, db};

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on a replayed answer.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// How long a key and its answer are kept.
pub const KEPT_FOR: TimeDelta = TimeDelta::hours(24);
/// How long a claim may stay `running` before a retry takes it over.
pub const ABANDONED_AFTER: TimeDelta = TimeDelta::seconds(60);

/// The middleware (mount inside the request-id middleware, which renders its problems).
pub(crate) async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let applies = req.method() == Method::POST
        && req.headers().contains_key(header::AUTHORIZATION)
        && !req.path().starts_with("/api/v1/files");
    let Some(raw) = req.headers().get(IDEMPOTENCY_KEY).filter(|_| applies) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    // Refusals are answered as responses carrying their error, as a handler's are, so the
    // request-id middleware renders them.
    macro_rules! or_answer {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(e) => return Ok(req.error_response(e)),
            }
        };
    }
    let key = or_answer!(parse_key(raw));
    let state = or_answer!(
        req.app_data::<web::Data<ApiState>>()
            .cloned()
            .ok_or_else(|| ApiError::internal("web::Data<ApiState> is not registered on the app"))
    );
    // Resolve the caller once; the handler's extractor finds it in the extensions.
    let caller = or_answer!(req.extract::<Caller>().await);
    req.extensions_mut().insert(caller);
    // Read whole (actix's payload limit, 256 KiB, answers 413 beyond it) and put back.
    let body = or_answer!(req.extract::<web::Bytes>().await);
    req.set_payload(Payload::from(body.clone()));
    let fingerprint = fingerprint(&req, &body);

    let runtime = &state.runtime;
    let now = runtime.clock().now();
    let mut conn = or_answer!(db::conn(runtime).await);
    match or_answer!(claim(&mut conn, caller.user_id, &key, &fingerprint, now).await) {
        Claim::Ours => {}
        Claim::Replay(stored) => return Ok(req.into_response(stored.into_response())),
    }
    drop(conn); // not held while the handler runs

    let outcome = next.call(req).await;
    let res = match outcome {
        Ok(res) if res.status().is_success() => res,
        other => {
            // Not kept: an error changed nothing, so the retry may run again. Should the
            // release fail, the claim is taken over after ABANDONED_AFTER.
            if let Err(e) = release(runtime, caller.user_id, &key).await {
                tracing::warn!(error = %e, "could not release an idempotency key");
            }
            return other.map(ServiceResponse::map_into_boxed_body);
        }
    };
    let (http_req, res) = res.into_parts();
    let (res, body) = res.into_parts();
    let bytes = match actix_web::body::to_bytes(body).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let e: Box<dyn std::error::Error> = e.into();
            return Err(ApiError::internal(format!("reading the answer to keep it: {e}")).into());
        }
    };
    let stored = Stored {
        status: res.status(),
        content_type: header_text(res.headers().get(header::CONTENT_TYPE)),
        location: header_text(res.headers().get(header::LOCATION)),
        body: bytes.to_vec(),
    };
    // The work is done and committed: answer it even if keeping the answer fails (a retry
    // then runs again after ABANDONED_AFTER and meets the handler's own uniqueness rules).
    if let Err(e) = keep(runtime, caller.user_id, &key, &stored).await {
        tracing::warn!(error = %e, "could not keep an idempotent answer");
    }
    let res = res.set_body(BoxBody::new(bytes));
    Ok(ServiceResponse::new(http_req, res))
}

/// A key is 1–255 visible ASCII characters (a UUID, typically).
fn parse_key(raw: &HeaderValue) -> Result<String, ApiError> {
    raw.to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "idempotency_key_invalid",
                "Invalid Idempotency-Key",
                "Idempotency-Key 须为 1–255 个可见 ASCII 字符。",
                "Idempotency-Key must be 1 to 255 visible ASCII characters.",
            )
        })
}

/// SHA-256 over what makes two requests the same request.
fn fingerprint(req: &ServiceRequest, body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [
        req.method().as_str().as_bytes(),
        req.path().as_bytes(),
        req.query_string().as_bytes(),
        req.headers()
            .get(header::CONTENT_TYPE)
            .map_or(&b""[..], HeaderValue::as_bytes),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.update(body);
    h.finalize().into()
}

fn header_text(value: Option<&HeaderValue>) -> Option<String> {
    value.and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// A kept answer.
struct Stored {
    status: StatusCode,
    content_type: Option<String>,
    location: Option<String>,
    body: Vec<u8>,
}

impl Stored {
    fn into_response(self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(ct) = self.content_type {
            res.insert_header((header::CONTENT_TYPE, ct));
        }
        if let Some(location) = self.location {
            res.insert_header((header::LOCATION, location));
        }
        res.insert_header((REPLAYED, "true"));
        res.body(self.body)
    }
}

enum Claim {
    /// This request runs.
    Ours,
    /// An earlier request's answer.
    Replay(Stored),
}

type Row = (
    Vec<u8>,
    String,
    Option<i32>,
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
    DateTime<Utc>,
);

async fn claim(
    conn: &mut diesel_async::AsyncPgConnection,
    user: Uuid,
    key: &str,
    fingerprint: &[u8; 32],
    now: DateTime<Utc>,
) -> Result<Claim, ApiError> {
    let inserted = diesel::insert_into(keys::table)
        .values((
            keys::user_id.eq(user),
            keys::key.eq(key),
            keys::fingerprint.eq(&fingerprint[..]),
            keys::status.eq("running"),
            keys::created_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if inserted == 1 {
        return Ok(Claim::Ours);
    }
    let row: Option<Row> = keys::table
        .select((
            keys::fingerprint,
            keys::status,
            keys::response_status,
            keys::content_type,
            keys::location,
            keys::body,
            keys::created_at,
        ))
        .find((user, key))
        .first(conn)
        .await
        .optional()?;
    let Some((stored_fp, status, code, content_type, location, body, created_at)) = row else {
        // Released between our insert and our read: the next retry claims it.
        return Err(in_progress());
    };
    // An expired key, or a claim whose request died: take it over (one taker wins the update).
    let expired = created_at + KEPT_FOR <= now;
    let abandoned = status == "running" && created_at + ABANDONED_AFTER <= now;
    if expired || abandoned {
        let taken = diesel::update(
            keys::table
                .find((user, key))
                .filter(keys::created_at.eq(created_at)),
        )
        .set((
            keys::fingerprint.eq(&fingerprint[..]),
            keys::status.eq("running"),
            keys::response_status.eq(None::<i32>),
            keys::content_type.eq(None::<String>),
            keys::location.eq(None::<String>),
            keys::body.eq(None::<Vec<u8>>),
            keys::created_at.eq(now),
            keys::completed_at.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await?;
        return if taken == 1 {
            Ok(Claim::Ours)
        } else {
            Err(in_progress())
        };
    }
    if stored_fp != fingerprint[..] {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "Idempotency-Key reused",
            "这个 Idempotency-Key 已用于另一个请求，请换一个新的。",
            "This Idempotency-Key was used for a different request; use a new key.",
        ));
    }
    match (status.as_str(), code, body) {
        ("done", Some(code), Some(body)) => Ok(Claim::Replay(Stored {
            status: StatusCode::from_u16(code as u16)
                .map_err(|_| ApiError::internal(format!("kept status {code}")))?,
            content_type,
            location,
            body,
        })),
        _ => Err(in_progress()),
    }
}

fn in_progress() -> ApiError {
    ApiError::conflict(
        "idempotency_key_in_progress",
        "Request in progress",
        "使用这个 Idempotency-Key 的请求仍在处理中，请稍后重试。",
        "A request with this Idempotency-Key is still being processed; retry shortly.",
    )
    .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
}

async fn release(
    runtime: &certdesk_runtime::Runtime,
    user: Uuid,
    key: &str,
) -> Result<(), ApiError> {
    let mut conn = db::conn(runtime).await?;
    diesel::delete(
        keys::table
            .find((user, key))
            .filter(keys::status.eq("running")),
    )
    .execute(&mut conn)
    .await?;
    Ok(())
}

async fn keep(
    runtime: &certdesk_runtime::Runtime,
    user: Uuid,
    key: &str,
    stored: &Stored,
) -> Result<(), ApiError> {
    let now = runtime.clock().now();
    let mut conn = db::conn(runtime).await?;
    diesel::update(keys::table.find((user, key)))
        .set((
            keys::status.eq("done"),
            keys::response_status.eq(i32::from(stored.status.as_u16())),
            keys::content_type.eq(&stored.content_type),
            keys::location.eq(&stored.location),
            keys::body.eq(&stored.body),
            keys::completed_at.eq(now),
        ))
        .execute(&mut conn)
        .await?;
    Ok(())
}
