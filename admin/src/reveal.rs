//! Personal numbers on console pages. SPEC "Cross-cutting rules": identity numbers and phones
//! are masked everywhere; seeing one in full is a permission, and is logged.
//!
//! Task and instance pages mask every form field holding a personal number: a phone, an
//! identity document, a passport or permit, a bank account
//! ([`certdesk_api::mask::is_personal`]). The masks are the ones the JSON API uses. Some staff
//! hold the permission ([`may_reveal`]: `cs_reviewer`, `supervisor`, `sys_admin`); a reviewer
//! compares the number with the document photo. If they may also open the page, they get a
//! button beside each masked number. It posts to `POST /admin/instances/{id}/reveal`, which
//! records a `number_revealed` console event (who, when, which instance and field) and logs a
//! line. For [`WINDOW_MINUTES`] after that event, that person sees that field of that
//! instance in full. Anyone else, and the same person after the window, sees the mask.
//! Supervisors see an instance's reveals on its page.

use actix_web::{HttpResponse, web};
use certdesk_engine::def::Definition;
use certdesk_store::schema::{console_events, instances, users};
use chrono::{DateTime, TimeDelta, Utc};
use diesel::{ExpressionMethods, JoinOnDsl, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AdminState;
use crate::access;
use crate::pages::{self, PageError};
use crate::session::Staff;

/// How long a reveal shows the number in full to the person who asked.
pub const WINDOW_MINUTES: i64 = 10;

/// The console event of a reveal.
const ACTION: &str = "number_revealed";

/// Whether `staff` holds the permission to see personal numbers in full (on pages they may
/// open at all).
#[must_use]
pub fn may_reveal(staff: &Staff) -> bool {
    staff.has("cs_reviewer") || access::supervises(staff)
}

/// What a page shows of personal numbers to its viewer.
#[derive(Debug, Clone, Default)]
pub struct Numbers {
    /// Fields shown in full: revealed within the window.
    pub revealed: Vec<String>,
    /// Whether masked fields get a reveal button ([`may_reveal`]).
    pub may_reveal: bool,
}

impl Numbers {
    /// What `staff` sees of `instance`'s personal numbers at `now`.
    ///
    /// # Errors
    ///
    /// On database failure.
    pub async fn for_viewer(
        conn: &mut AsyncPgConnection,
        staff: &Staff,
        instance: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Self, diesel::result::Error> {
        Ok(Numbers {
            revealed: revealed(conn, staff.user_id, instance, now).await?,
            may_reveal: may_reveal(staff),
        })
    }
}

/// The fields of `instance` whose numbers `staff` revealed within the window before `now`.
///
/// # Errors
///
/// On database failure.
async fn revealed(
    conn: &mut AsyncPgConnection,
    staff: Uuid,
    instance: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<String>, diesel::result::Error> {
    let since = now - TimeDelta::minutes(WINDOW_MINUTES);
    let details: Vec<Value> = console_events::table
        .filter(console_events::instance_id.eq(instance))
        .filter(console_events::actor.eq(staff))
        .filter(console_events::action.eq(ACTION))
        .filter(console_events::at.gt(since))
        .select(console_events::details)
        .load(conn)
        .await?;
    Ok(details
        .iter()
        .filter_map(|d| d.get("field").and_then(Value::as_str).map(str::to_owned))
        .collect())
}

/// Every reveal of `instance`, newest first, for its page: who, when (Beijing time), which
/// field (titled from `def`).
///
/// # Errors
///
/// On database failure.
pub async fn log(
    conn: &mut AsyncPgConnection,
    def: Option<&Definition>,
    instance: Uuid,
) -> Result<Vec<Value>, diesel::result::Error> {
    let rows: Vec<(DateTime<Utc>, String, Value)> = console_events::table
        .inner_join(users::table.on(users::id.eq(console_events::actor)))
        .filter(console_events::instance_id.eq(instance))
        .filter(console_events::action.eq(ACTION))
        .order(console_events::at.desc())
        .limit(200)
        .select((console_events::at, users::name, console_events::details))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(at, who, details)| {
            let field = details
                .get("field")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let title = def
                .and_then(|d| d.form.field(field))
                .map_or_else(|| field.to_owned(), |f| f.title.clone());
            json!({"at": crate::view::beijing(at), "who": who, "field": title})
        })
        .collect())
}

/// The form of a reveal.
#[derive(Debug, Deserialize)]
pub struct RevealForm {
    /// The form field whose number to show.
    pub field: String,
    /// The page to return to: a task or instance page.
    pub back: Option<String>,
}

/// Where to go after a reveal: `back` when it is a task or instance page of this console,
/// else the instance's page.
fn back_to(back: Option<&str>, instance: Uuid) -> String {
    back.filter(|b| {
        (b.starts_with("/admin/tasks/") || b.starts_with("/admin/instances/"))
            && b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'/' || c == b'-')
    })
    .map_or_else(|| format!("/admin/instances/{instance}"), str::to_owned)
}

/// `POST /admin/instances/{id}/reveal`: records the reveal and returns to the page. A person
/// without the permission gets 403. Someone who may not open the instance, or a field that
/// holds no personal number, gets 404; nothing is recorded either way.
///
/// # Errors
///
/// As above, and on database failure.
pub async fn reveal(
    state: web::Data<AdminState>,
    staff: Staff,
    id: web::Path<String>,
    form: web::Form<RevealForm>,
) -> Result<HttpResponse, PageError> {
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    if !may_reveal(&staff) {
        tracing::info!(user.id = %staff.user_id, instance.id = %id, "number reveal refused: no permission");
        return Err(PageError::Forbidden);
    }
    let mut conn = pages::conn(&state).await?;
    if !access::supervises(&staff)
        && !crate::instances::in_my_tasks(&mut conn, &staff.roles, id).await?
    {
        return Err(PageError::NotFound);
    }
    let (definition, version, data): (String, i32, Value) = instances::table
        .find(id)
        .select((instances::definition, instances::version, instances::data))
        .first(&mut conn)
        .await
        .optional()?
        .ok_or(PageError::NotFound)?;
    let def = state
        .runtime
        .definition_version(&definition, version)
        .await
        .map_err(|e| PageError::internal(e.to_string()))?;
    let field = form.field.trim();
    let personal = def
        .form
        .field(field)
        .is_some_and(certdesk_api::mask::is_personal);
    let present = data.get(field).is_some_and(|v| !v.is_null());
    if !personal || !present {
        return Err(PageError::NotFound);
    }
    let now = state.runtime.clock().now();
    diesel::insert_into(console_events::table)
        .values((
            console_events::id.eq(Uuid::now_v7()),
            console_events::at.eq(now),
            console_events::actor.eq(staff.user_id),
            console_events::action.eq(ACTION),
            console_events::instance_id.eq(id),
            console_events::details.eq(json!({"field": field})),
        ))
        .execute(&mut conn)
        .await?;
    tracing::info!(user.id = %staff.user_id, instance.id = %id, form.field = field, "personal number revealed");
    Ok(pages::see_other(&back_to(form.back.as_deref(), id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_task_and_instance_pages_are_returned_to() {
        let id = Uuid::nil();
        let home = format!("/admin/instances/{id}");
        assert_eq!(
            back_to(Some("/admin/tasks/abc-1"), id),
            "/admin/tasks/abc-1"
        );
        assert_eq!(
            back_to(Some("/admin/instances/abc-1"), id),
            "/admin/instances/abc-1"
        );
        for bad in [
            "https://evil.example/admin/tasks/1",
            "//evil.example/admin/tasks/1",
            "/admin/tasks/1?next=//evil",
            "/admin/staff",
            "/admin/tasks/1\r\nSet-Cookie: x",
        ] {
            assert_eq!(back_to(Some(bad), id), home, "{bad}");
        }
        assert_eq!(back_to(None, id), home);
    }
}
