//! E-mail addresses used for notifications and electronic invoices.

use serde::Deserialize;

use super::{ValueError, impl_text_newtype};

/// Maximum address length: a forward path is at most 256 octets including the angle brackets
/// (RFC 5321, 4.5.3.1.3), which leaves 254 for the address itself.
const MAX_LEN: usize = 254;
/// Maximum local-part length (RFC 5321, 4.5.3.1.1).
const MAX_LOCAL_LEN: usize = 64;
/// Maximum DNS label length (RFC 1035, 2.3.4).
const MAX_LABEL_LEN: usize = 63;

const INVALID: ValueError = ValueError::new(
    "email_invalid",
    "邮箱地址格式不正确",
    "the e-mail address is not valid",
);
const BAD_DOMAIN: ValueError = ValueError::new(
    "email_bad_domain",
    "邮箱地址的域名部分不正确",
    "the domain of the e-mail address is not valid",
);
const TOO_LONG: ValueError = ValueError::new(
    "email_too_long",
    "邮箱地址过长",
    "the e-mail address is too long",
);

/// A pragmatically validated e-mail address, with its domain lower-cased.
///
/// The check is deliberately simpler than RFC 5322 (whose full grammar accepts addresses no mail
/// provider delivers to): exactly one `@`; a local part of 1 to 64 printable ASCII characters
/// without spaces, kept as typed because it may be case-sensitive; a domain of at least two
/// dot-separated labels of `A-Za-z0-9-`, none empty, longer than 63 or starting or ending with
/// `-`; at most 254 characters in total. Internationalised addresses are not accepted.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct Email(String);

impl Email {
    /// Parses an e-mail address, trimming whitespace and lower-casing the domain.
    ///
    /// # Errors
    ///
    /// `email_too_long`, `email_invalid` (the `@` or local part) or `email_bad_domain`.
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let input = input.trim();
        if input.chars().count() > MAX_LEN {
            return Err(TOO_LONG);
        }
        let (local, domain) = input.split_once('@').ok_or(INVALID)?;
        if local.is_empty()
            || local.len() > MAX_LOCAL_LEN
            || !local.bytes().all(|b| b.is_ascii_graphic() && b != b'@')
        {
            return Err(INVALID);
        }
        if domain.contains('@') {
            return Err(INVALID);
        }
        let labels_ok = domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= MAX_LABEL_LEN
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
        if !domain.contains('.') || !labels_ok {
            return Err(BAD_DOMAIN);
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// Returns the address with its domain lower-cased.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the domain part (after the `@`), lower-cased.
    #[must_use]
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }
}

impl_text_newtype!(Email);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_and_normalises() {
        for (input, canonical) in [
            ("ops@example.com", "ops@example.com"),
            (
                " Zhang.San+ca@Mail.Example.COM.CN ",
                "Zhang.San+ca@mail.example.com.cn",
            ),
            ("a@b-c.d1", "a@b-c.d1"),
            ("12345@qq.com", "12345@qq.com"),
        ] {
            let email = Email::parse(input).unwrap();
            assert_eq!(email.as_str(), canonical);
        }
        assert_eq!(
            Email::parse("x@Example.com").unwrap().domain(),
            "example.com"
        );
    }

    #[test]
    fn rejects_bad_structure() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@@example.com",
            "a@b@example.com",
            "a b@example.com",
            "张三@example.com",
        ] {
            assert_eq!(
                Email::parse(bad).unwrap_err().code,
                "email_invalid",
                "{bad}"
            );
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(Email::parse(&long_local).unwrap_err().code, "email_invalid");
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(64))).is_ok());
    }

    #[test]
    fn rejects_bad_domains() {
        for bad in [
            "a@localhost",
            "a@",
            "a@.example.com",
            "a@example..com",
            "a@example.com.",
            "a@-example.com",
            "a@example-.com",
            "a@exa_mple.com",
            "a@例子.中国",
        ] {
            assert_eq!(
                Email::parse(bad).unwrap_err().code,
                "email_bad_domain",
                "{bad}"
            );
        }
        let long_label = format!("a@{}.com", "b".repeat(64));
        assert_eq!(
            Email::parse(&long_label).unwrap_err().code,
            "email_bad_domain"
        );
    }

    #[test]
    fn enforces_total_length() {
        let label = "b".repeat(60);
        let domain = [label.as_str(); 4].join(".");
        let ok = format!("{}@{domain}", "a".repeat(254 - 1 - domain.len()));
        assert_eq!(ok.len(), 254);
        assert!(Email::parse(&ok).is_ok());
        let too_long = format!("a{ok}");
        assert_eq!(Email::parse(&too_long).unwrap_err().code, "email_too_long");
    }

    proptest! {
        #[test]
        fn parse_is_idempotent(
            local in "[A-Za-z0-9._%+-]{1,64}",
            labels in prop::collection::vec("[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", 2..5),
        ) {
            let input = format!("{local}@{}", labels.join("."));
            let email = Email::parse(&input).unwrap();
            prop_assert_eq!(email.domain(), labels.join(".").to_ascii_lowercase());
            prop_assert_eq!(Email::parse(email.as_str()).unwrap(), email);
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,40}") {
            match Email::parse(&s) {
                Ok(email) => prop_assert_eq!(Email::parse(email.as_str()).unwrap(), email),
                Err(err) => prop_assert!(err.code.starts_with("email_")),
            }
        }
    }
}
