//! The routes of `/api/v1`.
//!
//! Every route here needs a `#[utoipa::path]` on its handler and an entry in
//! [`crate::openapi::ApiDoc`]: a test fails for a resource or method the document lacks.

pub(crate) mod auth;
pub(crate) mod enterprises;
pub(crate) mod files;
pub(crate) mod join_requests;
pub(crate) mod me;
pub(crate) mod memberships;
pub(crate) mod real_name;

use actix_web::{HttpResponse, web};

use crate::problem::ApiError;

/// Mounts every `/api/v1` route (relative to the scope).
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/auth/sms-codes")
            .route(web::post().to(auth::request_code))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/auth/sessions")
            .route(web::post().to(auth::create_session))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/auth/session")
            .route(web::delete().to(auth::logout))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/auth/tokens")
            .route(web::get().to(auth::list_tokens))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/auth/tokens/{id}")
            .route(web::delete().to(auth::revoke_token))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/me")
            .route(web::get().to(me::profile))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/me/password")
            .route(web::put().to(me::set_password))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/me/real-name")
            .route(web::get().to(real_name::show))
            .route(web::post().to(real_name::submit))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/me/real-name/face")
            .route(web::post().to(real_name::face))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/enterprises")
            .route(web::get().to(enterprises::search))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/me/enterprises")
            .route(web::get().to(memberships::mine))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/enterprises/{id}")
            .route(web::get().to(memberships::one))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/enterprises/{id}/members")
            .route(web::get().to(memberships::members))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/enterprises/{id}/members/{user_id}/seal-use")
            .route(web::put().to(memberships::seal_use))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/enterprises/{id}/join-requests")
            .route(web::get().to(join_requests::list_for_enterprise))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/files")
            .route(web::post().to(files::upload))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/files/{id}")
            .route(web::get().to(files::detail))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/files/{id}/content")
            .route(web::get().to(files::content))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/join-requests")
            .route(web::get().to(join_requests::list_own))
            .route(web::post().to(join_requests::submit))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/join-requests/{id}")
            .route(web::get().to(join_requests::detail))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/join-requests/{id}/decision")
            .route(web::post().to(join_requests::decide))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/join-requests/{id}/withdraw")
            .route(web::post().to(join_requests::withdraw))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/openapi.json")
            .route(web::get().to(crate::openapi::document))
            .default_service(web::to(method_not_allowed)),
    );
}

/// Any path no route serves.
pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::no_route())
}

/// A method a resource does not serve.
pub(crate) async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::method_not_allowed())
}
