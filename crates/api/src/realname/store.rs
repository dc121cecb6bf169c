//! The queries of real-name verification: the applicant's real-name columns on `users` and the
//! log of provider calls (`real_name_checks`).
//!
//! Every status change is one conditional `UPDATE` (`… WHERE real_name_status IN (…)`), so two
//! requests of one applicant racing cannot both move it: the loser changes nothing and is told
//! the current status. Explicit diesel imports (DEPENDENCIES G6).

use certdesk_store::schema::{real_name_checks, users};
use chrono::{DateTime, Utc};
use diesel::result::QueryResult;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// The applicant's real-name columns.
#[derive(Debug, Clone, diesel::Queryable)]
pub(crate) struct Status {
    pub status: String,
    pub name: Option<String>,
    pub id_type: Option<String>,
    pub id_masked: Option<String>,
    pub id_pending: Option<String>,
    pub instance_id: Option<Uuid>,
    pub updated_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
    pub phone: Option<String>,
}

/// The caller's real-name columns (None when the user row is gone).
pub(crate) async fn status(
    conn: &mut AsyncPgConnection,
    user: Uuid,
) -> QueryResult<Option<Status>> {
    users::table
        .select((
            users::real_name_status,
            users::real_name_name,
            users::real_name_id_type,
            users::real_name_id_masked,
            users::real_name_id_pending,
            users::real_name_instance_id,
            users::real_name_updated_at,
            users::real_name_verified_at,
            users::phone,
        ))
        .find(user)
        .first(conn)
        .await
        .optional()
}

/// Whether another account is verified with this document.
pub(crate) async fn verified_elsewhere(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    digest: &[u8],
) -> QueryResult<bool> {
    let n: i64 = users::table
        .filter(users::real_name_id_digest.eq(digest))
        .filter(users::real_name_status.eq("verified"))
        .filter(users::id.ne(user))
        .count()
        .get_result(conn)
        .await?;
    Ok(n > 0)
}

/// Records a provider call before it is made (its request id is the idempotency key).
pub(crate) async fn begin_check(
    conn: &mut AsyncPgConnection,
    request_id: Uuid,
    user: Uuid,
    kind: &str,
    provider: &str,
    id_masked: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(real_name_checks::table)
        .values((
            real_name_checks::request_id.eq(request_id),
            real_name_checks::user_id.eq(user),
            real_name_checks::kind.eq(kind),
            real_name_checks::provider.eq(provider),
            real_name_checks::id_masked.eq(id_masked),
            real_name_checks::created_at.eq(now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Records how a provider call ended.
pub(crate) async fn finish_check(
    conn: &mut AsyncPgConnection,
    request_id: Uuid,
    result: &str,
    attempts: u32,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(real_name_checks::table.find(request_id))
        .set((
            real_name_checks::result.eq(result),
            real_name_checks::attempts.eq(i32::try_from(attempts).unwrap_or(i32::MAX)),
            real_name_checks::finished_at.eq(now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// What a submission stores of the document.
#[derive(Debug, Clone)]
pub(crate) struct Document<'a> {
    pub id_type: &'a str,
    pub name: &'a str,
    pub id_masked: &'a str,
    pub digest: &'a [u8],
}

/// Statuses from which a new submission may start.
const OPEN_TO_SUBMIT: [&str; 3] = ["none", "rejected", "pending_face"];

/// The three-element check passed: the applicant waits for the face check, with the full
/// number kept for it. False when the status no longer allows it.
pub(crate) async fn set_pending_face(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    doc: &Document<'_>,
    id_number: &str,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    open_submission(conn, user, doc, "pending_face", Some(id_number), now).await
}

/// The face check passed: verified, and the full number is dropped. False when the applicant
/// no longer waits for a face check.
pub(crate) async fn set_verified_by_face(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let n = diesel::update(
        users::table
            .filter(users::id.eq(user))
            .filter(users::real_name_status.eq("pending_face")),
    )
    .set((
        users::real_name_status.eq("verified"),
        users::real_name_id_pending.eq(None::<String>),
        users::real_name_updated_at.eq(now),
        users::real_name_verified_at.eq(Some(now)),
    ))
    .execute(conn)
    .await?;
    Ok(n > 0)
}

/// Claims the applicant for a manual review before its instance starts (so of two
/// submissions racing, one starts a review). False when the status does not allow it.
pub(crate) async fn claim_review(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    doc: &Document<'_>,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    open_submission(conn, user, doc, "pending_review", None, now).await
}

/// Moves an applicant whose status allows a new submission to `status` with this document
/// (and, for the face check, the full number it needs). False when the status does not allow it.
async fn open_submission(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    doc: &Document<'_>,
    status: &str,
    id_pending: Option<&str>,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let n = diesel::update(
        users::table
            .filter(users::id.eq(user))
            .filter(users::real_name_status.eq_any(OPEN_TO_SUBMIT)),
    )
    .set((
        users::real_name_status.eq(status),
        users::real_name_name.eq(doc.name),
        users::real_name_id_type.eq(doc.id_type),
        users::real_name_id_masked.eq(doc.id_masked),
        users::real_name_id_digest.eq(doc.digest),
        users::real_name_id_pending.eq(id_pending),
        users::real_name_instance_id.eq(None::<Uuid>),
        users::real_name_updated_at.eq(now),
        users::real_name_verified_at.eq(None::<DateTime<Utc>>),
    ))
    .execute(conn)
    .await?;
    Ok(n > 0)
}

/// Links the claimed review to its instance.
pub(crate) async fn attach_review(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    instance: Uuid,
) -> QueryResult<()> {
    diesel::update(
        users::table
            .filter(users::id.eq(user))
            .filter(users::real_name_status.eq("pending_review"))
            .filter(users::real_name_instance_id.is_null()),
    )
    .set(users::real_name_instance_id.eq(Some(instance)))
    .execute(conn)
    .await
    .map(drop)
}

/// Gives a claim back when its instance could not start.
pub(crate) async fn release_review(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<()> {
    diesel::update(
        users::table
            .filter(users::id.eq(user))
            .filter(users::real_name_status.eq("pending_review"))
            .filter(users::real_name_instance_id.is_null()),
    )
    .set((
        users::real_name_status.eq("none"),
        users::real_name_name.eq(None::<String>),
        users::real_name_id_type.eq(None::<String>),
        users::real_name_id_masked.eq(None::<String>),
        users::real_name_id_digest.eq(None::<Vec<u8>>),
    ))
    .execute(conn)
    .await
    .map(drop)
}

/// A corrected resubmission replaces what is kept of the document.
pub(crate) async fn update_review(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    instance: Uuid,
    doc: &Document<'_>,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(
        users::table
            .filter(users::id.eq(user))
            .filter(users::real_name_status.eq("pending_review"))
            .filter(users::real_name_instance_id.eq(instance)),
    )
    .set((
        users::real_name_name.eq(doc.name),
        users::real_name_id_type.eq(doc.id_type),
        users::real_name_id_masked.eq(doc.id_masked),
        users::real_name_id_digest.eq(doc.digest),
        users::real_name_updated_at.eq(now),
    ))
    .execute(conn)
    .await
    .map(drop)
}
