//! Mainland China mobile phone numbers (11 digits, `1[3-9]` prefix, numbering plan of MIIT).

use serde::Deserialize;

use super::{ValueError, impl_text_newtype, mask_ascii};

const LEN: usize = 11;

const INVALID: ValueError = ValueError::new(
    "phone_invalid",
    "请输入11位中国大陆手机号码",
    "enter an 11-digit mainland China mobile number",
);

/// A validated mainland China mobile number, stored as its 11 national digits.
///
/// Accepts input such as `18612348621`, `186-1234-8621`, `+86 186 1234 8621` or `86-18612348621`:
/// spaces and dashes are separators, and a leading `+86` or `86` country code is dropped. The
/// national number must match `1[3-9]\d{9}`, the mobile ranges of the MIIT numbering plan (fixed
/// lines and `10xxx`/`12xxx` service numbers cannot receive the SMS codes we send). `Debug`
/// prints the masked form.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Phone(String);

impl Phone {
    /// Parses a mobile number, dropping separators and a leading `+86`/`86` country code.
    ///
    /// # Errors
    ///
    /// `phone_invalid` when the remaining national number is not `1[3-9]` followed by 9 digits.
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let compact: String = input
            .trim()
            .chars()
            .filter(|&c| c != ' ' && c != '-')
            .collect();
        let national = match compact.strip_prefix("+86") {
            Some(rest) => rest,
            // Without `+`, "86" is only a country code when 11 digits follow; a bare 11-digit
            // number never starts with 8 anyway, so this cannot misread a national number.
            None if compact.len() == LEN + 2 => compact.strip_prefix("86").unwrap_or(&compact),
            None => &compact,
        };
        let bytes = national.as_bytes();
        let valid = bytes.len() == LEN
            && bytes.iter().all(u8::is_ascii_digit)
            && bytes[0] == b'1'
            && (b'3'..=b'9').contains(&bytes[1]);
        if valid {
            Ok(Self(national.to_owned()))
        } else {
            Err(INVALID)
        }
    }

    /// Returns the 11-digit national number without country code or separators.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the number with the middle four digits hidden, e.g. `186****8621`.
    #[must_use]
    pub fn mask(&self) -> String {
        mask_ascii(&self.0, 3, 4, 4)
    }
}

impl_text_newtype!(Phone, debug = masked);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_common_spellings() {
        for input in [
            "18612348621",
            " 18612348621 ",
            "186 1234 8621",
            "186-1234-8621",
            "+8618612348621",
            "+86 186 1234 8621",
            "+86-186-1234-8621",
            "8618612348621",
            "86 18612348621",
        ] {
            let phone = Phone::parse(input).unwrap();
            assert_eq!(phone.as_str(), "18612348621", "{input}");
        }
    }

    #[test]
    fn accepts_every_mobile_second_digit() {
        for second in '3'..='9' {
            assert!(Phone::parse(&format!("1{second}012345678")).is_ok());
        }
    }

    #[test]
    fn rejects_non_mobile_numbers() {
        for input in [
            "",
            "1861234862",
            "186123486211",
            "12012345678",
            "10012345678",
            "28612348621",
            "1861234862a",
            "+85218612348621",
            "+8628612348621",
            "008618612348621",
            "+86",
            "８６１２３４５６７８９",
            "186.1234.8621",
        ] {
            assert_eq!(
                Phone::parse(input).unwrap_err().code,
                "phone_invalid",
                "{input}"
            );
        }
    }

    #[test]
    fn masks_middle_four_digits() {
        let phone = Phone::parse("186 1234 8621").unwrap();
        assert_eq!(phone.mask(), "186****8621");
        assert_eq!(format!("{phone:?}"), "Phone(\"186****8621\")");
        assert_eq!(phone.to_string(), "18612348621");
    }

    proptest! {
        #[test]
        fn parse_is_idempotent_and_mask_hides_middle(
            national in "1[3-9][0-9]{9}",
            prefix in prop::sample::select(vec!["", "+86", "86", "+86 ", "86-"]),
        ) {
            let phone = Phone::parse(&format!("{prefix}{national}")).unwrap();
            prop_assert_eq!(phone.as_str(), national.as_str());
            prop_assert_eq!(Phone::parse(phone.as_str()).unwrap(), phone.clone());
            let mask = phone.mask();
            prop_assert_eq!(mask, format!("{}****{}", &national[..3], &national[7..]));
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,20}") {
            match Phone::parse(&s) {
                Ok(phone) => prop_assert_eq!(Phone::parse(phone.as_str()).unwrap(), phone),
                Err(err) => prop_assert_eq!(err.code, "phone_invalid"),
            }
        }
    }
}
