//! Errors on the wire: `application/problem+json` (RFC 9457, DECISIONS 6).
//!
//! Every refusal is an [`ApiError`]: an HTTP status, a stable snake_case `code`, a short
//! English `title`, messages in Chinese and English, per-field errors and, for the few
//! problems that need them, extension members (`locked_until`, `join_request_id`). An
//! unexpected failure keeps its cause for the log only: the body of a 500 is always the same
//! generic text. The request-id middleware renders the final body (it knows the request id)
//! and logs each 500's cause chain exactly once.

use std::borrow::Cow;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use certdesk_engine::StepError;
use certdesk_engine::input::FieldError;
use certdesk_runtime::RuntimeError;
use serde::Serialize;
use serde_json::{Map, Value};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Where the `type` URIs of certdesk's own problem types live.
const TYPE_BASE: &str = "https://certdesk.example/problems/";

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One problem with one field of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldProblem {
    /// The field (a JSON path such as `seal_use_until`, or `""` for the whole body).
    pub field: String,
    /// Stable snake_case code.
    #[schema(value_type = String)]
    pub code: Cow<'static, str>,
    /// Message for developers (English).
    pub message: String,
    /// Message for the applicant, in Chinese.
    pub message_zh: String,
    /// Message for the applicant, in English.
    pub message_en: String,
}

impl FieldProblem {
    /// A field problem with messages in both languages.
    pub fn new(
        field: impl Into<String>,
        code: impl Into<Cow<'static, str>>,
        message_zh: impl Into<String>,
        message_en: impl Into<String>,
    ) -> Self {
        let message_en = message_en.into();
        FieldProblem {
            field: field.into(),
            code: code.into(),
            message: message_en.clone(),
            message_zh: message_zh.into(),
            message_en,
        }
    }
}

impl From<FieldError> for FieldProblem {
    fn from(e: FieldError) -> Self {
        FieldProblem::new(e.field, e.code, e.message_zh, e.message_en)
    }
}

/// Why a request was refused, rendered as `application/problem+json`.
///
/// Boxed: handlers return it in every `Result`, and most of them succeed.
#[derive(Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    message_zh: Cow<'static, str>,
    message_en: Cow<'static, str>,
    errors: Vec<FieldProblem>,
    extensions: Map<String, Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// `about:blank`: the problem means no more than its status.
    blank_type: bool,
    /// Set when the problem leaves through actix's error path, where no request is at hand.
    request_id: Option<String>,
    /// The internal cause: logged, never sent.
    cause: Option<Cause>,
}

impl ApiError {
    /// A problem of certdesk's own type `https://certdesk.example/problems/<code>`.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        message_zh: impl Into<Cow<'static, str>>,
        message_en: impl Into<Cow<'static, str>>,
    ) -> Self {
        ApiError(Box::new(Inner {
            status,
            code,
            title,
            message_zh: message_zh.into(),
            message_en: message_en.into(),
            errors: Vec::new(),
            extensions: Map::new(),
            headers: Vec::new(),
            blank_type: false,
            request_id: None,
            cause: None,
        }))
    }

    /// Adds per-field errors.
    #[must_use]
    pub fn with_errors(mut self, errors: impl IntoIterator<Item = FieldProblem>) -> Self {
        self.0.errors.extend(errors);
        self
    }

    /// Adds an extension member to the body (RFC 9457 §3.2).
    #[must_use]
    pub fn with_extension(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.0.extensions.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a response header.
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0.headers.push((name, value));
        self
    }

    /// Records the request id, for a problem rendered where the request is not at hand.
    #[must_use]
    pub fn with_request_id(mut self, id: &str) -> Self {
        self.0.request_id = Some(id.to_owned());
        self
    }

    /// The same problem without its internal cause (what a client may see of it).
    #[must_use]
    pub fn public_copy(&self) -> Self {
        ApiError(Box::new(Inner {
            status: self.0.status,
            code: self.0.code,
            title: self.0.title,
            message_zh: self.0.message_zh.clone(),
            message_en: self.0.message_en.clone(),
            errors: self.0.errors.clone(),
            extensions: self.0.extensions.clone(),
            headers: self.0.headers.clone(),
            blank_type: self.0.blank_type,
            request_id: self.0.request_id.clone(),
            cause: None,
        }))
    }

    fn blank(mut self) -> Self {
        self.0.blank_type = true;
        self
    }

    /// An unexpected failure: a generic 500 whose cause is only logged.
    pub fn internal(cause: impl Into<Cause>) -> Self {
        let mut e = ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal Server Error",
            "服务器内部错误，请稍后重试",
            "something went wrong on our side; please try again later",
        )
        .blank();
        e.0.cause = Some(cause.into());
        e
    }

    /// 404 for something that does not exist or that the caller may not see (the two are not
    /// told apart, so an id reveals nothing).
    pub fn not_found(
        code: &'static str,
        message_zh: impl Into<Cow<'static, str>>,
        message_en: impl Into<Cow<'static, str>>,
    ) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            code,
            "Not Found",
            message_zh,
            message_en,
        )
    }

    /// 404 for a path no route serves.
    pub fn no_route() -> Self {
        ApiError::not_found("not_found", "请求的地址不存在", "no such resource").blank()
    }

    /// 405 for a method the route does not serve.
    pub fn method_not_allowed() -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method Not Allowed",
            "不支持该请求方法",
            "this method is not allowed here",
        )
        .blank()
    }

    /// 422: the input was understood but is not acceptable; `errors` says where.
    pub fn invalid(errors: impl IntoIterator<Item = FieldProblem>) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "Invalid input",
            "提交的内容有误，请按提示修改",
            "some fields are not valid; see errors",
        )
        .with_errors(errors)
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(
        code: &'static str,
        title: &'static str,
        message_zh: impl Into<Cow<'static, str>>,
        message_en: impl Into<Cow<'static, str>>,
    ) -> Self {
        ApiError::new(StatusCode::CONFLICT, code, title, message_zh, message_en)
    }

    /// A problem for a status produced outside this crate (an extractor of actix itself).
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => ApiError::no_route(),
            StatusCode::METHOD_NOT_ALLOWED => ApiError::method_not_allowed(),
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                status,
                "payload_too_large",
                "Payload Too Large",
                "请求内容过大",
                "the request body is too large",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
                status,
                "unsupported_media_type",
                "Unsupported Media Type",
                "不支持的内容类型",
                "this content type is not supported",
            ),
            s if s.is_server_error() => ApiError::internal(format!("status {s} without a cause")),
            s => ApiError::new(
                s,
                "bad_request",
                "Bad Request",
                "请求无法处理",
                "the request could not be processed",
            )
            .blank(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.0.code
    }

    /// The per-field errors.
    pub fn errors(&self) -> &[FieldProblem] {
        &self.0.errors
    }

    /// The internal cause and its sources, joined by `: ` (for the log, never the body).
    pub fn cause_chain(&self) -> Option<String> {
        let cause = self.0.cause.as_deref()?;
        let mut text = cause.to_string();
        let mut source = cause.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        Some(text)
    }

    /// Renders the problem, with the request id when known.
    pub fn render(&self, request_id: Option<&str>) -> HttpResponse {
        let type_uri: Cow<'_, str> = if self.0.blank_type {
            Cow::Borrowed("about:blank")
        } else {
            Cow::Owned(format!("{TYPE_BASE}{}", self.0.code))
        };
        let body = ProblemBody {
            type_uri,
            title: self.0.title,
            status: self.0.status.as_u16(),
            detail: &self.0.message_en,
            code: self.0.code,
            message_zh: &self.0.message_zh,
            message_en: &self.0.message_en,
            errors: &self.0.errors,
            request_id: request_id.or(self.0.request_id.as_deref()),
            extensions: &self.0.extensions,
        };
        let mut res = HttpResponse::build(self.0.status);
        res.insert_header((header::CONTENT_TYPE, PROBLEM_JSON))
            .insert_header((header::CACHE_CONTROL, "no-store"));
        for (name, value) in &self.0.headers {
            res.insert_header((name.clone(), value.clone()));
        }
        match serde_json::to_vec(&body) {
            Ok(bytes) => res.body(bytes),
            // Serialising strings and a JSON map cannot fail; answer something valid anyway.
            Err(_) => res.body(r#"{"type":"about:blank","status":500}"#),
        }
    }
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    type_uri: Cow<'a, str>,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    message_zh: &'a str,
    message_en: &'a str,
    errors: &'a [FieldProblem],
    request_id: Option<&'a str>,
    #[serde(flatten)]
    extensions: &'a Map<String, Value>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.0.status.as_u16(),
            self.0.code,
            self.0.message_en
        )
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status
    }

    fn error_response(&self) -> HttpResponse {
        self.render(None)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        ApiError::internal(e)
    }
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> Self {
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            return ApiError::internal(e);
        }
        match e {
            RuntimeError::Invalid(fields) => {
                ApiError::invalid(fields.into_iter().map(FieldProblem::from))
            }
            RuntimeError::NotFound(what) => match what {
                "task" => {
                    ApiError::not_found("task_not_found", "审批任务不存在", "no such review task")
                }
                "instance" => {
                    ApiError::not_found("join_request_not_found", "申请不存在", "no such request")
                }
                _ => ApiError::not_found("not_found", "请求的内容不存在", "not found"),
            },
            RuntimeError::Step(step) => step_error(status, &step),
            RuntimeError::AlreadyOpen => ApiError::conflict(
                "join_request_open",
                "Join request already open",
                "您已提交过加入该企业的申请，请等待管理员审核或先撤回",
                "you already have an open request to join this enterprise; wait for it or withdraw it",
            ),
            other => ApiError::internal(other),
        }
    }
}

/// Chinese and English messages for each refusal of the engine.
fn step_error(status: StatusCode, e: &StepError) -> ApiError {
    let code = e.code();
    let (title, zh, en): (&'static str, Cow<'static, str>, Cow<'static, str>) = match e {
        StepError::TaskNotOpen { .. } => (
            "Already decided",
            "该申请已被处理".into(),
            "this request has already been decided".into(),
        ),
        StepError::Finished => (
            "Request closed",
            "该申请已结束，不能再操作".into(),
            "this request is closed and can no longer be changed".into(),
        ),
        StepError::AlreadyStarted => (
            "Already started",
            "该申请已提交".into(),
            "this request has already been submitted".into(),
        ),
        StepError::AlreadyApproved => (
            "Already approved",
            "您已审批通过该申请".into(),
            "you have already approved this request".into(),
        ),
        StepError::PartyAlreadyApproved => (
            "Already approved by your side",
            "您所在的一方已审批通过该申请".into(),
            "your side has already approved this request".into(),
        ),
        StepError::NotAccepted { .. } => (
            "Not possible now",
            "该申请当前状态不允许此操作".into(),
            "this request cannot do that in its current state".into(),
        ),
        StepError::Stale(_) => (
            "State changed",
            "该申请状态已变化，请刷新后重试".into(),
            "this request has changed; reload it and try again".into(),
        ),
        StepError::SelfDecision => (
            "Own request",
            "不能审批自己提交的申请".into(),
            "you cannot decide your own request".into(),
        ),
        StepError::NotAssignee => (
            "Not a reviewer",
            "您无权审批该申请".into(),
            "you may not decide this request".into(),
        ),
        StepError::NotRequester => (
            "Requester only",
            "只有申请人本人可以执行此操作".into(),
            "only the requester may do this".into(),
        ),
        StepError::UnknownOutcome(_) => (
            "Unknown outcome",
            "审批结果无效".into(),
            "this outcome is not allowed here".into(),
        ),
        StepError::ReasonRequired => (
            "Reason required",
            "请选择原因".into(),
            "a reason code is required".into(),
        ),
        StepError::UnknownReason(_) => (
            "Unknown reason",
            "原因无效，请从列表中选择".into(),
            "the reason code is not in the list".into(),
        ),
        StepError::CommentRequired => (
            "Comment required",
            "请填写审批意见".into(),
            "a comment is required".into(),
        ),
        StepError::CommentTooLong { max } => (
            "Comment too long",
            format!("审批意见不能超过 {max} 个字").into(),
            format!("the comment must be at most {max} characters").into(),
        ),
        // Variants that answer 500 never get here; a variant added later gets a generic text.
        _ => (
            "Refused",
            "该操作无法执行".into(),
            "this action cannot be performed".into(),
        ),
    };
    let field = match e {
        StepError::UnknownOutcome(_) => Some("outcome"),
        StepError::ReasonRequired | StepError::UnknownReason(_) => Some("reason"),
        StepError::CommentRequired | StepError::CommentTooLong { .. } => Some("comment"),
        _ => None,
    };
    let mut err = ApiError::new(status, code, title, zh.clone(), en.clone());
    if let Some(field) = field {
        err = err.with_errors([FieldProblem::new(field, code, zh, en)]);
    }
    err
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use super::*;
    use actix_web::body::MessageBody;

    fn body(res: HttpResponse) -> Value {
        let bytes = res.into_body().try_into_bytes().unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn an_internal_error_never_shows_its_cause() {
        let err = ApiError::internal(std::io::Error::other("password=hunter2 at db.internal"));
        let res = err.render(Some("req-1"));
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            res.headers().get(header::CONTENT_TYPE).unwrap(),
            PROBLEM_JSON
        );
        let text = body(res).to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("req-1"), "{text}");
        assert_eq!(
            err.cause_chain().unwrap(),
            "password=hunter2 at db.internal"
        );
    }

    #[test]
    fn a_problem_has_every_documented_member() {
        let err = ApiError::invalid([FieldProblem::new("reason", "required", "请填写", "needed")])
            .with_extension("hint", "x");
        let v = body(err.render(Some("abc")));
        assert_eq!(v["type"], "https://certdesk.example/problems/invalid_input");
        assert_eq!(v["title"], "Invalid input");
        assert_eq!(v["status"], 422);
        assert_eq!(v["code"], "invalid_input");
        assert_eq!(v["detail"], v["message_en"]);
        assert!(v["message_zh"].as_str().unwrap().contains("提交"));
        assert_eq!(v["errors"][0]["field"], "reason");
        assert_eq!(v["errors"][0]["code"], "required");
        assert_eq!(v["errors"][0]["message"], "needed");
        assert_eq!(v["request_id"], "abc");
        assert_eq!(v["hint"], "x");
    }

    #[test]
    fn engine_refusals_keep_their_code_and_status() {
        let err = ApiError::from(RuntimeError::Step(StepError::TaskNotOpen { task: 1 }));
        assert_eq!(err.status(), StatusCode::CONFLICT);
        assert_eq!(err.code(), "task_not_open");
        assert_eq!(err.0.message_zh, "该申请已被处理");
        assert_eq!(err.0.message_en, "this request has already been decided");

        let err = ApiError::from(RuntimeError::Step(StepError::CommentTooLong { max: 500 }));
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.errors()[0].field, "comment");

        let err = ApiError::from(RuntimeError::Step(StepError::RoutingLoop));
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(err.code(), "internal_error");
        assert!(err.cause_chain().is_some());
    }
}
