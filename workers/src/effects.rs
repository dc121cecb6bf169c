//! What workers do with an outbox row: the [`Effects`] executor.
//!
//! Three kinds of rows reach it:
//!
//! * `action` — a database-only action of the standard catalog
//!   ([`certdesk_runtime::actions::DatabaseActions`]);
//! * `notification` — the fan-out: the recipients the definition names (`applicant`,
//!   `enterprise.admins`, `enterprise.legal_rep`, `enterprise.members` or a staff group) times
//!   its channels become rows of `notifications`, rendered from `templates/` at once. In-app
//!   notices are delivered by being stored; each e-mail and SMS gets an outbox row of its own
//!   (kind `send`), so one failing address is retried alone;
//! * `send` — one e-mail or SMS handed to its sender. The notification row is locked and marked
//!   `sent` in the transaction that marks the outbox row done, so a repeated delivery after a
//!   commit sends nothing. A crash between the server's acceptance and the commit can repeat an
//!   e-mail (SMTP has no idempotency key); the repeat carries the same Message-ID (DECISIONS 8).
//!   SMS carry the notification id as the gateway's deduplication key, so they never repeat.
//!   Each send begun is counted (`notifications.send_attempts`) and committed before the
//!   send, so an e-mail never arrives more often than that count says it may have.
//!
//! Every id written here is derived (UUID v5) from the row being executed, so a fan-out that
//! runs twice (its first transaction rolled back) writes the same rows, never new ones.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use certdesk_domain::clock::Clock;
use certdesk_notify::{Channel, EmailSender, OutgoingEmail, Renderer, SendError, SmsSender};
use certdesk_runtime::actions::DatabaseActions;
use certdesk_runtime::outbox::{BoxFuture, EffectError, Executor, OutboxRow};
use certdesk_store::db::Pool;
use certdesk_store::schema::{
    enterprises, instances, memberships, notifications, outbox, staff_roles, users,
};

/// Namespace of the ids derived here (notifications and their send rows).
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1d_2c1e_6a0b_4c47_9a53_1c7e_d2a4_0b19);

/// What notices say about the service itself.
#[derive(Debug, Clone)]
pub struct NoticeConfig {
    /// The SMS signature and sender name, e.g. `中标一证通`.
    pub brand: String,
    /// Base of the deep links into the app; a request's link is `{app_url}/r/{instance id}`.
    pub app_url: String,
}

impl Default for NoticeConfig {
    fn default() -> Self {
        NoticeConfig {
            brand: "中标一证通".into(),
            app_url: "https://app.certdesk.example".into(),
        }
    }
}

/// The executor workers run: database actions, notification fan-out, sends.
pub struct Effects {
    renderer: Renderer,
    reasons: BTreeMap<String, String>,
    email: Arc<dyn EmailSender>,
    sms: Arc<dyn SmsSender>,
    clock: Arc<dyn Clock>,
    config: NoticeConfig,
    /// Connections of their own for counting sends begun (committed before each send).
    ledger: Pool,
}

impl std::fmt::Debug for Effects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Effects")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Why the executor could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EffectsError {
    /// A template did not load.
    #[error(transparent)]
    Templates(#[from] certdesk_notify::NotifyError),
    /// `reasons.toml` is unreadable or malformed.
    #[error("{path}: {message}")]
    Reasons {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Effects {
    /// Loads the templates (and the reason labels of `reasons.toml`) from `templates`.
    pub fn new(
        templates: &Path,
        email: Arc<dyn EmailSender>,
        sms: Arc<dyn SmsSender>,
        clock: Arc<dyn Clock>,
        config: NoticeConfig,
        ledger: Pool,
    ) -> Result<Self, EffectsError> {
        let renderer = Renderer::load(templates)?;
        let path = templates.join("reasons.toml");
        let reasons = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| EffectsError::Reasons {
                path: path.display().to_string(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(EffectsError::Reasons {
                    path: path.display().to_string(),
                    message: e.to_string(),
                });
            }
        };
        Ok(Effects {
            renderer,
            reasons,
            email,
            sms,
            clock,
            config,
            ledger,
        })
    }
}

impl Executor for Effects {
    fn execute<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        row: &'a OutboxRow,
    ) -> BoxFuture<'a, Result<(), EffectError>> {
        Box::pin(async move {
            match row.kind.as_str() {
                "action" => Executor::execute(&DatabaseActions, conn, row).await,
                "notification" => self.fan_out(conn, row).await,
                "send" => self.send(conn, row).await,
                other => Err(EffectError::Permanent(format!(
                    "no executor for outbox rows of kind `{other}`"
                ))),
            }
        })
    }
}

/// Someone a notice goes to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Recipient {
    id: Uuid,
    name: String,
    phone: Option<String>,
    email: Option<String>,
}

/// The request number people read and quote: the random tail of the instance id.
pub fn request_no(instance: Uuid) -> String {
    let hex = instance.simple().to_string().to_uppercase();
    format!("R{}", &hex[20..])
}

/// Beijing time, as notices show it.
fn beijing(at: DateTime<Utc>) -> String {
    match FixedOffset::east_opt(8 * 3600) {
        Some(offset) => at
            .with_timezone(&offset)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        None => at.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

impl Effects {
    /// Who `to` names for this instance, sorted and without duplicates.
    async fn recipients(
        conn: &mut AsyncPgConnection,
        to: &str,
        requester: Uuid,
        enterprise: Option<Uuid>,
    ) -> Result<Vec<Recipient>, EffectError> {
        let roles: &[&str] = match to {
            "applicant" => &[],
            "enterprise.admins" => &["enterprise_admin"],
            "enterprise.legal_rep" => &["legal_rep"],
            "enterprise.members" => &["enterprise_admin", "legal_rep", "member"],
            _ => &[],
        };
        let cols = (users::id, users::name, users::phone, users::email);
        let rows: Vec<(Uuid, String, Option<String>, Option<String>)> = if to == "applicant" {
            users::table
                .select(cols)
                .filter(users::id.eq(requester))
                .load(conn)
                .await?
        } else if roles.is_empty() {
            // A staff group (`cs_reviewer`, `finance`, ...).
            users::table
                .inner_join(staff_roles::table)
                .select(cols)
                .filter(staff_roles::role.eq(to))
                .load(conn)
                .await?
        } else {
            let Some(enterprise) = enterprise else {
                return Err(EffectError::Permanent(format!(
                    "`{to}` names an enterprise but the instance has none"
                )));
            };
            users::table
                .inner_join(memberships::table)
                .select(cols)
                .filter(memberships::enterprise_id.eq(enterprise))
                .filter(memberships::role.eq_any(roles))
                .load(conn)
                .await?
        };
        let set: BTreeSet<Recipient> = rows
            .into_iter()
            .map(|(id, name, phone, email)| Recipient {
                id,
                name,
                phone,
                email,
            })
            .collect();
        Ok(set.into_iter().collect())
    }

    /// Expands a notification into `notifications` rows and, for e-mail and SMS, send rows.
    async fn fan_out(
        &self,
        conn: &mut AsyncPgConnection,
        row: &OutboxRow,
    ) -> Result<(), EffectError> {
        let p = &row.payload;
        let template = p["template"].as_str().unwrap_or(&row.name);
        let to = p["to"]
            .as_str()
            .ok_or_else(|| EffectError::Permanent("notification without `to`".into()))?;
        let instance = row
            .instance_id
            .ok_or_else(|| EffectError::Permanent("notification without an instance".into()))?;
        let (requester, subject, form): (Uuid, Option<Uuid>, serde_json::Value) = instances::table
            .select((instances::requester, instances::subject_id, instances::data))
            .find(instance)
            .first(conn)
            .await?;
        let applicant: Option<String> = users::table
            .select(users::name)
            .find(requester)
            .first(conn)
            .await
            .optional()?;
        let enterprise: Option<(String, String)> = match subject {
            Some(e) => enterprises::table
                .select((enterprises::name, enterprises::uscc))
                .find(e)
                .first(conn)
                .await
                .optional()?,
            None => None,
        };
        // The nearest deadline when the notice was caused (written by the step).
        let deadline: Option<DateTime<Utc>> = p["deadline"]
            .as_str()
            .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
            .map(|d| d.with_timezone(&Utc));
        let mut data = json!({
            "brand": self.config.brand,
            "applicant": { "name": applicant.unwrap_or_default() },
            "request": {
                "no": request_no(instance),
                "url": format!("{}/r/{instance}", self.config.app_url.trim_end_matches('/')),
            },
        });
        if let Some((name, uscc)) = enterprise {
            data["enterprise"] = json!({ "name": name, "uscc": uscc });
        }
        if let Some(at) = deadline {
            data["deadline"] = json!(beijing(at));
        }
        if let Some(code) = p["reason"].as_str() {
            let label = self.reasons.get(code).map_or(code, String::as_str);
            data["reason"] = json!(label);
        }
        if form["seal_use"].as_bool() == Some(true)
            && let Some(until) = form["seal_use_until"]
                .as_str()
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        {
            data["seal_use_until"] = json!(until.format("%Y年%m月%d日").to_string());
        }
        if let Some(comment) = p["comment"].as_str() {
            data["comment"] = json!(comment);
        }

        let recipients = Self::recipients(conn, to, requester, subject).await?;
        let via = p["via"].as_array().cloned().unwrap_or_default();
        let mut sends = 0;
        for channel in via {
            let channel: Channel = channel
                .as_str()
                .unwrap_or_default()
                .parse()
                .map_err(|e| EffectError::Permanent(format!("{e}")))?;
            for r in &recipients {
                let address = match channel {
                    Channel::Sms => r.phone.clone(),
                    Channel::Email => r.email.clone(),
                    Channel::InApp => Some(r.id.to_string()),
                };
                let Some(address) = address else {
                    tracing::debug!(user = %r.id, channel = channel.as_str(), "recipient has no address on this channel");
                    continue;
                };
                let mut data = data.clone();
                data["recipient"] = json!({ "name": r.name });
                let rendered = self
                    .renderer
                    .render(channel, template, &data)
                    .map_err(|e| EffectError::Permanent(e.to_string()))?;
                let key = format!("{}/{}/{}", row.id, channel.as_str(), r.id);
                let id = Uuid::new_v5(&NAMESPACE, key.as_bytes());
                let in_app = channel == Channel::InApp;
                diesel::insert_into(notifications::table)
                    .values((
                        notifications::id.eq(id),
                        notifications::outbox_id.eq(row.id),
                        notifications::channel.eq(channel.as_str()),
                        notifications::user_id.eq(r.id),
                        notifications::address.eq(&address),
                        notifications::template.eq(template),
                        notifications::subject.eq(&rendered.subject),
                        notifications::body.eq(&rendered.body),
                        notifications::message_id.eq(certdesk_notify::email::message_id(id)),
                        notifications::status.eq(if in_app { "sent" } else { "pending" }),
                        notifications::created_at.eq(row.created_at),
                        notifications::sent_at.eq(in_app.then_some(row.created_at)),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
                if !in_app {
                    let send_id = Uuid::new_v5(&NAMESPACE, format!("{id}/send").as_bytes());
                    diesel::insert_into(outbox::table)
                        .values((
                            outbox::id.eq(send_id),
                            outbox::instance_id.eq(instance),
                            outbox::kind.eq("send"),
                            outbox::name.eq(channel.as_str()),
                            outbox::payload
                                .eq(json!({ "notification_id": id, "html": rendered.html })),
                            outbox::status.eq("pending"),
                            outbox::next_attempt_at.eq(row.created_at),
                            outbox::created_at.eq(row.created_at),
                        ))
                        .on_conflict_do_nothing()
                        .execute(conn)
                        .await?;
                    sends += 1;
                }
            }
        }
        // The outbox's insert trigger wakes the relays (migration 000008).
        tracing::debug!(outbox.id = %row.id, sends, "notification fanned out");
        Ok(())
    }

    /// Sends one e-mail or SMS and marks its notification sent.
    async fn send(&self, conn: &mut AsyncPgConnection, row: &OutboxRow) -> Result<(), EffectError> {
        let id = row.payload["notification_id"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| EffectError::Permanent("send without a notification id".into()))?;
        let n: Option<(String, String, Option<String>, String, String)> = notifications::table
            .select((
                notifications::channel,
                notifications::address,
                notifications::subject,
                notifications::body,
                notifications::status,
            ))
            .find(id)
            .first(conn)
            .await
            .optional()?;
        let Some((channel, address, subject, body, status)) = n else {
            return Err(EffectError::Permanent(format!(
                "notification {id} does not exist"
            )));
        };
        if status == "sent" {
            return Ok(());
        }
        // Counted and committed apart from this transaction, before the send: a send cut off
        // after the server took the message is still on record as begun. (The lock on the
        // send's outbox row already keeps two deliveries of it from overlapping.)
        let mut ledger = self
            .ledger
            .get()
            .await
            .map_err(|e| EffectError::Transient(format!("database pool: {e}")))?;
        diesel::update(notifications::table.find(id))
            .set(notifications::send_attempts.eq(notifications::send_attempts + 1))
            .execute(&mut ledger)
            .await?;
        drop(ledger);
        let result = match channel.as_str() {
            "email" => {
                let email = OutgoingEmail {
                    notification_id: id,
                    to: address,
                    subject: subject.unwrap_or_default(),
                    text: body,
                    html: row.payload["html"].as_str().map(str::to_owned),
                };
                self.email.send(&email).await
            }
            "sms" => self.sms.send(&id.to_string(), &address, &body).await,
            other => {
                return Err(EffectError::Permanent(format!(
                    "notifications on `{other}` are not sent"
                )));
            }
        };
        match result {
            Ok(()) => {
                diesel::update(notifications::table.find(id))
                    .set((
                        notifications::status.eq("sent"),
                        notifications::sent_at.eq(self.clock.now()),
                    ))
                    .execute(conn)
                    .await?;
                Ok(())
            }
            Err(SendError::Transient(m)) => Err(EffectError::Transient(m)),
            Err(SendError::Permanent(m)) => Err(EffectError::Permanent(m)),
        }
    }
}
