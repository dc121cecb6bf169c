//! Staff accounts: creating one (`certdesk staff add`), the demo accounts' known credentials,
//! and checking a sign-in (password AND a fresh TOTP code, with lockout).
//!
//! The password is `users.password_hash`, hashed exactly as applicants' are
//! ([`certdesk_api::identity::password`], argon2id on the blocking pool). The TOTP secret, the
//! last accepted time step and the failure count live in `staff_credentials`.
//!
//! Lockout: a try is counted *before* it is checked, so concurrent guesses cannot outrun the
//! limit; the try that would exceed [`Policy::max_failures`] is refused unchecked and locks the
//! account for [`Policy::lockout`]. Every refusal answers the same, whether the account is
//! unknown, locked, the password wrong, or the code wrong or replayed: the sign-in page says
//! nothing about which.

use certdesk_api::identity::password;
use certdesk_domain::ident::{Email, Phone};
use certdesk_store::schema::{staff_credentials, staff_roles, users};
use chrono::{DateTime, TimeDelta, Utc};
use diesel::{BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::totp;

/// The staff roles (DECISIONS 5); each is also the staff group workflow definitions name.
pub const ROLES: [&str; 5] = [
    "cs_reviewer",
    "finance",
    "finance_lead",
    "supervisor",
    "sys_admin",
];

/// The password every demo staff account signs in with (`certdesk demo`; README).
pub const DEMO_PASSWORD: &str = "demo-staff-2026";

/// Issuer shown in authenticator apps.
pub const ISSUER: &str = "certdesk";

/// Sign-in limits.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failed sign-ins in a row that lock an account.
    pub max_failures: i32,
    /// How long a lock lasts.
    pub lockout: TimeDelta,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            lockout: TimeDelta::minutes(15),
        }
    }
}

/// What went wrong outside the user's control.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    /// A pool connection could not be had.
    #[error("database pool: {0}")]
    Pool(String),
    /// Hashing failed (the random number generator).
    #[error("hashing: {0}")]
    Hash(String),
    /// A value given to `staff add` / `staff totp` is unusable.
    #[error("{0}")]
    Invalid(String),
}

/// The outcome of a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    /// Password and code are right, and the code had not been used.
    Accepted {
        /// Who signed in.
        user_id: Uuid,
        /// The password was printed by `staff add` and must be replaced first.
        must_change_password: bool,
    },
    /// Anything else (unknown, locked, wrong password, wrong or replayed code).
    Refused,
}

/// A new account as `staff add` prints it.
#[derive(Debug, Clone)]
pub struct NewStaff {
    /// The user id.
    pub user_id: Uuid,
    /// The one-time password (to be replaced at the first sign-in).
    pub password: String,
    /// The otpauth:// URI for the authenticator app.
    pub otpauth_uri: String,
    /// The TOTP secret the URI carries.
    pub secret: Vec<u8>,
}

/// A staff account looked up by phone or e-mail.
#[derive(Debug, Clone)]
struct Account {
    id: Uuid,
    password_hash: Option<String>,
    secret: Vec<u8>,
    is_demo: bool,
}

async fn find(conn: &mut AsyncPgConnection, login: &str) -> Result<Option<Account>, StaffError> {
    let login = login.trim();
    let phone = Phone::parse(login).ok().map(|p| p.as_str().to_owned());
    let email = login.to_lowercase();
    let by_login = match phone {
        Some(p) => users::phone.eq(p).or(users::email.eq(email.clone())),
        None => users::phone
            .eq(login.to_owned())
            .or(users::email.eq(email.clone())),
    };
    let row = users::table
        .inner_join(staff_credentials::table)
        .filter(users::kind.eq("staff"))
        // A disabled account is refused like an unknown one.
        .filter(staff_credentials::disabled_at.is_null())
        .filter(by_login)
        .select((
            users::id,
            users::password_hash,
            staff_credentials::totp_secret,
            users::is_demo,
        ))
        .first::<(Uuid, Option<String>, Vec<u8>, bool)>(conn)
        .await
        .optional()?;
    Ok(row.map(|(id, password_hash, secret, is_demo)| Account {
        id,
        password_hash,
        secret,
        is_demo,
    }))
}

async fn verify_password(password: String, stored: Option<String>) -> bool {
    actix_web::web::block(move || password::verify(&password, stored.as_deref()))
        .await
        .unwrap_or(false)
}

/// Checks a sign-in by phone or e-mail, password and TOTP code at `now`.
///
/// # Errors
///
/// Only on database failure; every refusal is `Ok(SignIn::Refused)`.
pub async fn sign_in(
    conn: &mut AsyncPgConnection,
    login: &str,
    password_given: &str,
    code: &str,
    now: DateTime<Utc>,
    policy: Policy,
) -> Result<SignIn, StaffError> {
    let Some(account) = find(conn, login).await? else {
        // Take as long as a real check.
        verify_password(password_given.to_owned(), None).await;
        return Ok(SignIn::Refused);
    };
    // Count the try first (not while locked).
    let tries: Option<i32> = diesel::update(staff_credentials::table.find(account.id))
        .filter(
            staff_credentials::locked_until
                .is_null()
                .or(staff_credentials::locked_until.le(now)),
        )
        .set((
            staff_credentials::failures.eq(staff_credentials::failures + 1),
            staff_credentials::locked_until.eq(None::<DateTime<Utc>>),
            staff_credentials::updated_at.eq(now),
        ))
        .returning(staff_credentials::failures)
        .get_result(conn)
        .await
        .optional()?;
    let Some(tries) = tries else {
        tracing::info!(user.id = %account.id, "staff sign-in refused: locked");
        return Ok(SignIn::Refused);
    };
    if tries > policy.max_failures {
        lock(conn, account.id, now, policy).await?;
        tracing::warn!(user.id = %account.id, "staff sign-in refused: too many failures, locked");
        return Ok(SignIn::Refused);
    }
    let password_ok =
        verify_password(password_given.to_owned(), account.password_hash.clone()).await;
    let step = totp::matching_step(&account.secret, code, now);
    let accepted = match (password_ok, step) {
        (true, Some(step)) => {
            // The step must be newer than the last one accepted: a code works once.
            diesel::update(staff_credentials::table.find(account.id))
                .filter(
                    staff_credentials::totp_last_step
                        .is_null()
                        .or(staff_credentials::totp_last_step.lt(step)),
                )
                .set((
                    staff_credentials::totp_last_step.eq(step),
                    staff_credentials::failures.eq(0),
                    staff_credentials::updated_at.eq(now),
                ))
                .returning(staff_credentials::must_change_password)
                .get_result::<bool>(conn)
                .await
                .optional()?
        }
        _ => None,
    };
    match accepted {
        Some(must_change_password) => Ok(SignIn::Accepted {
            user_id: account.id,
            must_change_password,
        }),
        None => {
            if tries >= policy.max_failures {
                lock(conn, account.id, now, policy).await?;
            }
            tracing::info!(
                user.id = %account.id,
                password_ok,
                code_ok = step.is_some(),
                "staff sign-in refused"
            );
            Ok(SignIn::Refused)
        }
    }
}

async fn lock(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    now: DateTime<Utc>,
    policy: Policy,
) -> Result<(), StaffError> {
    diesel::update(staff_credentials::table.find(user))
        .set((
            staff_credentials::failures.eq(0),
            staff_credentials::locked_until.eq(now + policy.lockout),
            staff_credentials::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Replaces a staff member's password (after checking the rules) and clears the must-change flag.
///
/// # Errors
///
/// [`StaffError::Invalid`] with the rule's Chinese message when the password breaks one.
pub async fn change_password(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    new_password: &str,
    now: DateTime<Utc>,
) -> Result<(), StaffError> {
    password::check_rules("new_password", new_password)
        .map_err(|p| StaffError::Invalid(p.message_zh))?;
    let given = new_password.to_owned();
    let hash = actix_web::web::block(move || password::hash(&given))
        .await
        .map_err(|e| StaffError::Hash(e.to_string()))?
        .map_err(|e| StaffError::Hash(e.to_string()))?;
    conn.transaction::<_, StaffError, _>(async move |conn| {
        diesel::update(users::table.find(user))
            .set(users::password_hash.eq(hash))
            .execute(conn)
            .await?;
        diesel::update(staff_credentials::table.find(user))
            .set((
                staff_credentials::must_change_password.eq(false),
                staff_credentials::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
    .await
}

/// A one-time password: 16 characters of lowercase letters and digits, with both.
fn one_time_password() -> Result<String, StaffError> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    loop {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| StaffError::Hash(e.to_string()))?;
        let candidate: String = bytes
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
            .collect();
        if password::check_rules("password", &candidate).is_ok() {
            return Ok(candidate);
        }
    }
}

/// Creates a staff account with `roles`, a one-time password and a new TOTP secret.
///
/// # Errors
///
/// [`StaffError::Invalid`] for a bad phone, e-mail or role, neither phone nor e-mail, or a phone
/// or e-mail that is taken.
pub async fn add(
    conn: &mut AsyncPgConnection,
    name: &str,
    phone: Option<&str>,
    email: Option<&str>,
    roles: &[String],
    now: DateTime<Utc>,
) -> Result<NewStaff, StaffError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(StaffError::Invalid("--name is empty".into()));
    }
    let phone = phone
        .map(|p| {
            Phone::parse(p).map_err(|_| {
                StaffError::Invalid(format!("--phone {p:?} is not a mainland mobile number"))
            })
        })
        .transpose()?;
    let email = email
        .map(|e| {
            Email::parse(e)
                .map_err(|_| StaffError::Invalid(format!("--email {e:?} is not an e-mail address")))
        })
        .transpose()?;
    if phone.is_none() && email.is_none() {
        return Err(StaffError::Invalid(
            "give --phone or --email (what the person signs in with)".into(),
        ));
    }
    if roles.is_empty() {
        return Err(StaffError::Invalid(format!(
            "give at least one --role ({})",
            ROLES.join(", ")
        )));
    }
    if let Some(bad) = roles.iter().find(|r| !ROLES.contains(&r.as_str())) {
        return Err(StaffError::Invalid(format!(
            "unknown role {bad:?}; roles are {}",
            ROLES.join(", ")
        )));
    }
    let password = one_time_password()?;
    let given = password.clone();
    let hash = actix_web::web::block(move || password::hash(&given))
        .await
        .map_err(|e| StaffError::Hash(e.to_string()))?
        .map_err(|e| StaffError::Hash(e.to_string()))?;
    let secret = totp::generate_secret().map_err(|e| StaffError::Hash(e.to_string()))?;
    let user_id = Uuid::now_v7();
    let account = email
        .as_ref()
        .map(|e| e.as_str().to_lowercase())
        .or_else(|| phone.as_ref().map(|p| p.as_str().to_owned()))
        .unwrap_or_default();
    let phone_text = phone.as_ref().map(|p| p.as_str().to_owned());
    let email_text = email.as_ref().map(|e| e.as_str().to_lowercase());
    let taken = users::table
        .filter(
            users::phone
                .eq(phone_text.clone().unwrap_or_default())
                .or(users::email.eq(email_text.clone().unwrap_or_default())),
        )
        .count()
        .get_result::<i64>(conn)
        .await?;
    if taken > 0 {
        return Err(StaffError::Invalid(
            "a user with this phone or e-mail exists already".into(),
        ));
    }
    let secret_row = secret.clone();
    let roles = roles.to_vec();
    let name = name.to_owned();
    conn.transaction::<_, StaffError, _>(async move |conn| {
        diesel::insert_into(users::table)
            .values((
                users::id.eq(user_id),
                users::kind.eq("staff"),
                users::name.eq(name),
                users::phone.eq(phone_text),
                users::email.eq(email_text),
                users::password_hash.eq(hash),
                users::created_at.eq(now),
            ))
            .execute(conn)
            .await?;
        for role in &roles {
            diesel::insert_into(staff_roles::table)
                .values((staff_roles::user_id.eq(user_id), staff_roles::role.eq(role)))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
        }
        diesel::insert_into(staff_credentials::table)
            .values((
                staff_credentials::user_id.eq(user_id),
                staff_credentials::totp_secret.eq(secret_row),
                staff_credentials::must_change_password.eq(true),
                staff_credentials::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
    .await?;
    Ok(NewStaff {
        user_id,
        password,
        otpauth_uri: totp::otpauth_uri(ISSUER, &account, &secret),
        secret,
    })
}

/// The fixed TOTP secret of the demo staff member `key` (derived, so it survives reloads).
#[must_use]
pub fn demo_secret(key: &str) -> Vec<u8> {
    let digest = Sha256::digest(format!("certdesk demo staff totp\0{key}").as_bytes());
    digest[..totp::SECRET_BYTES].to_vec()
}

/// Gives a demo staff account the demo password and its fixed TOTP secret, unless it has
/// credentials already. Returns whether it added them.
///
/// # Errors
///
/// On database or hashing failure.
pub async fn ensure_demo_credentials(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    key: &str,
    now: DateTime<Utc>,
) -> Result<bool, StaffError> {
    let has = staff_credentials::table
        .find(user)
        .count()
        .get_result::<i64>(conn)
        .await?
        > 0;
    if has {
        return Ok(false);
    }
    let hash = actix_web::web::block(|| password::hash(DEMO_PASSWORD))
        .await
        .map_err(|e| StaffError::Hash(e.to_string()))?
        .map_err(|e| StaffError::Hash(e.to_string()))?;
    diesel::update(users::table.find(user))
        .filter(users::password_hash.is_null())
        .set(users::password_hash.eq(hash))
        .execute(conn)
        .await?;
    let added = diesel::insert_into(staff_credentials::table)
        .values((
            staff_credentials::user_id.eq(user),
            staff_credentials::totp_secret.eq(demo_secret(key)),
            staff_credentials::must_change_password.eq(false),
            staff_credentials::updated_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(added > 0)
}

/// The current TOTP code of a demo staff account (`certdesk staff totp`).
///
/// # Errors
///
/// [`StaffError::Invalid`] when no staff account signs in with `login`, or it is not a demo
/// account: a real account's code is never printed.
pub async fn demo_code(
    conn: &mut AsyncPgConnection,
    login: &str,
    now: DateTime<Utc>,
) -> Result<String, StaffError> {
    let account = find(conn, login)
        .await?
        .ok_or_else(|| StaffError::Invalid(format!("no staff account signs in with {login:?}")))?;
    if !account.is_demo {
        return Err(StaffError::Invalid(format!(
            "{login:?} is not a demo account: only demo accounts' codes are printed"
        )));
    }
    Ok(totp::code(&account.secret, totp::step_at(now)))
}
