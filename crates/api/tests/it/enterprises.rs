//! Finding the enterprise to join.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::support::{ENTERPRISE_NAME, ENTERPRISE_USCC, World, encode, get, send, uscc};

#[actix_web::test]
async fn by_exact_uscc() {
    let w = World::new().await;
    let app = app!(w);
    let r = send(
        &app,
        get(
            &format!(
                "/api/v1/enterprises?uscc={}",
                ENTERPRISE_USCC.to_lowercase()
            ),
            &w.applicant,
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(
        r.body,
        json!([{ "id": w.enterprise, "name": ENTERPRISE_NAME, "uscc": ENTERPRISE_USCC }])
    );

    let r = send(
        &app,
        get(
            &format!("/api/v1/enterprises?uscc={}", uscc("91350299MA2Y3K099")),
            &w.applicant,
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.body, json!([]), "a valid code nobody claimed");

    let r = send(
        &app,
        get("/api/v1/enterprises?uscc=91350100M000100Y44", &w.applicant).to_request(),
    )
    .await;
    r.problem(422, "invalid_input");
    assert_eq!(r.field_errors()[0].0, "uscc");
}

#[actix_web::test]
async fn by_name_needs_five_characters_and_returns_at_most_ten() {
    let w = World::new().await;
    let app = app!(w);
    for i in 0..12 {
        w.enterprise(
            &uscc(&format!("913501{i:02}MA2Y3K1{i:02}")),
            &format!("闽江示例贸易{i:02}有限公司"),
            &[],
        )
        .await;
    }
    let search = |q: &str| {
        get(
            &format!("/api/v1/enterprises?name={}", encode(q)),
            &w.applicant,
        )
    };

    let r = send(&app, search("示例贸易公").to_request()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!([]), "not contained in any name");

    // Contained in ten names (00 to 09).
    let r = send(&app, search("示例贸易0").to_request()).await;
    assert_eq!(r.body.as_array().unwrap().len(), 10, "{:#}", r.body);

    // A prefix of all twelve: at most ten hits, in name order.
    let r = send(&app, search("闽江示例贸易").to_request()).await;
    let names: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 10);
    assert_eq!(names[0], "闽江示例贸易00有限公司");
    assert_eq!(names[9], "闽江示例贸易09有限公司");

    // Contains, not only prefix.
    let r = send(&app, search("示例科技有限").to_request()).await;
    assert_eq!(
        r.body,
        json!([{ "id": w.enterprise, "name": ENTERPRISE_NAME, "uscc": ENTERPRISE_USCC }])
    );

    // LIKE wildcards are taken literally.
    let r = send(&app, search("%%%%%").to_request()).await;
    assert_eq!(r.body, json!([]));
    let r = send(&app, search("_____").to_request()).await;
    assert_eq!(r.body, json!([]));

    // Four characters are too few.
    let r = send(&app, search("示例贸易").to_request()).await;
    r.problem(422, "invalid_input");
    assert_eq!(r.field_errors(), [("name".into(), "name_too_short".into())]);

    // Neither, or both.
    let r = send(&app, get("/api/v1/enterprises", &w.applicant).to_request()).await;
    r.problem(422, "invalid_input");
    assert_eq!(
        r.field_errors(),
        [
            ("uscc".into(), "required".into()),
            ("name".into(), "required".into())
        ]
    );
    let r = send(
        &app,
        get(
            &format!("/api/v1/enterprises?uscc={ENTERPRISE_USCC}&name=abcdef"),
            &w.applicant,
        )
        .to_request(),
    )
    .await;
    r.problem(422, "invalid_input");

    let r = send(
        &app,
        get("/api/v1/enterprises?page=2", &w.applicant).to_request(),
    )
    .await;
    r.problem(400, "malformed_query");
}
