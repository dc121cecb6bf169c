//! The OpenAPI document of `/api/v1`, generated from the handlers, and its browsable docs.
//!
//! Every handler under `routes/` carries a `#[utoipa::path]` annotation naming its method,
//! path, parameters, body and every status it can answer; [`ApiDoc`] collects them. The
//! document is served at `GET /api/v1/openapi.json` (no token needed: it holds no data) and
//! browsed with Swagger UI at `/api/v1/docs/`, whose files are compiled into the binary (the
//! `vendored` feature of `utoipa-swagger-ui`: no download at build time, no CDN at run time;
//! DECISIONS 15).
//!
//! A committed copy lives in `docs/openapi.json` for client authors; a test keeps it equal to
//! what the code generates, another that every resource `routes::configure` mounts is in the
//! document with exactly its methods, so an endpoint without annotations fails CI. CI also
//! fuzzes the running server against the document with schemathesis (`scripts/schemathesis`).
//!
//! Errors are all `application/problem+json` (the `Problem` schema); the statuses every protected
//! endpoint shares (400, 401, 413, 415) are reusable responses, the rest are described where
//! they happen.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::problem::{FieldProblem, PROBLEM_JSON};
use crate::routes;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
/// Where Swagger UI is served (with the trailing slash; without it redirects here).
pub const DOCS_PATH: &str = "/api/v1/docs/";

/// The OpenAPI document of `/api/v1`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "certdesk applicant API",
        description = "The JSON API the phone apps call. Errors are `application/problem+json` \
            (RFC 9457) with a stable snake_case `code`, messages in Chinese and English, \
            per-field `errors` and the `request_id` echoed in `X-Request-Id`. Phones and ID \
            numbers are always masked. Another applicant's things answer 404, never data. \
            Lists answer `{items, next_cursor}`: pass `next_cursor` back as `cursor` for the \
            next page (`limit` 1–100, default 20). POSTs that create or change something take \
            an `Idempotency-Key`.",
        license(name = "Proprietary"),
    ),
    paths(
        routes::auth::request_code,
        routes::auth::create_session,
        routes::auth::logout,
        routes::auth::list_tokens,
        routes::auth::revoke_token,
        routes::me::profile,
        routes::me::set_password,
        routes::real_name::show,
        routes::real_name::submit,
        routes::real_name::face,
        routes::enterprises::search,
        routes::memberships::mine,
        routes::memberships::one,
        routes::memberships::members,
        routes::memberships::seal_use,
        routes::join_requests::list_for_enterprise,
        routes::files::upload,
        routes::files::detail,
        routes::files::content,
        routes::join_requests::list_own,
        routes::join_requests::submit,
        routes::join_requests::detail,
        routes::join_requests::decide,
        routes::join_requests::withdraw,
        document,
    ),
    components(
        schemas(Problem, FieldProblem),
        responses(BadRequest, Unauthorized, PayloadTooLarge, UnsupportedMediaType),
    ),
    modifiers(&BearerScheme, &IdempotencyHeader),
    tags(
        (name = "auth", description = "Logging in and out (注册/登录) and the caller's sessions"),
        (name = "me", description = "The signed-in applicant's own account"),
        (name = "enterprises", description = "Finding an enterprise and its review list"),
        (name = "files", description = "Uploads: licences, ID photos, signed forms"),
        (name = "join-requests", description = "Joining an enterprise (加入企业)"),
        (name = "docs", description = "This document"),
    ),
)]
pub struct ApiDoc;

/// The document, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!(r#"{{"error":"the document did not serialise: {e}"}}"#))
});

/// The document as pretty JSON, exactly as served and as committed in `docs/openapi.json`.
#[must_use]
pub fn document_json() -> &'static str {
    &DOCUMENT
}

/// The OpenAPI document of this API (OpenAPI 3.1).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "openapi_document",
    tag = "docs",
    security(()),
    responses(
        (status = 200, description = "The OpenAPI document", content_type = "application/json",
            body = Object),
    ),
)]
pub(crate) async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(document_json())
}

/// Swagger UI at [`DOCS_PATH`], reading the document from [`OPENAPI_PATH`]; mounted before the
/// `/api/v1` scope, which would otherwise answer 404 for it.
pub(crate) fn configure_docs(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/docs").route(web::get().to(|| async {
        HttpResponse::PermanentRedirect()
            .insert_header((header::LOCATION, DOCS_PATH))
            .finish()
    })))
    .service(SwaggerUi::new(format!("{DOCS_PATH}{{_:.*}}")).config(Config::new([OPENAPI_PATH])));
}

/// Adds the bearer scheme and makes it the default of every operation (the few public ones
/// say `security(())`).
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description = Some(
            "A token from `POST /api/v1/auth/sessions` (43 characters, base64url), sent as \
             `Authorization: Bearer <token>`."
                .to_owned(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// Documents `Idempotency-Key` ([`crate::idempotency`]) on every POST the middleware covers:
/// the authenticated ones (no `security(())`) except uploads under `/api/v1/files`, with the
/// answers a key can bring (400 malformed key, 409 the same key still running, 422 the same
/// key with a different request). Done here, from the same rule the middleware applies, so a
/// new POST cannot be forgotten.
struct IdempotencyHeader;

impl Modify for IdempotencyHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::{Required, header::HeaderBuilder};

        for (path, item) in &mut openapi.paths.paths {
            let Some(op) = item.post.as_mut() else {
                continue;
            };
            if op.security.is_some() || path.starts_with("/api/v1/files") {
                continue;
            }
            let key = ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "Any 1–255 visible ASCII characters (a UUID, typically), new for each \
                     intended action. A retry with the same key and the same request gets the \
                     first answer again (`Idempotent-Replayed: true`) and creates nothing; \
                     keys belong to the caller and are kept 24 hours.",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1))
                        .max_length(Some(255))
                        .pattern(Some("^[!-~]+$")),
                ))
                .build();
            op.parameters.get_or_insert_with(Vec::new).push(key);
            let responses = &mut op.responses.responses;
            for (status, what) in [
                (
                    "400",
                    "`idempotency_key_invalid`: the `Idempotency-Key` is not 1–255 visible ASCII \
                     characters (and the statuses of a body that cannot be read).",
                ),
                (
                    "409",
                    "`idempotency_key_in_progress`: a request with the same `Idempotency-Key` is \
                     still running; retry after `Retry-After` seconds.",
                ),
                (
                    "422",
                    "`idempotency_key_reused`: the `Idempotency-Key` was used with a different \
                     request.",
                ),
            ] {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem_response(what));
            }
            for (_, answer) in responses
                .iter_mut()
                .filter(|(status, _)| status.starts_with('2'))
            {
                if let RefOr::T(answer) = answer {
                    answer.headers.insert(
                        "Idempotent-Replayed".to_owned(),
                        HeaderBuilder::new()
                            .schema(
                                ObjectBuilder::new()
                                    .schema_type(Type::String)
                                    .enum_values(Some(["true"])),
                            )
                            .description(Some(
                                "Present when this is the kept answer of an earlier request \
                                 with the same `Idempotency-Key`.",
                            ))
                            .build(),
                    );
                }
            }
        }
    }
}

/// An error body: `application/problem+json` (RFC 9457, DECISIONS 6).
///
/// Some problems carry extension members besides these: `retry_after_secs`, `locked_until`,
/// `remaining_attempts`, `limit_bytes`, `join_request_id`, `detected_type`, … (named in each
/// operation's description of the status).
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema only: problem.rs renders the body")]
pub(crate) struct Problem {
    /// `https://certdesk.example/problems/<code>`, or `about:blank` for a bare HTTP status.
    #[schema(rename = "type")]
    type_uri: String,
    /// Short English summary of the problem type.
    title: String,
    /// The HTTP status.
    #[schema(minimum = 400, maximum = 599)]
    status: u16,
    /// The English message again (RFC 9457 `detail`).
    detail: String,
    /// Stable snake_case code to branch on.
    code: String,
    /// Message for the applicant, in Chinese.
    message_zh: String,
    /// Message for the applicant, in English.
    message_en: String,
    /// Problems with single fields of the request (empty when none).
    errors: Vec<FieldProblem>,
    /// The request id, also in the `X-Request-Id` header.
    request_id: Option<String>,
}

/// A problem response with `description`.
fn problem_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "Problem",
                ))))
                .build(),
        )
        .build()
        .into()
}

/// 400: a body, query or header that cannot be read.
pub(crate) struct BadRequest;

impl<'s> ToResponse<'s> for BadRequest {
    fn response() -> (&'s str, RefOr<Response>) {
        (
            "BadRequest",
            problem_response(
                "The request cannot be read: `malformed_json` (not JSON, a wrong type or an \
                 unknown field, named in `errors`), `malformed_query`, `malformed_body`, \
                 `bad_request`.",
            ),
        )
    }
}

/// 401: no token, or not a live one.
pub(crate) struct Unauthorized;

impl<'s> ToResponse<'s> for Unauthorized {
    fn response() -> (&'s str, RefOr<Response>) {
        (
            "Unauthorized",
            problem_response(
                "`unauthenticated` (no `Authorization: Bearer` header) or `invalid_token` \
                 (unknown, expired or revoked); `WWW-Authenticate: Bearer` says the same.",
            ),
        )
    }
}

/// 413: a JSON body over 64 KiB.
pub(crate) struct PayloadTooLarge;

impl<'s> ToResponse<'s> for PayloadTooLarge {
    fn response() -> (&'s str, RefOr<Response>) {
        (
            "PayloadTooLarge",
            problem_response(
                "`payload_too_large`: the JSON body is over 64 KiB (`limit_bytes` says how \
                 many bytes are allowed).",
            ),
        )
    }
}

/// 415: a body that is not sent as JSON.
pub(crate) struct UnsupportedMediaType;

impl<'s> ToResponse<'s> for UnsupportedMediaType {
    fn response() -> (&'s str, RefOr<Response>) {
        (
            "UnsupportedMediaType",
            problem_response(
                "`unsupported_media_type`: the body must be sent with `Content-Type: \
                 application/json`.",
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use std::collections::{BTreeMap, BTreeSet};
    use std::path::PathBuf;

    use serde_json::Value;

    use super::*;

    /// What the code mounts: each `web::resource("…")` of `routes/mod.rs` with the methods of
    /// its `.route(web::<method>()…)` calls, read from the source (actix cannot list them).
    fn mounted() -> BTreeMap<String, BTreeSet<String>> {
        let source = include_str!("routes/mod.rs");
        let mut routes = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in source.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("web::resource(\"") {
                let path = rest.split('"').next().unwrap();
                current = Some(format!("/api/v1{path}"));
                routes.insert(current.clone().unwrap(), BTreeSet::new());
            } else if let Some(rest) = line.strip_prefix(".route(web::") {
                let method = rest.split('(').next().unwrap().to_owned();
                let path = current.as_ref().expect("a route outside a resource");
                routes.get_mut(path).unwrap().insert(method);
            }
        }
        routes
    }

    /// What the document describes: each path with its methods.
    fn documented(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
        doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(path, item)| {
                let methods = item
                    .as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| {
                        ["get", "put", "post", "delete", "patch", "head", "options"]
                            .contains(&k.as_str())
                    })
                    .cloned()
                    .collect();
                (path.clone(), methods)
            })
            .collect()
    }

    fn doc() -> Value {
        serde_json::from_str(document_json()).unwrap()
    }

    #[test]
    fn every_mounted_route_is_documented_with_its_methods() {
        let mounted = mounted();
        // The parse itself must work, or the comparison below proves nothing.
        assert!(mounted.len() >= 17, "{mounted:?}");
        assert_eq!(
            mounted["/api/v1/join-requests/{id}/decision"],
            BTreeSet::from(["post".to_owned()])
        );
        assert_eq!(
            documented(&doc()),
            mounted,
            "routes/mod.rs and the OpenAPI document differ: annotate the handler with \
             #[utoipa::path] and list it in openapi::ApiDoc"
        );
    }

    /// Every `$ref` in `value`.
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_document_is_valid_openapi_3() {
        let text = document_json();
        // It parses back into utoipa's model of OpenAPI.
        let parsed: utoipa::openapi::OpenApi = serde_json::from_str(text).unwrap();
        assert_eq!(
            parsed.paths.paths.len(),
            doc()["paths"].as_object().unwrap().len()
        );

        let doc = doc();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            doc["openapi"]
        );
        assert!(!doc["info"]["title"].as_str().unwrap().is_empty());
        assert!(!doc["info"]["version"].as_str().unwrap().is_empty());
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );

        // Every reference resolves.
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("external ref {r}"));
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }

        let mut operation_ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            let templated: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            for (method, op) in item.as_object().unwrap() {
                let here = format!("{method} {path}");
                let id = op["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{here}: no id"));
                assert!(
                    operation_ids.insert(id.to_owned()),
                    "{here}: duplicate id {id}"
                );
                assert!(
                    op["summary"].is_string() || op["description"].is_string(),
                    "{here}"
                );
                // Each path template variable is a required path parameter, and no other.
                let params: BTreeSet<&str> = op["parameters"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .filter(|p| p["in"] == "path")
                            .inspect(|p| assert_eq!(p["required"], true, "{here}"))
                            .map(|p| p["name"].as_str().unwrap())
                            .collect()
                    })
                    .unwrap_or_default();
                assert_eq!(params, templated, "{here}: path parameters");
                let responses = op["responses"].as_object().unwrap();
                assert!(
                    responses.keys().any(|s| s.starts_with('2')),
                    "{here}: no 2xx"
                );
                for (status, response) in responses {
                    let response = match response["$ref"].as_str() {
                        Some(r) => doc.pointer(&r[1..]).unwrap(),
                        None => response,
                    };
                    assert!(response["description"].is_string(), "{here} {status}");
                    if status.starts_with('4') || status.starts_with('5') {
                        assert_eq!(
                            response["content"][PROBLEM_JSON]["schema"]["$ref"],
                            "#/components/schemas/Problem",
                            "{here} {status}: errors are problems"
                        );
                    }
                }
                // A protected operation documents 401; a public one says so.
                let public = op["security"] == serde_json::json!([{}]);
                assert_eq!(
                    responses.contains_key("401"),
                    !public || op["security"].as_array().is_some_and(|s| s.len() > 1),
                    "{here}: 401 and security disagree"
                );
            }
        }
    }

    #[test]
    fn every_post_the_idempotency_middleware_covers_documents_its_key() {
        let doc: Value = serde_json::from_str(document_json()).unwrap();
        let mut covered = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            let Some(post) = item.get("post") else {
                continue;
            };
            let public = post.get("security").is_some();
            let has_key = post["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == "Idempotency-Key"));
            let expected = !public && !path.starts_with("/api/v1/files");
            assert_eq!(has_key, expected, "POST {path}");
            if expected {
                covered += 1;
                for status in ["409", "422"] {
                    assert!(
                        post["responses"].get(status).is_some(),
                        "POST {path} {status}"
                    );
                }
            }
        }
        assert!(covered >= 5, "only {covered} POSTs carry the key");
    }

    #[test]
    fn the_committed_copy_is_current() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        let expected = format!("{}\n", document_json());
        if std::env::var_os("CERTDESK_BLESS").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == expected,
            "docs/openapi.json is not what the code generates; write it with \
             `CERTDESK_BLESS=1 cargo nextest run -p certdesk-api openapi` and commit it"
        );
    }
}
