//! The canonical byte format of an entry (what is hashed and signed), canonical JSON, and SM3.
//!
//! # Format `certdesk-audit-entry/v1`
//!
//! The canonical bytes of an entry are UTF-8 text: exactly eight lines, each ended by a single
//! `\n` (0x0A), in this order:
//!
//! ```text
//! certdesk-audit-entry/v1
//! prev_hash=<64 lowercase hex digits>
//! instance_id=<UUID, lowercase, hyphenated (8-4-4-4-12)>
//! seq=<decimal integer, '-' sign if negative, no leading zeros>
//! at=<YYYY-MM-DDTHH:MM:SS.ffffffZ: UTC, always 6 fractional digits (truncated to µs)>
//! actor=<actor as a JSON string>
//! event=<event as a JSON string>
//! payload=<payload as canonical JSON>
//! ```
//!
//! The first line is fixed (24 bytes with its newline), so `prev_hash` always sits on line 2 and
//! its hex digits at byte offsets 34..98: a shell can read it with `sed -n 2p`. The entry's own
//! hash is `SM3(canonical bytes)`, and its SM2 signature is computed over the same bytes.
//!
//! The format is unambiguous: no value can contain a raw newline (UUIDs, integers and
//! timestamps have fixed shapes; JSON strings escape every control character), so the bytes
//! split into exactly these eight lines and each value parses back uniquely.
//!
//! # Canonical JSON
//!
//! Strings (the actor, the event, and every string and object key inside the payload) are
//! written as JSON strings: `"` and `\` are escaped as `\"` and `\\`; U+0008, U+0009, U+000A,
//! U+000C and U+000D as `\b`, `\t`, `\n`, `\f`, `\r`; every other character below U+0020 as
//! `\u00xx` (lowercase hex); everything else (including non-ASCII) as raw UTF-8. The payload is
//! written with no whitespace; object members are sorted by key, comparing the keys' UTF-8
//! bytes (that is, by Unicode code point), recursively; arrays keep their order; numbers are
//! written as `serde_json` displays them (integers in decimal, floats in shortest round-trip
//! form, e.g. `1.5`). Because a float may be re-rendered differently after a trip through a
//! database (PostgreSQL `jsonb` normalises numbers), payloads should carry integers, strings,
//! booleans and nulls only.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::Value;
use sm3::{Digest, Sm3};
use std::fmt::Write as _;

/// First line of the canonical bytes; names the format and its version.
pub const FORMAT_HEADER: &str = "certdesk-audit-entry/v1";

/// Returns the canonical bytes of an entry (see the [module documentation](self)).
///
/// Deterministic: equal arguments give equal bytes, and any difference in any argument gives
/// different bytes (for `at`, differences below one microsecond are ignored, as PostgreSQL
/// stores microseconds).
#[must_use]
pub fn canonical_bytes(
    instance_id: uuid::Uuid,
    seq: i64,
    at: DateTime<Utc>,
    actor: &str,
    event: &str,
    payload: &Value,
    prev_hash: &[u8; 32],
) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    out.push_str(FORMAT_HEADER);
    out.push_str("\nprev_hash=");
    out.push_str(&hex::encode(prev_hash));
    out.push_str("\ninstance_id=");
    out.push_str(
        instance_id
            .as_hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer()),
    );
    out.push_str("\nseq=");
    push_display(&mut out, seq);
    out.push_str("\nat=");
    push_timestamp(&mut out, at);
    out.push_str("\nactor=");
    push_json_string(&mut out, actor);
    out.push_str("\nevent=");
    push_json_string(&mut out, event);
    out.push_str("\npayload=");
    push_canonical_json(&mut out, payload);
    out.push('\n');
    out.into_bytes()
}

/// Renders a JSON value canonically: no whitespace, object keys sorted recursively (see the
/// [module documentation](self)).
#[must_use]
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    push_canonical_json(&mut out, value);
    out
}

/// SM3 digest of `bytes`.
#[must_use]
pub fn sm3_hash(bytes: &[u8]) -> [u8; 32] {
    Sm3::digest(bytes).into()
}

/// Appends `value`'s `Display` form. Writing to a `String` cannot fail.
fn push_display(out: &mut String, value: impl std::fmt::Display) {
    let _ = write!(out, "{value}");
}

/// Appends `at` as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds, truncated).
///
/// Written field by field rather than through a chrono format string, so that the layout is
/// fixed here and no formatting error can occur. A leap second (chrono's nanosecond ≥ 10⁹) is
/// written as second 60, as RFC 3339 does.
fn push_timestamp(out: &mut String, at: DateTime<Utc>) {
    let (second, nanos) = match at.nanosecond() {
        n if n >= 1_000_000_000 => (at.second() + 1, n - 1_000_000_000),
        n => (at.second(), n),
    };
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        second,
        nanos / 1_000,
    );
}

/// Appends `s` as a JSON string literal (escaping as described in the module documentation).
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0C}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if c < '\u{20}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One step of the iterative canonical JSON writer.
enum Step<'a> {
    Value(&'a Value),
    Key(&'a str),
    Text(&'static str),
}

/// Appends `value` as canonical JSON.
///
/// Iterative (explicit stack) so that deeply nested values cannot overflow the call stack.
fn push_canonical_json(out: &mut String, value: &Value) {
    let mut stack = vec![Step::Value(value)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Text(text) => out.push_str(text),
            Step::Key(key) => {
                push_json_string(out, key);
                out.push(':');
            }
            Step::Value(Value::Null) => out.push_str("null"),
            Step::Value(Value::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
            Step::Value(Value::Number(n)) => push_display(out, n),
            Step::Value(Value::String(s)) => push_json_string(out, s),
            Step::Value(Value::Array(items)) => {
                out.push('[');
                stack.push(Step::Text("]"));
                for (i, item) in items.iter().enumerate().rev() {
                    stack.push(Step::Value(item));
                    if i > 0 {
                        stack.push(Step::Text(","));
                    }
                }
            }
            Step::Value(Value::Object(map)) => {
                out.push('{');
                stack.push(Step::Text("}"));
                let mut members: Vec<(&String, &Value)> = map.iter().collect();
                // Byte order of UTF-8 equals code point order; independent of whether
                // serde_json's `preserve_order` feature is enabled somewhere in the build.
                members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                for (i, (key, member)) in members.into_iter().enumerate().rev() {
                    stack.push(Step::Value(member));
                    stack.push(Step::Key(key));
                    if i > 0 {
                        stack.push(Step::Text(","));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap() + chrono::Duration::microseconds(89)
    }

    fn id() -> uuid::Uuid {
        uuid::Uuid::parse_str("0190c7a2-1b2c-7d3e-8f40-5a6b7c8d9e0f").unwrap()
    }

    #[test]
    fn exact_layout() {
        let bytes = canonical_bytes(
            id(),
            3,
            at(),
            "user:42",
            "decide",
            &json!({"outcome": "approve", "comment": "ok\n\"fine\"", "a": [1, {"z": null, "b": true}]}),
            &[0xab; 32],
        );
        let expected = format!(
            "certdesk-audit-entry/v1\n\
             prev_hash={}\n\
             instance_id=0190c7a2-1b2c-7d3e-8f40-5a6b7c8d9e0f\n\
             seq=3\n\
             at=2026-03-04T05:06:07.000089Z\n\
             actor=\"user:42\"\n\
             event=\"decide\"\n\
             payload={{\"a\":[1,{{\"b\":true,\"z\":null}}],\"comment\":\"ok\\n\\\"fine\\\"\",\"outcome\":\"approve\"}}\n",
            "ab".repeat(32)
        );
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    }

    #[test]
    fn prev_hash_sits_at_a_fixed_offset() {
        let bytes = canonical_bytes(id(), 1, at(), "x", "y", &Value::Null, &[0x11; 32]);
        assert_eq!(&bytes[24..34], b"prev_hash=");
        assert_eq!(&bytes[34..98], "11".repeat(32).as_bytes());
        assert_eq!(bytes[98], b'\n');
    }

    #[test]
    fn nanoseconds_below_a_microsecond_are_ignored_and_leap_second_is_60() {
        let base = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut a = String::new();
        push_timestamp(&mut a, base + chrono::Duration::nanoseconds(1_999));
        assert_eq!(a, "2026-01-01T00:00:00.000001Z");

        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_micro_opt(23, 59, 59, 1_500_000)
            .unwrap()
            .and_utc();
        let mut b = String::new();
        push_timestamp(&mut b, leap);
        assert_eq!(b, "2016-12-31T23:59:60.500000Z");
    }

    #[test]
    fn json_strings_escape_every_control_character() {
        let all_controls: String = (0u8..0x20).map(char::from).collect();
        let mut out = String::new();
        push_json_string(&mut out, &all_controls);
        assert!(!out.bytes().any(|b| b < 0x20), "{out:?}");
        // Agrees with serde_json's own escaping.
        assert_eq!(out, serde_json::to_string(&all_controls).unwrap());
        let mut out = String::new();
        push_json_string(&mut out, "é\"\\\u{7f}中");
        assert_eq!(out, serde_json::to_string("é\"\\\u{7f}中").unwrap());
    }

    #[test]
    fn canonical_json_sorts_keys_recursively_and_drops_whitespace() {
        let a: Value =
            serde_json::from_str(r#"{ "b": {"y": 1, "x": [ {"d": 0, "c": 0} ]}, "a": "" }"#)
                .unwrap();
        let b: Value = serde_json::from_str(r#"{"a":"","b":{"x":[{"c":0,"d":0}],"y":1}}"#).unwrap();
        assert_eq!(
            canonical_json(&a),
            r#"{"a":"","b":{"x":[{"c":0,"d":0}],"y":1}}"#
        );
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(canonical_json(&json!([])), "[]");
        assert_eq!(canonical_json(&json!({})), "{}");
        assert_eq!(canonical_json(&json!([1.5, -2, "é"])), r#"[1.5,-2,"é"]"#);
        // Keys compared by code point: "Z" < "a" < "é" < "中".
        assert_eq!(
            canonical_json(&json!({"中": 1, "é": 2, "a": 3, "Z": 4})),
            r#"{"Z":4,"a":3,"é":2,"中":1}"#
        );
    }

    #[test]
    fn deeply_nested_payload_does_not_overflow_the_stack() {
        let mut value = Value::Null;
        for _ in 0..100_000 {
            value = Value::Array(vec![value]);
        }
        let out = canonical_json(&value);
        assert_eq!(out.len(), 200_000 + 4);
        // Dismantle iteratively: serde_json's own Drop is recursive.
        let mut current = value;
        while let Value::Array(mut items) = current {
            current = items.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn every_field_changes_the_bytes() {
        let payload = json!({"outcome": "approve"});
        let base = canonical_bytes(id(), 2, at(), "user:1", "decide", &payload, &[0; 32]);
        let variants = [
            canonical_bytes(
                uuid::Uuid::nil(),
                2,
                at(),
                "user:1",
                "decide",
                &payload,
                &[0; 32],
            ),
            canonical_bytes(id(), 3, at(), "user:1", "decide", &payload, &[0; 32]),
            canonical_bytes(
                id(),
                2,
                at() + chrono::Duration::microseconds(1),
                "user:1",
                "decide",
                &payload,
                &[0; 32],
            ),
            canonical_bytes(id(), 2, at(), "user:2", "decide", &payload, &[0; 32]),
            canonical_bytes(id(), 2, at(), "user:1", "start", &payload, &[0; 32]),
            canonical_bytes(
                id(),
                2,
                at(),
                "user:1",
                "decide",
                &json!({"outcome": "reject"}),
                &[0; 32],
            ),
            canonical_bytes(id(), 2, at(), "user:1", "decide", &payload, &[1; 32]),
        ];
        for (i, variant) in variants.iter().enumerate() {
            assert_ne!(&base, variant, "field #{i} did not change the bytes");
        }
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        // Moving text between actor and event must change the bytes.
        let a = canonical_bytes(id(), 1, at(), "a\nevent=\"b", "c", &Value::Null, &[0; 32]);
        let b = canonical_bytes(id(), 1, at(), "a", "b\nevent=\"c", &Value::Null, &[0; 32]);
        assert_ne!(a, b);
        assert_eq!(a.iter().filter(|&&c| c == b'\n').count(), 8);
        // A string payload and an object payload with the same text differ.
        let c = canonical_bytes(id(), 1, at(), "a", "b", &json!("{}"), &[0; 32]);
        let d = canonical_bytes(id(), 1, at(), "a", "b", &json!({}), &[0; 32]);
        assert_ne!(c, d);
    }

    #[test]
    fn sm3_matches_the_standard_test_vector() {
        // GB/T 32905-2016 example 1: SM3("abc").
        assert_eq!(
            hex::encode(sm3_hash(b"abc")),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }
}
