//! `SmtpSender` against a real SMTP server (aiosmtpd, from `certdesk-testkit`): what arrives, and how
//! failures are classified.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on broken set-up"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use certdesk_domain::clock::{Clock, ManualClock};
use certdesk_notify::{
    Channel, EmailSender, OutgoingEmail, Renderer, SendError, SmtpConfig, SmtpSender,
};
use certdesk_testkit::SmtpServer;
use chrono::{TimeZone, Utc};
use serde_json::json;
use uuid::Uuid;

const FROM: &str = "网证通证书服务 <noreply@ca.example.cn>";

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 2, 30, 0).unwrap(),
    ))
}

fn sender(url: &str, clock: Arc<ManualClock>) -> Arc<dyn EmailSender> {
    Arc::new(SmtpSender::new(&SmtpConfig::new(url, FROM), clock).unwrap())
}

fn email(to: &str, subject: &str, text: &str) -> OutgoingEmail {
    OutgoingEmail {
        notification_id: Uuid::now_v7(),
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: text.to_owned(),
        html: None,
    }
}

/// The third e-mail comes from the repository's own template, with its HTML alternative.
fn rendered_join_email() -> OutgoingEmail {
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
    let renderer = Renderer::load(&templates).unwrap();
    let data = json!({
        "brand": "网证通",
        "applicant": {"name": "王小明"},
        "enterprise": {"name": "广州市天河区某某信息科技有限公司"},
        "request": {"no": "JR-20261123-0042"},
        "seal_use_until": "2027-11-22",
    });
    let rendered = renderer
        .render(Channel::Email, "join_request_joined", &data)
        .unwrap();
    OutgoingEmail {
        notification_id: Uuid::now_v7(),
        to: "王小明 <wangxm@example.cn>".to_owned(),
        subject: rendered.subject.unwrap(),
        text: rendered.body,
        html: rendered.html,
    }
}

#[tokio::test]
async fn three_emails_arrive_once_with_their_message_id_subject_and_body() {
    let server = SmtpServer::start().await;
    let clock = clock();
    let sender = sender(&server.url(), Arc::clone(&clock));
    // A long line of Chinese forces a soft-wrapped transfer encoding; the second e-mail has
    // paragraphs and ASCII mixed in.
    let long_line = "您的数字证书申请已通过审核，请在七日内登录手机应用完成证书下载与安装，逾期未领取的证书将自动作废。".repeat(3);
    let emails = [
        email(
            "zhangsan@example.cn",
            "【网证通】证书申请已通过",
            &long_line,
        ),
        email(
            "张三 <zhangsan@example.cn>",
            "【网证通】退费申请（申请号 RF-0007）已受理 & 处理中",
            "张三，您好：\n\n您的退费申请已受理，金额 ¥1,000.00。\n\n此邮件由系统自动发送，请勿直接回复。",
        ),
        rendered_join_email(),
    ];
    assert!(emails[2].html.is_some());
    for email in &emails {
        sender.send(email).await.unwrap();
    }

    let received = server.messages();
    assert_eq!(received.len(), 3, "{received:#?}");
    for sent in &emails {
        let copies: Vec<_> = received
            .iter()
            .filter(|m| m.message_id == format!("<{}@certdesk>", sent.notification_id))
            .collect();
        assert_eq!(copies.len(), 1, "{}: {received:#?}", sent.notification_id);
        let got = copies[0];
        assert_eq!(got.subject, sent.subject);
        assert_eq!(got.text.trim_end(), sent.text);
        assert_eq!(
            got.html.as_deref().map(str::trim_end),
            sent.html.as_deref().map(str::trim_end)
        );
        assert_eq!(got.from, "noreply@ca.example.cn");
        assert_eq!(got.from_name.as_deref(), Some("网证通证书服务"));
        assert_eq!(got.date, clock.now().timestamp());
        let expected_type = if sent.html.is_some() {
            "multipart/alternative"
        } else {
            "text/plain"
        };
        assert_eq!(got.content_type, expected_type);
    }
    let by_subject = |s: &str| received.iter().find(|m| m.subject == s).unwrap();
    assert_eq!(by_subject(&emails[1].subject).to, "zhangsan@example.cn");
    assert_eq!(by_subject(&emails[2].subject).to, "wangxm@example.cn");
    assert_eq!(by_subject(&emails[2].subject).rcpt_to, "wangxm@example.cn");
    assert!(
        by_subject(&emails[2].subject)
            .html
            .as_deref()
            .unwrap()
            .contains("<strong>广州市天河区某某信息科技有限公司</strong>")
    );
}

#[tokio::test]
async fn a_resent_notification_carries_the_same_message_id() {
    let server = SmtpServer::start().await;
    let sender = sender(&server.url(), clock());
    let mail = email("lisi@example.cn", "【网证通】提醒", "请尽快处理。");
    sender.send(&mail).await.unwrap();
    sender.send(&mail).await.unwrap();
    let received = server.messages();
    assert_eq!(received.len(), 2);
    assert!(
        received
            .iter()
            .all(|m| m.message_id == mail.message_id() && m.subject == "【网证通】提醒")
    );
}

#[tokio::test]
async fn a_stopped_server_is_a_transient_failure() {
    let mut server = SmtpServer::start().await;
    let sender = sender(&server.url(), clock());
    server.stop();
    let err = sender
        .send(&email("zhangsan@example.cn", "主题", "正文"))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Transient(_)), "{err:?}");
    assert!(err.message().contains("refused"), "{err}");
}

#[tokio::test]
async fn a_refused_recipient_is_permanent_and_a_greylisted_one_transient() {
    let server = SmtpServer::start().await;
    let sender = sender(&server.url(), clock());
    let err = sender
        .send(&email("nobody@example.cn", "主题", "正文"))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Permanent(_)), "{err:?}");
    assert!(err.message().contains("550"), "{err}");
    let err = sender
        .send(&email("greylisted@example.cn", "主题", "正文"))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Transient(_)), "{err:?}");
    assert!(err.message().contains("451"), "{err}");
    assert!(server.messages().is_empty());
    // The server is still fine for everyone else.
    sender
        .send(&email("zhangsan@example.cn", "主题", "正文"))
        .await
        .unwrap();
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_as_transient() {
    // Accepts the connection and then says nothing, not even the greeting.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let (_socket, _) = listener.accept().await.unwrap();
        std::future::pending::<()>().await;
    });
    let mut config = SmtpConfig::new(format!("smtp://127.0.0.1:{port}"), FROM);
    config.timeout = Duration::from_millis(500);
    let sender = SmtpSender::new(&config, clock()).unwrap();
    let started = Instant::now();
    let err = sender
        .send(&email("zhangsan@example.cn", "主题", "正文"))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Transient(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    silent.abort();
}
