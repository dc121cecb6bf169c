//! Errors of the runtime, each with a stable code and the HTTP status an API answers with.

use certdesk_engine::StepError;
use certdesk_engine::input::FieldError;

/// Why a command was refused or failed. A refused command changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No such instance, task or definition (or not visible to the caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The input does not satisfy the definition's form.
    #[error("the input is not valid ({} field error(s))", .0.len())]
    Invalid(Vec<FieldError>),
    /// An equal request is already open (a unique index settled a race): one wins.
    #[error("an equal request is already open")]
    AlreadyOpen,
    /// The engine refused the event.
    #[error(transparent)]
    Step(#[from] StepError),
    /// Stored state could not be read back (a bug or a manual edit).
    #[error("stored state is inconsistent: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    /// No connection could be had from the pool.
    #[error("database pool: {0}")]
    Pool(String),
}

impl RuntimeError {
    /// A stable snake_case code for APIs and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Invalid(_) => "invalid_input",
            Self::AlreadyOpen => "request_already_open",
            Self::Step(e) => e.code(),
            Self::Corrupt(_) => "internal_error",
            Self::Db(_) | Self::Pool(_) => "internal_error",
        }
    }

    /// The HTTP status an API answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::NotFound(_) => 404,
            Self::Invalid(_) => 422,
            Self::AlreadyOpen => 409,
            Self::Step(e) => match e {
                // Someone else got there first, or the request moved on: a conflict.
                StepError::TaskNotOpen { .. }
                | StepError::Finished
                | StepError::AlreadyApproved
                | StepError::PartyAlreadyApproved
                | StepError::AlreadyStarted
                | StepError::NotAccepted { .. }
                | StepError::Stale(_) => 409,
                StepError::SelfDecision | StepError::NotAssignee | StepError::NotRequester => 403,
                StepError::UnknownOutcome(_)
                | StepError::ReasonRequired
                | StepError::UnknownReason(_)
                | StepError::CommentRequired
                | StepError::CommentTooLong { .. } => 422,
                StepError::NotStarted
                | StepError::UnknownSubflowResult(_)
                | StepError::NoBranch(_)
                | StepError::RoutingLoop => 500,
            },
            Self::Corrupt(_) | Self::Db(_) | Self::Pool(_) => 500,
        }
    }
}
