//! SM2 keys: [`Signer`] (seals entries; PKCS#8 private key files, SPKI public key PEM) and
//! [`Verifier`] (checks signatures with one or more public keys, looked up by key id).
//!
//! Keys use the SM2 curve (OID 1.2.156.10197.1.301) with the generic `id-ecPublicKey`
//! algorithm identifier, which is what OpenSSL 3 writes and reads for SM2 keys. Every key is
//! paired with an SM2 *distinguishing id* (distid) that enters every signature (through `Z_A`):
//! a signature only verifies with the distid it was made with, so the distid must be stored
//! next to the public key. See [`DEFAULT_DISTID`].
//!
//! A key's id ([`key_id_for`]) is the first 16 hex digits of the SM3 hash of its uncompressed
//! SEC1 public key (`04 || x || y`, 65 bytes).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry as MapEntry;
use std::fmt;
use std::path::Path;

use chrono::{DateTime, Timelike, Utc};
use sm2::dsa::signature::{Signer as _, Verifier as _};
use sm2::dsa::{Signature, SigningKey, VerifyingKey};
use sm2::elliptic_curve::Generate as _;
use sm2::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
    LineEnding,
};
use sm2::{PublicKey, Scalar, SecretKey};

use crate::{AuditError, DEFAULT_DISTID, Entry, canonical_bytes, sm3_hash};

/// Longest distinguishing id accepted: its bit length must fit the 16-bit `ENTL` field.
const MAX_DISTID_LEN: usize = 8191;

/// Returns the key id of a public key given as SEC1 bytes: the first 16 hex digits of
/// SM3(bytes). certdesk always passes the uncompressed form (65 bytes, `04 || x || y`).
#[must_use]
pub fn key_id_for(sec1_public_key: &[u8]) -> String {
    let mut id = hex::encode(sm3_hash(sec1_public_key));
    id.truncate(16);
    id
}

/// Checks that `distid` can be used: 1 to 8191 bytes of visible ASCII (0x21..=0x7E).
///
/// Visible ASCII keeps the distid safe to pass to `openssl … -pkeyopt distid:<distid>` and to
/// store as one line in an export's `distid.txt`.
fn validate_distid(distid: &str) -> Result<(), AuditError> {
    if distid.is_empty() {
        return Err(AuditError::InvalidDistid { reason: "empty" });
    }
    if distid.len() > MAX_DISTID_LEN {
        return Err(AuditError::InvalidDistid {
            reason: "longer than 8191 bytes",
        });
    }
    if !distid.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AuditError::InvalidDistid {
            reason: "only visible ASCII characters (no spaces) are allowed",
        });
    }
    Ok(())
}

fn key_id_of(key: &VerifyingKey) -> String {
    key_id_for(&key.to_sec1_bytes())
}

/// Parses an SPKI PEM SM2 public key and pairs it with `distid`.
fn verifying_key_from_pem(pem: &str, distid: &str) -> Result<VerifyingKey, AuditError> {
    validate_distid(distid)?;
    let public = PublicKey::from_public_key_pem(pem.trim())
        .map_err(|e| AuditError::PublicKey(e.to_string()))?;
    VerifyingKey::new(distid, public).map_err(|e| AuditError::PublicKey(e.to_string()))
}

/// Re-encodes an SPKI PEM public key after checking it, so that exports always carry the
/// canonical SubjectPublicKeyInfo form.
pub(crate) fn normalized_public_key_pem(pem: &str, distid: &str) -> Result<String, AuditError> {
    let key = verifying_key_from_pem(pem, distid)?;
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| AuditError::KeyEncoding(e.to_string()))
}

/// The service's SM2 signing key, with its distinguishing id and key id; seals entries.
///
/// `Debug` shows the key id and distid only, never the secret.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    key_id: String,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .field("distid", &self.distid())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Generates a new key from the operating system's CSPRNG, with [`DEFAULT_DISTID`].
    ///
    /// # Panics
    ///
    /// Only if the operating system's random number generator fails.
    #[must_use]
    pub fn generate() -> Self {
        loop {
            // `from_secret` rejects only d = n − 1 (probability 2⁻²⁵⁶ per draw): draw again.
            if let Ok(signer) = Self::from_secret(&SecretKey::generate(), DEFAULT_DISTID) {
                return signer;
            }
        }
    }

    /// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`, as written by
    /// [`to_pkcs8_pem`](Self::to_pkcs8_pem) or `openssl genpkey -algorithm SM2`).
    ///
    /// # Errors
    ///
    /// [`AuditError::PrivateKey`] if the PEM is not an SM2 PKCS#8 key,
    /// [`AuditError::InvalidDistid`] for an unusable distid, [`AuditError::UnusableKey`] for the
    /// one scalar SM2 cannot sign with.
    pub fn from_pkcs8_pem(pem: &str, distid: &str) -> Result<Self, AuditError> {
        let secret = SecretKey::from_pkcs8_pem(pem.trim())
            .map_err(|e| AuditError::PrivateKey(e.to_string()))?;
        Self::from_secret(&secret, distid)
    }

    /// Reads a PKCS#8 PEM private key file (see [`from_pkcs8_pem`](Self::from_pkcs8_pem)).
    ///
    /// # Errors
    ///
    /// [`AuditError::Io`] if the file cannot be read, else as
    /// [`from_pkcs8_pem`](Self::from_pkcs8_pem).
    pub fn load_private_key(path: &Path, distid: &str) -> Result<Self, AuditError> {
        let pem = std::fs::read_to_string(path).map_err(|e| AuditError::io(path, e))?;
        Self::from_pkcs8_pem(&pem, distid)
    }

    fn from_secret(secret: &SecretKey, distid: &str) -> Result<Self, AuditError> {
        validate_distid(distid)?;
        // SM2 signing computes (1 + d)⁻¹; with d = n − 1 every signature would fail.
        if bool::from((Scalar::ONE + *secret.to_nonzero_scalar()).is_zero()) {
            return Err(AuditError::UnusableKey);
        }
        let key = SigningKey::new(distid, secret).map_err(|_| AuditError::InvalidDistid {
            reason: "rejected by SM2",
        })?;
        let key_id = key_id_of(key.verifying_key());
        Ok(Self { key, key_id })
    }

    /// Writes the private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, unencrypted),
    /// which `openssl pkey -in key.pem -noout` accepts. The distid is not part of the file.
    ///
    /// # Errors
    ///
    /// [`AuditError::KeyEncoding`] if encoding fails.
    pub fn to_pkcs8_pem(&self) -> Result<String, AuditError> {
        let secret = SecretKey::from(self.key.as_nonzero_scalar());
        let pem = secret
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| AuditError::KeyEncoding(e.to_string()))?;
        Ok(String::clone(&pem))
    }

    /// Writes the private key to a new file as PKCS#8 PEM, readable by its owner only
    /// (mode 0600 on Unix). Refuses to overwrite an existing file.
    ///
    /// # Errors
    ///
    /// [`AuditError::Io`] if the file exists or cannot be written.
    pub fn save_private_key(&self, path: &Path) -> Result<(), AuditError> {
        use std::io::Write as _;
        let pem = self.to_pkcs8_pem()?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| AuditError::io(path, e))?;
        file.write_all(pem.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| AuditError::io(path, e))
    }

    /// The public key as SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), which
    /// `openssl pkey -pubin` accepts; curve OID 1.2.156.10197.1.301.
    ///
    /// # Errors
    ///
    /// [`AuditError::KeyEncoding`] if encoding fails.
    pub fn public_key_pem(&self) -> Result<String, AuditError> {
        self.key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| AuditError::KeyEncoding(e.to_string()))
    }

    /// The key id (fingerprint) recorded in every entry this signer seals.
    #[must_use]
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The SM2 distinguishing id used in every signature.
    #[must_use]
    pub fn distid(&self) -> &str {
        self.key.distid()
    }

    /// Builds the next entry: truncates `at` to microseconds (as PostgreSQL stores it), then
    /// computes the canonical bytes, their SM3 hash and the SM2 signature over them.
    ///
    /// `prev_hash` is the `hash` of the instance's previous entry, or
    /// [`GENESIS_PREV_HASH`](crate::GENESIS_PREV_HASH) for seq 1.
    ///
    /// Signing is deterministic (RFC 6979 nonces): the same inputs give the same entry.
    ///
    /// # Panics
    ///
    /// Not in practice. SM2 signing fails only if `1 + d` is not invertible (rejected when the
    /// signer is built) or, for a given message, with probability about 2⁻²⁵⁵.
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per entry field, as the store calls it"
    )]
    #[must_use]
    pub fn seal(
        &self,
        instance_id: uuid::Uuid,
        seq: i64,
        at: DateTime<Utc>,
        actor: &str,
        event: &str,
        payload: serde_json::Value,
        prev_hash: [u8; 32],
    ) -> Entry {
        let at = at
            .with_nanosecond(at.nanosecond() / 1_000 * 1_000)
            .unwrap_or(at);
        let bytes = canonical_bytes(instance_id, seq, at, actor, event, &payload, &prev_hash);
        let signature: Signature = self.key.sign(&bytes);
        Entry {
            instance_id,
            seq,
            at,
            actor: actor.to_owned(),
            event: event.to_owned(),
            payload,
            prev_hash,
            hash: sm3_hash(&bytes),
            signature: signature.to_der().to_vec(),
            key_id: self.key_id.clone(),
        }
    }
}

/// Verifies entry signatures with the service's public keys, looked up by key id (several keys
/// may have been used over time).
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: BTreeMap<String, VerifyingKey>,
}

impl Verifier {
    /// Builds a verifier from `(SubjectPublicKeyInfo PEM, distid)` pairs.
    ///
    /// # Errors
    ///
    /// [`AuditError::NoVerifyingKeys`] for an empty list, [`AuditError::PublicKey`] or
    /// [`AuditError::InvalidDistid`] for an unusable pair, [`AuditError::ConflictingKey`] if
    /// one key is given twice with different distids.
    pub fn new(keys: &[(String, String)]) -> Result<Self, AuditError> {
        if keys.is_empty() {
            return Err(AuditError::NoVerifyingKeys);
        }
        let mut map = BTreeMap::new();
        for (pem, distid) in keys {
            let key = verifying_key_from_pem(pem, distid)?;
            let key_id = key_id_of(&key);
            match map.entry(key_id) {
                MapEntry::Vacant(slot) => {
                    slot.insert(key);
                }
                MapEntry::Occupied(known) if known.get().distid() != key.distid() => {
                    return Err(AuditError::ConflictingKey {
                        key_id: known.key().clone(),
                    });
                }
                // The same key with the same distid, given twice: harmless.
                MapEntry::Occupied(_) => {}
            }
        }
        Ok(Self { keys: map })
    }

    /// A verifier for the signer's own public key.
    #[must_use]
    pub fn from_signer(signer: &Signer) -> Self {
        let key = signer.key.verifying_key().clone();
        Self {
            keys: BTreeMap::from([(signer.key_id.clone(), key)]),
        }
    }

    /// The ids of the keys this verifier knows, in ascending order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Whether `der_signature` is a valid SM2 signature over `message` by the key `key_id`
    /// (false for an unknown key or a malformed signature).
    #[must_use]
    pub fn verify_signature(&self, key_id: &str, message: &[u8], der_signature: &[u8]) -> bool {
        let Some(key) = self.keys.get(key_id) else {
            return false;
        };
        Signature::from_der(der_signature).is_ok_and(|sig| key.verify(message, &sig).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use sm2::elliptic_curve::Curve as _;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 6, 7, 8, 9).unwrap()
    }

    #[test]
    fn pem_round_trip_keeps_the_key_id() {
        let signer = Signer::generate();
        assert_eq!(signer.key_id().len(), 16);
        assert!(signer.key_id().bytes().all(|b| b.is_ascii_hexdigit()));
        let pem = signer.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
        let again = Signer::from_pkcs8_pem(&pem, DEFAULT_DISTID).unwrap();
        assert_eq!(again.key_id(), signer.key_id());
        assert_eq!(
            again.public_key_pem().unwrap(),
            signer.public_key_pem().unwrap()
        );
        assert_ne!(Signer::generate().key_id(), signer.key_id());
    }

    #[test]
    fn public_pem_is_spki_with_the_sm2_curve() {
        let signer = Signer::generate();
        let pem = signer.public_key_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        let verifier = Verifier::new(&[(pem, DEFAULT_DISTID.into())]).unwrap();
        assert_eq!(verifier.key_ids().collect::<Vec<_>>(), [signer.key_id()]);
    }

    #[test]
    fn debug_does_not_leak_the_secret() {
        let signer = Signer::generate();
        let secret_hex = hex::encode(signer.key.to_bytes());
        let debug = format!("{signer:?}");
        assert!(debug.contains(signer.key_id()));
        assert!(!debug.to_lowercase().contains(&secret_hex));
    }

    #[test]
    fn garbage_keys_are_errors() {
        assert!(matches!(
            Signer::from_pkcs8_pem("not a key", DEFAULT_DISTID),
            Err(AuditError::PrivateKey(_))
        ));
        let public = Signer::generate().public_key_pem().unwrap();
        assert!(matches!(
            Signer::from_pkcs8_pem(&public, DEFAULT_DISTID),
            Err(AuditError::PrivateKey(_))
        ));
        let private = Signer::generate().to_pkcs8_pem().unwrap();
        assert!(matches!(
            Verifier::new(&[(private, DEFAULT_DISTID.into())]),
            Err(AuditError::PublicKey(_))
        ));
        assert!(matches!(
            Verifier::new(&[]),
            Err(AuditError::NoVerifyingKeys)
        ));
    }

    #[test]
    fn distids_are_validated() {
        let pem = Signer::generate().to_pkcs8_pem().unwrap();
        for bad in ["", "has space", "tab\t", "é", &"x".repeat(8192)] {
            assert!(
                matches!(
                    Signer::from_pkcs8_pem(&pem, bad),
                    Err(AuditError::InvalidDistid { .. })
                ),
                "{bad:?}"
            );
        }
        let long = "x".repeat(8191);
        assert_eq!(Signer::from_pkcs8_pem(&pem, &long).unwrap().distid(), long);
        assert_eq!(
            Signer::from_pkcs8_pem(&pem, "alice@example.cn")
                .unwrap()
                .distid(),
            "alice@example.cn"
        );
    }

    #[test]
    fn the_one_unusable_scalar_is_rejected() {
        // d = n − 1 makes 1 + d ≡ 0 (mod n): SM2 cannot sign with it.
        let n_minus_1 = sm2::Sm2::ORDER.get().wrapping_sub(&sm2::U256::ONE);
        let secret = SecretKey::from_slice(&n_minus_1.to_be_bytes()).unwrap();
        assert!(matches!(
            Signer::from_secret(&secret, DEFAULT_DISTID),
            Err(AuditError::UnusableKey)
        ));
    }

    #[test]
    fn seal_truncates_to_microseconds_and_signs_deterministically() {
        let signer = Signer::generate();
        let when = at() + chrono::Duration::nanoseconds(123_456_789);
        let id = uuid::Uuid::from_u128(1);
        let a = signer.seal(
            id,
            1,
            when,
            "user:x",
            "start",
            serde_json::json!({}),
            [0; 32],
        );
        assert_eq!(a.at.nanosecond(), 123_456_000);
        assert_eq!(a.hash, a.computed_hash());
        assert_eq!(a.key_id, signer.key_id());
        let b = signer.seal(
            id,
            1,
            a.at,
            "user:x",
            "start",
            serde_json::json!({}),
            [0; 32],
        );
        assert_eq!(a, b);
    }

    #[test]
    fn signatures_verify_only_under_the_signing_key_and_distid() {
        let signer = Signer::generate();
        let other = Signer::generate();
        let entry = signer.seal(
            uuid::Uuid::from_u128(9),
            1,
            at(),
            "system:timer",
            "timer_fired",
            serde_json::Value::Null,
            [0; 32],
        );
        let bytes = entry.canonical_bytes();
        let own = Verifier::from_signer(&signer);
        assert!(own.verify_signature(signer.key_id(), &bytes, &entry.signature));

        // Another key, even when claimed under the signer's key id.
        let foreign = Verifier::from_signer(&other);
        assert!(!foreign.verify_signature(other.key_id(), &bytes, &entry.signature));
        assert!(!foreign.verify_signature(signer.key_id(), &bytes, &entry.signature));

        // Same key, different distid.
        let pem = signer.public_key_pem().unwrap();
        let wrong_distid = Verifier::new(&[(pem.clone(), "8765432187654321".into())]).unwrap();
        assert!(!wrong_distid.verify_signature(signer.key_id(), &bytes, &entry.signature));

        // Malformed DER and other messages.
        assert!(!own.verify_signature(signer.key_id(), &bytes, &[0x30, 0x00]));
        assert!(!own.verify_signature(signer.key_id(), b"other", &entry.signature));

        // Both keys known: each entry verifies under its own key id.
        let both = Verifier::new(&[
            (pem, DEFAULT_DISTID.into()),
            (other.public_key_pem().unwrap(), DEFAULT_DISTID.into()),
        ])
        .unwrap();
        assert!(both.verify_signature(signer.key_id(), &bytes, &entry.signature));
        assert_eq!(both.key_ids().count(), 2);
    }

    #[test]
    fn same_key_with_two_distids_conflicts() {
        let pem = Signer::generate().public_key_pem().unwrap();
        assert!(matches!(
            Verifier::new(&[
                (pem.clone(), DEFAULT_DISTID.into()),
                (pem.clone(), "other".into())
            ]),
            Err(AuditError::ConflictingKey { .. })
        ));
        // The same pair twice is harmless.
        let v = Verifier::new(&[
            (pem.clone(), DEFAULT_DISTID.into()),
            (pem, DEFAULT_DISTID.into()),
        ])
        .unwrap();
        assert_eq!(v.key_ids().count(), 1);
    }

    #[test]
    fn save_private_key_refuses_to_overwrite_and_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit-key.pem");
        let signer = Signer::generate();
        signer.save_private_key(&path).unwrap();
        assert!(matches!(
            signer.save_private_key(&path),
            Err(AuditError::Io { .. })
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let loaded = Signer::load_private_key(&path, DEFAULT_DISTID).unwrap();
        assert_eq!(loaded.key_id(), signer.key_id());
    }
}
