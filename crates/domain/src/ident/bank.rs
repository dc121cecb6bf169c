//! Bank account numbers used for invoicing and refunds.

use serde::Deserialize;

use super::{ValueError, impl_text_newtype};

const LEN: std::ops::RangeInclusive<usize> = 8..=30;

const BAD_CHARSET: ValueError = ValueError::new(
    "bank_account_bad_charset",
    "银行账号只能包含数字",
    "a bank account number may only contain digits",
);
const BAD_LENGTH: ValueError = ValueError::new(
    "bank_account_bad_length",
    "银行账号应为8至30位数字",
    "a bank account number must be 8 to 30 digits long",
);

/// A bank account number, stored as digits only.
///
/// Rule: after removing whitespace (people copy numbers grouped in fours), 8 to 30 ASCII digits.
/// No Luhn check is applied: Luhn (ISO/IEC 7812) protects card numbers, but most of our
/// customers pay from corporate settlement accounts (对公账户), whose numbers are assigned by each
/// bank in its own format, vary widely in length and carry no common check digit, so a Luhn check
/// would reject genuine accounts. `Debug` prints the masked form.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct BankAccount(String);

impl BankAccount {
    /// Parses an account number, ignoring all whitespace.
    ///
    /// # Errors
    ///
    /// `bank_account_bad_charset` for anything but digits and whitespace, `bank_account_bad_length`
    /// when there are not 8 to 30 digits.
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BAD_CHARSET);
        }
        if !LEN.contains(&digits.len()) {
            return Err(BAD_LENGTH);
        }
        Ok(Self(digits))
    }

    /// Returns the account number as digits without spaces.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns only the last four digits, in the familiar `**** **** 1234` form.
    ///
    /// The mask has a fixed shape so it reveals neither the bank's numbering scheme nor the length.
    #[must_use]
    pub fn mask(&self) -> String {
        let last4 = self
            .0
            .get(self.0.len().saturating_sub(4)..)
            .unwrap_or_default();
        format!("**** **** {last4}")
    }
}

impl_text_newtype!(BankAccount, debug = masked);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_grouped_and_plain_numbers() {
        for (input, digits) in [
            ("6222 0202 0001 2345 678", "6222020200012345678"),
            ("  35010001234567  ", "35010001234567"),
            ("12345678", "12345678"),
            ("1234\u{3000}5678\u{a0}9", "123456789"),
        ] {
            assert_eq!(BankAccount::parse(input).unwrap().as_str(), digits);
        }
        assert!(BankAccount::parse(&"9".repeat(30)).is_ok());
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            BankAccount::parse("").unwrap_err().code,
            "bank_account_bad_length"
        );
        assert_eq!(
            BankAccount::parse("1234567").unwrap_err().code,
            "bank_account_bad_length"
        );
        assert_eq!(
            BankAccount::parse(&"9".repeat(31)).unwrap_err().code,
            "bank_account_bad_length"
        );
        assert_eq!(
            BankAccount::parse("6222-0202-0001").unwrap_err().code,
            "bank_account_bad_charset"
        );
        assert_eq!(
            BankAccount::parse("62220202000１").unwrap_err().code,
            "bank_account_bad_charset"
        );
    }

    #[test]
    fn masks_all_but_last_four() {
        let account = BankAccount::parse("6222 0202 0001 2345 678").unwrap();
        assert_eq!(account.mask(), "**** **** 5678");
        assert_eq!(format!("{account:?}"), "BankAccount(\"**** **** 5678\")");
        assert_eq!(account.to_string(), "6222020200012345678");
    }

    proptest! {
        #[test]
        fn idempotent_and_mask_hides_all_but_last_four(digits in "[0-9]{8,30}") {
            let account = BankAccount::parse(&digits).unwrap();
            prop_assert_eq!(BankAccount::parse(account.as_str()).unwrap(), account.clone());
            let mask = account.mask();
            prop_assert_eq!(&mask, &format!("**** **** {}", &digits[digits.len() - 4..]));
            prop_assert_eq!(mask.bytes().filter(u8::is_ascii_digit).count(), 4);
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,40}") {
            match BankAccount::parse(&s) {
                Ok(account) => prop_assert_eq!(BankAccount::parse(account.as_str()).unwrap(), account),
                Err(err) => prop_assert!(err.code.starts_with("bank_account_")),
            }
        }
    }
}
