//! SMS: the [`SmsSender`] interface and [`SandboxSms`], the gateway used until a real one is
//! configured (and in every test and demo).
//!
//! Real SMS gateways take a client message id (客户流水号) with each message and deduplicate by
//! it: a resend after a timeout is answered "OK" without a second message. That is what makes
//! SMS "exactly once in effect" (DECISIONS 7), and the sandbox does the same: it stores each
//! message in the `sms_sandbox` table keyed by message id, and a resend with an id already
//! stored succeeds without storing anything (even if phone or text differ, as a gateway would).
//!
//! The sandbox fails like a gateway, deterministically by number, so tests can provoke each
//! failure:
//!
//! | number                                     | result                                      |
//! |--------------------------------------------|---------------------------------------------|
//! | not a mainland mobile number (`1[3-9]` + 9 digits, `+86`/`86`, spaces and dashes allowed) | [`SendError::Permanent`] "invalid mobile number" |
//! | ending in `0000`                           | [`SendError::Permanent`] "number in blacklist" |
//! | ending in `0001`                           | [`SendError::Transient`] "gateway busy", on every call |
//! | any other mobile number                    | delivered (stored once per message id)     |
//!
//! An empty message id or an empty text is refused as permanent, as a gateway refuses a
//! malformed request. A database error is transient (the gateway is "unreachable").
//! Numbers are stored in their 11-digit national form.

use std::sync::Arc;

use certdesk_domain::clock::Clock;
use certdesk_domain::ident::Phone;
use certdesk_store::db::Pool;
use certdesk_store::schema::sms_sandbox;
use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;

use crate::error::{NotifyError, SendError, SendFuture};

/// Something that delivers text messages, used as `Arc<dyn SmsSender>`.
pub trait SmsSender: Send + Sync {
    /// Sends `body` to `phone`, identified by `message_id`.
    ///
    /// Implementations pass `message_id` to the gateway as its deduplication key, so calling
    /// again with the same id (after a timeout, a crash, a redelivered job) never delivers a
    /// second message.
    fn send<'a>(&'a self, message_id: &'a str, phone: &'a str, body: &'a str) -> SendFuture<'a>;
}

impl<T: SmsSender + ?Sized> SmsSender for Arc<T> {
    fn send<'a>(&'a self, message_id: &'a str, phone: &'a str, body: &'a str) -> SendFuture<'a> {
        (**self).send(message_id, phone, body)
    }
}

/// A message the sandbox has "delivered".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSmsMessage {
    /// The client message id it was sent with.
    pub message_id: String,
    /// The 11-digit national number.
    pub phone: String,
    /// The text.
    pub body: String,
    /// When it was first accepted.
    pub created_at: DateTime<Utc>,
}

/// An SMS gateway stand-in that stores messages in PostgreSQL (see the module docs for how it
/// fails).
#[derive(Clone)]
pub struct SandboxSms {
    pool: Pool,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SandboxSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxSms")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// Last four digits that make the sandbox refuse a number for good.
const BLACKLISTED_SUFFIX: &str = "0000";
/// Last four digits that make the sandbox report itself busy.
const BUSY_SUFFIX: &str = "0001";

impl SandboxSms {
    /// A sandbox writing through `pool`, stamping messages with `clock`.
    #[must_use]
    pub fn new(pool: Pool, clock: Arc<dyn Clock>) -> Self {
        Self { pool, clock }
    }

    /// The messages delivered to `phone` (any accepted spelling), oldest first; what a tester
    /// reads to find the code the applicant was sent.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Storage`] when the database cannot be read.
    pub async fn messages_to(&self, phone: &str) -> Result<Vec<SandboxSmsMessage>, NotifyError> {
        let Ok(phone) = Phone::parse(phone) else {
            return Ok(Vec::new());
        };
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|e| NotifyError::Storage(e.to_string()))?;
        let rows: Vec<(String, String, String, DateTime<Utc>)> = sms_sandbox::table
            .filter(sms_sandbox::phone.eq(phone.as_str()))
            .order((sms_sandbox::created_at.asc(), sms_sandbox::message_id.asc()))
            .select((
                sms_sandbox::message_id,
                sms_sandbox::phone,
                sms_sandbox::body,
                sms_sandbox::created_at,
            ))
            .load(&mut conn)
            .await
            .map_err(|e| NotifyError::Storage(e.to_string()))?;
        Ok(rows
            .into_iter()
            .map(|(message_id, phone, body, created_at)| SandboxSmsMessage {
                message_id,
                phone,
                body,
                created_at,
            })
            .collect())
    }

    async fn deliver(&self, message_id: &str, phone: &str, body: &str) -> Result<(), SendError> {
        let phone = gateway_checks(message_id, phone, body)?;
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|e| SendError::Transient(format!("sandbox gateway unreachable: {e}")))?;
        let inserted = diesel::insert_into(sms_sandbox::table)
            .values((
                sms_sandbox::message_id.eq(message_id),
                sms_sandbox::phone.eq(phone.as_str()),
                sms_sandbox::body.eq(body),
                sms_sandbox::created_at.eq(self.clock.now()),
            ))
            .on_conflict(sms_sandbox::message_id)
            .do_nothing()
            .execute(&mut conn)
            .await
            .map_err(|e| SendError::Transient(format!("sandbox gateway error: {e}")))?;
        if inserted == 0 {
            tracing::debug!(
                message_id,
                "SMS sandbox: duplicate message id, not sent again"
            );
        } else {
            tracing::debug!(message_id, phone = %phone.mask(), "SMS sandbox: delivered");
        }
        Ok(())
    }
}

impl SmsSender for SandboxSms {
    fn send<'a>(&'a self, message_id: &'a str, phone: &'a str, body: &'a str) -> SendFuture<'a> {
        Box::pin(self.deliver(message_id, phone, body))
    }
}

/// What the gateway checks before accepting a message; returns the parsed number.
fn gateway_checks(message_id: &str, phone: &str, body: &str) -> Result<Phone, SendError> {
    if message_id.trim().is_empty() {
        return Err(SendError::Permanent("missing message id".to_owned()));
    }
    if body.trim().is_empty() {
        return Err(SendError::Permanent("empty message".to_owned()));
    }
    let phone = Phone::parse(phone)
        .map_err(|_| SendError::Permanent("invalid mobile number".to_owned()))?;
    if phone.as_str().ends_with(BLACKLISTED_SUFFIX) {
        return Err(SendError::Permanent("number in blacklist".to_owned()));
    }
    if phone.as_str().ends_with(BUSY_SUFFIX) {
        return Err(SendError::Transient("gateway busy".to_owned()));
    }
    Ok(phone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_rules_by_number() {
        let ok = |phone| gateway_checks("m1", phone, "text");
        assert_eq!(ok("+86 186-1234-8621").unwrap().as_str(), "18612348621");
        for phone in ["", "12345", "010-12345678", "12012348621", "+85261234567"] {
            assert_eq!(
                ok(phone).unwrap_err(),
                SendError::Permanent("invalid mobile number".to_owned()),
                "{phone}"
            );
        }
        assert_eq!(
            ok("18612340000").unwrap_err(),
            SendError::Permanent("number in blacklist".to_owned())
        );
        assert_eq!(
            ok("18612340001").unwrap_err(),
            SendError::Transient("gateway busy".to_owned())
        );
        assert!(ok("18612340010").is_ok());
    }

    #[test]
    fn malformed_requests_are_permanent() {
        assert!(matches!(
            gateway_checks(" ", "18612348621", "text"),
            Err(SendError::Permanent(_))
        ));
        assert!(matches!(
            gateway_checks("m1", "18612348621", "  "),
            Err(SendError::Permanent(_))
        ));
    }
}
