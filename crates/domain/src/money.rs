//! Money amounts in integer fen (分), the smallest unit of the renminbi.
//!
//! Amounts are never represented as floating point: binary floats cannot represent 0.01 exactly,
//! and invoices, refunds and reconciliations must add up to the fen.

use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

use crate::ident::ValueError;

const FEN_PER_YUAN: u64 = 100;

const INVALID: ValueError = ValueError::new(
    "money_invalid",
    "金额格式不正确，应如 1234.56 或 1,234.56",
    "the amount is not valid; write it like 1234.56 or 1,234.56",
);
const TOO_MANY_DECIMALS: ValueError = ValueError::new(
    "money_too_many_decimals",
    "金额最多保留两位小数",
    "an amount may have at most two decimal places",
);
const OVERFLOW: ValueError = ValueError::new(
    "money_overflow",
    "金额超出可处理的范围",
    "the amount is too large",
);

/// An amount of renminbi in fen (1 CNY = 100 fen); negative values are refunds or credits.
///
/// Serialises as the bare integer number of fen.
#[derive(
    Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Fen(pub i64);

impl Fen {
    /// Zero fen.
    pub const ZERO: Fen = Fen(0);

    /// Adds two amounts, returning `None` on overflow.
    #[must_use]
    pub const fn checked_add(self, other: Fen) -> Option<Fen> {
        match self.0.checked_add(other.0) {
            Some(sum) => Some(Fen(sum)),
            None => None,
        }
    }

    /// Subtracts `other` from `self`, returning `None` on overflow.
    #[must_use]
    pub const fn checked_sub(self, other: Fen) -> Option<Fen> {
        match self.0.checked_sub(other.0) {
            Some(difference) => Some(Fen(difference)),
            None => None,
        }
    }

    /// Returns whether the amount is below zero.
    #[must_use]
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Parses an amount written in yuan, such as `12`, `12.3`, `12.34`, `1,234.56` or `-0.01`.
    ///
    /// Surrounding whitespace is ignored. Thousands separators are optional but, when present,
    /// must group the integer part in threes. At most two decimals are allowed, because rounding
    /// a user-entered amount silently would change what they agreed to pay. The text is parsed
    /// digit by digit into integers; no floating point is involved.
    ///
    /// # Errors
    ///
    /// `money_invalid` for malformed text, `money_too_many_decimals` for more than two decimals,
    /// `money_overflow` when the amount does not fit in an `i64` number of fen.
    pub fn parse_yuan(input: &str) -> Result<Fen, ValueError> {
        let text = input.trim();
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (integer, fraction) = match unsigned.split_once('.') {
            Some((integer, fraction)) => (integer, Some(fraction)),
            None => (unsigned, None),
        };

        let integer_digits = ungroup_integer(integer).ok_or(INVALID)?;
        let mut yuan: u64 = 0;
        for digit in integer_digits {
            yuan = yuan
                .checked_mul(10)
                .and_then(|v| v.checked_add(digit))
                .ok_or(OVERFLOW)?;
        }

        let fen_part = match fraction {
            None => 0,
            Some(f) if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(INVALID);
            }
            Some(f) if f.len() > 2 => return Err(TOO_MANY_DECIMALS),
            // "12.3" means 30 fen: pad the fraction to two digits.
            Some(f) => f
                .bytes()
                .chain(std::iter::repeat(b'0'))
                .take(2)
                .fold(0, |acc, b| acc * 10 + u64::from(b - b'0')),
        };

        let magnitude = yuan
            .checked_mul(FEN_PER_YUAN)
            .and_then(|v| v.checked_add(fen_part))
            .ok_or(OVERFLOW)?;
        let fen = if negative {
            // Going through `checked_sub_unsigned` admits i64::MIN, whose magnitude is 2^63.
            0i64.checked_sub_unsigned(magnitude)
        } else {
            i64::try_from(magnitude).ok()
        };
        fen.map(Fen).ok_or(OVERFLOW)
    }
}

/// Returns the digit values of an integer part written either plainly (`1234`) or with
/// thousands separators (`1,234`), or `None` if it is empty, has a non-digit, or is mis-grouped.
fn ungroup_integer(integer: &str) -> Option<impl Iterator<Item = u64> + '_> {
    let mut groups = integer.split(',');
    let first = groups.next()?;
    let first_ok = !first.is_empty() && (!integer.contains(',') || first.len() <= 3);
    let rest_ok = groups.all(|group| group.len() == 3);
    let digits_ok = integer.bytes().all(|b| b.is_ascii_digit() || b == b',');
    (first_ok && rest_ok && digits_ok).then(|| {
        integer
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| u64::from(b - b'0'))
    })
}

impl fmt::Display for Fen {
    /// Formats as `¥1,234.56`, with a leading minus for negative amounts (`-¥0.01`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `unsigned_abs` keeps i64::MIN representable.
        let magnitude = self.0.unsigned_abs();
        let yuan = (magnitude / FEN_PER_YUAN).to_string();
        let fen = magnitude % FEN_PER_YUAN;

        let mut out = String::with_capacity(yuan.len() * 4 / 3 + 6);
        if self.is_negative() {
            out.push('-');
        }
        out.push('¥');
        for (i, digit) in yuan.chars().enumerate() {
            if i > 0 && (yuan.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(digit);
        }
        write!(out, ".{fen:02}")?;
        f.pad(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn displays_with_grouping_and_sign() {
        assert_eq!(Fen(0).to_string(), "¥0.00");
        assert_eq!(Fen(1).to_string(), "¥0.01");
        assert_eq!(Fen(-1).to_string(), "-¥0.01");
        assert_eq!(Fen(123_456).to_string(), "¥1,234.56");
        assert_eq!(Fen(100_000).to_string(), "¥1,000.00");
        assert_eq!(Fen(99_999).to_string(), "¥999.99");
        assert_eq!(Fen(-12_345_678_901).to_string(), "-¥123,456,789.01");
        assert_eq!(Fen(i64::MAX).to_string(), "¥92,233,720,368,547,758.07");
        assert_eq!(Fen(i64::MIN).to_string(), "-¥92,233,720,368,547,758.08");
        assert_eq!(format!("{:>12}", Fen(150)), "       ¥1.50");
    }

    #[test]
    fn parses_accepted_forms() {
        assert_eq!(Fen::parse_yuan("12"), Ok(Fen(1200)));
        assert_eq!(Fen::parse_yuan("12.3"), Ok(Fen(1230)));
        assert_eq!(Fen::parse_yuan("12.34"), Ok(Fen(1234)));
        assert_eq!(Fen::parse_yuan("12.05"), Ok(Fen(1205)));
        assert_eq!(Fen::parse_yuan("1,234.56"), Ok(Fen(123_456)));
        assert_eq!(Fen::parse_yuan("1,234,567"), Ok(Fen(123_456_700)));
        assert_eq!(Fen::parse_yuan(" 0.01 "), Ok(Fen(1)));
        assert_eq!(Fen::parse_yuan("-0.01"), Ok(Fen(-1)));
        assert_eq!(Fen::parse_yuan("-0"), Ok(Fen::ZERO));
        assert_eq!(Fen::parse_yuan("007"), Ok(Fen(700)));
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "", "-", ".", "12.", ".5", "+12", "1.2.3", "12a", "¥12", "1,23", "1,2345", ",123",
            "1,,234", "12,", "1 234", "--1", "1e3", "NaN", "１２",
        ] {
            assert_eq!(
                Fen::parse_yuan(bad).unwrap_err().code,
                "money_invalid",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejects_more_than_two_decimals() {
        assert_eq!(
            Fen::parse_yuan("12.345").unwrap_err().code,
            "money_too_many_decimals"
        );
        assert_eq!(
            Fen::parse_yuan("0.001").unwrap_err().code,
            "money_too_many_decimals"
        );
    }

    #[test]
    fn parse_handles_the_edges_of_i64() {
        assert_eq!(Fen::parse_yuan("92233720368547758.07"), Ok(Fen(i64::MAX)));
        assert_eq!(
            Fen::parse_yuan("-92,233,720,368,547,758.08"),
            Ok(Fen(i64::MIN))
        );
        for too_big in [
            "92233720368547758.08",
            "-92233720368547758.09",
            "184467440737095516.16",
            "99999999999999999999999",
        ] {
            assert_eq!(
                Fen::parse_yuan(too_big).unwrap_err().code,
                "money_overflow",
                "{too_big}"
            );
        }
    }

    #[test]
    fn checked_arithmetic() {
        assert_eq!(Fen(100).checked_add(Fen(23)), Some(Fen(123)));
        assert_eq!(Fen(100).checked_sub(Fen(123)), Some(Fen(-23)));
        assert_eq!(Fen(i64::MAX).checked_add(Fen(1)), None);
        assert_eq!(Fen(i64::MIN).checked_sub(Fen(1)), None);
        assert!(Fen(-1).is_negative());
        assert!(!Fen::ZERO.is_negative());
        assert_eq!(Fen::default(), Fen::ZERO);
    }

    #[test]
    fn serialises_as_integer_fen() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Invoice {
            total: Fen,
        }
        let text = toml::to_string(&Invoice {
            total: Fen(123_456),
        })
        .unwrap();
        assert_eq!(text.trim(), "total = 123456");
        let back: Invoice = toml::from_str("total = -5").unwrap();
        assert_eq!(back, Invoice { total: Fen(-5) });
    }

    proptest! {
        #[test]
        fn display_round_trips_through_parse(fen in any::<i64>()) {
            let shown = Fen(fen).to_string();
            let yuan = shown.replacen('¥', "", 1);
            prop_assert_eq!(Fen::parse_yuan(&yuan), Ok(Fen(fen)));
        }

        #[test]
        fn ungrouped_form_parses_too(fen in any::<i64>()) {
            let yuan = Fen(fen).to_string().replace(['¥', ','], "");
            prop_assert_eq!(Fen::parse_yuan(&yuan), Ok(Fen(fen)));
        }

        #[test]
        fn checked_add_agrees_with_i128(a in any::<i64>(), b in any::<i64>()) {
            let wide = i128::from(a) + i128::from(b);
            let expected = i64::try_from(wide).ok().map(Fen);
            prop_assert_eq!(Fen(a).checked_add(Fen(b)), expected);
        }

        #[test]
        fn arbitrary_input_never_panics(s in "[-0-9.,]{0,30}") {
            match Fen::parse_yuan(&s) {
                Ok(fen) => prop_assert_eq!(Fen::parse_yuan(&fen.to_string().replacen('¥', "", 1)), Ok(fen)),
                Err(err) => prop_assert!(err.code.starts_with("money_")),
            }
        }
    }
}
