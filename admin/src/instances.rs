//! Workflow instances for supervisors: a search by instance id, enterprise (exact USCC or part
//! of the name), applicant (exact phone), chain, state and status with keyset pages, and an
//! instance's page (form data, documents inline, open tasks, timeline, diagram with the current
//! state lit).
//!
//! Who sees what ([`crate::access`]): the search is for `supervisor` and `sys_admin`. An
//! instance's page is theirs too, and also open to staff whose groups one of the instance's
//! tasks names (the reviewer of a task can follow its instance); anyone else gets 404, as for
//! a task of another group. Phones are only ever shown masked; a phone searched for is
//! matched exactly and echoed masked.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use certdesk_domain::ident::{Phone, Uscc};
use certdesk_store::schema::{definitions, enterprises, instances, tasks, users};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::{
    BoolExpressionMethods, ExpressionMethods, JoinOnDsl, NullableExpressionMethods,
    OptionalExtension, PgTextExpressionMethods, QueryDsl,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AdminState;
use crate::access;
use crate::pages::{self, PageError, chain_title, me, page, state_title};
use crate::session::Staff;
use crate::totp::percent_encode;
use crate::view;

/// Rows per page of the search.
pub const PAGE: i64 = 50;

/// Registers the instance pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/instances", web::get().to(search))
        .route("/instances/{id}", web::get().to(show))
        .route(
            "/instances/{id}/reveal",
            web::post().to(crate::reveal::reveal),
        );
}

/// The search form's fields; every one optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Search {
    /// An instance id (whole).
    pub id: Option<String>,
    /// An enterprise's USCC (exact) or part of its name (at least 2 characters).
    pub enterprise: Option<String>,
    /// The applicant's mobile number (exact).
    pub applicant: Option<String>,
    /// Definition name.
    pub chain: Option<String>,
    /// Current state name.
    pub state: Option<String>,
    /// `running` or `finished`.
    pub status: Option<String>,
    /// Keyset cursor.
    pub after: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// How the enterprise field is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnterpriseMatch {
    /// A valid USCC: that enterprise exactly.
    Uscc(String),
    /// Part of the name (case-insensitive).
    Name(String),
}

/// A search checked: what to match, or the messages that say what is wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// Instance id.
    pub id: Option<Uuid>,
    /// Enterprise.
    pub enterprise: Option<EnterpriseMatch>,
    /// The applicant's phone, normalised.
    pub phone: Option<String>,
    /// Definition name.
    pub chain: Option<String>,
    /// State name.
    pub state: Option<String>,
    /// `running` / `finished`.
    pub status: Option<String>,
    /// Cursor (created_at, id) of the previous page's last row.
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

/// Checks a search; every field in error gets a Chinese message (field, message).
///
/// # Errors
///
/// The list of problems when one field is unusable (nothing is searched then).
pub fn check(s: &Search) -> Result<Checked, Vec<(&'static str, String)>> {
    let mut errors = Vec::new();
    let mut out = Checked::default();
    if let Some(id) = non_empty(&s.id) {
        match id.parse::<Uuid>() {
            Ok(id) => out.id = Some(id),
            Err(_) => errors.push((
                "id",
                "实例编号应为完整的 UUID，例如 0190c0de-…（36 位）。".to_owned(),
            )),
        }
    }
    if let Some(e) = non_empty(&s.enterprise) {
        if let Ok(uscc) = Uscc::parse(e) {
            out.enterprise = Some(EnterpriseMatch::Uscc(uscc.as_str().to_owned()));
        } else if e.chars().count() >= 2 {
            out.enterprise = Some(EnterpriseMatch::Name(e.chars().take(100).collect()));
        } else {
            errors.push((
                "enterprise",
                "企业名称至少输入 2 个字，或输入完整的统一社会信用代码。".to_owned(),
            ));
        }
    }
    if let Some(p) = non_empty(&s.applicant) {
        match Phone::parse(p) {
            Ok(p) => out.phone = Some(p.as_str().to_owned()),
            Err(_) => errors.push((
                "applicant",
                "请输入申请人完整的 11 位手机号（按手机号精确查找）。".to_owned(),
            )),
        }
    }
    out.chain = non_empty(&s.chain).map(str::to_owned);
    out.state = non_empty(&s.state).map(str::to_owned);
    match non_empty(&s.status) {
        None => {}
        Some(st @ ("running" | "finished")) => out.status = Some(st.to_owned()),
        Some(_) => errors.push(("status", "状态只能是“进行中”或“已结束”。".to_owned())),
    }
    if let Some(a) = non_empty(&s.after) {
        match parse_cursor(a) {
            Some(c) => out.after = Some(c),
            None => errors.push(("after", "翻页参数无效，请从第一页重新查找。".to_owned())),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn cursor(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}.{}", at.timestamp_micros(), id)
}

fn parse_cursor(s: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (micros, id) = s.split_once('.')?;
    Some((
        DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        id.parse().ok()?,
    ))
}

/// One row of the search.
#[derive(Debug, Clone)]
pub struct Found {
    /// Instance id.
    pub id: Uuid,
    /// Definition name.
    pub definition: String,
    /// Current state.
    pub state: String,
    /// `running` / `finished`.
    pub status: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last step.
    pub updated_at: DateTime<Utc>,
    /// The applicant's name.
    pub applicant: String,
    /// The applicant's phone (shown masked).
    pub phone: Option<String>,
    /// The subject enterprise's name.
    pub enterprise: Option<String>,
}

/// One page of instances matching `q`, newest first; and the next page's cursor.
///
/// # Errors
///
/// On database failure.
pub async fn find(
    conn: &mut AsyncPgConnection,
    q: &Checked,
    limit: i64,
) -> Result<(Vec<Found>, Option<String>), diesel::result::Error> {
    let mut query = instances::table
        .inner_join(users::table.on(users::id.eq(instances::requester)))
        .left_join(enterprises::table.on(instances::subject_id.eq(enterprises::id.nullable())))
        .into_boxed::<Pg>();
    if let Some(id) = q.id {
        query = query.filter(instances::id.eq(id));
    }
    match &q.enterprise {
        Some(EnterpriseMatch::Uscc(u)) => {
            query = query.filter(enterprises::uscc.eq(u.clone()).assume_not_null());
        }
        Some(EnterpriseMatch::Name(n)) => {
            let like = format!(
                "%{}%",
                n.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            query = query.filter(enterprises::name.ilike(like).assume_not_null());
        }
        None => {}
    }
    if let Some(p) = &q.phone {
        query = query.filter(users::phone.eq(p.clone()));
    }
    if let Some(c) = &q.chain {
        query = query.filter(instances::definition.eq(c.clone()));
    }
    if let Some(s) = &q.state {
        query = query.filter(instances::state.eq(s.clone()));
    }
    if let Some(s) = &q.status {
        query = query.filter(instances::status.eq(s.clone()));
    }
    if let Some((at, id)) = q.after {
        query = query.filter(
            instances::created_at
                .lt(at)
                .or(instances::created_at.eq(at).and(instances::id.lt(id))),
        );
    }
    let rows: Vec<FoundRow> = query
        .order((instances::created_at.desc(), instances::id.desc()))
        .select((
            instances::id,
            instances::definition,
            instances::state,
            instances::status,
            instances::created_at,
            instances::updated_at,
            users::name,
            users::phone,
            enterprises::name.nullable(),
        ))
        .limit(limit + 1)
        .load(conn)
        .await?;
    let mut found: Vec<Found> = rows
        .into_iter()
        .map(
            |(
                id,
                definition,
                state,
                status,
                created_at,
                updated_at,
                applicant,
                phone,
                enterprise,
            )| {
                Found {
                    id,
                    definition,
                    state,
                    status,
                    created_at,
                    updated_at,
                    applicant,
                    phone,
                    enterprise,
                }
            },
        )
        .collect();
    let keep = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = found.len() > keep;
    found.truncate(keep);
    let next = if more {
        found.last().map(|f| cursor(f.created_at, f.id))
    } else {
        None
    };
    Ok((found, next))
}

fn masked_phone(phone: Option<&str>) -> Option<String> {
    phone.map(|p| Phone::parse(p).map_or_else(|_| view::mask_numbers(p), |p| p.mask()))
}

fn status_label(status: &str) -> &str {
    match status {
        "running" => "进行中",
        "finished" => "已结束",
        other => other,
    }
}

/// The query string of a search, without its cursor unless `extra` adds one. A phone searched
/// for stays in the next-page link: the page is behind a session and answered `no-store`.
fn query_of(s: &Search, extra: Option<(&str, &str)>) -> String {
    let fields = [
        ("id", &s.id),
        ("enterprise", &s.enterprise),
        ("applicant", &s.applicant),
        ("chain", &s.chain),
        ("state", &s.state),
        ("status", &s.status),
    ];
    let mut parts: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| non_empty(v).map(|v| format!("{k}={}", percent_encode(v))))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}={}", percent_encode(v)));
    }
    parts.join("&")
}

async fn search(
    state: web::Data<AdminState>,
    staff: Staff,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    access::require_supervisor(&staff)?;
    let s = web::Query::<Search>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let mut conn = pages::conn(&state).await?;
    let chain_names: Vec<String> = definitions::table
        .select(definitions::name)
        .distinct()
        .order(definitions::name)
        .load(&mut conn)
        .await?;
    let chains: Vec<Value> = chain_names
        .iter()
        .map(|name| {
            json!({"value": name, "label": chain_title(&state, name),
                   "selected": non_empty(&s.chain) == Some(name.as_str())})
        })
        .collect();
    let statuses =
        pages::select_options(&s.status, &[("running", "进行中"), ("finished", "已结束")]);
    let form = json!({
        "id": s.id.clone().unwrap_or_default(),
        "enterprise": s.enterprise.clone().unwrap_or_default(),
        "applicant": s.applicant.clone().unwrap_or_default(),
        "state": s.state.clone().unwrap_or_default(),
        "chains": chains,
        "statuses": statuses,
    });
    let checked = match check(&s) {
        Ok(c) => c,
        Err(errors) => {
            let errors: Vec<Value> = errors
                .into_iter()
                .map(|(field, message)| json!({"field": field, "message": message}))
                .collect();
            return Ok(page(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                "instances",
                &json!({"me": me(&staff), "form": form, "errors": errors, "rows": [], "searched": false}),
            ));
        }
    };
    let (found, next) = find(&mut conn, &checked, PAGE).await?;
    let rows: Vec<Value> = found
        .iter()
        .map(|f| {
            json!({
                "id": f.id.to_string(),
                "chain": chain_title(&state, &f.definition),
                "state": state_title(&state, &f.definition, &f.state),
                "status": status_label(&f.status),
                "enterprise": f.enterprise.clone().unwrap_or_else(|| "—".into()),
                "applicant": f.applicant,
                "phone": masked_phone(f.phone.as_deref()),
                "created": view::beijing(f.created_at),
                "updated": view::beijing(f.updated_at),
            })
        })
        .collect();
    let data = json!({
        "me": me(&staff),
        "form": form,
        "errors": [],
        "rows": rows,
        "searched": true,
        "empty": found.is_empty(),
        "searched_phone": checked.phone.as_deref().map(|p| masked_phone(Some(p))),
        "next": next.map(|n| format!("/admin/instances?{}", query_of(&s, Some(("after", &n))))),
        "first": checked.after.is_some().then(|| format!("/admin/instances?{}", query_of(&s, None))),
    });
    Ok(page(&state, StatusCode::OK, "instances", &data))
}

/// Whether one of `instance`'s tasks names a group of `roles`.
pub(crate) async fn in_my_tasks(
    conn: &mut AsyncPgConnection,
    roles: &[String],
    instance: Uuid,
) -> Result<bool, diesel::result::Error> {
    if roles.is_empty() {
        return Ok(false);
    }
    let seen = tasks::table
        .filter(tasks::instance_id.eq(instance))
        .filter(crate::inbox::visible(roles))
        .select(tasks::id)
        .first::<Uuid>(conn)
        .await
        .optional()?;
    Ok(seen.is_some())
}

type InstanceRow = (
    Uuid,
    String,
    i32,
    String,
    String,
    Uuid,
    Value,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<String>,
    Option<String>,
);

async fn show(
    state: web::Data<AdminState>,
    staff: Staff,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    let now = state.runtime.clock().now();
    let mut conn = pages::conn(&state).await?;
    if !access::supervises(&staff) && !in_my_tasks(&mut conn, &staff.roles, id).await? {
        return Err(PageError::NotFound);
    }
    let row: Option<InstanceRow> = instances::table
        .left_join(enterprises::table.on(instances::subject_id.eq(enterprises::id.nullable())))
        .filter(instances::id.eq(id))
        .select((
            instances::id,
            instances::definition,
            instances::version,
            instances::state,
            instances::status,
            instances::requester,
            instances::data,
            instances::created_at,
            instances::updated_at,
            enterprises::name.nullable(),
            enterprises::uscc.nullable(),
        ))
        .first(&mut conn)
        .await
        .optional()?;
    let Some((
        id,
        definition,
        version,
        current,
        status,
        requester,
        data,
        created_at,
        updated_at,
        enterprise,
        uscc,
    )) = row
    else {
        return Err(PageError::NotFound);
    };
    let def = match state.runtime.definition_version(&definition, version).await {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::warn!(instance.id = %id, definition = %definition, version, error = %e, "instance page without its definition");
            None
        }
    };
    let applicant: Option<(String, Option<String>)> = users::table
        .find(requester)
        .select((users::name, users::phone))
        .first(&mut conn)
        .await
        .optional()?;
    let open: Vec<OpenTaskRow> = tasks::table
        .filter(tasks::instance_id.eq(id))
        .filter(tasks::status.eq("open"))
        .order(tasks::opened_at.asc())
        .select((
            tasks::id,
            tasks::state,
            tasks::parties,
            tasks::opened_at,
            tasks::sla_due_at,
            tasks::claimed_by,
        ))
        .load(&mut conn)
        .await?;
    let claimers: Vec<Uuid> = open.iter().filter_map(|t| t.5).collect();
    let names = crate::inbox::names(&mut conn, &claimers).await?;
    let open_tasks: Vec<Value> = open
        .iter()
        .map(|(tid, tstate, parties, opened, due, claimed)| {
            let (sla, sla_label) = pages::sla_of(state.runtime.calendar(), *due, now);
            json!({
                "id": tid.to_string(),
                "state": def.as_deref().map_or_else(|| tstate.clone(), |d| {
                    d.state_id(tstate).map_or_else(|| tstate.clone(), |s| d.state(s).title.clone())
                }),
                "parties": parties_text(parties),
                "opened": view::beijing(*opened),
                "due": due.map_or_else(|| "—".to_owned(), view::beijing),
                "sla": sla,
                "sla_label": sla_label,
                "claimer": claimed.map(|c| names.get(&c).cloned().unwrap_or_default()),
                "visible": access::supervises(&staff) || staff.roles.iter().any(|r| party_groups(parties).contains(r)),
            })
        })
        .collect();
    let numbers = crate::reveal::Numbers::for_viewer(&mut conn, &staff, id, now).await?;
    let (form, documents) = crate::documents::facts_and_documents(
        &mut conn,
        def.as_deref(),
        requester,
        &data,
        &numbers,
    )
    .await?;
    let reveals = if access::supervises(&staff) {
        crate::reveal::log(&mut conn, def.as_deref(), id).await?
    } else {
        Vec::new()
    };
    let timeline = view::timeline(&mut conn, def.as_deref(), id, &state.settings.reasons).await?;
    let (diagram, caption) = match def.as_deref() {
        Some(d) => (
            Some(view::diagram(d, Some(&current))),
            Some(view::diagram_caption(d, Some(&current))),
        ),
        None => (None, None),
    };
    let current_title = def
        .as_deref()
        .and_then(|d| d.state_id(&current).map(|s| d.state(s).title.clone()))
        .unwrap_or_else(|| current.clone());
    let data = json!({
        "me": me(&staff),
        "id": id.to_string(),
        "chain": def.as_deref().map_or_else(|| definition.clone(), |d| d.title.clone()),
        "definition": definition,
        "version": version,
        "state": current_title,
        "status": status_label(&status),
        "enterprise": enterprise.unwrap_or_else(|| "—".into()),
        "uscc": uscc,
        "applicant": applicant.as_ref().map(|a| a.0.clone()).unwrap_or_default(),
        "applicant_phone": masked_phone(applicant.as_ref().and_then(|a| a.1.as_deref())),
        "created": view::beijing(created_at),
        "updated": view::beijing(updated_at),
        "form": form,
        "documents": documents,
        "reveal_action": format!("/admin/instances/{id}/reveal"),
        "here": format!("/admin/instances/{id}"),
        "reveals": reveals,
        "open_tasks": open_tasks,
        "timeline": timeline,
        "diagram": diagram,
        "diagram_caption": caption,
        "supervises": access::supervises(&staff),
    });
    Ok(page(&state, StatusCode::OK, "instance", &data))
}

/// The group names a task's parties list.
#[must_use]
pub fn party_groups(parties: &Value) -> Vec<String> {
    parties
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|p| p.get("kind").and_then(Value::as_str) == Some("group"))
                .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A task's parties in Chinese: groups by role title, relations by their meaning.
#[must_use]
pub fn parties_text(parties: &Value) -> String {
    let Some(list) = parties.as_array() else {
        return "—".to_owned();
    };
    let names: Vec<String> = list
        .iter()
        .filter_map(|p| {
            let name = p.get("name").and_then(Value::as_str)?;
            Some(match p.get("kind").and_then(Value::as_str) {
                Some("group") => pages::role_title(name).to_owned(),
                _ => relation_title(name).to_owned(),
            })
        })
        .collect();
    if names.is_empty() {
        "—".to_owned()
    } else {
        names.join("、")
    }
}

fn relation_title(name: &str) -> &str {
    match name {
        "enterprise.admins" => "企业管理员",
        "enterprise.legal_rep" => "法定代表人",
        "applicant" => "申请人",
        other => other,
    }
}

/// A search row as selected.
type FoundRow = (
    Uuid,
    String,
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    String,
    Option<String>,
    Option<String>,
);

/// An open task as the instance page selects it.
type OpenTaskRow = (
    Uuid,
    String,
    Value,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<Uuid>,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_is_checked_field_by_field() {
        let ok = check(&Search {
            id: Some(" 0190c0de-0000-7000-8000-000000000001 ".into()),
            enterprise: Some("示例".into()),
            applicant: Some("13712345678".into()),
            status: Some("running".into()),
            ..Search::default()
        });
        let ok = ok.unwrap_or_default();
        assert!(ok.id.is_some());
        assert_eq!(ok.enterprise, Some(EnterpriseMatch::Name("示例".into())));
        assert_eq!(ok.status.as_deref(), Some("running"));
        let bad = check(&Search {
            id: Some("abc".into()),
            enterprise: Some("示".into()),
            applicant: Some("1234".into()),
            status: Some("x".into()),
            ..Search::default()
        })
        .err()
        .unwrap_or_default();
        let fields: Vec<&str> = bad.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["id", "enterprise", "applicant", "status"]);
    }

    #[test]
    fn parties_read_in_chinese() {
        let p = json!([{"kind": "group", "name": "cs_reviewer"}, {"kind": "relation", "name": "enterprise.admins"}]);
        assert_eq!(parties_text(&p), "客服审核、企业管理员");
        assert_eq!(party_groups(&p), ["cs_reviewer"]);
    }
}
