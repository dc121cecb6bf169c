//! The join-request chain through the durable runtime, against a real PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use support::world;

use certdesk_audit::{Finding, Verifier};
use certdesk_engine::StepError;
use certdesk_runtime::{Command, RuntimeError};
use certdesk_store::schema::{history, instances, outbox, tasks, timers};
use chrono::TimeDelta;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn submitting_writes_state_task_timers_outbox_and_history_together() {
    let w = world().await;
    let id = w.submit().await;
    assert_eq!(
        w.count(
            tasks::table
                .filter(tasks::instance_id.eq(id))
                .filter(tasks::status.eq("open"))
                .count()
        )
        .await,
        1
    );
    assert_eq!(
        w.count(timers::table.filter(timers::instance_id.eq(id)).count())
            .await,
        2,
        "day-3 reminder and day-7 expiry"
    );
    assert_eq!(
        w.count(
            outbox::table
                .filter(outbox::instance_id.eq(id))
                .filter(outbox::name.eq("join_request_submitted"))
                .count()
        )
        .await,
        1
    );
    assert_eq!(
        w.count(history::table.filter(history::instance_id.eq(id)).count())
            .await,
        1
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_writes_nothing() {
    let w = world().await;
    let input = json!({ "enterprise_id": w.enterprise.to_string(), "mode": "reason", "reason": "因".repeat(501) });
    let err =
        w.rt.start("join_request", w.applicant, Some(w.enterprise), &input)
            .await
            .unwrap_err();
    let RuntimeError::Invalid(fields) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(fields[0].code, "text_too_long");
    assert_eq!(err.http_status(), 422);
    assert_eq!(w.count(instances::table.count()).await, 0);
    assert_eq!(w.count(outbox::table.count()).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_deciding_at_once_one_wins_the_other_gets_409() {
    let w = world().await;
    for _ in 0..5 {
        let id = w.submit().await;
        let task = w.open_task(id).await;
        let (a, b) = tokio::join!(
            w.rt.command(id, w.decide(task, w.admin, "approve")),
            w.rt.command(id, w.decide(task, w.admin2, "reject")),
        );
        let (ok, err) = match (a, b) {
            (Ok(s), Err(e)) | (Err(e), Ok(s)) => (s, e),
            other => panic!("exactly one must succeed: {other:?}"),
        };
        assert!(ok == "joined" || ok == "rejected", "{ok}");
        assert_eq!(err.http_status(), 409, "{err:?}");
        assert_eq!(
            err.code(),
            "task_not_open",
            "the loser is told the request was already decided"
        );
        // start + one decision: the loser left no trace.
        assert_eq!(
            w.count(history::table.filter(history::instance_id.eq(id)).count())
                .await,
            2
        );
        assert_eq!(
            w.count(timers::table.filter(timers::instance_id.eq(id)).count())
                .await,
            0
        );
    }
}

#[tokio::test]
async fn outsiders_and_the_requester_cannot_decide_and_change_nothing() {
    let w = world().await;
    let id = w.submit().await;
    let task = w.open_task(id).await;
    let err =
        w.rt.command(id, w.decide(task, w.stranger, "approve"))
            .await
            .unwrap_err();
    assert!(
        matches!(err, RuntimeError::Step(StepError::NotAssignee)),
        "{err:?}"
    );
    assert_eq!(err.http_status(), 403);
    let err =
        w.rt.command(id, w.decide(task, w.applicant, "approve"))
            .await
            .unwrap_err();
    assert!(
        matches!(
            err,
            RuntimeError::Step(StepError::NotAssignee | StepError::SelfDecision)
        ),
        "{err:?}"
    );
    let err =
        w.rt.command(id, w.decide(Uuid::now_v7(), w.admin, "approve"))
            .await
            .unwrap_err();
    assert_eq!(err.http_status(), 404);
    assert_eq!(
        w.count(history::table.filter(history::instance_id.eq(id)).count())
            .await,
        1
    );
    // And the real admin still can.
    assert_eq!(
        w.rt.command(id, w.decide(task, w.admin, "approve"))
            .await
            .unwrap(),
        "joined"
    );
    assert_eq!(
        w.count(
            outbox::table
                .filter(outbox::instance_id.eq(id))
                .filter(outbox::name.eq("membership.grant"))
                .count()
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_fire_once_even_with_two_schedulers() {
    let w = world().await;
    let ids = [
        w.submit_new().await,
        w.submit_new().await,
        w.submit_new().await,
    ];
    w.clock.advance(TimeDelta::days(3) + TimeDelta::minutes(1));
    let (a, b) = tokio::join!(w.rt.fire_due_timers(100), w.rt.fire_due_timers(100));
    assert_eq!(
        a.unwrap() + b.unwrap(),
        3,
        "one reminder per request, fired once"
    );
    assert_eq!(
        w.count(
            outbox::table
                .filter(outbox::name.eq("join_request_reminder"))
                .count()
        )
        .await,
        3
    );
    w.clock.advance(TimeDelta::days(4));
    assert_eq!(w.rt.fire_due_timers(100).await.unwrap(), 3);
    let mut conn = w.rt.pool().get().await.unwrap();
    for id in ids {
        let state: String = instances::table
            .select(instances::state)
            .find(id)
            .first(&mut conn)
            .await
            .unwrap();
        assert_eq!(state, "expired");
    }
    assert_eq!(w.count(timers::table.count()).await, 0);
    assert_eq!(
        w.rt.fire_due_timers(100).await.unwrap(),
        0,
        "nothing left to fire"
    );
}

#[tokio::test]
async fn withdrawal_and_payment_paths_end_where_the_definition_says() {
    let w = world().await;
    let id = w.submit().await;
    let err =
        w.rt.command(id, Command::Withdraw { actor: w.admin })
            .await
            .unwrap_err();
    assert_eq!(err.http_status(), 403);
    assert_eq!(
        w.rt.command(id, Command::Withdraw { actor: w.applicant })
            .await
            .unwrap(),
        "withdrawn"
    );

    let input = json!({ "enterprise_id": w.enterprise.to_string(), "mode": "reason", "reason": "x", "order_id": Uuid::now_v7().to_string() });
    let id =
        w.rt.start("join_request", w.applicant, Some(w.enterprise), &input)
            .await
            .unwrap()
            .instance_id;
    let task = w.open_task(id).await;
    assert_eq!(
        w.rt.command(id, w.decide(task, w.admin, "approve"))
            .await
            .unwrap(),
        "awaiting_payment"
    );
    let paid = Command::External {
        name: "payment_confirmed".into(),
        payload: json!({ "amount": 30000 }),
        source: "payment:sandbox".into(),
    };
    assert_eq!(w.rt.command(id, paid).await.unwrap(), "joined");
}

#[tokio::test]
async fn a_history_row_edited_with_sql_is_found_and_named() {
    let w = world().await;
    let id = w.submit().await;
    let task = w.open_task(id).await;
    w.rt.command(id, w.decide(task, w.admin, "reject"))
        .await
        .unwrap();
    let verifier = Verifier::from_signer(w.rt.signer());
    assert_eq!(w.rt.verify_history(&verifier, None).await.unwrap(), vec![]);

    // Someone rewrites the rejection into an approval.
    let mut conn = w.rt.pool().get().await.unwrap();
    diesel::sql_query(
        "UPDATE history SET payload = jsonb_set(payload, '{outcome}', '\"approve\"') WHERE instance_id = $1 AND seq = 2",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .execute(&mut conn)
    .await
    .unwrap();
    let findings = w.rt.verify_history(&verifier, Some(id)).await.unwrap();
    assert_eq!(
        findings,
        vec![Finding::EditedEntry {
            instance_id: id,
            seq: 2
        }],
        "{findings:?}"
    );
    assert!(findings[0].to_string().contains(&id.to_string()));

    // Deleting the last row is caught by the head kept on the instance.
    diesel::sql_query("DELETE FROM history WHERE instance_id = $1 AND seq = 2")
        .bind::<diesel::sql_types::Uuid, _>(id)
        .execute(&mut conn)
        .await
        .unwrap();
    let findings = w.rt.verify_history(&verifier, Some(id)).await.unwrap();
    assert!(
        matches!(findings.as_slice(), [Finding::TruncatedHistory { .. }]),
        "{findings:?}"
    );
}

#[tokio::test]
async fn starting_needs_only_one_connection() {
    let w = world().await;
    // A runtime whose pool has a single connection must still start instances.
    let one = certdesk_runtime::Runtime::new(
        certdesk_store::db::pool(w.db_url(), 1).unwrap(),
        certdesk_audit::Signer::generate(),
        w.clock.clone(),
        certdesk_engine::load_dir(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../workflows"),
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates"),
            certdesk_engine::Catalog::standard(),
        )
        .unwrap(),
        w.env.clone(),
    );
    let input = serde_json::json!({ "enterprise_id": w.enterprise.to_string(), "mode": "reason", "reason": "x" });
    // Unrecorded definitions start nothing (the database is what versions resolve against).
    assert!(matches!(
        one.start("join_request", w.applicant, Some(w.enterprise), &input)
            .await,
        Err(certdesk_runtime::RuntimeError::Corrupt(_))
    ));
    one.sync_definitions().await.unwrap();
    let started = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        one.start("join_request", w.applicant, Some(w.enterprise), &input),
    )
    .await
    .expect("start must not wait for a second connection")
    .unwrap();
    assert_eq!(started.state, "admin_review");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_identical_submissions_at_once_start_one_request() {
    let w = world().await;
    let input = serde_json::json!({ "enterprise_id": w.enterprise.to_string(), "mode": "reason", "reason": "x" });
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            w.rt.start("join_request", w.applicant, Some(w.enterprise), &input),
            w.rt.start("join_request", w.applicant, Some(w.enterprise), &input),
        );
        let (ok, err) = match (a, b) {
            (Ok(s), Err(e)) | (Err(e), Ok(s)) => (s, e),
            other => panic!("exactly one must start: {other:?}"),
        };
        assert!(matches!(err, RuntimeError::AlreadyOpen), "{err:?}");
        assert_eq!(
            (err.http_status(), err.code()),
            (409, "request_already_open")
        );
        // Once it ends, the applicant may ask again.
        assert_eq!(
            w.rt.command(ok.instance_id, Command::Withdraw { actor: w.applicant })
                .await
                .unwrap(),
            "withdrawn"
        );
    }
    assert_eq!(w.count(instances::table.count()).await, 3);
}
