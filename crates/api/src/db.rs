//! The queries the API runs outside the runtime: bearer tokens, enterprise search, who
//! belongs to an enterprise, the verify-admin lockout, read models of join requests and the
//! rows of uploaded files.
//!
//! Kept in one module with explicit diesel imports (DEPENDENCIES G6): `diesel::prelude::*`
//! and `diesel_async::RunQueryDsl` must not meet. Nothing here changes workflow state; that
//! is the runtime's.

use certdesk_runtime::Runtime;
use certdesk_store::schema::{
    admin_check_attempts, api_tokens, enterprises, files, history, instances, memberships, tasks,
    users,
};
use chrono::{DateTime, Utc};
use diesel::result::QueryResult;
use diesel::{
    BoolExpressionMethods, ExpressionMethods, JoinOnDsl, NullableExpressionMethods,
    OptionalExtension, QueryDsl, SelectableHelper, TextExpressionMethods,
};
use diesel_async::pooled_connection::deadpool::Object;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::page::PageRequest;
use crate::problem::ApiError;

/// The definition every query about join requests is restricted to.
pub(crate) const JOIN_REQUEST: &str = "join_request";

/// Roles that may review an enterprise's join requests (and so see them).
pub(crate) const REVIEWER_ROLES: [&str; 2] = ["enterprise_admin", "legal_rep"];

/// A pooled connection.
pub(crate) type Conn = Object<AsyncPgConnection>;

/// Takes a connection from the runtime's pool.
pub(crate) async fn conn(runtime: &Runtime) -> Result<Conn, ApiError> {
    runtime.pool().get().await.map_err(ApiError::internal)
}

/// `SELECT 1`, for the readiness probe.
pub(crate) async fn ping(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT 1").execute(conn).await.map(drop)
}

// ---- bearer tokens -------------------------------------------------------------------------

/// A live token: whose it is, its id, and when it was last marked used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LiveToken {
    pub user_id: Uuid,
    pub token_id: Uuid,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The token with this hash, if it is neither revoked nor expired at `now`.
pub(crate) async fn live_token(
    conn: &mut AsyncPgConnection,
    sha256: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<Option<LiveToken>> {
    let row: Option<(Uuid, Uuid, Option<DateTime<Utc>>)> = api_tokens::table
        .select((
            api_tokens::user_id,
            api_tokens::id,
            api_tokens::last_used_at,
        ))
        .filter(api_tokens::token_sha256.eq(sha256))
        .filter(api_tokens::revoked_at.is_null())
        .filter(api_tokens::expires_at.gt(now))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|(user_id, token_id, last_used_at)| LiveToken {
        user_id,
        token_id,
        last_used_at,
    }))
}

/// The live token with this hash and its user's account, in one query (the common case of an
/// authenticated request that reads the caller's own account).
pub(crate) async fn live_token_account(
    conn: &mut AsyncPgConnection,
    sha256: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<Option<(LiveToken, crate::identity::store::Account)>> {
    let row: Option<(Uuid, Option<DateTime<Utc>>, crate::identity::store::Account)> =
        api_tokens::table
            .inner_join(users::table)
            .select((
                api_tokens::id,
                api_tokens::last_used_at,
                crate::identity::store::Account::as_select(),
            ))
            .filter(api_tokens::token_sha256.eq(sha256))
            .filter(api_tokens::revoked_at.is_null())
            .filter(api_tokens::expires_at.gt(now))
            .first(conn)
            .await
            .optional()?;
    Ok(row.map(|(token_id, last_used_at, account)| {
        (
            LiveToken {
                user_id: account.id,
                token_id,
                last_used_at,
            },
            account,
        )
    }))
}

/// Marks a token used at `now`.
pub(crate) async fn touch_token(
    conn: &mut AsyncPgConnection,
    token_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(api_tokens::table.filter(api_tokens::id.eq(token_id)))
        .set(api_tokens::last_used_at.eq(now))
        .execute(conn)
        .await
        .map(drop)
}

/// Stores a token hash; returns the token's id.
pub(crate) async fn insert_token(
    conn: &mut AsyncPgConnection,
    sha256: &[u8],
    user_id: Uuid,
    label: &str,
    device: Option<&str>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> QueryResult<Uuid> {
    diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::token_sha256.eq(sha256),
            api_tokens::user_id.eq(user_id),
            api_tokens::label.eq(label),
            api_tokens::device.eq(device),
            api_tokens::created_at.eq(now),
            api_tokens::expires_at.eq(expires_at),
        ))
        .returning(api_tokens::id)
        .get_result(conn)
        .await
}

/// A token as its owner sees it in the list.
#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = api_tokens, check_for_backend(diesel::pg::Pg))]
pub(crate) struct TokenRow {
    pub id: Uuid,
    pub label: String,
    pub device: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A user's live tokens, newest first.
pub(crate) async fn live_tokens(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
    page: &PageRequest<(DateTime<Utc>, Uuid)>,
) -> QueryResult<Vec<TokenRow>> {
    let mut query = api_tokens::table
        .select(TokenRow::as_select())
        .filter(api_tokens::user_id.eq(user_id))
        .filter(api_tokens::revoked_at.is_null())
        .filter(api_tokens::expires_at.gt(now))
        .order((api_tokens::created_at.desc(), api_tokens::id.desc()))
        .limit(page.fetch())
        .into_boxed();
    if let Some((at, id)) = page.after {
        query = query.filter(
            api_tokens::created_at
                .lt(at)
                .or(api_tokens::created_at.eq(at).and(api_tokens::id.lt(id))),
        );
    }
    query.load(conn).await
}

/// Revokes one of `user_id`'s live tokens; false when it has no such token (another user's
/// token included).
pub(crate) async fn revoke_token(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    token_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let n = diesel::update(
        api_tokens::table
            .filter(api_tokens::id.eq(token_id))
            .filter(api_tokens::user_id.eq(user_id))
            .filter(api_tokens::revoked_at.is_null())
            .filter(api_tokens::expires_at.gt(now)),
    )
    .set(api_tokens::revoked_at.eq(now))
    .execute(conn)
    .await?;
    Ok(n > 0)
}

// ---- enterprises ---------------------------------------------------------------------------

/// An enterprise as the API shows it.
#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = enterprises, check_for_backend(diesel::pg::Pg))]
pub(crate) struct Enterprise {
    pub id: Uuid,
    pub uscc: String,
    pub name: String,
}

/// One enterprise by id, whatever its status.
pub(crate) async fn enterprise(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<Enterprise>> {
    enterprises::table
        .select(Enterprise::as_select())
        .find(id)
        .first(conn)
        .await
        .optional()
}

/// What a join request needs to know of an enterprise and the person asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoinStanding {
    /// The enterprise's status.
    pub status: String,
    /// Whether it has an enterprise admin (someone to decide).
    pub has_admin: bool,
    /// Whether `user` holds any role in it.
    pub is_member: bool,
}

/// The enterprise's status, whether it has an admin and whether `user` belongs, in one query;
/// `None` when there is no such enterprise.
pub(crate) async fn join_standing(
    conn: &mut AsyncPgConnection,
    enterprise: Uuid,
    user: Uuid,
) -> QueryResult<Option<JoinStanding>> {
    let admins = memberships::table
        .filter(memberships::enterprise_id.eq(enterprise))
        .filter(memberships::role.eq("enterprise_admin"));
    let mine = memberships::table
        .filter(memberships::enterprise_id.eq(enterprise))
        .filter(memberships::user_id.eq(user));
    let row: Option<(String, bool, bool)> = enterprises::table
        .find(enterprise)
        .select((
            enterprises::status,
            diesel::dsl::exists(admins),
            diesel::dsl::exists(mine),
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|(status, has_admin, is_member)| JoinStanding {
        status,
        has_admin,
        is_member,
    }))
}

/// The active enterprise with exactly this USCC.
pub(crate) async fn enterprises_by_uscc(
    conn: &mut AsyncPgConnection,
    uscc: &str,
) -> QueryResult<Vec<Enterprise>> {
    enterprises::table
        .select(Enterprise::as_select())
        .filter(enterprises::uscc.eq(uscc))
        .filter(enterprises::status.eq("active"))
        .load(conn)
        .await
}

/// Active enterprises whose name contains `fragment`, names starting with it first.
pub(crate) async fn enterprises_by_name(
    conn: &mut AsyncPgConnection,
    fragment: &str,
    limit: i64,
) -> QueryResult<Vec<Enterprise>> {
    let escaped = escape_like(fragment);
    enterprises::table
        .select(Enterprise::as_select())
        .filter(enterprises::name.like(format!("%{escaped}%")))
        .filter(enterprises::status.eq("active"))
        .order((
            enterprises::name.like(format!("{escaped}%")).desc(),
            enterprises::name.asc(),
            enterprises::id.asc(),
        ))
        .limit(limit)
        .load(conn)
        .await
}

/// Escapes `%`, `_` and the escape character itself for a `LIKE` pattern (PostgreSQL's
/// default escape character is the backslash).
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

// ---- memberships ---------------------------------------------------------------------------

/// The roles `user` holds in `enterprise` (empty for an outsider).
pub(crate) async fn roles(
    conn: &mut AsyncPgConnection,
    enterprise: Uuid,
    user: Uuid,
) -> QueryResult<Vec<String>> {
    memberships::table
        .select(memberships::role)
        .filter(memberships::enterprise_id.eq(enterprise))
        .filter(memberships::user_id.eq(user))
        .load(conn)
        .await
}

/// Whether `user` is an admin or the legal representative of `enterprise`.
pub(crate) async fn is_reviewer(
    conn: &mut AsyncPgConnection,
    enterprise: Uuid,
    user: Uuid,
) -> QueryResult<bool> {
    let n: i64 = memberships::table
        .filter(memberships::enterprise_id.eq(enterprise))
        .filter(memberships::user_id.eq(user))
        .filter(memberships::role.eq_any(REVIEWER_ROLES))
        .count()
        .get_result(conn)
        .await?;
    Ok(n > 0)
}

/// An enterprise admin's name and phone (what verify-admin mode compares against).
#[derive(Debug, Clone)]
pub(crate) struct Admin {
    pub name: String,
    pub phone: Option<String>,
}

/// The enterprise's admins.
pub(crate) async fn admins(
    conn: &mut AsyncPgConnection,
    enterprise: Uuid,
) -> QueryResult<Vec<Admin>> {
    let rows: Vec<(String, Option<String>)> = memberships::table
        .inner_join(users::table)
        .select((users::name, users::phone))
        .filter(memberships::enterprise_id.eq(enterprise))
        .filter(memberships::role.eq("enterprise_admin"))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(name, phone)| Admin { name, phone })
        .collect())
}

/// A user's name and phone.
pub(crate) async fn user_name_phone(
    conn: &mut AsyncPgConnection,
    user: Uuid,
) -> QueryResult<Option<(String, Option<String>)>> {
    users::table
        .select((users::name, users::phone))
        .find(user)
        .first(conn)
        .await
        .optional()
}

// ---- verify-admin lockout ------------------------------------------------------------------

/// The lockout row of a (caller, enterprise) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::QueryableByName)]
pub(crate) struct Attempts {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub failures: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    pub locked_until: Option<DateTime<Utc>>,
}

/// When the pair is locked until, if it is locked at `now`.
pub(crate) async fn locked_until(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    enterprise: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<Option<DateTime<Utc>>> {
    let until: Option<Option<DateTime<Utc>>> = admin_check_attempts::table
        .select(admin_check_attempts::locked_until)
        .filter(admin_check_attempts::user_id.eq(user))
        .filter(admin_check_attempts::enterprise_id.eq(enterprise))
        .first(conn)
        .await
        .optional()?;
    Ok(until.flatten().filter(|t| *t > now))
}

/// Counts one wrong try in one statement, so concurrent tries cannot lose a count. A lock
/// that has run out starts the count again; reaching `lock_after` failures locks the pair
/// until `lock_until`.
pub(crate) async fn record_failure(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    enterprise: Uuid,
    now: DateTime<Utc>,
    lock_after: i32,
    lock_until: DateTime<Utc>,
) -> QueryResult<Attempts> {
    use diesel::sql_types::{Integer, Timestamptz, Uuid as SqlUuid};
    diesel::sql_query(
        "INSERT INTO admin_check_attempts AS a \
             (user_id, enterprise_id, failures, locked_until, updated_at) \
         VALUES ($1, $2, 1, CASE WHEN 1 >= $4 THEN $5 END, $3) \
         ON CONFLICT (user_id, enterprise_id) DO UPDATE SET \
             failures = CASE WHEN a.locked_until <= $3 THEN 1 ELSE a.failures + 1 END, \
             locked_until = CASE \
                 WHEN (CASE WHEN a.locked_until <= $3 THEN 1 ELSE a.failures + 1 END) >= $4 \
                 THEN $5 END, \
             updated_at = $3 \
         RETURNING failures, locked_until",
    )
    .bind::<SqlUuid, _>(user)
    .bind::<SqlUuid, _>(enterprise)
    .bind::<Timestamptz, _>(now)
    .bind::<Integer, _>(lock_after)
    .bind::<Timestamptz, _>(lock_until)
    .get_result(conn)
    .await
}

/// A right answer forgets earlier wrong ones.
pub(crate) async fn reset_failures(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    enterprise: Uuid,
) -> QueryResult<()> {
    diesel::delete(
        admin_check_attempts::table
            .filter(admin_check_attempts::user_id.eq(user))
            .filter(admin_check_attempts::enterprise_id.eq(enterprise)),
    )
    .execute(conn)
    .await
    .map(drop)
}

// ---- join requests -------------------------------------------------------------------------

/// A join request as stored by the runtime.
#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = instances, check_for_backend(diesel::pg::Pg))]
pub(crate) struct JoinRequest {
    pub id: Uuid,
    pub subject_id: Option<Uuid>,
    pub requester: Uuid,
    pub state: String,
    pub status: String,
    pub data: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One join request by id (other workflows' instances are not join requests).
pub(crate) async fn join_request(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<JoinRequest>> {
    instances::table
        .select(JoinRequest::as_select())
        .filter(instances::definition.eq(JOIN_REQUEST))
        .find(id)
        .first(conn)
        .await
        .optional()
}

/// The caller's running join request for this enterprise, if any.
pub(crate) async fn open_join_request(
    conn: &mut AsyncPgConnection,
    requester: Uuid,
    enterprise: Uuid,
) -> QueryResult<Option<Uuid>> {
    instances::table
        .select(instances::id)
        .filter(instances::definition.eq(JOIN_REQUEST))
        .filter(instances::requester.eq(requester))
        .filter(instances::subject_id.eq(enterprise))
        .filter(instances::status.eq("running"))
        .order(instances::created_at.desc())
        .first(conn)
        .await
        .optional()
}

/// The open task of an instance, if it waits for a decision.
pub(crate) async fn open_task(
    conn: &mut AsyncPgConnection,
    instance: Uuid,
) -> QueryResult<Option<Uuid>> {
    tasks::table
        .select(tasks::id)
        .filter(tasks::instance_id.eq(instance))
        .filter(tasks::status.eq("open"))
        .order(tasks::opened_at.desc())
        .first(conn)
        .await
        .optional()
}

/// The SLA due time of an instance's open task, if it has one.
pub(crate) async fn open_task_due(
    conn: &mut AsyncPgConnection,
    instance: Uuid,
) -> QueryResult<Option<DateTime<Utc>>> {
    let due: Option<Option<DateTime<Utc>>> = tasks::table
        .select(tasks::sla_due_at)
        .filter(tasks::instance_id.eq(instance))
        .filter(tasks::status.eq("open"))
        .order(tasks::opened_at.desc())
        .first(conn)
        .await
        .optional()?;
    Ok(due.flatten())
}

/// One history entry.
#[derive(Debug, Clone, diesel::Queryable)]
pub(crate) struct HistoryEntry {
    pub event: String,
    pub at: DateTime<Utc>,
    pub payload: Value,
}

/// The history of an instance, oldest first.
pub(crate) async fn history(
    conn: &mut AsyncPgConnection,
    instance: Uuid,
) -> QueryResult<Vec<HistoryEntry>> {
    history::table
        .select((history::event, history::at, history::payload))
        .filter(history::instance_id.eq(instance))
        .order(history::seq.asc())
        .load(conn)
        .await
}

/// A join request in an enterprise's review list.
#[derive(Debug, Clone)]
pub(crate) struct ListedJoinRequest {
    pub request: JoinRequest,
    pub requester_name: String,
    pub requester_phone: Option<String>,
    pub task_id: Option<Uuid>,
}

/// An enterprise's join requests, newest first, optionally in one state.
pub(crate) async fn enterprise_join_requests(
    conn: &mut AsyncPgConnection,
    enterprise: Uuid,
    state: Option<&str>,
    page: &PageRequest<(DateTime<Utc>, Uuid)>,
) -> QueryResult<Vec<ListedJoinRequest>> {
    let mut query = instances::table
        .inner_join(users::table.on(users::id.eq(instances::requester)))
        .left_join(
            tasks::table.on(tasks::instance_id
                .eq(instances::id)
                .and(tasks::status.eq("open"))),
        )
        .select((
            JoinRequest::as_select(),
            users::name,
            users::phone,
            tasks::id.nullable(),
        ))
        .filter(instances::definition.eq(JOIN_REQUEST))
        .filter(instances::subject_id.eq(enterprise))
        .order((instances::created_at.desc(), instances::id.desc()))
        .limit(page.fetch())
        .into_boxed();
    if let Some(state) = state {
        query = query.filter(instances::state.eq(state.to_owned()));
    }
    if let Some((at, id)) = page.after {
        query = query.filter(
            instances::created_at
                .lt(at)
                .or(instances::created_at.eq(at).and(instances::id.lt(id))),
        );
    }
    let rows: Vec<(JoinRequest, String, Option<String>, Option<Uuid>)> = query.load(conn).await?;
    Ok(rows
        .into_iter()
        .map(
            |(request, requester_name, requester_phone, task_id)| ListedJoinRequest {
                request,
                requester_name,
                requester_phone,
                task_id,
            },
        )
        .collect())
}

/// A join request in its requester's own list, with the enterprise's name.
#[derive(Debug, Clone)]
pub(crate) struct OwnJoinRequest {
    pub request: JoinRequest,
    pub enterprise_name: Option<String>,
}

/// The caller's own join requests, newest first.
pub(crate) async fn own_join_requests(
    conn: &mut AsyncPgConnection,
    requester: Uuid,
    page: &PageRequest<(DateTime<Utc>, Uuid)>,
) -> QueryResult<Vec<OwnJoinRequest>> {
    let mut query = instances::table
        .left_join(enterprises::table.on(enterprises::id.nullable().eq(instances::subject_id)))
        .select((JoinRequest::as_select(), enterprises::name.nullable()))
        .filter(instances::definition.eq(JOIN_REQUEST))
        .filter(instances::requester.eq(requester))
        .order((instances::created_at.desc(), instances::id.desc()))
        .limit(page.fetch())
        .into_boxed();
    if let Some((at, id)) = page.after {
        query = query.filter(
            instances::created_at
                .lt(at)
                .or(instances::created_at.eq(at).and(instances::id.lt(id))),
        );
    }
    let rows: Vec<(JoinRequest, Option<String>)> = query.load(conn).await?;
    Ok(rows
        .into_iter()
        .map(|(request, enterprise_name)| OwnJoinRequest {
            request,
            enterprise_name,
        })
        .collect())
}

/// State and status of an instance after a command.
pub(crate) async fn state_and_status(
    conn: &mut AsyncPgConnection,
    instance: Uuid,
) -> QueryResult<(String, String)> {
    instances::table
        .select((instances::state, instances::status))
        .find(instance)
        .first(conn)
        .await
}

// ---- files ---------------------------------------------------------------------------------

/// An uploaded file's row (the bytes are in the file store, under `sm3`).
#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = files, check_for_backend(diesel::pg::Pg))]
pub(crate) struct FileRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub purpose: String,
    pub media_type: String,
    pub size_bytes: i64,
    pub sm3: Vec<u8>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub original_filename: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A file row to insert.
#[derive(Debug, diesel::Insertable)]
#[diesel(table_name = files)]
pub(crate) struct NewFile<'a> {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub purpose: &'a str,
    pub media_type: &'a str,
    pub size_bytes: i64,
    pub sm3: &'a [u8],
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub original_filename: Option<&'a str>,
    pub created_at: DateTime<Utc>,
}

/// One file by id.
pub(crate) async fn file(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<FileRow>> {
    files::table
        .select(FileRow::as_select())
        .find(id)
        .first(conn)
        .await
        .optional()
}

/// The file this owner already uploaded with these bytes for this purpose, if any.
pub(crate) async fn owned_file(
    conn: &mut AsyncPgConnection,
    owner: Uuid,
    purpose: &str,
    sm3: &[u8],
) -> QueryResult<Option<FileRow>> {
    files::table
        .select(FileRow::as_select())
        .filter(files::owner_id.eq(owner))
        .filter(files::purpose.eq(purpose))
        .filter(files::sm3.eq(sm3))
        .first(conn)
        .await
        .optional()
}

/// Inserts a file row; `None` when the same owner, purpose and content already have one (a
/// concurrent upload of the same bytes won the race).
pub(crate) async fn insert_file(
    conn: &mut AsyncPgConnection,
    new: &NewFile<'_>,
) -> QueryResult<Option<FileRow>> {
    diesel::insert_into(files::table)
        .values(new)
        .on_conflict((files::owner_id, files::purpose, files::sm3))
        .do_nothing()
        .returning(FileRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(escape_like("福州_示例%科技\\"), "福州\\_示例\\%科技\\\\");
        assert_eq!(escape_like("普通名称"), "普通名称");
    }
}
