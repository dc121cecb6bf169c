//! Checking applicant input against a definition's form.
//!
//! [`Form::check`] turns the JSON an applicant submitted into the normalised data an instance
//! stores (trimmed text, upper-case USCC, phone without `+86`), or into one error per field
//! with a stable code and messages in Chinese and English. Nothing is stored when it fails.
//! File fields hold upload ids; what an id refers to (its kind by magic bytes, its size) comes
//! from the caller through a lookup, so this stays free of I/O.

use certdesk_domain::ident::{
    self, BankAccount, CnIdNumber, Email, HkMacauPermit, Passport, Phone, TaiwanPermit, TaxId,
    Uscc, ValueError,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::form::{Field, FieldType, FileKind, Form, Validator};

/// What the caller knows about an uploaded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    /// Kind recognised by magic bytes.
    pub kind: FileKind,
    /// Size in bytes.
    pub bytes: u64,
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field name (or `""` for the whole body).
    pub field: String,
    /// Stable snake_case code.
    pub code: &'static str,
    /// Message in Chinese.
    pub message_zh: String,
    /// Message in English.
    pub message_en: String,
}

impl FieldError {
    fn new(field: &str, code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> Self {
        FieldError {
            field: field.to_owned(),
            code,
            message_zh: zh.into(),
            message_en: en.into(),
        }
    }

    fn from_value(field: &str, e: &ValueError) -> Self {
        Self::new(field, e.code, e.message_zh, e.message_en)
    }
}

fn is_blank(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

impl Form {
    /// Checks submitted input; returns the normalised data or every field error.
    pub fn check(
        &self,
        input: &Value,
        files: &dyn Fn(&str) -> Option<FileMeta>,
    ) -> Result<Value, Vec<FieldError>> {
        let Some(obj) = input.as_object() else {
            return Err(vec![FieldError::new(
                "",
                "body_not_object",
                "请求内容须为 JSON 对象",
                "the body must be a JSON object",
            )]);
        };
        let mut errors = Vec::new();
        for key in obj.keys() {
            if self.field(key).is_none() {
                errors.push(FieldError::new(
                    key,
                    "unknown_field",
                    "未知字段",
                    format!("unknown field `{key}`"),
                ));
            }
        }
        let mut out = Map::new();
        for field in &self.fields {
            let value = obj.get(&field.name);
            if is_blank(value) {
                let required = field.required
                    || (!field.required_when.is_empty()
                        && field
                            .required_when
                            .iter()
                            .all(|(other, want)| obj.get(other) == Some(want)));
                if required {
                    errors.push(FieldError::new(
                        &field.name,
                        "required",
                        format!("请填写{}", field.title),
                        format!("{} is required", field.name),
                    ));
                }
                continue;
            }
            let Some(value) = value else { continue };
            let checked = if field.many {
                match value.as_array() {
                    Some(items) => items
                        .iter()
                        .map(|v| check_one(field, v, obj, files))
                        .collect::<Result<Vec<_>, _>>()
                        .map(Value::Array),
                    None => Err(FieldError::new(
                        &field.name,
                        "not_a_list",
                        "应为列表",
                        "expected a list",
                    )),
                }
            } else {
                check_one(field, value, obj, files)
            };
            match checked {
                Ok(v) => {
                    out.insert(field.name.clone(), v);
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(Value::Object(out))
        } else {
            Err(errors)
        }
    }
}

fn wrong_type(field: &Field, expected_zh: &str, expected_en: &str) -> FieldError {
    FieldError::new(
        &field.name,
        "wrong_type",
        format!("{}应为{expected_zh}", field.title),
        format!("{} must be {expected_en}", field.name),
    )
}

fn check_one(
    field: &Field,
    value: &Value,
    form_input: &Map<String, Value>,
    files: &dyn Fn(&str) -> Option<FileMeta>,
) -> Result<Value, FieldError> {
    let name = field.name.as_str();
    match field.ty {
        FieldType::Text | FieldType::Reference => {
            let Some(s) = value.as_str() else {
                return Err(wrong_type(field, "文本", "a string"));
            };
            let mut text = s.trim().to_owned();
            for v in &field.validators {
                text = apply_text(name, v, &text, form_input)?;
            }
            Ok(Value::String(text))
        }
        FieldType::Choice => match value.as_str() {
            Some(s) if field.choices.iter().any(|c| c == s) => Ok(Value::String(s.to_owned())),
            _ => Err(FieldError::new(
                name,
                "not_a_choice",
                format!("{}的取值无效", field.title),
                format!("{name} must be one of: {}", field.choices.join(", ")),
            )),
        },
        FieldType::Boolean => value
            .as_bool()
            .map(Value::Bool)
            .ok_or_else(|| wrong_type(field, "是或否", "true or false")),
        FieldType::Integer | FieldType::Money => {
            let Some(n) = value.as_i64() else {
                return Err(if field.ty == FieldType::Money {
                    wrong_type(field, "以分为单位的整数金额", "an integer amount in fen")
                } else {
                    wrong_type(field, "整数", "an integer")
                });
            };
            for v in &field.validators {
                match *v {
                    Validator::Min(min) if n < min => {
                        return Err(FieldError::new(
                            name,
                            "too_small",
                            format!("{}不能小于 {min}", field.title),
                            format!("{name} must be at least {min}"),
                        ));
                    }
                    Validator::Max(max) if n > max => {
                        return Err(FieldError::new(
                            name,
                            "too_large",
                            format!("{}不能大于 {max}", field.title),
                            format!("{name} must be at most {max}"),
                        ));
                    }
                    _ => {}
                }
            }
            Ok(Value::from(n))
        }
        FieldType::Date => match value
            .as_str()
            .and_then(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        {
            Some(d) => Ok(Value::String(d.format("%Y-%m-%d").to_string())),
            None => Err(wrong_type(
                field,
                "日期（YYYY-MM-DD）",
                "a date like 2026-01-31",
            )),
        },
        FieldType::File => {
            let Some(id) = value.as_str() else {
                return Err(wrong_type(field, "文件", "a file id"));
            };
            let Some(meta) = files(id) else {
                return Err(FieldError::new(
                    name,
                    "file_not_found",
                    "文件不存在或无权访问",
                    format!("no file `{id}` you may use"),
                ));
            };
            for v in &field.validators {
                match v {
                    Validator::File(kinds) if !kinds.contains(&meta.kind) => {
                        return Err(FieldError::new(
                            name,
                            "file_wrong_kind",
                            "文件类型不符合要求",
                            "this file kind is not accepted here",
                        ));
                    }
                    Validator::MaxBytes(max) if meta.bytes > *max => {
                        return Err(FieldError::new(
                            name,
                            "file_too_large",
                            "文件过大",
                            format!("the file is larger than {max} bytes"),
                        ));
                    }
                    _ => {}
                }
            }
            Ok(Value::String(id.to_owned()))
        }
    }
}

/// Applies one text validator; returns the normalised text.
fn apply_text(
    name: &str,
    v: &Validator,
    text: &str,
    form_input: &Map<String, Value>,
) -> Result<String, FieldError> {
    let parsed = |r: Result<String, ValueError>| r.map_err(|e| FieldError::from_value(name, &e));
    match v {
        Validator::Uscc => parsed(Uscc::parse(text).map(|x| x.as_str().to_owned())),
        Validator::CnIdNumber => parsed(CnIdNumber::parse(text).map(|x| x.as_str().to_owned())),
        Validator::Passport => parsed(Passport::parse(text).map(|x| x.as_str().to_owned())),
        Validator::HkMacauPermit => {
            parsed(HkMacauPermit::parse(text).map(|x| x.as_str().to_owned()))
        }
        Validator::TaiwanPermit => parsed(TaiwanPermit::parse(text).map(|x| x.as_str().to_owned())),
        Validator::Phone => parsed(Phone::parse(text).map(|x| x.as_str().to_owned())),
        Validator::BankAccount => parsed(BankAccount::parse(text).map(|x| x.as_str().to_owned())),
        Validator::TaxId => parsed(TaxId::parse(text).map(|x| x.as_str().to_owned())),
        Validator::Email => parsed(Email::parse(text).map(|x| x.as_str().to_owned())),
        Validator::IdDocument { type_field } => {
            let doc = match form_input.get(type_field).and_then(Value::as_str) {
                Some("resident_id") => Validator::CnIdNumber,
                Some("passport") => Validator::Passport,
                Some("hk_macau_permit") => Validator::HkMacauPermit,
                Some("taiwan_permit") => Validator::TaiwanPermit,
                _ => {
                    return Err(FieldError::new(
                        name,
                        "id_document_type_missing",
                        "请先选择证件类型",
                        format!("choose the document type in `{type_field}` first"),
                    ));
                }
            };
            apply_text(name, &doc, text, form_input)
        }
        Validator::MaxChars(max) => {
            ident::check_max_chars(text, *max as usize)
                .map_err(|e| FieldError::from_value(name, &e))?;
            Ok(text.to_owned())
        }
        Validator::MinChars(min) if ident::char_count(text) < *min as usize => {
            Err(FieldError::new(
                name,
                "text_too_short",
                format!("至少 {min} 个字符"),
                format!("at least {min} characters"),
            ))
        }
        Validator::Digits(n)
            if text.len() != *n as usize || !text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Err(FieldError::new(
                name,
                "not_digits",
                format!("应为 {n} 位数字"),
                format!("must be exactly {n} digits"),
            ))
        }
        _ => Ok(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::Field;
    use serde_json::json;

    fn field(name: &str, ty: FieldType, validators: Vec<Validator>) -> Field {
        Field {
            name: name.into(),
            title: name.into(),
            ty,
            required: false,
            required_when: vec![],
            choices: vec![],
            choice_titles: vec![],
            reference: None,
            many: false,
            validators,
        }
    }

    fn no_files(_: &str) -> Option<FileMeta> {
        None
    }

    #[test]
    fn normalises_identifiers_and_reports_every_bad_field() {
        let mut uscc = field("uscc", FieldType::Text, vec![Validator::Uscc]);
        uscc.required = true;
        let form = Form {
            fields: vec![
                uscc,
                field("phone", FieldType::Text, vec![Validator::Phone]),
                field("reason", FieldType::Text, vec![Validator::MaxChars(5)]),
                field("fee", FieldType::Money, vec![Validator::Min(0)]),
            ],
        };
        let ok = form
            .check(
                &json!({ "uscc": " 91350100m000100y43 ", "phone": "+86 186-0000-8621" }),
                &no_files,
            )
            .unwrap();
        assert_eq!(
            ok,
            json!({ "uscc": "91350100M000100Y43", "phone": "18600008621" })
        );

        let errors = form
            .check(
                &json!({ "phone": "12345", "reason": "太长了太长了", "fee": -1, "extra": 1 }),
                &no_files,
            )
            .unwrap_err();
        let codes: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            codes,
            [
                ("extra", "unknown_field"),
                ("uscc", "required"),
                ("phone", "phone_invalid"),
                ("reason", "text_too_long"),
                ("fee", "too_small")
            ]
        );
    }

    #[test]
    fn required_when_and_id_document_follow_other_fields() {
        let mut kind = field("id_type", FieldType::Choice, vec![]);
        kind.choices = vec!["resident_id".into(), "passport".into()];
        let mut number = field(
            "id_number",
            FieldType::Text,
            vec![Validator::IdDocument {
                type_field: "id_type".into(),
            }],
        );
        number.required_when = vec![("id_type".into(), json!("resident_id"))];
        let form = Form {
            fields: vec![kind, number],
        };
        assert_eq!(
            form.check(&json!({ "id_type": "resident_id" }), &no_files)
                .unwrap_err()[0]
                .code,
            "required"
        );
        assert!(
            form.check(&json!({ "id_type": "passport" }), &no_files)
                .is_ok()
        );
        let e = form
            .check(
                &json!({ "id_type": "resident_id", "id_number": "110105194912310021" }),
                &no_files,
            )
            .unwrap_err();
        assert_eq!(e[0].code, "id_number_bad_check_digit");
        let ok = form
            .check(
                &json!({ "id_type": "resident_id", "id_number": "11010519491231002x" }),
                &no_files,
            )
            .unwrap();
        assert_eq!(ok["id_number"], "11010519491231002X");
    }

    #[test]
    fn files_are_checked_by_kind_and_size_through_the_lookup() {
        let form = Form {
            fields: vec![field(
                "licence",
                FieldType::File,
                vec![
                    Validator::File(vec![FileKind::Pdf]),
                    Validator::MaxBytes(100),
                ],
            )],
        };
        let files = |id: &str| match id {
            "pdf" => Some(FileMeta {
                kind: FileKind::Pdf,
                bytes: 50,
            }),
            "png" => Some(FileMeta {
                kind: FileKind::Png,
                bytes: 50,
            }),
            "big" => Some(FileMeta {
                kind: FileKind::Pdf,
                bytes: 500,
            }),
            _ => None,
        };
        assert!(form.check(&json!({ "licence": "pdf" }), &files).is_ok());
        for (id, code) in [
            ("png", "file_wrong_kind"),
            ("big", "file_too_large"),
            ("nope", "file_not_found"),
        ] {
            assert_eq!(
                form.check(&json!({ "licence": id }), &files).unwrap_err()[0].code,
                code
            );
        }
    }
}
