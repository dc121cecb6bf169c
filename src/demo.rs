//! `certdesk demo`: demo data for a newcomer's first look, loaded again and again without
//! duplicating anything.
//!
//! What it loads: staff with every console role, three enterprises with their admins and legal
//! representatives, applicants with bearer tokens, and join requests in every state of
//! `workflows/join_request.toml`, one open leave request (`workflows/leave_enterprise.toml`) and
//! one open admin transfer (`workflows/admin_transfer.toml`), and two real-name reviews (a
//! passport and a Hong Kong permit, with document images) submitted through the JSON API for
//! the CS reviewers. Users, enterprises and memberships have fixed ids (UUID v5
//! from [`NAMESPACE`]) and are inserted with `ON CONFLICT DO NOTHING`; tokens are fixed strings,
//! so their SHA-256 (the `api_tokens` key) is fixed too. Each join request has its own demo
//! requester and is started only while that requester has no `join_request` instance.
//!
//! Join requests are never written by hand: they go through the [`Runtime`] (start, decide,
//! withdraw, payment, timers), so their history is signed and their outbox rows exist. Those
//! that must look old run on a runtime whose [`ManualClock`] starts days back and moves
//! forward, firing each timer at its due time; the rest run at the wall clock.
//!
//! It writes nothing but demo rows (and the definitions, as `serve` does), with one caveat it
//! guards against: firing timers at a past time fires *every* timer due by then. So backdated
//! requests are only started when no other requester's timer is overdue (as in a database
//! whose scheduler is not running); otherwise the loader stops before writing any demo row.
//!
//! The tokens are public (they are in this file): load the demo into demo and development
//! databases only.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use anyhow::{Context, bail};
use certdesk_domain::clock::{Clock, ManualClock};
use certdesk_domain::ident::{Email, Phone, Uscc};
use certdesk_runtime::{Command, Runtime};
use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::config::Config;

/// The namespace of every demo id: `Uuid::new_v5(&NAMESPACE, "user:chen-xiaoyan")` and so on.
pub const NAMESPACE: Uuid = Uuid::from_u128(0x5c1e_d35c_0d3e_4b7a_9a61_6465_6d6f_0001);

/// The `api_tokens.label` of demo tokens.
pub const TOKEN_LABEL: &str = "demo";

/// How long a demo token is valid from the load that created it.
const TOKEN_TTL: TimeDelta = TimeDelta::days(365);

/// How long the demo world has existed when it is first loaded (users, enterprises and
/// memberships are dated this far back, before the oldest backdated request).
const WORLD_AGE: TimeDelta = TimeDelta::days(30);

/// The definition every demo request runs.
const JOIN_REQUEST: &str = "join_request";

/// Beijing time, for the seal-use date an applicant would type.
const BEIJING: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

// ---- the demo world ------------------------------------------------------------------------

/// A demo person: `key` names the id, the token and the e-mail address.
#[derive(Debug, Clone, Copy)]
struct Person {
    key: &'static str,
    name: &'static str,
    phone: &'static str,
}

const fn person(key: &'static str, name: &'static str, phone: &'static str) -> Person {
    Person { key, name, phone }
}

/// Staff, one or more per console role (`staff_roles.role`).
const STAFF: [(Person, &str); 6] = [
    (person("zhang-min", "张敏", "19900000001"), "cs_reviewer"),
    (person("li-jing", "李静", "19900000002"), "cs_reviewer"),
    (person("wang-fang", "王芳", "19900000003"), "finance"),
    (person("liu-yang", "刘洋", "19900000004"), "finance_lead"),
    (person("chen-gang", "陈刚", "19900000005"), "supervisor"),
    (person("zhao-lei", "赵磊", "19900000006"), "sys_admin"),
];

/// Applicants: enterprise admins, legal representatives and the requester of each demo join
/// request. Each gets a bearer token.
const APPLICANTS: [Person; 20] = [
    person("chen-xiaoyan", "陈晓燕", "19900000101"),
    person("huang-zhiming", "黄志明", "19900000102"),
    person("lin-jianguo", "林建国", "19900000103"),
    person("wu-li", "吴丽", "19900000201"),
    person("zhou-zhenhua", "周振华", "19900000202"),
    person("sun-yue", "孙悦", "19900000301"),
    person("zheng-hong", "郑宏", "19900000302"),
    person("ma-chao", "马超", "19900000401"),
    person("he-jing", "何静", "19900000402"),
    person("luo-ping", "罗平", "19900000403"),
    person("gao-feng", "高峰", "19900000404"),
    person("liang-hong", "梁红", "19900000405"),
    person("song-tao", "宋涛", "19900000406"),
    person("tang-ying", "唐颖", "19900000407"),
    person("xu-lei", "许磊", "19900000408"),
    person("han-xue", "韩雪", "19900000409"),
    person("feng-xiaoyu", "冯晓宇", "19900000410"),
    person("qian-ming", "钱明", "19900000411"),
    person("anna-silva", "安娜", "19900000501"),
    person("chan-ka-ming", "陈家明", "19900000502"),
];

/// A real-name verification the provider cannot do (a passport, a Hong Kong / Macau permit):
/// submitted through the JSON API with document images, so it waits for a CS reviewer.
#[derive(Debug, Clone, Copy)]
struct NameReview {
    applicant: &'static str,
    id_type: &'static str,
    /// The name as on the document.
    name: &'static str,
    id_number: &'static str,
    valid_until: &'static str,
}

/// The CS reviewers' inbox has these from the first look.
const NAME_REVIEWS: [NameReview; 2] = [
    NameReview {
        applicant: "anna-silva",
        id_type: "passport",
        name: "ANNA SILVA",
        id_number: "FB1234567",
        valid_until: "2031-08-31",
    },
    NameReview {
        applicant: "chan-ka-ming",
        id_type: "hk_macau_permit",
        name: "陈家明",
        id_number: "H12345678",
        valid_until: "2030-03-15",
    },
];

/// Applicants who are real-name verified (a resident ID, as the provider would have checked):
/// an admin transfer needs a verified target.
const VERIFIED: [&str; 1] = ["qian-ming"];

/// A demo enterprise and the applicants who run it.
#[derive(Debug, Clone, Copy)]
struct Company {
    key: &'static str,
    name: &'static str,
    /// GB 32100-2015, check character included.
    uscc: &'static str,
    /// `enterprise` or `public_institution`.
    kind: &'static str,
    /// Applicant key of the legal representative.
    legal_rep: &'static str,
    /// Applicant keys of the enterprise admins.
    admins: &'static [&'static str],
    /// Applicant keys of plain members.
    members: &'static [&'static str],
}

const COMPANIES: [Company; 3] = [
    Company {
        key: "fz",
        name: "福州闽江数字科技有限公司",
        uscc: "91350102MA2XYD8K6J",
        kind: "enterprise",
        legal_rep: "lin-jianguo",
        admins: &["chen-xiaoyan", "huang-zhiming"],
        members: &["feng-xiaoyu"],
    },
    Company {
        key: "hz",
        name: "杭州西溪建设工程有限公司",
        uscc: "91330106MA28CQ7P37",
        kind: "enterprise",
        legal_rep: "zhou-zhenhua",
        admins: &["wu-li"],
        members: &["qian-ming"],
    },
    Company {
        key: "cd",
        name: "成都天府市政设计研究院",
        uscc: "12510100MB1C40395N",
        kind: "public_institution",
        legal_rep: "zheng-hong",
        admins: &["sun-yue"],
        members: &[],
    },
];

/// What a demo request asks for (the join-request form).
#[derive(Debug, Clone, Copy)]
enum Ask {
    /// Verify-admin mode, naming the enterprise's first admin and the last four digits of
    /// that admin's phone.
    VerifyAdmin,
    /// Reason mode.
    Reason(&'static str),
    /// Reason mode, asking for seal-use rights for a year.
    ReasonWithSeal(&'static str),
    /// Reason mode with a package: the order id is in the form, so approval waits for payment.
    ReasonWithOrder(&'static str),
}

/// Something done to a demo request.
#[derive(Debug, Clone, Copy)]
enum Action {
    /// The requester submits.
    Start,
    /// An admin or legal representative (an applicant key) decides.
    Decide {
        by: &'static str,
        outcome: &'static str,
        reason: Option<&'static str>,
        comment: Option<&'static str>,
    },
    /// The requester withdraws.
    Withdraw,
    /// The payment sandbox confirms the order (amount in fen).
    Pay(i64),
}

/// An action and how long before the load it happened (zero: at the wall clock).
#[derive(Debug, Clone, Copy)]
struct Step {
    ago: TimeDelta,
    action: Action,
}

const fn at_load(action: Action) -> Step {
    Step {
        ago: TimeDelta::zero(),
        action,
    }
}

const fn before(ago: TimeDelta, action: Action) -> Step {
    Step { ago, action }
}

/// A demo join request: its own requester, its enterprise, its story and where it ends.
#[derive(Debug, Clone, Copy)]
struct Request {
    requester: &'static str,
    company: &'static str,
    ask: Ask,
    steps: &'static [Step],
    /// The state it rests in once loaded.
    expect: &'static str,
}

impl Request {
    /// Whether it runs on the backdated clock (its first step lies in the past).
    fn backdated(&self) -> bool {
        self.steps
            .first()
            .is_some_and(|s| s.ago > TimeDelta::zero())
    }
}

const fn days(d: i64) -> TimeDelta {
    TimeDelta::days(d)
}

const REQUESTS: [Request; 9] = [
    Request {
        requester: "ma-chao",
        company: "fz",
        ask: Ask::VerifyAdmin,
        steps: &[at_load(Action::Start)],
        expect: "admin_review",
    },
    Request {
        requester: "he-jing",
        company: "hz",
        ask: Ask::Reason("新入职的投标专员，负责公司电子投标。"),
        // Four days old: the day-3 reminder to the admins has fired.
        steps: &[before(days(4), Action::Start)],
        expect: "admin_review",
    },
    Request {
        requester: "luo-ping",
        company: "fz",
        ask: Ask::ReasonWithSeal("商务部经理，需要代表公司签署投标文件。"),
        steps: &[
            at_load(Action::Start),
            at_load(Action::Decide {
                by: "huang-zhiming",
                outcome: "approve",
                reason: None,
                comment: None,
            }),
        ],
        expect: "joined",
    },
    Request {
        requester: "gao-feng",
        company: "cd",
        ask: Ask::Reason("我是贵院合作单位的投标代理。"),
        steps: &[
            at_load(Action::Start),
            at_load(Action::Decide {
                by: "zheng-hong",
                outcome: "reject",
                reason: Some("not_employee"),
                comment: Some("经核实，申请人不是本院职工，请由合作单位自行办理。"),
            }),
        ],
        expect: "rejected",
    },
    Request {
        requester: "liang-hong",
        company: "hz",
        ask: Ask::Reason("财务部新同事。"),
        steps: &[at_load(Action::Start), at_load(Action::Withdraw)],
        expect: "withdrawn",
    },
    Request {
        requester: "song-tao",
        company: "cd",
        ask: Ask::Reason("院办新同事，负责采购项目投标。"),
        // Eight days without an answer: reminded on day 3, expired on day 7.
        steps: &[before(days(8), Action::Start)],
        expect: "expired",
    },
    Request {
        requester: "tang-ying",
        company: "fz",
        ask: Ask::ReasonWithOrder("市场部新同事，已选购证书套餐。"),
        steps: &[
            at_load(Action::Start),
            at_load(Action::Decide {
                by: "chen-xiaoyan",
                outcome: "approve",
                reason: None,
                comment: None,
            }),
        ],
        expect: "awaiting_payment",
    },
    Request {
        requester: "xu-lei",
        company: "hz",
        ask: Ask::ReasonWithOrder("工程部新同事，已选购证书套餐。"),
        steps: &[
            at_load(Action::Start),
            at_load(Action::Decide {
                by: "wu-li",
                outcome: "approve",
                reason: None,
                comment: None,
            }),
            at_load(Action::Pay(30000)),
        ],
        expect: "joined",
    },
    Request {
        requester: "han-xue",
        company: "cd",
        ask: Ask::ReasonWithOrder("设计所新同事，已选购证书套餐。"),
        // Approved nine days ago and never paid: closed as unpaid after seven days.
        steps: &[
            before(days(9), Action::Start),
            before(
                TimeDelta::hours(9 * 24 - 2),
                Action::Decide {
                    by: "sun-yue",
                    outcome: "approve",
                    reason: None,
                    comment: None,
                },
            ),
        ],
        expect: "unpaid",
    },
];

/// A demo request of one of the enterprise-membership chains, left open for a decision.
#[derive(Debug, Clone, Copy)]
struct MemberRequest {
    /// `leave_enterprise` or `admin_transfer`.
    definition: &'static str,
    requester: &'static str,
    company: &'static str,
    /// The member the admin role goes to (admin transfers).
    target: Option<&'static str>,
    reason: &'static str,
    /// Who decides it in the printed example.
    decider: &'static str,
}

const MEMBER_REQUESTS: [MemberRequest; 2] = [
    MemberRequest {
        definition: "leave_enterprise",
        requester: "feng-xiaoyu",
        company: "fz",
        target: None,
        reason: "已从公司离职，申请退出企业。",
        decider: "chen-xiaoyan",
    },
    MemberRequest {
        definition: "admin_transfer",
        requester: "wu-li",
        company: "hz",
        target: Some("qian-ming"),
        reason: "本人调往分公司，由钱明接任企业管理员。",
        decider: "zhou-zhenhua",
    },
];

impl MemberRequest {
    fn input(&self) -> anyhow::Result<Value> {
        let c = company(self.company)?;
        let mut input = json!({
            "enterprise_id": demo_id("enterprise", c.key).to_string(),
            "reason": self.reason,
        });
        if let Some(target) = self.target {
            input["target_user_id"] = json!(demo_id("user", target).to_string());
        }
        Ok(input)
    }
}

/// The fixed id of a demo thing: `kind` is `user`, `enterprise`, `order` or `token`.
fn demo_id(kind: &str, key: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("{kind}:{key}").as_bytes())
}

/// The bearer token of a demo applicant: `demo-<key>-<32 hex>`, URL-safe and fixed.
fn token_for(key: &str) -> String {
    format!("demo-{key}-{}", demo_id("token", key).simple())
}

/// The e-mail address of a demo person.
fn email_for(key: &str) -> String {
    format!("{}@example.com", key.replace('-', "."))
}

fn applicant(key: &str) -> anyhow::Result<&'static Person> {
    APPLICANTS
        .iter()
        .find(|p| p.key == key)
        .with_context(|| format!("demo applicant `{key}` is not in APPLICANTS"))
}

fn company(key: &str) -> anyhow::Result<&'static Company> {
    COMPANIES
        .iter()
        .find(|c| c.key == key)
        .with_context(|| format!("demo enterprise `{key}` is not in COMPANIES"))
}

/// Checks every demo phone, e-mail and USCC with the validators the API uses.
fn check_world() -> anyhow::Result<()> {
    for p in STAFF.iter().map(|(p, _)| p).chain(APPLICANTS.iter()) {
        Phone::parse(p.phone)
            .map_err(|e| anyhow::anyhow!("demo phone {} of {}: {}", p.phone, p.key, e.code))?;
        let email = email_for(p.key);
        Email::parse(&email).map_err(|e| anyhow::anyhow!("demo e-mail {email}: {}", e.code))?;
    }
    for c in &COMPANIES {
        Uscc::parse(c.uscc)
            .map_err(|e| anyhow::anyhow!("demo USCC {} of {}: {}", c.uscc, c.name, e.code))?;
        applicant(c.legal_rep)?;
        for a in c.admins.iter().chain(c.members) {
            applicant(a)?;
        }
    }
    for key in VERIFIED {
        applicant(key)?;
    }
    for m in &MEMBER_REQUESTS {
        let c = company(m.company)?;
        applicant(m.requester)?;
        if !c.admins.contains(&m.decider) && c.legal_rep != m.decider {
            bail!(
                "demo {} of {}: the decider decides nothing there",
                m.definition,
                m.requester
            );
        }
        if let Some(t) = m.target
            && !(c.members.contains(&t) && VERIFIED.contains(&t))
        {
            bail!("demo admin transfer to {t}: the target must be a verified member");
        }
    }
    for r in &REQUESTS {
        applicant(r.requester)?;
        company(r.company)?;
        if r.steps
            .iter()
            .any(|s| (s.ago > TimeDelta::zero()) != r.backdated())
        {
            bail!(
                "demo request of {}: steps are either all backdated or all now",
                r.requester
            );
        }
    }
    Ok(())
}

/// The form a demo request submits.
fn form_input(r: &Request, now: DateTime<Utc>) -> anyhow::Result<Value> {
    let c = company(r.company)?;
    let enterprise = demo_id("enterprise", c.key).to_string();
    Ok(match r.ask {
        Ask::VerifyAdmin => {
            let admin = applicant(
                c.admins
                    .first()
                    .context("a demo enterprise without admin")?,
            )?;
            let last4 = admin
                .phone
                .get(admin.phone.len().saturating_sub(4)..)
                .unwrap_or_default();
            json!({ "enterprise_id": enterprise, "mode": "verify_admin",
                    "admin_name": admin.name, "admin_phone_last4": last4 })
        }
        Ask::Reason(reason) => {
            json!({ "enterprise_id": enterprise, "mode": "reason", "reason": reason })
        }
        Ask::ReasonWithSeal(reason) => {
            let until = (now + TOKEN_TTL).with_timezone(&BEIJING).date_naive();
            json!({ "enterprise_id": enterprise, "mode": "reason", "reason": reason,
                    "seal_use": true, "seal_use_until": until.format("%Y-%m-%d").to_string() })
        }
        Ask::ReasonWithOrder(reason) => json!({
            "enterprise_id": enterprise, "mode": "reason", "reason": reason,
            "order_id": demo_id("order", r.requester).to_string(),
        }),
    })
}

// ---- loading -------------------------------------------------------------------------------

/// What the loader did and how to sign in.
#[derive(Debug, Default)]
pub struct Summary {
    /// Lines to print.
    pub lines: Vec<String>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// Rows a load added, per table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Added {
    users: usize,
    staff_roles: usize,
    enterprises: usize,
    memberships: usize,
    tokens: usize,
    requests: usize,
    member_requests: usize,
    name_reviews: usize,
}

impl Added {
    fn total(&self) -> usize {
        self.users
            + self.staff_roles
            + self.enterprises
            + self.memberships
            + self.tokens
            + self.requests
            + self.member_requests
            + self.name_reviews
    }
}

/// Loads the demo data into the configured (migrated) database.
pub async fn load(config: &Config) -> anyhow::Result<Summary> {
    check_world()?;
    let real = crate::app::runtime(config)?;
    real.sync_definitions()
        .await
        .context("recording the workflow definitions")?;
    let now = real.clock().now();
    let mut conn = real
        .pool()
        .get()
        .await
        .context("connecting to PostgreSQL")?;

    // Which requests are still to be made: a demo requester with any join request is done.
    let mut missing = Vec::new();
    for r in &REQUESTS {
        if db::request_of(&mut conn, demo_id("user", r.requester))
            .await?
            .is_none()
        {
            missing.push(*r);
        }
    }
    let (old, fresh): (Vec<Request>, Vec<Request>) =
        missing.into_iter().partition(Request::backdated);
    if !old.is_empty() {
        let foreign = db::overdue_foreign_timers(&mut conn, now).await?;
        if foreign > 0 {
            bail!(
                "{foreign} timer(s) of non-demo requests are overdue, and the demo fires timers at \
                 past times to backdate its requests, which would fire those too: run the \
                 scheduler first, or load the demo into a database of its own (nothing was loaded)"
            );
        }
    }

    let mut added = db::seed_directory(&mut conn, now).await?;
    drop(conn);
    if !old.is_empty() {
        load_backdated(config, &old, now).await?;
    }
    for r in &fresh {
        let mut ids = HashMap::new();
        for step in r.steps {
            act(&real, r, step.action, now, &mut ids).await?;
        }
    }
    added.requests = old.len() + fresh.len();
    for m in &MEMBER_REQUESTS {
        let requester = demo_id("user", m.requester);
        let mut conn = real
            .pool()
            .get()
            .await
            .context("connecting to PostgreSQL")?;
        if db::instance_of(&mut conn, m.definition, requester)
            .await?
            .is_some()
        {
            continue;
        }
        drop(conn);
        let c = company(m.company)?;
        real.start(
            m.definition,
            requester,
            Some(demo_id("enterprise", c.key)),
            &m.input()?,
        )
        .await
        .with_context(|| format!("demo {} of {}", m.definition, m.requester))?;
        added.member_requests += 1;
    }
    added.name_reviews = real_name_reviews(config, &real).await?;

    summarize(config, &real, now, added).await
}

/// Submits each of [`NAME_REVIEWS`] whose applicant has not verified yet, through the JSON API
/// (in process): the images are uploaded as an applicant's phone would, and the submission
/// starts the `real_name_review` chain as it does for anyone.
async fn real_name_reviews(config: &Config, rt: &Runtime) -> anyhow::Result<usize> {
    use actix_web::{App, test, web};
    use certdesk_api::sample;

    let state = web::Data::new(crate::app::demo_api_state(config, rt)?);
    let app = test::init_service(
        App::new()
            .app_data(state)
            .configure(certdesk_api::configure),
    )
    .await;
    let mut added = 0;
    for r in &NAME_REVIEWS {
        let user = demo_id("user", r.applicant);
        let mut conn = rt.pool().get().await.context("connecting to PostgreSQL")?;
        if db::real_name_status(&mut conn, user).await?.as_deref() != Some("none") {
            continue;
        }
        drop(conn);
        let bearer = format!("Bearer {}", token_for(r.applicant));
        let mut ids = Vec::new();
        for (purpose, image) in [
            ("passport", sample::passport(640, 440)),
            ("face_photo", sample::portrait(330, 440)),
        ] {
            let req = test::TestRequest::post()
                .uri(&format!("/api/v1/files?purpose={purpose}"))
                .insert_header(("authorization", bearer.as_str()))
                .insert_header(("content-type", "image/png"))
                .set_payload(image)
                .to_request();
            let res = test::call_service(&app, req).await;
            let status = res.status();
            let body: Value = serde_json::from_slice(&test::read_body(res).await)
                .with_context(|| format!("the upload of {}'s {purpose}", r.applicant))?;
            if !status.is_success() {
                bail!("uploading {}'s {purpose}: {status} {body}", r.applicant);
            }
            ids.push(body["id"].clone());
        }
        let req = test::TestRequest::post()
            .uri("/api/v1/me/real-name")
            .insert_header(("authorization", bearer.as_str()))
            .set_json(json!({
                "id_type": r.id_type,
                "name": r.name,
                "id_number": r.id_number,
                "valid_until": r.valid_until,
                "document_front": ids[0],
                "portrait": ids[1],
            }))
            .to_request();
        let res = test::call_service(&app, req).await;
        let status = res.status();
        if !status.is_success() {
            let body = test::read_body(res).await;
            bail!(
                "submitting {}'s real-name review: {status} {}",
                r.applicant,
                String::from_utf8_lossy(&body)
            );
        }
        added += 1;
    }
    Ok(added)
}

/// Runs the backdated requests on a manual clock, in time order, firing each timer when it
/// falls due, and ends at `now` with every timer due by then fired.
async fn load_backdated(
    config: &Config,
    requests: &[Request],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut timeline: Vec<(DateTime<Utc>, Request, Action)> = requests
        .iter()
        .flat_map(|r| r.steps.iter().map(move |s| (now - s.ago, *r, s.action)))
        .collect();
    timeline.sort_by_key(|(at, ..)| *at);
    let start = timeline.first().map_or(now, |(at, ..)| *at);
    let clock = Arc::new(ManualClock::new(start));
    let past = crate::app::runtime_with_clock(config, clock.clone())?;
    // Recorded already by the wall-clock runtime; this one checks it for itself.
    past.sync_definitions()
        .await
        .context("recording the workflow definitions")?;
    let mut ids = HashMap::new();
    for (at, r, action) in timeline {
        advance_to(&past, &clock, at).await?;
        act(&past, &r, action, now, &mut ids).await?;
    }
    advance_to(&past, &clock, now).await
}

/// Moves the clock to `to`, stopping at each timer due on the way and firing it then, so its
/// history entry carries its due time.
async fn advance_to(rt: &Runtime, clock: &ManualClock, to: DateTime<Utc>) -> anyhow::Result<()> {
    // Each round fires at least the earliest due timer (or deletes it as stale), so this ends;
    // the bound only guards against a scheduler holding the same rows.
    for _ in 0..1000 {
        let next = {
            let mut conn = rt.pool().get().await.context("connecting to PostgreSQL")?;
            db::next_due(&mut conn, to).await?
        };
        let Some(due) = next else {
            clock.set(to.max(clock.now()));
            return Ok(());
        };
        clock.set(due.max(clock.now()));
        rt.fire_due_timers(1000)
            .await
            .context("firing the demo requests' timers")?;
    }
    bail!(
        "timers kept falling due while loading the demo: is a scheduler running against this database?"
    )
}

/// Does one action of a demo request on `rt`; `ids` maps requesters to the instances started.
async fn act(
    rt: &Runtime,
    r: &Request,
    action: Action,
    now: DateTime<Utc>,
    ids: &mut HashMap<&'static str, Uuid>,
) -> anyhow::Result<()> {
    let requester = demo_id("user", r.requester);
    let what = || format!("demo join request of {}: {action:?}", r.requester);
    let started = ids.get(r.requester).copied();
    let instance = || started.with_context(|| format!("{}: not started", what()));
    let (instance, command) = match action {
        Action::Start => {
            let c = company(r.company)?;
            let started = rt
                .start(
                    JOIN_REQUEST,
                    requester,
                    Some(demo_id("enterprise", c.key)),
                    &form_input(r, now)?,
                )
                .await
                .with_context(what)?;
            ids.insert(r.requester, started.instance_id);
            return Ok(());
        }
        Action::Decide {
            by,
            outcome,
            reason,
            comment,
        } => {
            let instance = instance()?;
            let mut conn = rt.pool().get().await.context("connecting to PostgreSQL")?;
            let task_id = db::open_task(&mut conn, instance)
                .await?
                .with_context(|| format!("{}: no open task", what()))?;
            let command = Command::Decide {
                task_id,
                actor: demo_id("user", by),
                outcome: outcome.to_owned(),
                reason: reason.map(str::to_owned),
                comment: comment.map(str::to_owned),
            };
            (instance, command)
        }
        Action::Withdraw => (instance()?, Command::Withdraw { actor: requester }),
        Action::Pay(amount) => (
            instance()?,
            Command::External {
                name: "payment_confirmed".to_owned(),
                payload: json!({
                    "order_id": demo_id("order", r.requester).to_string(), "amount": amount,
                }),
                source: "payment:sandbox".to_owned(),
            },
        ),
    };
    rt.command(instance, command).await.with_context(what)?;
    Ok(())
}

// ---- the summary ---------------------------------------------------------------------------

/// What was added, and the sign-in facts, read back from the database so a second run
/// prints them too.
async fn summarize(
    config: &Config,
    rt: &Runtime,
    now: DateTime<Utc>,
    added: Added,
) -> anyhow::Result<Summary> {
    let mut conn = rt.pool().get().await.context("connecting to PostgreSQL")?;
    let mut lines = Vec::new();
    if added.total() == 0 {
        lines.push(
            "certdesk demo: nothing new loaded; the demo data was already in this database."
                .to_owned(),
        );
    } else {
        lines.push(format!(
            "certdesk demo: loaded {} user(s), {} staff role(s), {} enterprise(s), {} membership(s), \
             {} bearer token(s), {} join request(s), {} leave/admin-transfer request(s) and {} \
             real-name review(s).",
            added.users,
            added.staff_roles,
            added.enterprises,
            added.memberships,
            added.tokens,
            added.requests,
            added.member_requests,
            added.name_reviews
        ));
    }
    lines.push("Every demo user and enterprise has is_demo = true.".to_owned());

    lines.push(String::new());
    lines.push("Enterprises:".to_owned());
    for c in &COMPANIES {
        let admins: Vec<&str> = c
            .admins
            .iter()
            .map(|a| applicant(a).map(|p| p.name))
            .collect::<anyhow::Result<_>>()?;
        lines.push(format!(
            "  {}  USCC {}  id {}",
            c.name,
            c.uscc,
            demo_id("enterprise", c.key)
        ));
        lines.push(format!(
            "    admins: {}; legal representative: {}",
            admins.join(", "),
            applicant(c.legal_rep)?.name
        ));
    }

    lines.push(String::new());
    lines.push(format!(
        "Staff: sign in at {}/admin/login with the e-mail or phone below, the password '{}' and \
         the code `certdesk staff totp <e-mail>` prints (demo accounts only):",
        config.admin_origin,
        certdesk_admin::staff::DEMO_PASSWORD
    ));
    for (p, role) in &STAFF {
        lines.push(format!(
            "  {}  {role}  {}  {}",
            p.name,
            email_for(p.key),
            p.phone
        ));
    }

    lines.push(String::new());
    lines.push(format!(
        "Bearer tokens (label '{TOKEN_LABEL}'; send as Authorization: Bearer <token>):"
    ));
    for p in &APPLICANTS {
        let token = token_for(p.key);
        let validity = match db::token_validity(&mut conn, &token).await? {
            Some((_, Some(revoked))) => format!("REVOKED {}", revoked.format("%Y-%m-%d")),
            Some((expires, None)) if expires <= now => {
                format!("EXPIRED {}", expires.format("%Y-%m-%d"))
            }
            Some((expires, None)) => format!("valid until {}", expires.format("%Y-%m-%d")),
            None => "NOT STORED".to_owned(),
        };
        lines.push(format!(
            "  {token}  {} ({}; {validity})",
            p.name,
            role_of(p.key)
        ));
    }

    lines.push(String::new());
    lines.push("Join requests (join_request):".to_owned());
    let mut pending = None;
    for r in &REQUESTS {
        let c = company(r.company)?;
        let requester = applicant(r.requester)?;
        let Some((id, state)) = db::request_of(&mut conn, demo_id("user", r.requester)).await?
        else {
            lines.push(format!("  (missing)  {} → {}", requester.name, c.name));
            continue;
        };
        let note = if state == r.expect {
            String::new()
        } else {
            format!(
                "  (expected {}: an earlier load stopped half-way?)",
                r.expect
            )
        };
        lines.push(format!(
            "  {state:<16} {id}  {} → {}{note}",
            requester.name, c.name
        ));
        if pending.is_none() && state == "admin_review" {
            pending = Some((id, *c));
        }
    }

    lines.push(String::new());
    lines.push("Leave requests and admin transfers (open, for a decision):".to_owned());
    let mut member_examples = Vec::new();
    for m in &MEMBER_REQUESTS {
        let c = company(m.company)?;
        let requester = applicant(m.requester)?;
        let Some((id, state)) =
            db::instance_of(&mut conn, m.definition, demo_id("user", m.requester)).await?
        else {
            lines.push(format!("  (missing)  {} {}", m.definition, requester.name));
            continue;
        };
        let what = match m.target {
            Some(t) => format!("{} → {} ({})", requester.name, applicant(t)?.name, c.name),
            None => format!("{} leaves {}", requester.name, c.name),
        };
        lines.push(format!("  {state:<16} {id}  {}: {what}", m.definition));
        member_examples.push((m, id, *c));
    }

    let host = if config.listen.ip().is_unspecified() {
        format!("127.0.0.1:{}", config.listen.port())
    } else {
        config.listen.to_string()
    };
    lines.push(String::new());
    lines.push("Try it (start the API with `certdesk serve`):".to_owned());
    if let Some((id, c)) = pending {
        let admin = token_for(
            c.admins
                .first()
                .context("a demo enterprise without admin")?,
        );
        lines.push(format!(
            "  curl -H 'Authorization: Bearer {admin}' 'http://{host}/api/v1/enterprises/{}/join-requests?state=admin_review'",
            demo_id("enterprise", c.key)
        ));
        lines.push(format!(
            "  curl -H 'Authorization: Bearer {admin}' -H 'Content-Type: application/json' -d '{{\"outcome\":\"approve\"}}' http://{host}/api/v1/join-requests/{id}/decision"
        ));
    }
    for (m, id, c) in member_examples {
        let (list, base) = match m.definition {
            "admin_transfer" => ("admin-transfers", "admin-transfers"),
            _ => ("leave-requests", "leave-requests"),
        };
        let decider = token_for(m.decider);
        lines.push(format!(
            "  curl -H 'Authorization: Bearer {decider}' 'http://{host}/api/v1/enterprises/{}/{list}'",
            demo_id("enterprise", c.key)
        ));
        lines.push(format!(
            "  curl -H 'Authorization: Bearer {decider}' -H 'Content-Type: application/json' -d '{{\"outcome\":\"approve\"}}' http://{host}/api/v1/{base}/{id}/decision"
        ));
    }
    let searcher = token_for(REQUESTS[0].requester);
    lines.push(format!(
        "  curl -H 'Authorization: Bearer {searcher}' 'http://{host}/api/v1/enterprises?uscc={}'",
        COMPANIES[0].uscc
    ));
    Ok(Summary { lines })
}

/// How a demo applicant figures in the demo, for the token list.
fn role_of(key: &str) -> String {
    for c in &COMPANIES {
        if c.admins.contains(&key) {
            return format!("admin of {}", c.name);
        }
        if c.legal_rep == key {
            return format!("legal representative of {}", c.name);
        }
        if c.members.contains(&key) {
            return format!("member of {}", c.name);
        }
    }
    match REQUESTS.iter().find(|r| r.requester == key) {
        Some(r) => format!("requester of a join request, {}", r.expect),
        None => "applicant".to_owned(),
    }
}

// ---- the queries ---------------------------------------------------------------------------

/// The demo's queries, with explicit diesel imports (DEPENDENCIES G6).
mod db {
    use anyhow::{Context, bail};
    use certdesk_store::schema::{
        api_tokens, enterprises, instances, memberships, staff_roles, tasks, timers, users,
    };
    use chrono::{DateTime, Utc};
    use diesel::sql_types::Bytea;
    use diesel::{ExpressionMethods, NullableExpressionMethods, OptionalExtension, QueryDsl};
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    use uuid::Uuid;

    use super::{
        APPLICANTS, Added, COMPANIES, JOIN_REQUEST, STAFF, TOKEN_LABEL, TOKEN_TTL, VERIFIED,
        WORLD_AGE, demo_id, email_for, token_for,
    };

    #[diesel::declare_sql_function]
    extern "SQL" {
        /// PostgreSQL's SHA-256, the hash `api_tokens` keys tokens by.
        fn sha256(bytes: Bytea) -> Bytea;
    }

    /// Inserts the demo users, staff roles, enterprises, memberships and tokens that are not
    /// there yet, in one transaction.
    pub(super) async fn seed_directory(
        conn: &mut AsyncPgConnection,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Added> {
        let since = now - WORLD_AGE;
        let expires = now + TOKEN_TTL;
        conn.transaction::<_, anyhow::Error, _>(async move |conn| {
            let mut added = Added::default();
            let people = STAFF
                .iter()
                .map(|(p, _)| (p, "staff"))
                .chain(APPLICANTS.iter().map(|p| (p, "applicant")));
            for (p, kind) in people {
                let id = demo_id("user", p.key);
                added.users += diesel::insert_into(users::table)
                    .values((
                        users::id.eq(id),
                        users::kind.eq(kind),
                        users::name.eq(p.name),
                        users::phone.eq(p.phone),
                        users::email.eq(email_for(p.key)),
                        users::is_demo.eq(true),
                        users::created_at.eq(since),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await
                    .with_context(|| format!("inserting demo user {}", p.key))?;
                // A conflict on the phone, not the id, means someone else has this number.
                let mine: bool = users::table
                    .select(users::is_demo)
                    .find(id)
                    .first(conn)
                    .await
                    .optional()?
                    .unwrap_or(false);
                if !mine {
                    bail!(
                        "demo user {} ({}) cannot be added: phone {} belongs to another user",
                        p.name,
                        p.key,
                        p.phone
                    );
                }
            }
            for (p, role) in &STAFF {
                added.staff_roles += diesel::insert_into(staff_roles::table)
                    .values((
                        staff_roles::user_id.eq(demo_id("user", p.key)),
                        staff_roles::role.eq(*role),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await
                    .with_context(|| format!("giving demo staff {} the role {role}", p.key))?;
                // The console sign-in: the demo password and a TOTP secret fixed per person.
                certdesk_admin::staff::ensure_demo_credentials(
                    conn,
                    demo_id("user", p.key),
                    p.key,
                    now,
                )
                .await
                .with_context(|| format!("giving demo staff {} console credentials", p.key))?;
            }
            for c in &COMPANIES {
                let id = demo_id("enterprise", c.key);
                let legal_rep = super::applicant(c.legal_rep)?;
                added.enterprises += diesel::insert_into(enterprises::table)
                    .values((
                        enterprises::id.eq(id),
                        enterprises::uscc.eq(c.uscc),
                        enterprises::name.eq(c.name),
                        enterprises::kind.eq(c.kind),
                        enterprises::legal_rep_name.eq(legal_rep.name),
                        enterprises::status.eq("active"),
                        enterprises::is_demo.eq(true),
                        enterprises::created_at.eq(since),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await
                    .with_context(|| format!("inserting demo enterprise {}", c.name))?;
                let mine: bool = enterprises::table
                    .select(enterprises::is_demo)
                    .find(id)
                    .first(conn)
                    .await
                    .optional()?
                    .unwrap_or(false);
                if !mine {
                    bail!(
                        "demo enterprise {} cannot be added: USCC {} belongs to another enterprise",
                        c.name,
                        c.uscc
                    );
                }
                let members = c
                    .admins
                    .iter()
                    .map(|a| (*a, "enterprise_admin"))
                    .chain([(c.legal_rep, "legal_rep")])
                    .chain(c.members.iter().map(|m| (*m, "member")));
                for (key, role) in members {
                    added.memberships += diesel::insert_into(memberships::table)
                        .values((
                            memberships::enterprise_id.eq(id),
                            memberships::user_id.eq(demo_id("user", key)),
                            memberships::role.eq(role),
                            memberships::created_at.eq(since),
                        ))
                        .on_conflict_do_nothing()
                        .execute(conn)
                        .await
                        .with_context(|| format!("making {key} {role} of {}", c.name))?;
                }
            }
            // Real-name verified as the provider would leave them (only a masked number and a
            // digest are kept); never touches an applicant who went through verification.
            for key in VERIFIED {
                let p = super::applicant(key)?;
                diesel::update(
                    users::table
                        .filter(users::id.eq(demo_id("user", key)))
                        .filter(users::real_name_status.eq("none")),
                )
                .set((
                    users::real_name_status.eq("verified"),
                    users::real_name_name.eq(p.name),
                    users::real_name_id_type.eq("resident_id"),
                    users::real_name_id_masked.eq("350102********0011"),
                    users::real_name_id_digest
                        .eq(sha256(format!("demo-id:{key}").into_bytes()).nullable()),
                    users::real_name_updated_at.eq(since),
                    users::real_name_verified_at.eq(since),
                ))
                .execute(conn)
                .await
                .with_context(|| format!("marking demo applicant {key} real-name verified"))?;
            }
            for p in &APPLICANTS {
                added.tokens += diesel::insert_into(api_tokens::table)
                    .values((
                        api_tokens::token_sha256.eq(sha256(token_for(p.key).into_bytes())),
                        api_tokens::user_id.eq(demo_id("user", p.key)),
                        api_tokens::label.eq(TOKEN_LABEL),
                        api_tokens::created_at.eq(now),
                        api_tokens::expires_at.eq(expires),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await
                    .with_context(|| format!("storing the demo token of {}", p.key))?;
            }
            Ok(added)
        })
        .await
    }

    /// A user's real-name status (`none`, `pending_review`, `verified`, …).
    pub(super) async fn real_name_status(
        conn: &mut AsyncPgConnection,
        user: Uuid,
    ) -> anyhow::Result<Option<String>> {
        users::table
            .find(user)
            .select(users::real_name_status)
            .first(conn)
            .await
            .optional()
            .context("reading a demo applicant's real-name status")
    }

    /// The requester's (first) join request and its state.
    pub(super) async fn request_of(
        conn: &mut AsyncPgConnection,
        requester: Uuid,
    ) -> anyhow::Result<Option<(Uuid, String)>> {
        instances::table
            .select((instances::id, instances::state))
            .filter(instances::definition.eq(JOIN_REQUEST))
            .filter(instances::requester.eq(requester))
            .order(instances::created_at)
            .first(conn)
            .await
            .optional()
            .context("looking up a demo join request")
    }

    /// The requester's (first) instance of `definition` and its state.
    pub(super) async fn instance_of(
        conn: &mut AsyncPgConnection,
        definition: &str,
        requester: Uuid,
    ) -> anyhow::Result<Option<(Uuid, String)>> {
        instances::table
            .select((instances::id, instances::state))
            .filter(instances::definition.eq(definition.to_owned()))
            .filter(instances::requester.eq(requester))
            .order(instances::created_at)
            .first(conn)
            .await
            .optional()
            .context("looking up a demo request")
    }

    /// The open task of an instance.
    pub(super) async fn open_task(
        conn: &mut AsyncPgConnection,
        instance: Uuid,
    ) -> anyhow::Result<Option<Uuid>> {
        tasks::table
            .select(tasks::id)
            .filter(tasks::instance_id.eq(instance))
            .filter(tasks::status.eq("open"))
            .first(conn)
            .await
            .optional()
            .context("looking up the open task of a demo join request")
    }

    /// Timers due by `at` of instances whose requester is not a demo user.
    pub(super) async fn overdue_foreign_timers(
        conn: &mut AsyncPgConnection,
        at: DateTime<Utc>,
    ) -> anyhow::Result<i64> {
        let demo_users = users::table
            .select(users::id)
            .filter(users::is_demo.eq(true));
        timers::table
            .inner_join(instances::table)
            .filter(timers::due_at.le(at))
            .filter(diesel::dsl::not(instances::requester.eq_any(demo_users)))
            .count()
            .get_result(conn)
            .await
            .context("looking for overdue timers")
    }

    /// The earliest timer due by `at`.
    pub(super) async fn next_due(
        conn: &mut AsyncPgConnection,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        timers::table
            .select(diesel::dsl::min(timers::due_at))
            .filter(timers::due_at.le(at))
            .first(conn)
            .await
            .context("looking for due timers")
    }

    /// When a token expires and whether it was revoked, if it is stored.
    pub(super) async fn token_validity(
        conn: &mut AsyncPgConnection,
        token: &str,
    ) -> anyhow::Result<Option<(DateTime<Utc>, Option<DateTime<Utc>>)>> {
        api_tokens::table
            .select((api_tokens::expires_at, api_tokens::revoked_at))
            .filter(api_tokens::token_sha256.eq(sha256(token.as_bytes().to_vec())))
            .first(conn)
            .await
            .optional()
            .context("looking up a demo token")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn demo_phones_emails_and_usccs_pass_the_api_validators() {
        check_world().unwrap();
    }

    #[test]
    fn demo_ids_and_tokens_are_fixed_unique_and_well_formed() {
        assert_eq!(demo_id("user", "ma-chao"), demo_id("user", "ma-chao"));
        assert_eq!(demo_id("user", "ma-chao").get_version_num(), 5);
        let mut tokens = HashSet::new();
        for p in &APPLICANTS {
            let token = token_for(p.key);
            assert!(token.len() >= 32, "{token}");
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')),
                "{token}"
            );
            assert!(tokens.insert(token));
        }
        let people: HashSet<&str> = STAFF
            .iter()
            .map(|(p, _)| p.key)
            .chain(APPLICANTS.iter().map(|p| p.key))
            .collect();
        assert_eq!(people.len(), STAFF.len() + APPLICANTS.len());
        let phones: HashSet<&str> = STAFF
            .iter()
            .map(|(p, _)| p.phone)
            .chain(APPLICANTS.iter().map(|p| p.phone))
            .collect();
        assert_eq!(phones.len(), people.len());
    }

    #[test]
    fn each_demo_request_has_its_own_requester_and_every_staff_role_is_covered() {
        let requesters: HashSet<&str> = REQUESTS.iter().map(|r| r.requester).collect();
        assert_eq!(requesters.len(), REQUESTS.len());
        for c in &COMPANIES {
            assert!(!requesters.contains(c.legal_rep));
            assert!(c.admins.iter().all(|a| !requesters.contains(a)));
        }
        let roles: HashSet<&str> = STAFF.iter().map(|(_, r)| *r).collect();
        for role in [
            "cs_reviewer",
            "finance",
            "finance_lead",
            "supervisor",
            "sys_admin",
        ] {
            assert!(roles.contains(role), "{role}");
        }
    }
}
