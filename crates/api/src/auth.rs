//! Bearer-token authentication.
//!
//! A token is 32 random bytes from the operating system, base64url without padding (43
//! characters). Only its SHA-256 is stored in `api_tokens`, so a copy of the database lets
//! nobody in. A token counts while it is neither revoked nor expired at the runtime clock's
//! `now`. Each has an id (for its owner to list and revoke it) and a `last_used_at`, written at
//! most every [`TOUCH_EVERY`] so reading a token is not a write per request.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use certdesk_store::db::Pool;
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::ApiState;
use crate::db;
use crate::identity::store::Account;
use crate::problem::ApiError;

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// How stale `last_used_at` may get before a request writes it again.
pub const TOUCH_EVERY: TimeDelta = TimeDelta::minutes(5);

/// The authenticated user of a request (an extractor: a handler taking it is protected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The user the token belongs to.
    pub user_id: Uuid,
    /// The id of the token the request came with (what logging out revokes).
    pub token_id: Uuid,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Resolved already by a middleware (the Idempotency-Key one).
        if let Some(caller) = req.extensions().get::<Caller>().copied() {
            return Box::pin(async move { Ok(caller) });
        }
        let found = presented(req);
        Box::pin(async move {
            let (state, token) = found?;
            let runtime = &state.runtime;
            let now = runtime.clock().now();
            let mut conn = db::conn(runtime).await?;
            let live = db::live_token(&mut conn, &token_sha256(&token), now)
                .await?
                .ok_or_else(invalid_token)?;
            touch(&mut conn, &live, now).await?;
            Ok(Caller {
                user_id: live.user_id,
                token_id: live.token_id,
            })
        })
    }
}

/// The authenticated user of a request with their account, read with the token in one query
/// (an extractor for handlers that need the caller's own record).
#[derive(Debug, Clone)]
pub(crate) struct Me {
    /// The caller's account.
    pub account: Account,
}

impl FromRequest for Me {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let resolved = req.extensions().get::<Caller>().copied();
        let found = presented(req);
        Box::pin(async move {
            let (state, token) = found?;
            let runtime = &state.runtime;
            let mut conn = db::conn(runtime).await?;
            if let Some(caller) = resolved {
                let account = crate::routes::auth::caller_account(&mut conn, caller).await?;
                return Ok(Me { account });
            }
            let now = runtime.clock().now();
            let (live, account) = db::live_token_account(&mut conn, &token_sha256(&token), now)
                .await?
                .ok_or_else(invalid_token)?;
            touch(&mut conn, &live, now).await?;
            Ok(Me { account })
        })
    }
}

/// The app state and the bearer token a request presents.
fn presented(req: &HttpRequest) -> Result<(web::Data<ApiState>, String), ApiError> {
    let state = req
        .app_data::<web::Data<ApiState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("web::Data<ApiState> is not registered on the app"))?;
    let token = bearer_token(req.headers())?.to_owned();
    Ok((state, token))
}

/// Writes `last_used_at` when it is older than [`TOUCH_EVERY`].
async fn touch(
    conn: &mut diesel_async::AsyncPgConnection,
    live: &db::LiveToken,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if live.last_used_at.is_none_or(|t| t + TOUCH_EVERY <= now) {
        db::touch_token(conn, live.token_id, now).await?;
    }
    Ok(())
}

/// The token of an `Authorization: Bearer …` header (RFC 6750 §2.1), checked for shape.
fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthenticated());
    };
    let value = value.to_str().map_err(|_| invalid_token())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(invalid_token)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(unauthenticated());
    }
    let token = token.trim();
    let plausible = (16..=256).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if plausible {
        Ok(token)
    } else {
        Err(invalid_token())
    }
}

/// A new token and the SHA-256 stored for it.
pub(crate) fn new_token() -> Result<(String, [u8; 32]), TokenError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(TokenError::Rng)?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let sha256 = token_sha256(&token);
    Ok((token, sha256))
}

fn token_sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn unauthenticated() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "Authentication required",
        "请先登录",
        "sign in first: send Authorization: Bearer <token>",
    )
    .with_header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer realm="certdesk""#),
    )
}

fn invalid_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "Invalid token",
        "登录已失效，请重新登录",
        "the token is unknown, expired or revoked; sign in again",
    )
    .with_header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer realm="certdesk", error="invalid_token""#),
    )
}

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The operating system's random number generator failed.
    #[error("reading the OS random number generator: {0}")]
    Rng(getrandom::Error),
    /// `now + ttl` is not a representable time.
    #[error("the token lifetime is out of range")]
    Ttl,
    /// No connection could be had from the pool.
    #[error("database pool: {0}")]
    Pool(String),
    /// The insert failed.
    #[error("storing the token: {0}")]
    Db(#[from] diesel::result::Error),
}

/// Issues a bearer token for `user_id`, valid from `now` for `ttl`, and returns it. Only its
/// SHA-256 is stored; the token itself cannot be recovered later.
pub async fn issue_token(
    pool: &Pool,
    user_id: Uuid,
    label: &str,
    now: DateTime<Utc>,
    ttl: TimeDelta,
) -> Result<String, TokenError> {
    let (token, sha256) = new_token()?;
    let expires_at = now.checked_add_signed(ttl).ok_or(TokenError::Ttl)?;
    let mut conn = pool
        .get()
        .await
        .map_err(|e| TokenError::Pool(e.to_string()))?;
    db::insert_token(&mut conn, &sha256, user_id, label, None, now, expires_at).await?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively_and_checked_for_shape() {
        let token = "a".repeat(43);
        assert_eq!(
            bearer_token(&headers(&format!("Bearer {token}"))).unwrap(),
            token
        );
        assert_eq!(
            bearer_token(&headers(&format!("bearer {token}"))).unwrap(),
            token
        );
        assert_eq!(
            bearer_token(&HeaderMap::new()).unwrap_err().code(),
            "unauthenticated"
        );
        assert_eq!(
            bearer_token(&headers("Basic dXNlcjpwYXNz"))
                .unwrap_err()
                .code(),
            "unauthenticated"
        );
        assert_eq!(
            bearer_token(&headers("Bearer short")).unwrap_err().code(),
            "invalid_token"
        );
        assert_eq!(
            bearer_token(&headers(&format!("Bearer {}!", "a".repeat(42))))
                .unwrap_err()
                .code(),
            "invalid_token"
        );
    }

    #[test]
    fn the_stored_hash_is_sha256_of_the_token_text() {
        let hash = token_sha256("abc");
        assert_eq!(
            hash[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "SHA-256(\"abc\") starts with ba7816bf"
        );
    }
}
