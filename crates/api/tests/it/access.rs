//! The access matrix: every operation of the OpenAPI document, called by people who must not
//! see or change the subject — an applicant with no tie to it, the admin of another
//! enterprise, a plain member of the same enterprise — answers 403 or 404 with no trace of the
//! subject's data, and changes nothing. The rightful caller then succeeds with the very same
//! requests, so a refusal is never an artefact of a wrong URI.
//!
//! The operations are read from the document, not listed by hand: a new endpoint that is
//! missing from [`access_of`] fails this test until it says who may call it.

use actix_web::http::header;
use actix_web::http::{Method, StatusCode};
use actix_web::test::TestRequest;
use certdesk_store::testing::seed;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::files::{pdf, upload};
use crate::support::{ENTERPRISE_USCC, User, World, get, post, send};

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// No token needed, no subject (login, the document).
    Public,
    /// Acts on or lists only the caller's own things (their profile, tokens, requests): an
    /// intruder gets their own (empty) view, never the victim's data.
    Own,
    /// Names a subject by id in its path: only the people tied to it.
    Guarded,
}

/// Every documented operation and who may call it.
fn access_of(method: &str, path: &str) -> Access {
    use Access::*;
    match (method, path) {
        ("post", "/api/v1/auth/sms-codes" | "/api/v1/auth/sessions")
        | ("get", "/api/v1/openapi.json") => Public,
        ("delete", "/api/v1/auth/session")
        | ("get", "/api/v1/auth/tokens")
        | ("get" | "put", "/api/v1/me" | "/api/v1/me/password")
        | ("get" | "post", "/api/v1/me/real-name")
        | ("post", "/api/v1/me/real-name/face")
        // Enterprise search answers public registry facts (name, USCC), never members.
        | ("get", "/api/v1/enterprises")
        | ("get", "/api/v1/me/enterprises")
        | ("post", "/api/v1/files")
        | ("get" | "post", "/api/v1/join-requests") => Own,
        ("delete", "/api/v1/auth/tokens/{id}")
        | ("get", "/api/v1/enterprises/{id}")
        | ("get", "/api/v1/enterprises/{id}/members")
        | ("put", "/api/v1/enterprises/{id}/members/{user_id}/seal-use")
        | ("get", "/api/v1/enterprises/{id}/join-requests")
        | ("get", "/api/v1/files/{id}")
        | ("get", "/api/v1/files/{id}/content")
        | ("get", "/api/v1/join-requests/{id}")
        | ("post", "/api/v1/join-requests/{id}/decision")
        | ("post", "/api/v1/join-requests/{id}/withdraw") => Guarded,
        _ => panic!(
            "{} {path} is not in the access matrix: say who may call it in access_of and \
             how to call it in guarded_request",
            method.to_uppercase()
        ),
    }
}

/// The victim's things.
struct Subject {
    /// The applicant's join request to the main enterprise.
    join_request: String,
    /// A PDF the applicant uploaded.
    file: String,
    /// The applicant's token id.
    token: String,
    /// A plain member of the main enterprise.
    member: User,
}

/// A guarded operation with the subject's ids filled in, as `user`.
fn guarded_request(method: &str, path: &str, s: &Subject, w: &World, user: &User) -> TestRequest {
    let uri = path
        .replace(
            "{id}",
            &match path {
                p if p.starts_with("/api/v1/auth/tokens") => s.token.clone(),
                p if p.starts_with("/api/v1/enterprises") => w.enterprise.to_string(),
                p if p.starts_with("/api/v1/files") => s.file.clone(),
                p if p.starts_with("/api/v1/join-requests") => s.join_request.clone(),
                p => panic!("no subject id for {p}"),
            },
        )
        .replace("{user_id}", &s.member.id.to_string());
    let body = match path {
        p if p.ends_with("/seal-use") => Some(json!({ "until": "2099-12-31" })),
        p if p.ends_with("/decision") => Some(json!({ "outcome": "approve" })),
        p if p.ends_with("/withdraw") => Some(json!({})),
        _ => None,
    };
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut req = TestRequest::default()
        .method(method)
        .uri(&uri)
        .insert_header((header::AUTHORIZATION, format!("Bearer {}", user.token)));
    if let Some(body) = body {
        req = req.set_json(body);
    }
    req
}

/// What must never appear in an intruder's answer.
fn secrets(w: &World, s: &Subject) -> Vec<String> {
    vec![
        s.join_request.clone(),
        s.file.clone(),
        s.token.clone(),
        w.applicant.id.to_string(),
        s.member.id.to_string(),
        "申请人".to_owned(),
        "成员乙".to_owned(),
        "新入职的投标专员".to_owned(),
        "13900001111".to_owned(),
        "139****1111".to_owned(),
        "137****1234".to_owned(),
        "access-matrix.pdf".to_owned(),
    ]
}

#[actix_web::test]
async fn nobody_reads_or_changes_another_applicants_or_enterprises_things() {
    let w = World::new().await;
    let app = app!(w);

    // The subject: the applicant's join request, file and token; a plain member.
    let r = send(
        &app,
        post(
            "/api/v1/join-requests",
            &w.applicant,
            json!({ "enterprise_id": w.enterprise, "mode": "reason", "reason": "新入职的投标专员" }),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    let join_request = r.body["id"].as_str().unwrap().to_owned();
    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=authorisation_letter&filename=access-matrix.pdf",
            "application/pdf",
            pdf("授权书", 0),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    let file = r.body["id"].as_str().unwrap().to_owned();
    let r = send(&app, get("/api/v1/auth/tokens", &w.applicant).to_request()).await;
    let token = r.body["items"][0]["id"].as_str().unwrap().to_owned();
    let member = w.user("成员乙", Some("13700001234")).await;
    {
        let mut conn = w.conn().await;
        seed::member(&mut conn, w.enterprise, member.id, "member", w.now()).await;
    }
    let s = Subject {
        join_request,
        file,
        token,
        member: member.clone(),
    };
    let secrets = secrets(&w, &s);

    let doc: Value = serde_json::from_str(certdesk_api::openapi::document_json()).unwrap();
    let mut guarded = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            match access_of(method, path) {
                Access::Guarded => guarded.push((method.clone(), path.clone())),
                Access::Own => {
                    // An intruder calling it sees only their own things. Calls that would
                    // change the intruder's own account are left to their own tests.
                    if method == "get" {
                        let uri = if path == "/api/v1/enterprises" {
                            format!("{path}?uscc={}", ENTERPRISE_USCC)
                        } else {
                            path.clone()
                        };
                        for intruder in [&w.stranger, &w.other_admin] {
                            let r = send(&app, get(&uri, intruder).to_request()).await;
                            assert_eq!(r.status, StatusCode::OK, "GET {uri}: {:#}", r.body);
                            let text = r.body.to_string();
                            for secret in &secrets {
                                assert!(!text.contains(secret), "GET {uri} shows {secret}: {text}");
                            }
                        }
                    }
                }
                Access::Public => {}
            }
        }
    }
    assert!(guarded.len() >= 10, "{guarded:?}");

    // Every guarded operation, by three kinds of intruder.
    let plain_member = &member;
    for (method, path) in &guarded {
        for (who, intruder) in [
            ("another applicant", &w.stranger),
            ("another enterprise's admin", &w.other_admin),
            ("a plain member", plain_member),
        ] {
            // The member may read their own enterprise; that is not an intrusion.
            if std::ptr::eq(intruder, plain_member)
                && method == "get"
                && path == "/api/v1/enterprises/{id}"
            {
                continue;
            }
            let r = send(
                &app,
                guarded_request(method, path, &s, &w, intruder).to_request(),
            )
            .await;
            assert!(
                matches!(r.status.as_u16(), 403 | 404),
                "{} {path} by {who}: {} {:#}",
                method.to_uppercase(),
                r.status,
                r.body
            );
            assert_eq!(
                r.header("content-type"),
                Some("application/problem+json"),
                "{method} {path} by {who}"
            );
            let text = r.body.to_string();
            for secret in &secrets {
                assert!(
                    !text.contains(secret),
                    "{method} {path} by {who} shows {secret}: {text}"
                );
            }
        }
    }

    // Nothing changed: the request is still waiting, the token works, no seal-use right.
    assert_eq!(
        w.instance_state(s.join_request.parse::<Uuid>().unwrap())
            .await,
        "admin_review"
    );
    let r = send(&app, get("/api/v1/me", &w.applicant).to_request()).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(&app, get("/api/v1/me/enterprises", &member).to_request()).await;
    assert_eq!(
        r.body["items"][0]["my_seal_use_until"],
        Value::Null,
        "{:#}",
        r.body
    );

    // The rightful callers succeed with the very same requests.
    for (method, path) in &guarded {
        let rightful = match path.as_str() {
            "/api/v1/auth/tokens/{id}"
            | "/api/v1/files/{id}"
            | "/api/v1/files/{id}/content"
            | "/api/v1/join-requests/{id}/withdraw" => &w.applicant,
            _ => &w.admin,
        };
        if path.ends_with("/withdraw") || path.starts_with("/api/v1/auth/tokens") {
            // Withdrawing needs a request still open (the decision below closes it; the
            // join-request tests withdraw); revoking ends the session: done last, below.
            continue;
        }
        let r = send(
            &app,
            guarded_request(method, path, &s, &w, rightful).to_request(),
        )
        .await;
        assert!(
            r.status.is_success(),
            "{method} {path}: {} {:#}",
            r.status,
            r.body
        );
    }
    assert_eq!(
        w.instance_state(s.join_request.parse::<Uuid>().unwrap())
            .await,
        "joined"
    );
    let r = send(
        &app,
        guarded_request("delete", "/api/v1/auth/tokens/{id}", &s, &w, &w.applicant).to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:#}", r.body);
    assert_eq!(
        send(&app, get("/api/v1/me", &w.applicant).to_request())
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}
