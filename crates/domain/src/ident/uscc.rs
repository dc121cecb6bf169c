//! 统一社会信用代码 (Unified Social Credit Code) as defined by GB 32100-2015.

use serde::Deserialize;

use super::{ValueError, impl_text_newtype};

/// The 31 code characters of GB 32100-2015 in code-value order (0..=30).
///
/// I, O, Z, S and V are excluded by the standard because they are easily confused with 1, 0, 2,
/// 5 and U on handwritten and printed licences.
const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Position weights for characters 1..=17: w_i = 3^(i-1) mod 31 (GB 32100-2015, 4.2, table 2).
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

const LEN: usize = 18;

const BAD_LENGTH: ValueError = ValueError::new(
    "uscc_bad_length",
    "统一社会信用代码应为18位",
    "a unified social credit code must be 18 characters long",
);
const BAD_CHARSET: ValueError = ValueError::new(
    "uscc_bad_charset",
    "统一社会信用代码只能包含数字和除 I、O、Z、S、V 以外的大写字母",
    "a unified social credit code may only contain digits and letters other than I, O, Z, S, V",
);
const BAD_DIVISION_CODE: ValueError = ValueError::new(
    "uscc_bad_division_code",
    "统一社会信用代码第3至8位应为行政区划码（数字）",
    "characters 3 to 8 of a unified social credit code must be the digits of a division code",
);
const BAD_CHECK_CHAR: ValueError = ValueError::new(
    "uscc_bad_check_char",
    "统一社会信用代码校验位不正确，请检查是否输入有误",
    "the check character of the unified social credit code is wrong; please check for typos",
);

/// Code value (0..=30) of an upper-case USCC character, or `None` outside the charset.
fn code_value(c: u8) -> Option<u32> {
    CHARSET
        .iter()
        .position(|&x| x == c)
        .and_then(|i| u32::try_from(i).ok())
}

/// Check character for the 17 code values of positions 1..=17 (GB 32100-2015, 4.2):
/// C18 = 31 − (Σ c_i·w_i mod 31), where a result of 31 is written as 0.
fn check_char_for(values: impl Iterator<Item = u32>) -> char {
    let sum: u32 = values.zip(WEIGHTS).map(|(c, w)| c * w).sum();
    let index = (31 - sum % 31) % 31;
    // `index` is always in 0..31, so the lookup cannot miss; '0' keeps this total without a panic.
    CHARSET.get(index as usize).map_or('0', |&b| char::from(b))
}

/// Computes the GB 32100-2015 check character for the first 17 characters of a USCC.
///
/// Returns `None` unless `first17` is exactly 17 characters from the upper-case USCC charset
/// (`0-9` and `A-Y` without I, O, S, V, Z). Useful for generating demo and test data.
#[must_use]
pub fn uscc_check_char(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != LEN - 1 {
        return None;
    }
    let values = bytes
        .iter()
        .map(|&b| code_value(b))
        .collect::<Option<Vec<u32>>>()?;
    Some(check_char_for(values.into_iter()))
}

/// A validated 统一社会信用代码 (GB 32100-2015), stored upper-case.
///
/// Guarantees: 18 characters from the GB 32100 charset, positions 3–8 (the administrative
/// division code, GB/T 2260) are digits, and the 18th character is the correct check character.
/// The registration-authority and organisation-type codes (positions 1–2) are not checked against
/// a list, because the authorities have extended those lists since 2015.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct Uscc(String);

impl Uscc {
    /// Parses a USCC, trimming surrounding whitespace and accepting lower-case letters.
    ///
    /// # Errors
    ///
    /// `uscc_bad_length`, `uscc_bad_charset`, `uscc_bad_division_code` or `uscc_bad_check_char`.
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let code = input.trim().to_ascii_uppercase();
        if code.chars().count() != LEN {
            return Err(BAD_LENGTH);
        }
        let values = code
            .bytes()
            .map(code_value)
            .collect::<Option<Vec<u32>>>()
            .ok_or(BAD_CHARSET)?;
        if !code.as_bytes()[2..8].iter().all(u8::is_ascii_digit) {
            return Err(BAD_DIVISION_CODE);
        }
        let expected = check_char_for(values.iter().copied().take(LEN - 1));
        if code.ends_with(expected) {
            Ok(Self(code))
        } else {
            Err(BAD_CHECK_CHAR)
        }
    }

    /// Returns the canonical (upper-case) 18-character code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the six-digit administrative division code (positions 3–8, GB/T 2260).
    #[must_use]
    pub fn division_code(&self) -> &str {
        &self.0[2..8]
    }
}

impl_text_newtype!(Uscc);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Both samples were verified by computing the check character independently.
    const VALID: [&str; 2] = ["91350100M000100Y43", "91110000802100433B"];

    #[test]
    fn weights_are_powers_of_three_mod_31() {
        let mut w = 1u32;
        for &expected in &WEIGHTS {
            assert_eq!(expected, w);
            w = w * 3 % 31;
        }
    }

    #[test]
    fn accepts_published_samples() {
        for s in VALID {
            let uscc = Uscc::parse(s).unwrap();
            assert_eq!(uscc.as_str(), s);
            assert_eq!(uscc.to_string(), s);
        }
        assert_eq!(Uscc::parse(VALID[0]).unwrap().division_code(), "350100");
    }

    #[test]
    fn check_char_function_matches_samples() {
        for s in VALID {
            assert_eq!(uscc_check_char(&s[..17]), s.chars().last());
        }
        assert_eq!(uscc_check_char("9135010"), None);
        assert_eq!(uscc_check_char("91350100M000100YI"), None);
        assert_eq!(uscc_check_char("91350100m000100y4"), None);
    }

    #[test]
    fn check_value_31_is_written_as_zero() {
        // A body whose weighted sum is 0 mod 31 must get check character '0', not index 31.
        assert_eq!(uscc_check_char("00000000000000000"), Some('0'));
        assert!(Uscc::parse("000000000000000000").is_ok());
    }

    #[test]
    fn trims_and_uppercases() {
        let uscc = Uscc::parse("  91350100m000100y43\u{3000}").unwrap();
        assert_eq!(uscc.as_str(), "91350100M000100Y43");
    }

    #[test]
    fn rejects_wrong_length() {
        assert_eq!(Uscc::parse("").unwrap_err().code, "uscc_bad_length");
        assert_eq!(
            Uscc::parse("91350100M000100Y4").unwrap_err().code,
            "uscc_bad_length"
        );
        assert_eq!(
            Uscc::parse("91350100M000100Y433").unwrap_err().code,
            "uscc_bad_length"
        );
        // 18 characters but more bytes: still judged by characters, then rejected by charset.
        assert_eq!(
            Uscc::parse("91350100M000100Y4统").unwrap_err().code,
            "uscc_bad_charset"
        );
    }

    #[test]
    fn rejects_excluded_letters() {
        for bad in ['I', 'O', 'Z', 'S', 'V'] {
            let s = format!("91350100M000100{bad}43");
            assert_eq!(Uscc::parse(&s).unwrap_err().code, "uscc_bad_charset", "{s}");
        }
    }

    #[test]
    fn rejects_letters_in_division_code() {
        let body = "9135A100M000100Y4";
        let check = uscc_check_char(body).unwrap();
        let err = Uscc::parse(&format!("{body}{check}")).unwrap_err();
        assert_eq!(err.code, "uscc_bad_division_code");
    }

    #[test]
    fn rejects_mutated_samples() {
        assert_eq!(
            Uscc::parse("91350100M000100Y44").unwrap_err().code,
            "uscc_bad_check_char"
        );
        assert_eq!(
            Uscc::parse("91350100M000101Y43").unwrap_err().code,
            "uscc_bad_check_char"
        );
        assert_eq!(
            Uscc::parse("91110000802100433C").unwrap_err().code,
            "uscc_bad_check_char"
        );
        // Adjacent transposition.
        assert_eq!(
            Uscc::parse("19350100M000100Y43").unwrap_err().code,
            "uscc_bad_check_char"
        );
    }

    #[test]
    fn serde_round_trip_and_rejection() {
        #[derive(Debug, serde::Serialize, serde::Deserialize)]
        struct Form {
            uscc: Uscc,
        }
        let text = toml::to_string(&Form {
            uscc: Uscc::parse(VALID[1]).unwrap(),
        })
        .unwrap();
        assert_eq!(text.trim(), "uscc = \"91110000802100433B\"");
        let back: Form = toml::from_str("uscc = \" 91110000802100433b \"").unwrap();
        assert_eq!(back.uscc.as_str(), VALID[1]);
        let err = toml::from_str::<Form>("uscc = \"91110000802100433C\"").unwrap_err();
        assert!(err.to_string().contains(BAD_CHECK_CHAR.message_en), "{err}");
    }

    /// 17-character bodies shaped like a USCC: charset characters with digits at positions 3–8.
    fn body() -> impl Strategy<Value = String> {
        "[0-9A-HJ-NP-RTUW-Y]{2}[0-9]{6}[0-9A-HJ-NP-RTUW-Y]{9}"
    }

    proptest! {
        #[test]
        fn computed_check_char_is_the_only_valid_one(body in body()) {
            let check = uscc_check_char(&body).unwrap();
            let uscc = Uscc::parse(&format!("{body}{check}")).unwrap();
            prop_assert_eq!(Uscc::parse(uscc.as_str()).unwrap(), uscc.clone());
            for other in CHARSET.iter().map(|&b| char::from(b)).filter(|&c| c != check) {
                let err = Uscc::parse(&format!("{body}{other}")).unwrap_err();
                prop_assert_eq!(err.code, "uscc_bad_check_char");
            }
        }

        #[test]
        fn any_single_substitution_is_rejected(
            body in body(),
            pos in 0usize..17,
            replacement in 0usize..31,
        ) {
            let check = uscc_check_char(&body).unwrap();
            let valid = format!("{body}{check}");
            let mut mutated = valid.clone().into_bytes();
            prop_assume!(mutated[pos] != CHARSET[replacement]);
            mutated[pos] = CHARSET[replacement];
            let mutated = String::from_utf8(mutated).unwrap();
            prop_assert!(Uscc::parse(&mutated).is_err(), "{} accepted", mutated);
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,24}") {
            match Uscc::parse(&s) {
                Ok(uscc) => prop_assert_eq!(Uscc::parse(uscc.as_str()).unwrap(), uscc),
                Err(err) => prop_assert!(err.code.starts_with("uscc_"), "{}", err.code),
            }
        }
    }
}
