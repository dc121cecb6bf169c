//! A restart loop around a worker's run future.
//!
//! apalis-redis 1.0.0 ends `Worker::run()` with `Err` on any backend error: a Redis restart or
//! a dropped connection (at the worker's next command), a Lua error (the unpack limit of
//! DEPENDENCIES G1), a heartbeat that finds the worker unregistered. The `ConnectionManager`
//! underneath reconnects, but the worker is not resumed. [`supervise`] runs the worker again
//! after such an exit, waiting with capped exponential backoff, until shutdown. Build each new
//! worker under a fresh name ([`crate::naming::worker_name`]): apalis refuses a name whose last
//! heartbeat is less than one heartbeat interval old.
//!
//! ```no_run
//! use certdesk_workers::supervise::{Backoff, shutdown_channel, supervise};
//! # async fn demo() {
//! let (trigger, shutdown) = shutdown_channel();
//! let supervised = tokio::spawn(supervise(
//!     "mailer",
//!     |mut shutdown| async move {
//!         // Build a fresh worker here (with a fresh name, see `naming`) and run it until
//!         // `shutdown.signalled()` resolves, e.g. `worker.run_until(...)`.
//!         shutdown.signalled().await;
//!         Ok::<(), std::io::Error>(())
//!     },
//!     shutdown,
//!     Backoff::default(),
//! ));
//! trigger.trigger();
//! let _summary = supervised.await;
//! # }
//! ```

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Capped exponential backoff between restarts.
///
/// After the `n`-th consecutive early exit the supervisor waits `initial × 2^(n-1)`, at most
/// `max`. A run that lasted at least `reset_after` before exiting starts the count again, so a
/// worker that ran for hours and then lost Redis restarts after `initial`, not after `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Wait after the first early exit.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
    /// A run at least this long resets the count of consecutive early exits.
    pub reset_after: Duration,
}

impl Default for Backoff {
    /// 500 ms doubling up to 30 s; a run of 60 s or more resets the count.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            reset_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// Backoff from `initial` doubling up to `max`; `reset_after` is `max` (at least `initial`).
    #[must_use]
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            reset_after: max.max(initial),
        }
    }

    /// The wait after `consecutive` early exits in a row (1 for the first).
    #[must_use]
    pub fn delay(&self, consecutive: u32) -> Duration {
        let doublings = consecutive.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// The receiving side of a shutdown signal; cheap to clone, one per worker run.
///
/// The signal is a `tokio::sync::watch` channel of `bool`: `true` means shut down. A dropped
/// sender also counts as shutdown, so a supervisor never outlives the part of the program
/// that could have stopped it.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl From<watch::Receiver<bool>> for Shutdown {
    fn from(receiver: watch::Receiver<bool>) -> Self {
        Self(receiver)
    }
}

impl Shutdown {
    /// Whether shutdown was signalled (or the sender is gone).
    #[must_use]
    pub fn is_signalled(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    /// Resolves once shutdown is signalled (or the sender is gone); at once if it already was.
    pub async fn signalled(&mut self) {
        // `wait_for` errs only when the sender is dropped, which also means shutdown.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// The sending side of a shutdown signal.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

impl ShutdownTrigger {
    /// Signals shutdown to every [`Shutdown`] made from this trigger's channel.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

/// A new shutdown channel, not yet signalled.
#[must_use]
pub fn shutdown_channel() -> (ShutdownTrigger, Shutdown) {
    let (sender, receiver) = watch::channel(false);
    (ShutdownTrigger(sender), Shutdown(receiver))
}

/// What a [`supervise`] call did before it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supervised {
    /// How many times the run future was started.
    pub starts: u32,
    /// How many runs ended with `Err`.
    pub failures: u32,
}

/// Runs `make(shutdown)` again and again until `shutdown` is signalled.
///
/// Each start calls `make` with a clone of `shutdown`; the future it returns must itself stop
/// (and return) once that signal fires, e.g. by building a fresh apalis worker and calling
/// `worker.run_until(async move { shutdown.signalled().await; Ok::<(), std::io::Error>(()) })`,
/// which lets apalis finish in-flight jobs and release buffered ones. `supervise` waits for
/// that return without a time limit: bound the whole shutdown with `tokio::time::timeout`
/// around it if needed.
///
/// When a run returns `Err`, or returns `Ok` while no shutdown was signalled (a worker must
/// not end by itself), `supervise` logs it with `tracing` (`warn`), waits for the
/// [`Backoff`] delay (returning at once if shutdown comes during the wait) and starts again.
/// `name` labels the log lines. A panic in the run future is not caught.
pub async fn supervise<F, Fut, E>(
    name: &str,
    mut make: F,
    mut shutdown: Shutdown,
    backoff: Backoff,
) -> Supervised
where
    F: FnMut(Shutdown) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let mut summary = Supervised {
        starts: 0,
        failures: 0,
    };
    let mut consecutive = 0u32;
    while !shutdown.is_signalled() {
        summary.starts += 1;
        tracing::info!(worker = name, start = summary.starts, "worker starting");
        let started = Instant::now();
        let result = make(shutdown.clone()).await;
        let ran_for = started.elapsed();
        if let Err(error) = &result {
            summary.failures += 1;
            if shutdown.is_signalled() {
                tracing::warn!(worker = name, %error, "worker failed while shutting down");
            }
        }
        if shutdown.is_signalled() {
            break;
        }
        consecutive = if ran_for >= backoff.reset_after {
            1
        } else {
            consecutive.saturating_add(1)
        };
        let delay = backoff.delay(consecutive);
        match &result {
            Err(error) => tracing::warn!(
                worker = name,
                start = summary.starts,
                ?ran_for,
                ?delay,
                %error,
                "worker failed; restarting after backoff"
            ),
            Ok(()) => tracing::warn!(
                worker = name,
                start = summary.starts,
                ?ran_for,
                ?delay,
                "worker returned before shutdown; restarting after backoff"
            ),
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.signalled() => {}
        }
    }
    tracing::info!(
        worker = name,
        starts = summary.starts,
        failures = summary.failures,
        "worker supervisor stopped"
    );
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Polls `done` every 5 ms until it holds or `within` passes; returns whether it held.
    async fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if done() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[test]
    fn delay_doubles_and_is_capped() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<u128> = (1..=6).map(|n| backoff.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.delay(0), Duration::from_millis(100));
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(1));
        assert_eq!(backoff.reset_after, Duration::from_secs(1));
    }

    #[tokio::test]
    async fn restarts_after_two_failures_then_stops_promptly_on_shutdown() {
        let (trigger, shutdown) = shutdown_channel();
        let starts = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&starts);
        let supervised = tokio::spawn(supervise(
            "test",
            move |mut shutdown| {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    if n <= 2 {
                        return Err(format!("failure {n}"));
                    }
                    shutdown.signalled().await;
                    Ok(())
                }
            },
            shutdown,
            Backoff::new(Duration::from_millis(10), Duration::from_millis(40)),
        ));
        assert!(
            eventually(Duration::from_secs(5), || starts.load(Ordering::SeqCst)
                == 3)
            .await
        );
        trigger.trigger();
        let asked = Instant::now();
        let summary = tokio::time::timeout(Duration::from_secs(2), supervised)
            .await
            .unwrap()
            .unwrap();
        assert!(
            asked.elapsed() < Duration::from_millis(200),
            "{:?}",
            asked.elapsed()
        );
        assert_eq!(
            summary,
            Supervised {
                starts: 3,
                failures: 2
            }
        );
        assert_eq!(starts.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_run_ending_ok_before_shutdown_is_restarted() {
        let (trigger, shutdown) = shutdown_channel();
        let starts = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&starts);
        let supervised = tokio::spawn(supervise(
            "test",
            move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
                async { Ok::<(), String>(()) }
            },
            shutdown,
            Backoff::new(Duration::from_millis(1), Duration::from_millis(2)),
        ));
        assert!(
            eventually(Duration::from_secs(5), || starts.load(Ordering::SeqCst)
                >= 5)
            .await
        );
        trigger.trigger();
        let summary = tokio::time::timeout(Duration::from_secs(2), supervised)
            .await
            .unwrap()
            .unwrap();
        assert!(summary.starts >= 5);
        assert_eq!(summary.failures, 0);
    }

    #[tokio::test]
    async fn shutdown_during_backoff_returns_without_waiting_it_out() {
        let (trigger, shutdown) = shutdown_channel();
        let starts = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&starts);
        let supervised = tokio::spawn(supervise(
            "test",
            move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>("down") }
            },
            shutdown,
            Backoff::new(Duration::from_secs(60), Duration::from_secs(60)),
        ));
        assert!(
            eventually(Duration::from_secs(5), || starts.load(Ordering::SeqCst)
                == 1)
            .await
        );
        let asked = Instant::now();
        trigger.trigger();
        let summary = tokio::time::timeout(Duration::from_secs(2), supervised)
            .await
            .unwrap()
            .unwrap();
        assert!(asked.elapsed() < Duration::from_millis(200));
        assert_eq!(
            summary,
            Supervised {
                starts: 1,
                failures: 1
            }
        );
    }

    #[tokio::test]
    async fn dropped_trigger_counts_as_shutdown() {
        let (trigger, shutdown) = shutdown_channel();
        drop(trigger);
        let summary = supervise(
            "test",
            |_| async { Ok::<(), String>(()) },
            shutdown,
            Backoff::default(),
        )
        .await;
        assert_eq!(summary.starts, 0);
    }

    #[tokio::test]
    async fn a_long_run_resets_the_backoff() {
        // First run fails at once (wait 1 × initial), second runs past reset_after then fails
        // (wait must be initial again, not 2 × initial), third waits for shutdown.
        let backoff = Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_secs(10),
            reset_after: Duration::from_millis(50),
        };
        let (trigger, shutdown) = shutdown_channel();
        let starts = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&starts);
        let supervised = tokio::spawn(supervise(
            "test",
            move |mut shutdown| {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    match n {
                        1 => Err("quick failure"),
                        2 => {
                            tokio::time::sleep(Duration::from_millis(60)).await;
                            Err("failure after a long run")
                        }
                        _ => {
                            shutdown.signalled().await;
                            Ok(())
                        }
                    }
                }
            },
            shutdown,
            backoff,
        ));
        let began = Instant::now();
        assert!(
            eventually(Duration::from_secs(5), || starts.load(Ordering::SeqCst)
                == 3)
            .await
        );
        // 20 ms + 60 ms + 20 ms (reset) = 100 ms; without the reset it would be 120 ms or more.
        let took = began.elapsed();
        trigger.trigger();
        let summary = supervised.await.unwrap();
        assert_eq!(summary.starts, 3);
        assert!(took >= Duration::from_millis(100), "{took:?}");
    }
}
