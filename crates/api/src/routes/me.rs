//! The signed-in applicant's own account: `GET /me` and `PUT /me/password` (设置/重置登录密码,
//! 网证通 2.2.3, 数信签 3.1 and 安全中心).
//!
//! A password is set with a fresh SMS code of purpose `set_password` (what "forgot password"
//! and a first password need) or with the current password. Either way the attempt counts
//! against the per-IP limit, a wrong code counts against the code, and a wrong current password
//! against the phone's password lock, so a stolen token cannot be used to guess either.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::{
    begin_attempt, check_password, code_format, code_or_password, code_refused, own_phone,
};
use crate::ApiState;
use crate::auth::Me;
use crate::db;
use crate::extract::parse_body;
use crate::identity::code::is_code_shaped;
use crate::identity::store::{self, Account, AttemptKind, CodeCheck};
use crate::identity::{Purpose, ip_bucket, password};
use crate::mask::mask_phone;
use crate::openapi::{BadRequest, PayloadTooLarge, Problem, Unauthorized, UnsupportedMediaType};
use crate::problem::{ApiError, FieldProblem};

/// An account as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Profile {
    /// The account's id.
    id: Uuid,
    /// `applicant` (staff accounts do not sign in here).
    kind: String,
    /// The real name, once real-name verification gave one.
    name: Option<String>,
    /// Masked (`186****8621`).
    phone: Option<String>,
    /// Whether a login password is set.
    has_password: bool,
    /// When the account was registered.
    created_at: DateTime<Utc>,
}

impl From<&Account> for Profile {
    fn from(a: &Account) -> Self {
        Profile {
            id: a.id,
            kind: a.kind.clone(),
            name: Some(a.name.trim().to_owned()).filter(|n| !n.is_empty()),
            phone: a.phone.as_deref().map(mask_phone),
            has_password: a.password_hash.is_some(),
            created_at: a.created_at,
        }
    }
}

/// `GET /api/v1/me`.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "me",
    operation_id = "get_profile",
    summary = "The signed-in applicant's account",
    responses(
        (status = 200, description = "The account", body = Profile),
        (status = 401, response = Unauthorized),
    ),
)]
pub(crate) async fn profile(me: Me) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Profile::from(&me.account)))
}

/// A new password, proven by exactly one of `code` and `current_password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordBody {
    /// The new password (8–64 characters; see the problem codes `password_too_short`,
    /// `password_too_long`, `password_bad_characters`, `password_too_weak`).
    new_password: Option<String>,
    /// A fresh SMS code of purpose `set_password` (forgot password, first password).
    #[schema(example = "123456")]
    code: Option<String>,
    /// The current password.
    current_password: Option<String>,
}

enum Proof {
    Code(String),
    Current(String),
}

impl PasswordBody {
    fn check(self) -> Result<(String, Proof), ApiError> {
        let mut errors = Vec::new();
        match self.new_password.as_deref() {
            None => errors.push(FieldProblem::new(
                "new_password",
                "required",
                "请输入新密码",
                "new_password is required",
            )),
            Some(p) => {
                if let Err(e) = password::check_rules("new_password", p) {
                    errors.push(e);
                }
            }
        }
        let proof = match (self.code, self.current_password) {
            (Some(code), None) => {
                let code = code.trim().to_owned();
                if !is_code_shaped(&code) {
                    errors.push(code_format());
                }
                Some(Proof::Code(code))
            }
            (None, Some(current)) => Some(Proof::Current(current)),
            _ => {
                errors.extend(code_or_password(["code", "current_password"]));
                None
            }
        };
        match (self.new_password, proof) {
            (Some(new), Some(proof)) if errors.is_empty() => Ok((new, proof)),
            _ => Err(ApiError::invalid(errors)),
        }
    }
}

/// `PUT /api/v1/me/password` `{new_password, code}` or `{new_password, current_password}`: 204.
#[utoipa::path(
    put,
    path = "/api/v1/me/password",
    tag = "me",
    operation_id = "set_password",
    summary = "Set or reset the login password (设置/重置登录密码)",
    request_body = PasswordBody,
    responses(
        (status = 204, description = "The password is set"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "`staff_account`",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`phone_required`: the account has no phone",
            body = Problem, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`invalid_input` (password rules, code format), \
            `code_invalid`, `code_expired`, `code_voided` or `credentials_invalid`",
            body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited` or `password_locked`; `Retry-After` says \
            when to retry",
            body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
)]
pub(crate) async fn set_password(
    state: web::Data<ApiState>,
    me: Me,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body: PasswordBody = parse_body(body.into_inner())?;
    let (new_password, proof) = body.check()?;
    let runtime = &state.runtime;
    let identity = &state.identity;
    let now = runtime.clock().now();
    let account = me.account;
    let phone = own_phone(&account)?;
    let ip = ip_bucket(req.peer_addr().map(|a| a.ip()));
    let kind = match proof {
        Proof::Code(_) => AttemptKind::Code,
        Proof::Current(_) => AttemptKind::Password,
    };
    let attempt = begin_attempt(runtime, identity, &ip, &phone, kind, now).await?;
    let new_hash = web::block(move || password::hash(&new_password))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let store_it = async |conn: &mut diesel_async::AsyncPgConnection| {
        store::set_password_hash(conn, account.id, &new_hash).await?;
        store::reset_password_failures(conn, phone.as_str()).await?;
        store::attempt_succeeded(conn, attempt).await
    };
    match proof {
        Proof::Code(code) => {
            let key = identity.key();
            let max_tries = identity.limits().max_code_tries;
            let mut conn = db::conn(runtime).await?;
            let check = conn
                .transaction::<_, diesel::result::Error, _>(async |conn| {
                    let check = store::check_code(
                        conn,
                        key,
                        Purpose::SetPassword,
                        phone.as_str(),
                        &code,
                        now,
                        max_tries,
                    )
                    .await?;
                    if check == CodeCheck::Accepted {
                        store_it(conn).await?;
                    }
                    Ok(check)
                })
                .await?;
            if check != CodeCheck::Accepted {
                return Err(code_refused("code", check, &phone));
            }
        }
        Proof::Current(current) => {
            check_password(
                runtime,
                identity,
                &phone,
                "current_password",
                current,
                account.password_hash.clone(),
                now,
            )
            .await?;
            let mut conn = db::conn(runtime).await?;
            conn.transaction::<_, diesel::result::Error, _>(async |conn| store_it(conn).await)
                .await?;
        }
    }
    tracing::info!(user.id = %account.id, phone = %phone.mask(), "login password set");
    Ok(HttpResponse::NoContent().finish())
}
