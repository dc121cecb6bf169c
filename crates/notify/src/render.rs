//! Rendering of the notification templates in `templates/` (see `templates/README.md`).
//!
//! This module owns the template layout and the rules for turning a template plus a JSON data
//! object into the text that is sent:
//!
//! - Layout: `<dir>/<channel>/<name>.hbs` for the channels `sms`, `email` and `in_app`, plus
//!   `email/<name>.html.hbs` as the HTML alternative of an e-mail. Names are `[a-z0-9_]+`;
//!   other files (a README) are ignored.
//! - Shape: an e-mail's first line is its subject and an in-app message's first line its
//!   title, followed by one blank line and the body; an SMS is its whole text.
//! - Strict mode: a variable the data lacks is an error, never an empty string, so a
//!   notification is never sent with a hole in it. `{{#if x}}` on a missing `x` is allowed
//!   (that is how templates test for optional values).
//! - Escaping: only `.html.hbs` output is HTML-escaped; SMS, plain-text e-mail and in-app
//!   text are plain text and are not escaped.
//! - Masking: the helpers `{{mask_phone x}}` (`186****8621`) and `{{mask_id x}}`
//!   (`652928*****3321`) use the masks of [`certdesk_domain::ident`]. A value that is not a
//!   valid number of that kind is masked entirely rather than shown.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use certdesk_domain::ident::{CnIdNumber, HkMacauPermit, Passport, Phone, TaiwanPermit};
use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson,
};
use serde_json::Value;

use crate::error::NotifyError;

/// A way of reaching a person, named as in workflow definitions and the `notifications` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    /// A text message to a mainland mobile number.
    Sms,
    /// An e-mail, plain text with an optional HTML alternative.
    Email,
    /// A message in the app's inbox.
    InApp,
}

impl Channel {
    /// Every channel, in a fixed order.
    pub const ALL: [Channel; 3] = [Channel::Sms, Channel::Email, Channel::InApp];

    /// The channel's name: `sms`, `email` or `in_app` (also its template directory).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
            Self::InApp => "in_app",
        }
    }

    /// Whether the first line of the rendered text is a subject or title.
    fn has_title(self) -> bool {
        matches!(self, Self::Email | Self::InApp)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown channel name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown channel `{0}`; known: sms, email, in_app")]
pub struct UnknownChannel(pub String);

impl FromStr for Channel {
    type Err = UnknownChannel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownChannel(s.to_owned()))
    }
}

/// A rendered notification, ready to be sent or stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The e-mail's subject or the in-app message's title; `None` for SMS.
    pub subject: Option<String>,
    /// The SMS text, the e-mail's plain-text body or the in-app message's body.
    pub body: String,
    /// The e-mail's HTML alternative, when the template has one.
    pub html: Option<String>,
}

/// The loaded templates of every channel.
///
/// Two Handlebars registries hold them: one without escaping for plain text (SMS, e-mail text,
/// in-app) and one with HTML escaping for the `.html.hbs` alternatives. Both are in strict mode
/// and have the masking helpers.
#[derive(Debug)]
pub struct Renderer {
    text: Handlebars<'static>,
    html: Handlebars<'static>,
    /// (channel, name) of every text template, for [`Renderer::names`].
    names: BTreeSet<(Channel, String)>,
}

impl Renderer {
    /// Loads and compiles every template under `dir` (laid out as `<channel>/<name>.hbs`).
    ///
    /// # Errors
    ///
    /// [`NotifyError::Io`] when `dir` or a file cannot be read; [`NotifyError::Template`] for a
    /// template that does not compile, has an invalid name, is an HTML alternative outside
    /// `email/`, or is an HTML alternative without its plain-text e-mail.
    pub fn load(dir: &Path) -> Result<Renderer, NotifyError> {
        let mut text = registry(handlebars::no_escape);
        let mut html = registry(handlebars::html_escape);
        let mut names = BTreeSet::new();
        let mut html_files = Vec::new();

        // Reading the directory itself first makes a wrong path an error even when no channel
        // subdirectory exists.
        std::fs::read_dir(dir).map_err(|source| NotifyError::Io {
            path: dir.to_owned(),
            source,
        })?;
        for channel in Channel::ALL {
            let channel_dir = dir.join(channel.as_str());
            if !channel_dir.is_dir() {
                continue;
            }
            for (path, stem) in template_files(&channel_dir)? {
                let source = std::fs::read_to_string(&path).map_err(|source| NotifyError::Io {
                    path: path.clone(),
                    source,
                })?;
                let (name, is_html) = match stem.strip_suffix(".html") {
                    Some(name) => (name.to_owned(), true),
                    None => (stem, false),
                };
                check_name(&path, &name)?;
                let key = key(channel, &name);
                if is_html {
                    if channel != Channel::Email {
                        return Err(template_error(
                            &path,
                            "only e-mail templates may have an HTML alternative",
                        ));
                    }
                    html.register_template_string(&key, source)
                        .map_err(|e| template_error(&path, e))?;
                    html_files.push((path, name));
                } else {
                    text.register_template_string(&key, source)
                        .map_err(|e| template_error(&path, e))?;
                    names.insert((channel, name));
                }
            }
        }
        for (path, name) in html_files {
            if !names.contains(&(Channel::Email, name)) {
                return Err(template_error(
                    &path,
                    "HTML alternative without a plain-text e-mail template of the same name",
                ));
            }
        }
        Ok(Renderer { text, html, names })
    }

    /// Whether a template `name` exists for `channel`.
    #[must_use]
    pub fn has(&self, channel: Channel, name: &str) -> bool {
        self.text.has_template(&key(channel, name))
    }

    /// The template names of `channel`, sorted.
    pub fn names(&self, channel: Channel) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .filter(move |(c, _)| *c == channel)
            .map(|(_, name)| name.as_str())
    }

    /// Renders template `name` of `channel` with `data`.
    ///
    /// # Errors
    ///
    /// [`NotifyError::UnknownTemplate`] when there is no such template,
    /// [`NotifyError::Render`] when the data lacks a variable the template uses (strict mode)
    /// or a helper fails, [`NotifyError::Shape`] when an e-mail or in-app text lacks its title
    /// line, the blank line after it, or a body.
    pub fn render(
        &self,
        channel: Channel,
        name: &str,
        data: &Value,
    ) -> Result<Rendered, NotifyError> {
        let key = key(channel, name);
        if !self.text.has_template(&key) {
            return Err(NotifyError::UnknownTemplate {
                channel,
                name: name.to_owned(),
            });
        }
        let render_error = |source| NotifyError::Render {
            channel,
            name: name.to_owned(),
            source: Box::new(source),
        };
        let text = self.text.render(&key, data).map_err(render_error)?;
        let html = if self.html.has_template(&key) {
            Some(self.html.render(&key, data).map_err(render_error)?)
        } else {
            None
        };
        let shape_error = |message: &str| NotifyError::Shape {
            channel,
            name: name.to_owned(),
            message: message.to_owned(),
        };
        let (subject, body) = if channel.has_title() {
            let (title, body) = split_title(&text).map_err(shape_error)?;
            (Some(title), body)
        } else {
            (None, text.trim().to_owned())
        };
        if body.is_empty() {
            return Err(shape_error("the rendered body is empty"));
        }
        Ok(Rendered {
            subject,
            body,
            html,
        })
    }
}

/// A strict registry with the masking helpers and the given escape function.
fn registry(escape: fn(&str) -> String) -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(escape);
    registry.register_helper(
        "mask_phone",
        Box::new(MaskHelper {
            name: "mask_phone",
            mask: mask_phone,
        }),
    );
    registry.register_helper(
        "mask_id",
        Box::new(MaskHelper {
            name: "mask_id",
            mask: mask_id,
        }),
    );
    registry
}

fn key(channel: Channel, name: &str) -> String {
    format!("{channel}/{name}")
}

/// The `*.hbs` files of a channel directory with their names minus `.hbs`, sorted by path.
fn template_files(dir: &Path) -> Result<Vec<(PathBuf, String)>, NotifyError> {
    let io_error = |source| NotifyError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(stem) = file_name.strip_suffix(".hbs")
            && path.is_file()
        {
            let stem = stem.to_owned();
            files.push((path, stem));
        }
    }
    files.sort();
    Ok(files)
}

fn check_name(path: &Path, name: &str) -> Result<(), NotifyError> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(template_error(
            path,
            "template names are lower-case letters, digits and `_`",
        ))
    }
}

fn template_error(path: &Path, message: impl fmt::Display) -> NotifyError {
    NotifyError::Template {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

/// Splits "title\n\nbody" into its trimmed title and body.
fn split_title(text: &str) -> Result<(String, String), &'static str> {
    let text = text.replace("\r\n", "\n");
    let (title, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let title = title.trim();
    if title.is_empty() {
        return Err("the first line (subject or title) is empty");
    }
    let (blank, body) = rest.split_once('\n').unwrap_or((rest, ""));
    if !blank.trim().is_empty() {
        return Err("the subject or title line must be followed by one blank line");
    }
    Ok((title.to_owned(), body.trim_end().to_owned()))
}

/// A helper that replaces its one argument by a masked form of it.
struct MaskHelper {
    name: &'static str,
    mask: fn(&str) -> String,
}

impl HelperDef for MaskHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let param = h
            .param(0)
            .ok_or(RenderErrorReason::ParamNotFoundForIndex(self.name, 0))?;
        // Handlebars hands a helper a missing value without complaint even in strict mode; the
        // helper must refuse it itself, or `{{mask_phone typo}}` would render as nothing.
        if param.is_value_missing() {
            return Err(RenderError::strict_error(param.relative_path()));
        }
        let masked = match param.value() {
            Value::String(s) => (self.mask)(s),
            Value::Number(n) => (self.mask)(&n.to_string()),
            // An explicit null ("no phone on file") renders as nothing, like a null variable.
            Value::Null => String::new(),
            _ => {
                return Err(RenderErrorReason::InvalidParamType("a string or a number").into());
            }
        };
        Ok(ScopedJson::Derived(Value::String(masked)))
    }
}

/// What an unrecognisable value is masked to: nothing of it shows.
const FULLY_MASKED: &str = "****";

/// `186****8621` for a mainland mobile number; fully masked otherwise.
fn mask_phone(value: &str) -> String {
    Phone::parse(value).map_or_else(|_| FULLY_MASKED.to_owned(), |p| p.mask())
}

/// `652928*****3321` for a resident ID number, the documents' own masks for passports and
/// travel permits; fully masked otherwise.
fn mask_id(value: &str) -> String {
    if let Ok(id) = CnIdNumber::parse(value) {
        id.mask()
    } else if let Ok(permit) = HkMacauPermit::parse(value) {
        permit.mask()
    } else if let Ok(permit) = TaiwanPermit::parse(value) {
        permit.mask()
    } else if let Ok(passport) = Passport::parse(value) {
        passport.mask()
    } else {
        FULLY_MASKED.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Writes `files` (relative path, content) into a fresh directory.
    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        dir
    }

    fn load(files: &[(&str, &str)]) -> Result<Renderer, NotifyError> {
        Renderer::load(dir_with(files).path())
    }

    #[test]
    fn channels_round_trip_through_their_names() {
        for channel in Channel::ALL {
            assert_eq!(channel.as_str().parse::<Channel>().unwrap(), channel);
            assert_eq!(channel.to_string(), channel.as_str());
        }
        assert!("push".parse::<Channel>().is_err());
    }

    #[test]
    fn unknown_variable_is_an_error_in_strict_mode() {
        let renderer = load(&[("sms/t.hbs", "【{{brand}}】{{no_such_variable}}")]).unwrap();
        let err = renderer
            .render(Channel::Sms, "t", &json!({"brand": "CA"}))
            .unwrap_err();
        assert!(matches!(err, NotifyError::Render { .. }), "{err:?}");
        assert!(err.to_string().contains("no_such_variable"), "{err}");
        // A missing nested field too.
        let renderer = load(&[("sms/t.hbs", "{{enterprise.name}}")]).unwrap();
        let err = renderer
            .render(Channel::Sms, "t", &json!({"enterprise": {}}))
            .unwrap_err();
        assert!(matches!(err, NotifyError::Render { .. }), "{err:?}");
    }

    #[test]
    fn if_on_a_missing_variable_is_allowed() {
        let renderer = load(&[("sms/t.hbs", "a{{#if comment}}：{{comment}}{{/if}}")]).unwrap();
        let out = renderer.render(Channel::Sms, "t", &json!({})).unwrap();
        assert_eq!(out.body, "a");
    }

    #[test]
    fn only_html_templates_are_escaped() {
        let renderer = load(&[
            ("sms/t.hbs", "{{name}}"),
            ("in_app/t.hbs", "{{name}}\n\n{{name}}"),
            ("email/t.hbs", "{{name}}\n\n{{name}}"),
            ("email/t.html.hbs", "<p>{{name}}</p>"),
        ])
        .unwrap();
        let data = json!({"name": "A&B <公司> \"x\""});
        let sms = renderer.render(Channel::Sms, "t", &data).unwrap();
        assert_eq!(sms.body, "A&B <公司> \"x\"");
        assert_eq!(sms.subject, None);
        assert_eq!(sms.html, None);
        let in_app = renderer.render(Channel::InApp, "t", &data).unwrap();
        assert_eq!(in_app.subject.as_deref(), Some("A&B <公司> \"x\""));
        assert_eq!(in_app.body, "A&B <公司> \"x\"");
        let email = renderer.render(Channel::Email, "t", &data).unwrap();
        assert_eq!(email.subject.as_deref(), Some("A&B <公司> \"x\""));
        assert_eq!(email.body, "A&B <公司> \"x\"");
        assert_eq!(
            email.html.as_deref(),
            Some("<p>A&amp;B &lt;公司&gt; &quot;x&quot;</p>")
        );
    }

    #[test]
    fn subject_title_and_body_are_split_at_the_blank_line() {
        let renderer = load(&[
            ("email/t.hbs", "主题 {{x}}\n\n第一行\n\n第二行\n\n"),
            ("in_app/t.hbs", "标题\r\n\r\n正文\r\n"),
        ])
        .unwrap();
        let email = renderer
            .render(Channel::Email, "t", &json!({"x": 1}))
            .unwrap();
        assert_eq!(email.subject.as_deref(), Some("主题 1"));
        assert_eq!(email.body, "第一行\n\n第二行");
        let in_app = renderer.render(Channel::InApp, "t", &json!({})).unwrap();
        assert_eq!(in_app.subject.as_deref(), Some("标题"));
        assert_eq!(in_app.body, "正文");
    }

    #[test]
    fn misshapen_titled_texts_are_rejected() {
        let renderer = load(&[
            ("email/no_blank.hbs", "主题\n正文"),
            ("email/empty_subject.hbs", "{{x}}\n\n正文"),
            ("in_app/no_body.hbs", "标题\n\n"),
            ("sms/empty.hbs", "{{x}}"),
        ])
        .unwrap();
        let data = json!({"x": ""});
        for (channel, name) in [
            (Channel::Email, "no_blank"),
            (Channel::Email, "empty_subject"),
            (Channel::InApp, "no_body"),
            (Channel::Sms, "empty"),
        ] {
            let err = renderer.render(channel, name, &data).unwrap_err();
            assert!(matches!(err, NotifyError::Shape { .. }), "{name}: {err:?}");
        }
    }

    #[test]
    fn unknown_templates_and_channels_without_one_are_reported() {
        let renderer = load(&[("sms/t.hbs", "x")]).unwrap();
        assert!(renderer.has(Channel::Sms, "t"));
        assert!(!renderer.has(Channel::Email, "t"));
        let err = renderer
            .render(Channel::Email, "t", &json!({}))
            .unwrap_err();
        assert!(
            matches!(err, NotifyError::UnknownTemplate { .. }),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "no email template named `t`");
    }

    #[test]
    fn names_lists_text_templates_per_channel() {
        let renderer = load(&[
            ("sms/b.hbs", "x"),
            ("sms/a.hbs", "x"),
            ("sms/README.md", "not a template"),
            ("email/a.hbs", "s\n\nb"),
            ("email/a.html.hbs", "<p>b</p>"),
            ("README.md", "ignored"),
        ])
        .unwrap();
        assert_eq!(renderer.names(Channel::Sms).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(renderer.names(Channel::Email).collect::<Vec<_>>(), ["a"]);
        assert_eq!(renderer.names(Channel::InApp).count(), 0);
    }

    #[test]
    fn bad_template_files_are_rejected_at_load_naming_the_file() {
        for (files, needle) in [
            (&[("sms/t.hbs", "{{#if x}}unclosed")][..], "sms/t.hbs"),
            (&[("sms/Bad-Name.hbs", "x")][..], "Bad-Name.hbs"),
            (&[("sms/t.html.hbs", "<p>x</p>")][..], "only e-mail"),
            (
                &[("email/t.html.hbs", "<p>x</p>")][..],
                "without a plain-text",
            ),
        ] {
            let err = load(files).unwrap_err();
            assert!(matches!(err, NotifyError::Template { .. }), "{err:?}");
            assert!(err.to_string().contains(needle), "{err}");
        }
        let err = Renderer::load(Path::new("/nonexistent/templates")).unwrap_err();
        assert!(matches!(err, NotifyError::Io { .. }), "{err:?}");
    }

    #[test]
    fn masking_helpers_hide_the_middle() {
        let renderer = load(&[(
            "sms/t.hbs",
            "{{mask_phone phone}} {{mask_id id}} {{mask_phone number}} {{mask_phone none}}",
        )])
        .unwrap();
        let out = renderer
            .render(
                Channel::Sms,
                "t",
                &json!({
                    "phone": "+86 186 1234 8621",
                    "id": "652928198201013321",
                    "number": 18612348621_u64,
                    "none": null,
                }),
            )
            .unwrap();
        assert_eq!(out.body, "186****8621 652928*****3321 186****8621");
    }

    #[test]
    fn masking_helpers_never_show_an_unrecognised_value() {
        assert_eq!(mask_phone("12345"), FULLY_MASKED);
        assert_eq!(mask_phone("010-12345678"), FULLY_MASKED);
        assert_eq!(mask_id(""), FULLY_MASKED);
        assert_eq!(mask_id("张三"), FULLY_MASKED);
        // A resident ID with a wrong check digit is no resident ID: it gets the loose
        // passport mask, which still hides all but two characters at each end.
        assert_eq!(mask_id("652928198201013322"), "65**************22");
        assert_eq!(mask_id("11010519491231002x"), "110105*****002X");
        assert!(!mask_id("E12345678").contains("345"));
    }

    #[test]
    fn masking_helpers_are_strict_about_missing_and_odd_arguments() {
        let renderer = load(&[
            ("sms/missing.hbs", "{{mask_phone applicant.phone}}"),
            ("sms/no_arg.hbs", "{{mask_id}}"),
            ("sms/object.hbs", "{{mask_id applicant}}"),
        ])
        .unwrap();
        let data = json!({"applicant": {"name": "张三"}});
        for name in ["missing", "no_arg", "object"] {
            let err = renderer.render(Channel::Sms, name, &data).unwrap_err();
            assert!(matches!(err, NotifyError::Render { .. }), "{name}: {err:?}");
        }
    }

    #[test]
    fn masked_values_are_escaped_in_html_like_any_other() {
        let renderer = load(&[
            ("email/t.hbs", "s\n\n{{mask_phone p}}"),
            ("email/t.html.hbs", "<b>{{mask_phone p}}</b>"),
        ])
        .unwrap();
        let out = renderer
            .render(Channel::Email, "t", &json!({"p": "18612348621"}))
            .unwrap();
        assert_eq!(out.body, "186****8621");
        assert_eq!(out.html.as_deref(), Some("<b>186****8621</b>"));
    }
}
