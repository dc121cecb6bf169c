//! Every template in the repository's `templates/` renders with realistic data, in the shape its
//! channel needs; a template using a variable the data lacks fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on broken set-up"
)]

use std::path::{Path, PathBuf};

use certdesk_notify::{Channel, NotifyError, Renderer};
use serde_json::{Value, json};

fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates")
}

/// What the notification worker passes: every variable of `templates/README.md`.
fn sample() -> Value {
    json!({
        "brand": "网证通",
        "applicant": { "name": "张三" },
        "enterprise": { "name": "广州市天河区某某信息科技有限公司" },
        "request": {
            "no": "JR-20261123-0042",
            "url": "https://app.example.cn/requests/JR-20261123-0042",
        },
        "deadline": "2026年11月30日 17:00",
        "reason": "申请理由与企业信息不符",
        "comment": "请核实您的任职信息后重新提交。",
        "seal_use_until": "2027年11月22日",
    })
}

/// (channel, name, has an HTML alternative) of every file in `templates/`, found without the
/// renderer so a file it skipped would be noticed.
fn template_files() -> Vec<(Channel, String, bool)> {
    let mut found = Vec::new();
    for channel in Channel::ALL {
        let dir = templates_dir().join(channel.as_str());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let file = entry.unwrap().file_name().into_string().unwrap();
            let Some(stem) = file.strip_suffix(".hbs") else {
                continue;
            };
            if stem.ends_with(".html") {
                continue;
            }
            let html = dir.join(format!("{stem}.html.hbs")).exists();
            found.push((channel, stem.to_owned(), html));
        }
    }
    found.sort();
    found
}

#[test]
fn every_template_in_the_repository_renders() {
    let renderer = Renderer::load(&templates_dir()).unwrap();
    let files = template_files();
    assert!(files.len() >= 15, "templates/ looks empty: {files:?}");
    let loaded: usize = Channel::ALL
        .into_iter()
        .map(|c| renderer.names(c).count())
        .sum();
    assert_eq!(loaded, files.len(), "the renderer skipped a template");

    let data = sample();
    for (channel, name, has_html) in &files {
        let out = renderer
            .render(*channel, name, &data)
            .unwrap_or_else(|e| panic!("{channel}/{name}: {e}"));
        let mut texts = vec![out.body.as_str()];
        texts.extend(out.subject.as_deref());
        texts.extend(out.html.as_deref());
        for text in texts {
            assert!(
                !text.contains("{{") && !text.contains("}}"),
                "{channel}/{name}: {text}"
            );
        }
        match channel {
            Channel::Sms => {
                assert!(out.body.starts_with("【网证通】"), "{name}: {}", out.body);
                assert!(!out.body.contains('\n'), "{name}: {}", out.body);
                assert_eq!(out.subject, None);
            }
            Channel::Email => {
                assert!(out.subject.as_deref().unwrap().contains("网证通"), "{name}");
                assert!(out.body.contains("张三"), "{name}: {}", out.body);
            }
            Channel::InApp => {
                let title = out.subject.as_deref().unwrap();
                assert!(!title.is_empty() && !title.contains('\n'), "{name}");
            }
        }
        assert_eq!(out.html.is_some(), *has_html, "{channel}/{name}");
    }
}

#[test]
fn the_joined_email_reads_as_written() {
    let renderer = Renderer::load(&templates_dir()).unwrap();
    let out = renderer
        .render(Channel::Email, "join_request_joined", &sample())
        .unwrap();
    assert_eq!(
        out.subject.as_deref(),
        Some("【网证通】您已成功加入广州市天河区某某信息科技有限公司")
    );
    assert_eq!(
        out.body,
        "张三，您好：\n\n\
         您加入广州市天河区某某信息科技有限公司的申请（申请号 JR-20261123-0042）已完成，现在您是该企业的成员。\n\
         您获得的用章权限有效期至 2027年11月22日。\n\
         您可以在 App「我的企业」中查看成员权限。\n\n\
         此邮件由系统自动发送，请勿直接回复。"
    );
    let html = out.html.unwrap();
    assert!(html.contains("<strong>广州市天河区某某信息科技有限公司</strong>"));
    assert!(html.contains("有效期至 2027年11月22日"));
}

#[test]
fn optional_values_may_be_absent() {
    let renderer = Renderer::load(&templates_dir()).unwrap();
    let mut data = sample();
    let object = data.as_object_mut().unwrap();
    object.remove("comment");
    object.remove("seal_use_until");
    let out = renderer
        .render(Channel::InApp, "join_request_rejected", &data)
        .unwrap();
    assert!(!out.body.contains("说明"), "{}", out.body);
    let out = renderer
        .render(Channel::Email, "join_request_joined", &data)
        .unwrap();
    assert!(!out.body.contains("用章权限"), "{}", out.body);
}

#[test]
fn a_variable_missing_from_the_data_is_an_error() {
    // A repository template whose variable is not supplied.
    let renderer = Renderer::load(&templates_dir()).unwrap();
    let mut data = sample();
    data.as_object_mut().unwrap().remove("reason");
    let err = renderer
        .render(Channel::Sms, "join_request_rejected", &data)
        .unwrap_err();
    assert!(matches!(err, NotifyError::Render { .. }), "{err:?}");
    assert!(err.to_string().contains("reason"), "{err}");

    // A template that uses a variable nobody supplies.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("email")).unwrap();
    std::fs::write(
        dir.path().join("email/typo.hbs"),
        "【{{brand}}】{{enterprise.name}}\n\n{{applicant.nmae}}，您好：\n",
    )
    .unwrap();
    let renderer = Renderer::load(dir.path()).unwrap();
    let err = renderer
        .render(Channel::Email, "typo", &sample())
        .unwrap_err();
    assert!(matches!(err, NotifyError::Render { .. }), "{err:?}");
    assert!(err.to_string().contains("applicant.nmae"), "{err}");
}
