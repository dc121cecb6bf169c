//! `GET /api/v1/enterprises`: finding the enterprise to join, by exact USCC or by name.
//!
//! SPEC §2: by exact unified social credit code, or by at least 5 characters of the name with
//! at most 10 hits, so the list cannot be used to page through every customer.

use actix_web::http::StatusCode;
use actix_web::web;
use certdesk_domain::ident::{Uscc, char_count};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::openapi::{BadRequest, Problem, Unauthorized};

use crate::problem::{ApiError, FieldProblem};
use crate::{ApiState, Caller, db};

/// Fewest characters of a name search.
const NAME_MIN_CHARS: usize = 5;
/// Most characters of a name search.
const NAME_MAX_CHARS: usize = 100;
/// Most hits of a name search.
const NAME_MAX_HITS: i64 = 10;

/// Exactly one of `uscc` and `name`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchQuery {
    /// The exact unified social credit code (18 characters).
    uscc: Option<String>,
    /// At least 5 characters of the name (at most 10 hits).
    name: Option<String>,
}

/// An enterprise found.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EnterpriseHit {
    /// Its id.
    id: Uuid,
    /// The registered name.
    name: String,
    /// The unified social credit code.
    uscc: String,
}

/// `GET /api/v1/enterprises?uscc=…` or `?name=…`.
#[utoipa::path(
    get,
    path = "/api/v1/enterprises",
    tag = "enterprises",
    operation_id = "search_enterprises",
    summary = "Find an enterprise to join, by exact USCC or part of its name",
    params(SearchQuery),
    responses(
        (status = 200, description = "The enterprises found (at most 10)",
            body = Vec<EnterpriseHit>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 422, description = "`invalid_input`: neither or both given, a USCC that is not \
            valid, a name too short or too long",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn search(
    state: web::Data<ApiState>,
    _caller: Caller,
    query: web::Query<SearchQuery>,
) -> Result<web::Json<Vec<EnterpriseHit>>, ApiError> {
    let SearchQuery { uscc, name } = query.into_inner();
    let uscc = uscc.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let name = name.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let mut conn = db::conn(&state.runtime).await?;
    let found = match (uscc, name) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid([FieldProblem::new(
                "name",
                "uscc_or_name",
                "请只填写统一社会信用代码或企业名称中的一项",
                "give either uscc or name, not both",
            )]));
        }
        (None, None) => {
            let problem = |field: &str| {
                FieldProblem::new(
                    field,
                    "required",
                    "请填写统一社会信用代码或企业名称",
                    "give uscc (exact) or name (at least 5 characters)",
                )
            };
            return Err(ApiError::invalid([problem("uscc"), problem("name")]));
        }
        (Some(uscc), None) => {
            let uscc = Uscc::parse(uscc).map_err(|e| {
                ApiError::invalid([FieldProblem::new(
                    "uscc",
                    e.code,
                    e.message_zh,
                    e.message_en,
                )])
            })?;
            db::enterprises_by_uscc(&mut conn, uscc.as_str()).await?
        }
        (None, Some(name)) => {
            let chars = char_count(name);
            if chars < NAME_MIN_CHARS {
                return Err(ApiError::invalid([FieldProblem::new(
                    "name",
                    "name_too_short",
                    format!("企业名称至少输入 {NAME_MIN_CHARS} 个字"),
                    format!("name must have at least {NAME_MIN_CHARS} characters"),
                )]));
            }
            if chars > NAME_MAX_CHARS {
                return Err(ApiError::invalid([FieldProblem::new(
                    "name",
                    "name_too_long",
                    format!("企业名称不能超过 {NAME_MAX_CHARS} 个字"),
                    format!("name must have at most {NAME_MAX_CHARS} characters"),
                )]));
            }
            db::enterprises_by_name(&mut conn, name, NAME_MAX_HITS).await?
        }
    };
    Ok(web::Json(
        found
            .into_iter()
            .map(|e| EnterpriseHit {
                id: e.id,
                name: e.name,
                uscc: e.uscc,
            })
            .collect(),
    ))
}

/// 404 for an enterprise that does not exist or that the caller may not see.
pub(crate) fn enterprise_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "enterprise_not_found",
        "Enterprise not found",
        "企业不存在",
        "no such enterprise",
    )
}
