//! A real SMTP server for the e-mail tests: aiosmtpd, run from the repository's `.venv`.
//!
//! [`SmtpServer::start`] makes sure `.venv` exists (running `scripts/python-venv`, which is
//! quick when it is already there), then runs
//! `.venv/bin/python -m aiosmtpd -n -l 127.0.0.1:<free port> -c smtp_handler.TestMailbox <maildir>`
//! with this directory on `PYTHONPATH`. `smtp_handler.TestMailbox` is aiosmtpd's `Mailbox`
//! handler (every accepted message is written to a maildir) plus two recipients that are
//! refused like on real servers (`nobody@…` 550, `greylisted@…` 451). aiosmtpd writes the
//! message before it answers `250` to the end of DATA, so once a send returned `Ok` the
//! message is in [`SmtpServer::messages`]. The process is killed when the server is dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::free_port;
use mail_parser::{MessageParser, MimeHeaders};

/// How long the server may take to accept connections (the first run also builds `.venv`).
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A running aiosmtpd with its own maildir.
pub struct SmtpServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

/// The parts of a received message the tests look at.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The `Message-ID` header as written, angle brackets included.
    pub message_id: String,
    /// The decoded subject.
    pub subject: String,
    /// The address of `From`.
    pub from: String,
    /// The display name of `From`, if any.
    pub from_name: Option<String>,
    /// The address of `To`.
    pub to: String,
    /// The envelope recipient (aiosmtpd's `X-RcptTo`).
    pub rcpt_to: String,
    /// The `Date` header as a Unix timestamp.
    pub date: i64,
    /// The top-level MIME type, e.g. `text/plain` or `multipart/alternative`.
    pub content_type: String,
    /// The decoded text body with CRLF line ends turned into LF.
    pub text: String,
    /// The decoded HTML part, when the message has one.
    pub html: Option<String>,
}

impl SmtpServer {
    /// Starts a server on a free loopback port and waits until it accepts connections.
    pub async fn start() -> SmtpServer {
        let python = venv().join("bin").join("python");
        let mut last_log = String::new();
        // A free port can be taken by someone else between our probe and aiosmtpd's bind:
        // then aiosmtpd exits, and another port is tried.
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = free_port();
            let log_path = dir.path().join("aiosmtpd.log");
            let log = File::create(&log_path).expect("create the server log");
            let child = Command::new(&python)
                .args(["-m", "aiosmtpd", "-n", "-l"])
                .arg(format!("127.0.0.1:{port}"))
                .args(["-c", "smtp_handler.TestMailbox"])
                .arg(dir.path().join("maildir"))
                .env("PYTHONPATH", support_dir())
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone the log handle"))
                .stderr(log)
                .spawn()
                .expect("run aiosmtpd from .venv");
            let mut server = SmtpServer {
                child: Some(child),
                port,
                dir,
            };
            if server.wait_until_ready().await {
                return server;
            }
            server.stop();
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
        }
        panic!("aiosmtpd did not start; its last log:\n{last_log}");
    }

    /// Polls until the port accepts connections; false if the process exited first.
    async fn wait_until_ready(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + START_DEADLINE;
        loop {
            if let Some(child) = self.child.as_mut()
                && child.try_wait().expect("poll aiosmtpd").is_some()
            {
                return false;
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return true;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "aiosmtpd did not accept connections within {START_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The URL to configure `SmtpSender` with.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, in no particular order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let maildir = self.dir.path().join("maildir");
        let mut files = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else {
                continue;
            };
            files.extend(entries.map(|e| e.expect("maildir entry").path()));
        }
        files.sort();
        files.iter().map(|path| parse(path)).collect()
    }

    /// Kills the server; the port then refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn support_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The venv with aiosmtpd, built by `scripts/python-venv` when missing or outdated.
fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let script = repo_root().join("scripts/python-venv");
        let output = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/python-venv");
        assert!(
            output.status.success(),
            "scripts/python-venv failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let path = String::from_utf8(output.stdout).expect("venv path is UTF-8");
        PathBuf::from(path.trim())
    })
}

fn parse(path: &Path) -> ReceivedMail {
    let raw = std::fs::read(path).expect("read a maildir message");
    let message = MessageParser::default()
        .parse(&raw)
        .unwrap_or_else(|| panic!("unparsable message {}", path.display()));
    let header = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let from = message.from().and_then(|a| a.first());
    let content_type = message
        .content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{sub}", ct.ctype()),
            None => ct.ctype().to_owned(),
        })
        .unwrap_or_default();
    ReceivedMail {
        message_id: header("Message-ID"),
        subject: message.subject().unwrap_or_default().to_owned(),
        from: from
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_owned(),
        from_name: from.and_then(|a| a.name()).map(str::to_owned),
        to: message
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_owned(),
        rcpt_to: header("X-RcptTo"),
        date: message.date().map(|d| d.to_timestamp()).unwrap_or_default(),
        content_type,
        text: message
            .body_text(0)
            .map(|t| t.replace("\r\n", "\n"))
            .unwrap_or_default(),
        html: message
            .html_part(0)
            .filter(|p| p.is_text_html())
            .and_then(|p| p.text_contents())
            .map(|t| t.replace("\r\n", "\n")),
    }
}
