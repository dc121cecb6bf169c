//! 居民身份证号码 (citizen identification number) as defined by GB 11643-1999.

use chrono::NaiveDate;
use serde::Deserialize;

use super::{ValueError, impl_text_newtype, mask_ascii};

const LEN: usize = 18;

/// ISO 7064 MOD 11-2 weights for the first 17 digits, left to right (GB 11643-1999, 7.2). The
/// standard numbers positions from the right, check character first, and sets W_i = 2^(i-1) mod
/// 11, so the leftmost digit (i = 18) weighs 2^17 mod 11 = 7.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// Check character indexed by (Σ a_i·W_i) mod 11 (GB 11643-1999, 7.2); 10 is written as `X`.
const CHECK_CHARS: &[u8; 11] = b"10X98765432";

/// Earliest accepted year of birth; the standard's date field is Gregorian and no living
/// certificate subscriber was born earlier.
const MIN_BIRTH_YEAR: i32 = 1900;

const BAD_LENGTH: ValueError = ValueError::new(
    "id_number_bad_length",
    "身份证号码应为18位",
    "a resident ID number must be 18 characters long",
);
const BAD_FORMAT: ValueError = ValueError::new(
    "id_number_bad_format",
    "身份证号码前17位应为数字，最后一位为数字或 X",
    "a resident ID number is 17 digits followed by a digit or X",
);
const BAD_REGION: ValueError = ValueError::new(
    "id_number_bad_region",
    "身份证号码前两位不是有效的省级行政区划代码",
    "the first two digits of the resident ID number are not a province-level code",
);
const BAD_BIRTH_DATE: ValueError = ValueError::new(
    "id_number_bad_birth_date",
    "身份证号码中的出生日期无效",
    "the birth date in the resident ID number is not a valid date",
);
const BAD_CHECK_DIGIT: ValueError = ValueError::new(
    "id_number_bad_check_digit",
    "身份证号码校验位不正确，请检查是否输入有误",
    "the check digit of the resident ID number is wrong; please check for typos",
);

/// Whether the first two digits are a province-level division code (GB/T 2260): the 31
/// mainland provinces, 71 Taiwan, 81 Hong Kong, 82 Macao, and 83 for residence permits issued to
/// Taiwan residents, which use the same number format.
fn is_province_code(code: u32) -> bool {
    matches!(code, 11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 | 81..=83)
}

/// Check character for the first 17 digits, given as digit values.
fn check_char_for(digits: impl Iterator<Item = u32>) -> char {
    let sum: u32 = digits.zip(WEIGHTS).map(|(d, w)| d * w).sum();
    // `sum % 11` is always in 0..11, so the lookup cannot miss; '0' keeps this total.
    CHECK_CHARS
        .get((sum % 11) as usize)
        .map_or('0', |&b| char::from(b))
}

/// Parses an ASCII digit string into a number; callers pass short, already-checked slices.
fn digits_value(digits: &[u8]) -> u32 {
    digits
        .iter()
        .fold(0, |acc, &d| acc * 10 + u32::from(d - b'0'))
}

/// Computes the GB 11643-1999 (ISO 7064 MOD 11-2) check character for the first 17 digits of a
/// resident ID number.
///
/// Returns `None` unless `first17` is exactly 17 ASCII digits. The result is a digit or `X`.
#[must_use]
pub fn id_check_char(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != LEN - 1 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(check_char_for(bytes.iter().map(|&b| u32::from(b - b'0'))))
}

/// A validated 居民身份证号码 (GB 11643-1999), stored with an upper-case `X`.
///
/// Guarantees: 17 digits plus a check character, a province-level code in positions 1–2, a real
/// Gregorian birth date from 1900 on in positions 7–14, and a correct ISO 7064 MOD 11-2 check
/// character. Whether the birth date lies in the past depends on "now" and is left to callers,
/// which hold a [`crate::clock::Clock`]. `Debug` prints the masked form.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct CnIdNumber {
    value: String,
    birth_date: NaiveDate,
}

impl CnIdNumber {
    /// Parses a resident ID number, trimming surrounding whitespace and accepting a lower-case `x`.
    ///
    /// # Errors
    ///
    /// `id_number_bad_length`, `id_number_bad_format`, `id_number_bad_region`,
    /// `id_number_bad_birth_date` or `id_number_bad_check_digit`.
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let value = input.trim().to_ascii_uppercase();
        if value.chars().count() != LEN {
            return Err(BAD_LENGTH);
        }
        let bytes = value.as_bytes();
        let (body, check) = bytes.split_at(LEN - 1);
        if !body.iter().all(u8::is_ascii_digit) || !matches!(check, [b'0'..=b'9' | b'X']) {
            return Err(BAD_FORMAT);
        }
        if !is_province_code(digits_value(&body[..2])) {
            return Err(BAD_REGION);
        }
        let birth_date = i32::try_from(digits_value(&body[6..10]))
            .ok()
            .filter(|&year| year >= MIN_BIRTH_YEAR)
            .and_then(|year| {
                NaiveDate::from_ymd_opt(
                    year,
                    digits_value(&body[10..12]),
                    digits_value(&body[12..14]),
                )
            })
            .ok_or(BAD_BIRTH_DATE)?;
        let expected = check_char_for(body.iter().map(|&b| u32::from(b - b'0')));
        if value.ends_with(expected) {
            Ok(Self { value, birth_date })
        } else {
            Err(BAD_CHECK_DIGIT)
        }
    }

    /// Returns the canonical 18-character number.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// Returns the birth date encoded in positions 7–14.
    #[must_use]
    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// Returns the number with the birth date and sequence code hidden: the first 6 characters,
    /// `*****`, then the last 4 (e.g. `652928*****3321`).
    ///
    /// A fixed five asterisks are used for the eight hidden characters, as in the product spec.
    #[must_use]
    pub fn mask(&self) -> String {
        mask_ascii(&self.value, 6, 4, 5)
    }
}

impl_text_newtype!(CnIdNumber, debug = masked);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `11010519491231002X` is the example printed in GB 11643-1999; the other was verified by
    /// computing its check character independently.
    const VALID: [&str; 2] = ["11010519491231002X", "652928198201013321"];

    /// Correct check digit (verified independently) but born in 1880, before [`MIN_BIRTH_YEAR`].
    const BORN_1880: &str = "440524188001010014";

    #[test]
    fn weights_are_powers_of_two_mod_11() {
        for (i, &w) in WEIGHTS.iter().enumerate() {
            let exponent = u32::try_from(17 - i).unwrap();
            assert_eq!(w, 2u32.pow(exponent) % 11, "position {}", i + 1);
        }
    }

    #[test]
    fn accepts_standard_example() {
        let id = CnIdNumber::parse(VALID[0]).unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert_eq!(id_check_char("11010519491231002"), Some('X'));
    }

    #[test]
    fn rejects_1880_birth_year_example() {
        // 440524188001010014 has a correct check digit but an 1880 birth year, before the floor.
        assert_eq!(id_check_char("44052418800101001"), Some('4'));
        let err = CnIdNumber::parse(BORN_1880).unwrap_err();
        assert_eq!(err.code, "id_number_bad_birth_date");
    }

    #[test]
    fn accepts_lowercase_x_and_whitespace() {
        let id = CnIdNumber::parse(" 11010519491231002x\t").unwrap();
        assert_eq!(id.as_str(), VALID[0]);
    }

    #[test]
    fn mask_matches_spec_example() {
        let id = CnIdNumber::parse(VALID[1]).unwrap();
        assert_eq!(id.mask(), "652928*****3321");
        assert_eq!(format!("{id:?}"), "CnIdNumber(\"652928*****3321\")");
        assert_eq!(id.to_string(), VALID[1]);
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1982, 1, 1).unwrap()
        );
    }

    #[test]
    fn rejects_bad_length_and_format() {
        assert_eq!(
            CnIdNumber::parse("").unwrap_err().code,
            "id_number_bad_length"
        );
        assert_eq!(
            CnIdNumber::parse("11010519491231002").unwrap_err().code,
            "id_number_bad_length"
        );
        // 15-digit first-generation numbers are no longer valid identity documents.
        assert_eq!(
            CnIdNumber::parse("110105491231002").unwrap_err().code,
            "id_number_bad_length"
        );
        assert_eq!(
            CnIdNumber::parse("1101051949123100XX").unwrap_err().code,
            "id_number_bad_format"
        );
        assert_eq!(
            CnIdNumber::parse("11010519491231002Y").unwrap_err().code,
            "id_number_bad_format"
        );
    }

    #[test]
    fn rejects_bad_region() {
        for prefix in [
            "00", "10", "16", "24", "38", "47", "55", "66", "72", "84", "99",
        ] {
            let body = format!("{prefix}010519491231002");
            let check = id_check_char(&body).unwrap();
            let err = CnIdNumber::parse(&format!("{body}{check}")).unwrap_err();
            assert_eq!(err.code, "id_number_bad_region", "{prefix}");
        }
    }

    #[test]
    fn rejects_impossible_birth_dates() {
        for date in [
            "19000229", "20230229", "19491331", "19490431", "18991231", "19490100",
        ] {
            let body = format!("110105{date}002");
            let check = id_check_char(&body).unwrap();
            let err = CnIdNumber::parse(&format!("{body}{check}")).unwrap_err();
            assert_eq!(err.code, "id_number_bad_birth_date", "{date}");
        }
        let leap = format!(
            "11010520000229002{}",
            id_check_char("11010520000229002").unwrap()
        );
        assert!(CnIdNumber::parse(&leap).is_ok());
    }

    #[test]
    fn rejects_mutated_samples() {
        for bad in [
            "110105194912310021",
            "11010519491231003X",
            "01101519491231002X",
        ] {
            assert!(CnIdNumber::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            CnIdNumber::parse("110105194912310020").unwrap_err().code,
            "id_number_bad_check_digit"
        );
        // Adjacent transposition of the sequence code.
        assert_eq!(
            CnIdNumber::parse("11010519491231020X").unwrap_err().code,
            "id_number_bad_check_digit"
        );
    }

    #[test]
    fn id_check_char_rejects_bad_input() {
        assert_eq!(id_check_char("1101051949123100"), None);
        assert_eq!(id_check_char("1101051949123100X"), None);
        assert_eq!(id_check_char("110105194912310021"), None);
    }

    /// 17-digit bodies with a valid province code and a real birth date from 1900 on.
    fn body() -> impl Strategy<Value = String> {
        let province = prop::sample::select(vec![
            11u32, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
            50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83,
        ]);
        let date = (1900i32..=2099, 1u32..=12, 1u32..=31)
            .prop_filter_map("real date", |(y, m, d)| NaiveDate::from_ymd_opt(y, m, d));
        (province, "[0-9]{4}", date, "[0-9]{3}")
            .prop_map(|(p, rest, date, seq)| format!("{p:02}{rest}{}{seq}", date.format("%Y%m%d")))
    }

    proptest! {
        #[test]
        fn computed_check_char_is_the_only_valid_one(body in body()) {
            let check = id_check_char(&body).unwrap();
            let id = CnIdNumber::parse(&format!("{body}{check}")).unwrap();
            prop_assert_eq!(CnIdNumber::parse(id.as_str()).unwrap(), id.clone());
            for other in "0123456789X".chars().filter(|&c| c != check) {
                let err = CnIdNumber::parse(&format!("{body}{other}")).unwrap_err();
                prop_assert_eq!(err.code, "id_number_bad_check_digit");
            }
        }

        #[test]
        fn any_single_digit_substitution_is_rejected(
            body in body(),
            pos in 0usize..17,
            digit in b'0'..=b'9',
        ) {
            let check = id_check_char(&body).unwrap();
            let mut mutated = format!("{body}{check}").into_bytes();
            prop_assume!(mutated[pos] != digit);
            mutated[pos] = digit;
            let mutated = String::from_utf8(mutated).unwrap();
            prop_assert!(CnIdNumber::parse(&mutated).is_err(), "{} accepted", mutated);
        }

        #[test]
        fn mask_never_contains_hidden_middle(body in body()) {
            let check = id_check_char(&body).unwrap();
            let id = CnIdNumber::parse(&format!("{body}{check}")).unwrap();
            let mask = id.mask();
            let s = id.as_str();
            prop_assert_eq!(&mask, &format!("{}*****{}", &s[..6], &s[14..]));
            prop_assert!(!mask.contains(&s[6..14]));
            let debug = format!("{id:?}");
            prop_assert!(!debug.contains(&s[6..14]), "{}", debug);
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,24}") {
            match CnIdNumber::parse(&s) {
                Ok(id) => prop_assert_eq!(CnIdNumber::parse(id.as_str()).unwrap(), id),
                Err(err) => prop_assert!(err.code.starts_with("id_number_"), "{}", err.code),
            }
        }
    }
}
