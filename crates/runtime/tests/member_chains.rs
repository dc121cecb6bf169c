//! The leave-enterprise and admin-transfer chains through the durable runtime, and their two
//! database actions (`membership.revoke`, `membership.transfer_admin`): idempotent, one
//! transaction, against a real PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use certdesk_engine::StepError;
use certdesk_runtime::actions::{DatabaseActions, NAMES};
use certdesk_runtime::outbox::{Delivery, EffectError, Executor, OutboxRow};
use certdesk_runtime::{Command, RuntimeError};
use certdesk_store::schema::{memberships, outbox, timers};
use certdesk_store::testing::seed;
use chrono::NaiveDate;
use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use serde_json::json;
use support::{NowUtc, World, world};
use uuid::Uuid;

async fn roles(w: &World, user: Uuid) -> Vec<(String, Option<NaiveDate>)> {
    memberships::table
        .select((memberships::role, memberships::seal_use_until))
        .filter(memberships::enterprise_id.eq(w.enterprise))
        .filter(memberships::user_id.eq(user))
        .order(memberships::role.asc())
        .load(&mut w.rt.pool().get().await.unwrap())
        .await
        .unwrap()
}

async fn add(w: &World, user: Uuid, role: &str) {
    let mut conn = w.rt.pool().get().await.unwrap();
    seed::member(&mut conn, w.enterprise, user, role, w.clock.now_utc()).await;
}

/// The one action row an instance owes.
async fn action_row(w: &World, instance: Uuid) -> OutboxRow {
    outbox::table
        .select(OutboxRow::as_select())
        .filter(outbox::instance_id.eq(instance))
        .filter(outbox::kind.eq("action"))
        .first(&mut w.rt.pool().get().await.unwrap())
        .await
        .unwrap()
}

/// Runs the action's effect once more, outside the outbox bookkeeping (what a crash between
/// the effect and its "done" mark would amount to, were they not one transaction).
async fn execute_again(w: &World, row: &OutboxRow) -> Result<(), EffectError> {
    let mut conn = w.rt.pool().get().await.unwrap();
    Executor::execute(&DatabaseActions, &mut conn, row).await
}

fn approve(task: Uuid, actor: Uuid) -> Command {
    Command::Decide {
        task_id: task,
        actor,
        outcome: "approve".into(),
        reason: None,
        comment: None,
    }
}

#[tokio::test]
async fn both_definitions_load_with_their_actions_in_the_catalog() {
    let w = world().await;
    for name in ["membership.revoke", "membership.transfer_admin"] {
        assert!(NAMES.contains(&name), "{name} implemented");
        assert!(
            w.env.catalog.action(name).is_some(),
            "{name} in the catalog"
        );
    }
    let leave = w.rt.definition("leave_enterprise").unwrap();
    let states: Vec<&str> = leave.states.iter().map(|s| s.name.as_str()).collect();
    for s in ["admin_review", "left", "rejected", "withdrawn", "expired"] {
        assert!(states.contains(&s), "{s} in {states:?}");
    }
    let transfer = w.rt.definition("admin_transfer").unwrap();
    let states: Vec<&str> = transfer.states.iter().map(|s| s.name.as_str()).collect();
    for s in [
        "legal_rep_review",
        "transferred",
        "rejected",
        "withdrawn",
        "expired",
    ] {
        assert!(states.contains(&s), "{s} in {states:?}");
    }
}

#[tokio::test]
async fn an_approved_leave_revokes_every_role_but_the_legal_reps_once() {
    let w = world().await;
    add(&w, w.applicant, "member").await;
    add(&w, w.applicant, "legal_rep").await;
    let input = json!({ "enterprise_id": w.enterprise.to_string(), "reason": "已离职" });
    let started =
        w.rt.start("leave_enterprise", w.applicant, Some(w.enterprise), &input)
            .await
            .unwrap();
    assert_eq!(started.state, "admin_review");
    let id = started.instance_id;
    assert_eq!(
        w.count(timers::table.filter(timers::instance_id.eq(id)).count())
            .await,
        2,
        "day-3 reminder and day-7 expiry"
    );
    // A second open request for the same enterprise: the unique index refuses it.
    let err =
        w.rt.start("leave_enterprise", w.applicant, Some(w.enterprise), &input)
            .await
            .unwrap_err();
    assert!(matches!(err, RuntimeError::AlreadyOpen), "{err:?}");

    let task = w.open_task(id).await;
    let err =
        w.rt.command(id, approve(task, w.applicant))
            .await
            .unwrap_err();
    assert!(
        matches!(err, RuntimeError::Step(StepError::SelfDecision)),
        "{err:?}"
    );
    assert_eq!(
        w.rt.command(id, approve(task, w.admin)).await.unwrap(),
        "left"
    );

    let row = action_row(&w, id).await;
    assert_eq!(row.name, "membership.revoke");
    assert_eq!(
        w.rt.deliver(row.id, &DatabaseActions).await.unwrap(),
        Delivery::Done
    );
    assert_eq!(
        roles(&w, w.applicant).await,
        [("legal_rep".to_owned(), None)]
    );
    execute_again(&w, &row).await.unwrap();
    assert_eq!(
        roles(&w, w.applicant).await,
        [("legal_rep".to_owned(), None)]
    );
    assert_eq!(
        roles(&w, w.admin).await,
        [("enterprise_admin".to_owned(), None)]
    );
}

#[tokio::test]
async fn an_approved_transfer_swaps_the_admin_role_keeping_seal_rights_once() {
    let w = world().await;
    let legal = w.stranger;
    add(&w, legal, "legal_rep").await;
    add(&w, w.applicant, "member").await;
    let until = NaiveDate::from_ymd_opt(2027, 12, 31).unwrap();
    diesel::update(
        memberships::table
            .filter(memberships::enterprise_id.eq(w.enterprise))
            .filter(memberships::user_id.eq_any([w.applicant, w.admin])),
    )
    .set(memberships::seal_use_until.eq(until))
    .execute(&mut w.rt.pool().get().await.unwrap())
    .await
    .unwrap();

    let input = json!({
        "enterprise_id": w.enterprise.to_string(),
        "target_user_id": w.applicant.to_string(),
    });
    let id =
        w.rt.start("admin_transfer", w.admin, Some(w.enterprise), &input)
            .await
            .unwrap()
            .instance_id;
    let task = w.open_task(id).await;
    // Another admin is not the legal rep.
    let err = w.rt.command(id, approve(task, w.admin2)).await.unwrap_err();
    assert!(
        matches!(err, RuntimeError::Step(StepError::NotAssignee)),
        "{err:?}"
    );
    assert_eq!(
        w.rt.command(id, approve(task, legal)).await.unwrap(),
        "transferred"
    );
    let row = action_row(&w, id).await;
    assert_eq!(row.name, "membership.transfer_admin");
    assert_eq!(
        w.rt.deliver(row.id, &DatabaseActions).await.unwrap(),
        Delivery::Done
    );
    let expect_target = [
        ("enterprise_admin".to_owned(), Some(until)),
        ("member".to_owned(), Some(until)),
    ];
    let expect_requester = [("member".to_owned(), Some(until))];
    assert_eq!(roles(&w, w.applicant).await, expect_target);
    assert_eq!(roles(&w, w.admin).await, expect_requester);
    // Delivered again: nothing changes.
    execute_again(&w, &row).await.unwrap();
    assert_eq!(roles(&w, w.applicant).await, expect_target);
    assert_eq!(roles(&w, w.admin).await, expect_requester);
    assert_eq!(
        w.rt.deliver(row.id, &DatabaseActions).await.unwrap(),
        Delivery::AlreadySettled
    );
}

#[tokio::test]
async fn a_transfer_to_someone_who_left_fails_for_good_and_changes_nothing() {
    let w = world().await;
    let legal = w.stranger;
    add(&w, legal, "legal_rep").await;
    add(&w, w.applicant, "member").await;
    let input = json!({
        "enterprise_id": w.enterprise.to_string(),
        "target_user_id": w.applicant.to_string(),
    });
    let id =
        w.rt.start("admin_transfer", w.admin, Some(w.enterprise), &input)
            .await
            .unwrap()
            .instance_id;
    let task = w.open_task(id).await;
    w.rt.command(id, approve(task, legal)).await.unwrap();
    diesel::delete(
        memberships::table
            .filter(memberships::enterprise_id.eq(w.enterprise))
            .filter(memberships::user_id.eq(w.applicant)),
    )
    .execute(&mut w.rt.pool().get().await.unwrap())
    .await
    .unwrap();
    let row = action_row(&w, id).await;
    assert!(matches!(
        execute_again(&w, &row).await,
        Err(EffectError::Permanent(_))
    ));
    assert_eq!(
        w.rt.deliver(row.id, &DatabaseActions).await.unwrap(),
        Delivery::Dead
    );
    assert!(roles(&w, w.applicant).await.is_empty());
    assert_eq!(
        roles(&w, w.admin).await,
        [("enterprise_admin".to_owned(), None)]
    );
}
