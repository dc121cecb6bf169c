//! 纳税人识别号 (taxpayer identification number) printed on VAT invoices.

use serde::Deserialize;

use super::{Uscc, ValueError, impl_text_newtype};

const BAD_LENGTH: ValueError = ValueError::new(
    "tax_id_bad_length",
    "纳税人识别号应为15、17、18或20位",
    "a taxpayer identification number must be 15, 17, 18 or 20 characters long",
);
const BAD_CHARSET: ValueError = ValueError::new(
    "tax_id_bad_charset",
    "纳税人识别号只能包含数字和大写英文字母",
    "a taxpayer identification number may only contain digits and letters",
);

/// A validated 纳税人识别号, stored upper-case.
///
/// Since the 2015 "three certificates in one" reform an enterprise's taxpayer number is its
/// 18-character USCC (GB 32100-2015), which is fully validated here. Older 15-character numbers
/// (division code + organisation code), and the 17- and 20-character numbers some tax bureaus
/// issued to individual businesses, have no public check algorithm, so only their length and
/// charset (`0-9A-Z`) are checked.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct TaxId(String);

impl TaxId {
    /// Parses a taxpayer number, trimming whitespace and upper-casing letters.
    ///
    /// # Errors
    ///
    /// `tax_id_bad_length` or `tax_id_bad_charset`; for 18 characters, any error of
    /// [`Uscc::parse`] (for example `uscc_bad_check_char`).
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let value = input.trim().to_ascii_uppercase();
        if !matches!(value.chars().count(), 15 | 17 | 18 | 20) {
            return Err(BAD_LENGTH);
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        {
            return Err(BAD_CHARSET);
        }
        if value.len() == 18 {
            Uscc::parse(&value)?;
        }
        Ok(Self(value))
    }

    /// Returns the canonical upper-case taxpayer number.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the number as a [`Uscc`] when it is an 18-character unified social credit code.
    #[must_use]
    pub fn as_uscc(&self) -> Option<Uscc> {
        Uscc::parse(&self.0).ok()
    }
}

impl_text_newtype!(TaxId);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_uscc_and_legacy_forms() {
        let tax = TaxId::parse(" 91350100m000100y43 ").unwrap();
        assert_eq!(tax.as_str(), "91350100M000100Y43");
        assert_eq!(tax.as_uscc().unwrap().as_str(), "91350100M000100Y43");
        for legacy in [
            "110105802100433",
            "11010580210043301",
            "11010519491231002X01",
        ] {
            let tax = TaxId::parse(legacy).unwrap();
            assert_eq!(tax.as_str(), legacy);
            assert_eq!(tax.as_uscc(), None);
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(TaxId::parse("").unwrap_err().code, "tax_id_bad_length");
        assert_eq!(
            TaxId::parse("1101058021004").unwrap_err().code,
            "tax_id_bad_length"
        );
        assert_eq!(
            TaxId::parse("1101058021004330").unwrap_err().code,
            "tax_id_bad_length"
        );
        assert_eq!(
            TaxId::parse("11010580210043-").unwrap_err().code,
            "tax_id_bad_charset"
        );
        assert_eq!(
            TaxId::parse("91350100M000100Y44").unwrap_err().code,
            "uscc_bad_check_char"
        );
        assert_eq!(
            TaxId::parse("91350100M000100O43").unwrap_err().code,
            "uscc_bad_charset"
        );
    }

    proptest! {
        #[test]
        fn parse_is_idempotent(s in "[0-9A-Za-z]{15}|[0-9A-Za-z]{17}|[0-9A-Za-z]{20}") {
            let tax = TaxId::parse(&s).unwrap();
            prop_assert_eq!(tax.as_str(), s.to_ascii_uppercase());
            prop_assert_eq!(TaxId::parse(tax.as_str()).unwrap(), tax);
        }

        #[test]
        fn eighteen_chars_parse_exactly_when_uscc_does(
            body in "[0-9A-HJ-NP-RTUW-Y]{2}[0-9]{6}[0-9A-HJ-NP-RTUW-Y]{9}",
            last in "[0-9A-Z]",
            use_check_char: bool,
        ) {
            let last = if use_check_char {
                crate::ident::uscc_check_char(&body).unwrap().to_string()
            } else {
                last
            };
            let s = format!("{body}{last}");
            prop_assert_eq!(TaxId::parse(&s).ok().map(String::from), Uscc::parse(&s).ok().map(String::from));
        }
    }
}
