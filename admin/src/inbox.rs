//! The task inbox: open human tasks one of whose parties is a staff group the signed-in person
//! holds, with filters, three sort orders and keyset pagination, counts per queue, and
//! claim / unclaim.
//!
//! Visibility is part of every query (`tasks.parties @> ANY(<the person's groups>)`), so a task
//! of another group is neither listed, counted nor claimable. A claim is one conditional
//! `UPDATE … WHERE claimed_by IS NULL`: of two concurrent claims, PostgreSQL's row lock lets
//! exactly one match.

use certdesk_domain::calendar::{BusinessCalendar, BusinessDuration};
use certdesk_domain::ident::Phone;
use certdesk_store::schema::{enterprises, instances, task_queues, tasks, users};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::sql_types::{Array, BigInt, Bool, Jsonb, Text, Timestamptz};
use diesel::{
    BoolExpressionMethods, BoxableExpression, ExpressionMethods, JoinOnDsl,
    NullableExpressionMethods, OptionalExtension, PgTextExpressionMethods, QueryDsl,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

/// Tasks due within this many business minutes count as "due soon" (as on the supervisor
/// dashboard).
pub const SOON_BUSINESS_MINUTES: u32 = 120;

/// When "due soon" ends for a look at `now`: [`SOON_BUSINESS_MINUTES`] business minutes on.
#[must_use]
pub fn soon_until(calendar: &BusinessCalendar, now: DateTime<Utc>) -> DateTime<Utc> {
    calendar
        .add(now, BusinessDuration::from_minutes(SOON_BUSINESS_MINUTES))
        .at
}
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
/// Each of the person's queues is read in the page's order through `task_queues`' index on
/// (queue, key, task id), so a page costs a few dozen index entries whatever the backlog; the
/// per-queue pages are then merged (a task in two of the person's queues once).
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
    soon: DateTime<Utc>,
) -> Result<Page, diesel::result::Error> {
    let groups = queues(roles, filter);
    let limit = filter.limit.unwrap_or(PAGE).clamp(1, MAX_PAGE);
    let sort = filter.sort();
    let after = filter.after.as_deref().and_then(parse_cursor);
    let mut rows: Vec<Row> = Vec::new();
    for group in &groups {
        let when = Window { now, soon };
        rows.extend(queue_page(conn, me, group, filter, sort, after, limit + 1, when).await?);
    }
    rows.sort_by(|a, b| match sort {
        Sort::Due | Sort::Oldest => (a.key, a.id).cmp(&(b.key, b.id)),
        Sort::Newest => (b.key, b.id).cmp(&(a.key, a.id)),
    });
    rows.dedup_by_key(|r| r.id);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more {
        rows.last().map(|r| cursor(r.key, r.id))
    } else {
        None
    };
    Ok(Page { rows, next })
}

/// The moment a page is drawn and the end of its "due soon".
#[derive(Debug, Clone, Copy)]
struct Window {
    now: DateTime<Utc>,
    soon: DateTime<Utc>,
}

/// The first `fetch` rows of one queue after `after`, filtered and in `sort` order.
#[allow(clippy::too_many_arguments, reason = "one query's parameters")]
async fn queue_page(
    conn: &mut AsyncPgConnection,
    me: Uuid,
    group: &str,
    filter: &Filter,
    sort: Sort,
    after: Option<(DateTime<Utc>, Uuid)>,
    fetch: i64,
    Window { now, soon }: Window,
) -> Result<Vec<Row>, diesel::result::Error> {
    let mut q = task_queues::table
        .inner_join(tasks::table.inner_join(instances::table))
        .left_join(enterprises::table.on(instances::subject_id.eq(enterprises::id.nullable())))
        .filter(task_queues::queue.eq(group.to_owned()))
        .filter(tasks::status.eq("open"))
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
        q = q.filter(task_queues::opened_at.le(now - age));
    }
    // SLA filters are ranges of the due key (tasks without an SLA sit at `no_due()`).
    let far = no_due();
    match Filter::non_empty(&filter.sla) {
        Some("breached") => q = q.filter(task_queues::due_key.lt(now)),
        Some("soon") => {
            q = q.filter(
                task_queues::due_key
                    .ge(now)
                    .and(task_queues::due_key.lt(soon)),
            );
        }
        Some("ok") => {
            q = q.filter(
                task_queues::due_key
                    .ge(soon)
                    .and(task_queues::due_key.lt(far)),
            );
        }
        Some("none") => q = q.filter(task_queues::due_key.eq(far)),
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
        // Naming the subject type lets the planner start from the few matching enterprises
        // through `instances_subject`.
        q = q.filter(instances::subject_type.eq("enterprise")).filter(
            enterprises::uscc
                .eq(e.to_uppercase())
                .or(enterprises::name.ilike(like))
                .assume_not_null(),
        );
    }
    q = match sort {
        Sort::Due => {
            if let Some((t, id)) = after {
                q = q.filter(
                    task_queues::due_key
                        .gt(t)
                        .or(task_queues::due_key.eq(t).and(task_queues::task_id.gt(id))),
                );
            }
            q.order((task_queues::due_key.asc(), task_queues::task_id.asc()))
        }
        Sort::Oldest => {
            if let Some((t, id)) = after {
                q = q.filter(
                    task_queues::opened_at.gt(t).or(task_queues::opened_at
                        .eq(t)
                        .and(task_queues::task_id.gt(id))),
                );
            }
            q.order((task_queues::opened_at.asc(), task_queues::task_id.asc()))
        }
        Sort::Newest => {
            if let Some((t, id)) = after {
                q = q.filter(
                    task_queues::opened_at.lt(t).or(task_queues::opened_at
                        .eq(t)
                        .and(task_queues::task_id.lt(id))),
                );
            }
            q.order((task_queues::opened_at.desc(), task_queues::task_id.desc()))
        }
    };
    type Selected = (
        Uuid,
        String,
        DateTime<Utc>,
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
            task_queues::due_key,
            tasks::sla_due_at,
            tasks::claimed_by,
            tasks::parties,
            instances::id,
            instances::definition,
            instances::requester,
            enterprises::name.nullable(),
        ))
        .limit(fetch)
        .load(conn)
        .await?;
    Ok(found
        .into_iter()
        .map(
            |(
                id,
                state,
                opened_at,
                due_key,
                sla_due_at,
                claimed_by,
                parties,
                instance_id,
                definition,
                requester,
                enterprise,
            )| Row {
                key: match sort {
                    Sort::Due => due_key,
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
        .collect())
}

/// Counts above this show as "more than" it: an exact count of a deep backlog would read every
/// entry of the queue on every inbox view (the supervisor dashboard has the exact totals).
pub const COUNT_CAP: i64 = 10_000;

/// A queue's count, exact up to [`COUNT_CAP`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(i64);

impl Count {
    /// The exact count, or `None` when it is above [`COUNT_CAP`].
    #[must_use]
    pub fn exact(self) -> Option<i64> {
        (self.0 <= COUNT_CAP).then_some(self.0)
    }
}

impl std::fmt::Display for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.exact() {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "{COUNT_CAP}+"),
        }
    }
}

/// Open tasks per queue of `roles`: (group, open, breached), each exact up to [`COUNT_CAP`].
///
/// # Errors
///
/// On database failure.
pub async fn counts(
    conn: &mut AsyncPgConnection,
    roles: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<(String, Count, Count)>, diesel::result::Error> {
    let mut out = Vec::with_capacity(roles.len());
    for role in roles {
        let counted: Counted = diesel::sql_query(
            "SELECT \
               (SELECT count(*) FROM (SELECT 1 FROM task_queues WHERE queue = $1 LIMIT $3) o) \
                 AS open, \
               (SELECT count(*) FROM (SELECT 1 FROM task_queues \
                                      WHERE queue = $1 AND due_key < $2 LIMIT $3) b) \
                 AS breached",
        )
        .bind::<Text, _>(role)
        .bind::<Timestamptz, _>(now)
        .bind::<BigInt, _>(COUNT_CAP + 1)
        .get_result(conn)
        .await?;
        out.push((role.clone(), Count(counted.open), Count(counted.breached)));
    }
    Ok(out)
}

/// Both counts of one queue, each up to one past the cap (so through the (queue, due key)
/// index, never the whole queue).
#[derive(diesel::QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    open: i64,
    #[diesel(sql_type = BigInt)]
    breached: i64,
}

/// Names of users by id (claimers, requesters); an applicant without a name yet (before
/// real-name verification) by their masked phone.
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
        .select((users::id, users::name, users::phone))
        .load::<(Uuid, String, Option<String>)>(conn)
        .await?
        .into_iter()
        .map(|(id, name, phone)| {
            let shown = match (name.trim(), phone) {
                ("", Some(phone)) => Phone::parse(&phone)
                    .map_or_else(|_| crate::view::mask_numbers(&phone), |p| p.mask()),
                (name, _) => name.to_owned(),
            };
            (id, shown)
        })
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
    }))
}

/// A task with its instance's form data (the page reads the timeline through `view`).
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
}
