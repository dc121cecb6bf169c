//! The crate's error type, [`AuditError`].
//!
//! Verification problems in a history are not errors: they are reported as
//! [`Finding`](crate::Finding)s. Errors are for unusable inputs (keys, distinguishing ids)
//! and for I/O while exporting.

use std::path::PathBuf;

/// Why a key, a distinguishing id or an export could not be used or written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The SM2 distinguishing id cannot be used.
    #[error("invalid SM2 distinguishing id: {reason}")]
    InvalidDistid {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The private key could not be read (not a PKCS#8 PEM SM2 key).
    #[error("cannot read the SM2 private key: {0}")]
    PrivateKey(String),

    /// The private key is a valid scalar but cannot sign with SM2 (d = n − 1).
    #[error("the SM2 private key cannot be used for signing (d + 1 is not invertible)")]
    UnusableKey,

    /// A public key could not be read (not a SubjectPublicKeyInfo PEM SM2 key).
    #[error("cannot read the SM2 public key: {0}")]
    PublicKey(String),

    /// A key could not be encoded as PEM.
    #[error("cannot encode the SM2 key: {0}")]
    KeyEncoding(String),

    /// [`Verifier::new`](crate::Verifier::new) was given no key.
    #[error("no verifying key given")]
    NoVerifyingKeys,

    /// The same public key was given twice with different distinguishing ids.
    #[error("public key {key_id} given twice with different distinguishing ids")]
    ConflictingKey {
        /// Fingerprint of the key.
        key_id: String,
    },

    /// An export was asked for entries of more than one workflow instance.
    #[error("an export covers one instance, but entries of {first} and {other} were given")]
    MixedInstances {
        /// Instance of the first entry.
        first: uuid::Uuid,
        /// Another instance found among the entries.
        other: uuid::Uuid,
    },

    /// The export directory already holds files (a stale export would confuse the checker).
    #[error("export directory {} is not empty", path.display())]
    ExportDirNotEmpty {
        /// The directory.
        path: PathBuf,
    },

    /// Reading or writing a file failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An entry could not be rendered as JSON.
    #[error("cannot render an entry as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl AuditError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
