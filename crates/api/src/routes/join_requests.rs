//! Join requests — 加入企业 (SPEC §2; 新点标证通 4.3.2, 中标一证通 6/12, 网证通 2.3.2,
//! 数信签 5.2).
//!
//! Submitting runs every check that needs the database before the workflow starts, each
//! answering its own problem and changing nothing (except the verify-admin counter, whose
//! whole point is to count): the form, the enterprise, its admins, the caller's memberships
//! and open requests, then the admin's name and phone digits. Reading, deciding and
//! withdrawing answer 404 to anyone who is neither the requester nor an admin or the legal
//! representative of the enterprise, so an id reveals nothing.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use certdesk_engine::Definition;
use certdesk_engine::StepError;
use certdesk_runtime::{Command, RuntimeError};
use chrono::{DateTime, FixedOffset, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::enterprises::enterprise_not_found;
use crate::db::{self, JOIN_REQUEST};
use crate::extract::parse_body;
use crate::mask::{mask_form, mask_phone};
use crate::openapi::{BadRequest, PayloadTooLarge, Problem, Unauthorized, UnsupportedMediaType};
use crate::page::{self, PageQuery, StateListQuery, page_type};
use crate::problem::{ApiError, FieldProblem};
use crate::{ApiState, Caller};

/// Wrong verify-admin tries that lock the (caller, enterprise) pair (SPEC §2).
const MAX_ADMIN_CHECK_FAILURES: i32 = 5;
/// How long the pair stays locked.
const ADMIN_CHECK_LOCK: TimeDelta = TimeDelta::hours(24);

/// Beijing time, for dates the applicant typed and times shown in messages (no DST in China).
const BEIJING: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

// ---- submit --------------------------------------------------------------------------------

/// The body of `POST /api/v1/join-requests`. `order_id` is not here: the API creates orders.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmitBody {
    /// The enterprise to join (required).
    enterprise_id: Option<Uuid>,
    /// `verify_admin` (name and phone digits of an admin) or `reason` (required).
    #[schema(example = "verify_admin")]
    mode: Option<String>,
    /// An admin's name (`verify_admin`).
    admin_name: Option<String>,
    /// The last four digits of that admin's phone (`verify_admin`).
    #[schema(example = "8621")]
    admin_phone_last4: Option<String>,
    /// Why the caller should be let in (`reason`).
    reason: Option<String>,
    /// Whether the caller asks to use the enterprise's seal.
    seal_use: Option<bool>,
    /// Until when (`YYYY-MM-DD`, Beijing date, not in the past), with `seal_use`.
    #[schema(example = "2027-12-31")]
    seal_use_until: Option<String>,
    /// A certificate package to buy with it (none is on sale yet: always refused).
    package_id: Option<Uuid>,
}

impl SubmitBody {
    /// The workflow's form input.
    fn form_input(&self) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.to_owned(), v);
            }
        };
        put(
            "enterprise_id",
            self.enterprise_id.map(|id| Value::String(id.to_string())),
        );
        put("mode", self.mode.clone().map(Value::String));
        put("admin_name", self.admin_name.clone().map(Value::String));
        put(
            "admin_phone_last4",
            self.admin_phone_last4.clone().map(Value::String),
        );
        put("reason", self.reason.clone().map(Value::String));
        put("seal_use", self.seal_use.map(Value::Bool));
        put(
            "seal_use_until",
            self.seal_use_until.clone().map(Value::String),
        );
        Value::Object(m)
    }
}

/// A join request just submitted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Submitted {
    /// The request's id.
    pub(crate) id: Uuid,
    /// Its state (`admin_review`, …).
    pub(crate) state: String,
    /// When it was submitted.
    pub(crate) created_at: DateTime<Utc>,
}

/// `POST /api/v1/join-requests`.
#[utoipa::path(
    post,
    path = "/api/v1/join-requests",
    tag = "join-requests",
    operation_id = "submit_join_request",
    summary = "Ask to join an enterprise (申请加入企业)",
    request_body = SubmitBody,
    responses(
        (status = 201, description = "Submitted; it waits for an admin's decision",
            body = Submitted,
            headers(("Location" = String, description = "The new join request"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, description = "`enterprise_not_found`",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`enterprise_deregistered`, `enterprise_has_no_admin` \
            (`hint`: `claim_enterprise`), `already_member` or `join_request_open` \
            (`join_request_id`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`invalid_input` (the form) or `admin_check_failed` \
            (`remaining_attempts`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`admin_check_locked` (`locked_until`): too many wrong \
            admin details for this enterprise; `Retry-After` says when to retry",
            body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
)]
pub(crate) async fn submit(
    state: web::Data<ApiState>,
    caller: Caller,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body: SubmitBody = parse_body(body.into_inner())?;
    let runtime = &state.runtime;
    let def = definition(&state)?;
    let now = runtime.clock().now();
    let input = body.form_input();

    // The form first: nothing else is worth checking while it is wrong.
    let mut errors: Vec<FieldProblem> = match def.form.check(&input, &|_| None) {
        Ok(_) => Vec::new(),
        Err(fields) => fields.into_iter().map(FieldProblem::from).collect(),
    };
    if body.package_id.is_some() {
        // No package is on sale through this API yet: an order must exist before a package
        // can be part of a join request (the definition routes on `order_id`).
        errors.push(FieldProblem::new(
            "package_id",
            "package_not_found",
            "所选套餐不存在或暂不可购买",
            "no such package is on sale",
        ));
    }
    if let Some(until) = body
        .seal_use_until
        .as_deref()
        .and_then(|s| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok())
        && until < now.with_timezone(&BEIJING).date_naive()
    {
        errors.push(FieldProblem::new(
            "seal_use_until",
            "date_in_past",
            "用章权限有效期不能早于今天",
            "seal_use_until must not be in the past",
        ));
    }
    let (Some(enterprise_id), Some(mode)) = (body.enterprise_id, body.mode.as_deref()) else {
        // The form requires both, so this only adds to errors already found.
        return Err(ApiError::invalid(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }

    let mut conn = db::conn(runtime).await?;
    // Status, whether it has an admin and whether the caller belongs: one query.
    let standing = db::join_standing(&mut conn, enterprise_id, caller.user_id)
        .await?
        .ok_or_else(enterprise_not_found)?;
    if standing.status != "active" {
        return Err(ApiError::conflict(
            "enterprise_deregistered",
            "Enterprise deregistered",
            "该企业已注销，无法申请加入",
            "this enterprise has been deregistered",
        ));
    }
    if !standing.has_admin {
        return Err(ApiError::conflict(
            "enterprise_has_no_admin",
            "Enterprise has no admin",
            "该企业尚无管理员，无人可以审核加入申请。如您代表该企业办理业务，请先认领企业（认领成功后您将成为企业管理员）。",
            "this enterprise has no administrator to approve a join request; if you act for it, claim the enterprise first (you become its administrator)",
        )
        .with_extension("hint", "claim_enterprise"));
    }
    if standing.is_member {
        return Err(ApiError::conflict(
            "already_member",
            "Already a member",
            "您已是该企业成员，无需再次申请",
            "you already belong to this enterprise",
        ));
    }
    if mode == "verify_admin" {
        // An open request is refused before the admin check, so it costs no try. (In reason
        // mode the unique index refuses it at the start below, which saves the query.)
        if let Some(open) = db::open_join_request(&mut conn, caller.user_id, enterprise_id).await? {
            return Err(join_request_open(open));
        }
        let admins = db::admins(&mut conn, enterprise_id).await?;
        let name = body.admin_name.as_deref().unwrap_or_default().trim();
        let digits = body.admin_phone_last4.as_deref().unwrap_or_default().trim();
        verify_admin(
            &mut conn,
            caller.user_id,
            enterprise_id,
            &admins,
            name,
            digits,
            now,
        )
        .await?;
    }
    // The runtime takes its own connection: never hold two per request, or a full pool
    // waits on itself.
    drop(conn);

    let started = match runtime
        .start(JOIN_REQUEST, caller.user_id, Some(enterprise_id), &input)
        .await
    {
        Ok(started) => started,
        // One is open already (or a simultaneous submission won the unique index).
        Err(RuntimeError::AlreadyOpen) => {
            let mut conn = db::conn(runtime).await?;
            let open = db::open_join_request(&mut conn, caller.user_id, enterprise_id)
                .await?
                .unwrap_or_default();
            return Err(join_request_open(open));
        }
        Err(e) => return Err(e.into()),
    };
    let location = format!("/api/v1/join-requests/{}", started.instance_id);
    tracing::info!(
        instance.id = %started.instance_id,
        enterprise.id = %enterprise_id,
        user.id = %caller.user_id,
        "join request submitted"
    );
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(Submitted {
            id: started.instance_id,
            state: started.state,
            created_at: started.created_at,
        }))
}

/// 409 `join_request_open`, naming the open request.
fn join_request_open(open: Uuid) -> ApiError {
    ApiError::conflict(
        "join_request_open",
        "Join request already open",
        "您已提交过加入该企业的申请，请等待管理员审核或先撤回",
        "you already have an open request to join this enterprise; wait for it or withdraw it",
    )
    .with_extension("join_request_id", open.to_string())
}

/// Verify-admin mode: the name must be an admin's and the digits the last four of that
/// admin's phone. Five wrong tries lock the (caller, enterprise) pair for 24 hours.
async fn verify_admin(
    conn: &mut diesel_async::AsyncPgConnection,
    caller: Uuid,
    enterprise: Uuid,
    admins: &[db::Admin],
    name: &str,
    digits: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if let Some(until) = db::locked_until(conn, caller, enterprise, now).await? {
        return Err(admin_check_locked(until, now));
    }
    let matches = admins
        .iter()
        .any(|a| a.name.trim() == name && a.phone.as_deref().is_some_and(|p| last4(p) == digits));
    if matches {
        db::reset_failures(conn, caller, enterprise).await?;
        return Ok(());
    }
    let lock_until = now
        .checked_add_signed(ADMIN_CHECK_LOCK)
        .ok_or_else(|| ApiError::internal("lock time out of range"))?;
    let attempts = db::record_failure(
        conn,
        caller,
        enterprise,
        now,
        MAX_ADMIN_CHECK_FAILURES,
        lock_until,
    )
    .await?;
    tracing::info!(
        enterprise.id = %enterprise,
        user.id = %caller,
        admin_check.failures = attempts.failures,
        "verify-admin mismatch"
    );
    match attempts.locked_until {
        Some(until) if until > now => Err(admin_check_locked(until, now)),
        _ => {
            let left = (MAX_ADMIN_CHECK_FAILURES - attempts.failures).max(0);
            let zh = format!("管理员姓名或手机号后四位不正确，还可尝试 {left} 次");
            let en = format!(
                "the admin's name or the last 4 digits of the admin's phone do not match; {left} tries left"
            );
            // Both fields carry the error: which one was wrong is not told.
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "admin_check_failed",
                "Admin details do not match",
                zh.clone(),
                en.clone(),
            )
            .with_errors([
                FieldProblem::new("admin_name", "admin_check_failed", zh.clone(), en.clone()),
                FieldProblem::new("admin_phone_last4", "admin_check_failed", zh, en),
            ])
            .with_extension("remaining_attempts", left))
        }
    }
}

/// The last four digits of a stored phone number.
fn last4(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(4)..].iter().collect()
}

fn admin_check_locked(until: DateTime<Utc>, now: DateTime<Utc>) -> ApiError {
    let shown = until.with_timezone(&BEIJING).format("%Y-%m-%d %H:%M");
    let retry_after = (until - now).num_seconds().max(1);
    let mut err = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "admin_check_locked",
        "Admin verification locked",
        format!(
            "管理员信息验证错误次数过多，已锁定至 {shown}（北京时间），届时可再试；也可改为填写申请理由提交"
        ),
        format!(
            "too many wrong tries: verifying the admin for this enterprise is locked until {} (you may apply with a reason instead)",
            until.to_rfc3339()
        ),
    )
    .with_extension("locked_until", until.to_rfc3339());
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        err = err.with_header(header::RETRY_AFTER, v);
    }
    err
}

// ---- read ----------------------------------------------------------------------------------

/// An enterprise, briefly.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EnterpriseRef {
    /// Its id.
    pub(crate) id: Uuid,
    /// Its name.
    pub(crate) name: String,
}

/// A person, briefly.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Person {
    /// The user's id.
    pub(crate) id: Uuid,
    /// The real name (empty before real-name verification).
    pub(crate) name: String,
    /// Masked (`186****8621`).
    pub(crate) phone: Option<String>,
}

/// Something that happened to a request.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HistoryItem {
    /// What happened (`started`, `decided`, `withdrawn`, …).
    pub(crate) event: String,
    /// When.
    pub(crate) at: DateTime<Utc>,
    /// The state it led to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) state: Option<String>,
    /// A decision's outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) outcome: Option<String>,
    /// A decision's reason code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// A decision's comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) comment: Option<String>,
}

impl From<db::HistoryEntry> for HistoryItem {
    fn from(h: db::HistoryEntry) -> Self {
        let text = |k: &str| h.payload.get(k).and_then(Value::as_str).map(str::to_owned);
        HistoryItem {
            state: text("to"),
            outcome: text("outcome"),
            reason: text("reason"),
            comment: text("comment"),
            event: h.event,
            at: h.at,
        }
    }
}

/// A join request as its requester and the enterprise's reviewers see it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JoinRequestView {
    /// Its id.
    id: Uuid,
    /// The enterprise to join.
    enterprise: Option<EnterpriseRef>,
    /// Who asked.
    requester: Option<Person>,
    /// The workflow state (`admin_review`, `approved`, …).
    state: String,
    /// The state's title, for display.
    state_title: Option<String>,
    /// `running`, `completed`, … of the workflow instance.
    status: String,
    /// When it was submitted.
    created_at: DateTime<Utc>,
    /// When it last changed.
    updated_at: DateTime<Utc>,
    /// The open review task, while the request waits for a decision.
    task_id: Option<Uuid>,
    /// The form as submitted, phones and identity numbers masked.
    #[schema(value_type = Object)]
    form: Value,
    /// What happened to it, oldest first.
    history: Vec<HistoryItem>,
}

/// `GET /api/v1/join-requests/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/join-requests/{id}",
    tag = "join-requests",
    operation_id = "get_join_request",
    summary = "A join request, for its requester or the enterprise's reviewers",
    params(("id" = Uuid, Path, description = "The join request's id")),
    responses(
        (status = 200, description = "The request", body = JoinRequestView),
        (status = 401, response = Unauthorized),
        (status = 404, description = "`join_request_not_found`: no such request, or the caller \
            may not see it",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn detail(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<web::Json<JoinRequestView>, ApiError> {
    let def = definition(&state)?;
    let mut conn = db::conn(&state.runtime).await?;
    let request = visible(&mut conn, path.into_inner(), caller).await?;
    let enterprise = match request.subject_id {
        Some(id) => db::enterprise(&mut conn, id).await?.map(|e| EnterpriseRef {
            id: e.id,
            name: e.name,
        }),
        None => None,
    };
    let requester = db::user_name_phone(&mut conn, request.requester)
        .await?
        .map(|(name, phone)| Person {
            id: request.requester,
            name,
            phone: phone.as_deref().map(mask_phone),
        });
    let task_id = db::open_task(&mut conn, request.id).await?;
    let history = db::history(&mut conn, request.id)
        .await?
        .into_iter()
        .map(HistoryItem::from)
        .collect();
    Ok(web::Json(JoinRequestView {
        id: request.id,
        enterprise,
        requester,
        state_title: state_title(def, &request.state),
        state: request.state,
        status: request.status,
        created_at: request.created_at,
        updated_at: request.updated_at,
        task_id,
        form: mask_form(&def.form, &request.data),
        history,
    }))
}

/// A join request in an enterprise's review list.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ListItem {
    /// Its id.
    id: Uuid,
    /// Who asked.
    requester: Person,
    /// The workflow state.
    state: String,
    /// The state's title, for display.
    state_title: Option<String>,
    /// `running`, `completed`, … of the workflow instance.
    status: String,
    /// When it was submitted.
    created_at: DateTime<Utc>,
    /// The open review task to decide, if any.
    task_id: Option<Uuid>,
    /// The form as submitted, phones and identity numbers masked.
    #[schema(value_type = Object)]
    form: Value,
}

page_type!(
    /// A page of an enterprise's join requests, newest first.
    JoinRequestPage,
    ListItem
);

/// The cursor tag of an enterprise's review list.
const REVIEW_LIST: &str = "enterprise_join_requests";
/// The cursor tag of the caller's own list.
const OWN_LIST: &str = "own_join_requests";

/// `GET /api/v1/enterprises/{id}/join-requests?state=admin_review&limit=50`: the review list
/// of an enterprise's admins and legal representative, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/enterprises/{id}/join-requests",
    tag = "enterprises",
    operation_id = "list_enterprise_join_requests",
    summary = "An enterprise's join requests, for its admins and legal representative",
    params(("id" = Uuid, Path, description = "The enterprise's id"), StateListQuery),
    responses(
        (status = 200, description = "Newest first", body = JoinRequestPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, description = "`enterprise_not_found`: no such enterprise, or the caller \
            does not review its requests",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_input`: an unknown `state`, a `limit` out of \
            range, a `cursor` that is not this list's",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn list_for_enterprise(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<Uuid>,
    query: web::Query<StateListQuery>,
) -> Result<web::Json<JoinRequestPage>, ApiError> {
    let def = definition(&state)?;
    let enterprise = path.into_inner();
    let mut conn = db::conn(&state.runtime).await?;
    if !db::is_reviewer(&mut conn, enterprise, caller.user_id).await? {
        return Err(enterprise_not_found());
    }
    let (wanted, page) = query.into_inner().check(def, REVIEW_LIST)?;
    let rows =
        db::enterprise_join_requests(&mut conn, enterprise, wanted.as_deref(), &page).await?;
    let (rows, next_cursor) = page::cut(REVIEW_LIST, rows, page.limit, |row| {
        (row.request.created_at, row.request.id)
    });
    Ok(web::Json(JoinRequestPage {
        items: rows
            .into_iter()
            .map(|row| ListItem {
                id: row.request.id,
                requester: Person {
                    id: row.request.requester,
                    name: row.requester_name,
                    phone: row.requester_phone.as_deref().map(mask_phone),
                },
                state_title: state_title(def, &row.request.state),
                form: mask_form(&def.form, &row.request.data),
                state: row.request.state,
                status: row.request.status,
                created_at: row.request.created_at,
                task_id: row.task_id,
            })
            .collect(),
        next_cursor,
    }))
}

/// A join request in its requester's own list.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OwnItem {
    /// Its id.
    id: Uuid,
    /// The enterprise asked to join.
    enterprise_id: Option<Uuid>,
    /// That enterprise's name.
    enterprise_name: Option<String>,
    /// The workflow state.
    state: String,
    /// The state's title, for display.
    state_title: Option<String>,
    /// `running`, `completed`, … of the workflow instance.
    status: String,
    /// When it was submitted.
    created_at: DateTime<Utc>,
    /// When it last changed.
    updated_at: DateTime<Utc>,
}

page_type!(
    /// A page of the caller's own join requests, newest first.
    OwnJoinRequestPage,
    OwnItem
);

/// `GET /api/v1/join-requests`: the caller's own join requests (我的申请), newest first.
#[utoipa::path(
    get,
    path = "/api/v1/join-requests",
    tag = "join-requests",
    operation_id = "list_own_join_requests",
    summary = "The caller's own join requests (我的申请)",
    params(PageQuery),
    responses(
        (status = 200, description = "Newest first", body = OwnJoinRequestPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 422, description = "`invalid_input`: a `limit` out of range, a `cursor` \
            that is not this list's",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn list_own(
    state: web::Data<ApiState>,
    caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<web::Json<OwnJoinRequestPage>, ApiError> {
    let def = definition(&state)?;
    let mut errors = Vec::new();
    let page = query.into_inner().check(OWN_LIST, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let mut conn = db::conn(&state.runtime).await?;
    let rows = db::own_join_requests(&mut conn, caller.user_id, &page).await?;
    let (rows, next_cursor) = page::cut(OWN_LIST, rows, page.limit, |row| {
        (row.request.created_at, row.request.id)
    });
    Ok(web::Json(OwnJoinRequestPage {
        items: rows
            .into_iter()
            .map(|row| OwnItem {
                id: row.request.id,
                enterprise_id: row.request.subject_id,
                enterprise_name: row.enterprise_name,
                state_title: state_title(def, &row.request.state),
                state: row.request.state,
                status: row.request.status,
                created_at: row.request.created_at,
                updated_at: row.request.updated_at,
            })
            .collect(),
        next_cursor,
    }))
}

// ---- decide and withdraw -------------------------------------------------------------------

/// An admin's decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionBody {
    /// `approve` or `reject` (required).
    #[schema(example = "approve")]
    pub(crate) outcome: Option<String>,
    /// A reason code from the workflow's list (required to reject).
    pub(crate) reason: Option<String>,
    /// A comment for the requester.
    pub(crate) comment: Option<String>,
}

/// Where a request stands after a decision or a withdrawal.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Decided {
    /// The request's id.
    pub(crate) id: Uuid,
    /// Its workflow state now.
    pub(crate) state: String,
    /// `running`, `completed`, … of the workflow instance.
    pub(crate) status: String,
}

/// `POST /api/v1/join-requests/{id}/decision`: an admin (or the legal representative)
/// approves or rejects. Of two deciding at once, one gets 200 and the other 409.
#[utoipa::path(
    post,
    path = "/api/v1/join-requests/{id}/decision",
    tag = "join-requests",
    operation_id = "decide_join_request",
    summary = "Approve or reject a join request (审核)",
    params(("id" = Uuid, Path, description = "The join request's id")),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "Decided", body = Decided),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "`self_decision` (one's own request) or `not_assignee`",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`join_request_not_found`: no such request, or the caller \
            may not see it",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`task_not_open`: already decided, withdrawn or closed",
            body = Problem, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`invalid_input` (outcome), `unknown_outcome`, \
            `reason_required`, `unknown_reason`, `comment_required`, `comment_too_long`",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn decide(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<Uuid>,
    body: web::Json<Value>,
) -> Result<web::Json<Decided>, ApiError> {
    let body: DecisionBody = parse_body(body.into_inner())?;
    let Some(outcome) = body
        .outcome
        .map(|o| o.trim().to_owned())
        .filter(|o| !o.is_empty())
    else {
        return Err(ApiError::invalid([FieldProblem::new(
            "outcome",
            "required",
            "请选择审批结果（同意或拒绝）",
            "outcome is required: approve or reject",
        )]));
    };
    let runtime = &state.runtime;
    let mut conn = db::conn(runtime).await?;
    let request = visible(&mut conn, path.into_inner(), caller).await?;
    let Some(task_id) = db::open_task(&mut conn, request.id).await? else {
        return Err(task_not_open());
    };
    drop(conn);
    let command = Command::Decide {
        task_id,
        actor: caller.user_id,
        outcome,
        reason: body.reason.filter(|s| !s.trim().is_empty()),
        comment: body.comment.filter(|s| !s.trim().is_empty()),
    };
    match runtime.command(request.id, command).await {
        Ok(_) => outcome_of(&state, request.id).await,
        // Another decider got there between our read of the task and the runtime's lock.
        // The engine then says "finished" or "not accepted" rather than "task not open"
        // depending on where the other decision led; to this caller they all mean the same.
        Err(RuntimeError::Step(
            StepError::Finished | StepError::NotAccepted { .. } | StepError::Stale(_),
        )) => Err(task_not_open()),
        Err(e) => Err(e.into()),
    }
}

/// `POST /api/v1/join-requests/{id}/withdraw`: the requester takes the request back.
#[utoipa::path(
    post,
    path = "/api/v1/join-requests/{id}/withdraw",
    tag = "join-requests",
    operation_id = "withdraw_join_request",
    summary = "Withdraw one's own join request (撤回)",
    params(("id" = Uuid, Path, description = "The join request's id")),
    responses(
        (status = 200, description = "Withdrawn", body = Decided),
        (status = 401, response = Unauthorized),
        (status = 403, description = "`not_requester`: only the requester may withdraw",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`join_request_not_found`: no such request, or the caller \
            may not see it",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`finished`, `not_accepted`, …: the request can no longer \
            be withdrawn",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn withdraw(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<web::Json<Decided>, ApiError> {
    let runtime = &state.runtime;
    let mut conn = db::conn(runtime).await?;
    let request = visible(&mut conn, path.into_inner(), caller).await?;
    drop(conn);
    runtime
        .command(
            request.id,
            Command::Withdraw {
                actor: caller.user_id,
            },
        )
        .await?;
    outcome_of(&state, request.id).await
}

async fn outcome_of(state: &ApiState, id: Uuid) -> Result<web::Json<Decided>, ApiError> {
    let mut conn = db::conn(&state.runtime).await?;
    let (state, status) = db::state_and_status(&mut conn, id).await?;
    Ok(web::Json(Decided { id, state, status }))
}

// ---- shared --------------------------------------------------------------------------------

fn definition(state: &ApiState) -> Result<&Definition, ApiError> {
    state
        .runtime
        .definition(JOIN_REQUEST)
        .map(AsRef::as_ref)
        .ok_or_else(|| ApiError::internal("the join_request definition is not loaded"))
}

pub(crate) fn state_title(def: &Definition, state: &str) -> Option<String> {
    def.state_id(state).map(|id| def.state(id).title.clone())
}

/// The request no longer waits for a decision (the engine's `task_not_open`).
pub(crate) fn task_not_open() -> ApiError {
    ApiError::from(RuntimeError::Step(StepError::TaskNotOpen { task: 0 }))
}

fn join_request_not_found() -> ApiError {
    ApiError::not_found(
        "join_request_not_found",
        "申请不存在",
        "no such join request",
    )
}

/// The join request if the caller is its requester or may review it; 404 otherwise, exactly
/// as if it did not exist.
async fn visible(
    conn: &mut diesel_async::AsyncPgConnection,
    id: Uuid,
    caller: Caller,
) -> Result<db::JoinRequest, ApiError> {
    let request = db::join_request(conn, id)
        .await?
        .ok_or_else(join_request_not_found)?;
    if request.requester == caller.user_id {
        return Ok(request);
    }
    if let Some(enterprise) = request.subject_id
        && db::is_reviewer(conn, enterprise, caller.user_id).await?
    {
        return Ok(request);
    }
    Err(join_request_not_found())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_four_digits_ignore_formatting() {
        assert_eq!(last4("18600008621"), "8621");
        assert_eq!(last4("+86 186-0000-8621"), "8621");
        assert_eq!(last4("12"), "12");
    }
}
