//! Operations pages for `supervisor` and `sys_admin`: the workflow definitions the database
//! holds (every version, its hash and diagram), dead outbox effects with a retry button
//! ([`certdesk_runtime::Runtime::retry_effect`]), and the audit verification of the signed
//! history ([`certdesk_runtime::audit::verify`]) over everything or one instance.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use certdesk_audit::Verifier;
use certdesk_runtime::RuntimeError;
use certdesk_store::schema::definitions;
use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::pages::{self, PageError, me, page};
use crate::session::Staff;
use crate::{AdminState, access, view};

/// Dead effects listed at most.
pub const DEAD_LIST: i64 = 200;

/// Registers the operations pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/definitions", web::get().to(definitions_list))
        .route("/definitions/{name}/{version}", web::get().to(definition))
        .route("/jobs", web::get().to(jobs))
        .route("/jobs/{id}/retry", web::post().to(retry))
        .route("/audit", web::get().to(audit_form))
        .route("/audit", web::post().to(audit_run));
}

async fn definitions_list(
    state: web::Data<AdminState>,
    staff: Staff,
) -> Result<HttpResponse, PageError> {
    access::require_supervisor(&staff)?;
    let mut conn = pages::conn(&state).await?;
    let rows: Vec<(String, i32, String, String, DateTime<Utc>)> = definitions::table
        .order((definitions::name.asc(), definitions::version.desc()))
        .select((
            definitions::name,
            definitions::version,
            definitions::title,
            definitions::sha256,
            definitions::loaded_at,
        ))
        .load(&mut conn)
        .await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|(name, version, title, sha, loaded)| {
            let current = state
                .runtime
                .definition(name)
                .is_some_and(|d| i64::from(d.version) == i64::from(*version));
            json!({
                "name": name, "version": version, "title": title, "sha256": sha,
                "loaded": view::beijing(*loaded), "current": current,
                "href": format!("/admin/definitions/{}/{version}", crate::totp::percent_encode(name)),
            })
        })
        .collect();
    Ok(page(
        &state,
        StatusCode::OK,
        "definitions",
        &json!({"me": me(&staff), "rows": list}),
    ))
}

async fn definition(
    state: web::Data<AdminState>,
    staff: Staff,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    access::require_supervisor(&staff)?;
    let (name, version) = path.into_inner();
    let version: i32 = version.parse().map_err(|_| PageError::NotFound)?;
    let mut conn = pages::conn(&state).await?;
    let row: Option<(String, String, String, DateTime<Utc>)> = definitions::table
        .filter(definitions::name.eq(&name))
        .filter(definitions::version.eq(version))
        .select((
            definitions::title,
            definitions::sha256,
            definitions::source,
            definitions::loaded_at,
        ))
        .first(&mut conn)
        .await
        .optional()?;
    let Some((title, sha, source, loaded)) = row else {
        return Err(PageError::NotFound);
    };
    drop(conn);
    let (diagram, caption, problem) = match state.runtime.definition_version(&name, version).await {
        Ok(def) => (
            Some(view::diagram(&def, None)),
            Some(view::diagram_caption(&def, None)),
            None,
        ),
        Err(e) => {
            tracing::warn!(definition = %name, version, error = %e, "stored definition does not compile");
            (
                None,
                None,
                Some("该版本已无法按当前规则编译，无法绘制流程图。"),
            )
        }
    };
    Ok(page(
        &state,
        StatusCode::OK,
        "definition",
        &json!({
            "me": me(&staff), "name": name, "version": version, "title": title, "sha256": sha,
            "loaded": view::beijing(loaded), "source": source,
            "diagram": diagram, "diagram_caption": caption, "problem": problem,
        }),
    ))
}

#[derive(Deserialize)]
struct Flash {
    msg: Option<String>,
}

fn runtime_error(e: RuntimeError) -> PageError {
    PageError::internal(e.to_string())
}

async fn jobs(
    state: web::Data<AdminState>,
    staff: Staff,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    access::require_supervisor(&staff)?;
    let dead = state
        .runtime
        .dead_effects(DEAD_LIST)
        .await
        .map_err(runtime_error)?;
    let gauges = state.runtime.outbox_gauges().await.map_err(runtime_error)?;
    let rows: Vec<Value> = dead
        .iter()
        .map(|r| {
            json!({
                "id": r.id.to_string(),
                "kind": if r.kind == "action" { "动作" } else { "通知" },
                "name": r.name,
                "instance": r.instance_id.map(|i| i.to_string()),
                "attempts": r.attempts,
                "error": r.last_error.as_deref().map_or_else(|| "—".to_owned(), view::mask_numbers),
                "created": view::beijing(r.created_at),
            })
        })
        .collect();
    let flash = web::Query::<Flash>::from_query(req.query_string())
        .ok()
        .and_then(|f| f.into_inner().msg)
        .and_then(|m| match m.as_str() {
            "retried" => Some(json!({"class": "notice", "text": "已重新排队，稍后由工作进程执行。"})),
            "gone" => Some(json!({"class": "error", "text": "该任务已不在失败列表中（可能已被重试），未作更改。"})),
            _ => None,
        });
    Ok(page(
        &state,
        StatusCode::OK,
        "jobs",
        &json!({
            "me": me(&staff), "rows": rows, "flash": flash,
            "gauges": {"pending": gauges.pending, "enqueued": gauges.enqueued, "dead": gauges.dead,
                       "oldest": format!("{:.0}", gauges.oldest_owed_seconds)},
        }),
    ))
}

async fn retry(
    state: web::Data<AdminState>,
    staff: Staff,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    access::require_supervisor(&staff)?;
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    match state.runtime.retry_effect(id).await {
        Ok(()) => {
            tracing::info!(outbox.id = %id, user.id = %staff.user_id, "dead effect retried from the console");
            Ok(pages::see_other("/admin/jobs?msg=retried"))
        }
        Err(RuntimeError::NotFound(_)) => Ok(pages::see_other("/admin/jobs?msg=gone")),
        Err(e) => Err(runtime_error(e)),
    }
}

async fn audit_form(state: web::Data<AdminState>, staff: Staff) -> Result<HttpResponse, PageError> {
    access::require_supervisor(&staff)?;
    Ok(page(
        &state,
        StatusCode::OK,
        "audit",
        &json!({"me": me(&staff), "ran": false, "instance": ""}),
    ))
}

#[derive(Deserialize)]
struct AuditForm {
    instance: Option<String>,
}

async fn audit_run(
    state: web::Data<AdminState>,
    staff: Staff,
    form: web::Form<AuditForm>,
) -> Result<HttpResponse, PageError> {
    access::require_supervisor(&staff)?;
    let typed = form.instance.as_deref().map(str::trim).unwrap_or("");
    let only = if typed.is_empty() {
        None
    } else {
        match typed.parse::<Uuid>() {
            Ok(id) => Some(id),
            Err(_) => {
                return Ok(page(
                    &state,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "audit",
                    &json!({"me": me(&staff), "ran": false, "instance": typed,
                            "error": "实例编号应为完整的 UUID；留空则校验全部记录。"}),
                ));
            }
        }
    };
    let verifier = Verifier::from_signer(state.runtime.signer());
    let started = std::time::Instant::now();
    let findings = match state.runtime.verify_history(&verifier, only).await {
        Ok(f) => f,
        Err(RuntimeError::NotFound(_)) => {
            return Ok(page(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                "audit",
                &json!({"me": me(&staff), "ran": false, "instance": typed,
                        "error": "没有这个流程实例。"}),
            ));
        }
        Err(e) => return Err(runtime_error(e)),
    };
    tracing::info!(
        user.id = %staff.user_id,
        instance.id = ?only,
        findings = findings.len(),
        "audit verify run from the console"
    );
    let rows: Vec<Value> = findings
        .iter()
        .map(|f| json!({"instance": f.instance_id().to_string(), "text": f.to_string()}))
        .collect();
    Ok(page(
        &state,
        StatusCode::OK,
        "audit",
        &json!({
            "me": me(&staff), "ran": true, "instance": typed,
            "scope": only.map_or_else(|| "全部流程实例".to_owned(), |i| format!("流程实例 {i}")),
            "ok": findings.is_empty(), "count": rows.len(), "findings": rows,
            "millis": started.elapsed().as_millis().to_string(),
        }),
    ))
}
