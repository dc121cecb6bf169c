//! Reading request bodies, paths and query strings, with problems for every way they can be
//! wrong.
//!
//! Bodies are read in two steps: actix's JSON extractor (content type, 64 KiB limit, syntax)
//! into a [`serde_json::Value`], then [`parse_body`] into the handler's type through
//! `serde_path_to_error`, so a wrong type names its path (`seal_use`, `items[2].amount`).

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::web;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::problem::{ApiError, FieldProblem};

/// The largest JSON body accepted.
pub(crate) const MAX_JSON_BYTES: usize = 64 * 1024;

/// JSON bodies: `application/json` (or `+json`) only, at most [`MAX_JSON_BYTES`].
pub(crate) fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_JSON_BYTES)
        .content_type_required(true)
        .error_handler(|err, _req| json_error(err).into())
}

/// Path segments that do not parse (an id that is not a UUID) name nothing that exists.
pub(crate) fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req| {
        tracing::debug!(error.detail = %err, "unparsable path");
        ApiError::no_route().into()
    })
}

/// Query strings of the wrong shape.
pub(crate) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err: QueryPayloadError, _req| query_error(&err).into())
}

/// The problem for a query string that does not parse (also for handlers that parse their
/// query themselves, after authentication).
pub(crate) fn query_error(err: &QueryPayloadError) -> ApiError {
    let QueryPayloadError::Deserialize(inner) = err else {
        return ApiError::from_status(StatusCode::BAD_REQUEST);
    };
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "malformed_query",
        "Malformed query string",
        "查询参数格式有误",
        format!(
            "the query string is not valid: {}",
            without_values(&inner.to_string())
        ),
    )
}

fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported Media Type",
            "请求内容须为 JSON（Content-Type: application/json）",
            "the body must be JSON, sent with Content-Type: application/json",
        ),
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            too_large()
        }
        JsonPayloadError::Payload(actix_web::error::PayloadError::Overflow) => too_large(),
        JsonPayloadError::Deserialize(e) => malformed(
            format!(
                "the body is not valid JSON (line {}, column {}): {}",
                e.line(),
                e.column(),
                without_values(&e.to_string())
            ),
            Vec::new(),
        ),
        other => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_body",
            "Unreadable body",
            "请求内容无法读取",
            format!("the body could not be read: {other}"),
        ),
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "Payload Too Large",
        format!("请求内容不能超过 {} KiB", MAX_JSON_BYTES / 1024),
        format!("the body must be at most {MAX_JSON_BYTES} bytes"),
    )
    .with_extension("limit_bytes", MAX_JSON_BYTES)
}

fn malformed(message_en: String, errors: Vec<FieldProblem>) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "malformed_json",
        "Malformed JSON",
        "请求内容不是有效的 JSON 或字段类型有误",
        message_en,
    )
    .with_errors(errors)
}

/// serde's message without the value the client sent: ``invalid type: integer `13700009876`,
/// expected a string`` becomes `invalid type: integer, expected a string`. The value may be
/// a phone or an identity number, and no answer or log line holds one in full. The kind of
/// value and what was expected are enough to fix the request.
fn without_values(text: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: ", "unknown variant "] {
        let Some(rest) = text.strip_prefix(prefix) else {
            continue;
        };
        // What was expected comes from our types and serde, never from the client.
        let (got, expected) = rest
            .rfind(", expected")
            .map_or((rest, ""), |at| rest.split_at(at));
        let kind = got.split(['`', '"']).next().unwrap_or_default().trim();
        let head = prefix.trim_end();
        return if kind.is_empty() {
            format!("{head}{expected}")
        } else {
            format!("{head} {kind}{expected}")
        };
    }
    text.to_owned()
}

/// Turns a JSON value into the handler's type; a wrong type or an unknown field is a 400
/// naming its path.
pub(crate) fn parse_body<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let path = if path == "." { String::new() } else { path };
        let text = without_values(&inner.to_string());
        let code = if text.starts_with("unknown field") {
            "unknown_field"
        } else if text.starts_with("missing field") {
            "missing_field"
        } else {
            "wrong_type"
        };
        let where_ = if path.is_empty() {
            "the body".to_owned()
        } else {
            format!("`{path}`")
        };
        malformed(
            format!("{where_}: {text}"),
            vec![FieldProblem::new(
                path,
                code,
                "字段类型有误或不被接受",
                text,
            )],
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only the parse result matters")]
    struct Body {
        flag: Option<bool>,
        items: Option<Vec<Item>>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code, reason = "only the parse result matters")]
    struct Item {
        amount: i64,
    }

    #[test]
    fn a_wrong_type_names_its_path() {
        let err = parse_body::<Body>(json!({ "flag": "yes" })).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(err.code(), "malformed_json");
        assert_eq!(err.errors()[0].field, "flag");
        assert_eq!(err.errors()[0].code, "wrong_type");

        let err = parse_body::<Body>(json!({ "items": [{ "amount": 1 }, { "amount": "x" }] }))
            .unwrap_err();
        assert_eq!(err.errors()[0].field, "items[1].amount");
    }

    #[test]
    fn the_value_sent_is_not_repeated() {
        let err = parse_body::<Body>(json!({ "flag": 13_700_009_876_u64 })).unwrap_err();
        assert_eq!(
            err.errors()[0].message,
            "invalid type: integer, expected a boolean"
        );
        assert_eq!(
            without_values(r#"invalid value: string "350102198511201233", expected a date"#),
            "invalid value: string, expected a date"
        );
        assert_eq!(
            without_values("unknown variant `13700009876`, expected `a` or `b` at line 1 column 9"),
            "unknown variant, expected `a` or `b` at line 1 column 9"
        );
        assert_eq!(
            without_values("invalid type: map, expected a string"),
            "invalid type: map, expected a string"
        );
        assert_eq!(
            without_values("missing field `phone`"),
            "missing field `phone`"
        );
    }

    #[test]
    fn an_unknown_field_is_named() {
        let err = parse_body::<Body>(json!({ "order_id": "x" })).unwrap_err();
        assert_eq!(err.errors()[0].code, "unknown_field");
        assert!(err.errors()[0].message.contains("order_id"));
    }
}
