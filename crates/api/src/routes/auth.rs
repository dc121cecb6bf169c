//! Logging in and out — 注册/登录 (新点标证通 4.1.2–4.1.3, 网证通 2.2.1, 数信签 3,
//! 掌上信手书 3.2.2).
//!
//! `POST /auth/sms-codes` sends a code; `POST /auth/sessions` trades a code or a password for a
//! bearer token, registering an unknown phone on its first SMS login ("未注册的手机号将自动注册
//! 并登录"); `GET /auth/tokens` and `DELETE /auth/tokens/{id}` let an applicant see and end their
//! sessions; `DELETE /auth/session` logs out. The rules and why they are safe under concurrency
//! are in [`crate::identity`].
//!
//! Nothing here tells whether a phone has an account: a code is sent either way, and a wrong
//! password for an unknown phone answers (and locks, and takes as long) exactly like one for a
//! known phone. Wrong credentials answer 422 with field errors, so 401 keeps meaning "your
//! token is no good" to the apps.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use certdesk_domain::ident::Phone;
use chrono::{DateTime, FixedOffset, SubsecRound as _, Utc};
use diesel_async::AsyncConnection as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::me::Profile;
use crate::auth::Me;
use crate::auth::new_token;
use crate::db;
use crate::extract::parse_body;
use crate::identity::code::{generate_code, is_code_shaped, sms_text};
use crate::identity::store::{
    self, Account, Attempt, AttemptKind, CodeCheck, NewCode, PasswordTry, Requested,
};
use crate::identity::{Identity, Purpose, beijing_day, ip_bucket, password};
use crate::openapi::{BadRequest, PayloadTooLarge, Problem, Unauthorized, UnsupportedMediaType};
use crate::page::{self, PageQuery, page_type};
use crate::problem::{ApiError, FieldProblem};
use crate::{ApiState, Caller};

/// Longest device label.
const DEVICE_MAX_CHARS: usize = 64;

/// Beijing time, for the times shown in messages.
const BEIJING: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

// ---- POST /auth/sms-codes ------------------------------------------------------------------

/// Asks for an SMS code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CodeRequestBody {
    /// Mainland mobile number (`18600008621`, `+86 186 0000 8621`). Required for `login`; for
    /// `set_password` the code goes to the account's own phone, and a phone given must be it.
    #[schema(example = "18600008621")]
    phone: Option<String>,
    /// `login` (the default) or `set_password`.
    #[schema(example = "login")]
    purpose: Option<String>,
}

/// A code is on its way.
#[derive(Debug, Serialize, ToSchema)]
struct CodeSent {
    /// Masked (`186****8621`).
    phone: String,
    /// `login` or `set_password`.
    purpose: &'static str,
    /// How long the code is valid.
    expires_in_secs: i64,
    /// How long until this phone may ask for another code.
    resend_after_secs: i64,
}

/// `POST /api/v1/auth/sms-codes` `{phone, purpose}`: 202 once the gateway took the message.
///
/// `purpose` is `login` (the default) or `set_password`; the latter needs the applicant's
/// token and goes to their own phone.
#[utoipa::path(
    post,
    path = "/api/v1/auth/sms-codes",
    tag = "auth",
    operation_id = "request_sms_code",
    summary = "Send an SMS code (获取验证码)",
    description = "Sends a 6-digit code valid for 5 minutes. `login` codes go to any phone \
        (whether it has an account is never told); `set_password` codes need the bearer token \
        and go to the account's own phone.",
    security((), ("bearer" = [])),
    request_body = CodeRequestBody,
    responses(
        (status = 202, description = "The gateway took the message", body = CodeSent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "`staff_account`: staff sign in to the admin console",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`phone_required`: the account has no phone to send to",
            body = Problem, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`invalid_input` (phone, purpose, `phone_not_yours`) or \
            `sms_rejected` (the number cannot receive SMS)",
            body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`code_resend_too_soon` or `code_daily_limit` (`scope`: \
            `phone` or `ip`); `Retry-After` and `retry_after_secs` say when to retry",
            body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`sms_unavailable`: the SMS gateway failed; try again",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn request_code(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body: CodeRequestBody = parse_body(body.into_inner())?;
    let purpose = match body.purpose.as_deref().map(str::trim) {
        None => Purpose::Login,
        Some(p) => Purpose::parse(p).ok_or_else(|| {
            ApiError::invalid([FieldProblem::new(
                "purpose",
                "unknown_purpose",
                "验证码用途无效",
                "purpose must be login or set_password",
            )])
        })?,
    };
    let runtime = &state.runtime;
    let phone = match purpose {
        Purpose::Login => parse_phone(body.phone.as_deref())?,
        Purpose::SetPassword => {
            let me = Me::from_request(&req, &mut Payload::None).await?;
            let own = own_phone(&me.account)?;
            if body.phone.is_some() && parse_phone(body.phone.as_deref())? != own {
                return Err(ApiError::invalid([FieldProblem::new(
                    "phone",
                    "phone_not_yours",
                    "只能向本账号绑定的手机号发送验证码",
                    "a code to set the password goes to your own phone only",
                )]));
            }
            own
        }
    };
    let identity = &state.identity;
    let limits = identity.limits();
    let now = runtime.clock().now();
    let ip = ip_bucket(req.peer_addr().map(|a| a.ip()));
    let code = generate_code().map_err(|e| ApiError::internal(e.to_string()))?;
    let id = Uuid::new_v4();
    let new = NewCode {
        id,
        phone: phone.as_str(),
        purpose,
        mac: identity.key().code_mac(purpose, phone.as_str(), &code),
        ip: &ip,
        now,
    };
    let (day_start, next_day) = beijing_day(now);
    let mut conn = db::conn(runtime).await?;
    match store::store_code(&mut conn, &new, limits, day_start).await? {
        Requested::Stored => {}
        Requested::TooSoon { retry_at } => return Err(resend_too_soon(retry_at, now)),
        Requested::PhoneCapReached => {
            tracing::info!(phone = %phone.mask(), "daily code cap of the phone reached");
            return Err(daily_limit("phone", next_day, now));
        }
        Requested::IpCapReached => {
            tracing::info!(client.ip = %ip, "daily code cap of the IP reached");
            return Err(daily_limit("ip", next_day, now));
        }
    }
    // Never hold a pooled connection across a call to the outside world.
    drop(conn);
    let text = sms_text(
        identity.brand(),
        purpose,
        &code,
        limits.code_ttl.num_minutes(),
    );
    // The code's id is the gateway's deduplication key (DECISIONS 7).
    if let Err(e) = identity
        .sms()
        .send(&id.to_string(), phone.as_str(), &text)
        .await
    {
        let mut conn = db::conn(runtime).await?;
        store::void_unsent(&mut conn, id, now).await?;
        tracing::warn!(
            phone = %phone.mask(),
            code.id = %id,
            error = %e,
            "SMS code not sent; voided"
        );
        return Err(if e.is_transient() {
            sms_unavailable()
        } else {
            sms_rejected()
        });
    }
    tracing::info!(
        phone = %phone.mask(),
        code.id = %id,
        code.purpose = purpose.as_str(),
        client.ip = %ip,
        "SMS code sent"
    );
    Ok(HttpResponse::Accepted()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CodeSent {
            phone: phone.mask(),
            purpose: purpose.as_str(),
            expires_in_secs: limits.code_ttl.num_seconds(),
            resend_after_secs: limits.resend_after.num_seconds(),
        }))
}

// ---- POST /auth/sessions -------------------------------------------------------------------

/// Logs in with a phone and exactly one of `code` and `password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionBody {
    /// Mainland mobile number.
    #[schema(example = "18600008621")]
    phone: Option<String>,
    /// The 6-digit SMS code (an unknown phone is registered by its first SMS login).
    #[schema(example = "123456")]
    code: Option<String>,
    /// The login password, once one is set.
    password: Option<String>,
    /// A label for the device, shown in the session list (at most 64 characters).
    #[schema(example = "华为 Mate 60")]
    device: Option<String>,
}

/// How the applicant proves who they are.
enum Credential {
    Code(String),
    Password(String),
}

impl SessionBody {
    fn check(self) -> Result<(Phone, Credential, Option<String>), ApiError> {
        let mut errors = Vec::new();
        let phone = match parse_phone(self.phone.as_deref()) {
            Ok(p) => Some(p),
            Err(e) => {
                errors.extend(e.errors().iter().cloned());
                None
            }
        };
        let credential = match (self.code, self.password) {
            (Some(code), None) => {
                let code = code.trim().to_owned();
                if !is_code_shaped(&code) {
                    errors.push(code_format());
                }
                Some(Credential::Code(code))
            }
            (None, Some(password)) => Some(Credential::Password(password)),
            _ => {
                errors.extend(code_or_password(["code", "password"]));
                None
            }
        };
        let device = match check_device(self.device) {
            Ok(d) => d,
            Err(e) => {
                errors.push(e);
                None
            }
        };
        match (phone, credential) {
            (Some(phone), Some(credential)) if errors.is_empty() => Ok((phone, credential, device)),
            _ => Err(ApiError::invalid(errors)),
        }
    }
}

/// A device label: trimmed, at most [`DEVICE_MAX_CHARS`]; blank is none.
fn check_device(device: Option<String>) -> Result<Option<String>, FieldProblem> {
    let Some(device) = device
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty())
    else {
        return Ok(None);
    };
    if device.chars().count() > DEVICE_MAX_CHARS || device.chars().any(char::is_control) {
        return Err(FieldProblem::new(
            "device",
            "device_invalid",
            format!("设备名称不能超过 {DEVICE_MAX_CHARS} 个字符"),
            format!(
                "device must be at most {DEVICE_MAX_CHARS} characters, without control characters"
            ),
        ));
    }
    Ok(Some(device))
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
struct SessionCreated {
    /// The bearer token (shown once; only its SHA-256 is stored).
    token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// The token's id, to list and revoke it.
    token_id: Uuid,
    /// When the token stops working.
    expires_at: DateTime<Utc>,
    /// True when this login created the account.
    registered: bool,
    user: Profile,
}

/// The outcome of a successful login.
struct SignedIn {
    account: Account,
    token_id: Uuid,
    registered: bool,
}

/// What a login needs besides the credential.
struct Login<'a> {
    identity: &'a Identity,
    phone: &'a Phone,
    attempt: Uuid,
    sha256: [u8; 32],
    device: Option<&'a str>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// `POST /api/v1/auth/sessions` `{phone, code}` or `{phone, password}` (+ `device`): 201 with a
/// bearer token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/sessions",
    tag = "auth",
    operation_id = "create_session",
    summary = "Log in (登录) by SMS code or password",
    security(()),
    request_body = SessionBody,
    responses(
        (status = 201, description = "Signed in", body = SessionCreated),
        (status = 400, response = BadRequest),
        (status = 403, description = "`staff_account`: staff sign in to the admin console",
            body = Problem, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`invalid_input`, `code_invalid` (`remaining_attempts`), \
            `code_expired`, `code_voided` or `credentials_invalid` (`remaining_attempts`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited` (too many failures from this network) or \
            `password_locked` (`locked_until`); `Retry-After` says when to retry",
            body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
)]
pub(crate) async fn create_session(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body: SessionBody = parse_body(body.into_inner())?;
    let (phone, credential, device) = body.check()?;
    let runtime = &state.runtime;
    let identity = &state.identity;
    // PostgreSQL keeps microseconds: the expiry shown is the one stored.
    let now = runtime.clock().now().trunc_subsecs(6);
    let ip = ip_bucket(req.peer_addr().map(|a| a.ip()));
    let kind = match credential {
        Credential::Code(_) => AttemptKind::Code,
        Credential::Password(_) => AttemptKind::Password,
    };
    let attempt = begin_attempt(runtime, identity, &ip, &phone, kind, now).await?;
    let (token, sha256) = new_token().map_err(ApiError::internal)?;
    let login = Login {
        identity,
        phone: &phone,
        attempt,
        sha256,
        device: device.as_deref(),
        now,
        expires_at: now + identity.limits().token_ttl,
    };
    let signed_in = match credential {
        Credential::Code(code) => code_login(runtime, &login, &code).await?,
        Credential::Password(password) => password_login(runtime, &login, password).await?,
    };
    tracing::info!(
        user.id = %signed_in.account.id,
        token.id = %signed_in.token_id,
        phone = %phone.mask(),
        login.kind = match kind { AttemptKind::Code => "sms", AttemptKind::Password => "password" },
        registered = signed_in.registered,
        "signed in"
    );
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(SessionCreated {
            token,
            token_type: "Bearer",
            token_id: signed_in.token_id,
            expires_at: login.expires_at,
            registered: signed_in.registered,
            user: Profile::from(&signed_in.account),
        }))
}

/// Records an attempt against the caller's IP, or answers 429 when the IP is over its limit.
pub(crate) async fn begin_attempt(
    runtime: &certdesk_runtime::Runtime,
    identity: &Identity,
    ip: &str,
    phone: &Phone,
    kind: AttemptKind,
    now: DateTime<Utc>,
) -> Result<Uuid, ApiError> {
    let mut conn = db::conn(runtime).await?;
    match store::begin_attempt(&mut conn, ip, phone.as_str(), kind, now, identity.limits()).await? {
        Attempt::Started(id) => Ok(id),
        Attempt::Limited { retry_at } => {
            tracing::warn!(client.ip = %ip, phone = %phone.mask(), "login attempts of the IP limited");
            Err(rate_limited(retry_at, now))
        }
    }
}

/// Logs in by SMS code: checks and consumes the code, registers an unknown phone and stores
/// the token, all in one transaction.
async fn code_login(
    runtime: &certdesk_runtime::Runtime,
    login: &Login<'_>,
    code: &str,
) -> Result<SignedIn, ApiError> {
    let mut conn = db::conn(runtime).await?;
    let key = login.identity.key();
    let max_tries = login.identity.limits().max_code_tries;
    let phone = login.phone.as_str();
    let outcome = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let check =
                store::check_code(conn, key, Purpose::Login, phone, code, login.now, max_tries)
                    .await?;
            if check != CodeCheck::Accepted {
                return Ok(Err(check));
            }
            store::attempt_succeeded(conn, login.attempt).await?;
            let (account, registered) = store::account_or_register(conn, phone, login.now).await?;
            if !account.is_applicant() {
                return Ok(Ok((account, None, registered)));
            }
            let token_id = db::insert_token(
                conn,
                &login.sha256,
                account.id,
                "sms",
                login.device,
                login.now,
                login.expires_at,
            )
            .await?;
            Ok(Ok((account, Some(token_id), registered)))
        })
        .await?;
    match outcome {
        Err(check) => Err(code_refused("code", check, login.phone)),
        Ok((_, None, _)) => Err(staff_account()),
        Ok((account, Some(token_id), registered)) => Ok(SignedIn {
            account,
            token_id,
            registered,
        }),
    }
}

/// Logs in by password (see [`check_password`]); an unknown phone, a staff phone and a phone
/// without a password verify against a dummy hash and fail like a wrong password.
async fn password_login(
    runtime: &certdesk_runtime::Runtime,
    login: &Login<'_>,
    password: String,
) -> Result<SignedIn, ApiError> {
    let phone = login.phone.as_str();
    let account = {
        let mut conn = db::conn(runtime).await?;
        store::account_by_phone(&mut conn, phone)
            .await?
            .filter(Account::is_applicant)
    };
    let stored = account.as_ref().and_then(|a| a.password_hash.clone());
    check_password(
        runtime,
        login.identity,
        login.phone,
        "password",
        password,
        stored,
        login.now,
    )
    .await?;
    // A right password implies a stored hash, so an account.
    let account = account.ok_or_else(|| ApiError::internal("password matched without account"))?;
    let mut conn = db::conn(runtime).await?;
    let token_id = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            store::reset_password_failures(conn, phone).await?;
            store::attempt_succeeded(conn, login.attempt).await?;
            db::insert_token(
                conn,
                &login.sha256,
                account.id,
                "password",
                login.device,
                login.now,
                login.expires_at,
            )
            .await
        })
        .await?;
    Ok(SignedIn {
        account,
        token_id,
        registered: false,
    })
}

/// Checks `password` against the `stored` hash of `phone`'s account under the phone's lock.
///
/// The try is counted as wrong before the check (a locked phone gets no check at all), so
/// concurrent guesses cannot outrun the lock; a right password must then be followed by
/// [`store::reset_password_failures`] in the caller's transaction. argon2 runs on the blocking
/// pool, and without a stored hash against a dummy one, so every answer takes as long.
pub(crate) async fn check_password(
    runtime: &certdesk_runtime::Runtime,
    identity: &Identity,
    phone: &Phone,
    field: &'static str,
    password: String,
    stored: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let limits = identity.limits();
    let reserved = {
        let mut conn = db::conn(runtime).await?;
        store::reserve_password_try(
            &mut conn,
            phone.as_str(),
            now,
            limits.max_password_failures,
            limits.password_lock,
        )
        .await?
    };
    let (failures, locked_until) = match reserved {
        PasswordTry::Locked { until } => return Err(password_locked(until, now)),
        PasswordTry::Allowed {
            failures,
            locked_until,
        } => (failures, locked_until),
    };
    let right = web::block(move || password::verify(&password, stored.as_deref()))
        .await
        .map_err(ApiError::internal)?;
    if right {
        return Ok(());
    }
    tracing::info!(
        phone = %phone.mask(),
        password.failures = failures,
        "wrong password"
    );
    Err(match locked_until {
        Some(until) if until > now => password_locked(until, now),
        _ => credentials_invalid(field, (limits.max_password_failures - failures).max(0)),
    })
}

// ---- tokens and logout ---------------------------------------------------------------------

/// One live session of the caller.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenView {
    /// The token's id.
    id: Uuid,
    /// How it was issued: `sms`, `password`, or another label for tokens made by tools.
    label: String,
    /// The device label given at login.
    device: Option<String>,
    /// When it was issued.
    created_at: DateTime<Utc>,
    /// When it stops working.
    expires_at: DateTime<Utc>,
    /// When it was last used (to within 5 minutes).
    last_used_at: Option<DateTime<Utc>>,
    /// Whether this request came with it.
    current: bool,
}

page_type!(
    /// A page of the caller's live tokens, newest first.
    TokenPage,
    TokenView
);

/// The cursor tag of the token list.
const TOKEN_LIST: &str = "tokens";

/// `GET /api/v1/auth/tokens`: the caller's live tokens, newest first (never the tokens
/// themselves, which are not stored).
#[utoipa::path(
    get,
    path = "/api/v1/auth/tokens",
    tag = "auth",
    operation_id = "list_tokens",
    summary = "The caller's live sessions (登录设备)",
    params(PageQuery),
    responses(
        (status = 200, description = "Newest first", body = TokenPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 422, description = "`invalid_input`: a `limit` out of range, a `cursor` \
            that is not this list's",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn list_tokens(
    state: web::Data<ApiState>,
    caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let page = query.into_inner().check(TOKEN_LIST, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let now = state.runtime.clock().now();
    let mut conn = db::conn(&state.runtime).await?;
    let rows = db::live_tokens(&mut conn, caller.user_id, now, &page).await?;
    let (rows, next_cursor) = page::cut(TOKEN_LIST, rows, page.limit, |t| (t.created_at, t.id));
    let items: Vec<TokenView> = rows
        .into_iter()
        .map(|t| TokenView {
            current: t.id == caller.token_id,
            id: t.id,
            label: t.label,
            device: t.device,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(TokenPage { items, next_cursor }))
}

/// `DELETE /api/v1/auth/tokens/{id}`: revokes one of the caller's tokens; 404 for any other
/// id, another applicant's token included.
#[utoipa::path(
    delete,
    path = "/api/v1/auth/tokens/{id}",
    tag = "auth",
    operation_id = "revoke_token",
    summary = "End one of the caller's sessions",
    params(("id" = Uuid, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, response = Unauthorized),
        (status = 404, description = "`token_not_found`: no live token of the caller has this \
            id (`not_found` for an id that is not a UUID)",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn revoke_token(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let now = state.runtime.clock().now();
    let mut conn = db::conn(&state.runtime).await?;
    if !db::revoke_token(&mut conn, caller.user_id, id, now).await? {
        return Err(ApiError::not_found(
            "token_not_found",
            "该登录设备不存在或已退出",
            "no such live token",
        ));
    }
    tracing::info!(user.id = %caller.user_id, token.id = %id, "token revoked");
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /api/v1/auth/session`: logs out, revoking the token the request came with.
#[utoipa::path(
    delete,
    path = "/api/v1/auth/session",
    tag = "auth",
    operation_id = "logout",
    summary = "Log out (退出登录)",
    responses(
        (status = 204, description = "The token no longer works"),
        (status = 401, response = Unauthorized),
    ),
)]
pub(crate) async fn logout(
    state: web::Data<ApiState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let now = state.runtime.clock().now();
    let mut conn = db::conn(&state.runtime).await?;
    db::revoke_token(&mut conn, caller.user_id, caller.token_id, now).await?;
    tracing::info!(user.id = %caller.user_id, token.id = %caller.token_id, "logged out");
    Ok(HttpResponse::NoContent().finish())
}

// ---- shared checks -------------------------------------------------------------------------

/// The caller's account (a live token's user always exists: tokens go with their user).
pub(crate) async fn caller_account(
    conn: &mut diesel_async::AsyncPgConnection,
    caller: Caller,
) -> Result<Account, ApiError> {
    store::account(conn, caller.user_id)
        .await?
        .ok_or_else(|| ApiError::internal("a live token's user does not exist"))
}

/// The applicant's own phone, which codes for them go to.
pub(crate) fn own_phone(account: &Account) -> Result<Phone, ApiError> {
    if !account.is_applicant() {
        return Err(staff_account());
    }
    account
        .phone
        .as_deref()
        .and_then(|p| Phone::parse(p).ok())
        .ok_or_else(|| {
            ApiError::conflict(
                "phone_required",
                "No phone on the account",
                "账号未绑定手机号，无法接收验证码",
                "this account has no mobile phone to send a code to",
            )
        })
}

/// A required, valid mainland mobile number.
fn parse_phone(phone: Option<&str>) -> Result<Phone, ApiError> {
    let Some(phone) = phone.filter(|p| !p.trim().is_empty()) else {
        return Err(ApiError::invalid([FieldProblem::new(
            "phone",
            "required",
            "请输入手机号",
            "phone is required",
        )]));
    };
    Phone::parse(phone).map_err(|e| {
        ApiError::invalid([FieldProblem::new(
            "phone",
            e.code,
            e.message_zh,
            e.message_en,
        )])
    })
}

pub(crate) fn code_format() -> FieldProblem {
    FieldProblem::new(
        "code",
        "code_format",
        "验证码为 6 位数字",
        "code must be 6 digits",
    )
}

/// Exactly one of two ways to prove oneself: both fields carry the problem.
pub(crate) fn code_or_password(fields: [&'static str; 2]) -> [FieldProblem; 2] {
    fields.map(|field| {
        FieldProblem::new(
            field,
            "code_or_password",
            "请填写验证码或密码中的一项",
            format!("give exactly one of {} and {}", fields[0], fields[1]),
        )
    })
}

// ---- problems ------------------------------------------------------------------------------

/// Seconds from `now` to `at`, rounded up, at least 1.
fn secs_until(at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let ms = (at - now).num_milliseconds();
    ((ms + 999) / 1000).max(1)
}

/// Adds `Retry-After` and `retry_after_secs`.
fn with_retry_after(err: ApiError, at: DateTime<Utc>, now: DateTime<Utc>) -> ApiError {
    let secs = secs_until(at, now);
    let err = err.with_extension("retry_after_secs", secs);
    match HeaderValue::from_str(&secs.to_string()) {
        Ok(v) => err.with_header(header::RETRY_AFTER, v),
        Err(_) => err,
    }
}

fn resend_too_soon(retry_at: DateTime<Utc>, now: DateTime<Utc>) -> ApiError {
    let secs = secs_until(retry_at, now);
    with_retry_after(
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "code_resend_too_soon",
            "Too soon for a new code",
            format!("验证码已发送，请 {secs} 秒后再重新获取"),
            format!("a code was just sent; ask for a new one in {secs} s"),
        ),
        retry_at,
        now,
    )
}

fn daily_limit(scope: &'static str, next_day: DateTime<Utc>, now: DateTime<Utc>) -> ApiError {
    with_retry_after(
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "code_daily_limit",
            "Daily code limit reached",
            "今日获取验证码次数已达上限，请明天再试",
            "the daily number of codes has been reached; try again tomorrow (Beijing time)",
        )
        .with_extension("scope", scope),
        next_day,
        now,
    )
}

fn rate_limited(retry_at: DateTime<Utc>, now: DateTime<Utc>) -> ApiError {
    let minutes = (secs_until(retry_at, now) + 59) / 60;
    with_retry_after(
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many attempts",
            format!("尝试次数过多，请 {minutes} 分钟后再试"),
            format!("too many failed attempts from your network; try again in {minutes} min"),
        ),
        retry_at,
        now,
    )
}

fn sms_unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "sms_unavailable",
        "SMS unavailable",
        "短信发送失败，请稍后重试",
        "the SMS could not be sent just now; please try again shortly",
    )
}

fn sms_rejected() -> ApiError {
    let zh = "该手机号无法接收短信，请检查号码或更换手机号";
    let en = "this number cannot receive text messages; check it or use another one";
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "sms_rejected",
        "Number cannot receive SMS",
        zh,
        en,
    )
    .with_errors([FieldProblem::new("phone", "phone_unreachable", zh, en)])
}

/// The problem for a code that did not pass; `field` is where the code was entered.
pub(crate) fn code_refused(field: &'static str, check: CodeCheck, phone: &Phone) -> ApiError {
    let (code, title, zh, en): (&'static str, &'static str, String, String) = match check {
        CodeCheck::Wrong { remaining } => (
            "code_invalid",
            "Wrong code",
            format!("验证码错误，还可尝试 {remaining} 次"),
            format!("the code is wrong; {remaining} tries left"),
        ),
        CodeCheck::Missing | CodeCheck::Accepted => (
            "code_invalid",
            "Wrong code",
            "验证码错误或已失效，请重新获取".to_owned(),
            "the code is wrong or no longer valid; ask for a new one".to_owned(),
        ),
        CodeCheck::Expired => (
            "code_expired",
            "Code expired",
            "验证码已过期，请重新获取".to_owned(),
            "the code has expired; ask for a new one".to_owned(),
        ),
        CodeCheck::Voided => (
            "code_voided",
            "Code voided",
            "验证码错误次数过多，已失效，请重新获取".to_owned(),
            "too many wrong tries voided the code; ask for a new one".to_owned(),
        ),
    };
    tracing::info!(phone = %phone.mask(), code.check = code, "code refused");
    let mut err = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        code,
        title,
        zh.clone(),
        en.clone(),
    )
    .with_errors([FieldProblem::new(field, code, zh, en)]);
    if let CodeCheck::Wrong { remaining } = check {
        err = err.with_extension("remaining_attempts", remaining);
    }
    err
}

/// A wrong phone-and-password pair (or wrong current password): the same whether or not the
/// phone has an account.
fn credentials_invalid(field: &'static str, remaining: i32) -> ApiError {
    let zh = format!("手机号或密码错误，还可尝试 {remaining} 次");
    let en = format!("wrong phone number or password; {remaining} tries left");
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "credentials_invalid",
        "Wrong phone or password",
        zh.clone(),
        en.clone(),
    )
    .with_errors([FieldProblem::new(field, "credentials_invalid", zh, en)])
    .with_extension("remaining_attempts", remaining)
}

fn password_locked(until: DateTime<Utc>, now: DateTime<Utc>) -> ApiError {
    let shown = until.with_timezone(&BEIJING).format("%H:%M");
    with_retry_after(
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "password_locked",
            "Password login locked",
            format!("密码错误次数过多，密码登录已锁定至 {shown}（北京时间），可改用短信验证码登录"),
            format!(
                "too many wrong passwords: password login is locked until {}; log in with an SMS code instead",
                until.to_rfc3339()
            ),
        )
        .with_extension("locked_until", until.to_rfc3339()),
        until,
        now,
    )
}

pub(crate) fn staff_account() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "staff_account",
        "Staff account",
        "工作人员账号请通过管理后台登录",
        "staff accounts sign in to the admin console, not the app",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn retry_after_rounds_up() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(secs_until(now + TimeDelta::milliseconds(1), now), 1);
        assert_eq!(secs_until(now + TimeDelta::milliseconds(59_001), now), 60);
        assert_eq!(secs_until(now - TimeDelta::seconds(5), now), 1);
    }

    #[test]
    fn device_labels_are_trimmed_and_bounded() {
        assert_eq!(check_device(None), Ok(None));
        assert_eq!(check_device(Some("  ".into())), Ok(None));
        assert_eq!(
            check_device(Some(" 华为 Mate 60 ".into())),
            Ok(Some("华为 Mate 60".into()))
        );
        assert!(check_device(Some("x".repeat(65))).is_err());
        assert!(check_device(Some("a\u{0}b".into())).is_err());
    }
}
