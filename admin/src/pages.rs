//! The console's pages: sign-in, password change, the task inbox, the task page (its decision
//! block from [`crate::decide`], its documents from [`crate::documents`]), and the error pages. Handlers read through [`crate::inbox`] and [`crate::staff`] and render the
//! templates built in from `admin/templates/` (handlebars escapes every value).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use certdesk_domain::calendar::BusinessCalendar;
use certdesk_domain::ident::Phone;
use certdesk_store::schema::{definitions, users};
use chrono::{DateTime, FixedOffset, Offset as _, Utc};
use diesel::{OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;
use handlebars::Handlebars;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AdminState;
use crate::inbox::{self, Claim, Filter};
use crate::session::{self, Staff};
use crate::staff::{self, SignIn};
use crate::totp::percent_encode;

/// A request the console answers with an error page.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No session, a wrong CSRF token or origin, or a page the role may not open.
    #[error("forbidden")]
    Forbidden,
    /// No such page or task (or one the person may not see).
    #[error("not found")]
    NotFound,
    /// Anything unexpected; logged, never shown.
    #[error("internal: {0}")]
    Internal(String),
}

impl PageError {
    /// An unexpected failure.
    pub fn internal(cause: impl Into<String>) -> Self {
        Self::Internal(cause.into())
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<diesel::result::Error> for PageError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Internal(format!("database: {e}"))
    }
}

impl From<staff::StaffError> for PageError {
    fn from(e: staff::StaffError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        // Without the state (templates) at hand: a minimal page.
        HttpResponse::build(self.status())
            .content_type("text/html; charset=utf-8")
            .body(format!(
                "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>{}</title><h1>{}</h1><p><a href=\"/admin/tasks\">返回待办</a></p></html>",
                self.title(),
                self.title()
            ))
    }
}

impl PageError {
    fn title(&self) -> &'static str {
        match self {
            Self::Forbidden => "请求被拒绝（403）",
            Self::NotFound => "页面不存在（404）",
            Self::Internal(_) => "系统出错（500）",
        }
    }

    fn detail(&self) -> &'static str {
        match self {
            Self::Forbidden => {
                "请求未通过安全校验或您无权访问此页面。请从控制台页面重新操作；如会话已过期，请重新登录。"
            }
            Self::NotFound => "您要找的页面或任务不存在，或不在您的权限范围内。",
            Self::Internal(_) => "系统暂时无法处理此请求，请稍后重试。问题已记录。",
        }
    }
}

/// The templates, compiled from the files in `admin/templates/` built into the binary.
///
/// # Errors
///
/// When one does not compile.
pub fn templates() -> Result<Handlebars<'static>, handlebars::TemplateError> {
    let mut h = Handlebars::new();
    // Values are HTML-escaped (the default); a missing field renders empty.
    h.register_partial("layout", include_str!("../templates/layout.hbs"))?;
    h.register_partial(
        "timeline",
        include_str!("../templates/partials/timeline.hbs"),
    )?;
    h.register_partial("diagram", include_str!("../templates/partials/diagram.hbs"))?;
    h.register_partial("facts", include_str!("../templates/partials/facts.hbs"))?;
    h.register_partial(
        "documents",
        include_str!("../templates/partials/documents.hbs"),
    )?;
    h.register_template_string("login", include_str!("../templates/login.hbs"))?;
    h.register_template_string("password", include_str!("../templates/password.hbs"))?;
    h.register_template_string("tasks", include_str!("../templates/tasks.hbs"))?;
    h.register_template_string("task", include_str!("../templates/task.hbs"))?;
    h.register_template_string("error", include_str!("../templates/error.hbs"))?;
    for (name, text) in [
        ("instances", include_str!("../templates/instances.hbs")),
        ("instance", include_str!("../templates/instance.hbs")),
        ("supervise", include_str!("../templates/supervise.hbs")),
        ("staff", include_str!("../templates/staff.hbs")),
        (
            "staff_secret",
            include_str!("../templates/staff_secret.hbs"),
        ),
        ("definitions", include_str!("../templates/definitions.hbs")),
        ("definition", include_str!("../templates/definition.hbs")),
        ("jobs", include_str!("../templates/jobs.hbs")),
        ("audit", include_str!("../templates/audit.hbs")),
    ] {
        h.register_template_string(name, text)?;
    }
    Ok(h)
}

/// A pool connection.
///
/// # Errors
///
/// When the pool has none to give.
pub async fn conn(
    state: &AdminState,
) -> Result<
    diesel_async::pooled_connection::deadpool::Object<diesel_async::AsyncPgConnection>,
    PageError,
> {
    state
        .runtime
        .pool()
        .get()
        .await
        .map_err(|e| PageError::internal(format!("database pool: {e}")))
}

/// Renders `template` with `data` as a console page (security headers included).
pub(crate) fn page(
    state: &AdminState,
    status: StatusCode,
    template: &str,
    data: &Value,
) -> HttpResponse {
    match state.templates.render(template, data) {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
            ))
            .insert_header((header::X_FRAME_OPTIONS, "DENY"))
            .insert_header((header::REFERRER_POLICY, "same-origin"))
            .body(html),
        Err(e) => {
            tracing::error!(template, error = %e, "rendering an admin page failed");
            PageError::internal(e.to_string()).error_response()
        }
    }
}

/// The error page of `e` (internal causes are logged, never shown).
#[must_use]
pub fn error_page(state: &AdminState, e: &PageError) -> HttpResponse {
    if let PageError::Internal(cause) = e {
        tracing::error!(cause = %cause, "admin request failed");
    }
    page(
        state,
        e.status(),
        "error",
        &json!({"title": e.title(), "detail": e.detail(), "me": Value::Null}),
    )
}

pub(crate) fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_owned()))
        .finish()
}

/// Registers the console's routes (inside the `/admin` scope).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(home))
        .route("/", web::get().to(home))
        .route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/password", web::get().to(password_form))
        .route("/password", web::post().to(change_password))
        .route("/tasks", web::get().to(tasks))
        .route("/tasks/{id}", web::get().to(task))
        .route("/tasks/{id}/claim", web::post().to(claim))
        .route("/tasks/{id}/unclaim", web::post().to(unclaim))
        .route("/tasks/{id}/decide", web::post().to(crate::decide::decide))
        .route("/files/{id}", web::get().to(crate::documents::serve))
        .route("/static/admin.css", web::get().to(css));
}

/// Unknown path (behind the guard, so only signed-in staff get here).
pub async fn not_found(state: web::Data<AdminState>) -> HttpResponse {
    error_page(&state, &PageError::NotFound)
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../static/admin.css"))
}

async fn home(_: Staff) -> HttpResponse {
    see_other("/admin/tasks")
}

/// The signed-in person as every page's layout shows them (name, roles, CSRF token, menu).
pub(crate) fn me(staff: &Staff) -> Value {
    json!({"name": staff.name, "roles": staff.roles.iter().map(|r| role_title(r)).collect::<Vec<_>>(), "csrf": staff.csrf, "nav": crate::access::nav(staff)})
}

/// Chinese name of a role.
pub(crate) fn role_title(role: &str) -> &str {
    match role {
        "cs_reviewer" => "客服审核",
        "finance" => "财务",
        "finance_lead" => "财务主管",
        "supervisor" => "主管",
        "sys_admin" => "系统管理员",
        other => other,
    }
}

async fn login_form(state: web::Data<AdminState>) -> HttpResponse {
    page(
        &state,
        StatusCode::OK,
        "login",
        &json!({"error": Value::Null, "login": "", "me": Value::Null}),
    )
}

#[derive(Deserialize)]
struct LoginForm {
    login: String,
    password: String,
    code: String,
}

async fn login(
    state: web::Data<AdminState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let now = state.runtime.clock().now();
    let mut conn = conn(&state).await?;
    let outcome = staff::sign_in(
        &mut conn,
        &form.login,
        &form.password,
        &form.code,
        now,
        state.settings.policy,
    )
    .await?;
    match outcome {
        SignIn::Accepted {
            user_id,
            must_change_password,
        } => {
            let id = session::create(&mut conn, user_id, now, &state.settings).await?;
            tracing::info!(user.id = %user_id, "staff signed in");
            let to = if must_change_password {
                "/admin/password"
            } else {
                "/admin/tasks"
            };
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, to))
                .cookie(session::cookie(&id))
                .finish())
        }
        SignIn::Refused => {
            // The login is echoed masked when it is a phone: the page may be seen by others.
            let echo = match Phone::parse(&form.login) {
                Ok(_) => String::new(),
                Err(_) => form.login.chars().take(100).collect(),
            };
            Ok(page(
                &state,
                StatusCode::UNAUTHORIZED,
                "login",
                &json!({
                    "error": "账号、密码或动态验证码有误，或账号因多次失败已暂时锁定（15 分钟后可重试）。",
                    "login": echo,
                    "me": Value::Null,
                }),
            ))
        }
    }
}

async fn logout(state: web::Data<AdminState>, staff: Staff) -> Result<HttpResponse, PageError> {
    let now = state.runtime.clock().now();
    let mut conn = conn(&state).await?;
    session::end(&mut conn, &staff.session, now).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/admin/login"))
        .cookie(session::removal())
        .finish())
}

async fn password_form(state: web::Data<AdminState>, staff: Staff) -> HttpResponse {
    page(
        &state,
        StatusCode::OK,
        "password",
        &json!({"me": me(&staff), "error": Value::Null, "forced": staff.must_change_password}),
    )
}

#[derive(Deserialize)]
struct PasswordForm {
    new_password: String,
    repeat: String,
}

async fn change_password(
    state: web::Data<AdminState>,
    staff: Staff,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let error = if form.new_password != form.repeat {
        Some("两次输入的新密码不一致。".to_owned())
    } else {
        let now = state.runtime.clock().now();
        let mut conn = conn(&state).await?;
        match staff::change_password(&mut conn, staff.user_id, &form.new_password, now).await {
            Ok(()) => None,
            Err(staff::StaffError::Invalid(message)) => Some(message),
            Err(e) => return Err(e.into()),
        }
    };
    match error {
        None => Ok(see_other("/admin/tasks?msg=password_changed")),
        Some(message) => Ok(page(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "password",
            &json!({"me": me(&staff), "error": message, "forced": staff.must_change_password}),
        )),
    }
}

pub(crate) fn beijing(t: DateTime<Utc>) -> String {
    let offset = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix());
    t.with_timezone(&offset)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

pub(crate) fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = now - since;
    let (days, hours, minutes) = (d.num_days(), d.num_hours() % 24, d.num_minutes() % 60);
    if days > 0 {
        format!("{days}天{hours}小时")
    } else if hours > 0 {
        format!("{hours}小时{minutes}分")
    } else {
        format!("{}分", minutes.max(0))
    }
}

pub(crate) fn sla_of(
    calendar: &BusinessCalendar,
    due: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (&'static str, String) {
    let Some(due) = due else {
        return ("none", "无时限".to_owned());
    };
    let left = calendar.business_minutes_between(now, due);
    if due < now {
        let over = left.saturating_neg();
        if over == 0 {
            ("breached", "已超时".to_owned())
        } else {
            ("breached", format!("已超时 {}", business_span(over)))
        }
    } else if left < i64::from(inbox::SOON_BUSINESS_MINUTES) {
        ("soon", format!("即将到期，剩 {}", business_span(left)))
    } else {
        ("ok", format!("剩 {}", business_span(left)))
    }
}

/// Business minutes as a reviewer reads them: `45 分钟`, `3 小时 5 分`, `27 小时`.
pub(crate) fn business_span(minutes: i64) -> String {
    let (h, m) = (minutes / 60, minutes % 60);
    match (h, m) {
        (0, m) => format!("{m} 分钟"),
        (h, 0) => format!("{h} 小时"),
        (h, m) => format!("{h} 小时 {m} 分"),
    }
}

pub(crate) fn chain_title(state: &AdminState, name: &str) -> String {
    state
        .runtime
        .definition(name)
        .map_or_else(|| name.to_owned(), |d| d.title.clone())
}

pub(crate) fn state_title(state: &AdminState, definition: &str, name: &str) -> String {
    state
        .runtime
        .definition(definition)
        .and_then(|d| d.state_id(name).map(|id| d.state(id).title.clone()))
        .unwrap_or_else(|| name.to_owned())
}

/// The query string of `filter` without the cursor, with `extra` appended.
fn query_of(filter: &Filter, extra: &[(&str, &str)]) -> String {
    let fields = [
        ("queue", &filter.queue),
        ("chain", &filter.chain),
        ("state", &filter.state),
        ("age", &filter.age),
        ("sla", &filter.sla),
        ("claimed", &filter.claimed),
        ("enterprise", &filter.enterprise),
        ("sort", &filter.sort),
    ];
    let mut parts: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .filter(|v| !v.trim().is_empty())
                .map(|v| format!("{k}={}", percent_encode(v)))
        })
        .collect();
    if let Some(limit) = filter.limit {
        parts.push(format!("limit={limit}"));
    }
    parts.extend(
        extra
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v))),
    );
    parts.join("&")
}

#[derive(Deserialize)]
struct Flash {
    msg: Option<String>,
}

fn flash_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "claimed" => "已认领任务。",
        "unclaimed" => "已放回任务。",
        "taken" => "该任务已被他人认领，未能认领。",
        "not_yours" => "该任务不在您名下，无法放回。",
        "password_changed" => "密码已修改。",
        "decided" => "审核决定已提交。",
        _ => return None,
    })
}

pub(crate) fn select_options(current: &Option<String>, options: &[(&str, &str)]) -> Vec<Value> {
    options
        .iter()
        .map(|(value, label)| {
            json!({"value": value, "label": label, "selected": current.as_deref() == Some(*value)})
        })
        .collect()
}

async fn tasks(
    state: web::Data<AdminState>,
    staff: Staff,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    // Unknown or malformed values are ignored rather than refused: this is a filter form.
    let filter = web::Query::<Filter>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let flash = web::Query::<Flash>::from_query(req.query_string())
        .ok()
        .and_then(|f| f.into_inner().msg)
        .and_then(|m| flash_text(&m));
    let now = state.runtime.clock().now();
    let mut conn = conn(&state).await?;
    let calendar = state.runtime.calendar();
    let soon = inbox::soon_until(calendar, now);
    let found = inbox::page(&mut conn, staff.user_id, &staff.roles, &filter, now, soon).await?;
    let counts = inbox::counts(&mut conn, &staff.roles, now).await?;
    let mut ids: Vec<Uuid> = found.rows.iter().map(|r| r.requester).collect();
    ids.extend(found.rows.iter().filter_map(|r| r.claimed_by));
    let names = inbox::names(&mut conn, &ids).await?;
    let here = format!("/admin/tasks?{}", query_of(&filter, &[]));
    let rows: Vec<Value> = found
        .rows
        .iter()
        .map(|r| {
            let (sla, sla_label) = sla_of(calendar, r.sla_due_at, now);
            let claimer = r
                .claimed_by
                .map(|c| names.get(&c).cloned().unwrap_or_default());
            json!({
                "id": r.id.to_string(),
                "short_id": r.id.simple().to_string()[24..].to_owned(),
                "chain": chain_title(&state, &r.definition),
                "state": state_title(&state, &r.definition, &r.state),
                "enterprise": r.enterprise.clone().unwrap_or_else(|| "—".into()),
                "requester": names.get(&r.requester).filter(|n| !n.is_empty()).cloned().unwrap_or_else(|| "—".into()),
                "opened": beijing(r.opened_at),
                "age": age(r.opened_at, now),
                "due": r.sla_due_at.map_or_else(|| "—".to_owned(), beijing),
                "sla": sla,
                "sla_label": sla_label,
                "claimer": claimer,
                "mine": r.claimed_by == Some(staff.user_id),
                "free": r.claimed_by.is_none(),
            })
        })
        .collect();
    let queues: Vec<Value> = counts
        .iter()
        .map(|(group, open, breached)| {
            json!({
                "group": group,
                "label": role_title(group),
                "open": open.to_string(),
                "breached": breached.to_string(),
                "any_breached": breached.exact() != Some(0),
                "current": filter.queue.as_deref() == Some(group.as_str()),
                "href": format!("/admin/tasks?queue={}", percent_encode(group)),
            })
        })
        .collect();
    let chain_names: Vec<String> = definitions::table
        .select(definitions::name)
        .distinct()
        .order(definitions::name)
        .load(&mut conn)
        .await?;
    let chains: Vec<Value> = chain_names
        .into_iter()
        .map(|name| {
            json!({
                "value": name,
                "label": chain_title(&state, &name),
                "selected": filter.chain.as_deref() == Some(name.as_str()),
            })
        })
        .collect();
    let data = json!({
        "me": me(&staff),
        "flash": flash,
        "queues": queues,
        "rows": rows,
        "empty": found.rows.is_empty(),
        "back": here,
        "next": found.next.as_ref().map(|n| format!("/admin/tasks?{}", query_of(&filter, &[("after", n)]))),
        "first": filter.after.is_some().then(|| format!("/admin/tasks?{}", query_of(&filter, &[]))),
        "filter": {
            "queue": select_options(&filter.queue, &counts.iter().map(|(g, _, _)| (g.as_str(), role_title(g))).collect::<Vec<_>>()),
            "chains": chains,
            "state": filter.state.clone().unwrap_or_default(),
            "enterprise": filter.enterprise.clone().unwrap_or_default(),
            "age": select_options(&filter.age, &[("1d", "超过 1 天"), ("3d", "超过 3 天"), ("7d", "超过 7 天")]),
            "sla": select_options(&filter.sla, &[("breached", "已超时"), ("soon", "4 小时内到期"), ("ok", "正常"), ("none", "无时限")]),
            "claimed": select_options(&filter.claimed, &[("me", "我认领的"), ("unclaimed", "未认领"), ("others", "他人认领的")]),
            "sort": select_options(&filter.sort, &[("due", "按到期时间（超时优先）"), ("oldest", "最早创建"), ("newest", "最新创建")]),
        },
    });
    Ok(page(&state, StatusCode::OK, "tasks", &data))
}

#[derive(Deserialize)]
struct ClaimForm {
    back: Option<String>,
}

/// Where to go after a claim: the inbox view the form was on (never another site).
fn back_to(form: &ClaimForm, msg: &str) -> String {
    let base = form
        .back
        .as_deref()
        .filter(|b| b.starts_with("/admin/tasks") && !b.contains("//") && !b.contains('\\'))
        .unwrap_or("/admin/tasks");
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}msg={msg}")
}

async fn claim(
    state: web::Data<AdminState>,
    staff: Staff,
    id: web::Path<String>,
    form: web::Form<ClaimForm>,
) -> Result<HttpResponse, PageError> {
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    let mut conn = conn(&state).await?;
    match inbox::claim(&mut conn, staff.user_id, &staff.roles, id).await? {
        Claim::Done => {
            tracing::info!(task.id = %id, user.id = %staff.user_id, "task claimed");
            Ok(see_other(&back_to(&form, "claimed")))
        }
        Claim::Taken => Ok(see_other(&back_to(&form, "taken"))),
        Claim::NotFound => Err(PageError::NotFound),
    }
}

async fn unclaim(
    state: web::Data<AdminState>,
    staff: Staff,
    id: web::Path<String>,
    form: web::Form<ClaimForm>,
) -> Result<HttpResponse, PageError> {
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    let mut conn = conn(&state).await?;
    match inbox::unclaim(&mut conn, staff.user_id, &staff.roles, id).await? {
        Claim::Done => Ok(see_other(&back_to(&form, "unclaimed"))),
        Claim::Taken => Ok(see_other(&back_to(&form, "not_yours"))),
        Claim::NotFound => Err(PageError::NotFound),
    }
}

async fn task(
    state: web::Data<AdminState>,
    staff: Staff,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    let mut conn = conn(&state).await?;
    let view = inbox::task(&mut conn, &staff.roles, id)
        .await?
        .ok_or(PageError::NotFound)?;
    let decision = crate::decide::block(&state, &mut conn, &staff, &view, None).await?;
    render_task(&state, &mut conn, &staff, &view, decision, StatusCode::OK).await
}

/// The task page of `view` with the decision block `decision` (see [`crate::decide::block`]),
/// answered with `status`.
///
/// # Errors
///
/// On database failure.
pub(crate) async fn render_task(
    state: &AdminState,
    conn: &mut diesel_async::AsyncPgConnection,
    staff: &Staff,
    view: &inbox::TaskView,
    decision: Value,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let now = state.runtime.clock().now();
    let mut ids = vec![view.requester];
    ids.extend(view.claimed_by);
    let names = inbox::names(conn, &ids).await?;
    let requester_phone: Option<String> = users::table
        .find(view.requester)
        .select(users::phone)
        .first::<Option<String>>(conn)
        .await
        .optional()?
        .flatten();
    let requester = names.get(&view.requester).cloned().unwrap_or_default();
    let phone_shown = requester_phone
        .and_then(|p| Phone::parse(&p).ok())
        .map(|p| p.mask());
    let (sla, sla_label) = sla_of(state.runtime.calendar(), view.sla_due_at, now);
    let def = state
        .runtime
        .definition_version(&view.definition, view.version)
        .await
        .map_err(|e| PageError::internal(e.to_string()))?;
    let numbers = crate::reveal::Numbers::for_viewer(conn, staff, view.instance_id, now).await?;
    let (form, documents) = crate::documents::facts_and_documents(
        conn,
        Some(&def),
        view.requester,
        &view.data,
        &numbers,
    )
    .await?;
    let timeline =
        crate::view::timeline(conn, Some(&def), view.instance_id, &state.settings.reasons).await?;
    let data = json!({
        "me": me(staff),
        "id": view.id.to_string(),
        "back": "/admin/tasks",
        "chain": chain_title(state, &view.definition),
        "state": state_title(state, &view.definition, &view.state),
        "open": view.status == "open",
        "instance": view.instance_id.to_string(),
        "instance_state": state_title(state, &view.definition, &view.instance_state),
        "enterprise": view.enterprise.clone().unwrap_or_else(|| "—".into()),
        "requester": requester,
        // Beside a name; a nameless applicant is already shown by it.
        "requester_phone": phone_shown.filter(|p| *p != requester),
        "opened": beijing(view.opened_at),
        "due": view.sla_due_at.map_or_else(|| "—".to_owned(), beijing),
        "sla": sla,
        "sla_label": sla_label,
        "claimer": view.claimed_by.map(|c| names.get(&c).cloned().unwrap_or_default()),
        "mine": view.claimed_by == Some(staff.user_id),
        "free": view.claimed_by.is_none(),
        "form": form,
        "documents": documents,
        "reveal_action": format!("/admin/instances/{}/reveal", view.instance_id),
        "here": format!("/admin/tasks/{}", view.id),
        "timeline": timeline,
        "diagram": crate::view::diagram(&def, Some(&view.instance_state)),
        "diagram_caption": crate::view::diagram_caption(&def, Some(&view.instance_state)),
        "decision": decision,
    });
    Ok(page(state, status, "task", &data))
}
