#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a failed set-up or assertion should panic"
)]
//! What apalis-redis 1.0.0 (with apalis-core 1.0.0, redis 1.8.1, Redis 7.0.15) actually does,
//! checked against a real `redis-server` that each test starts for itself (`certdesk-testkit`).
//! Each test asserts the behaviour observed, so a release that changes it fails here.
//!
//! | claim (issue 4 / DEPENDENCIES) | verdict | what exactly happens | test |
//! |---|---|---|---|
//! | 1a. an idempotency key without a TTL does nothing | **held** | `idempotency_ttl: None` (the default) is sent to `batch_push.lua` as TTL `0`, which runs `EXPIRE key 0` right after the `SETNX`: the key is deleted at once, the second push with the same key is stored and both jobs run. Both pushes return `Ok`. With `idempotency_ttl(Some(d))` the duplicate is dropped (push still returns `Ok`) until `d` passes; finishing the job does not free the key. | `idempotency_key_without_ttl_is_deleted_at_once_so_duplicates_run`, `idempotency_key_with_ttl_drops_the_duplicate_for_the_ttl` |
//! | 1b. a producer-set task id does not deduplicate | **did not hold** | a second push with the same `TaskId` is dropped by `HSETNX` on `{queue}:data` (push returns `Ok`, the first payload wins), for as long as the first task's data is there: pending, running, done or dead. `vacuum()` deletes finished tasks' data, and after that the same id is accepted and runs again. | `same_task_id_pushed_twice_runs_once_until_vacuum_then_runs_again` |
//! | 2. `persist_results = false` also disables acks, so jobs are redelivered | **held** | the flag gates the `Complete` event itself, so nothing is acked: every job ever run stays in `{queue}:inflight:{worker}` with status `Running`, never reaches done/dead, and a failure is not retried. Nothing is redelivered while that worker heartbeats; once it stops (even gracefully) another worker's heartbeat re-enqueues *all* of them after `orphaned_duration` (2 s here) and each runs again. Worse: once a gone worker holds ≥ 8000 such jobs, that re-enqueue (`reenqueue_orphaned.lua`, `rpush … unpack`) fails and every other worker's `run()` returns `Err` at that heartbeat: the queue is wedged. | `persist_results_false_never_acks_so_every_job_reruns_once_the_worker_is_gone`, `persist_results_false_wedges_the_queue_once_a_gone_worker_holds_8000_jobs` |
//! | 3. no reconnect after a Redis restart: `run()` ends or hangs | **held in part: ends, never hangs** | the `ConnectionManager` reconnects (the same storage answers at once after the restart), but the worker does not survive: its first command after the restart fails and `run()` returns `Err(BackendError("PollNextError: broken pipe"))`, ~50 ms after the restart for a worker polling every 50 ms, at its next heartbeat for an idle worker without a poll strategy (4 s here, 30 s by default). Running a new worker (fresh name) on the same storage works at once: under `supervise` a job pushed after the restart ran. | `redis_restart_ends_run_with_an_error_at_the_next_command_and_supervise_recovers`, `redis_restart_is_noticed_by_an_idle_worker_only_at_its_next_heartbeat` |
//! | 4a. `max_attempts` ignored on the failure path | **held** | `handle_results.lua` retries while `attempt < 25` (hard-coded, "TODO" in the source) and never reads `max_attempts`: a job with `max_attempts(2)` ran 4 times in ~6 s and was still scheduled for more; one with `max_attempts(100)` went dead at attempt 25. Retry *n* is scheduled *n* seconds later, so 25 attempts take ~5 min. | `failing_job_is_retried_past_max_attempts`, `failing_job_dies_at_attempt_25_whatever_max_attempts_says` |
//! | 4b. `max_attempts` ignored when a killed worker's job is re-enqueued | **held** | the orphan re-enqueue pushes the id back to the active list without touching `attempts`: a `max_attempts(1)` job whose worker was killed 3 times ran 3 times, the handler saw `attempt == 1` each time, `attempts` in its meta stayed `0`, never dead. A job that kills its worker loops forever. | `job_orphaned_by_a_killed_worker_is_redelivered_without_counting_an_attempt` |
//! | 5. done/dead sets are never trimmed | **held** | ids are only `SADD`ed, the keys have no TTL, nothing removes members; `vacuum()` / `vacuum_before()` delete finished tasks' data and meta but leave their ids in `done`/`dead` (dangling). 300 + 200 jobs → `SCARD done` = 500 after two vacuums. | `done_and_dead_sets_are_never_trimmed_even_by_vacuum` |
//! | G1. a backlog of > ~8000 due jobs stops the worker | **held, exactly 8000** | every push goes to the scheduled ZSET (run_at clamped to now); the first fetch promotes all due ids in one `rpush … unpack(ids)`. 7999 due jobs drained (~4.5 s); with 8000, `run()` returned `Err("… user_script:35: too many results to unpack")` at the first fetch, nothing ran, the backlog stayed. Retries also wait in that ZSET. | `backlog_of_8000_due_jobs_ends_the_worker_with_unpack_error_7999_drain` |
//! | G2. restarting under the same name fails for up to 300 s | **held in part: the window is one heartbeat interval (30 s by default), not 300 s** | a graceful stop leaves the name in `{queue}:workers`; starting the same name at once fails (`run()` → `Err("… worker is still active within threshold")`), a fresh name registers at once. But registration first re-enqueues and removes its own name once its score is one `heartbeat_interval` old, then accepts it: with heartbeat 2 s × 10 (orphaned after 20 s) the same name was accepted 1.8 s after the stop. | `same_worker_name_is_refused_until_one_heartbeat_interval_has_passed` |
//! | DECISIONS 18. "apalis-redis polls every 100 ms by default" | **did not hold** | there is no default poll: a `RedisStorage` worker fetches at start, after its own jobs finish, and at each heartbeat. An idle worker picked each new job up ~2.0 s (= its heartbeat) after the push; with the default 30 s heartbeat that is up to 30 s. `.poll_with_interval(d)` (`BackendExt`) is needed. `RedisStorageFactory`'s pub/sub wake-up never fires for pushed jobs (pushes land in the scheduled ZSET, and only pushes to the active list `PUBLISH …:available`). | `idle_worker_without_poll_strategy_fetches_only_at_heartbeats`, `factory_pubsub_wake_never_fires_for_pushed_jobs` |
//!
//! Notes on method: "killed" workers are simulated by aborting the tokio task that runs them
//! (no ack, release or deregistration reaches Redis, as with `kill -9`); the restart tests use
//! a server with AOF (`appendfsync always`) so that queue and registrations survive and only
//! the connection handling is observed; heartbeats are shortened (1–4 s) so liveness rules
//! show within seconds; timestamps in apalis-redis are whole seconds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use apalis::prelude::*;
use apalis_core::backend::Vacuum;
use apalis_redis::{Config, RedisStorage};
use certdesk_testkit::{RedisServer, serial, wait_until};
use certdesk_workers::supervise::{Shutdown, ShutdownTrigger, shutdown_channel};
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------------
// Jobs, a handler that records every run, and helpers to run workers and read Redis.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Action {
    Succeed,
    Fail,
    Hang,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Job {
    n: u32,
    action: Action,
}

impl Job {
    fn ok(n: u32) -> Self {
        Self {
            n,
            action: Action::Succeed,
        }
    }
    fn failing(n: u32) -> Self {
        Self {
            n,
            action: Action::Fail,
        }
    }
    fn hanging(n: u32) -> Self {
        Self {
            n,
            action: Action::Hang,
        }
    }
}

/// Every run of the handler: (job number, attempt number the handler saw).
#[derive(Debug, Clone, Default)]
struct Runs(Arc<Mutex<Vec<(u32, usize)>>>);

impl Runs {
    fn record(&self, n: u32, attempt: usize) {
        self.0.lock().unwrap().push((n, attempt));
    }
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    fn all(&self) -> Vec<(u32, usize)> {
        self.0.lock().unwrap().clone()
    }
    fn times(&self, n: u32) -> usize {
        self.0.lock().unwrap().iter().filter(|r| r.0 == n).count()
    }
}

async fn handle(job: Job, runs: Data<Runs>, attempt: Attempt) -> Result<(), BoxDynError> {
    runs.record(job.n, attempt.current());
    match job.action {
        Action::Succeed => Ok(()),
        Action::Fail => Err("deliberate failure".into()),
        Action::Hang => {
            std::future::pending::<()>().await;
            Ok(())
        }
    }
}

/// Short heartbeats so the liveness rules show within seconds: a worker is orphaned after
/// 1 s × 2 = 2 s without a heartbeat. Everything else is `Config::default()`.
fn config(queue: &str) -> Config {
    Config::default()
        .queue(queue)
        .heartbeat_interval(Duration::from_secs(1))
        .missed_heartbeats(2)
}

async fn storage(server: &RedisServer, config: &Config) -> RedisStorage<Job> {
    let conn = apalis_redis::connect(server.url()).await.unwrap();
    RedisStorage::new(conn).with_config(config.clone())
}

/// A worker running in its own tokio task.
struct Running {
    trigger: ShutdownTrigger,
    handle: JoinHandle<Result<(), WorkerError>>,
}

impl Running {
    /// Graceful stop (apalis `run_until`), bounded by 10 s.
    async fn stop(self) -> Result<(), WorkerError> {
        self.trigger.trigger();
        tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("worker did not stop within 10 s")
            .expect("worker task panicked")
    }

    /// Ends the worker like `kill -9` as far as Redis can tell: its future is dropped where it
    /// stands, no further command (ack, release, deregistration) is sent.
    async fn kill(self) {
        self.handle.abort();
        let _ = self.handle.await;
    }

    /// Waits up to `within` for the worker to end by itself.
    async fn ended_within(&mut self, within: Duration) -> Option<Result<(), WorkerError>> {
        match tokio::time::timeout(within, &mut self.handle).await {
            Ok(joined) => Some(joined.expect("worker task panicked")),
            Err(_) => None,
        }
    }
}

async fn until_shutdown(mut shutdown: Shutdown) -> Result<(), WorkerError> {
    shutdown.signalled().await;
    Ok(())
}

/// Runs `handle` under `name`, polling Redis every 50 ms (see the idle-latency test for why an
/// interval is needed at all).
fn spawn_worker(name: &str, storage: &RedisStorage<Job>, runs: &Runs) -> Running {
    let (trigger, shutdown) = shutdown_channel();
    let worker = WorkerBuilder::new(name)
        .backend(
            storage
                .clone()
                .poll_with_interval(Duration::from_millis(50)),
        )
        .data(runs.clone())
        .build(handle);
    let handle = tokio::spawn(worker.run_until(until_shutdown(shutdown)));
    Running { trigger, handle }
}

/// Read-only look at one queue's keys.
struct Probe {
    conn: MultiplexedConnection,
    config: Config,
}

impl Probe {
    async fn new(server: &RedisServer, config: &Config) -> Self {
        Self {
            conn: server.connection().await,
            config: config.clone(),
        }
    }
    async fn query<T: redis::FromRedisValue>(&self, cmd: &str, args: &[&str]) -> T {
        let mut conn = self.conn.clone();
        redis::cmd(cmd)
            .arg(args)
            .query_async(&mut conn)
            .await
            .unwrap()
    }
    async fn done(&self) -> usize {
        self.query("SCARD", &[&self.config.done_jobs_set()]).await
    }
    async fn dead(&self) -> usize {
        self.query("SCARD", &[&self.config.dead_jobs_set()]).await
    }
    async fn scheduled(&self) -> usize {
        self.query("ZCARD", &[&self.config.scheduled_jobs_set()])
            .await
    }
    async fn active(&self) -> usize {
        self.query("LLEN", &[&self.config.active_jobs_list()]).await
    }
    async fn data(&self) -> usize {
        self.query("HLEN", &[&self.config.job_data_hash()]).await
    }
    async fn inflight_of(&self, worker: &str) -> usize {
        let key = format!("{}:{worker}", self.config.inflight_jobs_set());
        self.query("SCARD", &[&key]).await
    }
    async fn inflight_ids_of(&self, worker: &str) -> Vec<String> {
        let key = format!("{}:{worker}", self.config.inflight_jobs_set());
        self.query("SMEMBERS", &[&key]).await
    }
    async fn worker_score(&self, worker: &str) -> Option<u64> {
        self.query("ZSCORE", &[&self.config.workers_set(), worker])
            .await
    }
    async fn meta(&self, task_id: &str, field: &str) -> Option<String> {
        let key = format!("{}:{task_id}", self.config.job_meta_hash());
        self.query("HGET", &[&key, field]).await
    }
    async fn ttl(&self, key: &str) -> i64 {
        self.query("TTL", &[key]).await
    }
    async fn exists(&self, key: &str) -> bool {
        self.query::<i64>("EXISTS", &[key]).await == 1
    }
    /// Seconds since the connection named `name` (CLIENT SETNAME) last sent a command.
    async fn client_idle(&self, name: &str) -> Option<u64> {
        let list: String = self.query("CLIENT", &["LIST"]).await;
        let needle = format!(" name={name} ");
        let line = list.lines().find(|l| l.contains(&needle))?;
        let idle = line.split(' ').find_map(|f| f.strip_prefix("idle="))?;
        idle.parse().ok()
    }
    /// Nothing waits anywhere: no active, scheduled or in-flight (for `worker`) job.
    async fn settled(&self, worker: &str) -> bool {
        self.active().await == 0
            && self.scheduled().await == 0
            && self.inflight_of(worker).await == 0
    }
}

const SHORT: Duration = Duration::from_secs(15);
const LONG: Duration = Duration::from_secs(45);

// ---------------------------------------------------------------------------------------------
// Claim 1: deduplication.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_task_id_pushed_twice_runs_once_until_vacuum_then_runs_again() {
    let _serial = serial().await;
    let server = RedisServer::start().await;
    let cfg = config("claim1:task-id");
    let mut storage = storage(&server, &cfg).await;
    let probe = Probe::new(&server, &cfg).await;
    let runs = Runs::default();
    let id = "payment-0001";

    for n in [1, 2] {
        let task = TaskBuilder::new(Job::ok(n))
            .task_id(TaskId::from_string(id))
            .build();
        storage.push_task(task).await.unwrap(); // the second push also returns Ok
    }
    assert_eq!(
        probe.data().await,
        1,
        "second push with the same id was dropped"
    );
    assert_eq!(probe.scheduled().await, 1);

    let worker = spawn_worker("claim1-task-id-a", &storage, &runs);
    wait_until("task acked", SHORT, || async {
        probe.done().await == 1 && probe.settled("claim1-task-id-a").await
    })
    .await;
    assert_eq!(
        runs.all(),
        [(1, 1)],
        "ran once, with the first push's payload"
    );

    // vacuum deletes the data and meta of finished tasks: the id is free again.
    assert_eq!(storage.vacuum().await.unwrap(), 1);
    assert_eq!(probe.data().await, 0);
    let again = TaskBuilder::new(Job::ok(3))
        .task_id(TaskId::from_string(id))
        .build();
    storage.push_task(again).await.unwrap();
    wait_until("same id ran again", SHORT, || async { runs.count() == 2 }).await;
    assert_eq!(runs.all(), [(1, 1), (3, 1)]);
    worker.stop().await.unwrap();
}

async fn push_with_key(storage: &mut RedisStorage<Job>, n: u32, key: &str) {
    let task = TaskBuilder::new(Job::ok(n)).idempotency_key(key).build();
    storage.push_task(task).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_without_ttl_is_deleted_at_once_so_duplicates_run() {
    let _serial = serial().await;
    let server = RedisServer::start().await;
    let cfg = config("claim1:idem-no-ttl"); // idempotency_ttl: None, the default
    assert_eq!(cfg.idempotency_ttl, None);
    let mut storage = storage(&server, &cfg).await;
    let probe = Probe::new(&server, &cfg).await;
    let runs = Runs::default();
    let key_name = format!("{}:notif-42", cfg.idempotency_key_set());

    push_with_key(&mut storage, 1, "notif-42").await;
    assert!(
        !probe.exists(&key_name).await,
        "EXPIRE 0 deleted the key at once"
    );
    push_with_key(&mut storage, 2, "notif-42").await;
    assert_eq!(probe.data().await, 2, "both pushes stored");

    let worker = spawn_worker("claim1-idem-a", &storage, &runs);
    wait_until("both ran", SHORT, || async { runs.count() == 2 }).await;
    let mut ran: Vec<u32> = runs.all().iter().map(|r| r.0).collect();
    ran.sort_unstable();
    assert_eq!(ran, [1, 2], "the duplicate ran");
    worker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_with_ttl_drops_the_duplicate_for_the_ttl() {
    let _serial = serial().await;
    let server = RedisServer::start().await;
    let cfg = config("claim1:idem-ttl").idempotency_ttl(Some(Duration::from_secs(60)));
    let mut storage = storage(&server, &cfg).await;
    let probe = Probe::new(&server, &cfg).await;
    let runs = Runs::default();
    let key_name = format!("{}:notif-42", cfg.idempotency_key_set());

    push_with_key(&mut storage, 1, "notif-42").await;
    push_with_key(&mut storage, 2, "notif-42").await; // returns Ok, silently dropped
    assert_eq!(probe.data().await, 1);
    let ttl = probe.ttl(&key_name).await;
    assert!((1..=60).contains(&ttl), "key kept with its TTL, got {ttl}");

    let worker = spawn_worker("claim1-idem-ttl-a", &storage, &runs);
    wait_until("acked", SHORT, || async {
        probe.done().await == 1 && probe.settled("claim1-idem-ttl-a").await
    })
    .await;
    assert_eq!(runs.all(), [(1, 1)]);
    worker.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Claim 2: persist_results = false.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persist_results_false_never_acks_so_every_job_reruns_once_the_worker_is_gone() {
    let _serial = serial().await;
    let server = RedisServer::start().await;
    let cfg = config("claim2:no-results").persist_results(false);
    let mut storage = storage(&server, &cfg).await;
    let probe = Probe::new(&server, &cfg).await;
    let runs = Runs::default();
    storage
        .push_bulk((1..=5).map(Job::ok).collect())
        .await
        .unwrap();

    let a = spawn_worker("claim2-a", &storage, &runs);
    wait_until("5 runs", SHORT, || async { runs.count() == 5 }).await;
    // Never acked: the jobs stay in A's in-flight set, "Running", and never reach `done`.
    wait_until("5 in flight", SHORT, || async {
        probe.inflight_of("claim2-a").await == 5
    })
    .await;
    assert_eq!(probe.done().await, 0);
    for id in probe.inflight_ids_of("claim2-a").await {
        assert_eq!(probe.meta(&id, "status").await.as_deref(), Some("Running"));
    }
    // While A lives (two more heartbeats), nothing is redelivered.
    let seen = probe.worker_score("claim2-a").await.unwrap();
    wait_until("two heartbeats of A", SHORT, || async {
        probe.worker_score("claim2-a").await.unwrap() >= seen + 2
    })
    .await;
    assert_eq!(runs.count(), 5);

    // A stops gracefully; its name stays registered and its 5 "in flight" jobs stay put...
    a.stop().await.unwrap();
    assert!(probe.worker_score("claim2-a").await.is_some());
    assert_eq!(probe.inflight_of("claim2-a").await, 5);
    // ...until another worker's heartbeat finds A orphaned (2 s) and re-enqueues them all.
    let b = spawn_worker("claim2-b", &storage, &runs);
    let took = wait_until("every job ran a second time", SHORT, || async {
        runs.count() == 10
    })
    .await;
    eprintln!("claim 2: A's 5 completed jobs ran again on B after {took:?}");
    for n in 1..=5 {
        assert_eq!(runs.times(n), 2, "job {n}");
    }
    b.stop().await.unwrap();

    // Control: with persist_results = true (the default) the same jobs are acked once.
    let cfg = config("claim2:results");
    let mut storage = self::storage(&server, &cfg).await;
    let probe = Probe::new(&server, &cfg).await;
    let runs = Runs::default();
    storage
        .push_bulk((1..=5).map(Job::ok).collect())
        .await
        .unwrap();
    let c = spawn_worker("claim2-c", &storage, &runs);
    wait_until("5 acked", SHORT, || async {
        probe.done().await == 5 && probe.settled("claim2-c").await
    })
    .await;
    assert_eq!(runs.count(), 5);
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persist_results_false_wedges_the_queue_once_a_gone_worker_holds_8000_jobs() {
    let _serial = serial().await;
    let server = RedisServer::start().await;
    let cfg = config("claim2:wedge")
        .persist_results(false)
        .emit_events(false)
        .batch_size(100);
    let mut storage = storage(&server, &cfg).await;
    let probe = Probe::new(&server, &cfg).await;
    let runs = Runs::default();

    // Two waves of 4000 (under the G1 limit) through worker A, which never acks them.
    let a = spawn_worker("claim2-wedge-a", &storage, &runs);
    for wave in 0..2u32 {
        storage
            .push_bulk((wave * 4000..(wave + 1) * 4000).map(Job::ok).collect())
            .await
            .unwrap();
        let want = ((wave + 1) * 4000) as usize;
        wait_until("wave ran", LONG, || async { runs.count() == want }).await;
    }
    a.stop().await.unwrap();
    wait_until("8000 left in flight", SHORT, || async {
        probe.inflight_of("claim2-wedge-a").await == 8000
    })
    .await;

    // Any other worker dies at the heartbeat that tries to re-enqueue A's 8000 jobs in one
    // `rpush ... unpack(...)`, and so does every later one.
    for round in 1..=2 {
        let mut b = spawn_worker(&format!("claim2-wedge-b{round}"), &storage, &runs);
        let err = b
            .ended_within(SHORT)
            .await
            .expect("worker survived the orphan re-enqueue")
            .expect_err("run() returned Ok");
        eprintln!("claim 2 (wedge), worker {round}: {err}");
        assert!(
            err.to_string().contains("too many results to unpack"),
            "{err}"
        );
    }
    assert_eq!(runs.count(), 8000, "nothing ran again: the queue is stuck");
    assert_eq!(probe.inflight_of("claim2-wedge-a").await, 8000);
}

// ---------------------------------------------------------------------------------------------
// Claim 3: Redis restart.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_ends_run_with_an_error_at_the_next_command_and_supervise_recovers() {
    let _serial = serial().await;
    // With AOF, so the queue and the worker registration survive: what is left to see is how
    // the connection and the worker react.
    let mut server = RedisServer::start_with_aof().await;
    let cfg = config("claim3:restart");
    let mut storage = storage(&server, &cfg).await;
    let runs = Runs::default();

    // 1. A worker polling every 50 ms: run() returns Err right after the restart.
    let mut a = spawn_worker("claim3-a", &storage, &runs);
    storage.push(Job::ok(1)).await.unwrap();
    wait_until("job 1 ran", SHORT, || async { runs.count() == 1 }).await;
    let began = Instant::now();
    server.restart().await;
    let ended = a
        .ended_within(Duration::from_secs(10))
        .await
        .expect("run() did not return within 10 s of the restart");
    let took = began.elapsed();
    let err = ended.expect_err("run() returned Ok after a Redis restart");
    eprintln!("claim 3: polling worker: run() returned after {took:?}: {err}");
    assert!(matches!(err, WorkerError::BackendError(_)), "{err:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");

    // 2. The ConnectionManager itself reconnected: the same storage works again at once.
    let mut conn = storage.get_connection().clone();
    let pong: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
    assert_eq!(pong, "PONG");

    // 3. Under `supervise` (fresh worker name per start), the next job runs again.
    let (trigger, shutdown) = shutdown_channel();
    let starts = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let supervised = {
        let storage = storage.clone();
        let runs = runs.clone();
        let starts = Arc::clone(&starts);
        tokio::spawn(async move {
            certdesk_workers::supervise::supervise(
                "claim3",
                move |shutdown| {
                    starts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let worker =
                        WorkerBuilder::new(certdesk_workers::naming::worker_name("claim3"))
                            .backend(
                                storage
                                    .clone()
                                    .poll_with_interval(Duration::from_millis(50)),
                            )
                            .data(runs.clone())
                            .build(handle);
                    worker.run_until(until_shutdown(shutdown))
                },
                shutdown,
                certdesk_workers::supervise::Backoff::new(
                    Duration::from_millis(100),
                    Duration::from_secs(1),
                ),
            )
            .await
        })
    };
    storage.push(Job::ok(2)).await.unwrap();
    wait_until("job 2 ran", SHORT, || async { runs.count() == 2 }).await;
    server.restart().await;
    wait_until("the supervisor restarted the worker", SHORT, || async {
        starts.load(std::sync::atomic::Ordering::SeqCst) >= 2
    })
    .await;
    storage.push(Job::ok(3)).await.unwrap();
    wait_until("job 3 ran after the restart", SHORT, || async {
        runs.count() == 3
    })
    .await;
    trigger.trigger();
    let summary = tokio::time::timeout(Duration::from_secs(10), supervised)
        .await
        .unwrap()
        .unwrap();
    // One failure from the restart (more only if Redis was still coming up at a retry).
    assert!(summary.starts >= 2, "{summary:?}");
    assert_eq!(summary.failures, summary.starts - 1, "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_is_noticed_by_an_idle_worker_only_at_its_next_heartbeat() {
    let _serial = serial().await;
    let mut server = RedisServer::start_with_aof().await;
    let heartbeat = Duration::from_secs(4);
    let cfg = config("claim3:restart-idle").heartbeat_interval(heartbeat);
    let mut storage = storage(&server, &cfg).await;
    let runs = Runs::default();
    // No poll strategy: the worker sleeps between heartbeats when the queue is empty.
    let (trigger, shutdown) = shutdown_channel();
    let worker = WorkerBuilder::new("claim3-idle")
        .backend(storage.clone())
        .data(runs.clone())
        .build(handle);
    let mut idle = Running {
        trigger,
        handle: tokio::spawn(worker.run_until(until_shutdown(shutdown))),
    };
    // Name the worker's (multiplexed) connection so CLIENT LIST shows when it goes quiet.
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("claim3-idle-conn")
        .query_async(storage.get_connection())
        .await
        .unwrap();
    let probe = Probe::new(&server, &cfg).await;
    storage.push(Job::ok(1)).await.unwrap();
    wait_until("job 1 ran", SHORT, || async { runs.count() == 1 }).await;
    // Restart between two heartbeats: after one, once CLIENT LIST shows the worker's
    // connection idle for 2 (whole-clock) seconds, i.e. at least 1 s and well before the next.
    let seen = probe.worker_score("claim3-idle").await.unwrap();
    wait_until("a heartbeat", SHORT, || async {
        probe.worker_score("claim3-idle").await.unwrap() > seen
    })
    .await;
    wait_until("worker quiet for 2 s", SHORT, || async {
        probe.client_idle("claim3-idle-conn").await >= Some(2)
    })
    .await;
    let began = Instant::now();
    server.restart().await;
    let ended = idle
        .ended_within(heartbeat + Duration::from_secs(5))
        .await
        .expect("idle worker did not end within a heartbeat of the restart");
    let took = began.elapsed();
    let err = ended.expect_err("run() returned Ok after a Redis restart");
    eprintln!("claim 3: idle worker: run() returned after {took:?}: {err}");
    assert!(matches!(err, WorkerError::BackendError(_)), "{err:?}");
    assert!(
        took > Duration::from_secs(1),
        "noticed before its heartbeat: {took:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Claim 4: max_attempts.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_job_is_retried_past_max_attempts() {
    let _serial = serial().await;
    let server = RedisServer::start().await;
    let cfg = config("claim4:retry");
    let mut storage = storage(&server, &cfg).await;
    let probe = Probe::new(&server, &cfg).await;
    let runs = Runs::default();
    let task = TaskBuilder::new(Job::failing(1)).max_attempts(2).build();
    storage.push_task(task).await.unwrap();

    let worker = spawn_worker("claim4-retry", &storage, &runs);
    // Retries are scheduled `attempt` seconds after each failure: runs at about 0, 1, 3, 6 s.
    let took = wait_until("4 runs", SHORT, || async { runs.count() >= 4 }).await;
    eprintln!(
        "claim 4: 4 runs of a max_attempts=2 job after {took:?}: {:?}",
        runs.all()
    );
    worker.stop().await.unwrap();
    assert_eq!(runs.all()[..4], [(1, 1), (1, 2), (1, 3), (1, 4)]);
    let id: Vec<String> = probe
        .query("ZRANGE", &[&cfg.scheduled_jobs_set(), "0", "-1"])
        .await;
    assert_eq!(id.len(), 1, "still scheduled for another retry");
    assert_eq!(
        probe.meta(&id[0], "max_attempts").await.as_deref(),
        Some("2")
    );
    assert_eq!(probe.dead().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_job_dies_at_attempt_25_whatever_max_attempts_says() {
    let _serial = serial().await;
    let server = RedisServer::start().await;
    let cfg = config("claim4:cap");
    let mut storage = storage(&server, &cfg).await;
    let probe = Probe::new(&server, &cfg).await;
    let runs = Runs::default();
    // Start at attempt 24 so the 25th is the next run (instead of waiting 1+2+...+24 s).
    let task = TaskBuilder::new(Job::failing(1))
        .max_attempts(100)
        .attempt(24)
        .build();
    storage.push_task(task).await.unwrap();

    let worker = spawn_worker("claim4-cap", &storage, &runs);
    wait_until("dead", SHORT, || async {
        probe.dead().await == 1 && probe.settled("claim4-cap").await
    })
    .await;
    worker.stop().await.unwrap();
    assert_eq!(runs.all(), [(1, 25)]);
    let ids: Vec<String> = probe.query("SMEMBERS", &[&cfg.dead_jobs_set()]).await;
    assert_eq!(
        probe.meta(&ids[0], "max_attempts").await.as_deref(),
        Some("100")
    );
    assert_eq!(
        probe.meta(&ids[0], "status").await.as_deref(),
        Some("Failed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_orphaned_by_a_killed_worker_is_redelivered_without_counting_an_attempt() {
    let _serial = serial().await;
    let server = RedisServer::start().await;
    let cfg = config("claim4:orphan");
    let mut storage = storage(&server, &cfg).await;
    let probe = Probe::new(&server, &cfg).await;
    let runs = Runs::default();
    let task = TaskBuilder::new(Job::hanging(1)).max_attempts(1).build();
    storage.push_task(task).await.unwrap();

    let mut id = None;
    for round in 1..=3 {
        let name = format!("claim4-orphan-{round}");
        let worker = spawn_worker(&name, &storage, &runs);
        // Round 1 picks the job up at once; later rounds after the previous worker has missed
        // its heartbeats for 2 s and this worker's heartbeat re-enqueues its in-flight set.
        wait_until("the job started", SHORT, || async { runs.count() == round }).await;
        let ids = probe.inflight_ids_of(&name).await;
        assert_eq!(ids.len(), 1);
        id = ids.into_iter().next();
        worker.kill().await;
    }
    let id = id.unwrap();
    assert_eq!(runs.all(), [(1, 1), (1, 1), (1, 1)], "attempt never grows");
    assert_eq!(probe.meta(&id, "attempts").await.as_deref(), Some("0"));
    assert_eq!(probe.meta(&id, "max_attempts").await.as_deref(), Some("1"));
    assert_eq!(probe.dead().await, 0);
}

// ---------------------------------------------------------------------------------------------
// Claim 5: done and dead sets.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn done_and_dead_sets_are_never_trimmed_even_by_vacuum() {
    let _serial = serial().await;
    let server = RedisServer::start().await;
    let cfg = config("claim5:sets");
    let mut storage = storage(&server, &cfg).await;
    let probe = Probe::new(&server, &cfg).await;
    let runs = Runs::default();
    storage
        .push_bulk((1..=300).map(Job::ok).collect())
        .await
        .unwrap();
    for n in 1001..=1005 {
        let task = TaskBuilder::new(Job::failing(n)).attempt(24).build();
        storage.push_task(task).await.unwrap();
    }

    let worker = spawn_worker("claim5-a", &storage, &runs);
    wait_until("300 done, 5 dead", LONG, || async {
        probe.done().await == 300 && probe.dead().await == 5
    })
    .await;
    worker.stop().await.unwrap();
    assert_eq!(probe.ttl(&cfg.done_jobs_set()).await, -1, "no expiry");
    assert_eq!(probe.ttl(&cfg.dead_jobs_set()).await, -1, "no expiry");

    // vacuum removes the data and meta of finished tasks, but not their ids in done/dead.
    assert_eq!(storage.vacuum().await.unwrap(), 305);
    assert_eq!(probe.data().await, 0);
    assert_eq!(probe.done().await, 300);
    assert_eq!(probe.dead().await, 5);

    storage
        .push_bulk((301..=500).map(Job::ok).collect())
        .await
        .unwrap();
    let worker = spawn_worker("claim5-b", &storage, &runs);
    wait_until("500 done", LONG, || async { probe.done().await == 500 }).await;
    worker.stop().await.unwrap();
    assert_eq!(storage.vacuum_before(Duration::ZERO).await.unwrap(), 200);
    assert_eq!(probe.done().await, 500, "the set only grows");
}

// ---------------------------------------------------------------------------------------------
// G1: the unpack limit.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_of_8000_due_jobs_ends_the_worker_with_unpack_error_7999_drain() {
    let _serial = serial().await;
    let server = RedisServer::start().await;

    // 8000 due jobs: the first fetch fails and run() returns Err; nothing ran or moved.
    let cfg = config("g1:8000");
    let mut storage = storage(&server, &cfg).await;
    let probe = Probe::new(&server, &cfg).await;
    let runs = Runs::default();
    storage
        .push_bulk((0..8000).map(Job::ok).collect())
        .await
        .unwrap();
    assert_eq!(
        probe.scheduled().await,
        8000,
        "every push goes to the scheduled ZSET"
    );
    assert_eq!(probe.active().await, 0);
    let mut worker = spawn_worker("g1-8000", &storage, &runs);
    let ended = worker
        .ended_within(SHORT)
        .await
        .expect("worker kept running");
    let err = ended.expect_err("run() returned Ok");
    eprintln!("G1: {err}");
    assert!(
        err.to_string().contains("too many results to unpack"),
        "{err}"
    );
    assert_eq!(runs.count(), 0);
    assert_eq!(probe.scheduled().await, 8000);

    // 7999 due jobs drain.
    let cfg = config("g1:7999");
    let mut storage = self::storage(&server, &cfg).await;
    let probe = Probe::new(&server, &cfg).await;
    storage
        .push_bulk((0..7999).map(Job::ok).collect())
        .await
        .unwrap();
    let worker = spawn_worker("g1-7999", &storage, &runs);
    let took = wait_until("7999 done", LONG, || async { probe.done().await == 7999 }).await;
    eprintln!("G1: 7999 jobs drained in {took:?}");
    worker.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// G2: reusing a worker name.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_worker_name_is_refused_until_one_heartbeat_interval_has_passed() {
    let _serial = serial().await;
    let server = RedisServer::start().await;
    // orphaned_duration = 2 s x 10 = 20 s, like the default 30 s x 10 = 300 s scaled down.
    let heartbeat = Duration::from_secs(2);
    let cfg = config("g2:names")
        .heartbeat_interval(heartbeat)
        .missed_heartbeats(10);
    let storage = storage(&server, &cfg).await;
    let probe = Probe::new(&server, &cfg).await;
    let runs = Runs::default();

    let first = spawn_worker("fixed-name", &storage, &runs);
    wait_until("registered", SHORT, || async {
        probe.worker_score("fixed-name").await.is_some()
    })
    .await;
    first.stop().await.unwrap();
    let stopped = Instant::now();
    let last_seen = probe.worker_score("fixed-name").await;
    assert!(
        last_seen.is_some(),
        "a graceful stop leaves the name registered"
    );

    let mut again = spawn_worker("fixed-name", &storage, &runs);
    let err = again
        .ended_within(Duration::from_secs(5))
        .await
        .expect("second start under the same name kept running")
        .expect_err("second start under the same name succeeded");
    eprintln!("G2: {err}");
    assert!(
        err.to_string()
            .contains("worker is still active within threshold"),
        "{err}"
    );

    let fresh = spawn_worker(
        &certdesk_workers::naming::worker_name("g2"),
        &storage,
        &runs,
    );
    // Registered at once (checked through the workers set size: fixed-name + fresh).
    wait_until("fresh name registered", SHORT, || async {
        probe.query::<usize>("ZCARD", &[&cfg.workers_set()]).await == 2
    })
    .await;
    fresh.stop().await.unwrap();

    // Retry the fixed name until it registers: once its score is a heartbeat interval old,
    // registration first re-enqueues its jobs and removes it, then accepts the name.
    let accepted = loop {
        let mut retry = spawn_worker("fixed-name", &storage, &runs);
        wait_until("refused or registered", SHORT, || async {
            retry.handle.is_finished() || probe.worker_score("fixed-name").await != last_seen
        })
        .await;
        if retry.handle.is_finished() {
            let err = retry
                .ended_within(Duration::ZERO)
                .await
                .unwrap()
                .unwrap_err();
            assert!(err.to_string().contains("still active"), "{err}");
            assert!(
                stopped.elapsed() < Duration::from_secs(25),
                "never accepted"
            );
            tokio::time::sleep(Duration::from_millis(200)).await; // pace the retries
            continue;
        }
        let accepted = stopped.elapsed();
        retry.stop().await.unwrap();
        break accepted;
    };
    eprintln!("G2: same name accepted {accepted:?} after the stop (orphaned_duration 20 s)");
    assert!(
        accepted <= heartbeat + Duration::from_secs(2),
        "{accepted:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// DECISIONS 18: how an idle worker notices new jobs.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_worker_without_poll_strategy_fetches_only_at_heartbeats() {
    let _serial = serial().await;
    let server = RedisServer::start().await;
    let heartbeat = Duration::from_secs(2);
    let cfg = config("d18:idle").heartbeat_interval(heartbeat);
    let mut storage = storage(&server, &cfg).await;
    let probe = Probe::new(&server, &cfg).await;
    let runs = Runs::default();
    let (trigger, shutdown) = shutdown_channel();
    let worker = WorkerBuilder::new("d18-idle")
        .backend(storage.clone())
        .data(runs.clone())
        .build(handle);
    let idle = Running {
        trigger,
        handle: tokio::spawn(worker.run_until(until_shutdown(shutdown))),
    };
    wait_until("registered", SHORT, || async {
        probe.worker_score("d18-idle").await.is_some()
    })
    .await;
    let mut latencies = Vec::new();
    for n in 1..=2 {
        // Push right after a heartbeat (the worker fetches then finds nothing and sleeps).
        let seen = probe.worker_score("d18-idle").await.unwrap();
        wait_until("next heartbeat", SHORT, || async {
            probe.worker_score("d18-idle").await.unwrap() > seen
        })
        .await;
        storage.push(Job::ok(n)).await.unwrap();
        let latency = wait_until("job ran", SHORT, || async { runs.count() == n as usize }).await;
        latencies.push(latency);
    }
    idle.stop().await.unwrap();
    eprintln!("D18: push-to-run latency of an idle worker, heartbeat {heartbeat:?}: {latencies:?}");
    assert!(
        latencies
            .iter()
            .all(|l| *l <= heartbeat + Duration::from_secs(1))
    );
    assert!(
        latencies.iter().any(|l| *l >= heartbeat / 2),
        "picked up sooner than a heartbeat: {latencies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn factory_pubsub_wake_never_fires_for_pushed_jobs() {
    use apalis_redis::factory::RedisStorageFactory;
    let _serial = serial().await;
    let server = RedisServer::start().await;
    let heartbeat = Duration::from_secs(2);
    // A queue name without ':' (the factory parses the channel name on ':').
    let cfg = config("d18-factory").heartbeat_interval(heartbeat);
    let mut storage = storage(&server, &cfg).await;
    let probe = Probe::new(&server, &cfg).await;
    let runs = Runs::default();
    let mut factory = RedisStorageFactory::new(
        redis::Client::open(format!("{}?protocol=resp3", server.url())).unwrap(),
    )
    .await
    .unwrap();
    let backend: <RedisStorageFactory as BackendFactory<Job>>::Backend =
        factory.create_with_config(cfg.clone()).unwrap();
    let (trigger, shutdown) = shutdown_channel();
    let worker = WorkerBuilder::new("d18-factory")
        .backend(backend)
        .data(runs.clone())
        .build(handle);
    let idle = Running {
        trigger,
        handle: tokio::spawn(worker.run_until(until_shutdown(shutdown))),
    };
    let mut latencies = Vec::new();
    wait_until("registered", SHORT, || async {
        probe.worker_score("d18-factory").await.is_some()
    })
    .await;
    for n in 1..=2 {
        let seen = probe.worker_score("d18-factory").await.unwrap();
        wait_until("next heartbeat", SHORT, || async {
            probe.worker_score("d18-factory").await.unwrap() > seen
        })
        .await;
        storage.push(Job::ok(n)).await.unwrap();
        let latency = wait_until("job ran", SHORT, || async { runs.count() == n as usize }).await;
        latencies.push(latency);
    }
    idle.stop().await.unwrap();
    eprintln!("D18: factory (pubsub) worker latency, heartbeat {heartbeat:?}: {latencies:?}");
    // Pushes land in the scheduled ZSET, and only pushes to the active list PUBLISH
    // "...:available": the wake-up never comes, the heartbeat does.
    assert!(
        latencies.iter().any(|l| *l >= heartbeat / 2),
        "woken by pubsub: {latencies:?}"
    );
}
