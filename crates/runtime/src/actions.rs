//! Actions that only touch PostgreSQL, executed inside the delivery's transaction so the
//! effect and its "done" mark commit together (a second delivery finds it done).
//!
//! Every action in the engine's standard catalog that is database-only is implemented here;
//! actions that call outside parties live with their adapters in `workers/`.

use chrono::NaiveDate;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use certdesk_store::schema::{instances, memberships, users};

use crate::outbox::{BoxFuture, EffectError, Executor, OutboxRow};

/// The database-only actions of the standard catalog.
#[derive(Debug, Default, Clone, Copy)]
pub struct DatabaseActions;

/// Action names [`DatabaseActions`] implements.
pub const NAMES: [&str; 5] = [
    "membership.grant",
    "membership.revoke",
    "membership.transfer_admin",
    "real_name.mark_verified",
    "real_name.mark_rejected",
];

impl Executor for DatabaseActions {
    fn execute<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        row: &'a OutboxRow,
    ) -> BoxFuture<'a, Result<(), EffectError>> {
        Box::pin(async move {
            match row.name.as_str() {
                "membership.grant" => grant_membership(conn, row).await,
                "membership.revoke" => revoke_membership(conn, row).await,
                "membership.transfer_admin" => transfer_admin(conn, row).await,
                "real_name.mark_verified" => mark_real_name(conn, row, "verified").await,
                "real_name.mark_rejected" => mark_real_name(conn, row, "rejected").await,
                other => Err(EffectError::Permanent(format!(
                    "no database action named `{other}`"
                ))),
            }
        })
    }
}

/// 中标一证通 12: the member joins with the rights asked in the request (seal use until a date).
async fn grant_membership(
    conn: &mut AsyncPgConnection,
    row: &OutboxRow,
) -> Result<(), EffectError> {
    let instance = row
        .instance_id
        .ok_or_else(|| EffectError::Permanent("membership.grant without an instance".into()))?;
    let (requester, subject, data): (Uuid, Option<Uuid>, serde_json::Value) = instances::table
        .select((instances::requester, instances::subject_id, instances::data))
        .find(instance)
        .first(conn)
        .await?;
    let enterprise =
        subject.ok_or_else(|| EffectError::Permanent("the request names no enterprise".into()))?;
    let seal_use_until = match (
        data.get("seal_use").and_then(|v| v.as_bool()),
        data.get("seal_use_until"),
    ) {
        (Some(true), Some(d)) => Some(
            d.as_str()
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .ok_or_else(|| EffectError::Permanent(format!("bad seal_use_until {d}")))?,
        ),
        _ => None,
    };
    // Idempotent: a membership already there (a duplicate delivery) is left as it is.
    diesel::insert_into(memberships::table)
        .values((
            memberships::enterprise_id.eq(enterprise),
            memberships::user_id.eq(requester),
            memberships::role.eq("member"),
            memberships::seal_use_until.eq(seal_use_until),
            memberships::created_at.eq(row.created_at),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// The requester, the enterprise and the form of the instance an action belongs to.
async fn subject_of(
    conn: &mut AsyncPgConnection,
    row: &OutboxRow,
) -> Result<(Uuid, Uuid, serde_json::Value), EffectError> {
    let instance = row
        .instance_id
        .ok_or_else(|| EffectError::Permanent(format!("{} without an instance", row.name)))?;
    let (requester, subject, data): (Uuid, Option<Uuid>, serde_json::Value) = instances::table
        .select((instances::requester, instances::subject_id, instances::data))
        .find(instance)
        .first(conn)
        .await?;
    let enterprise =
        subject.ok_or_else(|| EffectError::Permanent("the request names no enterprise".into()))?;
    Ok((requester, enterprise, data))
}

/// 退出企业: the requester leaves the enterprise. Every role they hold there goes, except the
/// legal representative's: that is a registered fact of the enterprise, not a membership one
/// leaves (the API refuses the legal rep's request; this holds even if the role came later).
/// Idempotent: a second delivery finds nothing left to delete.
async fn revoke_membership(
    conn: &mut AsyncPgConnection,
    row: &OutboxRow,
) -> Result<(), EffectError> {
    let (requester, enterprise, _) = subject_of(conn, row).await?;
    let removed = diesel::delete(
        memberships::table
            .filter(memberships::enterprise_id.eq(enterprise))
            .filter(memberships::user_id.eq(requester))
            .filter(memberships::role.ne("legal_rep")),
    )
    .execute(conn)
    .await?;
    tracing::info!(
        enterprise.id = %enterprise,
        user.id = %requester,
        memberships.removed = removed,
        "member left the enterprise"
    );
    Ok(())
}

/// 管理员转授: the target becomes an admin, the requester stops being one and stays a plain
/// member, both in the delivery's one transaction. Each of them keeps the seal-use right they
/// had (it belongs to the person and is set on each of their rows). Idempotent: a second
/// delivery finds the target an admin and the requester no longer one, and changes nothing.
/// A target who no longer belongs to the enterprise (left meanwhile) fails for good, so a
/// person looks at it, and nothing changes.
async fn transfer_admin(conn: &mut AsyncPgConnection, row: &OutboxRow) -> Result<(), EffectError> {
    let (requester, enterprise, data) = subject_of(conn, row).await?;
    let target = data
        .get("target_user_id")
        .and_then(|v| v.as_str())
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| EffectError::Permanent("the request names no target".into()))?;
    // Lock both people's rows in this enterprise first, so a leave or a seal-use change cannot
    // slip in between the reads and the writes below.
    let rows: Vec<(Uuid, String, Option<NaiveDate>)> = memberships::table
        .select((
            memberships::user_id,
            memberships::role,
            memberships::seal_use_until,
        ))
        .filter(memberships::enterprise_id.eq(enterprise))
        .filter(memberships::user_id.eq_any([requester, target]))
        .for_update()
        .load(conn)
        .await?;
    let seal_of = |user: Uuid| {
        rows.iter()
            .filter(|r| r.0 == user)
            .filter_map(|r| r.2)
            .max()
    };
    let has = |user: Uuid, role: &str| rows.iter().any(|r| r.0 == user && r.1 == role);
    if !rows.iter().any(|r| r.0 == target) {
        return Err(EffectError::Permanent(format!(
            "the target {target} no longer belongs to enterprise {enterprise}"
        )));
    }
    if !has(target, "enterprise_admin") {
        diesel::insert_into(memberships::table)
            .values((
                memberships::enterprise_id.eq(enterprise),
                memberships::user_id.eq(target),
                memberships::role.eq("enterprise_admin"),
                memberships::seal_use_until.eq(seal_of(target)),
                memberships::created_at.eq(row.created_at),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
    }
    if has(requester, "enterprise_admin") {
        if !has(requester, "member") {
            diesel::insert_into(memberships::table)
                .values((
                    memberships::enterprise_id.eq(enterprise),
                    memberships::user_id.eq(requester),
                    memberships::role.eq("member"),
                    memberships::seal_use_until.eq(seal_of(requester)),
                    memberships::created_at.eq(row.created_at),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
        }
        diesel::delete(
            memberships::table
                .filter(memberships::enterprise_id.eq(enterprise))
                .filter(memberships::user_id.eq(requester))
                .filter(memberships::role.eq("enterprise_admin")),
        )
        .execute(conn)
        .await?;
    }
    tracing::info!(
        enterprise.id = %enterprise,
        from.id = %requester,
        to.id = %target,
        "enterprise admin role transferred"
    );
    Ok(())
}

/// 数信签 4.2: a CS reviewer's decision on a passport or permit settles the applicant's
/// real-name status. Only while this review is still the applicant's latest and still pending:
/// a duplicate delivery, or a review overtaken by a newer submission, changes nothing.
async fn mark_real_name(
    conn: &mut AsyncPgConnection,
    row: &OutboxRow,
    status: &'static str,
) -> Result<(), EffectError> {
    let instance = row
        .instance_id
        .ok_or_else(|| EffectError::Permanent(format!("{} without an instance", row.name)))?;
    let requester: Uuid = instances::table
        .select(instances::requester)
        .find(instance)
        .first(conn)
        .await?;
    let verified_at = (status == "verified").then_some(row.created_at);
    let updated = diesel::update(
        users::table
            .filter(users::id.eq(requester))
            .filter(users::real_name_instance_id.eq(instance))
            .filter(users::real_name_status.eq("pending_review")),
    )
    .set((
        users::real_name_status.eq(status),
        users::real_name_verified_at.eq(verified_at),
        users::real_name_updated_at.eq(row.created_at),
    ))
    .execute(conn)
    .await
    .map_err(|e| match e {
        // Another account was verified with the same document meanwhile: one document, one
        // verified account. Retrying cannot help; a person must look.
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => EffectError::Permanent("this document already verifies another account".to_owned()),
        other => EffectError::from(other),
    })?;
    if updated == 0 {
        tracing::info!(
            instance.id = %instance,
            user.id = %requester,
            real_name.status = status,
            "real-name review no longer pending for this user; nothing to mark"
        );
    }
    Ok(())
}
