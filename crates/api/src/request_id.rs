//! Request ids, and the one place where every answer of the API passes on its way out.
//!
//! The middleware takes a sane incoming `X-Request-Id` (a proxy's or the app's) or makes a
//! UUID, runs the request inside a tracing span that carries it, echoes it in the response
//! header and writes it into problem bodies. It also makes sure every error leaves as
//! `application/problem+json` (actix's own refusals included) and logs the cause chain of a
//! 500 exactly once.

use std::future::{Ready, ready};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use tracing::Instrument;
use uuid::Uuid;

use crate::problem::ApiError;

/// The header a request id travels in, both ways.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest incoming request id kept; anything longer is replaced.
const MAX_LEN: usize = 128;

/// The id of the request being served (an extractor; empty outside the middleware).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromRequest for RequestId {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(String::new()))))
    }
}

/// Whether an incoming id may be reused: short, and only characters that are safe in a log
/// line and a header (no spaces, quotes or control characters).
fn is_sane(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The middleware (mounted with `actix_web::middleware::from_fn`).
pub(crate) async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane(v))
        .map_or_else(|| Uuid::new_v4().to_string(), str::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "request",
        request.id = %id,
        http.method = %req.method(),
        http.path = %req.path(),
    );
    let header = HeaderValue::from_str(&id).ok();
    match next.call(req).instrument(span.clone()).await {
        Ok(res) => {
            let mut res = span.in_scope(|| finish(res.map_into_boxed_body(), &id));
            if let Some(value) = header {
                res.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            Ok(res)
        }
        // Services below answer errors as responses; an `Err` only comes from a middleware
        // further in. The request is gone with it, so answer through actix's error path with
        // a copy that already carries the id.
        Err(err) => {
            let _entered = span.enter();
            let mut api = match err.as_error::<ApiError>() {
                Some(api) => {
                    log(api);
                    api.public_copy()
                }
                None => {
                    let status = err.as_response_error().status_code();
                    log_foreign(status, &err);
                    ApiError::from_status(status)
                }
            }
            .with_request_id(&id);
            if let Some(value) = header {
                api = api.with_header(REQUEST_ID_HEADER, value);
            }
            Err(api.into())
        }
    }
}

/// Renders errors as problems carrying the request id, and logs them.
fn finish(res: ServiceResponse<BoxBody>, id: &str) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let rendered = match res.response().error() {
        Some(err) => match err.as_error::<ApiError>() {
            Some(api) => {
                log(api);
                api.render(Some(id))
            }
            None => {
                // An extractor or service of actix itself refused: same shape, same log.
                log_foreign(status, err);
                ApiError::from_status(status).render(Some(id))
            }
        },
        // A handler's own answer (a 503 readiness report, a problem already rendered).
        None if res.headers().contains_key(header::CONTENT_TYPE) => return res,
        None => {
            let api = ApiError::from_status(status);
            log(&api);
            api.render(Some(id))
        }
    };
    res.into_response(rendered)
}

fn log_foreign(status: StatusCode, err: &actix_web::Error) {
    if status.is_server_error() {
        tracing::error!(http.status = status.as_u16(), error.cause = %err, "request failed");
    } else {
        tracing::debug!(http.status = status.as_u16(), error.detail = %err, "request refused");
    }
}

fn log(api: &ApiError) {
    let status = api.status().as_u16();
    if api.status().is_server_error() {
        tracing::error!(
            http.status = status,
            error.code = api.code(),
            error.cause = api.cause_chain().as_deref().unwrap_or("(none)"),
            "request failed"
        );
    } else {
        tracing::debug!(
            http.status = status,
            error.code = api.code(),
            "request refused"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_kept() {
        assert!(is_sane("b3c1f2a0-1d2e-4f00-9a1b-0c2d3e4f5a6b"));
        assert!(is_sane("gw:edge-01.req_42"));
        assert!(!is_sane(""));
        assert!(!is_sane("has space"));
        assert!(!is_sane("quote\"d"));
        assert!(!is_sane("newline\nX-Evil: 1"));
        assert!(!is_sane("中文"));
        assert!(!is_sane(&"a".repeat(MAX_LEN + 1)));
    }
}
