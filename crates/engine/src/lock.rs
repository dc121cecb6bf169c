//! `workflows/versions.lock`: the committed record of every definition version's content hash.
//!
//! A definition's content may only change together with its version, because running instances
//! stay on the version they started with (DECISIONS 4). The lock keeps one entry per
//! (name, version) ever released, with the SHA-256 of the canonical content; `check` fails when
//! a file's content no longer matches the hash recorded for its version, and `update` adds new
//! versions without ever rewriting an old one.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::load::DefinitionError;
use crate::raw::RawDefinition;

/// File name inside the workflows folder.
pub const LOCK_FILE: &str = "versions.lock";

/// The parsed lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionLock {
    entries: BTreeMap<(String, u32), String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFile {
    #[serde(default)]
    definition: Vec<LockEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockEntry {
    name: String,
    version: u32,
    sha256: String,
}

/// Why the lock could not be updated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// The file is not a lock file.
    #[error("versions.lock: {0}")]
    Parse(String),
    /// The same (name, version) is listed twice.
    #[error("versions.lock lists {0} version {1} twice")]
    Duplicate(String, u32),
}

impl VersionLock {
    /// Parses the lock file.
    pub fn parse(text: &str) -> Result<Self, LockError> {
        let file: LockFile =
            toml::from_str(text).map_err(|e| LockError::Parse(e.message().to_owned()))?;
        let mut entries = BTreeMap::new();
        for e in file.definition {
            if entries
                .insert((e.name.clone(), e.version), e.sha256)
                .is_some()
            {
                return Err(LockError::Duplicate(e.name, e.version));
            }
        }
        Ok(VersionLock { entries })
    }

    /// Renders the lock file, sorted by name then version.
    pub fn render(&self) -> String {
        let file = LockFile {
            definition: self
                .entries
                .iter()
                .map(|((name, version), sha256)| LockEntry {
                    name: name.clone(),
                    version: *version,
                    sha256: sha256.clone(),
                })
                .collect(),
        };
        let body = toml::to_string(&file).unwrap_or_default();
        format!(
            "# Written by `certdesk workflows lock`; checked by `certdesk workflows check`.\n\
             # One entry per released definition version. Never edit or remove an entry: change a\n\
             # definition by raising its `version`, then run `certdesk workflows lock`.\n\n{body}"
        )
    }

    /// The recorded hash of a version.
    pub fn get(&self, name: &str, version: u32) -> Option<&str> {
        self.entries
            .get(&(name.to_owned(), version))
            .map(String::as_str)
    }

    /// The newest recorded version of a definition.
    pub fn newest(&self, name: &str) -> Option<u32> {
        self.entries
            .keys()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .max()
    }

    /// Records a version; refuses to change an existing entry. Returns whether it was new.
    pub fn record(&mut self, name: &str, version: u32, sha256: &str) -> Result<bool, String> {
        match self.get(name, version) {
            Some(h) if h == sha256 => Ok(false),
            Some(_) => Err(format!(
                "{name} version {version} is already locked with other content: raise its version"
            )),
            None => {
                self.entries
                    .insert((name.to_owned(), version), sha256.to_owned());
                Ok(true)
            }
        }
    }

    /// Checks one definition against the lock.
    pub fn check(
        &self,
        file: &Path,
        raw: &RawDefinition,
        sha256: &str,
        errors: &mut Vec<DefinitionError>,
    ) {
        let mut err = |message: String| {
            errors.push(DefinitionError {
                file: file.to_owned(),
                path: "version".into(),
                line: None,
                message,
            });
        };
        match self.get(&raw.name, raw.version) {
            Some(h) if h == sha256 => {}
            Some(_) => err(format!(
                "content changed but version {} was kept: raise `version` (running instances stay on \
                 the old one), then run `certdesk workflows lock`",
                raw.version
            )),
            None => match self.newest(&raw.name) {
                Some(newest) if newest > raw.version => err(format!(
                    "version {} is older than version {newest} in versions.lock",
                    raw.version
                )),
                _ => err(format!(
                    "version {} is not in versions.lock: run `certdesk workflows lock`",
                    raw.version
                )),
            },
        }
    }
}
