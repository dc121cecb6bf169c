//! Travel documents accepted in place of a resident ID: passports and the entry permits for
//! residents of Hong Kong, Macao and Taiwan.

use serde::Deserialize;

use super::{ValueError, impl_text_newtype, mask_ascii};

const PASSPORT_LEN: std::ops::RangeInclusive<usize> = 4..=20;

const PASSPORT_BAD_LENGTH: ValueError = ValueError::new(
    "passport_bad_length",
    "护照号码应为4至20位",
    "a passport number must be 4 to 20 characters long",
);
const PASSPORT_BAD_CHARSET: ValueError = ValueError::new(
    "passport_bad_charset",
    "护照号码只能包含英文字母和数字",
    "a passport number may only contain letters A-Z and digits",
);
const PASSPORT_NO_DIGIT: ValueError = ValueError::new(
    "passport_no_digit",
    "护照号码应至少包含一位数字",
    "a passport number must contain at least one digit",
);
const HK_MACAU_INVALID: ValueError = ValueError::new(
    "hk_macau_permit_invalid",
    "港澳居民来往内地通行证号码应为 H 或 M 加8位或10位数字",
    "a Hong Kong/Macao permit number is H or M followed by 8 or 10 digits",
);
const TAIWAN_INVALID: ValueError = ValueError::new(
    "taiwan_permit_invalid",
    "台湾居民来往大陆通行证号码应为8位数字，或8位数字加2位数字或字母",
    "a Taiwan permit number is 8 digits, optionally followed by 2 digits or letters",
);

/// Masks a travel document number keeping two characters at each end, or one at each end for
/// numbers shorter than 8 characters so that at least half of a short number stays hidden.
/// One `*` replaces each hidden character.
fn mask_document(s: &str) -> String {
    let keep = if s.len() >= 8 { 2 } else { 1 };
    mask_ascii(s, keep, keep, s.len().saturating_sub(2 * keep))
}

/// Trims and upper-cases input; every document here is printed in upper-case Latin letters.
fn normalise(input: &str) -> String {
    input.trim().to_ascii_uppercase()
}

/// A passport number (any issuing country), stored upper-case.
///
/// ICAO Doc 9303 allows up to 9 characters in the machine-readable zone but issuers print longer
/// numbers, so the rule is deliberately loose: 4 to 20 characters of `A-Z0-9`, at least one of
/// them a digit (which rejects names typed into the wrong field). `Debug` prints the masked form.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Passport(String);

impl Passport {
    /// Parses a passport number, trimming whitespace and upper-casing letters.
    ///
    /// # Errors
    ///
    /// `passport_bad_length`, `passport_bad_charset` or `passport_no_digit`.
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let value = normalise(input);
        if !PASSPORT_LEN.contains(&value.chars().count()) {
            return Err(PASSPORT_BAD_LENGTH);
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(PASSPORT_BAD_CHARSET);
        }
        if !value.bytes().any(|b| b.is_ascii_digit()) {
            return Err(PASSPORT_NO_DIGIT);
        }
        Ok(Self(value))
    }

    /// Returns the canonical upper-case passport number.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the number with all but the first 2 and last 2 characters hidden (1 and 1 when the
    /// number is shorter than 8), e.g. `E1*****78`.
    #[must_use]
    pub fn mask(&self) -> String {
        mask_document(&self.0)
    }
}

impl_text_newtype!(Passport, debug = masked);

/// A 港澳居民来往内地通行证 (Mainland Travel Permit for Hong Kong and Macao Residents) number.
///
/// Rule: `H` (Hong Kong) or `M` (Macao) followed by 8 digits (card permits) or 10 digits (older
/// booklets, whose last two digits count reissues). Stored upper-case; `Debug` prints the masked
/// form.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct HkMacauPermit(String);

impl HkMacauPermit {
    /// Parses a Hong Kong/Macao permit number, trimming whitespace and accepting `h`/`m`.
    ///
    /// # Errors
    ///
    /// `hk_macau_permit_invalid` when the input is not `H`/`M` followed by 8 or 10 digits.
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let value = normalise(input);
        let valid = match value.as_bytes() {
            [b'H' | b'M', digits @ ..] => {
                matches!(digits.len(), 8 | 10) && digits.iter().all(u8::is_ascii_digit)
            }
            _ => false,
        };
        if valid {
            Ok(Self(value))
        } else {
            Err(HK_MACAU_INVALID)
        }
    }

    /// Returns the canonical upper-case permit number.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the number with all but the first 2 and last 2 characters hidden, e.g. `H1*****78`.
    #[must_use]
    pub fn mask(&self) -> String {
        mask_document(&self.0)
    }
}

impl_text_newtype!(HkMacauPermit, debug = masked);

/// A 台湾居民来往大陆通行证 (Mainland Travel Permit for Taiwan Residents) number.
///
/// Rule implemented: exactly 8 digits (the card permits issued since 2015), or 10 characters
/// consisting of 8 digits followed by 2 digits or letters (older booklets, whose suffix counts
/// reissues). Parentheses sometimes printed around the suffix must be removed by the user.
/// Stored upper-case; `Debug` prints the masked form.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct TaiwanPermit(String);

impl TaiwanPermit {
    /// Parses a Taiwan permit number, trimming whitespace and upper-casing a letter suffix.
    ///
    /// # Errors
    ///
    /// `taiwan_permit_invalid` when the input is neither 8 digits nor 8 digits plus 2 digits or
    /// letters.
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let value = normalise(input);
        let bytes = value.as_bytes();
        let valid = matches!(bytes.len(), 8 | 10)
            && bytes.iter().take(8).all(u8::is_ascii_digit)
            && bytes
                .iter()
                .skip(8)
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
        if valid {
            Ok(Self(value))
        } else {
            Err(TAIWAN_INVALID)
        }
    }

    /// Returns the canonical upper-case permit number.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the number with all but the first 2 and last 2 characters hidden, e.g. `12****78`.
    #[must_use]
    pub fn mask(&self) -> String {
        mask_document(&self.0)
    }
}

impl_text_newtype!(TaiwanPermit, debug = masked);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Checks that `mask` shows exactly `keep` characters of `value` at each end and only `*`
    /// in between, one per hidden character.
    fn assert_masked(value: &str, mask: &str, keep: usize) {
        let hidden = value.len() - 2 * keep;
        assert_eq!(
            mask,
            format!(
                "{}{}{}",
                &value[..keep],
                "*".repeat(hidden),
                &value[value.len() - keep..]
            )
        );
    }

    #[test]
    fn passport_accepts_and_normalises() {
        for (input, canonical) in [
            ("E12345678", "E12345678"),
            (" ea1234567 ", "EA1234567"),
            ("G1234", "G1234"),
            ("1234", "1234"),
            ("AB12345678901234567C", "AB12345678901234567C"),
        ] {
            assert_eq!(Passport::parse(input).unwrap().as_str(), canonical);
        }
    }

    #[test]
    fn passport_rejects_bad_input() {
        assert_eq!(
            Passport::parse("E12").unwrap_err().code,
            "passport_bad_length"
        );
        assert_eq!(
            Passport::parse(&"1".repeat(21)).unwrap_err().code,
            "passport_bad_length"
        );
        assert_eq!(
            Passport::parse("E123-4567").unwrap_err().code,
            "passport_bad_charset"
        );
        assert_eq!(
            Passport::parse("E123 4567").unwrap_err().code,
            "passport_bad_charset"
        );
        assert_eq!(
            Passport::parse("护照12345").unwrap_err().code,
            "passport_bad_charset"
        );
        assert_eq!(
            Passport::parse("ZHANGSAN").unwrap_err().code,
            "passport_no_digit"
        );
    }

    #[test]
    fn passport_masks() {
        let passport = Passport::parse("E12345678").unwrap();
        assert_eq!(passport.mask(), "E1*****78");
        assert_eq!(format!("{passport:?}"), "Passport(\"E1*****78\")");
        assert_eq!(Passport::parse("G1234").unwrap().mask(), "G***4");
        assert_eq!(Passport::parse("1234").unwrap().mask(), "1**4");
    }

    #[test]
    fn hk_macau_permit_rules() {
        assert_eq!(
            HkMacauPermit::parse("H12345678").unwrap().as_str(),
            "H12345678"
        );
        assert_eq!(
            HkMacauPermit::parse(" m1234567801 ").unwrap().as_str(),
            "M1234567801"
        );
        for bad in [
            "",
            "H1234567",
            "H123456789",
            "H123456789012",
            "X12345678",
            "12345678",
            "HH2345678",
        ] {
            assert_eq!(
                HkMacauPermit::parse(bad).unwrap_err().code,
                "hk_macau_permit_invalid",
                "{bad}"
            );
        }
        let permit = HkMacauPermit::parse("H12345678").unwrap();
        assert_eq!(permit.mask(), "H1*****78");
        assert_eq!(format!("{permit:?}"), "HkMacauPermit(\"H1*****78\")");
    }

    #[test]
    fn taiwan_permit_rules() {
        assert_eq!(
            TaiwanPermit::parse("12345678").unwrap().as_str(),
            "12345678"
        );
        assert_eq!(
            TaiwanPermit::parse("1234567801").unwrap().as_str(),
            "1234567801"
        );
        assert!(TaiwanPermit::parse(" 12345678b ").is_err(), "9 characters");
        assert_eq!(
            TaiwanPermit::parse("12345678ab").unwrap().as_str(),
            "12345678AB"
        );
        for bad in [
            "",
            "1234567",
            "123456789",
            "12345678901",
            "A2345678",
            "1234567A01",
            "12345678(B)",
        ] {
            assert_eq!(
                TaiwanPermit::parse(bad).unwrap_err().code,
                "taiwan_permit_invalid",
                "{bad}"
            );
        }
        let permit = TaiwanPermit::parse("12345678").unwrap();
        assert_eq!(permit.mask(), "12****78");
        assert_eq!(format!("{permit:?}"), "TaiwanPermit(\"12****78\")");
    }

    proptest! {
        #[test]
        fn passport_idempotent_and_masked(
            s in "[A-Za-z0-9]{3,19}[0-9]".prop_filter("length", |s| s.len() >= 4),
        ) {
            let passport = Passport::parse(&s).unwrap();
            prop_assert_eq!(Passport::parse(passport.as_str()).unwrap(), passport.clone());
            let keep = if s.len() >= 8 { 2 } else { 1 };
            assert_masked(passport.as_str(), &passport.mask(), keep);
        }

        #[test]
        fn hk_macau_idempotent_and_masked(s in "[HMhm]([0-9]{8}|[0-9]{10})") {
            let permit = HkMacauPermit::parse(&s).unwrap();
            prop_assert_eq!(HkMacauPermit::parse(permit.as_str()).unwrap(), permit.clone());
            assert_masked(permit.as_str(), &permit.mask(), 2);
        }

        #[test]
        fn taiwan_idempotent_and_masked(s in "[0-9]{8}([0-9A-Za-z]{2})?") {
            let permit = TaiwanPermit::parse(&s).unwrap();
            prop_assert_eq!(TaiwanPermit::parse(permit.as_str()).unwrap(), permit.clone());
            assert_masked(permit.as_str(), &permit.mask(), 2);
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,24}") {
            let results = [
                Passport::parse(&s).map(|v| v.to_string()),
                HkMacauPermit::parse(&s).map(|v| v.to_string()),
                TaiwanPermit::parse(&s).map(|v| v.to_string()),
            ];
            for result in results {
                match result {
                    Ok(value) => prop_assert_eq!(value.trim(), value.as_str()),
                    Err(err) => prop_assert!(!err.code.is_empty()),
                }
            }
        }
    }
}
