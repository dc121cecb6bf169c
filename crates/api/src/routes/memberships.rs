//! The enterprises an applicant belongs to, their members, and the seal-use right.
//!
//! - `GET /api/v1/me/enterprises`: the caller's enterprises with their roles there;
//! - `GET /api/v1/enterprises/{id}`: one of them (404 to anyone who does not belong to it);
//! - `GET /api/v1/enterprises/{id}/members`: the members, for the enterprise's admins and
//!   legal representative (phones masked);
//! - `PUT /api/v1/enterprises/{id}/members/{user_id}/seal-use`: an admin grants the seal-use
//!   right until a date (`{"until": "2027-12-31"}`) or withdraws it (`{"until": null}`), as the
//!   manuals' 印章授权 does (中标一证通 12, 网证通 2.3.2).
//!
//! A membership is one row per role; the seal-use right belongs to the person, so it is set on
//! each of their rows in the enterprise.

use actix_web::http::StatusCode;
use actix_web::web;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::{BoolExpressionMethods, ExpressionMethods, QueryDsl};
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use certdesk_store::schema::{enterprises, memberships, users};

use crate::extract::parse_body;
use crate::mask::mask_phone;
use crate::openapi::Problem;
use crate::openapi::{BadRequest, PayloadTooLarge, Unauthorized, UnsupportedMediaType};
use crate::page::{self, PageQuery, page_type};
use crate::problem::{ApiError, FieldProblem};
use crate::routes::enterprises::enterprise_not_found;
use crate::{ApiState, Caller, db};

/// Roles that manage an enterprise's members.
const MANAGERS: [&str; 2] = ["enterprise_admin", "legal_rep"];

/// An enterprise as its members see it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Enterprise {
    id: Uuid,
    name: String,
    uscc: String,
    kind: String,
    legal_rep_name: String,
    status: String,
    /// The caller's roles in it.
    my_roles: Vec<String>,
    /// Until when the caller may use its seals (none: no right).
    my_seal_use_until: Option<NaiveDate>,
}

/// A member as the enterprise's managers see them.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Member {
    user_id: Uuid,
    name: String,
    /// Masked (`186****8621`).
    phone: Option<String>,
    roles: Vec<String>,
    seal_use_until: Option<NaiveDate>,
    joined_at: DateTime<Utc>,
}

type EnterpriseRow = (Uuid, String, String, String, String, String);
type RoleRow = (Uuid, String, Option<NaiveDate>);

page_type!(
    /// A page of the caller's enterprises, by name.
    EnterprisePage,
    Enterprise
);

/// The cursor tag of the caller's enterprises.
const MINE_LIST: &str = "my_enterprises";
/// The cursor tag of an enterprise's members.
const MEMBER_LIST: &str = "members";

/// `GET /api/v1/me/enterprises`.
#[utoipa::path(
    get,
    path = "/api/v1/me/enterprises",
    tag = "enterprises",
    operation_id = "my_enterprises",
    summary = "The enterprises the caller belongs to, with their roles there",
    params(PageQuery),
    responses(
        (status = 200, description = "The caller's enterprises, by name", body = EnterprisePage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 422, description = "`invalid_input`: a `limit` out of range, a `cursor` \
            that is not this list's",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn mine(
    state: web::Data<ApiState>,
    caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<web::Json<EnterprisePage>, ApiError> {
    let mut errors = Vec::new();
    let page = query
        .into_inner()
        .check::<(String, Uuid)>(MINE_LIST, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let mut conn = db::conn(&state.runtime).await?;
    let mut rows = enterprises::table
        .select(enterprise_columns())
        .filter(
            enterprises::id.eq_any(
                memberships::table
                    .select(memberships::enterprise_id)
                    .filter(memberships::user_id.eq(caller.user_id)),
            ),
        )
        .order((enterprises::name, enterprises::id))
        .limit(page.fetch())
        .into_boxed();
    if let Some((name, id)) = &page.after {
        rows = rows.filter(
            enterprises::name.gt(name.clone()).or(enterprises::name
                .eq(name.clone())
                .and(enterprises::id.gt(*id))),
        );
    }
    let rows: Vec<EnterpriseRow> = rows.load(&mut conn).await?;
    let (rows, next_cursor) = page::cut(MINE_LIST, rows, page.limit, |r| (r.1.clone(), r.0));
    let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let roles: Vec<RoleRow> = memberships::table
        .select((
            memberships::enterprise_id,
            memberships::role,
            memberships::seal_use_until,
        ))
        .filter(memberships::user_id.eq(caller.user_id))
        .filter(memberships::enterprise_id.eq_any(&ids))
        .order((memberships::enterprise_id, memberships::role))
        .load(&mut conn)
        .await?;
    Ok(web::Json(EnterprisePage {
        items: rows
            .into_iter()
            .map(|row| with_roles(row, &roles))
            .collect(),
        next_cursor,
    }))
}

/// `GET /api/v1/enterprises/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/enterprises/{id}",
    tag = "enterprises",
    operation_id = "get_enterprise",
    summary = "An enterprise the caller belongs to",
    params(("id" = Uuid, Path, description = "The enterprise's id")),
    responses(
        (status = 200, description = "The enterprise", body = Enterprise),
        (status = 401, response = Unauthorized),
        (status = 404, description = "`enterprise_not_found`: no such enterprise, or the caller \
            does not belong to it",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn one(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<web::Json<Enterprise>, ApiError> {
    let id = path.into_inner();
    let mut conn = db::conn(&state.runtime).await?;
    let roles = roles_of(&mut conn, id, caller.user_id).await?;
    if roles.is_empty() {
        return Err(enterprise_not_found());
    }
    let row: EnterpriseRow = enterprises::table
        .select(enterprise_columns())
        .find(id)
        .first(&mut conn)
        .await?;
    Ok(web::Json(with_roles(row, &roles)))
}

page_type!(
    /// A page of an enterprise's members, by name.
    MemberPage,
    Member
);

/// `GET /api/v1/enterprises/{id}/members`.
#[utoipa::path(
    get,
    path = "/api/v1/enterprises/{id}/members",
    tag = "enterprises",
    operation_id = "list_members",
    summary = "An enterprise's members, for its admins and legal representative",
    params(("id" = Uuid, Path, description = "The enterprise's id"), PageQuery),
    responses(
        (status = 200, description = "The members by name, phones masked", body = MemberPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "`not_enterprise_admin`: the caller belongs to the \
            enterprise but does not manage it",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`enterprise_not_found`: no such enterprise, or the caller \
            does not belong to it",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_input`: a `limit` out of range, a `cursor` \
            that is not this list's",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn members(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<MemberPage>, ApiError> {
    let id = path.into_inner();
    let mut conn = db::conn(&state.runtime).await?;
    let mine = roles_of(&mut conn, id, caller.user_id).await?;
    if mine.is_empty() {
        return Err(enterprise_not_found());
    }
    if !mine.iter().any(|r| MANAGERS.contains(&r.1.as_str())) {
        return Err(not_a_manager());
    }
    let mut errors = Vec::new();
    let page = query
        .into_inner()
        .check::<(String, Uuid)>(MEMBER_LIST, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let mut people = users::table
        .select((users::id, users::name, users::phone))
        .filter(
            users::id.eq_any(
                memberships::table
                    .select(memberships::user_id)
                    .filter(memberships::enterprise_id.eq(id)),
            ),
        )
        .order((users::name, users::id))
        .limit(page.fetch())
        .into_boxed();
    if let Some((name, user)) = &page.after {
        people = people.filter(
            users::name
                .gt(name.clone())
                .or(users::name.eq(name.clone()).and(users::id.gt(*user))),
        );
    }
    let people: Vec<(Uuid, String, Option<String>)> = people.load(&mut conn).await?;
    let (people, next_cursor) = page::cut(MEMBER_LIST, people, page.limit, |p| (p.1.clone(), p.0));
    let items = with_memberships(&mut conn, id, people).await?;
    Ok(web::Json(MemberPage { items, next_cursor }))
}

/// `people` (id, name, phone) as members of `enterprise`: their roles, seal-use right and
/// when they joined (people without a membership there are left out).
async fn with_memberships(
    conn: &mut diesel_async::AsyncPgConnection,
    enterprise: Uuid,
    people: Vec<(Uuid, String, Option<String>)>,
) -> Result<Vec<Member>, ApiError> {
    let ids: Vec<Uuid> = people.iter().map(|p| p.0).collect();
    let rows: Vec<(Uuid, String, Option<NaiveDate>, DateTime<Utc>)> = memberships::table
        .select((
            memberships::user_id,
            memberships::role,
            memberships::seal_use_until,
            memberships::created_at,
        ))
        .filter(memberships::enterprise_id.eq(enterprise))
        .filter(memberships::user_id.eq_any(&ids))
        .order((memberships::user_id, memberships::role))
        .load(conn)
        .await?;
    Ok(people
        .into_iter()
        .filter_map(|(user_id, name, phone)| {
            let theirs: Vec<_> = rows.iter().filter(|r| r.0 == user_id).collect();
            Some(Member {
                user_id,
                name,
                phone: phone.as_deref().map(mask_phone),
                roles: theirs.iter().map(|r| r.1.clone()).collect(),
                seal_use_until: theirs.iter().filter_map(|r| r.2).max(),
                joined_at: theirs.iter().map(|r| r.3).min()?,
            })
        })
        .collect())
}

/// The body of the seal-use grant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SealUse {
    /// Last day of the right (Beijing date); `null` withdraws it.
    until: Option<NaiveDate>,
}

/// `PUT /api/v1/enterprises/{id}/members/{user_id}/seal-use`.
#[utoipa::path(
    put,
    path = "/api/v1/enterprises/{id}/members/{user_id}/seal-use",
    tag = "enterprises",
    operation_id = "set_seal_use",
    summary = "Grant a member the seal-use right until a date, or withdraw it (admins only)",
    params(
        ("id" = Uuid, Path, description = "The enterprise's id"),
        ("user_id" = Uuid, Path, description = "The member's user id"),
    ),
    request_body = SealUse,
    responses(
        (status = 200, description = "The member after the change", body = Member),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "`not_enterprise_admin`: the caller belongs to the \
            enterprise but is not one of its admins",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`enterprise_not_found` or `member_not_found`",
            body = Problem, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`invalid_input`: a date before today (Beijing time)",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn seal_use(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
    body: web::Json<serde_json::Value>,
) -> Result<web::Json<Member>, ApiError> {
    let (id, member) = path.into_inner();
    let SealUse { until } = parse_body(body.into_inner())?;
    let runtime = &state.runtime;
    let now = runtime.clock().now();
    // Beijing is UTC+08:00 all year (no DST since 1991).
    let today = chrono::FixedOffset::east_opt(8 * 3600)
        .map_or(now.date_naive(), |tz| now.with_timezone(&tz).date_naive());
    if let Some(day) = until
        && day < today
    {
        return Err(ApiError::invalid([FieldProblem::new(
            "until",
            "date_in_past",
            "授权截止日期不能早于今天",
            "until must not be before today (Beijing time)",
        )]));
    }
    let mut conn = db::conn(runtime).await?;
    let mine = roles_of(&mut conn, id, caller.user_id).await?;
    if mine.is_empty() {
        return Err(enterprise_not_found());
    }
    if !mine.iter().any(|r| r.1 == "enterprise_admin") {
        return Err(not_a_manager());
    }
    let changed = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let n = diesel::update(
                memberships::table
                    .filter(memberships::enterprise_id.eq(id))
                    .filter(memberships::user_id.eq(member)),
            )
            .set(memberships::seal_use_until.eq(until))
            .execute(conn)
            .await?;
            Ok(n)
        })
        .await?;
    if changed == 0 {
        return Err(member_not_found());
    }
    tracing::info!(
        enterprise.id = %id,
        member.id = %member,
        by = %caller.user_id,
        until = ?until,
        "seal-use right set"
    );
    let person: Vec<(Uuid, String, Option<String>)> = users::table
        .select((users::id, users::name, users::phone))
        .filter(users::id.eq(member))
        .load(&mut conn)
        .await?;
    with_memberships(&mut conn, id, person)
        .await?
        .pop()
        .map(web::Json)
        .ok_or_else(member_not_found)
}

fn enterprise_columns() -> (
    enterprises::id,
    enterprises::name,
    enterprises::uscc,
    enterprises::kind,
    enterprises::legal_rep_name,
    enterprises::status,
) {
    (
        enterprises::id,
        enterprises::name,
        enterprises::uscc,
        enterprises::kind,
        enterprises::legal_rep_name,
        enterprises::status,
    )
}

fn with_roles(row: EnterpriseRow, roles: &[RoleRow]) -> Enterprise {
    let (id, name, uscc, kind, legal_rep_name, status) = row;
    let mine: Vec<&RoleRow> = roles.iter().filter(|r| r.0 == id).collect();
    Enterprise {
        id,
        name,
        uscc,
        kind,
        legal_rep_name,
        status,
        my_roles: mine.iter().map(|r| r.1.clone()).collect(),
        my_seal_use_until: mine.iter().filter_map(|r| r.2).max(),
    }
}

async fn roles_of(
    conn: &mut diesel_async::AsyncPgConnection,
    enterprise: Uuid,
    user: Uuid,
) -> Result<Vec<RoleRow>, ApiError> {
    Ok(memberships::table
        .select((
            memberships::enterprise_id,
            memberships::role,
            memberships::seal_use_until,
        ))
        .filter(memberships::enterprise_id.eq(enterprise))
        .filter(memberships::user_id.eq(user))
        .order(memberships::role)
        .load(conn)
        .await?)
}

fn not_a_manager() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "not_enterprise_admin",
        "Not an enterprise admin",
        "只有企业管理员可以进行此操作",
        "only the enterprise's admins may do this",
    )
}

fn member_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "member_not_found",
        "Member not found",
        "该用户不是本企业成员",
        "no such member of this enterprise",
    )
}
