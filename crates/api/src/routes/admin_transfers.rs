//! Admin transfers — 管理员转授 (SPEC "Enterprise membership": "admin transfer is signed by the
//! legal rep"; `workflows/admin_transfer.toml`).
//!
//! An enterprise admin asks to hand the admin role to another member; only the legal
//! representative decides. Submitting refuses, each with its own problem and changing
//! nothing: an outsider (404 `enterprise_not_found`), a member who is not an admin (403
//! `not_enterprise_admin`), the legal representative themselves (409 `legal_rep_is_requester`:
//! only they could sign, and no one signs their own request), an enterprise without a legal
//! representative (409 `enterprise_has_no_legal_rep`), a target who is the caller, not a member,
//! already an admin or not real-name verified (422, on `target_user_id`), and a second open
//! transfer (409 `admin_transfer_open`).

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use certdesk_runtime::RuntimeError;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::enterprises::enterprise_not_found;
use super::join_requests::{Decided, Submitted};
use super::member_requests::{self as shared, Chain, MemberRequest, MemberRequestPage, TRANSFER};
use crate::db;
use crate::extract::parse_body;
use crate::openapi::{BadRequest, PayloadTooLarge, Problem, Unauthorized, UnsupportedMediaType};
use crate::page::StateListQuery;
use crate::problem::{ApiError, FieldProblem};
use crate::{ApiState, Caller};

/// The admin-transfer chain's names.
const CHAIN: Chain = Chain {
    definition: TRANSFER,
    base: "/api/v1/admin-transfers",
    not_found_code: "admin_transfer_not_found",
    noun_zh: "管理员转授申请",
    noun_en: "admin transfer",
};

/// The body of `POST /api/v1/enterprises/{id}/admin-transfers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransferBody {
    /// The member who becomes admin (required; real-name verified, not an admin yet).
    target_user_id: Option<Uuid>,
    /// Why (optional, at most 500 characters).
    #[schema(example = "本人调岗，由其接任企业管理员")]
    reason: Option<String>,
}

fn open_problem(id: Uuid) -> ApiError {
    ApiError::conflict(
        "admin_transfer_open",
        "Admin transfer already open",
        "您已提交过管理员转授申请，请等待法定代表人审核或先撤回",
        "you already have an open admin transfer for this enterprise; wait for it or withdraw it",
    )
    .with_extension("admin_transfer_id", id.to_string())
}

fn target_problem(code: &'static str, zh: &'static str, en: &'static str) -> ApiError {
    ApiError::invalid([FieldProblem::new("target_user_id", code, zh, en)])
}

/// `POST /api/v1/enterprises/{id}/admin-transfers`.
#[utoipa::path(
    post,
    path = "/api/v1/enterprises/{id}/admin-transfers",
    tag = "admin-transfers",
    operation_id = "submit_admin_transfer",
    summary = "Ask to hand the admin role to another member (管理员转授)",
    params(("id" = Uuid, Path, description = "The enterprise's id")),
    request_body = TransferBody,
    responses(
        (status = 201, description = "Submitted; it waits for the legal representative",
            body = Submitted,
            headers(("Location" = String, description = "The new admin transfer"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "`not_enterprise_admin`: the caller belongs to the \
            enterprise but is not one of its admins",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`enterprise_not_found`: no such enterprise, or the caller \
            does not belong to it",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`legal_rep_is_requester`, `enterprise_has_no_legal_rep` \
            or `admin_transfer_open` (`admin_transfer_id`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`invalid_input`: the form, or on `target_user_id` \
            `target_is_self`, `target_not_member`, `target_already_admin`, `target_not_verified`",
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
    let body: TransferBody = parse_body(body.into_inner())?;
    let def = CHAIN.definition(&state)?;
    let runtime = &state.runtime;
    let mut input = Map::new();
    input.insert(
        "enterprise_id".into(),
        Value::String(enterprise.to_string()),
    );
    if let Some(target) = body.target_user_id {
        input.insert("target_user_id".into(), Value::String(target.to_string()));
    }
    if let Some(reason) = body.reason.filter(|r| !r.trim().is_empty()) {
        input.insert("reason".into(), Value::String(reason));
    }
    let input = Value::Object(input);
    if let Err(fields) = def.form.check(&input, &|_| None) {
        return Err(ApiError::invalid(
            fields.into_iter().map(FieldProblem::from),
        ));
    }
    let Some(target) = body.target_user_id else {
        // The form requires it: unreachable past the check above, refused all the same.
        return Err(target_problem(
            "required",
            "请选择新管理员",
            "target_user_id is required",
        ));
    };

    let mut conn = db::conn(runtime).await?;
    let mine = shared::roles(&mut conn, enterprise, caller.user_id).await?;
    if mine.is_empty() {
        return Err(enterprise_not_found());
    }
    if !mine.iter().any(|r| r == "enterprise_admin") {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_enterprise_admin",
            "Not an enterprise admin",
            "只有企业管理员可以转授管理员身份",
            "only the enterprise's admins may hand over the admin role",
        ));
    }
    if mine.iter().any(|r| r == "legal_rep") {
        return Err(ApiError::conflict(
            "legal_rep_is_requester",
            "The legal representative cannot sign their own transfer",
            "管理员转授须由法定代表人审核签署，您本人即为法定代表人，不能审核自己的申请，因此无法提交",
            "an admin transfer is signed by the legal representative, and you are the legal \
             representative: no one may sign their own request, so it cannot be submitted",
        ));
    }
    if target == caller.user_id {
        return Err(target_problem(
            "target_is_self",
            "不能将管理员身份转授给自己",
            "the admin role cannot be handed to yourself",
        ));
    }
    let theirs = shared::roles(&mut conn, enterprise, target).await?;
    if theirs.is_empty() {
        return Err(target_problem(
            "target_not_member",
            "被转授人不是本企业成员",
            "the target is not a member of this enterprise",
        ));
    }
    if theirs.iter().any(|r| r == "enterprise_admin") {
        return Err(target_problem(
            "target_already_admin",
            "被转授人已是本企业管理员",
            "the target is already an admin of this enterprise",
        ));
    }
    if shared::real_name_status(&mut conn, target)
        .await?
        .as_deref()
        != Some("verified")
    {
        return Err(target_problem(
            "target_not_verified",
            "被转授人尚未完成实名认证",
            "the target has not completed real-name verification",
        ));
    }
    if shared::count_role(&mut conn, enterprise, "legal_rep", caller.user_id).await? == 0 {
        return Err(ApiError::conflict(
            "enterprise_has_no_legal_rep",
            "Enterprise has no legal representative",
            "该企业尚未登记法定代表人账号，无人可以审核签署管理员转授",
            "this enterprise has no legal representative account to sign an admin transfer",
        ));
    }
    if let Some(open) = shared::open_request(&mut conn, &CHAIN, caller.user_id, enterprise).await? {
        return Err(open_problem(open));
    }
    drop(conn);

    let started = match runtime
        .start(TRANSFER, caller.user_id, Some(enterprise), &input)
        .await
    {
        Ok(s) => s,
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
        target.id = %target,
        "admin transfer submitted"
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

/// `GET /api/v1/enterprises/{id}/admin-transfers`.
#[utoipa::path(
    get,
    path = "/api/v1/enterprises/{id}/admin-transfers",
    tag = "admin-transfers",
    operation_id = "list_admin_transfers",
    summary = "An enterprise's admin transfers: all of them for its admins and legal \
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

/// `GET /api/v1/admin-transfers/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/admin-transfers/{id}",
    tag = "admin-transfers",
    operation_id = "get_admin_transfer",
    summary = "An admin transfer, for its requester or the enterprise's reviewers",
    params(("id" = Uuid, Path, description = "The admin transfer's id")),
    responses(
        (status = 200, description = "The request, with its history", body = MemberRequest),
        (status = 401, response = Unauthorized),
        (status = 404, description = "`admin_transfer_not_found`: no such request, or the caller \
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

/// `POST /api/v1/admin-transfers/{id}/decision`: the legal representative signs or refuses.
#[utoipa::path(
    post,
    path = "/api/v1/admin-transfers/{id}/decision",
    tag = "admin-transfers",
    operation_id = "decide_admin_transfer",
    summary = "Approve or reject an admin transfer (法定代表人审核签署)",
    params(("id" = Uuid, Path, description = "The admin transfer's id")),
    request_body = super::join_requests::DecisionBody,
    responses(
        (status = 200, description = "Decided", body = Decided),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "`self_decision` (one's own request) or `not_assignee` \
            (anyone but the legal representative, admins included)",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`admin_transfer_not_found`: no such request, or the caller \
            is outside its enterprise",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`task_not_open` (already decided, withdrawn or closed) or \
            `target_not_member` (the target left meanwhile)",
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

/// `POST /api/v1/admin-transfers/{id}/withdraw`.
#[utoipa::path(
    post,
    path = "/api/v1/admin-transfers/{id}/withdraw",
    tag = "admin-transfers",
    operation_id = "withdraw_admin_transfer",
    summary = "Withdraw one's own admin transfer (撤回)",
    params(("id" = Uuid, Path, description = "The admin transfer's id")),
    responses(
        (status = 200, description = "Withdrawn", body = Decided),
        (status = 401, response = Unauthorized),
        (status = 403, description = "`not_requester`: only the requester may withdraw",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`admin_transfer_not_found`: no such request, or the caller \
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
