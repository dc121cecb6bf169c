//! Masking personal numbers in form data before it leaves the API or reaches a console page
//! (SPEC cross-cutting rules: `652928*****3321`, `186****8621`; seeing one in full is a
//! separate, logged permission).
//!
//! Which fields to mask is read from the definition's form: a field validated as a phone, an
//! identity document or a bank account is masked wherever it appears.

use certdesk_domain::ident::{
    BankAccount, CnIdNumber, HkMacauPermit, Passport, Phone, TaiwanPermit,
};
use certdesk_engine::form::{Field, Form, Validator};
use serde_json::{Map, Value};

#[derive(Clone, Copy)]
enum Kind {
    Phone,
    IdNumber,
    Passport,
    HkMacauPermit,
    TaiwanPermit,
    BankAccount,
}

/// The kind of personal number `field` holds, if any. An identity document's kind is read from
/// its type field in the form data `obj` (a resident ID when absent).
fn kind(field: &Field, obj: Option<&Map<String, Value>>) -> Option<Kind> {
    field.validators.iter().find_map(|v| match v {
        Validator::Phone => Some(Kind::Phone),
        Validator::CnIdNumber => Some(Kind::IdNumber),
        Validator::IdDocument { type_field } => Some(
            match obj.and_then(|o| o.get(type_field)).and_then(Value::as_str) {
                Some("passport") => Kind::Passport,
                Some("hk_macau_permit") => Kind::HkMacauPermit,
                Some("taiwan_permit") => Kind::TaiwanPermit,
                _ => Kind::IdNumber,
            },
        ),
        Validator::Passport => Some(Kind::Passport),
        Validator::HkMacauPermit => Some(Kind::HkMacauPermit),
        Validator::TaiwanPermit => Some(Kind::TaiwanPermit),
        Validator::BankAccount => Some(Kind::BankAccount),
        _ => None,
    })
}

/// Whether `field` holds a personal number (a phone, an identity document, a passport or
/// permit, a bank account): masked wherever the form data is shown.
#[must_use]
pub fn is_personal(field: &Field) -> bool {
    kind(field, None).is_some()
}

/// A copy of `data` with every personal number masked, each by its own kind's mask (the ones
/// the real-name view and the logs use: `110105*****002X`, `E1*****78`, `186****8621`).
#[must_use]
pub fn mask_form(form: &Form, data: &Value) -> Value {
    let Some(obj) = data.as_object() else {
        return data.clone();
    };
    let mut out = Map::with_capacity(obj.len());
    for (key, value) in obj {
        let masked = match (form.field(key).and_then(|f| kind(f, Some(obj))), value) {
            (Some(k), Value::String(s)) => Value::String(mask_text(k, s)),
            (Some(k), Value::Array(items)) => Value::Array(
                items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => Value::String(mask_text(k, s)),
                        other => other.clone(),
                    })
                    .collect(),
            ),
            _ => value.clone(),
        };
        out.insert(key.clone(), masked);
    }
    Value::Object(out)
}

/// `text` masked as its kind is; a value that does not parse as one gets the generic mask.
fn mask_text(kind: Kind, text: &str) -> String {
    let masked = match kind {
        Kind::Phone => Phone::parse(text).map(|p| p.mask()),
        Kind::IdNumber => CnIdNumber::parse(text).map(|n| n.mask()),
        Kind::Passport => Passport::parse(text).map(|p| p.mask()),
        Kind::HkMacauPermit => HkMacauPermit::parse(text).map(|p| p.mask()),
        Kind::TaiwanPermit => TaiwanPermit::parse(text).map(|p| p.mask()),
        Kind::BankAccount => BankAccount::parse(text).map(|b| b.mask()),
    };
    masked.unwrap_or_else(|_| mask_generic(text))
}

/// A phone number masked as in the product spec, or a generic mask when it does not parse.
pub(crate) fn mask_phone(text: &str) -> String {
    mask_text(Kind::Phone, text)
}

/// Shortest run of digits [`mask_digit_runs`] hides: a mobile number has 11, identity and
/// bank-account numbers more; dates and counters in camera file names have fewer.
const MIN_MASKED_DIGITS: usize = 11;

/// Free text (a file name) with every run of 11 or more ASCII digits masked: as a phone or an
/// identity number when it is one (an identity number's trailing `X` counts), otherwise
/// keeping its last four digits.
pub(crate) fn mask_digit_runs(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        if i - start == 17 && matches!(chars.get(i), Some('X' | 'x')) {
            i += 1;
        }
        let run: String = chars[start..i].iter().collect();
        if run.len() < MIN_MASKED_DIGITS {
            out.push_str(&run);
        } else if run.len() == 11 {
            out.push_str(&mask_text(Kind::Phone, &run));
        } else if run.len() == 18 {
            out.push_str(&mask_text(Kind::IdNumber, &run));
        } else {
            out.push_str(&mask_generic(&run));
        }
    }
    out
}

/// Keeps the last four characters of a long value and none of a short one.
fn mask_generic(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len().max(4));
    }
    let keep = 4;
    let mut out = "*".repeat(chars.len() - keep);
    out.extend(&chars[chars.len() - keep..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use certdesk_engine::form::FieldType;
    use serde_json::json;

    fn field(name: &str, validators: Vec<Validator>) -> Field {
        Field {
            name: name.into(),
            title: name.into(),
            ty: FieldType::Text,
            required: false,
            required_when: vec![],
            choices: vec![],
            choice_titles: vec![],
            reference: None,
            many: false,
            validators,
        }
    }

    #[test]
    fn phones_and_id_numbers_are_masked_and_the_rest_is_kept() {
        let form = Form {
            fields: vec![
                field("phone", vec![Validator::Phone]),
                field("id_number", vec![Validator::CnIdNumber]),
                field(
                    "doc",
                    vec![Validator::IdDocument {
                        type_field: "doc_type".into(),
                    }],
                ),
                field("account", vec![Validator::BankAccount]),
                field("reason", vec![Validator::MaxChars(500)]),
            ],
        };
        let data = json!({
            "phone": "18600008621",
            "id_number": "11010519491231002X",
            "doc_type": "passport",
            "doc": "E12345678",
            "account": "6222020200112233445",
            "reason": "新入职",
            "unknown": 1,
        });
        let masked = mask_form(&form, &data);
        assert_eq!(masked["phone"], "186****8621");
        assert_eq!(masked["id_number"], "110105*****002X");
        assert_eq!(
            masked["doc"], "E1*****78",
            "masked as a passport, its type says"
        );
        assert_eq!(masked["account"], "**** **** 3445");
        // A document of no known type that is no resident ID: the generic mask.
        let other = mask_form(&form, &json!({"doc": "E12345678"}));
        assert_eq!(other["doc"], "*****5678");
        let permit = mask_form(
            &form,
            &json!({"doc_type": "hk_macau_permit", "doc": "H12345678"}),
        );
        assert_ne!(permit["doc"], "H12345678");
        assert!(!permit["doc"].as_str().unwrap().contains("234567"));
        assert_eq!(masked["reason"], "新入职");
        assert_eq!(masked["unknown"], 1);
        assert_eq!(mask_phone("123"), "****");
    }

    #[test]
    fn long_digit_runs_in_free_text_are_masked() {
        assert_eq!(
            mask_digit_runs("张三18600008621身份证11010519491231002x.jpg"),
            "张三186****8621身份证110105*****002X.jpg"
        );
        assert_eq!(
            mask_digit_runs("回单6222020200112233445"),
            "回单***************3445"
        );
        // Dates and short counters stay readable.
        assert_eq!(
            mask_digit_runs("IMG_20260301_123456.jpg"),
            "IMG_20260301_123456.jpg"
        );
        // An 11-digit run that is no mobile number is still hidden.
        assert_eq!(mask_digit_runs("00000000000"), "*******0000");
    }
}
