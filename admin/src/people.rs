//! Staff and roles (`/admin/staff`): every staff account with its roles, status and last
//! sign-in. `sys_admin` changes roles, disables and enables accounts and resets TOTP secrets;
//! `supervisor` only reads the list.
//!
//! Every change is a CSRF-checked POST (the guard), runs in one transaction with a
//! `console_events` row naming who did it, and is logged. Nobody can remove their own
//! `sys_admin` role or disable themselves, so an administrator cannot lock the last door
//! behind them by mistake. Disabling ends the account's sessions at once; a disabled account
//! cannot sign in ([`crate::staff::sign_in`]) and its old sessions no longer load. A TOTP reset
//! shows the new secret once, on the answer to the POST, and is never stored anywhere else
//! than `staff_credentials`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use certdesk_domain::ident::Phone;
use certdesk_store::schema::{
    console_events, staff_credentials, staff_roles, staff_sessions, users,
};
use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::pages::{self, PageError, me, page, role_title};
use crate::session::Staff;
use crate::staff::{ISSUER, ROLES};
use crate::{AdminState, access, totp, view};

/// Registers the staff pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/staff", web::get().to(list))
        .route("/staff/{id}/roles", web::post().to(set_roles))
        .route("/staff/{id}/status", web::post().to(set_status))
        .route("/staff/{id}/totp", web::post().to(reset_totp));
}

/// One staff account as the list shows it.
#[derive(Debug, Clone)]
pub struct Account {
    /// User id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Phone (shown masked).
    pub phone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Roles.
    pub roles: Vec<String>,
    /// When disabled.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Locked after failed sign-ins until then.
    pub locked_until: Option<DateTime<Utc>>,
    /// The latest session's start.
    pub last_sign_in: Option<DateTime<Utc>>,
}

/// Every staff account, by name.
///
/// # Errors
///
/// On database failure.
pub async fn accounts(conn: &mut AsyncPgConnection) -> Result<Vec<Account>, diesel::result::Error> {
    let rows: Vec<AccountRow> = users::table
        .inner_join(staff_credentials::table)
        .filter(users::kind.eq("staff"))
        .order((users::name.asc(), users::id.asc()))
        .select((
            users::id,
            users::name,
            users::phone,
            users::email,
            staff_credentials::disabled_at,
            staff_credentials::locked_until,
        ))
        .load(conn)
        .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let roles: Vec<(Uuid, String)> = staff_roles::table
        .filter(staff_roles::user_id.eq_any(&ids))
        .select((staff_roles::user_id, staff_roles::role))
        .load(conn)
        .await?;
    let last: Vec<(Uuid, Option<DateTime<Utc>>)> = staff_sessions::table
        .filter(staff_sessions::user_id.eq_any(&ids))
        .group_by(staff_sessions::user_id)
        .select((
            staff_sessions::user_id,
            diesel::dsl::max(staff_sessions::created_at),
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, phone, email, disabled_at, locked_until)| {
            let mut mine: Vec<String> = roles
                .iter()
                .filter(|(u, _)| *u == id)
                .map(|(_, r)| r.clone())
                .collect();
            mine.sort_by_key(|r| ROLES.iter().position(|x| x == r));
            Account {
                id,
                name,
                phone,
                email,
                roles: mine,
                disabled_at,
                locked_until,
                last_sign_in: last.iter().find(|(u, _)| *u == id).and_then(|(_, t)| *t),
            }
        })
        .collect())
}

#[derive(Deserialize)]
struct Flash {
    msg: Option<String>,
}

fn flash(code: &str) -> Option<(&'static str, &'static str)> {
    Some(match code {
        "roles_changed" => ("notice", "角色已更新。"),
        "disabled" => ("notice", "账号已停用，其会话已结束。"),
        "enabled" => ("notice", "账号已启用。"),
        "own_admin" => ("error", "不能移除自己的系统管理员角色，未作更改。"),
        "own_account" => ("error", "不能停用自己的账号，未作更改。"),
        "no_roles" => ("error", "至少保留一个角色（或停用该账号），未作更改。"),
        "bad_role" => ("error", "角色无效，未作更改。"),
        _ => return None,
    })
}

async fn list(
    state: web::Data<AdminState>,
    staff: Staff,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    access::require_supervisor(&staff)?;
    let now = state.runtime.clock().now();
    let mut conn = pages::conn(&state).await?;
    let all = accounts(&mut conn).await?;
    let admin = access::administers(&staff);
    let rows: Vec<Value> = all
        .iter()
        .map(|a| {
            let status = if a.disabled_at.is_some() {
                "已停用"
            } else if a.locked_until.is_some_and(|t| t > now) {
                "已锁定（登录失败过多）"
            } else {
                "正常"
            };
            json!({
                "id": a.id.to_string(),
                "name": a.name,
                "login": a.email.clone().or_else(|| a.phone.as_deref().map(|p| Phone::parse(p).map_or_else(|_| view::mask_numbers(p), |p| p.mask()))).unwrap_or_default(),
                "roles": a.roles.iter().map(|r| role_title(r)).collect::<Vec<_>>(),
                "role_boxes": ROLES.iter().map(|r| json!({"value": r, "label": role_title(r), "checked": a.roles.iter().any(|x| x == r)})).collect::<Vec<_>>(),
                "status": status,
                "disabled": a.disabled_at.is_some(),
                "last": a.last_sign_in.map_or_else(|| "从未登录".to_owned(), view::beijing),
                "self": a.id == staff.user_id,
            })
        })
        .collect();
    let flash = web::Query::<Flash>::from_query(req.query_string())
        .ok()
        .and_then(|f| f.into_inner().msg)
        .and_then(|m| flash(&m));
    Ok(page(
        &state,
        StatusCode::OK,
        "staff",
        &json!({
            "me": me(&staff),
            "admin": admin,
            "rows": rows,
            "flash": flash.map(|(class, text)| json!({"class": class, "text": text})),
        }),
    ))
}

async fn record(
    conn: &mut AsyncPgConnection,
    actor: Uuid,
    action: &str,
    subject: Uuid,
    details: Value,
    now: DateTime<Utc>,
) -> Result<(), diesel::result::Error> {
    diesel::insert_into(console_events::table)
        .values((
            console_events::id.eq(Uuid::now_v7()),
            console_events::at.eq(now),
            console_events::actor.eq(actor),
            console_events::action.eq(action),
            console_events::subject.eq(subject),
            console_events::details.eq(details),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

async fn is_staff(conn: &mut AsyncPgConnection, id: Uuid) -> Result<bool, diesel::result::Error> {
    Ok(staff_credentials::table
        .find(id)
        .select(staff_credentials::user_id)
        .first::<Uuid>(conn)
        .await
        .optional()?
        .is_some())
}

/// The roles form: one `role` field per checked box (`role=a&role=b`), parsed by hand because
/// a urlencoded struct cannot hold a repeated key.
fn roles_of(body: &str) -> Result<Vec<String>, ()> {
    let mut out = Vec::new();
    for pair in body.split('&') {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        if k == "role" {
            if !ROLES.contains(&v) {
                return Err(());
            }
            if !out.iter().any(|r| r == v) {
                out.push(v.to_owned());
            }
        }
    }
    Ok(out)
}

fn to_list(msg: &str) -> HttpResponse {
    pages::see_other(&format!("/admin/staff?msg={msg}"))
}

async fn set_roles(
    state: web::Data<AdminState>,
    staff: Staff,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    access::require_admin(&staff)?;
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    let text = std::str::from_utf8(&body).map_err(|_| PageError::NotFound)?;
    let Ok(roles) = roles_of(text) else {
        return Ok(to_list("bad_role"));
    };
    if roles.is_empty() {
        return Ok(to_list("no_roles"));
    }
    if id == staff.user_id && !roles.iter().any(|r| r == "sys_admin") {
        return Ok(to_list("own_admin"));
    }
    let now = state.runtime.clock().now();
    let mut conn = pages::conn(&state).await?;
    if !is_staff(&mut conn, id).await? {
        return Err(PageError::NotFound);
    }
    let actor = staff.user_id;
    let before = conn
        .transaction::<_, diesel::result::Error, _>(async move |conn| {
            let before: Vec<String> = staff_roles::table
                .filter(staff_roles::user_id.eq(id))
                .select(staff_roles::role)
                .order(staff_roles::role)
                .for_update()
                .load(conn)
                .await?;
            diesel::delete(staff_roles::table.filter(staff_roles::user_id.eq(id)))
                .execute(conn)
                .await?;
            for r in &roles {
                diesel::insert_into(staff_roles::table)
                    .values((staff_roles::user_id.eq(id), staff_roles::role.eq(r)))
                    .execute(conn)
                    .await?;
            }
            record(
                conn,
                actor,
                "roles_changed",
                id,
                json!({"before": before, "after": roles}),
                now,
            )
            .await?;
            Ok(before)
        })
        .await?;
    tracing::info!(actor.id = %actor, user.id = %id, before = ?before, "staff roles changed");
    Ok(to_list("roles_changed"))
}

#[derive(Deserialize)]
struct StatusForm {
    action: String,
}

async fn set_status(
    state: web::Data<AdminState>,
    staff: Staff,
    id: web::Path<String>,
    form: web::Form<StatusForm>,
) -> Result<HttpResponse, PageError> {
    access::require_admin(&staff)?;
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    let disable = match form.action.as_str() {
        "disable" => true,
        "enable" => false,
        _ => return Ok(to_list("bad_role")),
    };
    if disable && id == staff.user_id {
        return Ok(to_list("own_account"));
    }
    let now = state.runtime.clock().now();
    let mut conn = pages::conn(&state).await?;
    if !is_staff(&mut conn, id).await? {
        return Err(PageError::NotFound);
    }
    let actor = staff.user_id;
    conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        diesel::update(staff_credentials::table.find(id))
            .set((
                staff_credentials::disabled_at.eq(disable.then_some(now)),
                staff_credentials::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        if disable {
            diesel::update(
                staff_sessions::table
                    .filter(staff_sessions::user_id.eq(id))
                    .filter(staff_sessions::ended_at.is_null()),
            )
            .set(staff_sessions::ended_at.eq(now))
            .execute(conn)
            .await?;
        }
        let action = if disable {
            "staff_disabled"
        } else {
            "staff_enabled"
        };
        record(conn, actor, action, id, json!({}), now).await
    })
    .await?;
    tracing::info!(actor.id = %actor, user.id = %id, disabled = disable, "staff account status changed");
    Ok(to_list(if disable { "disabled" } else { "enabled" }))
}

async fn reset_totp(
    state: web::Data<AdminState>,
    staff: Staff,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    access::require_admin(&staff)?;
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    let now = state.runtime.clock().now();
    let mut conn = pages::conn(&state).await?;
    let person: Option<(String, Option<String>, Option<String>)> = users::table
        .inner_join(staff_credentials::table)
        .filter(users::id.eq(id))
        .select((users::name, users::email, users::phone))
        .first(&mut conn)
        .await
        .optional()?;
    let Some((name, email, phone)) = person else {
        return Err(PageError::NotFound);
    };
    let secret = totp::generate_secret().map_err(|e| PageError::internal(e.to_string()))?;
    let stored = secret.clone();
    let actor = staff.user_id;
    conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        diesel::update(staff_credentials::table.find(id))
            .set((
                staff_credentials::totp_secret.eq(stored),
                staff_credentials::totp_last_step.eq(None::<i64>),
                staff_credentials::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        record(conn, actor, "totp_reset", id, json!({}), now).await
    })
    .await?;
    tracing::info!(actor.id = %actor, user.id = %id, "staff TOTP secret reset");
    let account = email.or(phone).unwrap_or_else(|| name.clone());
    Ok(page(
        &state,
        StatusCode::OK,
        "staff_secret",
        &json!({
            "me": me(&staff),
            "name": name,
            "secret": totp::base32(&secret),
            "uri": totp::otpauth_uri(ISSUER, &account, &secret),
        }),
    ))
}

/// A staff account as selected.
type AccountRow = (
    Uuid,
    String,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_form_takes_known_roles_once() {
        assert_eq!(
            roles_of("csrf=x&role=finance&role=sys_admin&role=finance"),
            Ok(vec!["finance".to_owned(), "sys_admin".to_owned()])
        );
        assert_eq!(roles_of("csrf=x"), Ok(vec![]));
        assert_eq!(roles_of("role=root"), Err(()));
    }
}
