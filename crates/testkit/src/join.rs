//! Join requests driven through a runtime, as the tests and benchmarks drive them.

use certdesk_runtime::{Command, Runtime};
use certdesk_store::schema::tasks;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

/// Submits a join request in reason mode; returns the instance id.
pub async fn submit(rt: &Runtime, applicant: Uuid, enterprise: Uuid) -> Uuid {
    let input =
        json!({ "enterprise_id": enterprise.to_string(), "mode": "reason", "reason": "新同事" });
    rt.start("join_request", applicant, Some(enterprise), &input)
        .await
        .expect("start a join request")
        .instance_id
}

/// The open task of `instance`.
pub async fn open_task(rt: &Runtime, instance: Uuid) -> Uuid {
    tasks::table
        .select(tasks::id)
        .filter(tasks::instance_id.eq(instance))
        .filter(tasks::status.eq("open"))
        .first(&mut rt.pool().get().await.expect("a connection"))
        .await
        .expect("an open task")
}

/// Decides the open task of `instance`; returns the state it rests in.
pub async fn decide(
    rt: &Runtime,
    instance: Uuid,
    actor: Uuid,
    outcome: &str,
    reason: Option<&str>,
    comment: Option<&str>,
) -> String {
    let decide = Command::Decide {
        task_id: open_task(rt, instance).await,
        actor,
        outcome: outcome.into(),
        reason: reason.map(Into::into),
        comment: comment.map(Into::into),
    };
    rt.command(instance, decide).await.expect("decide")
}

/// Submits a join request and has `admin` approve it; asserts it joined. Two durable steps.
pub async fn approve(rt: &Runtime, enterprise: Uuid, admin: Uuid, applicant: Uuid) -> Uuid {
    let id = submit(rt, applicant, enterprise).await;
    assert_eq!(decide(rt, id, admin, "approve", None, None).await, "joined");
    id
}
