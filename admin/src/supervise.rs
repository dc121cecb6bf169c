//! The supervisor's dashboard: open tasks per queue (definition × task state × party) with
//! breached, due-within-2-business-hours and oldest-age figures, two server-drawn SVG charts
//! (open vs breached per queue, and the age of open tasks), a queue's task list, and
//! reassigning a task to another member of its group.
//!
//! Reassigning sets `tasks.claimed_by` (the workflow state does not change) and records a
//! `task_reassigned` row in `console_events` in the same transaction, plus a log line with
//! both staff ids. It is refused, changing nothing, when the task is closed, names no staff
//! group, or the chosen person does not hold one of its groups or is disabled.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use certdesk_domain::calendar::BusinessCalendar;
use certdesk_store::schema::{
    console_events, enterprises, instances, staff_credentials, staff_roles, tasks, users,
};
use chrono::{DateTime, TimeDelta, Utc};
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};
use diesel::{
    ExpressionMethods, JoinOnDsl, NullableExpressionMethods, OptionalExtension, QueryDsl,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::chart::{self, Row, Series};
use crate::instances::{parties_text, party_groups};
use crate::pages::{self, PageError, chain_title, me, page, state_title};
use crate::session::Staff;
use crate::totp::percent_encode;
use crate::{AdminState, access, view};

/// "Due soon" on the dashboard: within this many business minutes.
pub const SOON_BUSINESS_MINUTES: i64 = 120;

/// Tasks listed for one queue at most (oldest first).
pub const QUEUE_LIST: i64 = 200;

/// Registers the dashboard routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/supervise", web::get().to(dashboard)).route(
        "/supervise/tasks/{id}/reassign",
        web::post().to(reassign_task),
    );
}

/// One queue: open tasks of one definition, task state and party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    /// Definition name.
    pub definition: String,
    /// Task state name.
    pub state: String,
    /// `group` or `relation` (empty when the task names no party).
    pub kind: String,
    /// The group or relation name.
    pub party: String,
    /// Open tasks.
    pub open: i64,
    /// Of them, past their SLA.
    pub breached: i64,
    /// Of them, due within [`SOON_BUSINESS_MINUTES`] business minutes (not yet breached).
    pub soon: i64,
    /// When the oldest opened.
    pub oldest: Option<DateTime<Utc>>,
}

#[derive(diesel::QueryableByName)]
struct QueueRow {
    #[diesel(sql_type = Text)]
    definition: String,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    party: String,
    #[diesel(sql_type = BigInt)]
    open: i64,
    #[diesel(sql_type = BigInt)]
    breached: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    oldest: Option<DateTime<Utc>>,
}

#[derive(diesel::QueryableByName)]
struct DueRow {
    #[diesel(sql_type = Text)]
    definition: String,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    party: String,
    #[diesel(sql_type = Timestamptz)]
    due: DateTime<Utc>,
}

/// One row per party of each open task (a task naming no party still counts, once).
const PER_PARTY: &str = "FROM tasks t JOIN instances i ON i.id = t.instance_id \
     LEFT JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(t.parties) = 'array' \
         THEN t.parties ELSE '[]'::jsonb END) p ON true \
     WHERE t.status = 'open'";

/// Every queue with open tasks at `now`; "due soon" counted with `calendar`.
///
/// # Errors
///
/// On database failure.
pub async fn queues(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    calendar: &BusinessCalendar,
) -> Result<Vec<Queue>, diesel::result::Error> {
    let rows: Vec<QueueRow> = diesel::sql_query(format!(
        "SELECT i.definition, t.state, COALESCE(p->>'kind', '') AS kind, \
                COALESCE(p->>'name', '') AS party, count(*) AS open, \
                count(*) FILTER (WHERE t.sla_due_at < $1) AS breached, \
                min(t.opened_at) AS oldest \
         {PER_PARTY} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    ))
    .bind::<Timestamptz, _>(now)
    .load(conn)
    .await?;
    // Two business hours can span a long holiday (国庆: 7 days off plus a weekend).
    let horizon = now + TimeDelta::days(15);
    let due: Vec<DueRow> = diesel::sql_query(format!(
        "SELECT i.definition, t.state, COALESCE(p->>'kind', '') AS kind, \
                COALESCE(p->>'name', '') AS party, t.sla_due_at AS due \
         {PER_PARTY} AND t.sla_due_at >= $1 AND t.sla_due_at < $2"
    ))
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(horizon)
    .load(conn)
    .await?;
    let mut soon: BTreeMap<(String, String, String, String), i64> = BTreeMap::new();
    for d in due {
        if calendar.business_minutes_between(now, d.due) <= SOON_BUSINESS_MINUTES {
            *soon
                .entry((d.definition, d.state, d.kind, d.party))
                .or_default() += 1;
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let key = (
                r.definition.clone(),
                r.state.clone(),
                r.kind.clone(),
                r.party.clone(),
            );
            Queue {
                soon: soon.get(&key).copied().unwrap_or(0),
                definition: r.definition,
                state: r.state,
                kind: r.kind,
                party: r.party,
                open: r.open,
                breached: r.breached,
                oldest: r.oldest,
            }
        })
        .collect())
}

/// Age buckets of open tasks (label, lower bound inclusive).
pub const AGE_BUCKETS: [(&str, TimeDelta); 6] = [
    ("1 小时内", TimeDelta::zero()),
    ("1–4 小时", TimeDelta::hours(1)),
    ("4–24 小时", TimeDelta::hours(4)),
    ("1–3 天", TimeDelta::days(1)),
    ("3–7 天", TimeDelta::days(3)),
    ("7 天以上", TimeDelta::days(7)),
];

/// How many open tasks fall in each of [`AGE_BUCKETS`] at `now`.
///
/// # Errors
///
/// On database failure.
pub async fn age_histogram(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, diesel::result::Error> {
    #[derive(diesel::QueryableByName)]
    struct Bucket {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        bucket: i32,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    // Counted in PostgreSQL (one pass over the open-task index, no rows shipped): the cut-offs
    // are the bucket bounds as instants, oldest first, and width_bucket finds each task's.
    let cutoffs: Vec<DateTime<Utc>> = AGE_BUCKETS
        .iter()
        .rev()
        .map(|(_, low)| now - *low)
        .collect();
    let rows: Vec<Bucket> = diesel::sql_query(
        "SELECT width_bucket(opened_at, $1) AS bucket, count(*) AS n \
         FROM tasks WHERE status = 'open' GROUP BY 1",
    )
    .bind::<diesel::sql_types::Array<Timestamptz>, _>(&cutoffs)
    .load(conn)
    .await?;
    // width_bucket: 0 before the first cut-off (older than the oldest bound: the last bucket),
    // k from cut-off k up to k+1 (bucket len-1-k), len from the last cut-off on (the first).
    let len = AGE_BUCKETS.len();
    let mut counts = vec![0i64; len];
    for row in rows {
        let k = usize::try_from(row.bucket).unwrap_or(0);
        let i = if k == 0 {
            len - 1
        } else {
            (len - 1).saturating_sub(k)
        };
        counts[i] += row.n;
    }
    Ok(counts)
}

fn party_title(kind: &str, party: &str) -> String {
    match kind {
        "group" => pages::role_title(party).to_owned(),
        "" => "（未指定）".to_owned(),
        _ => parties_text(&json!([{"kind": kind, "name": party}])),
    }
}

fn age_text(since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    since.map_or_else(|| "—".to_owned(), |s| pages::age(s, now))
}

/// The queue a dashboard link selects.
#[derive(Debug, Clone, Default, Deserialize)]
struct Selected {
    def: Option<String>,
    state: Option<String>,
    kind: Option<String>,
    party: Option<String>,
    msg: Option<String>,
}

fn flash(code: &str) -> Option<(&'static str, &'static str)> {
    Some(match code {
        "reassigned" => ("notice", "已改派任务。"),
        "not_in_group" => (
            "error",
            "所选人员不在该任务的处理组中（或账号已停用），未改派。",
        ),
        "closed" => ("error", "该任务已关闭，未改派。"),
        "no_group" => ("error", "该任务不由员工组处理，无法改派。"),
        _ => return None,
    })
}

fn queue_href(q: &Queue) -> String {
    format!(
        "/admin/supervise?def={}&state={}&kind={}&party={}#queue",
        percent_encode(&q.definition),
        percent_encode(&q.state),
        percent_encode(&q.kind),
        percent_encode(&q.party)
    )
}

async fn dashboard(
    state: web::Data<AdminState>,
    staff: Staff,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    access::require_supervisor(&staff)?;
    let sel = web::Query::<Selected>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let now = state.runtime.clock().now();
    let calendar = state.runtime.calendar();
    let mut conn = pages::conn(&state).await?;
    let all = queues(&mut conn, now, calendar).await?;
    let ages = age_histogram(&mut conn, now).await?;
    let label = |q: &Queue| {
        format!(
            "{} · {} · {}",
            chain_title(&state, &q.definition),
            state_title(&state, &q.definition, &q.state),
            party_title(&q.kind, &q.party)
        )
    };
    let queue_chart = chart::bars(
        "各队列待办与超时任务数",
        &[
            Series {
                name: "待办",
                colour: "#0b4f9c",
            },
            Series {
                name: "已超时",
                colour: "#a30000",
            },
        ],
        &all.iter()
            .map(|q| Row {
                label: label(q),
                values: vec![q.open, q.breached],
            })
            .collect::<Vec<_>>(),
    );
    let age_chart = chart::bars(
        "待办任务已等待时长分布",
        &[Series {
            name: "任务数",
            colour: "#1d5e20",
        }],
        &AGE_BUCKETS
            .iter()
            .zip(&ages)
            .map(|((l, _), n)| Row {
                label: (*l).to_owned(),
                values: vec![*n],
            })
            .collect::<Vec<_>>(),
    );
    let selected = |q: &Queue| {
        sel.def.as_deref() == Some(q.definition.as_str())
            && sel.state.as_deref() == Some(q.state.as_str())
            && sel.kind.as_deref().unwrap_or("") == q.kind
            && sel.party.as_deref().unwrap_or("") == q.party
    };
    let rows: Vec<Value> = all
        .iter()
        .map(|q| {
            json!({
                "chain": chain_title(&state, &q.definition),
                "state": state_title(&state, &q.definition, &q.state),
                "party": party_title(&q.kind, &q.party),
                "open": q.open,
                "breached": q.breached,
                "soon": q.soon,
                "oldest": age_text(q.oldest, now),
                "href": queue_href(q),
                "current": selected(q),
            })
        })
        .collect();
    let totals = json!({
        "open": all.iter().map(|q| q.open).sum::<i64>(),
        "breached": all.iter().map(|q| q.breached).sum::<i64>(),
        "soon": all.iter().map(|q| q.soon).sum::<i64>(),
    });
    let queue = match all.iter().find(|q| selected(q)) {
        Some(q) => Some(queue_tasks(&state, &mut conn, q, now).await?),
        None => None,
    };
    let flash = sel.msg.as_deref().and_then(flash);
    let data = json!({
        "me": me(&staff),
        "flash": flash.map(|(class, text)| json!({"class": class, "text": text})),
        "rows": rows,
        "totals": totals,
        "empty": all.is_empty(),
        "queue_chart": queue_chart,
        "age_chart": age_chart,
        "ages": AGE_BUCKETS.iter().zip(&ages).map(|((l, _), n)| json!({"label": l, "count": n})).collect::<Vec<_>>(),
        "queue": queue,
        "back": format!("/admin/supervise?{}", req.query_string().split('&').filter(|p| !p.starts_with("msg=")).collect::<Vec<_>>().join("&")),
    });
    Ok(page(&state, StatusCode::OK, "supervise", &data))
}

/// The open tasks of queue `q`, oldest first, each with the staff it may go to.
async fn queue_tasks(
    state: &AdminState,
    conn: &mut AsyncPgConnection,
    q: &Queue,
    now: DateTime<Utc>,
) -> Result<Value, PageError> {
    let party = json!([{"kind": q.kind, "name": q.party}]);
    let mut query = tasks::table
        .inner_join(instances::table)
        .left_join(enterprises::table.on(instances::subject_id.eq(enterprises::id.nullable())))
        .filter(tasks::status.eq("open"))
        .filter(instances::definition.eq(q.definition.clone()))
        .filter(tasks::state.eq(q.state.clone()))
        .into_boxed();
    if q.kind.is_empty() {
        query = query.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "jsonb_array_length(CASE WHEN jsonb_typeof(tasks.parties) = 'array' THEN tasks.parties ELSE '[]'::jsonb END) = 0",
        ));
    } else {
        query = query.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("tasks.parties @> ")
                .bind::<diesel::sql_types::Jsonb, _>(party)
                .sql(""),
        );
    }
    let found: Vec<QueueTaskRow> = query
        .order((tasks::opened_at.asc(), tasks::id.asc()))
        .select((
            tasks::id,
            instances::id,
            tasks::opened_at,
            tasks::sla_due_at,
            tasks::claimed_by,
            enterprises::name.nullable(),
        ))
        .limit(QUEUE_LIST)
        .load(conn)
        .await?;
    let claimers: Vec<Uuid> = found.iter().filter_map(|t| t.4).collect();
    let names = crate::inbox::names(conn, &claimers).await?;
    let members = if q.kind == "group" {
        group_members(conn, &q.party).await?
    } else {
        Vec::new()
    };
    let tasks: Vec<Value> = found
        .iter()
        .map(|(id, instance, opened, due, claimed, enterprise)| {
            let (sla, sla_label) = pages::sla_of(state.runtime.calendar(), *due, now);
            json!({
                "id": id.to_string(),
                "instance": instance.to_string(),
                "enterprise": enterprise.clone().unwrap_or_else(|| "—".into()),
                "opened": view::beijing(*opened),
                "age": pages::age(*opened, now),
                "due": due.map_or_else(|| "—".to_owned(), view::beijing),
                "sla": sla,
                "sla_label": sla_label,
                "claimer": claimed.map(|c| names.get(&c).cloned().unwrap_or_default()),
                "options": members.iter().filter(|(m, _)| Some(*m) != *claimed)
                    .map(|(m, n)| json!({"id": m.to_string(), "name": n})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({
        "title": format!(
            "{} · {} · {}",
            chain_title(state, &q.definition),
            state_title(state, &q.definition, &q.state),
            party_title(&q.kind, &q.party)
        ),
        "reassignable": q.kind == "group",
        "tasks": tasks,
        "more": found.len() as i64 >= QUEUE_LIST,
    }))
}

/// A queue's task as selected.
type QueueTaskRow = (
    Uuid,
    Uuid,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<Uuid>,
    Option<String>,
);

/// Active staff holding `group`, by name.
///
/// # Errors
///
/// On database failure.
pub async fn group_members(
    conn: &mut AsyncPgConnection,
    group: &str,
) -> Result<Vec<(Uuid, String)>, diesel::result::Error> {
    staff_roles::table
        .inner_join(users::table)
        .inner_join(
            staff_credentials::table.on(staff_credentials::user_id.eq(staff_roles::user_id)),
        )
        .filter(staff_roles::role.eq(group))
        .filter(users::kind.eq("staff"))
        .filter(staff_credentials::disabled_at.is_null())
        .order((users::name.asc(), users::id.asc()))
        .select((users::id, users::name))
        .load(conn)
        .await
}

/// What a reassignment came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reassign {
    /// Done (claimed_by set, event recorded).
    Done,
    /// No such task.
    NotFound,
    /// The task is closed.
    Closed,
    /// The task names no staff group.
    NoGroup,
    /// The person is not active staff holding one of the task's groups.
    NotInGroup,
}

/// Gives open task `task` to `to`, who must hold one of its groups; recorded as done by `actor`.
///
/// # Errors
///
/// On database failure.
pub async fn reassign(
    conn: &mut AsyncPgConnection,
    actor: Uuid,
    task: Uuid,
    to: Uuid,
    now: DateTime<Utc>,
) -> Result<Reassign, diesel::result::Error> {
    conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        let row: Option<(String, Value, Option<Uuid>)> = tasks::table
            .find(task)
            .select((tasks::status, tasks::parties, tasks::claimed_by))
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some((status, parties, previous)) = row else {
            return Ok(Reassign::NotFound);
        };
        if status != "open" {
            return Ok(Reassign::Closed);
        }
        let groups = party_groups(&parties);
        if groups.is_empty() {
            return Ok(Reassign::NoGroup);
        }
        let holds: i64 = staff_roles::table
            .inner_join(users::table)
            .inner_join(
                staff_credentials::table.on(staff_credentials::user_id.eq(staff_roles::user_id)),
            )
            .filter(staff_roles::user_id.eq(to))
            .filter(staff_roles::role.eq_any(&groups))
            .filter(users::kind.eq("staff"))
            .filter(staff_credentials::disabled_at.is_null())
            .count()
            .get_result(conn)
            .await?;
        if holds == 0 {
            return Ok(Reassign::NotInGroup);
        }
        diesel::update(tasks::table.find(task))
            .set(tasks::claimed_by.eq(to))
            .execute(conn)
            .await?;
        diesel::insert_into(console_events::table)
            .values((
                console_events::id.eq(Uuid::now_v7()),
                console_events::at.eq(now),
                console_events::actor.eq(actor),
                console_events::action.eq("task_reassigned"),
                console_events::subject.eq(to),
                console_events::task_id.eq(task),
                console_events::details.eq(json!({"from": previous, "to": to, "groups": groups})),
            ))
            .execute(conn)
            .await?;
        tracing::info!(
            task.id = %task,
            actor.id = %actor,
            from.id = ?previous,
            to.id = %to,
            "task reassigned"
        );
        Ok(Reassign::Done)
    })
    .await
}

#[derive(Deserialize)]
struct ReassignForm {
    to: String,
    back: Option<String>,
}

fn back_to(back: Option<&str>, msg: &str) -> String {
    let base = back
        .filter(|b| b.starts_with("/admin/supervise") && !b.contains("//") && !b.contains('\\'))
        .unwrap_or("/admin/supervise");
    let (path, anchor) = base.split_once('#').map_or((base, ""), |(p, a)| (p, a));
    let sep = if path.contains('?') { '&' } else { '?' };
    if anchor.is_empty() {
        format!("{path}{sep}msg={msg}")
    } else {
        format!("{path}{sep}msg={msg}#{anchor}")
    }
}

async fn reassign_task(
    state: web::Data<AdminState>,
    staff: Staff,
    id: web::Path<String>,
    form: web::Form<ReassignForm>,
) -> Result<HttpResponse, PageError> {
    access::require_supervisor(&staff)?;
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    let back = form.back.as_deref();
    let Ok(to) = form.to.trim().parse::<Uuid>() else {
        return Ok(pages::see_other(&back_to(back, "not_in_group")));
    };
    let now = state.runtime.clock().now();
    let mut conn = pages::conn(&state).await?;
    let msg = match reassign(&mut conn, staff.user_id, id, to, now).await? {
        Reassign::Done => "reassigned",
        Reassign::NotFound => return Err(PageError::NotFound),
        Reassign::Closed => "closed",
        Reassign::NoGroup => "no_group",
        Reassign::NotInGroup => "not_in_group",
    };
    Ok(pages::see_other(&back_to(back, msg)))
}
