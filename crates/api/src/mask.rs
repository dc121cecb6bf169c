//! Masking personal numbers in form data before it leaves the API (SPEC cross-cutting rules:
//! `652928*****3321`, `186****8621`; seeing one in full is a separate, logged permission).
//!
//! Which fields to mask is read from the definition's form: a field validated as a phone, an
//! identity document or a bank account is masked wherever it appears.

use certdesk_domain::ident::{CnIdNumber, Phone};
use certdesk_engine::form::{Form, Validator};
use serde_json::{Map, Value};

#[derive(Clone, Copy)]
enum Kind {
    Phone,
    IdNumber,
    Other,
}

fn kind(validators: &[Validator]) -> Option<Kind> {
    validators.iter().find_map(|v| match v {
        Validator::Phone => Some(Kind::Phone),
        Validator::CnIdNumber | Validator::IdDocument { .. } => Some(Kind::IdNumber),
        Validator::Passport
        | Validator::HkMacauPermit
        | Validator::TaiwanPermit
        | Validator::BankAccount => Some(Kind::Other),
        _ => None,
    })
}

/// A copy of `data` with every personal number masked.
pub(crate) fn mask_form(form: &Form, data: &Value) -> Value {
    let Some(obj) = data.as_object() else {
        return data.clone();
    };
    let mut out = Map::with_capacity(obj.len());
    for (key, value) in obj {
        let masked = match (form.field(key).and_then(|f| kind(&f.validators)), value) {
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

fn mask_text(kind: Kind, text: &str) -> String {
    match kind {
        Kind::Phone => Phone::parse(text).map_or_else(|_| mask_generic(text), |p| p.mask()),
        Kind::IdNumber => CnIdNumber::parse(text).map_or_else(|_| mask_generic(text), |n| n.mask()),
        Kind::Other => mask_generic(text),
    }
}

/// A phone number masked as in the product spec, or a generic mask when it does not parse.
pub(crate) fn mask_phone(text: &str) -> String {
    mask_text(Kind::Phone, text)
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
    use certdesk_engine::form::{Field, FieldType};
    use serde_json::json;

    fn field(name: &str, validators: Vec<Validator>) -> Field {
        Field {
            name: name.into(),
            title: name.into(),
            ty: FieldType::Text,
            required: false,
            required_when: vec![],
            choices: vec![],
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
            "doc": "E12345678",
            "account": "6222020200112233445",
            "reason": "新入职",
            "unknown": 1,
        });
        let masked = mask_form(&form, &data);
        assert_eq!(masked["phone"], "186****8621");
        assert_eq!(masked["id_number"], "110105*****002X");
        assert_eq!(masked["doc"], "*****5678");
        assert_eq!(masked["account"], "***************3445");
        assert_eq!(masked["reason"], "新入职");
        assert_eq!(masked["unknown"], 1);
        assert_eq!(mask_phone("123"), "****");
    }
}
