//! Parsed identifiers accepted by forms and the API, and the [`ValueError`] they share.
//!
//! Every type here follows "parse, don't validate": the only way to obtain one is through its
//! `parse` (or `FromStr`, `TryFrom<String>`, serde deserialisation, which all call `parse`), so a
//! value of the type is proof that the input met the rule cited on the type. Parsing trims
//! surrounding whitespace (including the full-width space U+3000 common in Chinese input) and
//! normalises case where the governing standard is upper-case.
//!
//! Values that identify a natural person (ID number, phone, passport, permits, bank account) print
//! a masked form in `Debug`, so a stray `{:?}` in a log line does not leak personal information
//! (《个人信息保护法》); `Display`/`as_str` still give the full value for storage and APIs.

mod bank;
mod email;
mod id_number;
mod phone;
mod tax_id;
mod travel;
mod uscc;

pub use bank::BankAccount;
pub use email::Email;
pub use id_number::{CnIdNumber, id_check_char};
pub use phone::Phone;
pub use tax_id::TaxId;
pub use travel::{HkMacauPermit, Passport, TaiwanPermit};
pub use uscc::{Uscc, uscc_check_char};

/// Why a piece of user input was rejected, with a stable code and bilingual messages.
///
/// `code` is a stable snake_case identifier (for example `uscc_bad_check_char`) that API clients
/// and form templates may match on; the messages are for display and may be reworded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message_en}")]
pub struct ValueError {
    /// Stable snake_case machine code, e.g. `id_number_bad_check_digit`.
    pub code: &'static str,
    /// Human-readable message in Simplified Chinese.
    pub message_zh: &'static str,
    /// Human-readable message in English; this is also the `Display` output.
    pub message_en: &'static str,
}

impl ValueError {
    /// Builds an error from its code and messages; `const` so modules can keep them as constants.
    #[must_use]
    pub const fn new(
        code: &'static str,
        message_zh: &'static str,
        message_en: &'static str,
    ) -> Self {
        Self {
            code,
            message_zh,
            message_en,
        }
    }
}

const TEXT_TOO_LONG: ValueError = ValueError::new(
    "text_too_long",
    "文本超过允许的最大字数",
    "text exceeds the maximum number of characters",
);

/// Returns the length of `s` in characters (Unicode scalar values), the unit in which limits
/// such as "at most 500 characters" are counted for Chinese text.
///
/// Byte length would count each CJK character as three, and users (and the manuals) count 汉字
/// one by one, so limits must never be checked with `str::len`.
#[must_use]
pub fn char_count(s: &str) -> usize {
    s.chars().count()
}

/// Checks that `s` has at most `max` characters as counted by [`char_count`].
///
/// The text is measured exactly as given; trim it first if surrounding whitespace should not
/// count.
///
/// # Errors
///
/// Returns a [`ValueError`] with code `text_too_long` when `s` is longer than `max` characters.
pub fn check_max_chars(s: &str, max: usize) -> Result<(), ValueError> {
    // `nth(max)` stops after `max + 1` characters instead of walking a very long input.
    if s.chars().nth(max).is_some() {
        Err(TEXT_TOO_LONG)
    } else {
        Ok(())
    }
}

/// Replaces the middle of an ASCII string with `*`, keeping `head` leading and `tail` trailing
/// characters visible and emitting `stars` asterisks (callers pick a fixed count when the masked
/// length itself should not reveal anything).
///
/// Callers only pass values already validated as ASCII with `head + tail < len`; the fallback
/// branch masks everything rather than panicking if that ever stops being true.
fn mask_ascii(s: &str, head: usize, tail: usize, stars: usize) -> String {
    match (
        s.get(..head),
        s.len().checked_sub(tail).and_then(|at| s.get(at..)),
    ) {
        (Some(start), Some(end)) if head + tail < s.len() => {
            let mut out = String::with_capacity(head + stars + tail);
            out.push_str(start);
            out.extend(std::iter::repeat_n('*', stars));
            out.push_str(end);
            out
        }
        _ => "*".repeat(stars.max(1)),
    }
}

/// Implements the conversions shared by every string identifier: `Display`, `AsRef<str>`,
/// `FromStr`, `TryFrom<String>`/`TryFrom<&str>` (used by serde's `try_from`), `From<T> for
/// String` and a `Serialize` that writes the canonical string.
///
/// The type must provide `fn parse(&str) -> Result<Self, ValueError>` and `fn as_str(&self)`.
/// With `debug = masked` the type's `Debug` prints `mask()` instead of the value.
macro_rules! impl_text_newtype {
    ($ty:ident, debug = masked) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_tuple(stringify!($ty)).field(&self.mask()).finish()
            }
        }
        $crate::ident::impl_text_newtype!($ty);
    };
    ($ty:ident) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl ::std::convert::AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::ident::ValueError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl ::std::convert::TryFrom<String> for $ty {
            type Error = $crate::ident::ValueError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl ::std::convert::TryFrom<&str> for $ty {
            type Error = $crate::ident::ValueError;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl ::std::convert::From<$ty> for String {
            fn from(value: $ty) -> Self {
                value.as_str().to_owned()
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}
pub(crate) use impl_text_newtype;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_count_counts_scalar_values_not_bytes() {
        assert_eq!(char_count(""), 0);
        assert_eq!(char_count("abc"), 3);
        assert_eq!(char_count("数字证书"), 4);
        assert_eq!("数字证书".len(), 12);
        assert_eq!(char_count("证书 ok"), 5);
    }

    #[test]
    fn check_max_chars_uses_characters() {
        assert_eq!(check_max_chars("数字证书", 4), Ok(()));
        assert_eq!(check_max_chars("", 0), Ok(()));
        let err = check_max_chars("数字证书", 3).unwrap_err();
        assert_eq!(err.code, "text_too_long");
        assert_eq!(check_max_chars(&"汉".repeat(500), 500), Ok(()));
        assert!(check_max_chars(&"汉".repeat(501), 500).is_err());
    }

    #[test]
    fn value_error_displays_english_message() {
        assert_eq!(
            TEXT_TOO_LONG.to_string(),
            "text exceeds the maximum number of characters"
        );
    }

    #[test]
    fn mask_ascii_keeps_ends_and_falls_back_safely() {
        assert_eq!(mask_ascii("18612348621", 3, 4, 4), "186****8621");
        assert_eq!(mask_ascii("abcd", 2, 2, 3), "***");
        assert_eq!(mask_ascii("", 0, 0, 0), "*");
    }

    proptest::proptest! {
        #[test]
        fn char_count_matches_check_max_chars(s in "\\PC{0,40}", max in 0usize..50) {
            proptest::prop_assert_eq!(check_max_chars(&s, max).is_ok(), char_count(&s) <= max);
        }
    }
}
