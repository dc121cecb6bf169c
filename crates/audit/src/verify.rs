//! Verification of one instance's stored history: [`verify_instance`] (content, signatures,
//! chain, sequence numbers) and [`verify_head`] (the recorded head), reporting [`Finding`]s.
//!
//! # What is detected, and how
//!
//! | tampering | findings |
//! |---|---|
//! | a row's content edited | [`Finding::EditedEntry`] on it (its stored hash no longer matches) |
//! | content edited and the hash recomputed | [`Finding::BadSignature`] on it, [`Finding::BrokenChain`] on the next row |
//! | a middle row deleted | [`Finding::MissingSeq`] and [`Finding::BrokenChain`] on the row after the gap |
//! | a forged row inserted with a new seq | [`Finding::BadSignature`] (without the service key it cannot be signed) |
//! | a forged row reusing a seq | [`Finding::DuplicateSeq`], [`Finding::BadSignature`], [`Finding::BrokenChain`] |
//! | two rows' seq values swapped | [`Finding::EditedEntry`] on both and [`Finding::BrokenChain`] from the first of them on |
//! | a row moved from another instance | [`Finding::WrongInstance`] |
//! | the **last** rows deleted | nothing from the chain alone: see below |
//!
//! Deleting the tail of a history leaves a shorter chain that is perfectly valid. The store
//! therefore keeps, in the instance row, the number of entries and the hash of the last one
//! (updated in the same transaction as each append), and [`verify_head`] compares them with the
//! stored history: [`Finding::TruncatedHistory`] or [`Finding::HeadMismatch`]. An attacker
//! who can rewrite both the history and the instance row can still truncate; an export handed to
//! an outside party, or a head hash published elsewhere, closes that gap.

use std::fmt;

use crate::{Entry, GENESIS_PREV_HASH, Verifier};

/// A problem found in one instance's history, naming the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The entry's stored hash does not match its content: the content (or the hash) was
    /// edited.
    EditedEntry {
        /// The instance.
        instance_id: uuid::Uuid,
        /// The edited entry.
        seq: i64,
    },
    /// The entry's content matches its hash, but the signature does not verify (or was made
    /// with an unknown key): the entry was forged or edited and re-hashed.
    BadSignature {
        /// The instance.
        instance_id: uuid::Uuid,
        /// The entry.
        seq: i64,
    },
    /// The entry's `prev_hash` is not the hash of the previous stored entry (or, for seq 1,
    /// not all zeros): a row was deleted, inserted, reordered or re-hashed before it.
    BrokenChain {
        /// The instance.
        instance_id: uuid::Uuid,
        /// The entry whose link is broken.
        seq: i64,
    },
    /// A gap in the sequence: entries between `expected` and `found` are missing.
    MissingSeq {
        /// The instance.
        instance_id: uuid::Uuid,
        /// The seq that should have come next.
        expected: i64,
        /// The seq found instead.
        found: i64,
    },
    /// Two rows carry the same seq: a row was inserted.
    DuplicateSeq {
        /// The instance.
        instance_id: uuid::Uuid,
        /// The repeated seq.
        seq: i64,
    },
    /// A seq lower than expected that does not repeat the previous one: entries are out of
    /// order, or the first entry has a seq below 1.
    UnexpectedSeq {
        /// The instance.
        instance_id: uuid::Uuid,
        /// The seq that should have come next.
        expected: i64,
        /// The seq found instead.
        found: i64,
    },
    /// An entry of another instance appears in this instance's history.
    WrongInstance {
        /// The instance being verified (that of the first entry).
        instance_id: uuid::Uuid,
        /// The stray entry's seq.
        seq: i64,
        /// The instance the stray entry names.
        found: uuid::Uuid,
    },
    /// The stored history has fewer entries than the instance records: rows were deleted
    /// (possibly at the end, which the chain alone cannot reveal).
    TruncatedHistory {
        /// The instance.
        instance_id: uuid::Uuid,
        /// The number of entries the instance records.
        expected_count: i64,
        /// The number of entries stored.
        found_count: i64,
    },
    /// The last stored entry is not the head the instance records: its hash differs, or
    /// entries exist beyond the recorded count.
    HeadMismatch {
        /// The instance.
        instance_id: uuid::Uuid,
        /// The seq of the last stored entry.
        seq: i64,
    },
}

impl Finding {
    /// The instance the finding is about.
    #[must_use]
    pub fn instance_id(&self) -> uuid::Uuid {
        match self {
            Self::EditedEntry { instance_id, .. }
            | Self::BadSignature { instance_id, .. }
            | Self::BrokenChain { instance_id, .. }
            | Self::MissingSeq { instance_id, .. }
            | Self::DuplicateSeq { instance_id, .. }
            | Self::UnexpectedSeq { instance_id, .. }
            | Self::WrongInstance { instance_id, .. }
            | Self::TruncatedHistory { instance_id, .. }
            | Self::HeadMismatch { instance_id, .. } => *instance_id,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EditedEntry { instance_id, seq } => write!(
                f,
                "instance {instance_id}, entry seq {seq}: content was edited (the stored hash does not match it)"
            ),
            Self::BadSignature { instance_id, seq } => write!(
                f,
                "instance {instance_id}, entry seq {seq}: the signature does not verify (forged, re-hashed or unknown key)"
            ),
            Self::BrokenChain { instance_id, seq } => write!(
                f,
                "instance {instance_id}, entry seq {seq}: prev_hash does not match the previous stored entry (a row was deleted, inserted or reordered before it)"
            ),
            Self::MissingSeq {
                instance_id,
                expected,
                found,
            } => write!(
                f,
                "instance {instance_id}: entry seq {expected} is missing (found seq {found} next; rows were deleted)"
            ),
            Self::DuplicateSeq { instance_id, seq } => write!(
                f,
                "instance {instance_id}, entry seq {seq}: the seq is used by more than one row (a row was inserted)"
            ),
            Self::UnexpectedSeq {
                instance_id,
                expected,
                found,
            } => write!(
                f,
                "instance {instance_id}, entry seq {found}: out of order (expected seq {expected})"
            ),
            Self::WrongInstance {
                instance_id,
                seq,
                found,
            } => write!(
                f,
                "instance {instance_id}, entry seq {seq}: the entry belongs to instance {found}"
            ),
            Self::TruncatedHistory {
                instance_id,
                expected_count,
                found_count,
            } => write!(
                f,
                "instance {instance_id}: history truncated, {found_count} entries stored but {expected_count} recorded"
            ),
            Self::HeadMismatch { instance_id, seq } => write!(
                f,
                "instance {instance_id}, entry seq {seq}: the last stored entry is not the recorded head"
            ),
        }
    }
}

/// Verifies one instance's entries (given in stored order, by seq) and returns every finding;
/// an empty result means the history is intact (up to truncation of its tail: see
/// [`verify_head`]).
///
/// The instance is that of the first entry. Each entry is checked for: belonging to that
/// instance; its seq following the previous one (1 first); its stored hash matching its
/// content ([`Finding::EditedEntry`]); if it does, its signature
/// ([`Finding::BadSignature`], since a signature over edited content fails anyway); and its
/// `prev_hash` equalling the stored hash of the previous entry, or zeros for seq 1.
#[must_use]
pub fn verify_instance(verifier: &Verifier, entries: &[Entry]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let Some(first) = entries.first() else {
        return findings;
    };
    let instance_id = first.instance_id;
    let mut previous: Option<&Entry> = None;
    // Highest seq seen so far (0 before the first entry).
    let mut last_seq: i64 = 0;

    for entry in entries {
        let seq = entry.seq;
        if entry.instance_id != instance_id {
            findings.push(Finding::WrongInstance {
                instance_id,
                seq,
                found: entry.instance_id,
            });
        }

        let expected = last_seq.saturating_add(1);
        if seq != expected {
            findings.push(match previous {
                Some(prev) if prev.seq == seq => Finding::DuplicateSeq { instance_id, seq },
                _ if seq > expected => Finding::MissingSeq {
                    instance_id,
                    expected,
                    found: seq,
                },
                _ => Finding::UnexpectedSeq {
                    instance_id,
                    expected,
                    found: seq,
                },
            });
        }
        last_seq = last_seq.max(seq);

        let bytes = entry.canonical_bytes();
        if crate::sm3_hash(&bytes) != entry.hash {
            findings.push(Finding::EditedEntry { instance_id, seq });
        } else if !verifier.verify_signature(&entry.key_id, &bytes, &entry.signature) {
            findings.push(Finding::BadSignature { instance_id, seq });
        }

        let chained = match previous {
            Some(prev) => entry.prev_hash == prev.hash,
            // A history whose first rows are gone cannot be checked back to the start; the
            // gap is reported as MissingSeq.
            None if seq == 1 => entry.prev_hash == GENESIS_PREV_HASH,
            None => true,
        };
        if !chained {
            findings.push(Finding::BrokenChain { instance_id, seq });
        }
        previous = Some(entry);
    }
    findings
}

/// Compares the stored history of `instance_id` with the head the store records in the
/// instance row: the number of entries and the hash of the last one (all zeros when there is
/// none). Catches truncation of the tail, which [`verify_instance`] cannot see.
///
/// Returns [`Finding::TruncatedHistory`] if fewer entries are stored than recorded, and
/// [`Finding::HeadMismatch`] if more are stored, or if the last one's hash is not the
/// recorded head hash.
#[must_use]
pub fn verify_head(
    instance_id: uuid::Uuid,
    entries: &[Entry],
    expected_count: i64,
    expected_head_hash: &[u8; 32],
) -> Option<Finding> {
    let found_count = i64::try_from(entries.len()).unwrap_or(i64::MAX);
    if found_count < expected_count {
        return Some(Finding::TruncatedHistory {
            instance_id,
            expected_count,
            found_count,
        });
    }
    let last = entries.last()?;
    if found_count > expected_count || last.hash != *expected_head_hash {
        return Some(Finding::HeadMismatch {
            instance_id,
            seq: last.seq,
        });
    }
    None
}
