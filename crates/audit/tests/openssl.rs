//! Interoperability with the OpenSSL 3 command line: key files, signatures, and the export
//! checked by `scripts/verify-audit-export.sh`.
//!
//! Each test is skipped (with a notice on stderr) only when `openssl` is not on PATH.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

#[allow(dead_code, reason = "each test crate uses part of the helpers")]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use certdesk_audit::{DEFAULT_DISTID, Entry, Signer, Verifier, export, verify_instance};
use common::chain;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../scripts/verify-audit-export.sh"
);

/// True if `openssl` can run; otherwise prints a notice so that the skip is visible.
fn have_openssl(test: &str) -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("NOTICE: `openssl` is not on PATH; skipping {test}");
    }
    ok
}

fn openssl(args: &[&str]) -> Output {
    Command::new("openssl").args(args).output().unwrap()
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs the verification script; returns (success, stdout + stderr).
fn run_script(dir: &Path) -> (bool, String) {
    let out = Command::new("bash").arg(SCRIPT).arg(dir).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The script's output line about `NNNN.bin`.
fn line_for<'a>(output: &'a str, bin: &str) -> &'a str {
    output
        .lines()
        .find(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|w| w.trim_end_matches(':') == bin)
        })
        .unwrap_or_else(|| panic!("no line for {bin} in:\n{output}"))
}

/// Exports a fresh 5-entry chain; returns (tempdir guard, export dir, signer, entries).
fn exported_chain() -> (tempfile::TempDir, PathBuf, Signer, Vec<Entry>) {
    let signer = Signer::generate();
    let entries = chain(&signer, 5);
    assert_eq!(
        verify_instance(&Verifier::from_signer(&signer), &entries),
        []
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("export");
    export(
        &signer.public_key_pem().unwrap(),
        signer.distid(),
        &entries,
        &dir,
    )
    .unwrap();
    (tmp, dir, signer, entries)
}

#[test]
fn intact_export_verifies_and_an_edited_bin_fails_naming_it() {
    if !have_openssl("intact_export_verifies_and_an_edited_bin_fails_naming_it") {
        return;
    }
    let (_tmp, dir, _, _) = exported_chain();

    let (ok, output) = run_script(&dir);
    assert!(ok, "intact export rejected:\n{output}");
    for n in 1..=5 {
        let line = line_for(&output, &format!("{n:04}.bin"));
        assert!(line.starts_with("OK "), "{line}");
    }

    // Edit one byte inside the payload line of entry 3 (the character before the final `}`).
    let bin = dir.join("0003.bin");
    let mut bytes = std::fs::read(&bin).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 0x01;
    std::fs::write(&bin, &bytes).unwrap();

    let (ok, output) = run_script(&dir);
    assert!(!ok, "edited export accepted:\n{output}");
    let line = line_for(&output, "0003.bin");
    assert!(line.starts_with("FAILED"), "{line}");
    assert!(
        line.contains("signature 0003.sig does not verify"),
        "{line}"
    );
    assert!(line.contains("SM3 of 0003.bin"), "{line}");
    // Entry 4 links to the hash recorded for entry 3, so the failure stays on entry 3.
    for n in [1, 2, 4, 5] {
        let line = line_for(&output, &format!("{n:04}.bin"));
        assert!(line.starts_with("OK "), "{line}");
    }
}

#[test]
fn swapped_signatures_fail_naming_both_entries() {
    if !have_openssl("swapped_signatures_fail_naming_both_entries") {
        return;
    }
    let (_tmp, dir, _, _) = exported_chain();
    let (a, b) = (dir.join("0002.sig"), dir.join("0004.sig"));
    let sig_a = std::fs::read(&a).unwrap();
    let sig_b = std::fs::read(&b).unwrap();
    std::fs::write(&a, sig_b).unwrap();
    std::fs::write(&b, sig_a).unwrap();

    let (ok, output) = run_script(&dir);
    assert!(!ok, "swapped signatures accepted:\n{output}");
    for n in [2, 4] {
        let line = line_for(&output, &format!("{n:04}.bin"));
        assert!(line.starts_with("FAILED"), "{line}");
        assert!(
            line.contains(&format!("signature {n:04}.sig does not verify")),
            "{line}"
        );
    }
    for n in [1, 3, 5] {
        assert!(line_for(&output, &format!("{n:04}.bin")).starts_with("OK "));
    }
}

#[test]
fn deleted_entry_breaks_the_chain_in_the_script() {
    if !have_openssl("deleted_entry_breaks_the_chain_in_the_script") {
        return;
    }
    let (_tmp, dir, _, _) = exported_chain();
    for ext in ["bin", "sig", "sm3"] {
        std::fs::remove_file(dir.join(format!("0003.{ext}"))).unwrap();
    }
    let (ok, output) = run_script(&dir);
    assert!(!ok, "export with a deleted entry accepted:\n{output}");
    let line = line_for(&output, "0004.bin");
    assert!(line.starts_with("FAILED"), "{line}");
    assert!(line.contains("chain broken"), "{line}");
    assert!(line.contains("seq in 0004.bin is 4, expected 3"), "{line}");
    // Its own signature and hash are still fine.
    assert!(!line.contains("signature"), "{line}");
}

#[test]
fn wrong_distid_fails_every_signature() {
    if !have_openssl("wrong_distid_fails_every_signature") {
        return;
    }
    let (_tmp, dir, _, _) = exported_chain();
    std::fs::write(dir.join("distid.txt"), "8765432187654321\n").unwrap();
    let (ok, output) = run_script(&dir);
    assert!(!ok, "{output}");
    for n in 1..=5 {
        let line = line_for(&output, &format!("{n:04}.bin"));
        assert!(line.contains("does not verify"), "{line}");
    }
}

#[test]
fn openssl_accepts_our_key_files() {
    if !have_openssl("openssl_accepts_our_key_files") {
        return;
    }
    let signer = Signer::generate();
    let tmp = tempfile::tempdir().unwrap();
    let private = tmp.path().join("key.pem");
    let public = tmp.path().join("pub.pem");
    std::fs::write(&private, signer.to_pkcs8_pem().unwrap()).unwrap();
    std::fs::write(&public, signer.public_key_pem().unwrap()).unwrap();

    let out = openssl(&["pkey", "-in", path_str(&private), "-noout"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = openssl(&["pkey", "-pubin", "-in", path_str(&public), "-noout"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // OpenSSL sees an SM2 key and derives the same public key from the private one.
    let out = openssl(&["pkey", "-in", path_str(&private), "-noout", "-text"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ASN1 OID: SM2"), "{text}");
    let out = openssl(&["pkey", "-in", path_str(&private), "-pubout"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        signer.public_key_pem().unwrap()
    );
}

#[test]
fn key_generated_by_openssl_loads_and_its_export_verifies() {
    if !have_openssl("key_generated_by_openssl_loads_and_its_export_verifies") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("openssl-key.pem");
    let out = openssl(&["genpkey", "-algorithm", "SM2", "-out", path_str(&key)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let distid = "certdesk@ca.example.cn";
    let signer = Signer::load_private_key(&key, distid).unwrap();
    let out = openssl(&["pkey", "-in", path_str(&key), "-pubout"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        signer.public_key_pem().unwrap()
    );

    let entries = chain(&signer, 3);
    let dir = tmp.path().join("export");
    export(&signer.public_key_pem().unwrap(), distid, &entries, &dir).unwrap();
    let (ok, output) = run_script(&dir);
    assert!(ok, "{output}");
    assert!(
        output.contains(&format!("key id {}", signer.key_id())),
        "{output}"
    );
}

#[test]
fn signature_made_by_openssl_verifies_in_rust() {
    if !have_openssl("signature_made_by_openssl_verifies_in_rust") {
        return;
    }
    let distid = "alice@example.cn";
    let signer =
        Signer::from_pkcs8_pem(&Signer::generate().to_pkcs8_pem().unwrap(), distid).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("key.pem");
    let msg = tmp.path().join("msg.bin");
    let sig = tmp.path().join("msg.sig");
    std::fs::write(&key, signer.to_pkcs8_pem().unwrap()).unwrap();
    let mut entry = chain(&signer, 1).remove(0);
    std::fs::write(&msg, entry.canonical_bytes()).unwrap();

    let out = openssl(&[
        "pkeyutl",
        "-sign",
        "-inkey",
        path_str(&key),
        "-rawin",
        "-digest",
        "sm3",
        "-pkeyopt",
        &format!("distid:{distid}"),
        "-in",
        path_str(&msg),
        "-out",
        path_str(&sig),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let openssl_sig = std::fs::read(&sig).unwrap();
    assert_ne!(openssl_sig, entry.signature, "OpenSSL uses a random nonce");

    entry.signature = openssl_sig;
    let verifier = Verifier::from_signer(&signer);
    assert_eq!(verify_instance(&verifier, std::slice::from_ref(&entry)), []);

    // The distid matters: the same signature fails under the default one.
    let default =
        Verifier::new(&[(signer.public_key_pem().unwrap(), DEFAULT_DISTID.into())]).unwrap();
    assert_eq!(
        verify_instance(&default, std::slice::from_ref(&entry)).len(),
        1
    );
}
