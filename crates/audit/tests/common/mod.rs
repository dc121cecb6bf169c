//! Helpers shared by the integration tests: building sealed chains.

use certdesk_audit::{Entry, GENESIS_PREV_HASH, Signer};
use chrono::{DateTime, TimeZone, Utc};

/// The instance every test chain belongs to.
pub fn instance() -> uuid::Uuid {
    uuid::Uuid::parse_str("0190c7a2-0000-7000-8000-00000000a0d1").unwrap()
}

/// A fixed start time with a non-zero microsecond part.
pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 30, 0).unwrap() + chrono::Duration::microseconds(123_456)
}

/// A chain of `n` correctly sealed entries for [`instance`]: start, decisions, a timer.
pub fn chain(signer: &Signer, n: i64) -> Vec<Entry> {
    let mut prev = GENESIS_PREV_HASH;
    (1..=n)
        .map(|seq| {
            let (actor, event, payload) = match seq {
                1 => (
                    "user:6f1c1a52-3a1e-4c55-9a0b-1b2c3d4e5f60".to_owned(),
                    "start",
                    serde_json::json!({"to": "submitted", "product": "SM2 signing cert"}),
                ),
                s if s % 3 == 0 => (
                    "system:timer".to_owned(),
                    "timer_fired",
                    serde_json::json!({"timer": "review_sla", "from": "review", "to": "escalated"}),
                ),
                s => (
                    format!("staff:00000000-0000-4000-8000-{s:012}"),
                    "decide",
                    serde_json::json!({
                        "outcome": if s % 2 == 0 { "approve" } else { "reject" },
                        "comment": format!("审核意见 #{s}: \"ok\"\n第二行"),
                        "from": "review",
                        "to": "approved",
                    }),
                ),
            };
            let entry = signer.seal(
                instance(),
                seq,
                start() + chrono::Duration::minutes(seq),
                &actor,
                event,
                payload,
                prev,
            );
            prev = entry.hash;
            entry
        })
        .collect()
}
