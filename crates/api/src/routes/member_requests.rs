//! What leave requests (退出企业) and admin transfers (管理员转授) share: two chains an
//! enterprise's own people start and decide, read, listed a page at a time, decided and
//! withdrawn exactly as join requests are (`join_requests.rs`).
//!
//! Who sees what: the requester sees their own request; the enterprise's admins and its legal
//! representative see all of the enterprise's. Anyone else gets 404, as if the request did not
//! exist, except a member of the same enterprise who tries to decide: the engine answers them
//! 403 `not_assignee`, which tells them nothing they could not see in the app.
//!
//! Lists are newest first and paged by an opaque cursor (`?cursor=…&limit=…`, 1–100, default
//! 20): the cursor is the (time, id) of the last item handed out, so a page never repeats or
//! skips an item when new requests arrive meanwhile.

use certdesk_engine::{Definition, StepError};
use certdesk_runtime::{Command, RuntimeError};
use certdesk_store::schema::{instances, memberships, tasks, users};
use chrono::{DateTime, Utc};
use diesel::{
    BoolExpressionMethods, ExpressionMethods, JoinOnDsl, NullableExpressionMethods,
    OptionalExtension, QueryDsl, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::enterprises::enterprise_not_found;
use super::join_requests::{
    Decided, DecisionBody, EnterpriseRef, HistoryItem, Person, state_title, task_not_open,
};
use crate::db::{self, JoinRequest as InstanceRow};
use crate::extract::parse_body;
use crate::mask::{mask_form, mask_phone};
use crate::page::{self, StateListQuery};
use crate::problem::{ApiError, FieldProblem};
use crate::{ApiState, Caller};

/// The leave-enterprise workflow (`workflows/leave_enterprise.toml`).
pub(crate) const LEAVE: &str = "leave_enterprise";
/// The admin-transfer workflow (`workflows/admin_transfer.toml`).
pub(crate) const TRANSFER: &str = "admin_transfer";

/// The names one chain answers with.
pub(crate) struct Chain {
    /// Its workflow definition.
    pub definition: &'static str,
    /// Where its requests live (`/api/v1/leave-requests`).
    pub base: &'static str,
    /// The problem code for an id that is not one of its requests (or not visible).
    pub not_found_code: &'static str,
    /// What a request is called, in Chinese.
    pub noun_zh: &'static str,
    /// What a request is called, in English.
    pub noun_en: &'static str,
}

impl Chain {
    /// No such request, or the caller may not see it.
    pub(crate) fn not_found(&self) -> ApiError {
        ApiError::not_found(
            self.not_found_code,
            format!("{}不存在", self.noun_zh),
            format!("no such {}", self.noun_en),
        )
    }

    /// The chain's definition, as loaded.
    pub(crate) fn definition<'s>(&self, state: &'s ApiState) -> Result<&'s Definition, ApiError> {
        state
            .runtime
            .definition(self.definition)
            .map(AsRef::as_ref)
            .ok_or_else(|| {
                ApiError::internal(format!("the {} definition is not loaded", self.definition))
            })
    }
}

/// A request as its requester and the enterprise's reviewers see it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MemberRequest {
    /// Its id.
    id: Uuid,
    /// The enterprise it is about.
    enterprise: Option<EnterpriseRef>,
    /// Who asked.
    requester: Option<Person>,
    /// Whom the admin role goes to (admin transfers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<Person>,
    /// The workflow state (`admin_review`, `left`, `legal_rep_review`, `transferred`, …).
    state: String,
    /// The state's title, for display.
    state_title: Option<String>,
    /// `running` or `finished`.
    status: String,
    /// When it was submitted.
    created_at: DateTime<Utc>,
    /// When it last changed.
    updated_at: DateTime<Utc>,
    /// The open review task, while the request waits for a decision.
    task_id: Option<Uuid>,
    /// The form as submitted, phones and identity numbers masked.
    #[schema(value_type = Object)]
    form: Value,
    /// What happened to it, oldest first (in the detail only, not in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<Vec<HistoryItem>>,
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MemberRequestPage {
    /// Newest first.
    items: Vec<MemberRequest>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// How the caller stands to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// They asked.
    Requester,
    /// An admin or the legal representative of its enterprise.
    Reviewer,
    /// Another member of its enterprise: sees nothing, but is told 403 on deciding.
    Member,
}

/// The roles `user` holds in `enterprise` (empty for an outsider).
pub(crate) async fn roles(
    conn: &mut AsyncPgConnection,
    enterprise: Uuid,
    user: Uuid,
) -> Result<Vec<String>, ApiError> {
    Ok(db::roles(conn, enterprise, user).await?)
}

/// How many people hold `role` in `enterprise`, `except` one.
pub(crate) async fn count_role(
    conn: &mut AsyncPgConnection,
    enterprise: Uuid,
    role: &str,
    except: Uuid,
) -> Result<i64, ApiError> {
    Ok(memberships::table
        .filter(memberships::enterprise_id.eq(enterprise))
        .filter(memberships::role.eq(role.to_owned()))
        .filter(memberships::user_id.ne(except))
        .count()
        .get_result(conn)
        .await?)
}

/// The caller's running request of this chain in this enterprise, if any.
pub(crate) async fn open_request(
    conn: &mut AsyncPgConnection,
    chain: &Chain,
    requester: Uuid,
    enterprise: Uuid,
) -> Result<Option<Uuid>, ApiError> {
    Ok(instances::table
        .select(instances::id)
        .filter(instances::definition.eq(chain.definition))
        .filter(instances::requester.eq(requester))
        .filter(instances::subject_id.eq(enterprise))
        .filter(instances::status.eq("running"))
        .first(conn)
        .await
        .optional()?)
}

async fn load(
    conn: &mut AsyncPgConnection,
    chain: &Chain,
    id: Uuid,
) -> Result<Option<InstanceRow>, ApiError> {
    Ok(instances::table
        .select(InstanceRow::as_select())
        .filter(instances::definition.eq(chain.definition))
        .find(id)
        .first(conn)
        .await
        .optional()?)
}

/// The request and how the caller stands to it; 404 to anyone outside its enterprise, exactly
/// as if it did not exist.
pub(crate) async fn access(
    conn: &mut AsyncPgConnection,
    chain: &Chain,
    id: Uuid,
    caller: Caller,
) -> Result<(InstanceRow, Access), ApiError> {
    let request = load(conn, chain, id)
        .await?
        .ok_or_else(|| chain.not_found())?;
    if request.requester == caller.user_id {
        return Ok((request, Access::Requester));
    }
    let Some(enterprise) = request.subject_id else {
        return Err(chain.not_found());
    };
    let mine = roles(conn, enterprise, caller.user_id).await?;
    if mine
        .iter()
        .any(|r| db::REVIEWER_ROLES.contains(&r.as_str()))
    {
        Ok((request, Access::Reviewer))
    } else if mine.is_empty() {
        Err(chain.not_found())
    } else {
        Ok((request, Access::Member))
    }
}

/// The request if the caller is its requester or a reviewer; 404 otherwise.
async fn visible(
    conn: &mut AsyncPgConnection,
    chain: &Chain,
    id: Uuid,
    caller: Caller,
) -> Result<InstanceRow, ApiError> {
    match access(conn, chain, id, caller).await? {
        (request, Access::Requester | Access::Reviewer) => Ok(request),
        (_, Access::Member) => Err(chain.not_found()),
    }
}

async fn person(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<Person>, ApiError> {
    Ok(db::user_name_phone(conn, id)
        .await?
        .map(|(name, phone)| Person {
            id,
            name,
            phone: phone.as_deref().map(mask_phone),
        }))
}

/// The target of an admin transfer, from its form.
pub(crate) fn target_of(data: &Value) -> Option<Uuid> {
    data.get("target_user_id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
}

async fn view(
    conn: &mut AsyncPgConnection,
    def: &Definition,
    request: InstanceRow,
    task_id: Option<Uuid>,
    with_history: bool,
) -> Result<MemberRequest, ApiError> {
    let enterprise = match request.subject_id {
        Some(id) => db::enterprise(conn, id).await?.map(|e| EnterpriseRef {
            id: e.id,
            name: e.name,
        }),
        None => None,
    };
    let requester = person(conn, request.requester).await?;
    let target = match target_of(&request.data) {
        Some(t) => person(conn, t).await?,
        None => None,
    };
    let history = if with_history {
        Some(
            db::history(conn, request.id)
                .await?
                .into_iter()
                .map(HistoryItem::from)
                .collect(),
        )
    } else {
        None
    };
    Ok(MemberRequest {
        id: request.id,
        enterprise,
        requester,
        target,
        state_title: state_title(def, &request.state),
        state: request.state,
        status: request.status,
        created_at: request.created_at,
        updated_at: request.updated_at,
        task_id,
        form: mask_form(&def.form, &request.data),
        history,
    })
}

/// `GET …/{id}`.
pub(crate) async fn detail(
    state: &ApiState,
    chain: &Chain,
    caller: Caller,
    id: Uuid,
) -> Result<MemberRequest, ApiError> {
    let def = chain.definition(state)?;
    let mut conn = db::conn(&state.runtime).await?;
    let request = visible(&mut conn, chain, id, caller).await?;
    let task_id = db::open_task(&mut conn, request.id).await?;
    view(&mut conn, def, request, task_id, true).await
}

/// `GET /api/v1/enterprises/{id}/…`: the enterprise's requests for its reviewers, the caller's
/// own for any other member; 404 to outsiders.
pub(crate) async fn list(
    state: &ApiState,
    chain: &Chain,
    caller: Caller,
    enterprise: Uuid,
    query: StateListQuery,
) -> Result<MemberRequestPage, ApiError> {
    let def = chain.definition(state)?;
    let mut conn = db::conn(&state.runtime).await?;
    let mine = roles(&mut conn, enterprise, caller.user_id).await?;
    if mine.is_empty() {
        return Err(enterprise_not_found());
    }
    let reviewer = mine
        .iter()
        .any(|r| db::REVIEWER_ROLES.contains(&r.as_str()));
    let (wanted, page) = query.check::<(DateTime<Utc>, Uuid)>(def, chain.definition)?;

    let mut query = instances::table
        .left_join(
            tasks::table.on(tasks::instance_id
                .eq(instances::id)
                .and(tasks::status.eq("open"))),
        )
        .select((InstanceRow::as_select(), tasks::id.nullable()))
        .filter(instances::definition.eq(chain.definition))
        .filter(instances::subject_id.eq(enterprise))
        .order((instances::created_at.desc(), instances::id.desc()))
        .limit(page.fetch())
        .into_boxed();
    if !reviewer {
        query = query.filter(instances::requester.eq(caller.user_id));
    }
    if let Some(s) = wanted {
        query = query.filter(instances::state.eq(s));
    }
    if let Some((at, id)) = page.after {
        query = query.filter(
            instances::created_at
                .lt(at)
                .or(instances::created_at.eq(at).and(instances::id.lt(id))),
        );
    }
    let rows: Vec<(InstanceRow, Option<Uuid>)> = query.load(&mut conn).await?;
    let (rows, next_cursor) = page::cut(chain.definition, rows, page.limit, |(r, _)| {
        (r.created_at, r.id)
    });
    let mut items = Vec::with_capacity(rows.len());
    for (row, task_id) in rows {
        items.push(view(&mut conn, def, row, task_id, false).await?);
    }
    Ok(MemberRequestPage { items, next_cursor })
}

/// A chain's own rules on approving, checked before the runtime sees the decision: the last
/// admin cannot be let go (`last_admin`), and the admin role cannot go to someone who has left
/// meanwhile (`target_not_member`). A race past these checks is settled by the actions
/// themselves (`crates/runtime/src/actions.rs`).
async fn approval_rules(
    conn: &mut AsyncPgConnection,
    chain: &Chain,
    request: &InstanceRow,
    outcome: &str,
) -> Result<(), ApiError> {
    let Some(enterprise) = request.subject_id else {
        return Ok(());
    };
    if outcome != "approve" {
        return Ok(());
    }
    match chain.definition {
        LEAVE => {
            let theirs = roles(conn, enterprise, request.requester).await?;
            if theirs.iter().any(|r| r == "enterprise_admin")
                && count_role(conn, enterprise, "enterprise_admin", request.requester).await? == 0
            {
                return Err(last_admin());
            }
        }
        TRANSFER => {
            let target = target_of(&request.data);
            let belongs = match target {
                Some(t) => !roles(conn, enterprise, t).await?.is_empty(),
                None => false,
            };
            if !belongs {
                return Err(ApiError::conflict(
                    "target_not_member",
                    "Target no longer a member",
                    "被转授人已不是本企业成员，无法转授；请拒绝此申请",
                    "the person the admin role would go to no longer belongs to the enterprise; reject this request",
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The last admin may not leave: the role must be handed over first.
pub(crate) fn last_admin() -> ApiError {
    ApiError::conflict(
        "last_admin",
        "Last admin",
        "您是该企业唯一的管理员，请先通过「管理员转授」将管理员身份转给其他成员，再申请退出",
        "this is the enterprise's only administrator: hand the admin role to another member (admin transfer) before leaving",
    )
    .with_extension("hint", "admin_transfer")
}

/// `POST …/{id}/decision`. Of two deciding at once, one gets 200 and the other 409.
pub(crate) async fn decide(
    state: &ApiState,
    chain: &Chain,
    caller: Caller,
    id: Uuid,
    body: Value,
) -> Result<Decided, ApiError> {
    let body: DecisionBody = parse_body(body)?;
    let Some(outcome) = body
        .outcome
        .map(|o| o.trim().to_owned())
        .filter(|o| !o.is_empty())
    else {
        return Err(ApiError::invalid([FieldProblem::new(
            "outcome",
            "required",
            "请选择审批结果（同意或拒绝）",
            "outcome is required: approve or reject",
        )]));
    };
    let runtime = &state.runtime;
    let mut conn = db::conn(runtime).await?;
    let (request, _) = access(&mut conn, chain, id, caller).await?;
    let Some(task_id) = db::open_task(&mut conn, request.id).await? else {
        return Err(task_not_open());
    };
    // The chain's own checks come after the engine's rules on who may decide: a member who
    // may not decide must not learn more from a chain's refusal.
    if request.requester != caller.user_id
        && let Some(enterprise) = request.subject_id
        && roles(&mut conn, enterprise, caller.user_id)
            .await?
            .iter()
            .any(|r| db::REVIEWER_ROLES.contains(&r.as_str()))
    {
        approval_rules(&mut conn, chain, &request, &outcome).await?;
    }
    drop(conn);
    let command = Command::Decide {
        task_id,
        actor: caller.user_id,
        outcome,
        reason: body.reason.filter(|s| !s.trim().is_empty()),
        comment: body.comment.filter(|s| !s.trim().is_empty()),
    };
    match runtime.command(request.id, command).await {
        Ok(_) => outcome_of(state, request.id).await,
        // Another decider got there between our read of the task and the runtime's lock.
        Err(RuntimeError::Step(
            StepError::Finished | StepError::NotAccepted { .. } | StepError::Stale(_),
        )) => Err(task_not_open()),
        Err(e) => Err(e.into()),
    }
}

/// `POST …/{id}/withdraw`: the requester takes the request back.
pub(crate) async fn withdraw(
    state: &ApiState,
    chain: &Chain,
    caller: Caller,
    id: Uuid,
) -> Result<Decided, ApiError> {
    let runtime = &state.runtime;
    let mut conn = db::conn(runtime).await?;
    let request = visible(&mut conn, chain, id, caller).await?;
    drop(conn);
    runtime
        .command(
            request.id,
            Command::Withdraw {
                actor: caller.user_id,
            },
        )
        .await?;
    outcome_of(state, request.id).await
}

async fn outcome_of(state: &ApiState, id: Uuid) -> Result<Decided, ApiError> {
    let mut conn = db::conn(&state.runtime).await?;
    let (state, status) = db::state_and_status(&mut conn, id).await?;
    Ok(Decided { id, state, status })
}

/// The real-name status of a user (`none`, `verified`, …), if the user exists.
pub(crate) async fn real_name_status(
    conn: &mut AsyncPgConnection,
    user: Uuid,
) -> Result<Option<String>, ApiError> {
    Ok(users::table
        .select(users::real_name_status)
        .find(user)
        .first(conn)
        .await
        .optional()?)
}
