//! Delivering outbox rows: exactly once in effect, retries with backoff, dead rows, leases.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::sync::Mutex;
use std::time::Duration;

use certdesk_runtime::actions::DatabaseActions;
use certdesk_runtime::outbox::{
    BoxFuture, Delivery, EffectError, Executor, MAX_ATTEMPTS, OutboxRow,
};
use certdesk_store::schema::{memberships, outbox};
use chrono::TimeDelta;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use support::world;

/// Fails the way it is told, and counts the calls that reached it.
struct Scripted {
    failures: Mutex<Vec<EffectError>>,
    calls: Mutex<Vec<String>>,
}

impl Scripted {
    fn new(failures: Vec<EffectError>) -> Self {
        Scripted {
            failures: Mutex::new(failures),
            calls: Mutex::new(Vec::new()),
        }
    }
}

impl Executor for Scripted {
    fn execute<'a>(
        &'a self,
        _conn: &'a mut AsyncPgConnection,
        row: &'a OutboxRow,
    ) -> BoxFuture<'a, Result<(), EffectError>> {
        Box::pin(async move {
            self.calls.lock().unwrap().push(row.name.clone());
            let mut failures = self.failures.lock().unwrap();
            if failures.is_empty() {
                Ok(())
            } else {
                Err(failures.remove(0))
            }
        })
    }
}

async fn ids_named(w: &support::World, name: &str) -> Vec<Uuid> {
    outbox::table
        .select(outbox::id)
        .filter(outbox::name.eq(name))
        .load(&mut w.rt.pool().get().await.unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn approving_grants_the_membership_once_however_often_it_is_delivered() {
    let w = world().await;
    let id = w.submit().await;
    let task = w.open_task(id).await;
    w.rt.command(id, w.decide(task, w.admin, "approve"))
        .await
        .unwrap();
    let [grant] = ids_named(&w, "membership.grant").await[..] else {
        panic!("one grant owed")
    };

    assert_eq!(
        w.rt.deliver(grant, &DatabaseActions).await.unwrap(),
        Delivery::Done
    );
    // Redis may deliver twice (at-least-once): the second is a no-op.
    assert_eq!(
        w.rt.deliver(grant, &DatabaseActions).await.unwrap(),
        Delivery::AlreadySettled
    );
    let mut conn = w.rt.pool().get().await.unwrap();
    let roles: Vec<String> = memberships::table
        .select(memberships::role)
        .filter(memberships::user_id.eq(w.applicant))
        .filter(memberships::enterprise_id.eq(w.enterprise))
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(roles, ["member"]);
    assert_eq!(
        w.rt.deliver(Uuid::now_v7(), &DatabaseActions)
            .await
            .unwrap(),
        Delivery::Unknown
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_of_one_row_run_the_effect_once() {
    let w = world().await;
    w.submit().await;
    let [note] = ids_named(&w, "join_request_submitted").await[..] else {
        panic!()
    };
    let exec = Scripted::new(vec![]);
    let (a, b) = tokio::join!(w.rt.deliver(note, &exec), w.rt.deliver(note, &exec));
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|d| format!("{d:?}"));
    assert_eq!(outcomes, [Delivery::AlreadySettled, Delivery::Done]);
    assert_eq!(exec.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn transient_failures_back_off_then_succeed_and_permanent_ones_go_dead_at_once() {
    let w = world().await;
    w.submit().await;
    let [note] = ids_named(&w, "join_request_submitted").await[..] else {
        panic!()
    };
    let exec = Scripted::new(vec![
        EffectError::Transient("smtp busy".into()),
        EffectError::Transient("smtp busy".into()),
    ]);
    let t0 = certdesk_domain::clock::Clock::now(w.clock.as_ref());
    assert_eq!(
        w.rt.deliver(note, &exec).await.unwrap(),
        Delivery::Retry(t0 + TimeDelta::seconds(2))
    );
    // Not owed to the relay before its time.
    assert!(
        w.rt.claim_owed(10, Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty()
    );
    w.clock.advance(TimeDelta::seconds(2));
    assert_eq!(
        w.rt.claim_owed(10, Duration::from_secs(30)).await.unwrap(),
        [note]
    );
    assert_eq!(
        w.rt.deliver(note, &exec).await.unwrap(),
        Delivery::Retry(t0 + TimeDelta::seconds(2 + 4))
    );
    assert_eq!(w.rt.deliver(note, &exec).await.unwrap(), Delivery::Done);

    let id = w.submit_new().await;
    let [_, second] = ids_named(&w, "join_request_submitted").await[..] else {
        panic!()
    };
    let bad = Scripted::new(vec![EffectError::Permanent("no such mailbox".into())]);
    assert_eq!(w.rt.deliver(second, &bad).await.unwrap(), Delivery::Dead);
    let dead = w.rt.dead_effects(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].id,
            dead[0].instance_id,
            dead[0].last_error.as_deref()
        ),
        (second, Some(id), Some("no such mailbox"))
    );
    // An operator revives it; it is owed again and succeeds.
    w.rt.retry_effect(second).await.unwrap();
    assert_eq!(
        w.rt.claim_owed(10, Duration::from_secs(30)).await.unwrap(),
        [second]
    );
    assert_eq!(w.rt.deliver(second, &bad).await.unwrap(), Delivery::Done);
    assert!(
        w.rt.retry_effect(second).await.is_err(),
        "only dead jobs can be retried"
    );
}

#[tokio::test]
async fn an_effect_failing_every_time_goes_dead_after_the_cap() {
    let w = world().await;
    w.submit().await;
    let [note] = ids_named(&w, "join_request_submitted").await[..] else {
        panic!()
    };
    let always = Scripted::new(
        (0..100)
            .map(|_| EffectError::Transient("down".into()))
            .collect(),
    );
    let mut last = Delivery::Unknown;
    for _ in 0..MAX_ATTEMPTS {
        last = w.rt.deliver(note, &always).await.unwrap();
    }
    assert_eq!(last, Delivery::Dead);
    assert_eq!(always.calls.lock().unwrap().len(), MAX_ATTEMPTS as usize);
    assert_eq!(
        w.rt.deliver(note, &always).await.unwrap(),
        Delivery::AlreadySettled
    );
}

#[tokio::test]
async fn rows_whose_lease_ended_are_owed_again() {
    let w = world().await;
    w.submit().await;
    w.submit_new().await;
    let claimed = w.rt.claim_owed(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(
        w.rt.claim_owed(10, Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty(),
        "leased rows are not claimed twice"
    );
    // Redis lost them (FLUSHALL, a restart): nothing happens until the lease ends...
    assert_eq!(w.rt.release_expired().await.unwrap(), 0);
    w.clock.advance(TimeDelta::seconds(31));
    assert_eq!(w.rt.release_expired().await.unwrap(), 2);
    let mut again = w.rt.claim_owed(10, Duration::from_secs(30)).await.unwrap();
    again.sort();
    let mut before = claimed.clone();
    before.sort();
    assert_eq!(again, before);
    assert_eq!(w.rt.owed_effects().await.unwrap(), 2);
}
