//! The input form of a definition: typed fields and the validators they name.
//!
//! The form is data the runtime checks applicant input against before an instance starts or
//! resubmits. Validators are named in definitions (`uscc`, `{ max_chars = 500 }`) and resolved
//! here to [`Validator`] values; the identifier rules themselves live in `certdesk-domain`.

use serde::Serialize;

/// The type of a form field or an event payload field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Free text.
    Text,
    /// A whole number.
    Integer,
    /// Money in integer fen.
    Money,
    /// True or false.
    Boolean,
    /// A calendar date (Beijing).
    Date,
    /// One of a fixed list of strings.
    Choice,
    /// An uploaded file id.
    File,
    /// The id of another record (enterprise, order, package, account).
    Reference,
}

impl FieldType {
    /// Parses the name used in definition files.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "text" => Self::Text,
            "integer" => Self::Integer,
            "money" => Self::Money,
            "boolean" => Self::Boolean,
            "date" => Self::Date,
            "choice" => Self::Choice,
            "file" => Self::File,
            "reference" => Self::Reference,
            _ => return None,
        })
    }

    /// The names accepted by [`FieldType::parse`], for error messages.
    pub const NAMES: &'static str = "text, integer, money, boolean, date, choice, file, reference";
}

/// A file kind recognised by magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// JPEG image.
    Jpeg,
    /// PNG image.
    Png,
    /// PDF document.
    Pdf,
}

impl FileKind {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "jpeg" | "jpg" => Self::Jpeg,
            "png" => Self::Png,
            "pdf" => Self::Pdf,
            _ => return None,
        })
    }
}

/// A resolved validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Validator {
    /// Unified social credit code (GB 32100-2015).
    Uscc,
    /// Mainland resident ID number (GB 11643-1999).
    CnIdNumber,
    /// Passport number.
    Passport,
    /// Mainland travel permit for Hong Kong and Macau residents.
    HkMacauPermit,
    /// Mainland travel permit for Taiwan residents.
    TaiwanPermit,
    /// An identity document number whose kind is given by another field of the form.
    IdDocument {
        /// The field holding the document type (`resident_id`, `passport`, ...).
        type_field: String,
    },
    /// Mainland mobile phone number.
    Phone,
    /// Bank account number.
    BankAccount,
    /// Taxpayer identification number.
    TaxId,
    /// E-mail address.
    Email,
    /// At most this many characters.
    MaxChars(u32),
    /// At least this many characters.
    MinChars(u32),
    /// Exactly this many ASCII digits.
    Digits(u32),
    /// An upload of one of these kinds.
    File(Vec<FileKind>),
    /// An upload of at most this many bytes.
    MaxBytes(u64),
    /// An integer or money amount at least this large.
    Min(i64),
    /// An integer or money amount at most this large.
    Max(i64),
}

/// The document types an [`Validator::IdDocument`] type field may hold.
pub const ID_DOCUMENT_TYPES: [&str; 4] = [
    "resident_id",
    "passport",
    "hk_macau_permit",
    "taiwan_permit",
];

/// Why a validator entry could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidatorProblem {
    /// No validator has this name.
    Unknown(String),
    /// The argument is missing or of the wrong shape.
    BadArgument(String),
    /// The validator does not apply to this field type.
    WrongType(&'static str),
}

impl Validator {
    /// Every validator name, for error messages and docs.
    pub const NAMES: &'static str = "uscc, cn_id_number, passport, hk_macau_permit, taiwan_permit, \
         id_document, phone, bank_account, tax_id, email, max_chars, min_chars, digits, file, \
         max_bytes, min, max";

    /// Resolves a validator entry: a bare name or a one-key table `{ name = argument }`.
    pub fn resolve(entry: &toml::Value, ty: FieldType) -> Result<Self, ValidatorProblem> {
        let (name, arg) = match entry {
            toml::Value::String(name) => (name.as_str(), None),
            toml::Value::Table(t) if t.len() == 1 => {
                let Some((name, arg)) = t.iter().next() else {
                    return Err(ValidatorProblem::BadArgument("an empty table".into()));
                };
                (name.as_str(), Some(arg))
            }
            _ => {
                return Err(ValidatorProblem::BadArgument(
                    "write a validator as a name (\"uscc\") or a one-key table ({ max_chars = 500 })"
                        .into(),
                ));
            }
        };
        let count = |arg: Option<&toml::Value>| -> Result<u32, ValidatorProblem> {
            match arg.and_then(toml::Value::as_integer) {
                Some(n) if n > 0 && n <= i64::from(u32::MAX) => Ok(n as u32),
                _ => Err(ValidatorProblem::BadArgument(format!(
                    "`{name}` takes a positive integer"
                ))),
            }
        };
        let text_only = matches!(ty, FieldType::Text);
        let v = match (name, arg) {
            ("uscc", None) => Self::Uscc,
            ("cn_id_number", None) => Self::CnIdNumber,
            ("passport", None) => Self::Passport,
            ("hk_macau_permit", None) => Self::HkMacauPermit,
            ("taiwan_permit", None) => Self::TaiwanPermit,
            ("phone", None) => Self::Phone,
            ("bank_account", None) => Self::BankAccount,
            ("tax_id", None) => Self::TaxId,
            ("email", None) => Self::Email,
            ("id_document", Some(toml::Value::String(field))) => Self::IdDocument {
                type_field: field.clone(),
            },
            ("id_document", _) => {
                return Err(ValidatorProblem::BadArgument(
                    "`id_document` takes the name of the field holding the document type".into(),
                ));
            }
            ("max_chars", a) => Self::MaxChars(count(a)?),
            ("min_chars", a) => Self::MinChars(count(a)?),
            ("digits", a) => Self::Digits(count(a)?),
            ("max_bytes", a) => Self::MaxBytes(u64::from(count(a)?)),
            ("file", Some(toml::Value::Array(kinds))) if !kinds.is_empty() => {
                let mut out = Vec::with_capacity(kinds.len());
                for k in kinds {
                    match k.as_str().and_then(FileKind::parse) {
                        Some(kind) => out.push(kind),
                        None => {
                            return Err(ValidatorProblem::BadArgument(format!(
                                "unknown file kind {k}; known: jpeg, png, pdf"
                            )));
                        }
                    }
                }
                Self::File(out)
            }
            ("file", _) => {
                return Err(ValidatorProblem::BadArgument(
                    "`file` takes a non-empty list of kinds, e.g. [\"jpeg\", \"png\", \"pdf\"]"
                        .into(),
                ));
            }
            ("min" | "max", Some(toml::Value::Integer(n))) => {
                if name == "min" {
                    Self::Min(*n)
                } else {
                    Self::Max(*n)
                }
            }
            ("min" | "max", _) => {
                return Err(ValidatorProblem::BadArgument(format!(
                    "`{name}` takes an integer"
                )));
            }
            (
                "uscc" | "cn_id_number" | "passport" | "hk_macau_permit" | "taiwan_permit"
                | "phone" | "bank_account" | "tax_id" | "email",
                Some(_),
            ) => {
                return Err(ValidatorProblem::BadArgument(format!(
                    "`{name}` takes no argument"
                )));
            }
            (other, _) => return Err(ValidatorProblem::Unknown(other.to_owned())),
        };
        let fits = match &v {
            Self::File(_) | Self::MaxBytes(_) => ty == FieldType::File,
            Self::Min(_) | Self::Max(_) => matches!(ty, FieldType::Integer | FieldType::Money),
            _ => text_only,
        };
        if fits {
            Ok(v)
        } else {
            Err(ValidatorProblem::WrongType(match &v {
                Self::File(_) | Self::MaxBytes(_) => "file",
                Self::Min(_) | Self::Max(_) => "integer or money",
                _ => "text",
            }))
        }
    }
}

/// A form field after validation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    /// Field name (key in the submitted JSON object).
    pub name: String,
    /// Label in Chinese.
    pub title: String,
    /// Type.
    pub ty: FieldType,
    /// Whether it is always required.
    pub required: bool,
    /// Required when every listed field holds the listed value.
    pub required_when: Vec<(String, serde_json::Value)>,
    /// Allowed values of a choice field.
    pub choices: Vec<String>,
    /// Chinese labels of choices, where the definition gives them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub choice_titles: Vec<(String, String)>,
    /// What a reference points to.
    pub reference: Option<String>,
    /// Whether the value is a list.
    pub many: bool,
    /// Validators in the order written.
    pub validators: Vec<Validator>,
}

impl Field {
    /// The label of choice `value`: its title where the definition gives one, else the value.
    #[must_use]
    pub fn choice_title<'a>(&'a self, value: &'a str) -> &'a str {
        self.choice_titles
            .iter()
            .find(|(v, _)| v == value)
            .map_or(value, |(_, t)| t.as_str())
    }
}

/// The input form: fields in display order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Form {
    /// The fields.
    pub fields: Vec<Field>,
}

impl Form {
    /// Looks up a field by name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}
