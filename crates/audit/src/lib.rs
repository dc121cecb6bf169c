//! Signed, hash-chained decision history for certdesk.
//!
//! Every decision taken in a workflow instance (a reviewer approving, a timer expiring a
//! request…) is recorded as an [`Entry`] in an append-only history kept per instance. Entries
//! are chained with SM3 over their [canonical bytes](canonical_bytes) and signed with the
//! service's SM2 key, so that an approval cannot be altered unnoticed, and so that an outside
//! party can check an [`export()`] with the OpenSSL 3 command line alone
//! (`scripts/verify-audit-export.sh`).
//!
//! This crate is pure: no database, no async. It owns
//! - the [`Entry`] type and its canonical byte format ([`canonical`]),
//! - SM2 key handling: [`Signer`] (sealing entries, PKCS#8 / SPKI PEM key files) and
//!   [`Verifier`] ([`keys`]),
//! - verification of a stored history: [`verify_instance`] and [`verify_head`], which report
//!   [`Finding`]s ([`verify`]),
//! - the OpenSSL-checkable export ([`export()`](export())).
//!
//! The store crate maps its rows to and from [`Entry`]; it must also keep, per instance, the
//! number of entries and the hash of the last one, because truncating the *tail* of a history
//! cannot be detected from the chain alone (see [`verify_head`]).

pub mod canonical;
pub mod entry;
pub mod error;
pub mod export;
pub mod keys;
pub mod verify;

pub use canonical::{FORMAT_HEADER, canonical_bytes, canonical_json, sm3_hash};
pub use entry::{Entry, GENESIS_PREV_HASH};
pub use error::AuditError;
pub use export::export;
pub use keys::{Signer, Verifier, key_id_for};
pub use verify::{Finding, verify_head, verify_instance};

/// The GM/T 0009 default distinguishing id; stored next to the public key in exports.
pub const DEFAULT_DISTID: &str = "1234567812345678";
