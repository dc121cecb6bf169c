//! A private `redis-server` per test, a lock that serialises such tests across test binaries,
//! and polling with a deadline.
//!
//! Every test that talks to Redis starts its own server on a free loopback port, in a temporary
//! directory, and never touches the shared Redis on 6379 (DECISIONS 9). The tests of a binary
//! take a cross-process file lock first ([`serial`]), so they run one at a time under both
//! `cargo test` (threads) and `cargo nextest` (one process per test).

use std::fs::File;
use std::future::Future;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use crate::free_port;
use tokio::time::Instant;

/// How long a fresh `redis-server` may take to answer PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopping `redis-server` may take to exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Holds the cross-process lock of the Redis tests; released on drop.
#[derive(Debug)]
pub struct SerialGuard {
    _file: File,
}

/// Waits for, then takes, the lock that makes the Redis tests of this crate run one at a time.
pub async fn serial() -> SerialGuard {
    let path = std::env::temp_dir().join("certdesk-redis-tests.lock");
    let file = tokio::task::spawn_blocking(move || {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("cannot open lock file {}: {e}", path.display()));
        file.lock()
            .unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
        file
    })
    .await
    .expect("lock task panicked");
    SerialGuard { _file: file }
}

/// Polls `check` every 20 ms until it returns true; panics with `what` after `within`.
/// Returns how long it took.
pub async fn wait_until<F, Fut>(what: &str, within: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let began = Instant::now();
    loop {
        if check().await {
            return began.elapsed();
        }
        assert!(
            began.elapsed() < within,
            "timed out after {within:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `redis-server` process of this test alone.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    aof: bool,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server without persistence (`--save "" --appendonly no`): a restart loses
    /// everything, like a crashed cache.
    pub async fn start() -> Self {
        Self::launch(false).await
    }

    /// Starts a server with an append-only file (`appendfsync always`): a restart keeps every
    /// acknowledged write, like a production Redis.
    pub async fn start_with_aof() -> Self {
        Self::launch(true).await
    }

    async fn launch(aof: bool) -> Self {
        assert!(
            Command::new("redis-server")
                .arg("--version")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
            "redis-server is not installed: the apalis-redis tests need it \
             (Debian: apt-get install redis-server)"
        );
        // A port from the kernel can be taken again before redis binds it: try a few.
        for _ in 0..5 {
            let mut server = Self {
                port: free_port(),
                dir: tempfile::tempdir().expect("temp dir"),
                aof,
                child: None,
            };
            server.spawn();
            if server.wait_ready().await {
                return server;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    fn spawn(&mut self) {
        let dir: &Path = self.dir.path();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--daemonize", "no"])
            .args(["--protected-mode", "yes"])
            .args(["--maxmemory", "256mb"])
            .args(["--maxmemory-policy", "noeviction"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.aof {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        self.child = Some(cmd.spawn().expect("spawn redis-server"));
    }

    /// Polls PING until it answers (true) or the process exits / the deadline passes (false).
    async fn wait_ready(&mut self) -> bool {
        let began = Instant::now();
        while began.elapsed() < START_TIMEOUT {
            if let Some(child) = self.child.as_mut()
                && child.try_wait().ok().flatten().is_some()
            {
                return false;
            }
            if let Ok(mut conn) = self.try_connection().await {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut conn).await;
                if pong.is_ok_and(|p| p == "PONG") {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    async fn try_connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        let client = redis::Client::open(self.url())?;
        tokio::time::timeout(
            Duration::from_secs(1),
            client.get_multiplexed_async_connection(),
        )
        .await
        .map_err(|_| {
            redis::RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timed out",
            ))
        })?
    }

    /// `redis://127.0.0.1:{port}/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// A fresh connection for assertions, separate from the ones apalis uses.
    pub async fn connection(&self) -> MultiplexedConnection {
        self.try_connection()
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.url()))
    }

    /// Stops the server with `SHUTDOWN NOSAVE` (with AOF on, the file is still flushed), killing
    /// it if it has not exited within 10 s.
    pub async fn stop(&mut self) {
        if let Ok(mut conn) = self.try_connection().await {
            // The server closes the connection instead of answering: ignore the result.
            let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN")
                .arg("NOSAVE")
                .query_async(&mut conn)
                .await;
        }
        let began = Instant::now();
        while let Some(child) = self.child.as_mut() {
            if child.try_wait().ok().flatten().is_some() {
                self.child = None;
                return;
            }
            if began.elapsed() > STOP_TIMEOUT {
                self.kill();
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server and starts it again on the same port and directory.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn();
        assert!(
            self.wait_ready().await,
            "redis-server did not come back on port {}",
            self.port
        );
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
