//! Engine benchmarks (`cargo bench --bench engine`), figures recorded in docs/BENCHMARKS.md.
//!
//! 1. Pure engine steps per second on one thread for the join-request definition, over a mix
//!    of its paths (approve, approve + payment, reminder + reject, withdraw).
//! 2. Time to read, parse and validate 100 definition files from disk.
//!
//! Each figure is the median of several rounds, with min and max, so a busy moment on a shared
//! 2-core machine shows up as spread instead of silently moving the result.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark set-up fails loudly"
)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use certdesk_domain::calendar::BusinessCalendar;
use certdesk_engine::{
    Actor, ActorId, Catalog, Decision, Environment, Event, Instance, Templates, TimerKey,
    TimerSlot, load, step,
};
use chrono::{TimeDelta, TimeZone, Utc};

const ROUNDS: usize = 7;

fn main() {
    // `cargo bench` passes `--bench`; any other argument filters like libtest would.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let wants = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    if wants("steps") {
        steps(root);
    }
    if wants("load") {
        load_100(root);
    }
}

fn summary(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[0], xs[xs.len() / 2], xs[xs.len() - 1])
}

fn steps(root: &Path) {
    let registry = load::load_dir(
        &root.join("workflows"),
        &root.join("templates"),
        Catalog::standard(),
    )
    .unwrap();
    let def = registry.get("join_request").unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
    let plain =
        serde_json::json!({ "enterprise_id": "e1", "mode": "reason", "reason": "新入职员工" });
    let with_order = serde_json::json!({ "enterprise_id": "e1", "mode": "reason", "reason": "新入职员工", "order_id": "o1" });
    let payment = serde_json::json!({ "order_id": "o1", "amount": 30000 });
    let applicant = ActorId(1);
    let admin = Actor {
        id: ActorId(2),
        parties: 0b01,
    };

    // One lap drives four requests through different paths: 11 steps.
    let lap = |n: u64| -> u64 {
        let mut steps = 0u64;
        let mut refused = 0u64;
        let mut effects = 0usize;
        let mut go = |inst: &Instance, data: &serde_json::Value, event: &Event<'_>| -> Instance {
            let out = step(def, inst, data, event, t0).expect("valid step");
            steps += 1;
            effects += out.effects.len();
            out.instance
        };
        for i in 0..n {
            let approve = |inst: &Instance| {
                Event::Decide(Decision {
                    task: inst.entry,
                    actor: admin,
                    outcome: "approve",
                    reason: None,
                    comment: None,
                })
            };
            // approve
            let a = go(&Instance::new(def, applicant), &plain, &Event::Start);
            black_box(go(&a, &plain, &approve(&a)));
            // approve, then payment
            let b = go(&Instance::new(def, applicant), &with_order, &Event::Start);
            let b = go(&b, &with_order, &approve(&b));
            black_box(go(
                &b,
                &with_order,
                &Event::External {
                    name: "payment_confirmed",
                    payload: &payment,
                },
            ));
            // day-3 reminder, then reject with reason and comment
            let c = go(&Instance::new(def, applicant), &plain, &Event::Start);
            let c = go(
                &c,
                &plain,
                &Event::TimerFired(TimerKey {
                    entry: c.entry,
                    slot: TimerSlot::State(0),
                }),
            );
            let reject = Event::Decide(Decision {
                task: c.entry,
                actor: admin,
                outcome: "reject",
                reason: Some("not_employee"),
                comment: Some("经核实非本公司员工"),
            });
            black_box(go(&c, &plain, &reject));
            // withdraw, then a late decision that is refused (counted: the engine did the work)
            let d = go(&Instance::new(def, applicant), &plain, &Event::Start);
            let d = go(&d, &plain, &Event::Withdraw { actor: applicant });
            let late = step(def, &d, &plain, &approve(&d), t0 + TimeDelta::hours(1));
            black_box(late.is_err());
            refused += 1;
            black_box(i);
        }
        black_box(effects);
        steps + refused
    };

    lap(20_000); // warm up
    let mut rates = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let steps = lap(100_000);
        rates.push(steps as f64 / start.elapsed().as_secs_f64());
    }
    let (min, median, max) = summary(rates);
    println!(
        "engine steps/s, join_request, 1 thread: median {:.0}  (min {:.0}, max {:.0}; {ROUNDS} rounds of 1,100,000 steps)",
        median, min, max
    );
}

fn load_100(root: &Path) {
    // 100 files: copies of the product and fixture definitions under distinct names.
    let tmp = std::env::temp_dir().join(format!("certdesk-bench-load-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut bases = Vec::new();
    for dir in ["workflows", "tests/fixtures/valid"] {
        for source in load::read_dir(&root.join(dir)).unwrap() {
            if !source.text.contains("workflow = ") {
                bases.push(source.text);
            }
        }
    }
    let catalog = Catalog::standard()
        .with_action(
            "bank.send_micro_payment",
            vec![certdesk_engine::catalog::required(
                "amount_fen",
                certdesk_engine::catalog::ArgKind::Integer,
            )],
        )
        .with_action(
            "refund.execute",
            vec![certdesk_engine::catalog::required(
                "channel",
                certdesk_engine::catalog::ArgKind::Text,
            )],
        )
        .with_event(
            "bank_result",
            &[
                ("status", certdesk_engine::form::FieldType::Choice),
                ("reason", certdesk_engine::form::FieldType::Text),
            ],
        )
        .with_event(
            "code_entered",
            &[
                ("correct", certdesk_engine::form::FieldType::Boolean),
                ("attempts", certdesk_engine::form::FieldType::Integer),
            ],
        );
    for i in 0..100 {
        let base = &bases[i % bases.len()];
        let name_line = base.lines().find(|l| l.starts_with("name = ")).unwrap();
        let text = base.replacen(name_line, &format!("name = \"bench_{i:03}\""), 1);
        std::fs::write(tmp.join(format!("bench_{i:03}.toml")), text).unwrap();
    }
    // Product templates plus fixture templates.
    let mut pairs = Vec::new();
    for dir in ["templates", "tests/fixtures/templates"] {
        for channel in std::fs::read_dir(root.join(dir))
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
        {
            for f in std::fs::read_dir(channel.path()).unwrap().flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                if let Some(stem) = name.strip_suffix(".hbs") {
                    pairs.push((
                        channel.file_name().to_string_lossy().into_owned(),
                        stem.to_owned(),
                    ));
                }
            }
        }
    }
    let calendar = Arc::new(
        BusinessCalendar::from_toml_str(
            &std::fs::read_to_string(root.join("workflows/holidays.toml")).unwrap(),
        )
        .unwrap(),
    );
    let env = Environment {
        catalog,
        templates: Templates::from_pairs(pairs),
        calendar,
        lock: None,
    };

    let mut times = Vec::with_capacity(ROUNDS * 3);
    for _ in 0..ROUNDS * 3 {
        let start = Instant::now();
        let sources = load::read_dir(&tmp).unwrap();
        let registry = load::load_sources(&sources, &env).unwrap_or_else(|e| panic!("{}", e[0]));
        assert_eq!(registry.len(), 100);
        times.push(start.elapsed());
    }
    std::fs::remove_dir_all(&tmp).ok();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (min, median, max) = summary(times.into_iter().map(ms).collect());
    println!(
        "load + validate 100 definition files: median {median:.2} ms  (min {min:.2}, max {max:.2}; {} rounds)",
        ROUNDS * 3
    );
}
