//! Applicant login against a real PostgreSQL and the SMS sandbox: codes, tokens, passwords,
//! and every limit, including brute force and concurrent submissions.

use std::net::SocketAddr;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::test::TestRequest;
use certdesk_store::schema::{api_tokens, login_attempts, login_codes, password_lockouts, users};
use chrono::{TimeDelta, TimeZone, Utc};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Reply, User, World, get, join_all, send};

/// A phone with no account yet.
const NEW_PHONE: &str = "13700001234";
/// The sandbox refuses numbers ending in 0000 for good and is busy for those ending in 0001.
const BLACKLISTED: &str = "13712340000";
const BUSY: &str = "13712340001";

fn peer(ip: &str) -> SocketAddr {
    format!("{ip}:40000").parse().unwrap()
}

fn ask(phone: &str, ip: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/auth/sms-codes")
        .peer_addr(peer(ip))
        .set_json(json!({ "phone": phone, "purpose": "login" }))
}

fn session(body: Value, ip: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/auth/sessions")
        .peer_addr(peer(ip))
        .set_json(body)
}

fn with_code(phone: &str, code: &str) -> Value {
    json!({ "phone": phone, "code": code })
}

fn with_password(phone: &str, password: &str) -> Value {
    json!({ "phone": phone, "password": password })
}

fn bearer(req: TestRequest, user: &User) -> TestRequest {
    req.insert_header((header::AUTHORIZATION, format!("Bearer {}", user.token)))
}

/// Sends a request built from a `TestRequest`.
macro_rules! call {
    ($app:expr, $req:expr) => {
        send(&$app, $req.to_request()).await
    };
}

/// Asks for a code for `$phone` (from a fresh IP) and returns it as the sandbox delivered it.
macro_rules! code_for {
    ($w:expr, $app:expr, $phone:expr) => {{
        let r = call!($app, ask($phone, "192.0.2.1"));
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:#}", r.body);
        last_code(&$w, $phone).await
    }};
}

/// Logs `$phone` in by SMS and returns the reply (201 asserted).
macro_rules! sms_login {
    ($w:expr, $app:expr, $phone:expr) => {{
        let code = code_for!($w, $app, $phone);
        let r = call!($app, session(with_code($phone, &code), "192.0.2.2"));
        assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
        r
    }};
}

/// The run of exactly six digits in an SMS.
fn six_digits(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .unwrap_or_else(|| panic!("no 6-digit code in {text}"))
        .to_owned()
}

/// The code of the newest SMS to `phone`.
async fn last_code(w: &World, phone: &str) -> String {
    let messages = w.sms.messages_to(phone).await.unwrap();
    six_digits(&messages.last().expect("an SMS was delivered").body)
}

/// A code that is certainly not `code`.
fn wrong(code: &str, k: u32) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1 + k) % 1_000_000)
}

fn user_of(r: &Reply) -> User {
    User {
        id: r.body["user"]["id"].as_str().unwrap().parse().unwrap(),
        token: r.body["token"].as_str().unwrap().to_owned(),
    }
}

/// Every stored column of every code of `phone`, as text.
async fn code_rows(w: &World, phone: &str) -> Vec<String> {
    let mut conn = w.conn().await;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        row: String,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT row_to_json(c)::text AS row FROM login_codes c WHERE phone = $1 ORDER BY created_at",
    )
    .bind::<diesel::sql_types::Text, _>(phone)
    .load(&mut conn)
    .await
    .unwrap();
    rows.into_iter().map(|r| r.row).collect()
}

async fn tokens_of(w: &World, user: Uuid) -> i64 {
    let mut conn = w.conn().await;
    api_tokens::table
        .filter(api_tokens::user_id.eq(user))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap()
}

// ---- the happy path ------------------------------------------------------------------------

#[actix_web::test]
async fn sms_login_registers_and_the_token_opens_me_lists_and_logs_out() {
    let w = World::new().await;
    let app = app!(w);

    let r = call!(app, ask(NEW_PHONE, "198.51.100.1"));
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:#}", r.body);
    assert_eq!(
        r.body,
        json!({
            "phone": "137****1234",
            "purpose": "login",
            "expires_in_secs": 300,
            "resend_after_secs": 60,
        })
    );
    let messages = w.sms.messages_to(NEW_PHONE).await.unwrap();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].body.starts_with("【中标一证通】"),
        "{}",
        messages[0].body
    );
    let code = six_digits(&messages[0].body);
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));

    // Only the keyed hash is stored: the code's digits are nowhere in the row, and the SMS's
    // message id is the row's id (the gateway's deduplication key).
    let rows = code_rows(&w, NEW_PHONE).await;
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].contains(&code), "{}", rows[0]);
    let mut conn = w.conn().await;
    let (id, mac): (Uuid, Vec<u8>) = login_codes::table
        .select((login_codes::id, login_codes::code_mac))
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(mac.len(), 32);
    assert_eq!(messages[0].message_id, id.to_string());

    let r = call!(
        app,
        session(
            json!({ "phone": "+86 137-0000-1234", "code": code, "device": " iPhone 15 " }),
            "198.51.100.1"
        )
    );
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["registered"], true);
    assert_eq!(r.body["expires_at"], "2026-04-01T01:00:00Z", "30 days");
    assert_eq!(r.body["user"]["phone"], "137****1234");
    assert_eq!(r.body["user"]["kind"], "applicant");
    assert_eq!(r.body["user"]["name"], Value::Null);
    assert_eq!(r.body["user"]["has_password"], false);
    assert!(!r.body.to_string().contains(NEW_PHONE), "phones are masked");
    let first = user_of(&r);
    let first_token_id = r.body["token_id"].as_str().unwrap().to_owned();
    let stored_phone: Option<String> = users::table
        .select(users::phone)
        .find(first.id)
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored_phone.as_deref(), Some(NEW_PHONE));

    // The code is used up.
    call!(app, session(with_code(NEW_PHONE, &code), "198.51.100.1")).problem(422, "code_invalid");

    let me = call!(app, get("/api/v1/me", &first));
    assert_eq!(me.status, StatusCode::OK, "{:#}", me.body);
    assert_eq!(me.body["id"], first.id.to_string());
    assert_eq!(me.body["phone"], "137****1234");

    // A second login a minute later: the same account, a second token.
    w.clock.advance(TimeDelta::seconds(61));
    let r = sms_login!(w, app, NEW_PHONE);
    assert_eq!(r.body["registered"], false);
    let second = user_of(&r);
    assert_eq!(second.id, first.id);

    let list = call!(app, get("/api/v1/auth/tokens", &first));
    assert_eq!(list.status, StatusCode::OK, "{:#}", list.body);
    let list = list.body["items"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{list:#?}");
    let mine = list.iter().find(|t| t["current"] == true).unwrap();
    assert_eq!(mine["id"], first_token_id.as_str());
    assert_eq!(mine["device"], "iPhone 15");
    assert_eq!(mine["label"], "sms");
    assert_eq!(
        mine["last_used_at"], "2026-03-02T01:00:00Z",
        "GET /me right after login"
    );
    assert_eq!(list.iter().filter(|t| t["current"] == true).count(), 1);
    assert!(!list[0].to_string().contains(&first.token));
    assert!(list.iter().all(|t| t.get("token").is_none()));

    // last_used_at is written at most every 5 minutes.
    w.clock.advance(TimeDelta::minutes(2));
    call!(app, get("/api/v1/me", &first));
    let list = call!(app, get("/api/v1/auth/tokens", &first)).body;
    let mine = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["current"] == true)
        .unwrap()
        .clone();
    assert_eq!(mine["last_used_at"], "2026-03-02T01:00:00Z");
    w.clock.advance(TimeDelta::minutes(4));
    call!(app, get("/api/v1/me", &first));
    let list = call!(app, get("/api/v1/auth/tokens", &first)).body;
    let mine = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["current"] == true)
        .unwrap()
        .clone();
    assert_eq!(mine["last_used_at"], "2026-03-02T01:07:01Z");

    // Logging out revokes the token used, and only that one.
    let out = call!(
        app,
        bearer(TestRequest::delete().uri("/api/v1/auth/session"), &first)
    );
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{:#}", out.body);
    call!(app, get("/api/v1/me", &first)).problem(401, "invalid_token");
    assert_eq!(
        call!(app, get("/api/v1/me", &second)).status,
        StatusCode::OK
    );
    let list = call!(app, get("/api/v1/auth/tokens", &second)).body;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn asking_for_a_code_tells_nothing_about_accounts() {
    let w = World::new().await;
    let app = app!(w);
    // The applicant of the world has 13900001111; NEW_PHONE has no account.
    let known = call!(app, ask("13900001111", "198.51.100.1"));
    let unknown = call!(app, ask("13900002222", "198.51.100.1"));
    assert_eq!(known.status, StatusCode::ACCEPTED);
    assert_eq!(known.status, unknown.status);
    assert_eq!(known.body["phone"], "139****1111");
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("phone");
        v
    };
    assert_eq!(strip(known.body), strip(unknown.body));
    // Logging in with the known phone signs into its existing account.
    w.clock.advance(TimeDelta::seconds(61));
    let r = sms_login!(w, app, "13900001111");
    assert_eq!(r.body["registered"], false);
    assert_eq!(r.body["user"]["id"], w.applicant.id.to_string());
    assert_eq!(r.body["user"]["name"], "申请人");
}

// ---- code rules ----------------------------------------------------------------------------

#[actix_web::test]
async fn a_code_is_good_for_five_minutes() {
    let w = World::new().await;
    let app = app!(w);
    let code = code_for!(w, app, NEW_PHONE);
    w.clock.advance(TimeDelta::seconds(299));
    let r = call!(app, session(with_code(NEW_PHONE, &code), "198.51.100.1"));
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);

    let code = code_for!(w, app, "13700005678");
    w.clock.advance(TimeDelta::minutes(5));
    let r = call!(
        app,
        session(with_code("13700005678", &code), "198.51.100.1")
    );
    r.problem(422, "code_expired");
    assert_eq!(
        r.field_errors(),
        [("code".to_owned(), "code_expired".to_owned())]
    );
}

#[actix_web::test]
async fn a_resend_within_a_minute_is_429_and_the_new_code_replaces_the_old() {
    let w = World::new().await;
    let app = app!(w);
    let old = code_for!(w, app, NEW_PHONE);
    w.clock.advance(TimeDelta::seconds(30));
    let r = call!(app, ask(NEW_PHONE, "198.51.100.9"));
    r.problem(429, "code_resend_too_soon");
    assert_eq!(r.header("retry-after"), Some("30"));
    assert_eq!(r.body["retry_after_secs"], 30);
    assert_eq!(
        w.sms.messages_to(NEW_PHONE).await.unwrap().len(),
        1,
        "nothing sent"
    );

    w.clock.advance(TimeDelta::seconds(29));
    call!(app, ask(NEW_PHONE, "198.51.100.9")).problem(429, "code_resend_too_soon");
    w.clock.advance(TimeDelta::seconds(1));
    let new = code_for!(w, app, NEW_PHONE);
    assert_eq!(w.sms.messages_to(NEW_PHONE).await.unwrap().len(), 2);

    if old != new {
        call!(app, session(with_code(NEW_PHONE, &old), "198.51.100.1"))
            .problem(422, "code_invalid");
    }
    let r = call!(app, session(with_code(NEW_PHONE, &new), "198.51.100.1"));
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
}

#[actix_web::test]
async fn five_wrong_tries_void_the_code_even_if_the_sixth_is_right() {
    let w = World::new().await;
    let app = app!(w);
    let code = code_for!(w, app, NEW_PHONE);
    for k in 0..4 {
        let r = call!(
            app,
            session(with_code(NEW_PHONE, &wrong(&code, k)), "198.51.100.1")
        );
        r.problem(422, "code_invalid");
        assert_eq!(r.body["remaining_attempts"], 4 - k, "{:#}", r.body);
        assert_eq!(
            r.field_errors(),
            [("code".to_owned(), "code_invalid".to_owned())]
        );
    }
    let r = call!(
        app,
        session(with_code(NEW_PHONE, &wrong(&code, 4)), "198.51.100.1")
    );
    r.problem(422, "code_voided");
    let r = call!(app, session(with_code(NEW_PHONE, &code), "198.51.100.1"));
    r.problem(422, "code_voided");

    let mut conn = w.conn().await;
    let (tries, reason): (i32, Option<String>) = login_codes::table
        .select((login_codes::failed_tries, login_codes::void_reason))
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!((tries, reason.as_deref()), (5, Some("too_many_tries")));
    let registered: i64 = users::table
        .filter(users::phone.eq(NEW_PHONE))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(registered, 0, "no account from a voided code");

    // A new code works.
    w.clock.advance(TimeDelta::seconds(60));
    sms_login!(w, app, NEW_PHONE);
}

#[actix_web::test]
async fn malformed_requests_change_nothing_and_do_not_count() {
    let w = World::new().await;
    let app = app!(w);
    let r = call!(app, ask("12345", "198.51.100.1"));
    r.problem(422, "invalid_input");
    assert_eq!(
        r.field_errors(),
        [("phone".to_owned(), "phone_invalid".to_owned())]
    );
    let r = call!(
        app,
        TestRequest::post()
            .uri("/api/v1/auth/sms-codes")
            .set_json(json!({ "phone": NEW_PHONE, "purpose": "reset" }))
    );
    assert_eq!(
        r.field_errors(),
        [("purpose".to_owned(), "unknown_purpose".to_owned())]
    );
    call!(
        app,
        TestRequest::post()
            .uri("/api/v1/auth/sms-codes")
            .set_json(json!({ "phone": NEW_PHONE, "extra": 1 }))
    )
    .problem(400, "malformed_json");

    let r = call!(app, session(with_code(NEW_PHONE, "12345a"), "198.51.100.1"));
    assert_eq!(
        r.field_errors(),
        [("code".to_owned(), "code_format".to_owned())]
    );
    let r = call!(
        app,
        session(
            json!({ "phone": NEW_PHONE, "code": "123456", "password": "x" }),
            "198.51.100.1"
        )
    );
    r.problem(422, "invalid_input");
    assert_eq!(
        r.field_errors(),
        [
            ("code".to_owned(), "code_or_password".to_owned()),
            ("password".to_owned(), "code_or_password".to_owned())
        ]
    );
    let r = call!(app, session(json!({ "code": "123456" }), "198.51.100.1"));
    assert_eq!(
        r.field_errors(),
        [("phone".to_owned(), "required".to_owned())]
    );
    let r = call!(
        app,
        session(
            json!({ "phone": NEW_PHONE, "code": "123456", "device": "x".repeat(65) }),
            "198.51.100.1"
        )
    );
    assert_eq!(
        r.field_errors(),
        [("device".to_owned(), "device_invalid".to_owned())]
    );

    let mut conn = w.conn().await;
    let attempts: i64 = login_attempts::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    let codes: i64 = login_codes::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!((attempts, codes), (0, 0));
    assert!(w.sms.messages_to(NEW_PHONE).await.unwrap().is_empty());
}

// ---- limits --------------------------------------------------------------------------------

#[actix_web::test]
async fn a_thousand_guesses_from_one_ip_are_stopped_after_thirty() {
    let w = World::new().await;
    let app = app!(w);
    // Victims ask for codes from their own networks; the attacker guesses from one address,
    // spreading guesses over many phones so that no code's own 5-try limit stops them first.
    let victims: Vec<String> = (0..200).map(|i| format!("137{i:04}5678")).collect();
    let mut codes = Vec::new();
    for (i, phone) in victims.iter().take(20).enumerate() {
        let r = call!(
            app,
            ask(phone, &format!("10.0.{}.{}", i / 200, i % 200 + 1))
        );
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:#}", r.body);
        codes.push(last_code(&w, phone).await);
    }
    let mut through = 0;
    let mut limited = 0;
    for guess in 0..1000usize {
        let phone = &victims[guess % victims.len()];
        // A guess that is never the right code, so that only the limit decides.
        let code = codes.get(guess % victims.len()).map_or_else(
            || format!("{guess:06}"),
            |c| wrong(c, (guess / victims.len()) as u32),
        );
        let r = call!(app, session(with_code(phone, &code), "203.0.113.66"));
        match r.status {
            StatusCode::UNPROCESSABLE_ENTITY => through += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                r.problem(429, "rate_limited");
                assert_eq!(r.header("retry-after"), Some("600"), "{:#}", r.body);
                limited += 1;
            }
            other => panic!("unexpected {other}: {:#}", r.body),
        }
    }
    // 30 of a million codes tried: the code space is safe by 4 orders of magnitude.
    assert_eq!((through, limited), (30, 970));
    let mut conn = w.conn().await;
    let tokens: i64 = api_tokens::table
        .filter(api_tokens::label.eq("sms"))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(tokens, 0);

    // Other networks are not affected, and a right code still works there.
    let r = call!(
        app,
        session(with_code(&victims[19], &codes[19]), "198.51.100.200")
    );
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    // Password guesses from the limited address are refused too.
    call!(
        app,
        session(with_password(&victims[0], "abc12345"), "203.0.113.66")
    )
    .problem(429, "rate_limited");

    // The window slides: ten minutes after the first failures the address may try again
    // (and finds the code expired by now).
    w.clock.advance(TimeDelta::minutes(10));
    let r = call!(
        app,
        session(with_code(&victims[0], &codes[0]), "203.0.113.66")
    );
    r.problem(422, "code_expired");
}

#[actix_web::test]
async fn successful_logins_do_not_use_up_the_ip_limit() {
    let w = World::new().await;
    let app = app!(w);
    let ip = "203.0.113.9";
    for i in 0..29 {
        call!(app, session(with_code(NEW_PHONE, &format!("{i:06}")), ip));
    }
    // Thirty applicants behind one carrier NAT log in fine after 29 failures.
    for i in 0..30 {
        let phone = format!("136{i:04}5678");
        let code = code_for!(w, app, &phone);
        let r = call!(app, session(with_code(&phone, &code), ip));
        assert_eq!(r.status, StatusCode::CREATED, "{i}: {:#}", r.body);
    }
    call!(app, session(with_code(NEW_PHONE, "999999"), ip)).problem(422, "code_invalid");
    call!(app, session(with_code(NEW_PHONE, "999998"), ip)).problem(429, "rate_limited");
}

#[actix_web::test]
async fn daily_caps_per_phone_and_per_ip() {
    let w = World::new().await;
    let app = app!(w);
    // Ten codes a day for one phone, whatever the address.
    for i in 0..10 {
        let r = call!(app, ask(NEW_PHONE, &format!("10.1.0.{i}")));
        assert_eq!(r.status, StatusCode::ACCEPTED, "{i}: {:#}", r.body);
        w.clock.advance(TimeDelta::seconds(60));
    }
    let r = call!(app, ask(NEW_PHONE, "10.1.0.99"));
    r.problem(429, "code_daily_limit");
    assert_eq!(r.body["scope"], "phone");
    // The clock is at 09:10 Beijing time: the cap lifts at midnight, 14 h 50 min away.
    assert_eq!(
        r.header("retry-after"),
        Some((14 * 3600 + 50 * 60).to_string().as_str())
    );
    assert_eq!(w.sms.messages_to(NEW_PHONE).await.unwrap().len(), 10);

    // Fifty a day from one address, whatever the phone.
    for i in 0..50 {
        let r = call!(app, ask(&format!("135{i:04}5678"), "203.0.113.50"));
        assert_eq!(r.status, StatusCode::ACCEPTED, "{i}: {:#}", r.body);
    }
    let r = call!(app, ask("13500009999", "203.0.113.50"));
    r.problem(429, "code_daily_limit");
    assert_eq!(r.body["scope"], "ip");
    assert!(w.sms.messages_to("13500009999").await.unwrap().is_empty());

    // A new Beijing day (16:00 UTC) lifts both.
    w.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 16, 0, 0).unwrap());
    assert_eq!(
        call!(app, ask(NEW_PHONE, "10.1.0.99")).status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        call!(app, ask("13500009999", "203.0.113.50")).status,
        StatusCode::ACCEPTED
    );
}

// ---- concurrency ---------------------------------------------------------------------------

#[actix_web::test]
async fn concurrent_right_codes_give_exactly_one_token() {
    let w = World::new().await;
    let app = app!(w);
    let code = code_for!(w, app, NEW_PHONE);
    let replies = join_all(
        (0..8)
            .map(|i| {
                send(
                    &app,
                    session(with_code(NEW_PHONE, &code), &format!("10.2.0.{i}")).to_request(),
                )
            })
            .collect(),
    )
    .await;
    let created: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .collect();
    assert_eq!(created.len(), 1, "{replies:#?}");
    for r in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        r.problem(422, "code_invalid");
    }
    let user = user_of(created[0]);
    assert_eq!(tokens_of(&w, user.id).await, 1);
    let mut conn = w.conn().await;
    let accounts: i64 = users::table
        .filter(users::phone.eq(NEW_PHONE))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(accounts, 1);
}

#[actix_web::test]
async fn concurrent_wrong_codes_all_count() {
    let w = World::new().await;
    let app = app!(w);
    let code = code_for!(w, app, NEW_PHONE);
    let replies = join_all(
        (0..7u32)
            .map(|i| {
                send(
                    &app,
                    session(
                        with_code(NEW_PHONE, &wrong(&code, i)),
                        &format!("10.3.0.{i}"),
                    )
                    .to_request(),
                )
            })
            .collect(),
    )
    .await;
    let mut remaining: Vec<i64> = replies
        .iter()
        .filter(|r| r.body["code"] == "code_invalid")
        .map(|r| r.body["remaining_attempts"].as_i64().unwrap())
        .collect();
    remaining.sort_unstable();
    assert_eq!(remaining, [1, 2, 3, 4], "{replies:#?}");
    let voided = replies
        .iter()
        .filter(|r| r.body["code"] == "code_voided")
        .count();
    assert_eq!(voided, 3, "{replies:#?}");
    let mut conn = w.conn().await;
    let tries: i32 = login_codes::table
        .select(login_codes::failed_tries)
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(tries, 5);
    call!(app, session(with_code(NEW_PHONE, &code), "10.3.1.1")).problem(422, "code_voided");
}

// ---- passwords -----------------------------------------------------------------------------

/// Sets `password` for `user` (whose phone is `phone`) with a `set_password` code.
macro_rules! set_password {
    ($w:expr, $app:expr, $user:expr, $phone:expr, $password:expr) => {{
        let r = call!(
            $app,
            bearer(
                TestRequest::post()
                    .uri("/api/v1/auth/sms-codes")
                    .set_json(json!({ "purpose": "set_password" })),
                &$user
            )
        );
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:#}", r.body);
        assert_eq!(r.body["purpose"], "set_password");
        let code = last_code(&$w, $phone).await;
        let r = call!(
            $app,
            bearer(
                TestRequest::put()
                    .uri("/api/v1/me/password")
                    .set_json(json!({ "new_password": $password, "code": code })),
                &$user
            )
        );
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{:#}", r.body);
    }};
}

#[actix_web::test]
async fn a_password_is_set_with_a_code_then_logs_in_and_five_wrong_lock_it() {
    let w = World::new().await;
    let app = app!(w);
    let r = sms_login!(w, app, NEW_PHONE);
    let user = user_of(&r);

    // A weak password is refused before anything else.
    let r = call!(
        app,
        bearer(
            TestRequest::put()
                .uri("/api/v1/me/password")
                .set_json(json!({ "new_password": "abcdefgh", "code": "123456" })),
            &user
        )
    );
    assert_eq!(
        r.field_errors(),
        [("new_password".to_owned(), "password_too_weak".to_owned())]
    );
    // A login code does not set a password.
    w.clock.advance(TimeDelta::seconds(60));
    let login_code = code_for!(w, app, NEW_PHONE);
    let r = call!(
        app,
        bearer(
            TestRequest::put()
                .uri("/api/v1/me/password")
                .set_json(json!({ "new_password": "abc12345", "code": login_code })),
            &user
        )
    );
    r.problem(422, "code_invalid");

    w.clock.advance(TimeDelta::seconds(60));
    set_password!(w, app, user, NEW_PHONE, "abc12345");
    let me = call!(app, get("/api/v1/me", &user));
    assert_eq!(me.body["has_password"], true);
    let mut conn = w.conn().await;
    let hash: Option<String> = users::table
        .select(users::password_hash)
        .find(user.id)
        .first(&mut conn)
        .await
        .unwrap();
    assert!(hash.unwrap().starts_with("$argon2id$"));

    let r = call!(
        app,
        session(with_password(NEW_PHONE, "abc12345"), "198.51.100.1")
    );
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    assert_eq!(r.body["registered"], false);
    assert_eq!(r.body["user"]["id"], user.id.to_string());
    let by_password = user_of(&r);
    let list = call!(app, get("/api/v1/auth/tokens", &by_password)).body;
    let current = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["current"] == true)
        .unwrap()
        .clone();
    assert_eq!(current["label"], "password");

    for k in 0..4 {
        let r = call!(
            app,
            session(with_password(NEW_PHONE, "abc12346"), "198.51.100.1")
        );
        r.problem(422, "credentials_invalid");
        assert_eq!(r.body["remaining_attempts"], 4 - k);
    }
    let r = call!(
        app,
        session(with_password(NEW_PHONE, "abc12346"), "198.51.100.1")
    );
    r.problem(429, "password_locked");
    assert_eq!(r.header("retry-after"), Some("900"));
    // Locked means locked: the right password waits too, but SMS login still works.
    call!(
        app,
        session(with_password(NEW_PHONE, "abc12345"), "198.51.100.1")
    )
    .problem(429, "password_locked");
    w.clock.advance(TimeDelta::seconds(60));
    sms_login!(w, app, NEW_PHONE);
    w.clock.advance(TimeDelta::minutes(14));
    let r = call!(
        app,
        session(with_password(NEW_PHONE, "abc12345"), "198.51.100.1")
    );
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);

    // The current password changes it too; a wrong current password counts.
    let change = |current: &str, new: &str| {
        bearer(
            TestRequest::put()
                .uri("/api/v1/me/password")
                .set_json(json!({ "new_password": new, "current_password": current })),
            &user,
        )
    };
    let r = call!(app, change("wrong1234", "xyz98765"));
    r.problem(422, "credentials_invalid");
    assert_eq!(
        r.field_errors(),
        [(
            "current_password".to_owned(),
            "credentials_invalid".to_owned()
        )]
    );
    let r = call!(app, change("abc12345", "xyz98765"));
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:#}", r.body);
    call!(
        app,
        session(with_password(NEW_PHONE, "abc12345"), "198.51.100.1")
    )
    .problem(422, "credentials_invalid");
    let r = call!(
        app,
        session(with_password(NEW_PHONE, "xyz98765"), "198.51.100.1")
    );
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
}

#[actix_web::test]
async fn an_unknown_phone_and_a_wrong_password_answer_alike() {
    let w = World::new().await;
    let app = app!(w);
    let user = user_of(&sms_login!(w, app, NEW_PHONE));
    w.clock.advance(TimeDelta::seconds(60));
    set_password!(w, app, user, NEW_PHONE, "abc12345");

    // A phone with a password, one with an account but no password, and one with no account.
    let cases = [NEW_PHONE, "13900001111", "13700009999"];
    let mut answers = Vec::new();
    for phone in cases {
        let r = call!(
            app,
            session(with_password(phone, "wrong1234"), "198.51.100.1")
        );
        r.problem(422, "credentials_invalid");
        let mut body = r.body.clone();
        body.as_object_mut().unwrap().remove("request_id");
        answers.push(body);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], answers[2]);
    // And all three lock alike.
    for phone in cases {
        for _ in 0..3 {
            call!(
                app,
                session(with_password(phone, "wrong1234"), "198.51.100.1")
            );
        }
        let r = call!(
            app,
            session(with_password(phone, "wrong1234"), "198.51.100.1")
        );
        r.problem(429, "password_locked");
        assert_eq!(r.header("retry-after"), Some("900"), "{phone}");
    }
}

#[actix_web::test]
async fn concurrent_wrong_passwords_cannot_outrun_the_lock() {
    let w = World::new().await;
    let app = app!(w);
    let user = user_of(&sms_login!(w, app, NEW_PHONE));
    w.clock.advance(TimeDelta::seconds(60));
    set_password!(w, app, user, NEW_PHONE, "abc12345");
    // Ten guesses at once, from ten addresses: five are checked, the rest meet the lock.
    let replies = join_all(
        (0..10)
            .map(|i| {
                send(
                    &app,
                    session(
                        with_password(NEW_PHONE, &format!("guess{i:04}")),
                        &format!("10.4.0.{i}"),
                    )
                    .to_request(),
                )
            })
            .collect(),
    )
    .await;
    let codes: Vec<&str> = replies
        .iter()
        .map(|r| r.body["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes
            .iter()
            .filter(|c| **c == "credentials_invalid")
            .count(),
        4,
        "{codes:?}"
    );
    assert_eq!(
        codes.iter().filter(|c| **c == "password_locked").count(),
        6,
        "{codes:?}"
    );
    let mut conn = w.conn().await;
    let failures: i32 = password_lockouts::table
        .select(password_lockouts::failures)
        .find(NEW_PHONE)
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(failures, 5);
    call!(
        app,
        session(with_password(NEW_PHONE, "abc12345"), "10.4.1.1")
    )
    .problem(429, "password_locked");
}

#[actix_web::test]
async fn set_password_codes_need_a_token_and_go_to_the_callers_own_phone() {
    let w = World::new().await;
    let app = app!(w);
    let r = call!(
        app,
        TestRequest::post()
            .uri("/api/v1/auth/sms-codes")
            .set_json(json!({ "phone": "13900001111", "purpose": "set_password" }))
    );
    r.problem(401, "unauthenticated");
    let r = call!(
        app,
        bearer(
            TestRequest::post()
                .uri("/api/v1/auth/sms-codes")
                .set_json(json!({ "phone": "13900003333", "purpose": "set_password" })),
            &w.applicant
        )
    );
    r.problem(422, "invalid_input");
    assert_eq!(
        r.field_errors(),
        [("phone".to_owned(), "phone_not_yours".to_owned())]
    );
    assert!(w.sms.messages_to("13900003333").await.unwrap().is_empty());
    let r = call!(
        app,
        bearer(
            TestRequest::post()
                .uri("/api/v1/auth/sms-codes")
                .set_json(json!({ "phone": "139 0000 1111", "purpose": "set_password" })),
            &w.applicant
        )
    );
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:#}", r.body);
    let sms = w.sms.messages_to("13900001111").await.unwrap();
    assert!(sms[0].body.contains("设置登录密码"), "{}", sms[0].body);
}

#[actix_web::test]
async fn staff_cannot_sign_in_through_the_app() {
    let w = World::new().await;
    let app = app!(w);
    let mut conn = w.conn().await;
    diesel::update(users::table.find(w.stranger.id))
        .set(users::kind.eq("staff"))
        .execute(&mut conn)
        .await
        .unwrap();
    let code = code_for!(w, app, "13900003333");
    let r = call!(
        app,
        session(with_code("13900003333", &code), "198.51.100.1")
    );
    r.problem(403, "staff_account");
    assert_eq!(
        tokens_of(&w, w.stranger.id).await,
        1,
        "only the world's own token"
    );
}

// ---- tokens --------------------------------------------------------------------------------

#[actix_web::test]
async fn revoking_another_users_token_is_404_and_it_keeps_working() {
    let w = World::new().await;
    let app = app!(w);
    let list = call!(app, get("/api/v1/auth/tokens", &w.applicant)).body["items"].clone();
    let theirs = list[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list[0]["current"], true);
    assert_eq!(list[0]["label"], "test");

    let revoke = |id: &str, user: &User| {
        bearer(
            TestRequest::delete().uri(&format!("/api/v1/auth/tokens/{id}")),
            user,
        )
    };
    call!(app, revoke(&theirs, &w.stranger)).problem(404, "token_not_found");
    assert_eq!(
        call!(app, get("/api/v1/me", &w.applicant)).status,
        StatusCode::OK
    );
    call!(app, revoke(&Uuid::new_v4().to_string(), &w.stranger)).problem(404, "token_not_found");
    call!(app, revoke("not-a-uuid", &w.stranger)).problem(404, "not_found");
    call!(
        app,
        TestRequest::delete().uri(&format!("/api/v1/auth/tokens/{theirs}"))
    )
    .problem(401, "unauthenticated");

    // Its owner may revoke it (from another session, or this one).
    let r = call!(app, revoke(&theirs, &w.applicant));
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:#}", r.body);
    call!(app, get("/api/v1/me", &w.applicant)).problem(401, "invalid_token");
    assert_eq!(
        call!(app, get("/api/v1/me", &w.stranger)).status,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn tokens_expire_after_thirty_days() {
    let w = World::new().await;
    let app = app!(w);
    let user = user_of(&sms_login!(w, app, NEW_PHONE));
    w.clock.advance(TimeDelta::days(30) - TimeDelta::seconds(1));
    assert_eq!(call!(app, get("/api/v1/me", &user)).status, StatusCode::OK);
    w.clock.advance(TimeDelta::seconds(1));
    call!(app, get("/api/v1/me", &user)).problem(401, "invalid_token");
}

// ---- the SMS gateway failing ---------------------------------------------------------------

#[actix_web::test]
async fn gateway_failures_leave_no_usable_code() {
    let w = World::new().await;
    let app = app!(w);
    let r = call!(app, ask(BLACKLISTED, "198.51.100.1"));
    r.problem(422, "sms_rejected");
    assert_eq!(
        r.field_errors(),
        [("phone".to_owned(), "phone_unreachable".to_owned())]
    );

    let r = call!(app, ask(BUSY, "198.51.100.1"));
    r.problem(503, "sms_unavailable");
    // Nobody received a code, so the caller may try again at once (and meets the busy
    // gateway again), and no code that was stored can be entered.
    call!(app, ask(BUSY, "198.51.100.1")).problem(503, "sms_unavailable");
    for phone in [BLACKLISTED, BUSY] {
        assert!(w.sms.messages_to(phone).await.unwrap().is_empty());
        let rows = code_rows(&w, phone).await;
        assert!(!rows.is_empty());
        assert!(
            rows.iter()
                .all(|r| r.contains("\"void_reason\":\"send_failed\"")),
            "{rows:#?}"
        );
        for guess in ["000000", "123456"] {
            call!(app, session(with_code(phone, guess), "198.51.100.2"))
                .problem(422, "code_invalid");
        }
    }
}
