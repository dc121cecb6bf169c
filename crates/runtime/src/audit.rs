//! Reading the signed history back and verifying it (`certdesk audit verify`).

use certdesk_audit::{Entry, Finding, Verifier, verify_head, verify_instance};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use certdesk_store::schema::{history, instances};

use certdesk_store::db::Pool;

use crate::{Runtime, RuntimeError};

type HistoryRow = (
    Uuid,
    i64,
    chrono::DateTime<chrono::Utc>,
    String,
    String,
    serde_json::Value,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    String,
);

fn hash32(bytes: &[u8]) -> [u8; 32] {
    // A stored hash of the wrong length cannot match any real one: all-ones never does.
    bytes.try_into().unwrap_or([0xff; 32])
}

impl Runtime {
    /// The history of one instance, in sequence order, as stored.
    pub async fn history(&self, instance: Uuid) -> Result<Vec<Entry>, RuntimeError> {
        history_of(self.pool(), instance).await
    }

    /// Verifies the history of one instance, or of every instance (see [`verify`]).
    pub async fn verify_history(
        &self,
        verifier: &Verifier,
        only: Option<Uuid>,
    ) -> Result<Vec<Finding>, RuntimeError> {
        verify(self.pool(), verifier, only).await
    }
}

async fn conn(
    pool: &Pool,
) -> Result<
    diesel_async::pooled_connection::deadpool::Object<diesel_async::AsyncPgConnection>,
    RuntimeError,
> {
    pool.get()
        .await
        .map_err(|e| RuntimeError::Pool(e.to_string()))
}

/// The history of one instance, in sequence order, as stored.
pub async fn history_of(pool: &Pool, instance: Uuid) -> Result<Vec<Entry>, RuntimeError> {
    let mut conn = conn(pool).await?;
    let rows: Vec<HistoryRow> = history::table
        .select((
            history::instance_id,
            history::seq,
            history::at,
            history::actor,
            history::event,
            history::payload,
            history::prev_hash,
            history::hash,
            history::signature,
            history::key_id,
        ))
        .filter(history::instance_id.eq(instance))
        .order(history::seq.asc())
        .load(&mut conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(instance_id, seq, at, actor, event, payload, prev, hash, signature, key_id)| Entry {
                instance_id,
                seq,
                at,
                actor,
                event,
                payload,
                prev_hash: hash32(&prev),
                hash: hash32(&hash),
                signature,
                key_id,
            },
        )
        .collect())
}

/// Verifies the history of one instance, or of every instance: each edited, deleted,
/// inserted or reordered row is named, and a truncated tail is caught by the head hash and
/// count kept on the instance. Empty means intact.
pub async fn verify(
    pool: &Pool,
    verifier: &Verifier,
    only: Option<Uuid>,
) -> Result<Vec<Finding>, RuntimeError> {
    let mut conn = conn(pool).await?;
    let mut query = instances::table
        .select((
            instances::id,
            instances::history_count,
            instances::history_head,
        ))
        .into_boxed();
    if let Some(id) = only {
        query = query.filter(instances::id.eq(id));
    }
    let heads: Vec<(Uuid, i64, Vec<u8>)> = query.order(instances::id.asc()).load(&mut conn).await?;
    if only.is_some() && heads.is_empty() {
        return Err(RuntimeError::NotFound("instance"));
    }
    drop(conn);
    let mut findings = Vec::new();
    for (id, count, head) in heads {
        let entries = history_of(pool, id).await?;
        findings.extend(verify_instance(verifier, &entries));
        if let Some(f) = verify_head(id, &entries, count, &hash32(&head)) {
            findings.push(f);
        }
    }
    Ok(findings)
}
