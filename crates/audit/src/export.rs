//! Rendering of one instance's history as a directory that an outside party can check with
//! the OpenSSL 3 command line alone (`scripts/verify-audit-export.sh DIR`).
//!
//! Layout of the directory:
//!
//! | file | content |
//! |---|---|
//! | `public_key.pem` | the service's SM2 public key (SubjectPublicKeyInfo PEM) |
//! | `distid.txt` | the SM2 distinguishing id, one line |
//! | `NNNN.bin` | canonical bytes of the N-th entry (what was hashed and signed) |
//! | `NNNN.sig` | its SM2 signature, DER |
//! | `NNNN.sm3` | its SM3 hash, lowercase hex, one line |
//! | `entries.jsonl` | one JSON object per entry: every field (hashes hex, signature base64) plus the names of its files |
//! | `README.txt` | the checks, in plain words |
//!
//! `NNNN` is the 1-based position of the entry in the export, zero-padded to at least four
//! digits and to the same width for every entry, so that names sort in order; for an intact
//! history it equals the entry's seq.

use std::path::Path;

use serde::Serialize;

use crate::keys::normalized_public_key_pem;
use crate::{AuditError, Entry, FORMAT_HEADER};

/// One line of `entries.jsonl`.
#[derive(Serialize)]
struct ExportRecord<'a> {
    #[serde(flatten)]
    entry: &'a Entry,
    canonical_file: String,
    signature_file: String,
    hash_file: String,
}

/// Writes one instance's history (`entries`, in seq order, from seq 1) to `dir` for checking
/// with OpenSSL (see the [module documentation](self) and `scripts/verify-audit-export.sh`).
///
/// `verifier_pub_pem` and `distid` are the public key and distinguishing id the entries were
/// signed with; entries signed with another key will fail the outside check. `dir` is created
/// if needed and must be empty. An empty history gives an export with no entry files.
///
/// # Errors
///
/// [`AuditError::PublicKey`] / [`AuditError::InvalidDistid`] for an unusable key or distid,
/// [`AuditError::MixedInstances`] if entries of several instances are given,
/// [`AuditError::ExportDirNotEmpty`], [`AuditError::Io`] on file system errors.
pub fn export(
    verifier_pub_pem: &str,
    distid: &str,
    entries: &[Entry],
    dir: &Path,
) -> Result<(), AuditError> {
    let public_pem = normalized_public_key_pem(verifier_pub_pem, distid)?;
    if let Some(first) = entries.first()
        && let Some(other) = entries.iter().find(|e| e.instance_id != first.instance_id)
    {
        return Err(AuditError::MixedInstances {
            first: first.instance_id,
            other: other.instance_id,
        });
    }

    std::fs::create_dir_all(dir).map_err(|e| AuditError::io(dir, e))?;
    let mut listing = std::fs::read_dir(dir).map_err(|e| AuditError::io(dir, e))?;
    if listing.next().is_some() {
        return Err(AuditError::ExportDirNotEmpty {
            path: dir.to_path_buf(),
        });
    }

    let write = |name: &str, contents: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, contents).map_err(|e| AuditError::io(path, e))
    };

    write("public_key.pem", public_pem.as_bytes())?;
    write("distid.txt", format!("{distid}\n").as_bytes())?;

    let width = entries.len().to_string().len().max(4);
    let mut jsonl = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let stem = format!("{:0width$}", index + 1);
        let record = ExportRecord {
            entry,
            canonical_file: format!("{stem}.bin"),
            signature_file: format!("{stem}.sig"),
            hash_file: format!("{stem}.sm3"),
        };
        write(&record.canonical_file, &entry.canonical_bytes())?;
        write(&record.signature_file, &entry.signature)?;
        write(
            &record.hash_file,
            format!("{}\n", hex::encode(entry.hash)).as_bytes(),
        )?;
        serde_json::to_writer(&mut jsonl, &record)?;
        jsonl.push(b'\n');
    }
    write("entries.jsonl", &jsonl)?;
    write("README.txt", readme(distid, entries).as_bytes())?;
    Ok(())
}

/// The text of `README.txt`.
fn readme(distid: &str, entries: &[Entry]) -> String {
    let instance = entries
        .first()
        .map_or_else(|| "(no entries)".to_owned(), |e| e.instance_id.to_string());
    let count = entries.len();
    let head = entries
        .last()
        .map_or_else(|| "0".repeat(64), |e| hex::encode(e.hash));
    format!(
        "\
certdesk audit export
=====================

Workflow instance: {instance}
Entries:           {count}
Head hash (SM3 of the last entry): {head}

This directory holds the decision history of one workflow instance. Every entry was
hashed with SM3 and signed with the certificate authority's SM2 key. You can check it
with the OpenSSL 3 command line alone; scripts/verify-audit-export.sh DIR runs both
checks below for every entry and prints one OK/FAILED line per entry.

Files
-----
public_key.pem   the CA's SM2 public key. Compare it (or its fingerprint) with the key the
                 CA publishes: a valid signature only proves the entries were signed by
                 whoever holds the matching private key.
distid.txt       the SM2 distinguishing id used in the signatures ({distid}).
NNNN.bin         the exact bytes that were hashed and signed for entry NNNN (text, 8 lines).
NNNN.sig         the SM2 signature of NNNN.bin (DER).
NNNN.sm3         the SM3 hash of NNNN.bin (hex).
entries.jsonl    the same entries as JSON, one per line, for reading.

Format of NNNN.bin (each line ends with a newline character):
  line 1  {FORMAT_HEADER}
  line 2  prev_hash=<SM3 of the previous entry's .bin, hex; 64 zeros for the first entry>
  line 3  instance_id=<uuid>
  line 4  seq=<1, 2, 3...>
  line 5  at=<UTC time, RFC 3339 with microseconds>
  line 6  actor=<JSON string>
  line 7  event=<JSON string>
  line 8  payload=<JSON, keys sorted, no whitespace>

Check 1: the signature of every entry
-------------------------------------
  openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -digest sm3 \\
      -pkeyopt distid:{distid} -in 0001.bin -sigfile 0001.sig
must print \"Signature Verified Successfully\" for every NNNN.

Check 2: the hash chain
-----------------------
  openssl dgst -sm3 -r 0001.bin
must print the hash stored in 0001.sm3, and line 2 of every NNNN.bin (prev_hash=...)
must equal the hash in the previous entry's .sm3 (64 zeros for the first entry), with
seq (line 4) going up by one from 1. Then no entry was edited, removed, inserted or
reordered.

A chain cannot show that entries were removed from its END. Compare the number of
entries and the head hash above with the values the CA gives you for this instance.
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DEFAULT_DISTID, Signer};
    use chrono::TimeZone;

    fn chain(signer: &Signer, n: i64) -> Vec<Entry> {
        let at = chrono::Utc.with_ymd_and_hms(2026, 2, 3, 4, 5, 6).unwrap();
        let mut prev = crate::GENESIS_PREV_HASH;
        (1..=n)
            .map(|seq| {
                let e = signer.seal(
                    uuid::Uuid::from_u128(5),
                    seq,
                    at,
                    "user:r",
                    "decide",
                    serde_json::json!({"n": seq}),
                    prev,
                );
                prev = e.hash;
                e
            })
            .collect()
    }

    #[test]
    fn writes_every_file() {
        let signer = Signer::generate();
        let entries = chain(&signer, 3);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("export");
        export(
            &signer.public_key_pem().unwrap(),
            DEFAULT_DISTID,
            &entries,
            &out,
        )
        .unwrap();

        let read = |name: &str| std::fs::read(out.join(name)).unwrap();
        assert_eq!(read("distid.txt"), b"1234567812345678\n");
        assert_eq!(
            read("public_key.pem"),
            signer.public_key_pem().unwrap().as_bytes()
        );
        for (i, e) in entries.iter().enumerate() {
            let stem = format!("{:04}", i + 1);
            assert_eq!(read(&format!("{stem}.bin")), e.canonical_bytes());
            assert_eq!(read(&format!("{stem}.sig")), e.signature);
            assert_eq!(
                read(&format!("{stem}.sm3")),
                format!("{}\n", hex::encode(e.hash)).as_bytes()
            );
        }
        let jsonl = String::from_utf8(read("entries.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1]["canonical_file"], "0002.bin");
        assert_eq!(lines[1]["seq"], 2);
        assert_eq!(lines[1]["hash"], hex::encode(entries[1].hash));
        let back: Entry = serde_json::from_value(lines[2].clone()).unwrap();
        assert_eq!(back, entries[2]);
        let readme = String::from_utf8(read("README.txt")).unwrap();
        assert!(readme.contains("-pkeyopt distid:1234567812345678"));
        assert!(readme.contains(&hex::encode(entries[2].hash)));
    }

    #[test]
    fn names_share_one_width_beyond_9999_entries() {
        let signer = Signer::generate();
        let entries = chain(&signer, 1);
        let many: Vec<Entry> = std::iter::repeat_n(entries[0].clone(), 10_000).collect();
        let dir = tempfile::tempdir().unwrap();
        export(
            &signer.public_key_pem().unwrap(),
            DEFAULT_DISTID,
            &many,
            dir.path(),
        )
        .unwrap();
        assert!(dir.path().join("00001.bin").exists());
        assert!(dir.path().join("10000.sig").exists());
        assert!(!dir.path().join("0001.bin").exists());
    }

    #[test]
    fn refuses_non_empty_dirs_mixed_instances_and_bad_keys() {
        let signer = Signer::generate();
        let pem = signer.public_key_pem().unwrap();
        let entries = chain(&signer, 2);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stale.bin"), b"x").unwrap();
        assert!(matches!(
            export(&pem, DEFAULT_DISTID, &entries, dir.path()),
            Err(AuditError::ExportDirNotEmpty { .. })
        ));

        let empty = tempfile::tempdir().unwrap();
        let mut mixed = entries.clone();
        mixed[1].instance_id = uuid::Uuid::from_u128(6);
        assert!(matches!(
            export(&pem, DEFAULT_DISTID, &mixed, empty.path()),
            Err(AuditError::MixedInstances { .. })
        ));
        assert!(matches!(
            export("garbage", DEFAULT_DISTID, &entries, empty.path()),
            Err(AuditError::PublicKey(_))
        ));
        assert!(matches!(
            export(&pem, "bad distid", &entries, empty.path()),
            Err(AuditError::InvalidDistid { .. })
        ));
        assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
    }
}
