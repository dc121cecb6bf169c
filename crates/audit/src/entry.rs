//! The [`Entry`] type: one sealed history entry as stored, and its serde representation.
//!
//! In JSON, `prev_hash` and `hash` are lowercase hex strings and `signature` is standard
//! base64 (with padding) of the DER-encoded SM2 signature.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `prev_hash` of the first entry (seq 1) of every instance: 32 zero bytes.
pub const GENESIS_PREV_HASH: [u8; 32] = [0; 32];

/// One history entry as stored (the store maps its rows to and from this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The workflow instance whose history this entry belongs to.
    pub instance_id: uuid::Uuid,
    /// Position in the instance's history: 1, 2, 3… with no gaps.
    pub seq: i64,
    /// When the decision was taken; microsecond precision (PostgreSQL `timestamptz`).
    pub at: DateTime<Utc>,
    /// Who decided: `"user:<uuid>"`, `"system:timer"`, `"staff:<uuid>"`… (opaque text).
    pub actor: String,
    /// What happened, e.g. `"decide"`, `"start"`, `"timer_fired"`.
    pub event: String,
    /// Event details (outcome, reason, comment, from/to state…).
    pub payload: serde_json::Value,
    /// SM3 hash of the previous entry of the same instance; all zeros for seq 1.
    #[serde(with = "hex32")]
    pub prev_hash: [u8; 32],
    /// SM3 of this entry's canonical bytes (which include `prev_hash`).
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
    /// SM2 signature (DER, as OpenSSL produces and expects) over the canonical bytes, computed
    /// with the key's distinguishing id.
    #[serde(with = "base64_bytes")]
    pub signature: Vec<u8>,
    /// Fingerprint of the signing key: the first 16 hex digits of the SM3 hash of its
    /// uncompressed SEC1 public key (see [`key_id_for`](crate::key_id_for)).
    pub key_id: String,
}

impl Entry {
    /// The canonical bytes of this entry's content (see [`canonical_bytes`](crate::canonical_bytes)).
    #[must_use]
    pub fn canonical_bytes(&self) -> Vec<u8> {
        crate::canonical_bytes(
            self.instance_id,
            self.seq,
            self.at,
            &self.actor,
            &self.event,
            &self.payload,
            &self.prev_hash,
        )
    }

    /// SM3 of this entry's canonical bytes, recomputed from its content (compare with `hash`).
    #[must_use]
    pub fn computed_hash(&self) -> [u8; 32] {
        crate::sm3_hash(&self.canonical_bytes())
    }
}

/// `[u8; 32]` as a lowercase hex string.
mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(text.as_bytes(), &mut out).map_err(D::Error::custom)?;
        Ok(out)
    }
}

/// `Vec<u8>` as standard base64.
mod base64_bytes {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD.decode(text.as_bytes()).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample() -> Entry {
        Entry {
            instance_id: uuid::Uuid::from_u128(7),
            seq: 1,
            at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            actor: "system:timer".into(),
            event: "timer_fired".into(),
            payload: serde_json::json!({"to": "expired"}),
            prev_hash: GENESIS_PREV_HASH,
            hash: [0xfe; 32],
            signature: vec![0x30, 0x02, 0xff],
            key_id: "0123456789abcdef".into(),
        }
    }

    #[test]
    fn json_uses_hex_and_base64_and_round_trips() {
        let entry = sample();
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["hash"], "fe".repeat(32));
        assert_eq!(json["prev_hash"], "00".repeat(32));
        assert_eq!(json["signature"], "MAL/");
        let back: Entry = serde_json::from_value(json).unwrap();
        assert_eq!(back, entry);
    }

    #[test]
    fn bad_hex_or_base64_is_rejected() {
        let mut json = serde_json::to_value(sample()).unwrap();
        json["hash"] = "zz".into();
        assert!(serde_json::from_value::<Entry>(json.clone()).is_err());
        json["hash"] = "fe".repeat(31).into();
        assert!(serde_json::from_value::<Entry>(json.clone()).is_err());
        json["hash"] = "fe".repeat(32).into();
        json["signature"] = "not base64!".into();
        assert!(serde_json::from_value::<Entry>(json).is_err());
    }
}
