//! The task inbox: open human tasks one of whose parties is a staff group the signed-in person
//! holds, with filters, three sort orders and keyset pagination, counts per queue, and
//! claim / unclaim.
//!
//! Visibility is part of every query (`tasks.parties @> ANY(<the person's groups>)`), so a task
//! of another group is neither listed, counted nor claimable. A claim is one conditional
//! `UPDATE … WHERE claimed_by IS NULL`: of two concurrent claims, PostgreSQL's row lock lets
//! exactly one match.

use certdesk_store::schema::{enterprises, instances, tasks, users};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::sql_types::{Array, Bool, Jsonb, Timestamptz};
use diesel::{
    BoolExpressionMethods, BoxableExpression, ExpressionMethods, JoinOnDsl,
    NullableExpressionMethods, OptionalExtension, PgTextExpressionMethods, QueryDsl,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

/// Tasks due within this long count as "due soon".
pub const DUE_SOON: TimeDelta = TimeDelta::hours(4);
/// Rows per page unless asked otherwise.
pub const PAGE: i64 = 50;
/// Most rows per page.
pub const MAX_PAGE: i64 = 200;

/// Stand-in due time of tasks without an SLA, so they sort last in the "due" order.
fn no_due() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The inbox's query string; every field optional, unknown values ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filter {
    /// One staff group (queue) of the person.
    pub queue: Option<String>,
    /// Definition name.
    pub chain: Option<String>,
    /// Task state name.
    pub state: Option<String>,
    /// Opened at least this long ago: `1d`, `3d`, `7d`.
    pub age: Option<String>,
    /// `breached`, `soon`, `ok` or `none` (no SLA).
    pub sla: Option<String>,
    /// `me`, `unclaimed` or `others`.
    pub claimed: Option<String>,
    /// An enterprise's USCC, or part of its name.
    pub enterprise: Option<String>,
    /// `due` (default: breached first, then by due time), `oldest` or `newest`.
    pub sort: Option<String>,
    /// Keyset cursor from the previous page's last row.
    pub after: Option<String>,
    /// Rows per page.
    pub limit: Option<i64>,
}

impl Filter {
    fn non_empty(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    /// The sort order asked for.
    #[must_use]
    pub fn sort(&self) -> Sort {
        match Self::non_empty(&self.sort) {
            Some("oldest") => Sort::Oldest,
            Some("newest") => Sort::Newest,
            _ => Sort::Due,
        }
    }
}

/// Sort orders, each a keyset over (key time, task id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// By SLA due time ascending (so breached first), tasks without SLA last.
    Due,
    /// Opened longest ago first.
    Oldest,
    /// Opened most recently first.
    Newest,
}

/// One inbox row.
#[derive(Debug, Clone)]
pub struct Row {
    /// Task id.
    pub id: Uuid,
    /// Task state name.
    pub state: String,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// SLA due time.
    pub sla_due_at: Option<DateTime<Utc>>,
    /// Who claimed it.
    pub claimed_by: Option<Uuid>,
    /// Its parties (JSON list).
    pub parties: Value,
    /// The instance.
    pub instance_id: Uuid,
    /// The definition name.
    pub definition: String,
    /// Who asked.
    pub requester: Uuid,
    /// The subject enterprise's name.
    pub enterprise: Option<String>,
    /// The sort key's time (for the cursor).
    key: DateTime<Utc>,
}

/// One page.
#[derive(Debug, Clone)]
pub struct Page {
    /// The rows.
    pub rows: Vec<Row>,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
}

/// `parties @> ANY(groups)`: the task names one of `groups`.
pub(crate) fn visible<QS: 'static>(
    groups: &[String],
) -> Box<dyn BoxableExpression<QS, Pg, SqlType = Bool>> {
    let wanted: Vec<Value> = groups
        .iter()
        .map(|g| json!([{"kind": "group", "name": g}]))
        .collect();
    Box::new(
        sql::<Bool>("tasks.parties @> ANY(")
            .bind::<Array<Jsonb>, _>(wanted)
            .sql(")"),
    )
}

/// The groups of `roles` the filter narrows to.
#[must_use]
pub fn queues(roles: &[String], filter: &Filter) -> Vec<String> {
    match Filter::non_empty(&filter.queue) {
        Some(q) => roles.iter().filter(|r| *r == q).cloned().collect(),
        None => roles.to_vec(),
    }
}

fn cursor(key: DateTime<Utc>, id: Uuid) -> String {
    format!("{}.{}", key.timestamp_micros(), id)
}

fn parse_cursor(s: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (micros, id) = s.split_once('.')?;
    Some((
        DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        id.parse().ok()?,
    ))
}

/// One page of `me`'s inbox at `now`.
///
/// # Errors
///
/// On database failure.
pub async fn page(
    conn: &mut AsyncPgConnection,
    me: Uuid,
    roles: &[String],
    filter: &Filter,
    now: DateTime<Utc>,
) -> Result<Page, diesel::result::Error> {
    let groups = queues(roles, filter);
    if groups.is_empty() {
        return Ok(Page {
            rows: Vec::new(),
            next: None,
        });
    }
    let limit = filter.limit.unwrap_or(PAGE).clamp(1, MAX_PAGE);
    let sort = filter.sort();
    let mut q = tasks::table
        .inner_join(instances::table)
        .left_join(enterprises::table.on(instances::subject_id.eq(enterprises::id.nullable())))
        .filter(tasks::status.eq("open"))
        .filter(visible(&groups))
        .into_boxed::<Pg>();
    if let Some(chain) = Filter::non_empty(&filter.chain) {
        q = q.filter(instances::definition.eq(chain.to_owned()));
    }
    if let Some(state) = Filter::non_empty(&filter.state) {
        q = q.filter(tasks::state.eq(state.to_owned()));
    }
    let age = match Filter::non_empty(&filter.age) {
        Some("1d") => Some(TimeDelta::days(1)),
        Some("3d") => Some(TimeDelta::days(3)),
        Some("7d") => Some(TimeDelta::days(7)),
        _ => None,
    };
    if let Some(age) = age {
        q = q.filter(tasks::opened_at.le(now - age));
    }
    match Filter::non_empty(&filter.sla) {
        Some("breached") => q = q.filter(tasks::sla_due_at.lt(now)),
        Some("soon") => {
            q = q.filter(
                tasks::sla_due_at
                    .ge(now)
                    .and(tasks::sla_due_at.lt(now + DUE_SOON)),
            );
        }
        Some("ok") => q = q.filter(tasks::sla_due_at.ge(now + DUE_SOON)),
        Some("none") => q = q.filter(tasks::sla_due_at.is_null()),
        _ => {}
    }
    match Filter::non_empty(&filter.claimed) {
        Some("me") => q = q.filter(tasks::claimed_by.eq(me)),
        Some("unclaimed") => q = q.filter(tasks::claimed_by.is_null()),
        Some("others") => q = q.filter(tasks::claimed_by.ne(me)),
        _ => {}
    }
    if let Some(e) = Filter::non_empty(&filter.enterprise) {
        let like = format!(
            "%{}%",
            e.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        q = q.filter(
            enterprises::uscc
                .eq(e.to_uppercase())
                .or(enterprises::name.ilike(like))
                .assume_not_null(),
        );
    }
    let after = filter.after.as_deref().and_then(parse_cursor);
    let far = no_due();
    q = match sort {
        Sort::Due => {
            if let Some((t, id)) = after {
                q = q.filter(
                    sql::<Bool>("(COALESCE(tasks.sla_due_at, ")
                        .bind::<Timestamptz, _>(far)
                        .sql("), tasks.id) > (")
                        .bind::<Timestamptz, _>(t)
                        .sql(", ")
                        .bind::<diesel::sql_types::Uuid, _>(id)
                        .sql(")"),
                );
            }
            q.order((
                sql::<Timestamptz>("COALESCE(tasks.sla_due_at, ")
                    .bind::<Timestamptz, _>(far)
                    .sql(")")
                    .asc(),
                tasks::id.asc(),
            ))
        }
        Sort::Oldest => {
            if let Some((t, id)) = after {
                q = q.filter(
                    tasks::opened_at
                        .gt(t)
                        .or(tasks::opened_at.eq(t).and(tasks::id.gt(id))),
                );
            }
            q.order((tasks::opened_at.asc(), tasks::id.asc()))
        }
        Sort::Newest => {
            if let Some((t, id)) = after {
                q = q.filter(
                    tasks::opened_at
                        .lt(t)
                        .or(tasks::opened_at.eq(t).and(tasks::id.lt(id))),
                );
            }
            q.order((tasks::opened_at.desc(), tasks::id.desc()))
        }
    };
    type Selected = (
        Uuid,
        String,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
        Option<Uuid>,
        Value,
        Uuid,
        String,
        Uuid,
        Option<String>,
    );
    let found: Vec<Selected> = q
        .select((
            tasks::id,
            tasks::state,
            tasks::opened_at,
            tasks::sla_due_at,
            tasks::claimed_by,
            tasks::parties,
            instances::id,
            instances::definition,
            instances::requester,
            enterprises::name.nullable(),
        ))
        .limit(limit + 1)
        .load(conn)
        .await?;
    let mut rows: Vec<Row> = found
        .into_iter()
        .map(
            |(
                id,
                state,
                opened_at,
                sla_due_at,
                claimed_by,
                parties,
                instance_id,
                definition,
                requester,
                enterprise,
            )| Row {
                key: match sort {
                    Sort::Due => sla_due_at.unwrap_or(far),
                    Sort::Oldest | Sort::Newest => opened_at,
                },
                id,
                state,
                opened_at,
                sla_due_at,
                claimed_by,
                parties,
                instance_id,
                definition,
                requester,
                enterprise,
            },
        )
        .collect();
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = if more {
        rows.last().map(|r| cursor(r.key, r.id))
    } else {
        None
    };
    Ok(Page { rows, next })
}

/// Open tasks per queue of `roles`: (group, open, breached).
///
/// # Errors
///
/// On database failure.
pub async fn counts(
    conn: &mut AsyncPgConnection,
    roles: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<(String, i64, i64)>, diesel::result::Error> {
    let mut out = Vec::new();
    for role in roles {
        let group = std::slice::from_ref(role);
        let open = tasks::table
            .filter(tasks::status.eq("open"))
            .filter(visible(group))
            .count()
            .get_result::<i64>(conn)
            .await?;
        let breached = tasks::table
            .filter(tasks::status.eq("open"))
            .filter(visible(group))
            .filter(tasks::sla_due_at.lt(now))
            .count()
            .get_result::<i64>(conn)
            .await?;
        out.push((role.clone(), open, breached));
    }
    Ok(out)
}

/// Names of users by id (claimers, requesters).
///
/// # Errors
///
/// On database failure.
pub async fn names(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, String>, diesel::result::Error> {
    Ok(users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::name))
        .load::<(Uuid, String)>(conn)
        .await?
        .into_iter()
        .collect())
}

/// What a claim or unclaim came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Done.
    Done,
    /// Someone else holds it (claim), or `me` does not (unclaim).
    Taken,
    /// Not an open task `me` may see.
    NotFound,
}

/// Claims task `id` for `me` if it is open, visible to `roles` and unclaimed.
///
/// # Errors
///
/// On database failure.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    me: Uuid,
    roles: &[String],
    id: Uuid,
) -> Result<Claim, diesel::result::Error> {
    if roles.is_empty() {
        return Ok(Claim::NotFound);
    }
    let done = diesel::update(tasks::table.find(id))
        .filter(tasks::status.eq("open"))
        .filter(visible(roles))
        .filter(tasks::claimed_by.is_null())
        .set(tasks::claimed_by.eq(me))
        .execute(conn)
        .await?;
    if done == 1 {
        return Ok(Claim::Done);
    }
    seen_or_missing(conn, roles, id).await
}

/// Gives back task `id` if `me` holds it.
///
/// # Errors
///
/// On database failure.
pub async fn unclaim(
    conn: &mut AsyncPgConnection,
    me: Uuid,
    roles: &[String],
    id: Uuid,
) -> Result<Claim, diesel::result::Error> {
    if roles.is_empty() {
        return Ok(Claim::NotFound);
    }
    let done = diesel::update(tasks::table.find(id))
        .filter(tasks::status.eq("open"))
        .filter(visible(roles))
        .filter(tasks::claimed_by.eq(me))
        .set(tasks::claimed_by.eq(None::<Uuid>))
        .execute(conn)
        .await?;
    if done == 1 {
        return Ok(Claim::Done);
    }
    seen_or_missing(conn, roles, id).await
}

async fn seen_or_missing(
    conn: &mut AsyncPgConnection,
    roles: &[String],
    id: Uuid,
) -> Result<Claim, diesel::result::Error> {
    let seen = tasks::table
        .find(id)
        .filter(tasks::status.eq("open"))
        .filter(visible(roles))
        .select(tasks::id)
        .first::<Uuid>(conn)
        .await
        .optional()?;
    Ok(if seen.is_some() {
        Claim::Taken
    } else {
        Claim::NotFound
    })
}

/// One task `roles` may see (open or closed), with its instance: for the task page.
///
/// # Errors
///
/// On database failure.
pub async fn task(
    conn: &mut AsyncPgConnection,
    roles: &[String],
    id: Uuid,
) -> Result<Option<TaskView>, diesel::result::Error> {
    if roles.is_empty() {
        return Ok(None);
    }
    let found = tasks::table
        .inner_join(instances::table)
        .left_join(enterprises::table.on(instances::subject_id.eq(enterprises::id.nullable())))
        .filter(tasks::id.eq(id))
        .filter(visible(roles))
        .select((
            tasks::id,
            tasks::state,
            tasks::status,
            tasks::opened_at,
            tasks::sla_due_at,
            tasks::claimed_by,
            instances::id,
            instances::definition,
            instances::version,
            instances::state,
            instances::requester,
            instances::data,
            enterprises::name.nullable(),
            tasks::parties,
        ))
        .first::<(
            Uuid,
            String,
            String,
            DateTime<Utc>,
            Option<DateTime<Utc>>,
            Option<Uuid>,
            Uuid,
            String,
            i32,
            String,
            Uuid,
            Value,
            Option<String>,
            Value,
        )>(conn)
        .await
        .optional()?;
    let Some((
        id,
        state,
        status,
        opened_at,
        sla_due_at,
        claimed_by,
        instance_id,
        definition,
        version,
        instance_state,
        requester,
        data,
        enterprise,
        parties,
    )) = found
    else {
        return Ok(None);
    };
    use certdesk_store::schema::history;
    let events = history::table
        .filter(history::instance_id.eq(instance_id))
        .order(history::seq.asc())
        .select((history::seq, history::at, history::actor, history::event))
        .load::<(i64, DateTime<Utc>, String, String)>(conn)
        .await?;
    Ok(Some(TaskView {
        id,
        state,
        status,
        opened_at,
        sla_due_at,
        claimed_by,
        instance_id,
        definition,
        version,
        instance_state,
        requester,
        data,
        enterprise,
        parties,
        history: events,
    }))
}

/// A task with its instance's form data and history.
#[derive(Debug, Clone)]
pub struct TaskView {
    /// Task id.
    pub id: Uuid,
    /// Task state name.
    pub state: String,
    /// `open` or `closed`.
    pub status: String,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// SLA due time.
    pub sla_due_at: Option<DateTime<Utc>>,
    /// Claimer.
    pub claimed_by: Option<Uuid>,
    /// Instance id.
    pub instance_id: Uuid,
    /// Definition name.
    pub definition: String,
    /// The definition version the instance runs on.
    pub version: i32,
    /// The instance's current state.
    pub instance_state: String,
    /// Requester.
    pub requester: Uuid,
    /// The request's form data.
    pub data: Value,
    /// Subject enterprise name.
    pub enterprise: Option<String>,
    /// The task's parties (JSON list of `{kind, name}`).
    pub parties: Value,
    /// History: (seq, at, actor, event).
    pub history: Vec<(i64, DateTime<Utc>, String, String)>,
}
