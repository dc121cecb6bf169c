//! SMS codes: drawing them, and the keyed hash that is all the database keeps of them.
//!
//! A code is 6 decimal digits drawn uniformly from the operating system's CSPRNG (rejection
//! sampling, so no digit string is likelier than another). What is stored is
//! `HMAC-SHA256(key, purpose ‖ 0x00 ‖ phone ‖ 0x00 ‖ code)`: without the server key, a copy of
//! the table does not give the million-candidate search it would give for a plain hash.
//! Purpose and phone are inside the MAC, so a code cannot be replayed for another phone or
//! purpose. Comparison is `hmac`'s `verify_slice`, in constant time.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Purpose;

/// Digits in a code.
pub const CODE_DIGITS: usize = 6;

/// Codes there are (10^6).
const CODE_SPACE: u32 = 1_000_000;

/// The largest multiple of [`CODE_SPACE`] a `u32` holds: draws at or above it are redrawn, so
/// `draw % CODE_SPACE` is uniform.
const UNBIASED_BELOW: u32 = (u32::MAX / CODE_SPACE) * CODE_SPACE;

type HmacSha256 = Hmac<Sha256>;

/// The server secret the code hashes are keyed with (at least 32 bytes). `Debug` never shows
/// it.
#[derive(Clone)]
pub struct CodeKey(Arc<KeyInner>);

struct KeyInner {
    bytes: Vec<u8>,
    /// HMAC state after the key, cloned for each code.
    keyed: HmacSha256,
}

impl std::fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CodeKey({} bytes, redacted)", self.0.bytes.len())
    }
}

/// Why a configured key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeKeyError {
    /// Neither hex nor base64.
    #[error("expected hex or base64")]
    Encoding,
    /// Fewer than [`CodeKey::MIN_BYTES`] bytes.
    #[error("the key is {0} bytes; at least 32 are needed (64 hex characters)")]
    TooShort(usize),
}

/// Why a key file could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum CodeKeyFileError {
    /// Reading, creating or linking the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not hold a usable key.
    #[error("{}: {source}", path.display())]
    Invalid {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with its content.
        #[source]
        source: CodeKeyError,
    },
}

impl CodeKey {
    /// Fewest bytes of key accepted.
    pub const MIN_BYTES: usize = 32;

    /// Parses a key written as hex (an even number of hex digits) or else as base64 (standard
    /// or URL-safe, padded or not). Surrounding whitespace (a file's newline) is ignored.
    ///
    /// # Errors
    ///
    /// [`CodeKeyError`] when the text is neither, or the key is shorter than 32 bytes.
    pub fn parse(text: &str) -> Result<Self, CodeKeyError> {
        let text = text.trim();
        let bytes = if !text.is_empty()
            && text.len().is_multiple_of(2)
            && text.bytes().all(|b| b.is_ascii_hexdigit())
        {
            hex::decode(text).map_err(|_| CodeKeyError::Encoding)?
        } else {
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(text).ok())
                .ok_or(CodeKeyError::Encoding)?
        };
        Self::from_bytes(&bytes)
    }

    /// A key from raw bytes.
    ///
    /// # Errors
    ///
    /// [`CodeKeyError::TooShort`] under 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodeKeyError> {
        if bytes.len() < Self::MIN_BYTES {
            return Err(CodeKeyError::TooShort(bytes.len()));
        }
        // HMAC takes keys of any length, so this does not fail in practice.
        let keyed = HmacSha256::new_from_slice(bytes).map_err(|_| CodeKeyError::Encoding)?;
        Ok(CodeKey(Arc::new(KeyInner {
            bytes: bytes.to_vec(),
            keyed,
        })))
    }

    /// A new random 32-byte key (what `certdesk keys code-key` writes).
    ///
    /// # Errors
    ///
    /// When the operating system's random number generator fails.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; Self::MIN_BYTES];
        getrandom::fill(&mut bytes)?;
        Self::from_bytes(&bytes).map_err(|_| getrandom::Error::UNEXPECTED)
    }

    /// Writes the key as hex to a new file readable by its owner only; never overwrites.
    ///
    /// # Errors
    ///
    /// When the file exists or cannot be written.
    pub fn save(&self, path: &std::path::Path) -> std::io::Result<()> {
        use std::io::Write as _;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(path)?;
        file.write_all(format!("{}\n", self.to_hex()).as_bytes())?;
        file.sync_all()
    }

    /// Reads the key in `path`; when there is no such file, makes a new key there first (its
    /// folder too) and says so with `true`. Processes starting together agree on one key: the
    /// new key is written to a temporary file and hard-linked into place, which fails if
    /// another process got there first, whose key is then read.
    ///
    /// # Errors
    ///
    /// [`CodeKeyFileError`] when the file cannot be read or made, or holds no usable key.
    pub fn load_or_create(path: &std::path::Path) -> Result<(Self, bool), CodeKeyFileError> {
        let io = |source| CodeKeyFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let read = || -> Result<Self, CodeKeyFileError> {
            let text = std::fs::read_to_string(path).map_err(io)?;
            Self::parse(&text).map_err(|source| CodeKeyFileError::Invalid {
                path: path.to_path_buf(),
                source,
            })
        };
        match std::fs::metadata(path) {
            Ok(_) => return read().map(|key| (key, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let key = Self::generate().map_err(|e| io(std::io::Error::other(e)))?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(
            ".{}.{}.tmp",
            std::process::id(),
            &key.to_hex()[..8]
        ));
        let tmp = std::path::PathBuf::from(tmp);
        key.save(&tmp).map_err(io)?;
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok((key, true)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read().map(|k| (k, false)),
            Err(e) => Err(io(e)),
        }
    }

    /// The key as lowercase hex, the form [`CodeKey::parse`] reads back.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0.bytes)
    }

    fn mac(&self, purpose: Purpose, phone: &str, code: &str) -> HmacSha256 {
        let mut mac = self.0.keyed.clone();
        mac.update(purpose.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(phone.as_bytes());
        mac.update(&[0]);
        mac.update(code.as_bytes());
        mac
    }

    /// The keyed hash stored for `code` sent to `phone` (11 national digits) for `purpose`.
    #[must_use]
    pub fn code_mac(&self, purpose: Purpose, phone: &str, code: &str) -> [u8; 32] {
        self.mac(purpose, phone, code)
            .finalize()
            .into_bytes()
            .into()
    }

    /// The keyed hash kept of an identity document number (real-name verification):
    /// `HMAC-SHA256(key, "real_name_id" ‖ 0x00 ‖ id_type ‖ 0x00 ‖ number)`. The label cannot
    /// be a code purpose, so it never equals a code's hash. An 18-digit ID number has too
    /// little entropy for a plain hash; without the key a copy of the table reveals nothing.
    #[must_use]
    pub fn id_digest(&self, id_type: &str, number: &str) -> [u8; 32] {
        let mut mac = self.0.keyed.clone();
        mac.update(b"real_name_id");
        mac.update(&[0]);
        mac.update(id_type.as_bytes());
        mac.update(&[0]);
        mac.update(number.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Whether `code` is the one whose hash is `stored`, compared in constant time.
    #[must_use]
    pub fn code_matches(&self, purpose: Purpose, phone: &str, code: &str, stored: &[u8]) -> bool {
        self.mac(purpose, phone, code).verify_slice(stored).is_ok()
    }
}

/// The code a 32-bit draw gives, or `None` when the draw must be redrawn to stay unbiased.
#[must_use]
pub fn code_from_draw(draw: u32) -> Option<String> {
    (draw < UNBIASED_BELOW).then(|| format!("{:06}", draw % CODE_SPACE))
}

/// A fresh code: 6 ASCII digits, uniform over `000000`–`999999`.
///
/// # Errors
///
/// When the operating system's random number generator fails.
pub fn generate_code() -> Result<String, getrandom::Error> {
    loop {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes)?;
        // A redraw happens for fewer than 1 in 4,000 draws.
        if let Some(code) = code_from_draw(u32::from_le_bytes(bytes)) {
            return Ok(code);
        }
    }
}

/// Whether `text` has the shape of a code (exactly 6 ASCII digits).
#[must_use]
pub fn is_code_shaped(text: &str) -> bool {
    text.len() == CODE_DIGITS && text.bytes().all(|b| b.is_ascii_digit())
}

/// The text of the SMS carrying `code` (signature first, as Chinese carriers require).
#[must_use]
pub fn sms_text(brand: &str, purpose: Purpose, code: &str, valid_minutes: i64) -> String {
    match purpose {
        Purpose::Login => format!(
            "【{brand}】您的登录验证码为 {code}，{valid_minutes} 分钟内有效。请勿将验证码告诉他人；如非本人操作，请忽略本短信。"
        ),
        Purpose::SetPassword => format!(
            "【{brand}】您正在设置登录密码，验证码为 {code}，{valid_minutes} 分钟内有效。请勿将验证码告诉他人；如非本人操作，请忽略本短信。"
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use super::*;
    use proptest::prelude::*;

    fn key() -> CodeKey {
        CodeKey::from_bytes(&[7u8; 32]).unwrap()
    }

    #[test]
    fn generated_codes_are_six_ascii_digits_and_vary() {
        let codes: Vec<String> = (0..2000).map(|_| generate_code().unwrap()).collect();
        for code in &codes {
            assert!(is_code_shaped(code), "{code}");
        }
        let distinct: std::collections::HashSet<&String> = codes.iter().collect();
        // 2000 draws from a million collide a couple of times at most.
        assert!(distinct.len() > 1990, "{} distinct", distinct.len());
        // Every position takes every digit.
        for pos in 0..CODE_DIGITS {
            let digits: std::collections::HashSet<u8> =
                codes.iter().map(|c| c.as_bytes()[pos]).collect();
            assert_eq!(digits.len(), 10, "position {pos}");
        }
    }

    proptest! {
        #[test]
        fn every_draw_gives_six_digits_or_a_redraw(draw in any::<u32>()) {
            match code_from_draw(draw) {
                Some(code) => {
                    prop_assert!(is_code_shaped(&code), "{}", code);
                    prop_assert!(draw < UNBIASED_BELOW);
                }
                None => prop_assert!(draw >= UNBIASED_BELOW),
            }
        }
    }

    #[test]
    fn the_edges_of_the_draw() {
        assert_eq!(code_from_draw(0).unwrap(), "000000");
        assert_eq!(code_from_draw(999_999).unwrap(), "999999");
        assert_eq!(code_from_draw(1_000_000).unwrap(), "000000");
        assert_eq!(code_from_draw(UNBIASED_BELOW - 1).unwrap(), "999999");
        assert_eq!(code_from_draw(UNBIASED_BELOW), None);
        assert_eq!(code_from_draw(u32::MAX), None);
    }

    #[test]
    fn the_mac_binds_key_purpose_phone_and_code() {
        let k = key();
        let mac = k.code_mac(Purpose::Login, "13900001111", "123456");
        assert!(k.code_matches(Purpose::Login, "13900001111", "123456", &mac));
        assert!(!k.code_matches(Purpose::Login, "13900001111", "123457", &mac));
        assert!(!k.code_matches(Purpose::SetPassword, "13900001111", "123456", &mac));
        assert!(!k.code_matches(Purpose::Login, "13900001112", "123456", &mac));
        assert!(!k.code_matches(Purpose::Login, "13900001111", "123456", &mac[..31]));
        let other = CodeKey::from_bytes(&[8u8; 32]).unwrap();
        assert!(!other.code_matches(Purpose::Login, "13900001111", "123456", &mac));
        // Not a bare hash of the code: the code's digits appear nowhere in it.
        assert!(!hex::encode(mac).contains("123456"));
    }

    #[test]
    fn keys_parse_from_hex_or_base64_and_must_be_long_enough() {
        let hex_key = "00".repeat(16) + &"ab".repeat(16);
        assert_eq!(
            CodeKey::parse(&format!("{hex_key}\n")).unwrap().to_hex(),
            hex_key
        );
        let b64 = STANDARD.encode([9u8; 40]);
        assert_eq!(CodeKey::parse(&b64).unwrap().0.bytes.len(), 40);
        assert_eq!(
            CodeKey::parse(&URL_SAFE_NO_PAD.encode([0xfbu8; 33]))
                .unwrap()
                .0
                .bytes
                .len(),
            33
        );
        assert_eq!(
            CodeKey::parse(&"ab".repeat(31)).unwrap_err(),
            CodeKeyError::TooShort(31)
        );
        assert_eq!(CodeKey::parse("").unwrap_err(), CodeKeyError::TooShort(0));
        assert_eq!(
            CodeKey::parse("not a key!").unwrap_err(),
            CodeKeyError::Encoding
        );
        let generated = CodeKey::generate().unwrap();
        assert_eq!(
            CodeKey::parse(&generated.to_hex()).unwrap().0.bytes,
            generated.0.bytes
        );
        assert!(!format!("{generated:?}").contains(&generated.to_hex()[..8]));
    }

    #[test]
    fn a_saved_key_reads_back_and_is_never_overwritten() {
        let dir = std::env::temp_dir().join(format!("certdesk-code-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("login-code.key");
        let _ = std::fs::remove_file(&path);
        let key = CodeKey::generate().unwrap();
        key.save(&path).unwrap();
        let read = CodeKey::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(read.0.bytes, key.0.bytes);
        assert!(CodeKey::generate().unwrap().save(&path).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_key_file_is_made_once_and_then_read() {
        let dir = std::env::temp_dir().join(format!("certdesk-code-key-lc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("keys/login-code.key");
        let (made, created) = CodeKey::load_or_create(&path).unwrap();
        assert!(created);
        let (read, created) = CodeKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(read.0.bytes, made.0.bytes);
        // Nothing but the key is left behind.
        assert_eq!(std::fs::read_dir(dir.join("keys")).unwrap().count(), 1);
        // Racing processes agree on one key.
        let shared = dir.join("race.key");
        let keys: Vec<Vec<u8>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| CodeKey::load_or_create(&shared).unwrap().0))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap().0.bytes.clone())
                .collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]));
        std::fs::write(dir.join("bad.key"), "short\n").unwrap();
        assert!(matches!(
            CodeKey::load_or_create(&dir.join("bad.key")),
            Err(CodeKeyFileError::Invalid { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_message_is_signed_and_carries_the_code() {
        let text = sms_text("中标一证通", Purpose::Login, "042917", 5);
        assert!(text.starts_with("【中标一证通】"), "{text}");
        assert!(text.contains("042917") && text.contains("5 分钟"), "{text}");
        assert!(sms_text("X", Purpose::SetPassword, "1", 5).contains("设置登录密码"));
    }
}
