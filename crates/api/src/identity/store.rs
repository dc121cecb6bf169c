//! The identity queries: codes, attempts, password lockouts and accounts.
//!
//! Explicit diesel imports only (DEPENDENCIES G6). Races are settled in the database:
//!
//! - Asking for a code takes transaction-scoped advisory locks on the IP and then the phone
//!   (always in that order, so two requests cannot wait on each other), so the resend window
//!   and the daily caps hold under concurrent requests.
//! - Entering a code locks the code's row (`FOR UPDATE`): concurrent wrong tries each count,
//!   and of concurrent right ones exactly one consumes the code.
//! - An attempt is inserted as a failure under an advisory lock on its IP after counting the
//!   IP's failures in the window, so no burst gets past the per-IP limit.
//! - A password try is counted as wrong, in the upsert that refuses a locked phone, before the
//!   password is checked; a right one resets the count. A burst for one phone gets at most
//!   [`Limits::max_password_failures`] checks.

use certdesk_store::schema::{login_attempts, login_codes, password_lockouts, users};
use chrono::{DateTime, TimeDelta, Utc};
use diesel::result::QueryResult;
use diesel::sql_types::{Integer, Text, Timestamptz};
use diesel::{
    BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{CodeKey, Limits, Purpose};
use crate::db::Attempts;

/// Why a code is voided (`login_codes.void_reason`).
const TOO_MANY_TRIES: &str = "too_many_tries";
const SUPERSEDED: &str = "superseded";
const SEND_FAILED: &str = "send_failed";

/// Waits for the transaction-scoped advisory lock named `name`.
async fn advisory_lock(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind::<Text, _>(name)
        .execute(conn)
        .await
        .map(drop)
}

// ---- asking for a code ---------------------------------------------------------------------

/// A code about to be sent.
#[derive(Debug, Clone)]
pub(crate) struct NewCode<'a> {
    pub id: Uuid,
    pub phone: &'a str,
    pub purpose: Purpose,
    pub mac: [u8; 32],
    pub ip: &'a str,
    pub now: DateTime<Utc>,
}

/// What became of a request for a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Requested {
    /// Stored (older live codes of the phone and purpose are void): send it.
    Stored,
    /// The phone had a code less than the resend interval ago.
    TooSoon { retry_at: DateTime<Utc> },
    /// The phone has had its codes for the day.
    PhoneCapReached,
    /// The IP has asked for its codes for the day.
    IpCapReached,
}

/// Stores a new code unless the resend interval or a daily cap forbids it. Codes whose
/// sending failed count for neither the interval nor the phone's cap (nobody received them);
/// they do count for the IP's.
pub(crate) async fn store_code(
    conn: &mut AsyncPgConnection,
    code: &NewCode<'_>,
    limits: &Limits,
    day_start: DateTime<Utc>,
) -> QueryResult<Requested> {
    let code = code.clone();
    let limits = limits.clone();
    conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        advisory_lock(conn, &format!("login_codes:ip:{}", code.ip)).await?;
        advisory_lock(conn, &format!("login_codes:phone:{}", code.phone)).await?;
        let sent = login_codes::void_reason
            .is_null()
            .or(login_codes::void_reason.ne(SEND_FAILED));
        let last: Option<DateTime<Utc>> = login_codes::table
            .filter(login_codes::phone.eq(code.phone))
            .filter(sent)
            .select(diesel::dsl::max(login_codes::created_at))
            .first(conn)
            .await?;
        if let Some(last) = last {
            let retry_at = last + limits.resend_after;
            if retry_at > code.now {
                return Ok(Requested::TooSoon { retry_at });
            }
        }
        let phone_today: i64 = login_codes::table
            .filter(login_codes::phone.eq(code.phone))
            .filter(login_codes::created_at.ge(day_start))
            .filter(
                login_codes::void_reason
                    .is_null()
                    .or(login_codes::void_reason.ne(SEND_FAILED)),
            )
            .count()
            .get_result(conn)
            .await?;
        if phone_today >= limits.daily_codes_per_phone {
            return Ok(Requested::PhoneCapReached);
        }
        let ip_today: i64 = login_codes::table
            .filter(login_codes::requested_ip.eq(code.ip))
            .filter(login_codes::created_at.ge(day_start))
            .count()
            .get_result(conn)
            .await?;
        if ip_today >= limits.daily_codes_per_ip {
            return Ok(Requested::IpCapReached);
        }
        diesel::update(
            login_codes::table
                .filter(login_codes::phone.eq(code.phone))
                .filter(login_codes::purpose.eq(code.purpose.as_str()))
                .filter(login_codes::consumed_at.is_null())
                .filter(login_codes::voided_at.is_null()),
        )
        .set((
            login_codes::voided_at.eq(code.now),
            login_codes::void_reason.eq(SUPERSEDED),
        ))
        .execute(conn)
        .await?;
        diesel::insert_into(login_codes::table)
            .values((
                login_codes::id.eq(code.id),
                login_codes::phone.eq(code.phone),
                login_codes::purpose.eq(code.purpose.as_str()),
                login_codes::code_mac.eq(&code.mac[..]),
                login_codes::requested_ip.eq(code.ip),
                login_codes::created_at.eq(code.now),
                login_codes::expires_at.eq(code.now + limits.code_ttl),
            ))
            .execute(conn)
            .await?;
        Ok(Requested::Stored)
    })
    .await
}

/// Voids a code the gateway did not take.
pub(crate) async fn void_unsent(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(
        login_codes::table
            .filter(login_codes::id.eq(id))
            .filter(login_codes::voided_at.is_null()),
    )
    .set((
        login_codes::voided_at.eq(now),
        login_codes::void_reason.eq(SEND_FAILED),
    ))
    .execute(conn)
    .await
    .map(drop)
}

// ---- entering a code -----------------------------------------------------------------------

/// What an entered code turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeCheck {
    /// Right, and now used up.
    Accepted,
    /// Wrong; this many tries are left.
    Wrong { remaining: i32 },
    /// Void after too many wrong tries (this one may have been the last).
    Voided,
    /// Past its validity.
    Expired,
    /// No usable code: none was sent, it was used, or a newer one replaced it.
    Missing,
}

/// Checks `code` against the newest code of `phone` and `purpose`, counting a wrong try and
/// consuming a right one. Run it inside the transaction that acts on an accepted code, so the
/// code is used exactly when that action commits.
pub(crate) async fn check_code(
    conn: &mut AsyncPgConnection,
    key: &CodeKey,
    purpose: Purpose,
    phone: &str,
    code: &str,
    now: DateTime<Utc>,
    max_tries: i32,
) -> QueryResult<CodeCheck> {
    type Row = (
        Uuid,
        Vec<u8>,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
        Option<String>,
    );
    let row: Option<Row> = login_codes::table
        .filter(login_codes::phone.eq(phone))
        .filter(login_codes::purpose.eq(purpose.as_str()))
        .order((login_codes::created_at.desc(), login_codes::id.desc()))
        .select((
            login_codes::id,
            login_codes::code_mac,
            login_codes::expires_at,
            login_codes::consumed_at,
            login_codes::void_reason,
        ))
        .for_update()
        .first(conn)
        .await
        .optional()?;
    let Some((id, mac, expires_at, consumed_at, void_reason)) = row else {
        return Ok(CodeCheck::Missing);
    };
    if consumed_at.is_some() {
        return Ok(CodeCheck::Missing);
    }
    match void_reason.as_deref() {
        Some(TOO_MANY_TRIES) => return Ok(CodeCheck::Voided),
        Some(_) => return Ok(CodeCheck::Missing),
        None => {}
    }
    if expires_at <= now {
        return Ok(CodeCheck::Expired);
    }
    if key.code_matches(purpose, phone, code, &mac) {
        diesel::update(login_codes::table.filter(login_codes::id.eq(id)))
            .set(login_codes::consumed_at.eq(now))
            .execute(conn)
            .await?;
        return Ok(CodeCheck::Accepted);
    }
    #[derive(diesel::QueryableByName)]
    struct Tries {
        #[diesel(sql_type = Integer)]
        failed_tries: i32,
    }
    let tries: Tries = diesel::sql_query(
        "UPDATE login_codes SET \
             failed_tries = failed_tries + 1, \
             voided_at = CASE WHEN failed_tries + 1 >= $2 THEN $3 END, \
             void_reason = CASE WHEN failed_tries + 1 >= $2 THEN 'too_many_tries' END \
         WHERE id = $1 \
         RETURNING failed_tries",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<Integer, _>(max_tries)
    .bind::<Timestamptz, _>(now)
    .get_result(conn)
    .await?;
    Ok(if tries.failed_tries >= max_tries {
        CodeCheck::Voided
    } else {
        CodeCheck::Wrong {
            remaining: max_tries - tries.failed_tries,
        }
    })
}

// ---- the per-IP limit ----------------------------------------------------------------------

/// What a code entry or password attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttemptKind {
    Code,
    Password,
}

impl AttemptKind {
    fn as_str(self) -> &'static str {
        match self {
            AttemptKind::Code => "code",
            AttemptKind::Password => "password",
        }
    }
}

/// Whether an attempt may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// Recorded (as a failure until [`attempt_succeeded`]); go ahead.
    Started(Uuid),
    /// The IP has had its failures for the window; the next one is allowed at `retry_at`.
    Limited { retry_at: DateTime<Utc> },
}

/// Records an attempt from `ip`, unless the IP already failed [`Limits::ip_failures`] times in
/// the last [`Limits::ip_window`].
pub(crate) async fn begin_attempt(
    conn: &mut AsyncPgConnection,
    ip: &str,
    phone: &str,
    kind: AttemptKind,
    now: DateTime<Utc>,
    limits: &Limits,
) -> QueryResult<Attempt> {
    let (ip, phone) = (ip.to_owned(), phone.to_owned());
    let (limit, window) = (limits.ip_failures, limits.ip_window);
    conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        advisory_lock(conn, &format!("login_attempts:ip:{ip}")).await?;
        let failed = || {
            login_attempts::table
                .filter(login_attempts::ip.eq(ip.clone()))
                .filter(login_attempts::ok.eq(false))
                .filter(login_attempts::at.gt(now - window))
        };
        let n: i64 = failed().count().get_result(conn).await?;
        if n >= limit {
            // The window admits one more when all but limit - 1 of these have aged out.
            let frees: DateTime<Utc> = failed()
                .select(login_attempts::at)
                .order(login_attempts::at.asc())
                .offset(n - limit)
                .first(conn)
                .await?;
            return Ok(Attempt::Limited {
                retry_at: frees + window,
            });
        }
        let id = Uuid::new_v4();
        diesel::insert_into(login_attempts::table)
            .values((
                login_attempts::id.eq(id),
                login_attempts::ip.eq(&ip),
                login_attempts::phone.eq(&phone),
                login_attempts::kind.eq(kind.as_str()),
                login_attempts::ok.eq(false),
                login_attempts::at.eq(now),
            ))
            .execute(conn)
            .await?;
        Ok(Attempt::Started(id))
    })
    .await
}

/// Marks an attempt as a success: it no longer counts against its IP.
pub(crate) async fn attempt_succeeded(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(login_attempts::table.filter(login_attempts::id.eq(id)))
        .set(login_attempts::ok.eq(true))
        .execute(conn)
        .await
        .map(drop)
}

// ---- password lockout ----------------------------------------------------------------------

/// Whether a password may be checked for a phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasswordTry {
    /// Counted as wrong until a right password resets the count: this is the `failures`-th
    /// try in a row, and `locked_until` is set when it is the last one allowed.
    Allowed {
        failures: i32,
        locked_until: Option<DateTime<Utc>>,
    },
    /// Locked until then; nothing is checked.
    Locked { until: DateTime<Utc> },
}

/// Counts a password try as wrong *before* it is checked, in one statement, unless the phone is
/// locked. Concurrent tries are serialised on the phone's row, so however many arrive at once
/// at most `max` are checked per lock period; the `max`-th locks the phone for `lock` (a right
/// password then resets it). A lock that has run out starts the count again.
pub(crate) async fn reserve_password_try(
    conn: &mut AsyncPgConnection,
    phone: &str,
    now: DateTime<Utc>,
    max: i32,
    lock: TimeDelta,
) -> QueryResult<PasswordTry> {
    let counted: Option<Attempts> = diesel::sql_query(
        "INSERT INTO password_lockouts AS p (phone, failures, locked_until, updated_at) \
         VALUES ($1, 1, CASE WHEN 1 >= $3 THEN $4 END, $2) \
         ON CONFLICT (phone) DO UPDATE SET \
             failures = CASE WHEN p.locked_until <= $2 THEN 1 ELSE p.failures + 1 END, \
             locked_until = CASE \
                 WHEN (CASE WHEN p.locked_until <= $2 THEN 1 ELSE p.failures + 1 END) >= $3 \
                 THEN $4 END, \
             updated_at = $2 \
         WHERE p.locked_until IS NULL OR p.locked_until <= $2 \
         RETURNING failures, locked_until",
    )
    .bind::<Text, _>(phone)
    .bind::<Timestamptz, _>(now)
    .bind::<Integer, _>(max)
    .bind::<Timestamptz, _>(now + lock)
    .get_result(conn)
    .await
    .optional()?;
    if let Some(a) = counted {
        return Ok(PasswordTry::Allowed {
            failures: a.failures,
            locked_until: a.locked_until,
        });
    }
    // Locked: the row exists and its lock has not run out.
    let until: Option<DateTime<Utc>> = password_lockouts::table
        .select(password_lockouts::locked_until)
        .filter(password_lockouts::phone.eq(phone))
        .first(conn)
        .await?;
    Ok(PasswordTry::Locked {
        until: until.unwrap_or(now + lock),
    })
}

/// Forgets a phone's wrong passwords (after a right one, or a new password).
pub(crate) async fn reset_password_failures(
    conn: &mut AsyncPgConnection,
    phone: &str,
) -> QueryResult<()> {
    diesel::delete(password_lockouts::table.filter(password_lockouts::phone.eq(phone)))
        .execute(conn)
        .await
        .map(drop)
}

// ---- accounts ------------------------------------------------------------------------------

/// A user as the identity endpoints see one.
#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub(crate) struct Account {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub phone: Option<String>,
    pub password_hash: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Account {
    /// Whether this is an applicant (staff sign in to the console, not here).
    pub fn is_applicant(&self) -> bool {
        self.kind == "applicant"
    }
}

/// The user with this phone (11 national digits).
pub(crate) async fn account_by_phone(
    conn: &mut AsyncPgConnection,
    phone: &str,
) -> QueryResult<Option<Account>> {
    users::table
        .select(Account::as_select())
        .filter(users::phone.eq(phone))
        .first(conn)
        .await
        .optional()
}

/// The user with this id.
pub(crate) async fn account(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<Account>> {
    users::table
        .select(Account::as_select())
        .find(id)
        .first(conn)
        .await
        .optional()
}

/// The applicant with this phone, registered now if there is none; true when registered.
pub(crate) async fn account_or_register(
    conn: &mut AsyncPgConnection,
    phone: &str,
    now: DateTime<Utc>,
) -> QueryResult<(Account, bool)> {
    if let Some(found) = account_by_phone(conn, phone).await? {
        return Ok((found, false));
    }
    // No name until real-name verification gives one.
    let inserted = diesel::insert_into(users::table)
        .values((
            users::id.eq(Uuid::new_v4()),
            users::kind.eq("applicant"),
            users::name.eq(""),
            users::phone.eq(phone),
            users::created_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    let account = account_by_phone(conn, phone)
        .await?
        .ok_or(diesel::result::Error::NotFound)?;
    Ok((account, inserted > 0))
}

/// Stores a new password hash.
pub(crate) async fn set_password_hash(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    hash: &str,
) -> QueryResult<()> {
    diesel::update(users::table.find(user))
        .set(users::password_hash.eq(hash))
        .execute(conn)
        .await
        .map(drop)
}
