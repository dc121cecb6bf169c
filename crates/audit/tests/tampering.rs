//! Tampering with a stored history: every kind of change is reported as the right findings.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

#[allow(dead_code, reason = "each test crate uses part of the helpers")]
mod common;

use certdesk_audit::{
    DEFAULT_DISTID, Entry, Finding, GENESIS_PREV_HASH, Signer, Verifier, verify_head,
    verify_instance,
};
use common::{chain, instance};

fn setup() -> (Signer, Verifier, Vec<Entry>) {
    let signer = Signer::generate();
    let verifier = Verifier::from_signer(&signer);
    let entries = chain(&signer, 5);
    (signer, verifier, entries)
}

/// Re-hashes an entry after its content was edited (what a forger without the key can do).
fn rehash(entry: &mut Entry) {
    entry.hash = entry.computed_hash();
}

fn id() -> uuid::Uuid {
    instance()
}

#[test]
fn intact_history_has_no_findings() {
    let (_, verifier, entries) = setup();
    assert_eq!(verify_instance(&verifier, &entries), []);
    assert_eq!(verify_head(id(), &entries, 5, &entries[4].hash), None);
    assert_eq!(verify_instance(&verifier, &[]), []);
    assert_eq!(verify_head(id(), &[], 0, &GENESIS_PREV_HASH), None);
}

#[test]
fn history_survives_a_json_round_trip() {
    let (_, verifier, entries) = setup();
    let json = serde_json::to_string(&entries).unwrap();
    let back: Vec<Entry> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, entries);
    assert_eq!(verify_instance(&verifier, &back), []);
}

#[test]
fn edited_payload_is_an_edited_entry() {
    let (_, verifier, mut entries) = setup();
    entries[2].payload["to"] = "approved-by-someone-else".into();
    assert_eq!(
        verify_instance(&verifier, &entries),
        [Finding::EditedEntry {
            instance_id: id(),
            seq: 3
        }]
    );
}

/// A change made to one entry.
type Edit = fn(&mut Entry);

#[test]
fn every_edited_field_is_detected() {
    let (_, verifier, entries) = setup();
    let edits: [(&str, Edit); 6] = [
        ("actor", |e| e.actor.push('x')),
        ("event", |e| e.event = "cancel".into()),
        ("payload", |e| e.payload = serde_json::Value::Null),
        ("at", |e| e.at += chrono::Duration::microseconds(1)),
        ("hash", |e| e.hash[31] ^= 1),
        ("prev_hash", |e| e.prev_hash[0] ^= 1),
    ];
    for (field, edit) in edits {
        let mut tampered = entries.clone();
        edit(&mut tampered[1]);
        let findings = verify_instance(&verifier, &tampered);
        assert!(
            findings.contains(&Finding::EditedEntry {
                instance_id: id(),
                seq: 2
            }),
            "{field}: {findings:?}"
        );
    }
}

#[test]
fn edited_and_rehashed_entry_has_a_bad_signature_and_breaks_the_next_link() {
    let (_, verifier, mut entries) = setup();
    entries[2].payload["outcome"] = "approve".into();
    entries[2].actor = "staff:00000000-0000-4000-8000-000000000666".into();
    rehash(&mut entries[2]);
    assert_eq!(
        verify_instance(&verifier, &entries),
        [
            Finding::BadSignature {
                instance_id: id(),
                seq: 3
            },
            Finding::BrokenChain {
                instance_id: id(),
                seq: 4
            },
        ]
    );
}

#[test]
fn edited_hash_alone_is_an_edit_and_breaks_the_next_link() {
    let (_, verifier, mut entries) = setup();
    entries[1].hash = [7; 32];
    assert_eq!(
        verify_instance(&verifier, &entries),
        [
            Finding::EditedEntry {
                instance_id: id(),
                seq: 2
            },
            Finding::BrokenChain {
                instance_id: id(),
                seq: 3
            },
        ]
    );
}

#[test]
fn deleted_middle_row_is_a_gap_and_a_broken_link() {
    let (_, verifier, mut entries) = setup();
    entries.remove(2);
    assert_eq!(
        verify_instance(&verifier, &entries),
        [
            Finding::MissingSeq {
                instance_id: id(),
                expected: 3,
                found: 4
            },
            Finding::BrokenChain {
                instance_id: id(),
                seq: 4
            },
        ]
    );
    assert_eq!(
        verify_head(id(), &entries, 5, &entries[3].hash),
        Some(Finding::TruncatedHistory {
            instance_id: id(),
            expected_count: 5,
            found_count: 4
        })
    );
}

#[test]
fn deleted_first_row_is_a_gap() {
    let (_, verifier, mut entries) = setup();
    entries.remove(0);
    assert_eq!(
        verify_instance(&verifier, &entries),
        [Finding::MissingSeq {
            instance_id: id(),
            expected: 1,
            found: 2
        }]
    );
}

#[test]
fn forged_row_appended_has_a_bad_signature() {
    let (signer, verifier, mut entries) = setup();
    // A well-formed sixth entry, correctly chained, signed with another key but claiming ours.
    let forger = Signer::generate();
    let mut forged = forger.seal(
        id(),
        6,
        common::start() + chrono::Duration::hours(1),
        "staff:00000000-0000-4000-8000-000000000666",
        "decide",
        serde_json::json!({"outcome": "approve"}),
        entries[4].hash,
    );
    forged.key_id = signer.key_id().to_owned();
    entries.push(forged.clone());
    assert_eq!(
        verify_instance(&verifier, &entries),
        [Finding::BadSignature {
            instance_id: id(),
            seq: 6
        }]
    );
    // Under its own (unknown) key id it fails too.
    forged.key_id = forger.key_id().to_owned();
    entries[5] = forged;
    assert_eq!(
        verify_instance(&verifier, &entries),
        [Finding::BadSignature {
            instance_id: id(),
            seq: 6
        }]
    );
}

#[test]
fn forged_row_reusing_a_seq_is_a_duplicate() {
    let (_, verifier, mut entries) = setup();
    let mut forged = entries[2].clone();
    forged.payload["outcome"] = "approve".into();
    rehash(&mut forged);
    entries.insert(3, forged);
    assert_eq!(
        verify_instance(&verifier, &entries),
        [
            Finding::DuplicateSeq {
                instance_id: id(),
                seq: 3
            },
            Finding::BadSignature {
                instance_id: id(),
                seq: 3
            },
            Finding::BrokenChain {
                instance_id: id(),
                seq: 3
            },
            Finding::BrokenChain {
                instance_id: id(),
                seq: 4
            },
        ]
    );
}

#[test]
fn swapped_seqs_are_edits_and_break_the_chain() {
    let (_, verifier, mut entries) = setup();
    // Swap the seq values of rows 2 and 3, then read them back in seq order.
    entries[1].seq = 3;
    entries[2].seq = 2;
    entries.sort_by_key(|e| e.seq);
    assert_eq!(
        verify_instance(&verifier, &entries),
        [
            Finding::EditedEntry {
                instance_id: id(),
                seq: 2
            },
            Finding::BrokenChain {
                instance_id: id(),
                seq: 2
            },
            Finding::EditedEntry {
                instance_id: id(),
                seq: 3
            },
            Finding::BrokenChain {
                instance_id: id(),
                seq: 3
            },
            Finding::BrokenChain {
                instance_id: id(),
                seq: 4
            },
        ]
    );
}

#[test]
fn reordered_rows_are_out_of_sequence() {
    let (_, verifier, mut entries) = setup();
    entries.swap(1, 2);
    let findings = verify_instance(&verifier, &entries);
    assert!(findings.contains(&Finding::MissingSeq {
        instance_id: id(),
        expected: 2,
        found: 3
    }));
    assert!(findings.contains(&Finding::UnexpectedSeq {
        instance_id: id(),
        expected: 4,
        found: 2
    }));
    assert!(findings.contains(&Finding::BrokenChain {
        instance_id: id(),
        seq: 2
    }));
}

#[test]
fn row_from_another_instance_is_reported() {
    let (signer, verifier, mut entries) = setup();
    let other = signer.seal(
        uuid::Uuid::from_u128(99),
        6,
        common::start(),
        "system:timer",
        "timer_fired",
        serde_json::Value::Null,
        entries[4].hash,
    );
    entries.push(other);
    assert_eq!(
        verify_instance(&verifier, &entries),
        [Finding::WrongInstance {
            instance_id: id(),
            seq: 6,
            found: uuid::Uuid::from_u128(99)
        }]
    );
}

#[test]
fn truncated_tail_is_invisible_to_the_chain_but_caught_by_the_head() {
    let (_, verifier, entries) = setup();
    let head = entries[4].hash;
    let truncated = &entries[..4];
    // The shorter chain is valid on its own: this is why the store keeps a head.
    assert_eq!(verify_instance(&verifier, truncated), []);
    assert_eq!(
        verify_head(id(), truncated, 5, &head),
        Some(Finding::TruncatedHistory {
            instance_id: id(),
            expected_count: 5,
            found_count: 4
        })
    );
    assert_eq!(
        verify_head(id(), &[], 5, &head),
        Some(Finding::TruncatedHistory {
            instance_id: id(),
            expected_count: 5,
            found_count: 0
        })
    );
}

#[test]
fn head_mismatch_when_rows_appended_or_last_replaced() {
    let (signer, _, entries) = setup();
    // Appended beyond the recorded count.
    assert_eq!(
        verify_head(id(), &entries, 4, &entries[3].hash),
        Some(Finding::HeadMismatch {
            instance_id: id(),
            seq: 5
        })
    );
    // Last entry replaced by another validly signed one (e.g. a replayed decision).
    let mut replaced = entries.clone();
    replaced[4] = signer.seal(
        id(),
        5,
        common::start(),
        "system:timer",
        "timer_fired",
        serde_json::Value::Null,
        entries[3].hash,
    );
    assert_eq!(
        verify_head(id(), &replaced, 5, &entries[4].hash),
        Some(Finding::HeadMismatch {
            instance_id: id(),
            seq: 5
        })
    );
    assert_eq!(
        verify_head(id(), &entries[..0], 0, &GENESIS_PREV_HASH),
        None
    );
}

#[test]
fn signatures_fail_under_another_key() {
    let (_, _, entries) = setup();
    let other = Verifier::from_signer(&Signer::generate());
    let findings = verify_instance(&other, &entries);
    let expected: Vec<Finding> = (1..=5)
        .map(|seq| Finding::BadSignature {
            instance_id: id(),
            seq,
        })
        .collect();
    assert_eq!(findings, expected);
}

#[test]
fn rotated_keys_verify_with_a_multi_key_verifier() {
    let old = Signer::generate();
    let new = Signer::from_pkcs8_pem(
        &Signer::generate().to_pkcs8_pem().unwrap(),
        "certdesk@ca.example",
    )
    .unwrap();
    let mut entries = chain(&old, 2);
    let third = new.seal(
        id(),
        3,
        common::start(),
        "system:timer",
        "timer_fired",
        serde_json::Value::Null,
        entries[1].hash,
    );
    entries.push(third);
    let verifier = Verifier::new(&[
        (old.public_key_pem().unwrap(), DEFAULT_DISTID.to_owned()),
        (
            new.public_key_pem().unwrap(),
            "certdesk@ca.example".to_owned(),
        ),
    ])
    .unwrap();
    assert_eq!(verify_instance(&verifier, &entries), []);
    // Without the new key, only the entry it signed fails.
    assert_eq!(
        verify_instance(&Verifier::from_signer(&old), &entries),
        [Finding::BadSignature {
            instance_id: id(),
            seq: 3
        }]
    );
}

#[test]
fn findings_name_instance_and_seq() {
    let other = uuid::Uuid::from_u128(42);
    let cases = [
        (
            Finding::EditedEntry {
                instance_id: id(),
                seq: 7,
            },
            "seq 7",
        ),
        (
            Finding::BadSignature {
                instance_id: id(),
                seq: 7,
            },
            "seq 7",
        ),
        (
            Finding::BrokenChain {
                instance_id: id(),
                seq: 7,
            },
            "seq 7",
        ),
        (
            Finding::MissingSeq {
                instance_id: id(),
                expected: 7,
                found: 9,
            },
            "seq 7",
        ),
        (
            Finding::DuplicateSeq {
                instance_id: id(),
                seq: 7,
            },
            "seq 7",
        ),
        (
            Finding::UnexpectedSeq {
                instance_id: id(),
                expected: 8,
                found: 7,
            },
            "seq 7",
        ),
        (
            Finding::WrongInstance {
                instance_id: id(),
                seq: 7,
                found: other,
            },
            "seq 7",
        ),
        (
            Finding::TruncatedHistory {
                instance_id: id(),
                expected_count: 7,
                found_count: 6,
            },
            "7 recorded",
        ),
        (
            Finding::HeadMismatch {
                instance_id: id(),
                seq: 7,
            },
            "seq 7",
        ),
    ];
    for (finding, needle) in cases {
        let text = finding.to_string();
        assert!(text.contains(&id().to_string()), "{text}");
        assert!(text.contains(needle), "{text}");
        assert_eq!(finding.instance_id(), id());
    }
}

/// Small xorshift generator: reproducible randomness without extra dependencies.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
}

#[test]
fn random_single_changes_are_always_detected() {
    let (_, verifier, entries) = setup();
    let mut rng = XorShift(0x5eed_cafe_f00d_1234);
    for round in 0..300 {
        let mut tampered = entries.clone();
        let i = rng.below(tampered.len());
        let e = &mut tampered[i];
        let what = rng.below(10);
        match what {
            0 => e.instance_id = uuid::Uuid::from_u128(u128::from(rng.next())),
            1 => e.seq += i64::try_from(rng.below(3)).unwrap() + 1,
            2 => {
                e.at += chrono::Duration::microseconds(i64::try_from(rng.below(1000)).unwrap() + 1)
            }
            3 => e.actor = format!("user:{}", rng.next()),
            4 => e.event = format!("event-{}", rng.next()),
            5 => e.payload = serde_json::json!({"n": rng.next()}),
            6 => e.prev_hash[rng.below(32)] ^= 1 << rng.below(8),
            7 => e.hash[rng.below(32)] ^= 1 << rng.below(8),
            8 => {
                let j = rng.below(e.signature.len());
                e.signature[j] ^= 1 << rng.below(8);
            }
            _ => e.key_id = format!("{:016x}", rng.next()),
        }
        assert_ne!(tampered, entries, "round {round}: no change made");
        let findings = verify_instance(&verifier, &tampered);
        assert!(
            !findings.is_empty(),
            "round {round}: change #{what} to entry {i} went unnoticed"
        );
    }
}
