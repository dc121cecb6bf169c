//! Phone and identity numbers never leave in full: not in an answer, and not in a log line,
//! even when an operator sets `RUST_LOG=trace` and asks for the database client's lines too.
//!
//! The test installs the process's real subscriber (`certdesk_api::logging`) writing into
//! memory, drives logins, real-name checks, a passport review, a join request and lists, with
//! good and bad input, then searches every answer and every captured line for the numbers.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use certdesk_domain::ident::id_check_char;
use certdesk_store::schema::users;
use diesel::QueryDsl;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::files::{jpeg, upload};
use crate::support::*;

/// A phone with no account yet: it signs up by SMS code.
const NEW_PHONE: &str = "13700009876";
/// The passport number of the manual review.
const PASSPORT: &str = "E98765432";

/// Log lines, kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for Captured {
    type Writer = Captured;

    fn make_writer(&'w self) -> Captured {
        self.clone()
    }
}

fn resident_id(seq: &str) -> String {
    let first17 = format!("35010219851120{seq}");
    format!("{first17}{}", id_check_char(&first17).unwrap())
}

fn from(ip: &str) -> SocketAddr {
    format!("{ip}:40000").parse().unwrap()
}

fn anonymous(uri: &str, body: Value) -> TestRequest {
    TestRequest::post()
        .uri(uri)
        .peer_addr(from("198.51.100.7"))
        .set_json(body)
}

#[actix_web::test]
async fn no_answer_and_no_log_line_holds_a_full_phone_or_identity_number() {
    let logs = Captured::default();
    certdesk_api::logging::subscriber(Some("trace,tokio_postgres=trace"), logs.clone(), false)
        .try_init()
        .expect("no other subscriber in this test's process");

    let w = World::new().await;
    let app = app!(w);
    let mut answers: Vec<(String, Reply)> = Vec::new();
    macro_rules! call {
        ($what:expr, $req:expr) => {{
            let r = send(&app, $req.to_request()).await;
            answers.push(($what.to_owned(), r));
            &answers.last().unwrap().1
        }};
    }

    // ---- sign-up by SMS code: a wrong code, a code typed as a number, the right code -------
    let codes = "/api/v1/auth/sms-codes";
    let sessions = "/api/v1/auth/sessions";
    let r = call!(
        "ask a code",
        anonymous(codes, json!({ "phone": NEW_PHONE, "purpose": "login" }))
    );
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:#}", r.body);
    let sms = w.sms.messages_to(NEW_PHONE).await.unwrap();
    let code = sms[0]
        .body
        .split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .unwrap()
        .to_owned();
    let code = code.as_str();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = call!(
        "a wrong code",
        anonymous(sessions, json!({ "phone": NEW_PHONE, "code": wrong }))
    );
    assert!(r.status.is_client_error(), "{:#}", r.body);
    let number: u64 = NEW_PHONE.parse().unwrap();
    let r = call!(
        "a phone sent as a JSON number",
        anonymous(codes, json!({ "phone": number, "purpose": "login" }))
    );
    assert!(r.status.is_client_error(), "{:#}", r.body);
    let r = call!(
        "the right code",
        anonymous(sessions, json!({ "phone": NEW_PHONE, "code": code }))
    );
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    let newcomer = User {
        id: r.body["user"]["id"].as_str().unwrap().parse().unwrap(),
        token: r.body["token"].as_str().unwrap().to_owned(),
    };
    let r = call!("/me", get("/api/v1/me", &newcomer));
    assert_eq!(r.status, StatusCode::OK);

    // ---- real-name: a match, a mismatch, a bad check digit, a number typed as a number ------
    let me = "/api/v1/me/real-name";
    let good = resident_id("123");
    let mismatch = resident_id("999");
    let mut bad_digit = resident_id("124");
    let last = if bad_digit.ends_with('0') { "1" } else { "0" };
    bad_digit.replace_range(17.., last);
    let r = call!(
        "a resident ID that matches",
        post(
            me,
            &w.applicant,
            json!({ "id_type": "resident_id", "name": "张三", "id_number": good })
        )
    );
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let r = call!(
        "a resident ID the provider does not match",
        post(
            me,
            &newcomer,
            json!({ "id_type": "resident_id", "name": "李四", "id_number": mismatch })
        )
    );
    r.problem(422, "real_name_mismatch");
    let r = call!(
        "a resident ID with a bad check digit",
        post(
            me,
            &newcomer,
            json!({ "id_type": "resident_id", "name": "李四", "id_number": bad_digit })
        )
    );
    r.problem(422, "invalid_input");
    let typed: u64 = mismatch[..17].parse().unwrap();
    let r = call!(
        "a resident ID sent as a JSON number",
        post(
            me,
            &newcomer,
            json!({ "id_type": "resident_id", "name": "李四", "id_number": typed })
        )
    );
    assert!(r.status.is_client_error(), "{:#}", r.body);

    // ---- a passport for the CS review --------------------------------------------------------
    let mut photos = Vec::new();
    for (purpose, seed) in [("passport", 21), ("face_photo", 22)] {
        let r = call!(
            "an upload",
            upload(
                &w.admin2,
                &format!("purpose={purpose}"),
                "image/jpeg",
                jpeg(960, 1280, seed, None)
            )
        );
        assert!(r.status.is_success(), "{:#}", r.body);
        photos.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let r = call!(
        "a passport",
        post(
            me,
            &w.admin2,
            json!({
                "id_type": "passport",
                "name": "JOHN SMITH",
                "id_number": PASSPORT,
                "valid_until": "2030-06-06",
                "document_front": photos[0],
                "portrait": photos[1],
            })
        )
    );
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let r = call!("the passport's status", get(me, &w.admin2));
    assert_eq!(r.status, StatusCode::OK);

    // ---- a join request checked by the admin's phone, and the lists that show phones ---------
    let r = call!(
        "a join request naming the admin's phone",
        post(
            "/api/v1/join-requests",
            &newcomer,
            json!({
                "enterprise_id": w.enterprise,
                "mode": "verify_admin",
                "admin_name": "管理员",
                "admin_phone_last4": "0000",
            })
        )
    );
    assert!(r.status.is_client_error() || r.status.is_success());
    let r = call!(
        "a join request",
        post(
            "/api/v1/join-requests",
            &w.stranger,
            json!({ "enterprise_id": w.enterprise, "mode": "reason", "reason": "新入职的投标专员" })
        )
    );
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    let enterprise = w.enterprise;
    let r = call!(
        "the enterprise's join requests",
        get(
            &format!("/api/v1/enterprises/{enterprise}/join-requests"),
            &w.admin
        )
    );
    assert_eq!(r.status, StatusCode::OK);
    let r = call!(
        "the enterprise's members",
        get(
            &format!("/api/v1/enterprises/{enterprise}/members"),
            &w.admin
        )
    );
    assert_eq!(r.status, StatusCode::OK);

    // ---- the search: every stored phone, and every identity number used ----------------------
    let phones: Vec<String> = users::table
        .select(users::phone)
        .load::<Option<String>>(&mut w.conn().await)
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    assert!(phones.iter().any(|p| p == NEW_PHONE), "{phones:?}");
    assert!(
        phones.len() >= 5,
        "the world's people have phones: {phones:?}"
    );
    let mut secrets = phones;
    secrets.extend([good, mismatch.clone(), bad_digit, typed.to_string()]);
    secrets.push(PASSPORT.to_owned());

    for (what, r) in &answers {
        let text = format!("{:?} {}", r.headers, r.body);
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "{what}: the answer holds {s}: {text}"
            );
        }
    }
    let text = logs.text();
    // The capture works at every level: our own lines, masked, and the debug lines of refusals.
    assert!(text.contains("code refused"), "{text}");
    assert!(
        text.contains("137****9876"),
        "the masked phone is logged: {text}"
    );
    assert!(
        text.contains("request refused http.status=400 error.code=\"malformed_json\""),
        "{text}"
    );
    // Also as the byte lists a library's `Debug` of a query parameter prints ("49, 51, 55, …").
    let as_bytes: Vec<(String, String)> = secrets
        .iter()
        .map(|s| {
            let bytes: Vec<String> = s.bytes().map(|b| b.to_string()).collect();
            (s.clone(), bytes.join(", "))
        })
        .collect();
    for line in text.lines() {
        for (s, bytes) in &as_bytes {
            assert!(!line.contains(s.as_str()), "a log line holds {s}: {line}");
            assert!(
                !line.contains(bytes.as_str()),
                "a log line holds {s} as bytes: {line}"
            );
        }
    }
}
