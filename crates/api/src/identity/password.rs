//! Login passwords (登录密码): the rules a new one must meet, and argon2id hashing.
//!
//! Rules: 8 to 64 characters of printable ASCII (no spaces), at least one letter and one
//! digit. The manuals ask for 8–16 characters with letters and digits (数信签 3.1) or three of
//! four character classes (网证通 2.2.1); a longer maximum lets password managers work, and the
//! floor is the manuals'.
//!
//! Hashes are PHC strings of argon2id with the `argon2` crate's defaults (m = 19 MiB, t = 2,
//! p = 1, the OWASP recommendation), so stored hashes carry their own parameters and old ones
//! keep verifying when the defaults move. Hashing and verifying take tens of milliseconds of
//! CPU: callers run them on actix's blocking pool, never on the request's thread.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::problem::FieldProblem;

/// Fewest characters of a password.
pub const MIN_CHARS: usize = 8;
/// Most characters of a password.
pub const MAX_CHARS: usize = 64;

/// Checks a new password against the rules; the problem names `field`.
///
/// # Errors
///
/// A [`FieldProblem`] with code `password_too_short`, `password_too_long`,
/// `password_bad_characters` or `password_too_weak`.
pub fn check_rules(field: &str, password: &str) -> Result<(), FieldProblem> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(FieldProblem::new(
            field,
            "password_too_short",
            format!("密码至少 {MIN_CHARS} 位"),
            format!("the password must have at least {MIN_CHARS} characters"),
        ));
    }
    if chars > MAX_CHARS {
        return Err(FieldProblem::new(
            field,
            "password_too_long",
            format!("密码不能超过 {MAX_CHARS} 位"),
            format!("the password must have at most {MAX_CHARS} characters"),
        ));
    }
    if !password.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FieldProblem::new(
            field,
            "password_bad_characters",
            "密码只能包含英文字母、数字和英文符号，不能有空格",
            "the password may only contain ASCII letters, digits and symbols, without spaces",
        ));
    }
    let letter = password.bytes().any(|b| b.is_ascii_alphabetic());
    let digit = password.bytes().any(|b| b.is_ascii_digit());
    if !(letter && digit) {
        return Err(FieldProblem::new(
            field,
            "password_too_weak",
            "密码须同时包含字母和数字",
            "the password must contain both letters and digits",
        ));
    }
    Ok(())
}

/// Hashes a password into an argon2id PHC string (random 16-byte salt).
///
/// # Errors
///
/// When the random number generator fails (the only way argon2 fails on valid input).
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
}

/// Whether `password` matches `stored`. Without a stored hash (unknown phone, no password set)
/// a dummy hash is verified instead, so the answer takes as long either way.
#[must_use]
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    match stored {
        Some(phc) => Argon2::default()
            .verify_password(password.as_bytes(), phc)
            .is_ok(),
        None => {
            if let Some(dummy) = dummy_hash() {
                let _ = Argon2::default().verify_password(password.as_bytes(), dummy);
            }
            false
        }
    }
}

/// A hash with the current parameters of a password nobody knows, made once per process.
fn dummy_hash() -> Option<&'static str> {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let mut secret = [0u8; 16];
            getrandom::fill(&mut secret).ok()?;
            hash(&hex::encode(secret)).ok()
        })
        .as_deref()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn rules() {
        let code = |p: &str| check_rules("new_password", p).err().map(|e| e.code);
        assert_eq!(code("abc12345"), None);
        assert_eq!(code("Abc!2345678"), None);
        assert_eq!(code("abc1234").as_deref(), Some("password_too_short"));
        assert_eq!(
            code(&format!("a1{}", "x".repeat(63))).as_deref(),
            Some("password_too_long")
        );
        assert_eq!(code("abcdefgh").as_deref(), Some("password_too_weak"));
        assert_eq!(code("12345678").as_deref(), Some("password_too_weak"));
        assert_eq!(
            code("abc 12345").as_deref(),
            Some("password_bad_characters")
        );
        assert_eq!(
            code("密码abc12345").as_deref(),
            Some("password_bad_characters")
        );
    }

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify() {
        let h = hash("abc12345").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("abc12345", Some(&h)));
        assert!(!verify("abc12346", Some(&h)));
        assert!(!verify("abc12345", Some("not a phc string")));
        assert!(!verify("abc12345", None));
        assert_ne!(hash("abc12345").unwrap(), h, "salted");
    }
}
