//! The OpenAPI document and Swagger UI, served without a token.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;

use crate::support::{World, send, send_bytes};

#[actix_web::test]
async fn the_document_is_served_without_a_token() {
    let w = World::new().await;
    let app = app!(w);
    let r = send(
        &app,
        TestRequest::get().uri("/api/v1/openapi.json").to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("x-request-id").is_some());
    assert_eq!(r.body["openapi"], "3.1.0");
    assert_eq!(
        r.body,
        serde_json::from_str::<serde_json::Value>(certdesk_api::openapi::document_json()).unwrap()
    );
    assert!(r.body["paths"]["/api/v1/join-requests"]["post"].is_object());

    let r = send(
        &app,
        TestRequest::post().uri("/api/v1/openapi.json").to_request(),
    )
    .await;
    r.problem(405, "method_not_allowed");
}

#[actix_web::test]
async fn swagger_ui_is_served_from_the_binary() {
    let w = World::new().await;
    let app = app!(w);
    let (status, headers, _) =
        send_bytes(&app, TestRequest::get().uri("/api/v1/docs").to_request()).await;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(headers.get("location").unwrap(), "/api/v1/docs/");

    let (status, headers, body) =
        send_bytes(&app, TestRequest::get().uri("/api/v1/docs/").to_request()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every script and style comes from this server, none from a CDN.
    assert!(!html.contains("https://"), "{html}");

    let (status, _, body) = send_bytes(
        &app,
        TestRequest::get()
            .uri("/api/v1/docs/swagger-initializer.js")
            .to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let js = String::from_utf8(body).unwrap();
    assert!(js.contains("/api/v1/openapi.json"), "{js}");

    let (status, _, body) = send_bytes(
        &app,
        TestRequest::get()
            .uri("/api/v1/docs/swagger-ui-bundle.js")
            .to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.len() > 100_000,
        "the bundle is vendored: {} bytes",
        body.len()
    );
}
