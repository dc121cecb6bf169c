//! Real-name verification of the caller — 实名认证 (中标一证通 4, 数信签 4, 掌上信手书 4.2).
//!
//! - `POST /api/v1/me/real-name` with `id_type = resident_id`: the provider's three-element
//!   check of name, ID number and the caller's phone → `pending_face`;
//! - `POST /api/v1/me/real-name/face` with a `face_photo` upload → `verified`;
//! - `POST /api/v1/me/real-name` with a passport or a Hong Kong / Macau / Taiwan permit: a
//!   `real_name_review` instance for CS reviewers → `pending_review` (and, once returned for
//!   correction, the same request resubmits it);
//! - `GET /api/v1/me/real-name`: the status, the document number masked.
//!
//! Only the caller's own verification is reachable (there is no id in the paths), and only the
//! caller's own uploads may be used. Document numbers leave masked, in responses and in logs.
//! A refused check changes no status; an unavailable provider is retried (see
//! [`crate::realname`]) and then answered `503 real_name_unavailable`, nothing stored as
//! verified.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use certdesk_domain::ident::{CnIdNumber, HkMacauPermit, Passport, Phone, TaiwanPermit};
use certdesk_engine::StepError;
use certdesk_runtime::{Command, RuntimeError};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::db;
use crate::extract::parse_body;
use crate::files::Purpose;
use crate::problem::{ApiError, FieldProblem};
use crate::realname::store::{self, Document};
use crate::realname::{FaceCheck, ProviderError, ThreeElement, Verdict};
use crate::{ApiState, Caller};

/// The workflow of manual reviews.
pub(crate) const REAL_NAME_REVIEW: &str = "real_name_review";

/// Longest name accepted (names of foreign passport holders run long).
const MAX_NAME_CHARS: usize = 100;

/// Seconds an applicant is asked to wait after the provider was unavailable.
const RETRY_AFTER_SECS: u32 = 30;

/// Beijing time, for the expiry date of a document.
const BEIJING: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

// ---- the view ------------------------------------------------------------------------------

/// The caller's verification as every endpoint here answers it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RealNameView {
    /// `none`, `pending_face`, `pending_review`, `verified` or `rejected`.
    status: String,
    name: Option<String>,
    id_type: Option<String>,
    /// Always masked (`110105*****002X`, `E1*****78`).
    id_number: Option<String>,
    updated_at: Option<DateTime<Utc>>,
    verified_at: Option<DateTime<Utc>>,
    /// The manual review, for passports and permits.
    #[serde(skip_serializing_if = "Option::is_none")]
    review: Option<ReviewView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ReviewView {
    id: Uuid,
    state: String,
    state_title: Option<String>,
    /// When the reviewer should have decided (the SLA), while the review is open.
    due_at: Option<DateTime<Utc>>,
    /// The reason code of the last rejection or return.
    reason: Option<String>,
    comment: Option<String>,
}

async fn view(state: &ApiState, user: Uuid) -> Result<RealNameView, ApiError> {
    let mut conn = db::conn(&state.runtime).await?;
    let s = store::status(&mut conn, user)
        .await?
        .ok_or_else(|| ApiError::internal("the caller's user row is gone"))?;
    let review = match s.instance_id {
        Some(id) => {
            let (st, _) = db::state_and_status(&mut conn, id).await?;
            let due_at = db::open_task_due(&mut conn, id).await?;
            let last = db::history(&mut conn, id)
                .await?
                .into_iter()
                .rev()
                .find(|h| h.payload.get("outcome").is_some());
            let text = |k: &str| {
                last.as_ref()
                    .and_then(|h| h.payload.get(k))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let outcome = text("outcome");
            let decided = outcome.as_deref().is_some_and(|o| o != "approve");
            Some(ReviewView {
                id,
                state_title: state
                    .runtime
                    .definition(REAL_NAME_REVIEW)
                    .and_then(|d| d.state_id(&st).map(|i| d.state(i).title.clone())),
                state: st,
                due_at,
                reason: text("reason").filter(|_| decided),
                comment: text("comment").filter(|_| decided),
            })
        }
        None => None,
    };
    Ok(RealNameView {
        status: s.status,
        name: s.name,
        id_type: s.id_type,
        // Stored masked; masked again here in case a row ever held more.
        id_number: s.id_masked.as_deref().map(crate::mask::mask_digit_runs),
        updated_at: s.updated_at,
        verified_at: s.verified_at,
        review,
    })
}

/// `GET /api/v1/me/real-name`.
#[utoipa::path(
    get,
    path = "/api/v1/me/real-name",
    tag = "me",
    operation_id = "get_real_name",
    summary = "The caller's real-name verification (实名认证), document number masked",
    responses(
        (status = 200, description = "The verification status", body = RealNameView),
        (status = 401, response = crate::openapi::Unauthorized),
    ),
)]
pub(crate) async fn show(
    state: web::Data<ApiState>,
    caller: Caller,
) -> Result<web::Json<RealNameView>, ApiError> {
    Ok(web::Json(view(&state, caller.user_id).await?))
}

// ---- submit --------------------------------------------------------------------------------

/// The body of `POST /api/v1/me/real-name`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmitBody {
    id_type: Option<String>,
    name: Option<String>,
    id_number: Option<String>,
    /// 证件到期时间 (passports and permits).
    valid_until: Option<String>,
    /// File ids of uploads (passports and permits).
    document_front: Option<Uuid>,
    document_back: Option<Uuid>,
    portrait: Option<Uuid>,
}

/// A parsed document number with its type.
enum DocNumber {
    Resident(CnIdNumber),
    Other { canonical: String, masked: String },
}

impl DocNumber {
    fn canonical(&self) -> &str {
        match self {
            DocNumber::Resident(n) => n.as_str(),
            DocNumber::Other { canonical, .. } => canonical,
        }
    }

    fn masked(&self) -> String {
        match self {
            DocNumber::Resident(n) => n.mask(),
            DocNumber::Other { masked, .. } => masked.clone(),
        }
    }
}

const ID_TYPES: [&str; 4] = [
    "resident_id",
    "passport",
    "hk_macau_permit",
    "taiwan_permit",
];

fn parse_number(
    id_type: &str,
    text: &str,
) -> Result<DocNumber, certdesk_domain::ident::ValueError> {
    Ok(match id_type {
        "passport" => {
            let n = Passport::parse(text)?;
            DocNumber::Other {
                canonical: n.as_str().to_owned(),
                masked: n.mask(),
            }
        }
        "hk_macau_permit" => {
            let n = HkMacauPermit::parse(text)?;
            DocNumber::Other {
                canonical: n.as_str().to_owned(),
                masked: n.mask(),
            }
        }
        "taiwan_permit" => {
            let n = TaiwanPermit::parse(text)?;
            DocNumber::Other {
                canonical: n.as_str().to_owned(),
                masked: n.mask(),
            }
        }
        _ => DocNumber::Resident(CnIdNumber::parse(text)?),
    })
}

/// `POST /api/v1/me/real-name`.
#[utoipa::path(
    post,
    path = "/api/v1/me/real-name",
    tag = "me",
    operation_id = "submit_real_name",
    summary = "Verify the caller's real name: a resident ID by the provider, other documents by CS review",
    request_body = SubmitBody,
    responses(
        (status = 200, description = "The verification after the step", body = RealNameView),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "`file_not_found`: an upload that is not the caller's", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_verified`, `real_name_review_pending`, `id_number_in_use`, `phone_required`", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`invalid_input`, `real_name_mismatch`, `phone_not_owned_by_id`", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`real_name_unavailable`: the provider is down (retried); try again later", body = crate::openapi::Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn submit(
    state: web::Data<ApiState>,
    caller: Caller,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body: SubmitBody = parse_body(body.into_inner())?;
    let mut errors = Vec::new();
    let id_type = body.id_type.as_deref().map(str::trim).unwrap_or_default();
    if id_type.is_empty() {
        errors.push(FieldProblem::new(
            "id_type",
            "required",
            "请选择证件类型",
            "id_type is required",
        ));
    } else if !ID_TYPES.contains(&id_type) {
        errors.push(FieldProblem::new(
            "id_type",
            "not_a_choice",
            "证件类型无效",
            format!("id_type must be one of: {}", ID_TYPES.join(", ")),
        ));
    }
    let name = body.name.as_deref().map(str::trim).unwrap_or_default();
    if name.is_empty() {
        errors.push(FieldProblem::new(
            "name",
            "required",
            "请填写姓名",
            "name is required",
        ));
    } else if name.chars().count() > MAX_NAME_CHARS {
        errors.push(FieldProblem::new(
            "name",
            "text_too_long",
            format!("姓名不能超过 {MAX_NAME_CHARS} 个字"),
            format!("name must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    let number_text = body.id_number.as_deref().unwrap_or_default();
    let number = if number_text.trim().is_empty() {
        errors.push(FieldProblem::new(
            "id_number",
            "required",
            "请填写证件号码",
            "id_number is required",
        ));
        None
    } else if ID_TYPES.contains(&id_type) {
        match parse_number(id_type, number_text) {
            Ok(n) => Some(n),
            Err(e) => {
                errors.push(FieldProblem::new(
                    "id_number",
                    e.code,
                    e.message_zh,
                    e.message_en,
                ));
                None
            }
        }
    } else {
        None
    };
    if id_type == "resident_id" {
        // A resident ID is checked by the provider; the manual chain's fields do not apply.
        for (field, given) in [
            ("valid_until", body.valid_until.is_some()),
            ("document_front", body.document_front.is_some()),
            ("document_back", body.document_back.is_some()),
            ("portrait", body.portrait.is_some()),
        ] {
            if given {
                errors.push(FieldProblem::new(
                    field,
                    "not_applicable",
                    "居民身份证通过人脸识别认证，无需上传证件照片或填写到期时间",
                    format!("{field} is only for passports and permits; a resident ID is verified by a face check"),
                ));
            }
        }
    }
    let Some(number) = number else {
        return Err(ApiError::invalid(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let masked = number.masked();
    let digest = state.identity.key().id_digest(id_type, number.canonical());
    let doc = Document {
        id_type,
        name,
        id_masked: &masked,
        digest: &digest,
    };
    match number {
        DocNumber::Resident(id_number) => {
            three_element(&state, caller, &doc, &id_number).await?;
        }
        DocNumber::Other { .. } => {
            manual_review(&state, caller, &doc, &body).await?;
        }
    }
    Ok(HttpResponse::Ok().json(view(&state, caller.user_id).await?))
}

/// The status checks every submission starts with; returns the caller's phone.
async fn may_submit(
    conn: &mut db::Conn,
    caller: Caller,
    digest: &[u8],
) -> Result<store::Status, ApiError> {
    let status = store::status(conn, caller.user_id)
        .await?
        .ok_or_else(|| ApiError::internal("the caller's user row is gone"))?;
    match status.status.as_str() {
        "verified" => return Err(already_verified()),
        "pending_review" => return Err(review_pending(status.instance_id)),
        _ => {}
    }
    if store::verified_elsewhere(conn, caller.user_id, digest).await? {
        return Err(id_number_in_use());
    }
    Ok(status)
}

fn id_number_in_use() -> ApiError {
    ApiError::conflict(
        "id_number_in_use",
        "Document verifies another account",
        "该证件已用于其他账号的实名认证。如账号已注销，请通过账号申诉找回。",
        "this document already verifies another account; if that account was deregistered, restore it by an account appeal",
    )
}

fn already_verified() -> ApiError {
    ApiError::conflict(
        "already_verified",
        "Already verified",
        "您已完成实名认证",
        "you are already real-name verified",
    )
}

fn review_pending(instance: Option<Uuid>) -> ApiError {
    let err = ApiError::conflict(
        "real_name_review_pending",
        "Review pending",
        "您的实名认证正在人工审核中，审核结果将在 1-2 个工作小时内通知",
        "your real-name verification is being reviewed; you will be told the result within 1-2 business hours",
    );
    match instance {
        Some(id) => err.with_extension("review_id", id.to_string()),
        None => err,
    }
}

fn unavailable() -> ApiError {
    let err = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "real_name_unavailable",
        "Real-name service unavailable",
        "实名认证服务暂时不可用，请稍后再试",
        "the real-name verification service is unavailable; please try again later",
    )
    .with_extension("retry_after_seconds", RETRY_AFTER_SECS);
    match HeaderValue::from_str(&RETRY_AFTER_SECS.to_string()) {
        Ok(v) => err.with_header(header::RETRY_AFTER, v),
        Err(_) => err,
    }
}

/// Calls the provider for one check: the call is logged before it is made and its end after.
async fn checked_call<'a>(
    state: &'a ApiState,
    caller: Caller,
    kind: &str,
    masked: &str,
    call: impl FnMut(
        &'a dyn crate::realname::RealNameProvider,
    ) -> crate::realname::BoxFuture<'a, Result<Verdict, ProviderError>>,
    request_id: Uuid,
) -> Result<Verdict, ApiError> {
    let rn = &state.real_name;
    {
        let mut conn = db::conn(&state.runtime).await?;
        let now = state.runtime.clock().now();
        store::begin_check(
            &mut conn,
            request_id,
            caller.user_id,
            kind,
            rn.provider_name(),
            masked,
            now,
        )
        .await?;
    }
    let called = rn.call(call).await;
    let mut conn = db::conn(&state.runtime).await?;
    let now = state.runtime.clock().now();
    let result = match &called.result {
        Ok(v) => v.as_str(),
        Err(_) => "unavailable",
    };
    store::finish_check(&mut conn, request_id, result, called.attempts, now).await?;
    tracing::info!(
        user.id = %caller.user_id,
        real_name.check = kind,
        real_name.request_id = %request_id,
        real_name.id_number = masked,
        real_name.result = result,
        real_name.attempts = called.attempts,
        "real-name check"
    );
    match called.result {
        Ok(v) => Ok(v),
        Err(ProviderError::Unavailable(_)) => Err(unavailable()),
    }
}

/// A resident ID: the three-element check with the caller's phone, then `pending_face`.
async fn three_element(
    state: &ApiState,
    caller: Caller,
    doc: &Document<'_>,
    id_number: &CnIdNumber,
) -> Result<(), ApiError> {
    let mut conn = db::conn(&state.runtime).await?;
    let status = may_submit(&mut conn, caller, doc.digest).await?;
    drop(conn);
    let phone = status
        .phone
        .as_deref()
        .and_then(|p| Phone::parse(p).ok())
        .ok_or_else(|| {
            ApiError::conflict(
                "phone_required",
                "Phone required",
                "账号未绑定手机号，无法进行实名认证",
                "your account has no mobile phone, which the real-name check needs",
            )
        })?;
    let request_id = Uuid::now_v7();
    let verdict = checked_call(
        state,
        caller,
        "three_element",
        doc.id_masked,
        |p| {
            p.three_element_check(ThreeElement {
                name: doc.name,
                id_number,
                phone: &phone,
                request_id,
            })
        },
        request_id,
    )
    .await?;
    match verdict {
        Verdict::Match => {}
        Verdict::NameIdMismatch => {
            let zh = "姓名与身份证号码不一致，请核对后重新填写";
            let en = "the name does not match the resident ID number";
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "real_name_mismatch",
                "Name and ID number do not match",
                zh,
                en,
            )
            .with_errors([
                FieldProblem::new("name", "real_name_mismatch", zh, en),
                FieldProblem::new("id_number", "real_name_mismatch", zh, en),
            ]));
        }
        Verdict::PhoneMismatch | Verdict::FaceMismatch => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "phone_not_owned_by_id",
                "Phone not registered to this ID",
                "您登录使用的手机号未登记在该身份证名下，请使用本人实名登记的手机号登录后再认证",
                "the phone you signed in with is not registered to this resident ID; sign in with a phone registered in your name",
            ));
        }
    }
    let mut conn = db::conn(&state.runtime).await?;
    let now = state.runtime.clock().now();
    if !store::set_pending_face(&mut conn, caller.user_id, doc, id_number.as_str(), now).await? {
        // Another request of the caller moved the status meanwhile.
        let s = store::status(&mut conn, caller.user_id).await?;
        return Err(match s.map(|s| (s.status, s.instance_id)) {
            Some((st, _)) if st == "verified" => already_verified(),
            Some((_, instance)) => review_pending(instance),
            None => ApiError::internal("the caller's user row is gone"),
        });
    }
    Ok(())
}

// ---- face ----------------------------------------------------------------------------------

/// The body of `POST /api/v1/me/real-name/face`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaceBody {
    /// A `face_photo` upload of the caller's.
    file_id: Option<Uuid>,
}

/// `POST /api/v1/me/real-name/face`: the liveness photo after a passed three-element check.
#[utoipa::path(
    post,
    path = "/api/v1/me/real-name/face",
    tag = "me",
    operation_id = "submit_real_name_face",
    summary = "The face check after a passed three-element check",
    request_body = FaceBody,
    responses(
        (status = 200, description = "The verification after the face check", body = RealNameView),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "`file_not_found`: an upload that is not the caller's", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`face_check_not_expected`", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`invalid_input` or `face_mismatch`", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`real_name_unavailable`", body = crate::openapi::Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn face(
    state: web::Data<ApiState>,
    caller: Caller,
    body: web::Json<Value>,
) -> Result<web::Json<RealNameView>, ApiError> {
    let body: FaceBody = parse_body(body.into_inner())?;
    let Some(file_id) = body.file_id else {
        return Err(ApiError::invalid([FieldProblem::new(
            "file_id",
            "required",
            "请上传本人头照",
            "file_id is required: upload the face photo first (purpose face_photo)",
        )]));
    };
    let mut conn = db::conn(&state.runtime).await?;
    let status = store::status(&mut conn, caller.user_id)
        .await?
        .ok_or_else(|| ApiError::internal("the caller's user row is gone"))?;
    let (Some(name), Some(pending)) = (status.name.as_deref(), status.id_pending.as_deref()) else {
        return Err(match status.status.as_str() {
            "verified" => already_verified(),
            "pending_review" => review_pending(status.instance_id),
            _ => ApiError::conflict(
                "face_check_not_expected",
                "Identity check first",
                "请先填写姓名和身份证号码完成身份核验，再进行人脸识别",
                "submit your name and resident ID number first; the face check follows it",
            ),
        });
    };
    let id_number = CnIdNumber::parse(pending).map_err(|e| {
        ApiError::internal(format!(
            "a stored pending ID number does not parse: {}",
            e.code
        ))
    })?;
    let name = name.to_owned();
    let file = own_file(&mut conn, caller, "file_id", file_id, Purpose::FacePhoto).await?;
    drop(conn);
    let sm3: [u8; 32] = file
        .sm3
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::internal("a stored SM3 is not 32 bytes"))?;
    let image = state.files.get(&sm3).await.map_err(ApiError::internal)?;
    let request_id = Uuid::now_v7();
    let masked = id_number.mask();
    let verdict = checked_call(
        &state,
        caller,
        "face",
        &masked,
        |p| {
            p.face_check(FaceCheck {
                name: &name,
                id_number: &id_number,
                image: &image,
                request_id,
            })
        },
        request_id,
    )
    .await?;
    if verdict != Verdict::Match {
        let zh = "人脸比对未通过，请正对摄像头、光线充足时重新拍摄本人头照";
        let en = "the face photo does not match the ID's photo; take it again facing the camera in good light";
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "face_mismatch",
            "Face does not match",
            zh,
            en,
        )
        .with_errors([FieldProblem::new("file_id", "face_mismatch", zh, en)]));
    }
    let mut conn = db::conn(&state.runtime).await?;
    let now = state.runtime.clock().now();
    match store::set_verified_by_face(&mut conn, caller.user_id, now).await {
        Ok(true) => {}
        Ok(false) => return Err(already_verified()),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => return Err(id_number_in_use()),
        Err(e) => return Err(e.into()),
    }
    drop(conn);
    Ok(web::Json(view(&state, caller.user_id).await?))
}

/// One of the caller's uploads for `purpose`; 422 on `field` otherwise (another person's
/// upload is "not found", exactly like one that does not exist).
async fn own_file(
    conn: &mut db::Conn,
    caller: Caller,
    field: &str,
    id: Uuid,
    purpose: Purpose,
) -> Result<db::FileRow, ApiError> {
    let file = db::file(conn, id)
        .await?
        .filter(|f| f.owner_id == caller.user_id)
        .ok_or_else(|| {
            ApiError::invalid([FieldProblem::new(
                field,
                "file_not_found",
                "文件不存在或无权使用",
                format!("no upload {id} of yours"),
            )])
        })?;
    if file.purpose != purpose.as_str() {
        return Err(ApiError::invalid([FieldProblem::new(
            field,
            "file_wrong_purpose",
            format!("请上传{}", purpose.title_zh()),
            format!("this upload must have purpose {}", purpose.as_str()),
        )]));
    }
    Ok(file)
}

// ---- manual review -------------------------------------------------------------------------

/// A passport or permit: start (or, after a return, resubmit) the CS review.
async fn manual_review(
    state: &ApiState,
    caller: Caller,
    doc: &Document<'_>,
    body: &SubmitBody,
) -> Result<(), ApiError> {
    let runtime = &state.runtime;
    let def = runtime
        .definition(REAL_NAME_REVIEW)
        .ok_or_else(|| ApiError::internal("the real_name_review definition is not loaded"))?;
    let mut input = Map::new();
    input.insert("id_type".into(), doc.id_type.into());
    input.insert("name".into(), doc.name.into());
    if let Some(n) = &body.id_number {
        input.insert("id_number".into(), n.trim().into());
    }
    if let Some(d) = &body.valid_until {
        input.insert("valid_until".into(), d.trim().into());
    }
    for (k, v) in [
        ("document_front", body.document_front),
        ("document_back", body.document_back),
        ("portrait", body.portrait),
    ] {
        if let Some(id) = v {
            input.insert(k.into(), id.to_string().into());
        }
    }
    let input = Value::Object(input);
    let mut errors: Vec<FieldProblem> = match def.form.check(&input, &|_| None) {
        Ok(_) => Vec::new(),
        Err(fields) => fields.into_iter().map(FieldProblem::from).collect(),
    };
    let now = runtime.clock().now();
    if let Some(until) = body
        .valid_until
        .as_deref()
        .and_then(|s| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok())
        && until < now.with_timezone(&BEIJING).date_naive()
    {
        errors.push(FieldProblem::new(
            "valid_until",
            "document_expired",
            "证件已过期，请使用有效证件认证",
            "the document has expired",
        ));
    }
    let mut conn = db::conn(runtime).await?;
    for (field, id, purpose) in [
        ("document_front", body.document_front, Purpose::Passport),
        ("document_back", body.document_back, Purpose::Passport),
        ("portrait", body.portrait, Purpose::FacePhoto),
    ] {
        if let Some(id) = id
            && let Err(e) = own_file(&mut conn, caller, field, id, purpose).await
        {
            if e.status().is_server_error() {
                return Err(e);
            }
            errors.extend(e.errors().iter().cloned());
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }

    // Returned for correction: the same request resubmits the open review.
    let status = store::status(&mut conn, caller.user_id)
        .await?
        .ok_or_else(|| ApiError::internal("the caller's user row is gone"))?;
    if status.status == "pending_review"
        && let Some(instance) = status.instance_id
        && db::state_and_status(&mut conn, instance).await?.0 == "returned"
    {
        if store::verified_elsewhere(&mut conn, caller.user_id, doc.digest).await? {
            return Err(id_number_in_use());
        }
        drop(conn);
        runtime
            .command(
                instance,
                Command::Resubmit {
                    actor: caller.user_id,
                    input,
                },
            )
            .await
            .map_err(|e| match e {
                RuntimeError::Step(
                    StepError::Finished | StepError::NotAccepted { .. } | StepError::Stale(_),
                ) => review_pending(Some(instance)),
                other => other.into(),
            })?;
        let mut conn = db::conn(runtime).await?;
        store::update_review(&mut conn, caller.user_id, instance, doc, now).await?;
        tracing::info!(
            user.id = %caller.user_id,
            instance.id = %instance,
            real_name.id_number = doc.id_masked,
            "real-name review resubmitted"
        );
        return Ok(());
    }

    may_submit(&mut conn, caller, doc.digest).await?;
    if !store::claim_review(&mut conn, caller.user_id, doc, now).await? {
        let s = store::status(&mut conn, caller.user_id).await?;
        return Err(match s.map(|s| (s.status, s.instance_id)) {
            Some((st, _)) if st == "verified" => already_verified(),
            Some((_, instance)) => review_pending(instance),
            None => ApiError::internal("the caller's user row is gone"),
        });
    }
    // The runtime takes its own connection: never hold two per request.
    drop(conn);
    let started = match runtime
        .start(
            REAL_NAME_REVIEW,
            caller.user_id,
            Some(caller.user_id),
            &input,
        )
        .await
    {
        Ok(s) => s,
        Err(e) => {
            let mut conn = db::conn(runtime).await?;
            store::release_review(&mut conn, caller.user_id).await?;
            return Err(e.into());
        }
    };
    let mut conn = db::conn(runtime).await?;
    store::attach_review(&mut conn, caller.user_id, started.instance_id).await?;
    tracing::info!(
        user.id = %caller.user_id,
        instance.id = %started.instance_id,
        real_name.id_type = doc.id_type,
        real_name.id_number = doc.id_masked,
        "real-name review submitted"
    );
    Ok(())
}
