//! The crate's two error types: [`NotifyError`] for setting things up and rendering,
//! [`SendError`] for handing a message to the outside world.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use crate::render::Channel;

/// Why templates could not be loaded or rendered, or a sender could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A template directory or file could not be read.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A template file is misplaced, misnamed or does not compile.
    #[error("template {}: {message}", path.display())]
    Template {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it, including Handlebars' line and column when it has them.
        message: String,
    },
    /// No template of that name exists for that channel.
    #[error("no {channel} template named `{name}`")]
    UnknownTemplate {
        /// The channel asked for.
        channel: Channel,
        /// The template name asked for.
        name: String,
    },
    /// Rendering failed, for example because the data lacks a variable the template uses.
    #[error("rendering {channel}/{name}: {source}")]
    Render {
        /// The channel of the template.
        channel: Channel,
        /// The template name.
        name: String,
        /// Handlebars' error, which names the missing variable and the template line.
        #[source]
        source: Box<handlebars::RenderError>,
    },
    /// The rendered text does not have the shape its channel needs (a title line, one blank
    /// line, then a body).
    #[error("rendering {channel}/{name}: {message}")]
    Shape {
        /// The channel of the template.
        channel: Channel,
        /// The template name.
        name: String,
        /// What is missing.
        message: String,
    },
    /// A sender's configuration is invalid (bad SMTP URL, bad From address).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The sandbox's storage could not be read.
    #[error("sandbox storage: {0}")]
    Storage(String),
}

/// Why a message was not handed over, split by what the caller should do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Retrying later may succeed: the server or gateway is busy or unreachable, the connection
    /// broke or timed out, or it answered with a 4xx code.
    #[error("transient send failure: {0}")]
    Transient(String),
    /// Retrying cannot succeed: the recipient is invalid or was refused for good (SMTP 5xx,
    /// blacklisted or malformed phone number).
    #[error("permanent send failure: {0}")]
    Permanent(String),
}

impl SendError {
    /// Whether a later retry may succeed.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }

    /// The failure's description, without the transient/permanent prefix.
    #[must_use]
    pub fn message(&self) -> &str {
        match self {
            Self::Transient(m) | Self::Permanent(m) => m,
        }
    }
}

/// The future a sender returns: boxed so the sender traits stay dyn-compatible and can be
/// shared as `Arc<dyn EmailSender>` / `Arc<dyn SmsSender>`.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;
