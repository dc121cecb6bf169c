//! Leave requests — 退出企业 (SPEC §2 "the same admin review list holds … leave requests";
//! 中标一证通 12, 网证通 2.3.2; `workflows/leave_enterprise.toml`).
//!
//! A member asks to leave with an optional reason; any admin or the legal representative of
//! the enterprise decides, never the requester. Submitting refuses, each with its own problem
//! and changing nothing: an outsider (404 `enterprise_not_found`), the legal representative
//! (409 `legal_rep_cannot_leave`), the last admin (409 `last_admin`: hand the role over first)
//! and a second open request (409 `leave_request_open`).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use certdesk_runtime::RuntimeError;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::enterprises::enterprise_not_found;
use super::join_requests::{Decided, Submitted};
use super::member_requests::{self as shared, Chain, LEAVE, MemberRequest, MemberRequestPage};
use crate::db;
use crate::extract::parse_body;
use crate::openapi::{BadRequest, PayloadTooLarge, Problem, Unauthorized, UnsupportedMediaType};
use crate::page::StateListQuery;
use crate::problem::{ApiError, FieldProblem};
use crate::{ApiState, Caller};

/// The leave-request chain's names.
const CHAIN: Chain = Chain {
    definition: LEAVE,
    base: "/api/v1/leave-requests",
    not_found_code: "leave_request_not_found",
    noun_zh: "退出企业申请",
    noun_en: "leave request",
};

/// The body of `POST /api/v1/enterprises/{id}/leave-requests`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LeaveBody {
    /// Why the caller leaves (optional, at most 500 characters).
    #[schema(example = "已离职")]
    reason: Option<String>,
}

fn open_problem(id: Uuid) -> ApiError {
    ApiError::conflict(
        "leave_request_open",
        "Leave request already open",
        "您已提交过退出该企业的申请，请等待审核或先撤回",
        "you already have an open request to leave this enterprise; wait for it or withdraw it",
    )
    .with_extension("leave_request_id", id.to_string())
}

/// `POST /api/v1/enterprises/{id}/leave-requests`.
#[utoipa::path(
    post,
    path = "/api/v1/enterprises/{id}/leave-requests",
    tag = "leave-requests",
    operation_id = "submit_leave_request",
    summary = "Ask to leave an enterprise (申请退出企业)",
    params(("id" = Uuid, Path, description = "The enterprise's id")),
    request_body = LeaveBody,
    responses(
        (status = 201, description = "Submitted; it waits for an admin's decision",
            body = Submitted,
            headers(("Location" = String, description = "The new leave request"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, description = "`enterprise_not_found`: no such enterprise, or the caller \
            does not belong to it",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`legal_rep_cannot_leave`, `last_admin` (`hint`: \
            `admin_transfer`) or `leave_request_open` (`leave_request_id`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`invalid_input`: a reason over 500 characters",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn submit(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<Uuid>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let enterprise = path.into_inner();
    let body: LeaveBody = parse_body(body.into_inner())?;
    let def = CHAIN.definition(&state)?;
    let runtime = &state.runtime;
    let mut input = Map::new();
    input.insert(
        "enterprise_id".into(),
        Value::String(enterprise.to_string()),
    );
    if let Some(reason) = body.reason.filter(|r| !r.trim().is_empty()) {
        input.insert("reason".into(), Value::String(reason));
    }
    let input = Value::Object(input);
    if let Err(fields) = def.form.check(&input, &|_| None) {
        return Err(ApiError::invalid(
            fields.into_iter().map(FieldProblem::from),
        ));
    }

    let mut conn = db::conn(runtime).await?;
    let mine = shared::roles(&mut conn, enterprise, caller.user_id).await?;
    if mine.is_empty() {
        return Err(enterprise_not_found());
    }
    if mine.iter().any(|r| r == "legal_rep") {
        return Err(ApiError::conflict(
            "legal_rep_cannot_leave",
            "The legal representative cannot leave",
            "法定代表人是企业登记信息，不能退出企业；如法定代表人已变更，请办理企业信息变更",
            "the legal representative is part of the enterprise's registration and cannot leave; \
             if it changed, apply for an enterprise information change",
        ));
    }
    if mine.iter().any(|r| r == "enterprise_admin")
        && shared::count_role(&mut conn, enterprise, "enterprise_admin", caller.user_id).await? == 0
    {
        return Err(shared::last_admin());
    }
    if let Some(open) = shared::open_request(&mut conn, &CHAIN, caller.user_id, enterprise).await? {
        return Err(open_problem(open));
    }
    // The runtime takes its own connection: never hold two per request.
    drop(conn);

    let started = match runtime
        .start(LEAVE, caller.user_id, Some(enterprise), &input)
        .await
    {
        Ok(s) => s,
        // A simultaneous submission won the unique index.
        Err(RuntimeError::AlreadyOpen) => {
            let mut conn = db::conn(runtime).await?;
            let open = shared::open_request(&mut conn, &CHAIN, caller.user_id, enterprise)
                .await?
                .unwrap_or_default();
            return Err(open_problem(open));
        }
        Err(e) => return Err(e.into()),
    };
    let created_at = started.created_at;
    tracing::info!(
        instance.id = %started.instance_id,
        enterprise.id = %enterprise,
        user.id = %caller.user_id,
        "leave request submitted"
    );
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("{}/{}", CHAIN.base, started.instance_id),
        ))
        .json(Submitted {
            id: started.instance_id,
            state: started.state,
            created_at,
        }))
}

/// `GET /api/v1/enterprises/{id}/leave-requests`.
#[utoipa::path(
    get,
    path = "/api/v1/enterprises/{id}/leave-requests",
    tag = "leave-requests",
    operation_id = "list_leave_requests",
    summary = "An enterprise's leave requests: all of them for its admins and legal \
        representative, one's own for any other member",
    params(("id" = Uuid, Path, description = "The enterprise's id"), StateListQuery),
    responses(
        (status = 200, description = "Newest first, a page at a time", body = MemberRequestPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, description = "`enterprise_not_found`: no such enterprise, or the caller \
            does not belong to it",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_input`: an unknown `state`, a `limit` out of \
            range, a `cursor` this API did not hand out",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn list(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<Uuid>,
    query: web::Query<StateListQuery>,
) -> Result<web::Json<MemberRequestPage>, ApiError> {
    shared::list(
        &state,
        &CHAIN,
        caller,
        path.into_inner(),
        query.into_inner(),
    )
    .await
    .map(web::Json)
}

/// `GET /api/v1/leave-requests/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/leave-requests/{id}",
    tag = "leave-requests",
    operation_id = "get_leave_request",
    summary = "A leave request, for its requester or the enterprise's reviewers",
    params(("id" = Uuid, Path, description = "The leave request's id")),
    responses(
        (status = 200, description = "The request, with its history", body = MemberRequest),
        (status = 401, response = Unauthorized),
        (status = 404, description = "`leave_request_not_found`: no such request, or the caller \
            may not see it",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn detail(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<web::Json<MemberRequest>, ApiError> {
    shared::detail(&state, &CHAIN, caller, path.into_inner())
        .await
        .map(web::Json)
}

/// `POST /api/v1/leave-requests/{id}/decision`.
#[utoipa::path(
    post,
    path = "/api/v1/leave-requests/{id}/decision",
    tag = "leave-requests",
    operation_id = "decide_leave_request",
    summary = "Approve or reject a leave request (审核退出企业)",
    params(("id" = Uuid, Path, description = "The leave request's id")),
    request_body = super::join_requests::DecisionBody,
    responses(
        (status = 200, description = "Decided", body = Decided),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "`self_decision` (one's own request) or `not_assignee` \
            (a member who is neither admin nor legal representative)",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`leave_request_not_found`: no such request, or the caller \
            is outside its enterprise",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`task_not_open` (already decided, withdrawn or closed) or \
            `last_admin` (approving would leave the enterprise without an admin)",
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
    shared::decide(&state, &CHAIN, caller, path.into_inner(), body.into_inner())
        .await
        .map(web::Json)
}

/// `POST /api/v1/leave-requests/{id}/withdraw`.
#[utoipa::path(
    post,
    path = "/api/v1/leave-requests/{id}/withdraw",
    tag = "leave-requests",
    operation_id = "withdraw_leave_request",
    summary = "Withdraw one's own leave request (撤回)",
    params(("id" = Uuid, Path, description = "The leave request's id")),
    responses(
        (status = 200, description = "Withdrawn", body = Decided),
        (status = 401, response = Unauthorized),
        (status = 403, description = "`not_requester`: only the requester may withdraw",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`leave_request_not_found`: no such request, or the caller \
            may not see it",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`instance_finished`, `not_accepted`, …: the request can no longer \
            be withdrawn",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn withdraw(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<web::Json<Decided>, ApiError> {
    shared::withdraw(&state, &CHAIN, caller, path.into_inner())
        .await
        .map(web::Json)
}
