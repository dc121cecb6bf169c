//! Decisions on a task page: the forms a task state allows, their server-side checks, and the
//! POST that applies one through the runtime.
//!
//! What a reviewer may do is read from the definition version the instance runs on: one form
//! per outcome of the task's state (its title, the state it leads to, the reason codes with
//! their titles from `templates/reasons.toml`, the comment's length and whether it is
//! required). A POST is checked here first (unknown outcome or reason, missing or too long
//! comment: the page again with field errors, nothing changed), then by the engine under the
//! instance lock inside [`certdesk_runtime::Runtime::command`], with the staff member as the
//! actor; the runtime resolves their parties from their staff groups.
//!
//! Who may not decide sees why instead of a form: the requester of the instance (a forged POST
//! is refused with 403), anyone while another person holds the claim, and everyone once the task
//! is closed, with who decided what and when. A form that went stale (someone else decided
//! first) is answered with that same page and message, not an error page. Staff outside the
//! task's groups never get this far: the task does not exist for them (404).

use std::collections::BTreeMap;
use std::path::Path;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use certdesk_engine::StepError;
use certdesk_engine::def::{Definition, Kind, Task};
use certdesk_runtime::{Command, RuntimeError};
use certdesk_store::schema::history;
use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AdminState;
use crate::inbox::{self, TaskView};
use crate::pages::{self, PageError};
use crate::session::Staff;

/// Reads the reason titles of a `reasons.toml` (`code = "标题"`); a missing file is no titles.
///
/// # Errors
///
/// When the file exists but cannot be read or is not a table of strings.
pub fn load_reasons(path: &Path) -> Result<BTreeMap<String, String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn reason_title<'a>(reasons: &'a BTreeMap<String, String>, code: &'a str) -> &'a str {
    reasons.get(code).map_or(code, String::as_str)
}

/// The decision form as posted (every field optional: a forged POST may omit any).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DecideForm {
    /// Outcome name.
    pub outcome: Option<String>,
    /// Reason code.
    pub reason: Option<String>,
    /// Comment.
    pub comment: Option<String>,
}

/// A decision that passed [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Outcome name, one of the task's.
    pub outcome: String,
    /// Reason code from the outcome's list (only when it has one).
    pub reason: Option<String>,
    /// Comment, trimmed, within the limit.
    pub comment: Option<String>,
}

/// Field errors of a decision form by field (`outcome`, `reason`, `comment`).
pub type FieldErrors = BTreeMap<&'static str, String>;

fn trimmed(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Checks a posted decision against the task's outcomes, as the engine will.
///
/// # Errors
///
/// The field errors, in Chinese, when anything does not fit.
pub fn check(task: &Task, form: &DecideForm) -> Result<Checked, FieldErrors> {
    let mut errors = FieldErrors::new();
    let name = trimmed(&form.outcome);
    let Some(outcome) = name.as_deref().and_then(|n| task.outcome(n)) else {
        errors.insert("outcome", "请选择本环节允许的审核结果。".to_owned());
        return Err(errors);
    };
    let reason = trimmed(&form.reason);
    match (&reason, outcome.reason_codes.is_empty()) {
        (None, false) => {
            errors.insert("reason", "请选择原因。".to_owned());
        }
        (Some(r), false) if !outcome.reason_codes.iter().any(|c| c == r) => {
            errors.insert("reason", "所选原因不在本环节允许的列表中。".to_owned());
        }
        (Some(_), true) => {
            errors.insert("reason", "此审核结果无需选择原因。".to_owned());
        }
        _ => {}
    }
    let comment = trimmed(&form.comment);
    match &comment {
        None if outcome.comment_required => {
            errors.insert("comment", "请填写说明。".to_owned());
        }
        Some(c) if c.chars().count() > outcome.comment_max_chars as usize => {
            errors.insert(
                "comment",
                format!(
                    "说明最多 {} 字，当前 {} 字。",
                    outcome.comment_max_chars,
                    c.chars().count()
                ),
            );
        }
        _ => {}
    }
    if errors.is_empty() {
        Ok(Checked {
            outcome: outcome.name.clone(),
            reason,
            comment,
        })
    } else {
        Err(errors)
    }
}

/// The human task of state `name`, if it is one.
#[must_use]
pub fn task_of<'d>(def: &'d Definition, name: &str) -> Option<&'d Task> {
    match &def.state(def.state_id(name)?).kind {
        Kind::Task(task) => Some(task),
        _ => None,
    }
}

/// The forms of `task`'s outcomes; `posted` refills the one that was sent, with its errors.
fn forms(
    def: &Definition,
    task: &Task,
    reasons: &BTreeMap<String, String>,
    posted: Option<(&DecideForm, &FieldErrors)>,
) -> Vec<Value> {
    task.outcomes
        .iter()
        .map(|o| {
            let mine = posted.filter(|(f, _)| trimmed(&f.outcome).as_deref() == Some(&o.name));
            let chosen = mine.and_then(|(f, _)| trimmed(&f.reason));
            let comment = mine.and_then(|(f, _)| f.comment.clone()).unwrap_or_default();
            let errors = mine.map(|(_, e)| e);
            // Where it leads: the default branch's state (the last branch has no guard).
            let to = o
                .transition
                .branches
                .last()
                .map(|b| def.state(b.to).title.clone());
            json!({
                "name": o.name,
                "label": crate::view::outcome_label(&o.name),
                "to": to,
                "style": match o.name.as_str() { "approve" => "approve", "reject" => "danger", _ => "secondary" },
                "reasons": o.reason_codes.iter().map(|c| json!({
                    "code": c,
                    "label": reason_title(reasons, c),
                    "selected": chosen.as_deref() == Some(c.as_str()),
                })).collect::<Vec<_>>(),
                "comment_required": o.comment_required,
                "max": o.comment_max_chars,
                "comment": comment,
                "errors": {
                    "reason": errors.and_then(|e| e.get("reason")),
                    "comment": errors.and_then(|e| e.get("comment")),
                },
            })
        })
        .collect()
}

/// The latest decision entry of task `task` in its instance's history: (at, actor, payload).
async fn last_decision(
    conn: &mut AsyncPgConnection,
    instance: Uuid,
    task: Uuid,
) -> Result<Option<(DateTime<Utc>, String, Value)>, diesel::result::Error> {
    history::table
        .filter(history::instance_id.eq(instance))
        .filter(history::event.eq("decide"))
        .filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("payload->>'task' = ")
                .bind::<diesel::sql_types::Text, _>(task.to_string()),
        )
        .order(history::seq.desc())
        .select((history::at, history::actor, history::payload))
        .first(conn)
        .await
        .optional()
}

/// Who decided the (closed) task of `view`, what and when, in Chinese.
async fn decided_message(
    state: &AdminState,
    conn: &mut AsyncPgConnection,
    def: &Definition,
    view: &TaskView,
) -> Result<String, PageError> {
    let Some((at, actor, payload)) = last_decision(conn, view.instance_id, view.id).await? else {
        let now_in = def.state_id(&view.instance_state).map_or_else(
            || view.instance_state.clone(),
            |s| def.state(s).title.clone(),
        );
        return Ok(format!(
            "此任务已关闭，无需再作决定：申请已进入“{now_in}”环节（如申请人撤回或超时）。"
        ));
    };
    let who = match actor
        .strip_prefix("user:")
        .and_then(|u| u.parse::<Uuid>().ok())
    {
        Some(id) => inbox::names(conn, &[id])
            .await?
            .remove(&id)
            .unwrap_or_else(|| "另一位审核员".to_owned()),
        None => "系统".to_owned(),
    };
    let outcome = payload["outcome"].as_str().unwrap_or_default();
    let mut what = format!("“{}”", crate::view::outcome_label(outcome));
    if let Some(reason) = payload["reason"].as_str() {
        what.push_str(&format!(
            "（原因：{}）",
            reason_title(&state.settings.reasons, reason)
        ));
    }
    Ok(format!(
        "此任务已由{who}于 {}（北京时间）作出决定：{what}。您无需再处理，页面显示的是最新状态。",
        pages::beijing(at)
    ))
}

/// The decision block of the task page of `view` for `staff`: the forms, or why there are none.
/// `posted` refills a form sent back with errors.
///
/// # Errors
///
/// On database failure, or when the instance's definition version cannot be loaded.
pub async fn block(
    state: &AdminState,
    conn: &mut AsyncPgConnection,
    staff: &Staff,
    view: &TaskView,
    posted: Option<(&DecideForm, &FieldErrors)>,
) -> Result<Value, PageError> {
    let def = state
        .runtime
        .definition_version(&view.definition, view.version)
        .await
        .map_err(|e| PageError::internal(e.to_string()))?;
    let message = |kind: &str, text: String| json!({"message": text, "kind": kind, "forms": []});
    if view.status != "open" {
        return Ok(message(
            "notice",
            decided_message(state, conn, &def, view).await?,
        ));
    }
    if view.requester == staff.user_id {
        return Ok(message(
            "error",
            "您是此申请的申请人，不能审核自己的申请；请由其他审核员处理。".to_owned(),
        ));
    }
    if let Some(holder) = view.claimed_by.filter(|c| *c != staff.user_id) {
        let name = inbox::names(conn, &[holder])
            .await?
            .remove(&holder)
            .unwrap_or_default();
        return Ok(message(
            "notice",
            format!("此任务已由{name}认领，只有认领人可以作出决定；如需接手，请先请其放回任务。"),
        ));
    }
    let Some(task) = task_of(&def, &view.state) else {
        return Ok(message("notice", "此环节无需人工决定。".to_owned()));
    };
    Ok(json!({
        "message": Value::Null,
        "forms": forms(&def, task, &state.settings.reasons, posted),
        "form_error": posted.and_then(|(_, e)| e.get("outcome")),
        "unclaimed": view.claimed_by.is_none(),
    }))
}

fn step_field_error(e: &StepError) -> Option<(&'static str, String)> {
    Some(match e {
        StepError::UnknownOutcome(_) => ("outcome", "请选择本环节允许的审核结果。".to_owned()),
        StepError::ReasonRequired => ("reason", "请选择原因。".to_owned()),
        StepError::UnknownReason(_) => ("reason", "所选原因不在本环节允许的列表中。".to_owned()),
        StepError::CommentRequired => ("comment", "请填写说明。".to_owned()),
        StepError::CommentTooLong { max } => ("comment", format!("说明最多 {max} 字。")),
        _ => return None,
    })
}

/// `POST /admin/tasks/{id}/decide`: applies a decision (see the module docs).
///
/// # Errors
///
/// Not found for a task the person may not see; internal failures.
pub async fn decide(
    state: web::Data<AdminState>,
    staff: Staff,
    id: web::Path<String>,
    form: web::Form<DecideForm>,
) -> Result<HttpResponse, PageError> {
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    let form = form.into_inner();
    let mut conn = pages::conn(&state).await?;
    let view = inbox::task(&mut conn, &staff.roles, id)
        .await?
        .ok_or(PageError::NotFound)?;
    let again = async |conn: &mut AsyncPgConnection,
                       view: &TaskView,
                       status: StatusCode,
                       posted: Option<(&DecideForm, &FieldErrors)>| {
        let decision = block(&state, conn, &staff, view, posted).await?;
        pages::render_task(&state, conn, &staff, view, decision, status).await
    };
    if view.requester == staff.user_id {
        tracing::warn!(task.id = %id, user.id = %staff.user_id, "decision refused: the requester's own request");
        return again(&mut conn, &view, StatusCode::FORBIDDEN, None).await;
    }
    if view.status != "open" || view.claimed_by.is_some_and(|c| c != staff.user_id) {
        return again(&mut conn, &view, StatusCode::CONFLICT, None).await;
    }
    let def = state
        .runtime
        .definition_version(&view.definition, view.version)
        .await
        .map_err(|e| PageError::internal(e.to_string()))?;
    let Some(task) = task_of(&def, &view.state) else {
        return again(&mut conn, &view, StatusCode::CONFLICT, None).await;
    };
    let checked = match check(task, &form) {
        Ok(c) => c,
        Err(errors) => {
            return again(
                &mut conn,
                &view,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some((&form, &errors)),
            )
            .await;
        }
    };
    drop(conn);
    let applied = state
        .runtime
        .command(
            view.instance_id,
            Command::Decide {
                task_id: view.id,
                actor: staff.user_id,
                outcome: checked.outcome.clone(),
                reason: checked.reason.clone(),
                comment: checked.comment.clone(),
            },
        )
        .await;
    let mut conn = pages::conn(&state).await?;
    match applied {
        Ok(to) => {
            tracing::info!(task.id = %id, user.id = %staff.user_id, outcome = %checked.outcome, instance.state = %to, "task decided");
            Ok(pages::see_other("/admin/tasks?msg=decided"))
        }
        Err(RuntimeError::Step(e)) => {
            if let Some((field, text)) = step_field_error(&e) {
                let errors = FieldErrors::from([(field, text)]);
                return again(
                    &mut conn,
                    &view,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some((&form, &errors)),
                )
                .await;
            }
            match e {
                StepError::SelfDecision => {
                    again(&mut conn, &view, StatusCode::FORBIDDEN, None).await
                }
                StepError::NotAssignee => Err(PageError::Forbidden),
                StepError::AlreadyApproved | StepError::PartyAlreadyApproved => {
                    let mut decision = block(&state, &mut conn, &staff, &view, None).await?;
                    decision["message"] =
                        json!("您（或您所在的组）已批准过此任务，正在等待其他人会签。");
                    decision["kind"] = json!("notice");
                    decision["forms"] = json!([]);
                    pages::render_task(
                        &state,
                        &mut conn,
                        &staff,
                        &view,
                        decision,
                        StatusCode::CONFLICT,
                    )
                    .await
                }
                // Decided by someone else first, or the request moved on: the page as it is
                // now, with who decided what.
                _ => {
                    let now = inbox::task(&mut conn, &staff.roles, id)
                        .await?
                        .ok_or(PageError::NotFound)?;
                    again(&mut conn, &now, StatusCode::CONFLICT, None).await
                }
            }
        }
        Err(RuntimeError::NotFound(_)) => Err(PageError::NotFound),
        Err(e) => Err(PageError::internal(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use super::*;

    fn real_name_task() -> (std::sync::Arc<Definition>, String) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let registry = certdesk_engine::load_dir(
            &root.join("workflows"),
            &root.join("templates"),
            certdesk_engine::Catalog::standard(),
        )
        .unwrap();
        (
            std::sync::Arc::clone(registry.get("real_name_review").unwrap()),
            "cs_review".to_owned(),
        )
    }

    fn form(outcome: &str, reason: Option<&str>, comment: Option<&str>) -> DecideForm {
        DecideForm {
            outcome: Some(outcome.to_owned()),
            reason: reason.map(str::to_owned),
            comment: comment.map(str::to_owned),
        }
    }

    #[test]
    fn check_follows_the_definition() {
        let (def, state) = real_name_task();
        let task = task_of(&def, &state).unwrap();
        assert_eq!(
            check(task, &form("approve", None, Some("  "))).unwrap(),
            Checked {
                outcome: "approve".into(),
                reason: None,
                comment: None
            }
        );
        let ok = check(
            task,
            &form("reject", Some("document_expired"), Some(" 已过期 ")),
        )
        .unwrap();
        assert_eq!(ok.comment.as_deref(), Some("已过期"));
        let e = check(task, &form("escalate", None, None)).unwrap_err();
        assert!(e.contains_key("outcome"), "{e:?}");
        let e = check(task, &form("reject", None, None)).unwrap_err();
        assert!(
            e.contains_key("reason") && e.contains_key("comment"),
            "{e:?}"
        );
        let e = check(task, &form("reject", Some("bad_mood"), Some("x"))).unwrap_err();
        assert_eq!(e["reason"], "所选原因不在本环节允许的列表中。");
        let e = check(task, &form("approve", Some("other"), None)).unwrap_err();
        assert!(e.contains_key("reason"), "{e:?}");
        let long = "字".repeat(501);
        let e = check(task, &form("approve", None, Some(&long))).unwrap_err();
        assert_eq!(e["comment"], "说明最多 500 字，当前 501 字。");
        assert!(check(task, &form("approve", None, Some(&"字".repeat(500)))).is_ok());
    }

    #[test]
    fn the_product_reasons_file_loads_and_a_missing_one_is_empty() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let reasons = load_reasons(&root.join("templates/reasons.toml")).unwrap();
        assert_eq!(reasons["document_expired"], "证件已过期");
        assert!(
            load_reasons(&root.join("no/such/reasons.toml"))
                .unwrap()
                .is_empty()
        );
    }
}
