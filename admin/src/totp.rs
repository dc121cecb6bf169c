//! Time-based one-time passwords (RFC 6238): HMAC-SHA1, 6 digits, 30-second steps, as every
//! authenticator app (Google Authenticator, 微信小程序「腾讯身份验证器」, 1Password…) reads
//! from an `otpauth://totp/…` URI.
//!
//! This module is pure: it computes codes for a time step and formats secrets. Which step was
//! last accepted (replay protection) is kept in `staff_credentials` by [`crate::staff`].

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per time step.
pub const STEP_SECS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Bytes of a new secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;

/// The time step `at` falls in (RFC 6238 `T`, with `T0` = 0).
#[must_use]
pub fn step_at(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(STEP_SECS)
}

/// The HOTP value (RFC 4226 section 5.3) of `secret` at counter `step`, `digits` long.
#[must_use]
pub fn hotp(secret: &[u8], step: u64, digits: u32) -> u32 {
    // HMAC accepts keys of any length, so this never fails.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return 0;
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = (u32::from(digest[offset]) & 0x7f) << 24
        | u32::from(digest[offset + 1]) << 16
        | u32::from(digest[offset + 2]) << 8
        | u32::from(digest[offset + 3]);
    binary % 10u32.pow(digits)
}

/// The 6-digit code of `secret` for time step `step`, zero-padded.
#[must_use]
pub fn code(secret: &[u8], step: i64) -> String {
    let value = hotp(secret, u64::try_from(step).unwrap_or(0), DIGITS);
    format!("{value:06}")
}

/// The time step within `now`'s step ± 1 whose code `entered` is, if any. One step either
/// side tolerates a phone clock 30 s off and a code typed as it turns over.
#[must_use]
pub fn matching_step(secret: &[u8], entered: &str, now: DateTime<Utc>) -> Option<i64> {
    let entered = entered.trim();
    if entered.len() != 6 || !entered.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    [current - 1, current, current + 1]
        .into_iter()
        .find(|&s| constant_time_eq(code(secret, s).as_bytes(), entered.as_bytes()))
}

/// A new random secret.
///
/// # Errors
///
/// When the operating system's random number generator fails.
pub fn generate_secret() -> Result<Vec<u8>, getrandom::Error> {
    let mut secret = vec![0u8; SECRET_BYTES];
    getrandom::fill(&mut secret)?;
    Ok(secret)
}

/// RFC 4648 base32 without padding: how authenticator apps take a secret.
#[must_use]
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URI an authenticator app scans or imports (Key Uri Format).
#[must_use]
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        percent_encode(issuer),
        percent_encode(account),
        base32(secret),
        percent_encode(issuer)
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
#[must_use]
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Compares without an early exit, so timing tells nothing about where two values differ.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;
    use chrono::TimeZone;

    /// RFC 6238 appendix B, SHA-1 rows: the 20-byte ASCII secret "12345678901234567890" and
    /// 8-digit codes.
    #[test]
    fn rfc_6238_sha1_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, expected) in [
            (59i64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            let step = step_at(Utc.timestamp_opt(time, 0).unwrap());
            assert_eq!(hotp(secret, step as u64, 8), expected, "T = {time}");
        }
        // The 6-digit code is the low six digits of the same value.
        assert_eq!(
            code(secret, step_at(Utc.timestamp_opt(59, 0).unwrap())),
            "287082"
        );
    }

    /// RFC 4226 appendix D: HOTP values for counters 0 and 9.
    #[test]
    fn rfc_4226_hotp_vectors() {
        let secret = b"12345678901234567890";
        assert_eq!(hotp(secret, 0, 6), 755_224);
        assert_eq!(hotp(secret, 9, 6), 520_489);
    }

    #[test]
    fn a_code_matches_its_step_and_the_neighbours_only() {
        let secret = b"12345678901234567890";
        let now = Utc.timestamp_opt(1_111_111_111, 0).unwrap();
        let step = step_at(now);
        assert_eq!(matching_step(secret, &code(secret, step), now), Some(step));
        assert_eq!(
            matching_step(secret, &code(secret, step - 1), now),
            Some(step - 1)
        );
        assert_eq!(matching_step(secret, &code(secret, step + 2), now), None);
        assert_eq!(matching_step(secret, &code(secret, step - 2), now), None);
        assert_eq!(matching_step(secret, "12345", now), None);
        assert_eq!(matching_step(secret, "abcdef", now), None);
    }

    #[test]
    fn base32_and_uri() {
        // RFC 4648 section 10 vectors, padding dropped.
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(
            otpauth_uri("中标 一证通", "a@b.cn", b"foobar"),
            "otpauth://totp/%E4%B8%AD%E6%A0%87%20%E4%B8%80%E8%AF%81%E9%80%9A:a%40b.cn?secret=MZXW6YTBOI&issuer=%E4%B8%AD%E6%A0%87%20%E4%B8%80%E8%AF%81%E9%80%9A&algorithm=SHA1&digits=6&period=30"
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
