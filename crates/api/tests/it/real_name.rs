//! Real-name verification: resident IDs through the (sandbox) provider, passports and permits
//! through the CS review chain.

use actix_web::http::StatusCode;
use certdesk_domain::ident::id_check_char;
use certdesk_runtime::Command;
use certdesk_runtime::actions::DatabaseActions;
use certdesk_runtime::outbox::Delivery;
use certdesk_store::schema::{outbox, real_name_checks, staff_roles, tasks, users};
use chrono::{TimeZone, Utc};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::files::{jpeg, upload};
use crate::support::*;

const ME: &str = "/api/v1/me/real-name";
const FACE: &str = "/api/v1/me/real-name/face";

/// A valid resident ID whose sequence code (characters 15–17) picks the sandbox's answer.
fn resident_id(seq: &str) -> String {
    let first17 = format!("35010219851120{seq}");
    format!("{first17}{}", id_check_char(&first17).unwrap())
}

/// Its masked form.
fn masked(id: &str) -> String {
    format!("{}*****{}", &id[..6], &id[14..])
}

/// Uploads a JPEG for `purpose` as `user`; returns its file id (a macro: the app's type
/// cannot be named).
macro_rules! upload_file {
    ($app:expr, $user:expr, $purpose:expr, $seed:expr) => {{
        let r = send(
            $app,
            upload(
                $user,
                &format!("purpose={}", $purpose),
                "image/jpeg",
                jpeg(960, 1280, $seed, None),
            )
            .to_request(),
        )
        .await;
        // 201, or 200 for the same bytes uploaded again.
        assert!(r.status.is_success(), "{:#}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }};
}

async fn status_of(w: &World, user: Uuid) -> (String, Option<String>, Option<Vec<u8>>) {
    users::table
        .select((
            users::real_name_status,
            users::real_name_id_pending,
            users::real_name_id_digest,
        ))
        .find(user)
        .first(&mut w.conn().await)
        .await
        .unwrap()
}

/// Checks (kind, result, attempts) the caller's provider calls left, oldest first.
async fn checks(w: &World, user: Uuid) -> Vec<(String, Option<String>, i32)> {
    real_name_checks::table
        .select((
            real_name_checks::kind,
            real_name_checks::result,
            real_name_checks::attempts,
        ))
        .filter(real_name_checks::user_id.eq(user))
        .order(real_name_checks::created_at.asc())
        .load(&mut w.conn().await)
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_resident_id_is_verified_by_three_elements_then_a_face() {
    let w = World::new().await;
    let app = app!(w);
    let id = resident_id("123");

    let r = send(
        &app,
        post(
            ME,
            &w.applicant,
            json!({ "id_type": "resident_id", "name": "张三", "id_number": id }),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["status"], "pending_face");
    assert_eq!(r.body["id_number"], masked(&id));
    assert!(!r.body.to_string().contains(&id), "{}", r.body);
    let (status, pending, digest) = status_of(&w, w.applicant.id).await;
    assert_eq!(status, "pending_face");
    assert_eq!(
        pending.as_deref(),
        Some(id.as_str()),
        "kept for the face check"
    );
    assert_eq!(digest.map(|d| d.len()), Some(32));

    let photo = upload_file!(&app, &w.applicant, "face_photo", 1);
    let r = send(
        &app,
        post(FACE, &w.applicant, json!({ "file_id": photo })).to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["status"], "verified");
    assert_eq!(r.body["name"], "张三");
    assert!(r.body["verified_at"].is_string());
    assert!(!r.body.to_string().contains(&id));

    let (status, pending, _) = status_of(&w, w.applicant.id).await;
    assert_eq!(status, "verified");
    assert_eq!(pending, None, "the full number is dropped once verified");
    let r = send(&app, get(ME, &w.applicant).to_request()).await;
    assert_eq!(r.body["status"], "verified");
    assert_eq!(r.body["id_number"], masked(&id));
    assert_eq!(
        checks(&w, w.applicant.id).await,
        [
            ("three_element".to_owned(), Some("match".to_owned()), 1),
            ("face".to_owned(), Some("match".to_owned()), 1),
        ]
    );

    // Verified is final here.
    let r = send(
        &app,
        post(
            ME,
            &w.applicant,
            json!({ "id_type": "resident_id", "name": "张三", "id_number": id }),
        )
        .to_request(),
    )
    .await;
    r.problem(409, "already_verified");

    // The same ID cannot verify a second account.
    let r = send(
        &app,
        post(
            ME,
            &w.stranger,
            json!({ "id_type": "resident_id", "name": "张三", "id_number": id }),
        )
        .to_request(),
    )
    .await;
    r.problem(409, "id_number_in_use");
    assert!(!r.body.to_string().contains(&id));
    assert_eq!(status_of(&w, w.stranger.id).await.0, "none");
}

#[actix_web::test]
async fn mismatches_are_422_with_a_clear_code_and_change_nothing() {
    let w = World::new().await;
    let app = app!(w);

    let id = resident_id("999");
    let r = send(
        &app,
        post(
            ME,
            &w.applicant,
            json!({ "id_type": "resident_id", "name": "张三", "id_number": id }),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "real_name_mismatch");
    assert_eq!(
        r.field_errors(),
        [
            ("name".to_owned(), "real_name_mismatch".to_owned()),
            ("id_number".to_owned(), "real_name_mismatch".to_owned()),
        ]
    );
    assert!(!r.body.to_string().contains(&id));
    assert_eq!(
        status_of(&w, w.applicant.id).await,
        ("none".to_owned(), None, None)
    );

    let r = send(
        &app,
        post(
            ME,
            &w.applicant,
            json!({ "id_type": "resident_id", "name": "张三", "id_number": resident_id("998") }),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "phone_not_owned_by_id");
    assert_eq!(status_of(&w, w.applicant.id).await.0, "none");
    let results: Vec<_> = checks(&w, w.applicant.id)
        .await
        .into_iter()
        .map(|c| c.1.unwrap())
        .collect();
    assert_eq!(results, ["name_id_mismatch", "phone_mismatch"]);
}

#[actix_web::test]
async fn an_outage_is_retried_then_503_and_nothing_is_stored_as_verified() {
    let w = World::new().await;
    let app = app!(w);

    let r = send(
        &app,
        post(
            ME,
            &w.applicant,
            json!({ "id_type": "resident_id", "name": "张三", "id_number": resident_id("997") }),
        )
        .to_request(),
    )
    .await;
    r.problem(503, "real_name_unavailable");
    assert_eq!(r.header("retry-after"), Some("30"));
    let stats = w.real_name.stats();
    assert_eq!(stats.calls, 3, "three attempts");
    assert_eq!(stats.billed, 0);
    assert_eq!(
        status_of(&w, w.applicant.id).await,
        ("none".to_owned(), None, None)
    );
    assert_eq!(
        checks(&w, w.applicant.id).await,
        [(
            "three_element".to_owned(),
            Some("unavailable".to_owned()),
            3
        )]
    );

    // A blip (one failed call) is hidden by the retry, billed once.
    let r = send(
        &app,
        post(
            ME,
            &w.applicant,
            json!({ "id_type": "resident_id", "name": "张三", "id_number": resident_id("996") }),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["status"], "pending_face");
    assert_eq!(w.real_name.stats().calls, 5);
    assert_eq!(w.real_name.stats().billed, 1);
    assert_eq!(checks(&w, w.applicant.id).await[1].2, 2);
}

#[actix_web::test]
async fn a_face_mismatch_is_422_and_the_face_check_stays_open() {
    let w = World::new().await;
    let app = app!(w);
    let photo = upload_file!(&app, &w.applicant, "face_photo", 2);

    // No face check before the identity check.
    let r = send(
        &app,
        post(FACE, &w.applicant, json!({ "file_id": photo })).to_request(),
    )
    .await;
    r.problem(409, "face_check_not_expected");

    let r = send(
        &app,
        post(
            ME,
            &w.applicant,
            json!({ "id_type": "resident_id", "name": "张三", "id_number": resident_id("995") }),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.body["status"], "pending_face", "{:#}", r.body);

    let r = send(
        &app,
        post(FACE, &w.applicant, json!({ "file_id": photo })).to_request(),
    )
    .await;
    r.problem(422, "face_mismatch");
    assert_eq!(
        r.field_errors(),
        [("file_id".to_owned(), "face_mismatch".to_owned())]
    );
    assert_eq!(status_of(&w, w.applicant.id).await.0, "pending_face");

    // Another person's photo, or a photo uploaded for something else, cannot be used.
    let theirs = upload_file!(&app, &w.stranger, "face_photo", 3);
    let r = send(
        &app,
        post(FACE, &w.applicant, json!({ "file_id": theirs })).to_request(),
    )
    .await;
    r.problem(422, "invalid_input");
    assert_eq!(
        r.field_errors(),
        [("file_id".to_owned(), "file_not_found".to_owned())]
    );
    let card = upload_file!(&app, &w.applicant, "id_card_front", 4);
    let r = send(
        &app,
        post(FACE, &w.applicant, json!({ "file_id": card })).to_request(),
    )
    .await;
    assert_eq!(
        r.field_errors(),
        [("file_id".to_owned(), "file_wrong_purpose".to_owned())]
    );
    assert_eq!(status_of(&w, w.applicant.id).await.0, "pending_face");
}

#[actix_web::test]
async fn bad_input_is_422_per_field_and_calls_no_provider() {
    let w = World::new().await;
    let app = app!(w);
    let mut bad_check = resident_id("123");
    let last = if bad_check.ends_with('0') { "1" } else { "0" };
    bad_check.replace_range(17.., last);

    let r = send(
        &app,
        post(
            ME,
            &w.applicant,
            json!({ "id_type": "resident_id", "name": "  ", "id_number": bad_check }),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "invalid_input");
    assert_eq!(
        r.field_errors(),
        [
            ("name".to_owned(), "required".to_owned()),
            (
                "id_number".to_owned(),
                "id_number_bad_check_digit".to_owned()
            ),
        ]
    );
    let r = send(
        &app,
        post(
            ME,
            &w.applicant,
            json!({ "id_type": "driving_licence", "name": "张三", "id_number": "X" }),
        )
        .to_request(),
    )
    .await;
    assert_eq!(
        r.field_errors()[0],
        ("id_type".to_owned(), "not_a_choice".to_owned())
    );
    let r = send(
        &app,
        post(
            ME,
            &w.applicant,
            json!({ "id_type": "passport", "name": "JOHN SMITH", "id_number": "ABCDEFG" }),
        )
        .to_request(),
    )
    .await;
    assert_eq!(
        r.field_errors()[0],
        ("id_number".to_owned(), "passport_no_digit".to_owned())
    );
    assert_eq!(w.real_name.stats().calls, 0);
    assert_eq!(w.instance_count().await, 0);
    assert_eq!(status_of(&w, w.applicant.id).await.0, "none");
}

#[actix_web::test]
async fn each_applicant_sees_only_their_own_verification() {
    let w = World::new().await;
    let app = app!(w);
    let id = resident_id("123");
    let r = send(
        &app,
        post(
            ME,
            &w.applicant,
            json!({ "id_type": "resident_id", "name": "张三", "id_number": id }),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    let r = send(&app, get(ME, &w.stranger).to_request()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body,
        json!({ "status": "none", "name": null, "id_type": null, "id_number": null,
                "updated_at": null, "verified_at": null })
    );
    // The stranger cannot finish the applicant's check, even with the applicant's photo.
    let photo = upload_file!(&app, &w.applicant, "face_photo", 5);
    let r = send(
        &app,
        post(FACE, &w.stranger, json!({ "file_id": photo })).to_request(),
    )
    .await;
    r.problem(409, "face_check_not_expected");
    assert_eq!(status_of(&w, w.applicant.id).await.0, "pending_face");
    // Without a token: 401.
    let r = send(
        &app,
        actix_web::test::TestRequest::get().uri(ME).to_request(),
    )
    .await;
    r.problem(401, "unauthenticated");
}

// ---- the manual chain ----------------------------------------------------------------------

/// A CS reviewer (staff role `cs_reviewer`).
async fn cs_reviewer(w: &World) -> User {
    let u = w.user("客服小王", Some("13700007777")).await;
    diesel::insert_into(staff_roles::table)
        .values((
            staff_roles::user_id.eq(u.id),
            staff_roles::role.eq("cs_reviewer"),
        ))
        .execute(&mut w.conn().await)
        .await
        .unwrap();
    u
}

/// Runs every owed database action of `instance` (what a worker does), returning their names.
async fn run_actions(w: &World, instance: Uuid) -> Vec<String> {
    let rows: Vec<(Uuid, String)> = outbox::table
        .select((outbox::id, outbox::name))
        .filter(outbox::instance_id.eq(instance))
        .filter(outbox::kind.eq("action"))
        .filter(outbox::status.eq("pending"))
        .load(&mut w.conn().await)
        .await
        .unwrap();
    let mut names = Vec::new();
    for (id, name) in rows {
        assert_eq!(
            w.state.runtime.deliver(id, &DatabaseActions).await.unwrap(),
            Delivery::Done,
            "{name}"
        );
        names.push(name);
    }
    names
}

/// Notifications of `instance` as (template, to, reason).
async fn notices(w: &World, instance: Uuid) -> Vec<(String, String, Option<String>)> {
    let rows: Vec<Value> = outbox::table
        .select(outbox::payload)
        .filter(outbox::instance_id.eq(instance))
        .filter(outbox::kind.eq("notification"))
        .order(outbox::created_at.asc())
        .load(&mut w.conn().await)
        .await
        .unwrap();
    rows.into_iter()
        .map(|p| {
            (
                p["template"].as_str().unwrap_or_default().to_owned(),
                p["to"].as_str().unwrap_or_default().to_owned(),
                p["reason"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

struct Submitted {
    instance: Uuid,
    reply: Value,
}

/// Submits a passport with its photos as the applicant.
macro_rules! submit_passport {
    ($app:expr, $w:expr, $number:expr) => {{
        let front = upload_file!($app, &$w.applicant, "passport", 10);
        let portrait = upload_file!($app, &$w.applicant, "face_photo", 11);
        let r = send(
            $app,
            post(
                ME,
                &$w.applicant,
                json!({
                    "id_type": "passport",
                    "name": "JOHN SMITH",
                    "id_number": $number,
                    "valid_until": "2030-06-06",
                    "document_front": front,
                    "portrait": portrait,
                }),
            )
            .to_request(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
        let instance = Uuid::parse_str(r.body["review"]["id"].as_str().unwrap()).unwrap();
        Submitted {
            instance,
            reply: r.body,
        }
    }};
}

async fn open_task(w: &World, instance: Uuid) -> (Uuid, Option<chrono::DateTime<Utc>>, Value) {
    tasks::table
        .select((tasks::id, tasks::sla_due_at, tasks::parties))
        .filter(tasks::instance_id.eq(instance))
        .filter(tasks::status.eq("open"))
        .first(&mut w.conn().await)
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_passport_submitted_on_friday_evening_is_due_monday_and_approval_verifies() {
    let mut w = World::new().await;
    // Friday 2026-11-27 16:30 in Beijing: half an hour of business time left that day.
    w.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 27, 8, 30, 0).unwrap());
    // Months later: the applicant logs in again.
    w.applicant.token = certdesk_api::issue_token(
        w.state.runtime.pool(),
        w.applicant.id,
        "test",
        w.now(),
        chrono::TimeDelta::days(30),
    )
    .await
    .unwrap();
    let app = app!(w);
    let cs = cs_reviewer(&w).await;

    let s = submit_passport!(&app, &w, "E12345678");
    assert_eq!(s.reply["status"], "pending_review");
    assert_eq!(s.reply["id_type"], "passport");
    assert_eq!(s.reply["id_number"], "E1*****78");
    assert!(!s.reply.to_string().contains("E12345678"), "{}", s.reply);
    assert_eq!(s.reply["review"]["state"], "cs_review");
    // The remaining 1.5 business hours run Monday 08:00–09:30 Beijing (01:30 UTC).
    let monday = Utc.with_ymd_and_hms(2026, 11, 30, 1, 30, 0).unwrap();
    assert_eq!(s.reply["review"]["due_at"], json!(monday));
    let (task, due, parties) = open_task(&w, s.instance).await;
    assert_eq!(due, Some(monday));
    assert!(parties.to_string().contains("cs_reviewer"), "{parties}");
    assert_eq!(
        notices(&w, s.instance).await,
        [(
            "real_name_review_submitted".to_owned(),
            "cs_reviewer".to_owned(),
            None
        )]
    );
    assert_eq!(w.real_name.stats().calls, 0, "no provider for passports");

    // A second submission while the review is open is refused.
    let r = send(
        &app,
        post(
            ME,
            &w.applicant,
            json!({ "id_type": "resident_id", "name": "张三", "id_number": resident_id("123") }),
        )
        .to_request(),
    )
    .await;
    r.problem(409, "real_name_review_pending");
    assert_eq!(w.instance_count().await, 1);

    // An applicant cannot decide their own review; a CS reviewer can.
    let refused = w
        .state
        .runtime
        .command(
            s.instance,
            Command::Decide {
                task_id: task,
                actor: w.applicant.id,
                outcome: "approve".into(),
                reason: None,
                comment: None,
            },
        )
        .await;
    assert!(refused.is_err());
    w.state
        .runtime
        .command(
            s.instance,
            Command::Decide {
                task_id: task,
                actor: cs.id,
                outcome: "approve".into(),
                reason: None,
                comment: None,
            },
        )
        .await
        .unwrap();
    // Not verified until the action has run.
    assert_eq!(status_of(&w, w.applicant.id).await.0, "pending_review");
    assert_eq!(
        run_actions(&w, s.instance).await,
        ["real_name.mark_verified"]
    );
    assert_eq!(status_of(&w, w.applicant.id).await.0, "verified");

    let r = send(&app, get(ME, &w.applicant).to_request()).await;
    assert_eq!(r.body["status"], "verified");
    assert_eq!(r.body["review"]["state"], "verified");
    assert!(r.body["verified_at"].is_string());
    assert!(!r.body.to_string().contains("E12345678"));
    assert!(
        notices(&w, s.instance)
            .await
            .iter()
            .any(|n| n.0 == "real_name_approved" && n.1 == "applicant")
    );
}

#[actix_web::test]
async fn a_rejection_notifies_the_reason_and_allows_a_new_submission() {
    let w = World::new().await;
    let app = app!(w);
    let cs = cs_reviewer(&w).await;
    let s = submit_passport!(&app, &w, "E87654321");
    let (task, _, _) = open_task(&w, s.instance).await;

    // A reject needs a reason from the list.
    let e = w
        .state
        .runtime
        .command(
            s.instance,
            Command::Decide {
                task_id: task,
                actor: cs.id,
                outcome: "reject".into(),
                reason: Some("bad_mood".into()),
                comment: Some("x".into()),
            },
        )
        .await;
    assert!(e.is_err());
    w.state
        .runtime
        .command(
            s.instance,
            Command::Decide {
                task_id: task,
                actor: cs.id,
                outcome: "reject".into(),
                reason: Some("document_expired".into()),
                comment: Some("护照已过有效期".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        run_actions(&w, s.instance).await,
        ["real_name.mark_rejected"]
    );
    assert_eq!(status_of(&w, w.applicant.id).await.0, "rejected");
    assert!(notices(&w, s.instance).await.contains(&(
        "real_name_rejected".to_owned(),
        "applicant".to_owned(),
        Some("document_expired".to_owned())
    )));
    let r = send(&app, get(ME, &w.applicant).to_request()).await;
    assert_eq!(r.body["status"], "rejected");
    assert_eq!(r.body["review"]["state"], "rejected");
    assert_eq!(r.body["review"]["reason"], "document_expired");
    assert_eq!(r.body["review"]["comment"], "护照已过有效期");

    // After a rejection the applicant may try again (here with a resident ID).
    let r = send(
        &app,
        post(
            ME,
            &w.applicant,
            json!({ "id_type": "resident_id", "name": "张三", "id_number": resident_id("123") }),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["status"], "pending_face");
}

#[actix_web::test]
async fn a_returned_review_is_resubmitted_by_the_same_request() {
    let w = World::new().await;
    let app = app!(w);
    let cs = cs_reviewer(&w).await;
    let s = submit_passport!(&app, &w, "E11112222");
    let (task, _, _) = open_task(&w, s.instance).await;
    w.state
        .runtime
        .command(
            s.instance,
            Command::Decide {
                task_id: task,
                actor: cs.id,
                outcome: "return".into(),
                reason: Some("document_unclear".into()),
                comment: Some("证件照片反光，请重新拍摄".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(w.instance_state(s.instance).await, "returned");
    let r = send(&app, get(ME, &w.applicant).to_request()).await;
    assert_eq!(r.body["status"], "pending_review");
    assert_eq!(r.body["review"]["state"], "returned");
    assert_eq!(r.body["review"]["reason"], "document_unclear");

    let again = submit_passport!(&app, &w, "E11112223");
    assert_eq!(again.instance, s.instance, "the same review goes on");
    assert_eq!(again.reply["review"]["state"], "cs_review");
    assert_eq!(again.reply["id_number"], "E1*****23");
    assert_eq!(w.instance_count().await, 1);
}
