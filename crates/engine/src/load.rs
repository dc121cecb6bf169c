//! Loading definition files into a [`Registry`], or into the list of everything wrong.
//!
//! Loading never stops at the first problem: every file is parsed, every definition checked,
//! and every error names its file, the path inside it (`states.cs_review.outcomes.reject`) and
//! what is wrong. The core, [`load_sources`], takes file contents and does no I/O; [`load_dir`]
//! reads a folder for the CLI and the server.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use certdesk_domain::calendar::BusinessCalendar;
use indexmap::IndexMap;

use crate::catalog::Catalog;
use crate::def::{Definition, Kind};
use crate::lock::VersionLock;
use crate::raw::RawDefinition;
use crate::validate;

/// One problem in one definition file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionError {
    /// The file.
    pub file: PathBuf,
    /// Where inside it, dotted (`states.cs_review.outcomes.reject`); empty for the whole file.
    pub path: String,
    /// Line number, when known (syntax errors).
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for DefinitionError {}

/// A definition file's path and text.
#[derive(Debug, Clone)]
pub struct Source {
    /// Where it came from (shown in errors).
    pub path: PathBuf,
    /// Its content.
    pub text: String,
}

/// The notification templates that exist, per channel.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    names: HashSet<(String, String)>,
}

impl Templates {
    /// Builds the set from `(channel, name)` pairs.
    pub fn from_pairs<I, C, N>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (C, N)>,
        C: Into<String>,
        N: Into<String>,
    {
        Templates {
            names: pairs
                .into_iter()
                .map(|(c, n)| (c.into(), n.into()))
                .collect(),
        }
    }

    /// Scans `dir/<channel>/<name>.hbs` (an e-mail's `<name>.html.hbs` is its HTML part).
    pub fn scan(dir: &Path) -> std::io::Result<Self> {
        let mut names = HashSet::new();
        for channel in std::fs::read_dir(dir)? {
            let channel = channel?;
            if !channel.file_type()?.is_dir() {
                continue;
            }
            let channel_name = channel.file_name().to_string_lossy().into_owned();
            for file in std::fs::read_dir(channel.path())? {
                let file_name = file?.file_name().to_string_lossy().into_owned();
                if let Some(stem) = file_name.strip_suffix(".hbs")
                    && !stem.ends_with(".html")
                {
                    names.insert((channel_name.clone(), stem.to_owned()));
                }
            }
        }
        Ok(Templates { names })
    }

    /// Whether the template exists for the channel.
    pub fn has(&self, channel: &str, name: &str) -> bool {
        self.names.contains(&(channel.to_owned(), name.to_owned()))
    }
}

/// What definitions are checked against.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Names of guards, actions, events, groups and relations.
    pub catalog: Catalog,
    /// Notification templates.
    pub templates: Templates,
    /// Business-hours calendar given to every definition.
    pub calendar: Arc<BusinessCalendar>,
    /// The committed `versions.lock`, if checked.
    pub lock: Option<VersionLock>,
}

/// Validated definitions by name.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    defs: IndexMap<String, Arc<Definition>>,
}

impl Registry {
    /// The definition with this name.
    pub fn get(&self, name: &str) -> Option<&Arc<Definition>> {
        self.defs.get(name)
    }

    /// All definitions, in file-name order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Definition>> {
        self.defs.values()
    }

    /// How many definitions.
    pub fn len(&self) -> usize {
        self.defs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }
}

/// File names in a workflows folder that are not definitions.
pub const RESERVED_FILES: [&str; 1] = ["holidays.toml"];

/// Reads every `*.toml` definition in `dir` (not `holidays.toml`), sorted by file name.
pub fn read_dir(dir: &Path) -> std::io::Result<Vec<Source>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_toml = path.extension().is_some_and(|e| e == "toml");
        let reserved = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| RESERVED_FILES.contains(&n));
        if is_toml && !reserved && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|path| std::fs::read_to_string(&path).map(|text| Source { path, text }))
        .collect()
}

/// Parses and validates definitions; returns all of them or every error found.
pub fn load_sources(
    sources: &[Source],
    env: &Environment,
) -> Result<Registry, Vec<DefinitionError>> {
    let mut errors = Vec::new();
    let mut raws: Vec<(&Source, RawDefinition)> = Vec::with_capacity(sources.len());
    for source in sources {
        match parse(source) {
            Ok(raw) => raws.push((source, raw)),
            Err(e) => errors.push(e),
        }
    }

    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    for (source, raw) in &raws {
        if let Some(first) = seen.insert(&raw.name, &source.path) {
            errors.push(DefinitionError {
                file: source.path.clone(),
                path: "name".into(),
                line: None,
                message: format!(
                    "definition `{}` is also defined in {}",
                    raw.name,
                    first.display()
                ),
            });
        }
    }

    let mut compiled = Vec::with_capacity(raws.len());
    for (source, raw) in &raws {
        let mut errs = Vec::new();
        let def = validate::compile(&source.path, raw, env, &mut errs);
        if let Some(lock) = &env.lock {
            lock.check(
                &source.path,
                raw,
                &validate::canonical_sha256(raw),
                &mut errs,
            );
        }
        errors.append(&mut errs);
        if let Some(def) = def {
            compiled.push(def);
        }
    }

    check_subflows(&compiled, &raws, &mut errors);

    if errors.is_empty() {
        let defs = compiled
            .into_iter()
            .map(|d| (d.name.clone(), Arc::new(d)))
            .collect();
        Ok(Registry { defs })
    } else {
        Err(errors)
    }
}

/// Reads and validates a workflows folder: definitions, `holidays.toml` and `versions.lock`
/// from `dir`, templates from `templates`.
pub fn load_dir(
    dir: &Path,
    templates: &Path,
    catalog: Catalog,
) -> Result<Registry, Vec<DefinitionError>> {
    let io_error = |file: &Path, e: &dyn fmt::Display| {
        vec![DefinitionError {
            file: file.to_owned(),
            path: String::new(),
            line: None,
            message: e.to_string(),
        }]
    };
    let sources = read_dir(dir).map_err(|e| io_error(dir, &e))?;
    let templates = Templates::scan(templates).map_err(|e| io_error(templates, &e))?;
    let holidays = dir.join("holidays.toml");
    let calendar = std::fs::read_to_string(&holidays)
        .map_err(|e| io_error(&holidays, &e))
        .and_then(|t| BusinessCalendar::from_toml_str(&t).map_err(|e| io_error(&holidays, &e)))?;
    let lock_path = dir.join(crate::lock::LOCK_FILE);
    let lock = match std::fs::read_to_string(&lock_path) {
        Ok(text) => VersionLock::parse(&text).map_err(|e| io_error(&lock_path, &e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => VersionLock::default(),
        Err(e) => return Err(io_error(&lock_path, &e)),
    };
    let env = Environment {
        catalog,
        templates,
        calendar: Arc::new(calendar),
        lock: Some(lock),
    };
    load_sources(&sources, &env)
}

/// Parses one file; syntax and shape errors carry the line and the nearest path.
pub fn parse(source: &Source) -> Result<RawDefinition, DefinitionError> {
    let error = |path: String, span: Option<std::ops::Range<usize>>, message: &str| {
        let line = span.as_ref().map(|s| line_of(&source.text, s.start));
        let path = if path.is_empty() || path == "." {
            span.map(|s| path_at(&source.text, s.start))
                .unwrap_or_default()
        } else {
            path
        };
        DefinitionError {
            file: source.path.clone(),
            path,
            line,
            message: message.to_owned(),
        }
    };
    let de = toml::de::Deserializer::parse(&source.text).map_err(|e| {
        error(
            String::new(),
            e.span(),
            &format!("TOML syntax: {}", e.message().trim()),
        )
    })?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let mut path = e.path().to_string();
        let inner = e.into_inner();
        // serde names the table that holds an unknown key; point at the key itself.
        if let Some(key) = inner
            .message()
            .strip_prefix("unknown field `")
            .and_then(|r| r.split('`').next())
        {
            if path.is_empty() || path == "." {
                path = key.to_owned();
            } else if !path.ends_with(&format!(".{key}")) {
                // A flattened struct (an outcome's transition) loses the key; add it back.
                path = format!("{path}.{key}");
            }
        }
        error(path, inner.span(), inner.message().trim())
    })
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |t| t.bytes().filter(|b| *b == b'\n').count() + 1)
}

/// The dotted path of the table header above `offset`, plus the key on that line if any:
/// good enough to point at a syntax error (`states.review.kind`).
fn path_at(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    let header = |l: &str| -> Option<String> {
        let l = l.trim();
        let inner = l
            .strip_prefix("[[")
            .and_then(|r| r.split("]]").next())
            .or_else(|| l.strip_prefix('[').and_then(|r| r.split(']').next()))?;
        Some(
            inner
                .split('.')
                .map(|p| p.trim().trim_matches('"'))
                .collect::<Vec<_>>()
                .join("."),
        )
    };
    if let Some(h) = header(line) {
        return h;
    }
    let table = before[..line_start]
        .lines()
        .rev()
        .find_map(header)
        .unwrap_or_default();
    let key = line
        .split('=')
        .next()
        .map(str::trim)
        .filter(|k| !k.is_empty() && !line.starts_with('#'));
    match (table.is_empty(), key) {
        (true, Some(k)) => k.to_owned(),
        (false, Some(k)) => format!("{table}.{k}"),
        (_, None) => table,
    }
}

/// Sub-workflows: the child exists, every child ending is handled, no definition runs itself.
fn check_subflows(
    compiled: &[Definition],
    raws: &[(&Source, RawDefinition)],
    errors: &mut Vec<DefinitionError>,
) {
    let by_name: BTreeMap<&str, &Definition> =
        compiled.iter().map(|d| (d.name.as_str(), d)).collect();
    let known: HashSet<&str> = raws.iter().map(|(_, r)| r.name.as_str()).collect();
    for def in compiled {
        for state in &def.states {
            let Kind::Subflow(sub) = &state.kind else {
                continue;
            };
            let path = format!("states.{}", state.name);
            let mut err = |path: String, message: String| {
                errors.push(DefinitionError {
                    file: def.source.clone(),
                    path,
                    line: None,
                    message,
                });
            };
            let Some(child) = by_name.get(sub.workflow.as_str()) else {
                if !known.contains(sub.workflow.as_str()) {
                    err(
                        format!("{path}.workflow"),
                        format!("no definition named `{}`", sub.workflow),
                    );
                }
                continue;
            };
            let endings: Vec<&str> = child.terminals().collect();
            for (result, _) in &sub.finished {
                if !endings.contains(&result.as_str()) {
                    err(
                        format!("{path}.finished.{result}"),
                        format!(
                            "`{}` has no terminal state `{result}` (it has: {})",
                            child.name,
                            endings.join(", ")
                        ),
                    );
                }
            }
            for ending in &endings {
                if !sub.finished.iter().any(|(r, _)| r == ending) {
                    err(
                        format!("{path}.finished"),
                        format!(
                            "`{}` can end in `{ending}`, which has no transition here",
                            child.name
                        ),
                    );
                }
            }
            for field in &child.form.fields {
                if field.required && !sub.input.iter().any(|(n, _)| *n == field.name) {
                    err(
                        format!("{path}.input"),
                        format!("`{}` requires field `{}`", child.name, field.name),
                    );
                }
            }
            for (name, _) in &sub.input {
                if child.form.field(name).is_none() {
                    err(
                        format!("{path}.input.{name}"),
                        format!("`{}` has no form field `{name}`", child.name),
                    );
                }
            }
        }
    }
    // A definition that (transitively) runs itself would never end.
    for def in compiled {
        let mut stack = vec![def.name.as_str()];
        let mut seen = HashSet::new();
        while let Some(name) = stack.pop() {
            let Some(d) = by_name.get(name) else { continue };
            for state in &d.states {
                if let Kind::Subflow(sub) = &state.kind {
                    if sub.workflow == def.name {
                        errors.push(DefinitionError {
                            file: def.source.clone(),
                            path: String::new(),
                            line: None,
                            message: format!("runs itself through sub-workflows (via `{name}`)"),
                        });
                        stack.clear();
                        break;
                    }
                    if seen.insert(sub.workflow.as_str()) {
                        stack.push(sub.workflow.as_str());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_at_names_the_header_and_key_of_a_line() {
        let text = "name = \"x\"\n[states.review]\nkind = task\n";
        let offset = text.find("task").unwrap();
        assert_eq!(path_at(text, offset), "states.review.kind");
        assert_eq!(line_of(text, offset), 3);
        let header = text.find("[states").unwrap();
        assert_eq!(path_at(text, header + 3), "states.review");
    }
}
