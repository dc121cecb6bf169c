//! Notifications of certdesk: what a notification says and how it leaves the building.
//!
//! This crate owns the three steps between a notification owed in the outbox and a message in
//! someone's hands, each behind a small interface so the notification worker can be tested
//! without the outside world:
//!
//! - [`render`]: the Handlebars templates of `templates/` (zh-CN), rendered strictly, with the
//!   masking helpers `mask_phone` and `mask_id`;
//! - [`email`]: the [`EmailSender`] trait and [`SmtpSender`], lettre's asynchronous SMTP
//!   client, which stamps every message with a Message-ID derived from its notification id;
//! - [`sms`]: the [`SmsSender`] trait and [`SandboxSms`], a gateway stand-in that keeps what it
//!   "delivers" in PostgreSQL and fails the way a real gateway does.
//!
//! Senders report failures as [`SendError`], split into transient (retry later) and permanent
//! (retrying cannot help), which is what the worker's retry policy needs to know.

pub mod email;
mod error;
pub mod render;
pub mod sms;

pub use email::{EmailSender, OutgoingEmail, SmtpConfig, SmtpSender};
pub use error::{NotifyError, SendError, SendFuture};
pub use render::{Channel, Rendered, Renderer};
pub use sms::{SandboxSms, SandboxSmsMessage, SmsSender};
