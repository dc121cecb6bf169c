//! E-mail: the [`EmailSender`] interface and its SMTP implementation, [`SmtpSender`].
//!
//! This module owns how a notification becomes an Internet message:
//!
//! - `Message-ID: <{notification_id}@certdesk>`, the same on every attempt, so a message
//!   resent after a crash is recognisably the same one (DECISIONS 8: SMTP cannot be exactly
//!   once, so duplicates must be identifiable);
//! - `From` from the configuration, `To` the recipient, `Date` from the [`Clock`];
//! - Chinese subjects as RFC 2047 encoded words and bodies in UTF-8 with a 7-bit-safe transfer
//!   encoding (quoted-printable or base64, whichever is shorter), so no SMTP extension is
//!   needed; `multipart/alternative` (text, then HTML) when there is an HTML body.
//!
//! Failures are classified for the retry policy ([`SendError`]): SMTP 4xx replies, refused,
//! reset or timed-out connections, TLS failures and servers lacking a needed extension are
//! transient; 5xx replies (a refused recipient, a rejected message) and a malformed recipient
//! address are permanent. One group of 5xx replies counts as transient, since it describes our
//! configuration rather than the message and would otherwise fail every notification for good:
//! authentication refused (530, 534, 535, 538).
//!
//! Each send opens its own connection (lettre's connection pool is not used): a send is cut
//! off by a deadline, and a pooled connection abandoned in mid-command could later be reused
//! out of step with the server.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use certdesk_domain::clock::Clock;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};
use uuid::Uuid;

use crate::error::{NotifyError, SendError, SendFuture};

/// Something that delivers e-mails, used as `Arc<dyn EmailSender>`.
pub trait EmailSender: Send + Sync {
    /// Hands `email` to the mail system.
    ///
    /// `Ok` means the server accepted the message for delivery. Sending the same e-mail again
    /// sends it again; its Message-ID lets the recipient's system and the tests spot the copy.
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> SendFuture<'a>;
}

impl<T: EmailSender + ?Sized> EmailSender for Arc<T> {
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> SendFuture<'a> {
        (**self).send(email)
    }
}

/// One e-mail owed for one row of `notifications`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// The notification's id; the message's Message-ID is derived from it.
    pub notification_id: Uuid,
    /// The recipient, `name@example.com` or `张三 <name@example.com>`.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML alternative, if any.
    pub html: Option<String>,
}

impl OutgoingEmail {
    /// The Message-ID of this e-mail, angle brackets included: `<{notification_id}@certdesk>`.
    #[must_use]
    pub fn message_id(&self) -> String {
        message_id(self.notification_id)
    }
}

/// The Message-ID of the e-mail of notification `id`, angle brackets included.
#[must_use]
pub fn message_id(id: Uuid) -> String {
    format!("<{id}@certdesk>")
}

/// Where and as whom [`SmtpSender`] sends.
#[derive(Clone)]
pub struct SmtpConfig {
    /// The server: `smtp://host:port` (plain, for local use and tests),
    /// `smtp://user:pass@host:587?tls=starttls` (STARTTLS required; `tls=required` is a
    /// synonym, `tls=opportunistic` upgrades only when offered) or `smtps://user:pass@host:465`
    /// (TLS from the first byte). User name and password are percent-encoded. A path names the
    /// host announced in EHLO (`smtp://host/mail.example.com`).
    pub url: String,
    /// The sender, `noreply@example.com` or `证书服务 <noreply@example.com>`.
    pub from: String,
    /// The deadline of one whole send: connecting, the SMTP dialogue and the message.
    pub timeout: Duration,
}

impl SmtpConfig {
    /// The deadline used when none is given.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// A configuration with the default deadline.
    #[must_use]
    pub fn new(url: impl Into<String>, from: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            from: from.into(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }
}

/// Prints the URL without its password.
impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("url", &redact_password(&self.url))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn redact_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Only fails for URLs that cannot have a password, which this one has.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => raw.to_owned(),
        Err(_) => "<invalid url>".to_owned(),
    }
}

/// Sends e-mails through an SMTP server with lettre's asynchronous (Tokio) client.
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    /// The configured URL without its password, for logs.
    server: String,
}

impl fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSender")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// Builds a sender; nothing is connected until the first send.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Config`] for a URL lettre cannot use (unknown scheme or `tls` value, no
    /// host, unknown query parameter) or a `from` that is not a mailbox.
    pub fn new(config: &SmtpConfig, clock: Arc<dyn Clock>) -> Result<Self, NotifyError> {
        let server = redact_password(&config.url);
        let url = normalise_url(&config.url)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            .map_err(|e| NotifyError::Config(format!("SMTP URL {server}: {e}")))?
            .timeout(Some(config.timeout))
            .build();
        let from = config
            .from
            .parse::<Mailbox>()
            .map_err(|e| NotifyError::Config(format!("From address {:?}: {e}", config.from)))?;
        Ok(Self {
            transport,
            from,
            timeout: config.timeout,
            clock,
            server,
        })
    }

    fn build(&self, email: &OutgoingEmail) -> Result<Message, SendError> {
        let to = email.to.parse::<Mailbox>().map_err(|e| {
            SendError::Permanent(format!("invalid recipient address {:?}: {e}", email.to))
        })?;
        let builder = Message::builder()
            .message_id(Some(email.message_id()))
            .date(self.clock.now().into())
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.as_str());
        let built = match &email.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                html.clone(),
            )),
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(email.text.clone()),
        };
        // Every header is set above, so the builder can only fail on content we were given.
        built.map_err(|e| SendError::Permanent(format!("building the message: {e}")))
    }

    async fn send_now(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        let message = self.build(email)?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(response)) => {
                tracing::debug!(
                    notification_id = %email.notification_id,
                    code = %response.code(),
                    "e-mail accepted by the SMTP server"
                );
                Ok(())
            }
            Ok(Err(error)) => {
                let error = classify(&error);
                tracing::warn!(
                    notification_id = %email.notification_id,
                    server = %self.server,
                    %error,
                    "e-mail not sent"
                );
                Err(error)
            }
            Err(_) => {
                tracing::warn!(
                    notification_id = %email.notification_id,
                    server = %self.server,
                    "e-mail send timed out"
                );
                Err(SendError::Transient(format!(
                    "SMTP send timed out after {:?}",
                    self.timeout
                )))
            }
        }
    }
}

impl EmailSender for SmtpSender {
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> SendFuture<'a> {
        Box::pin(self.send_now(email))
    }
}

/// Checks the URL and maps our `tls=starttls` spelling to lettre's `tls=required`.
fn normalise_url(raw: &str) -> Result<String, NotifyError> {
    let config_error = |message: String| NotifyError::Config(message);
    let mut url = url::Url::parse(raw)
        .map_err(|e| config_error(format!("SMTP URL {}: {e}", redact_password(raw))))?;
    if !matches!(url.scheme(), "smtp" | "smtps") {
        return Err(config_error(format!(
            "SMTP URL scheme `{}`: use smtp or smtps",
            url.scheme()
        )));
    }
    let mut tls = None;
    for (key, value) in url.query_pairs() {
        match (key.as_ref(), value.as_ref()) {
            ("tls", "starttls" | "required") => tls = Some("required"),
            ("tls", "opportunistic") => tls = Some("opportunistic"),
            ("tls", other) => {
                return Err(config_error(format!(
                    "SMTP URL tls=`{other}`: use starttls or opportunistic"
                )));
            }
            (other, _) => {
                return Err(config_error(format!(
                    "SMTP URL parameter `{other}`: only tls is known"
                )));
            }
        }
    }
    if tls.is_some() && url.scheme() == "smtps" {
        return Err(config_error(
            "SMTP URL: smtps is TLS from the start and takes no tls parameter".to_owned(),
        ));
    }
    url.set_query(None);
    if let Some(mode) = tls {
        url.query_pairs_mut().append_pair("tls", mode);
    }
    Ok(url.to_string())
}

/// SMTP reply codes that mean "our credentials or TLS setup are wrong", not "this message".
const CONFIGURATION_CODES: [&str; 4] = ["530", "534", "535", "538"];

/// Sorts a lettre error into transient and permanent.
fn classify(error: &lettre::transport::smtp::Error) -> SendError {
    let message = error.to_string();
    if error.is_permanent() {
        let code = error.status().map(|c| c.to_string());
        if code.is_some_and(|c| CONFIGURATION_CODES.contains(&c.as_str())) {
            SendError::Transient(format!("SMTP authentication refused: {message}"))
        } else {
            SendError::Permanent(message)
        }
    } else {
        // 4xx replies, connection refused/reset, timeouts, TLS handshakes, garbled replies,
        // and "server lacks an extension": none says the message itself is undeliverable.
        SendError::Transient(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_is_derived_from_the_notification_id() {
        let id = Uuid::parse_str("0191f4f0-0000-7000-8000-000000000001").unwrap();
        assert_eq!(
            message_id(id),
            "<0191f4f0-0000-7000-8000-000000000001@certdesk>"
        );
    }

    #[test]
    fn urls_are_normalised_for_lettre() {
        assert_eq!(
            normalise_url("smtp://127.0.0.1:2525").unwrap(),
            "smtp://127.0.0.1:2525"
        );
        assert_eq!(
            normalise_url("smtp://u:p%40ss@mail.example.com:587?tls=starttls").unwrap(),
            "smtp://u:p%40ss@mail.example.com:587?tls=required"
        );
        assert_eq!(
            normalise_url("smtp://mail.example.com?tls=opportunistic").unwrap(),
            "smtp://mail.example.com?tls=opportunistic"
        );
        assert_eq!(
            normalise_url("smtps://u:p@mail.example.com:465").unwrap(),
            "smtps://u:p@mail.example.com:465"
        );
        for bad in [
            "http://mail.example.com",
            "smtp://mail.example.com?tls=maybe",
            "smtp://mail.example.com?tsl=starttls",
            "smtps://mail.example.com?tls=starttls",
            "not a url",
        ] {
            assert!(
                matches!(normalise_url(bad), Err(NotifyError::Config(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn configuration_never_prints_the_password() {
        let config = SmtpConfig::new("smtps://user:s3cret@mail.example.com:465", "a@b.cn");
        let printed = format!("{config:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("user:***@mail.example.com"), "{printed}");
    }

    #[tokio::test]
    async fn senders_build_from_every_url_form_and_reject_bad_from() {
        let clock: Arc<dyn Clock> = Arc::new(certdesk_domain::clock::SystemClock);
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://u:p@mail.example.com:587?tls=starttls",
            "smtps://u:p@mail.example.com:465",
        ] {
            let config = SmtpConfig::new(url, "证书服务 <noreply@ca.example.cn>");
            SmtpSender::new(&config, Arc::clone(&clock)).unwrap();
        }
        let config = SmtpConfig::new("smtp://127.0.0.1:2525", "not an address");
        let err = SmtpSender::new(&config, clock).unwrap_err();
        assert!(matches!(err, NotifyError::Config(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_malformed_recipient_is_permanent_without_connecting() {
        let clock: Arc<dyn Clock> = Arc::new(certdesk_domain::clock::SystemClock);
        // Port 9 (discard) on loopback: nothing listens, and nothing must be tried.
        let config = SmtpConfig::new("smtp://127.0.0.1:9", "noreply@ca.example.cn");
        let sender = SmtpSender::new(&config, clock).unwrap();
        let email = OutgoingEmail {
            notification_id: Uuid::nil(),
            to: "张三".to_owned(),
            subject: "主题".to_owned(),
            text: "正文".to_owned(),
            html: None,
        };
        let err = sender.send(&email).await.unwrap_err();
        assert!(matches!(err, SendError::Permanent(_)), "{err:?}");
    }
}
