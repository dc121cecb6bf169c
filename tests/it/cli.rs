//! The `certdesk workflows` commands, run as a user runs them.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::root;

fn certdesk(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_certdesk"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A throw-away copy of `workflows/` and `templates/`.
fn copy_repo() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for dir in ["workflows", "templates"] {
        copy_dir(&root().join(dir), &tmp.path().join(dir));
    }
    tmp
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn check_passes_on_the_product_definitions() {
    let out = certdesk(&["workflows", "check", "workflows"], &root());
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ok  join_request v2"), "{stdout}");
}

/// Every product definition, broken in several ways, fails naming its file and the path.
#[test]
fn a_broken_copy_of_any_definition_fails_naming_file_and_path() {
    let definitions: Vec<_> = certdesk_engine::load::read_dir(&root().join("workflows")).unwrap();
    assert!(!definitions.is_empty());
    for source in definitions {
        let file_name = source
            .path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let table: toml::Table = toml::from_str(&source.text).unwrap();
        let states = table["states"].as_table().unwrap();
        let first = states.keys().next().unwrap().clone();
        let last = states.keys().next_back().unwrap().clone();
        let terminal = states
            .iter()
            .find(|(_, s)| s["kind"].as_str() == Some("terminal"))
            .unwrap()
            .0
            .clone();

        type Mutation = Box<dyn Fn(&mut toml::Table)>;
        let cases: Vec<(Mutation, String, String)> = vec![
            (
                Box::new({
                    let first = first.clone();
                    move |t| {
                        t["states"][&first]["kind"] = toml::Value::from("bogus");
                    }
                }),
                format!("states.{first}.kind"),
                "unknown state kind `bogus`".into(),
            ),
            (
                Box::new({
                    let last = last.clone();
                    move |t| {
                        t["states"][&last]
                            .as_table_mut()
                            .unwrap()
                            .insert("colour".into(), toml::Value::from("red"));
                    }
                }),
                format!("states.{last}.colour"),
                "unknown field `colour`".into(),
            ),
            (
                Box::new({
                    let terminal = terminal.clone();
                    move |t| {
                        t["states"].as_table_mut().unwrap().remove(&terminal);
                    }
                }),
                String::new(), // several places point at it; checked below
                format!("unknown state `{terminal}`"),
            ),
            (
                Box::new(|t| {
                    t.insert("title".into(), toml::Value::from("改过的标题"));
                }),
                "version".into(),
                "content changed but version".into(),
            ),
        ];
        for (mutate, path, needle) in cases {
            let tmp = copy_repo();
            let mut broken = table.clone();
            mutate(&mut broken);
            std::fs::write(
                tmp.path().join("workflows").join(&file_name),
                toml::to_string(&broken).unwrap(),
            )
            .unwrap();
            let out = certdesk(&["workflows", "check", "workflows"], tmp.path());
            let err = stderr(&out);
            assert!(
                !out.status.success(),
                "{file_name}: broken copy passed ({needle})"
            );
            let line = err
                .lines()
                .find(|l| l.contains(&needle))
                .unwrap_or_else(|| panic!("no `{needle}` in:\n{err}"));
            assert!(
                line.contains(&format!("workflows/{file_name}")),
                "file not named: {line}"
            );
            if path.is_empty() {
                assert!(line.contains(": states."), "path not named: {line}");
            } else {
                assert!(
                    line.contains(&format!(": {path}: ")),
                    "path `{path}` not named: {line}"
                );
            }
        }
    }
}

#[test]
fn show_draws_mermaid_and_svg_and_refuses_unknown_names() {
    let out = certdesk(&["workflows", "show", "join_request"], &root());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\nflowchart TD\n"));
    let out = certdesk(
        &[
            "workflows",
            "show",
            "join_request",
            "--format",
            "svg",
            "--current",
            "awaiting_payment",
        ],
        &root(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("</svg>"));
    let out = certdesk(&["workflows", "show", "no_such_chain"], &root());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no definition named `no_such_chain`"));
    let out = certdesk(
        &["workflows", "show", "join_request", "--current", "nowhere"],
        &root(),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("has no state `nowhere`"));
}

#[test]
fn lock_records_a_new_version_and_refuses_to_rewrite_an_old_one() {
    let tmp = copy_repo();
    let path = tmp.path().join("workflows/join_request.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    // Same version, new content: lock refuses, check fails.
    std::fs::write(
        &path,
        text.replace("title = \"加入企业申请\"", "title = \"加入企业\""),
    )
    .unwrap();
    let out = certdesk(&["workflows", "lock", "workflows"], tmp.path());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already locked with other content"),
        "{}",
        stderr(&out)
    );
    // Raise the version: lock records it, keeps the earlier ones, and check passes.
    let bumped = text
        .replace("title = \"加入企业申请\"", "title = \"加入企业\"")
        .replace("version = 2", "version = 3");
    std::fs::write(&path, bumped).unwrap();
    let out = certdesk(&["workflows", "lock", "workflows"], tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let lock = std::fs::read_to_string(tmp.path().join("workflows/versions.lock")).unwrap();
    assert!(
        lock.contains("version = 2") && lock.contains("version = 3"),
        "{lock}"
    );
    let out = certdesk(&["workflows", "check", "workflows"], tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
}
