//! Pieces several console pages show: an instance's timeline read from its signed history, and
//! its definition's diagram with the current state lit.
//!
//! Both are plain data for the partials `timeline` and `diagram` (`admin/templates/partials/`),
//! registered in [`crate::pages::templates`]. Pages put a [`timeline`] under the key `timeline`
//! and a [`diagram`] under `diagram` (with an optional `diagram_caption`), then write
//! `{{> timeline}}` / `{{> diagram}}`. Nothing here writes to the database.

use std::collections::{BTreeMap, HashMap};

use certdesk_domain::ident::{CnIdNumber, Phone};
use certdesk_engine::Definition;
use certdesk_store::schema::{history, users};
use chrono::{DateTime, FixedOffset, Offset as _, Utc};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// `t` as Beijing time (UTC+8, no daylight saving), to the minute: `2026-12-01 10:00`.
#[must_use]
pub fn beijing(t: DateTime<Utc>) -> String {
    let offset = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix());
    t.with_timezone(&offset)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// `t` as Beijing time to the second, for timelines where order within a minute matters.
#[must_use]
pub fn beijing_seconds(t: DateTime<Utc>) -> String {
    let offset = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix());
    t.with_timezone(&offset)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The Chinese label of a reason code from the configured titles (`templates/reasons.toml`,
/// [`crate::Settings::reasons`]), or the code itself when it has none.
#[must_use]
pub fn reason_label(reasons: &BTreeMap<String, String>, code: &str) -> String {
    reasons
        .get(code)
        .cloned()
        .unwrap_or_else(|| code.to_owned())
}

/// The Chinese name of a history event.
#[must_use]
pub fn event_label(event: &str) -> &str {
    match event {
        "start" => "提交申请",
        "decide" => "审核决定",
        "timer_fired" => "到时自动处理",
        "subflow_finished" => "子流程结束",
        "withdraw" => "申请人撤回",
        "resubmit" => "重新提交",
        "external" => "外部事件",
        other => other,
    }
}

/// The Chinese name of a decision outcome (the definition's outcome name otherwise).
#[must_use]
pub fn outcome_label(outcome: &str) -> &str {
    match outcome {
        "approve" => "通过",
        "reject" => "拒绝",
        "return" => "退回修改",
        "escalate" => "上报",
        other => other,
    }
}

/// Free text with every run of 11 or more digits masked: as a phone or a resident ID number
/// when it is one, otherwise all but the last four digits hidden.
#[must_use]
pub fn mask_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        // An identity number may end in X.
        if i < chars.len() && i - start == 17 && matches!(chars[i], 'X' | 'x') {
            i += 1;
        }
        let run: String = chars[start..i].iter().collect();
        if run.len() < 11 {
            out.push_str(&run);
        } else if let Ok(p) = Phone::parse(&run) {
            out.push_str(&p.mask());
        } else if let Ok(n) = CnIdNumber::parse(&run) {
            out.push_str(&n.mask());
        } else {
            let keep = run.len() - 4;
            out.extend(std::iter::repeat_n('*', keep));
            out.push_str(&run[keep..]);
        }
    }
    out
}

/// One row of an instance's timeline, ready for the `timeline` partial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineRow {
    /// Position in the history (1, 2, 3…).
    pub seq: i64,
    /// When, Beijing time to the second.
    pub at: String,
    /// Who: a staff member's name, an applicant's name with the phone masked, or the system.
    pub actor: String,
    /// What happened (Chinese).
    pub event: String,
    /// The decision's outcome (Chinese), for decisions.
    pub outcome: Option<String>,
    /// The state before, by its title.
    pub from: Option<String>,
    /// The state after, by its title.
    pub to: Option<String>,
    /// The reason's label, when one was given.
    pub reason: Option<String>,
    /// The decider's comment, personal numbers masked.
    pub comment: Option<String>,
}

fn state_title(def: Option<&Definition>, name: &str) -> String {
    def.and_then(|d| d.state_id(name).map(|id| d.state(id).title.clone()))
        .unwrap_or_else(|| name.to_owned())
}

fn text(payload: &Value, key: &str) -> Option<String> {
    payload
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// How an actor is shown: (kind, name, phone) of the users the history names.
type People = HashMap<Uuid, (String, String, Option<String>)>;

fn actor_text(actor: &str, people: &People) -> String {
    if let Some(id) = actor
        .strip_prefix("user:")
        .or_else(|| actor.strip_prefix("staff:"))
    {
        return match id.parse::<Uuid>().ok().and_then(|id| people.get(&id)) {
            Some((kind, name, _)) if kind == "staff" => format!("{name}（员工）"),
            Some((_, name, Some(phone))) => {
                let masked = Phone::parse(phone).map_or_else(|_| mask_numbers(phone), |p| p.mask());
                format!("{name}（{masked}）")
            }
            Some((_, name, None)) => name.clone(),
            None => "未知用户".to_owned(),
        };
    }
    match actor {
        "system:timer" => "系统（定时）".to_owned(),
        "system:subflow" => "系统（子流程）".to_owned(),
        other => match other.strip_prefix("system:") {
            Some(source) => format!("系统（{source}）"),
            None => other.to_owned(),
        },
    }
}

/// The timeline of `instance`, oldest first, its states titled from `def` (the version the
/// instance runs on; `None` shows state names as stored).
///
/// # Errors
///
/// On database failure.
pub async fn timeline(
    conn: &mut AsyncPgConnection,
    def: Option<&Definition>,
    instance: Uuid,
    reasons: &BTreeMap<String, String>,
) -> Result<Vec<TimelineRow>, diesel::result::Error> {
    let rows = history::table
        .filter(history::instance_id.eq(instance))
        .order(history::seq.asc())
        .select((
            history::seq,
            history::at,
            history::actor,
            history::event,
            history::payload,
        ))
        .load::<(i64, DateTime<Utc>, String, String, Value)>(conn)
        .await?;
    let ids: Vec<Uuid> = rows
        .iter()
        .filter_map(|(_, _, actor, _, _)| {
            actor
                .strip_prefix("user:")
                .or_else(|| actor.strip_prefix("staff:"))
                .and_then(|id| id.parse().ok())
        })
        .collect();
    let people: People = if ids.is_empty() {
        HashMap::new()
    } else {
        users::table
            .filter(users::id.eq_any(&ids))
            .select((users::id, users::kind, users::name, users::phone))
            .load::<(Uuid, String, String, Option<String>)>(conn)
            .await?
            .into_iter()
            .map(|(id, kind, name, phone)| (id, (kind, name, phone)))
            .collect()
    };
    Ok(rows
        .into_iter()
        .map(|(seq, at, actor, event, payload)| {
            let from = text(&payload, "from");
            let to = text(&payload, "to");
            TimelineRow {
                seq,
                at: beijing_seconds(at),
                actor: actor_text(&actor, &people),
                event: match (event.as_str(), text(&payload, "name")) {
                    ("external", Some(name)) => format!("外部事件：{name}"),
                    (e, _) => event_label(e).to_owned(),
                },
                outcome: text(&payload, "outcome").map(|o| outcome_label(&o).to_owned()),
                // A step that stays in its state (a reminder) shows no move.
                from: from
                    .as_deref()
                    .filter(|f| to.as_deref() != Some(*f) || event == "start")
                    .map(|f| state_title(def, f)),
                to: to
                    .as_deref()
                    .filter(|t| from.as_deref() != Some(*t) || event == "start")
                    .map(|t| state_title(def, t)),
                reason: text(&payload, "reason").map(|r| reason_label(reasons, &r)),
                comment: text(&payload, "comment").map(|c| mask_numbers(&c)),
            }
        })
        .collect())
}

/// One field of an instance's form data, for a facts table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormRow {
    /// The field's name in the data.
    pub key: String,
    /// Its title in the definition's form (the name when the form has no such field).
    pub title: String,
    /// The value as text, phones, ID numbers and other long digit runs masked.
    pub value: String,
}

/// A form value as text; with `mask`, phones, identity numbers and long digit runs masked.
fn value_text(v: &Value, mask: bool) -> String {
    match v {
        Value::String(s) if !mask => s.clone(),
        Value::String(s) => {
            if let Ok(p) = Phone::parse(s) {
                p.mask()
            } else if let Ok(n) = CnIdNumber::parse(s) {
                n.mask()
            } else {
                mask_numbers(s)
            }
        }
        Value::Bool(true) => "是".to_owned(),
        Value::Bool(false) => "否".to_owned(),
        Value::Null => "—".to_owned(),
        Value::Array(items) => items
            .iter()
            .map(|v| value_text(v, mask))
            .collect::<Vec<_>>()
            .join("、"),
        other if !mask => other.to_string(),
        other => mask_numbers(&other.to_string()),
    }
}

/// `data` (an instance's form data) as rows titled from `def`'s form, phones, identity numbers
/// and long digit runs masked, except in the fields named in `in_full` (numbers the viewer
/// revealed, [`crate::reveal`]).
#[must_use]
pub fn form_rows(def: Option<&Definition>, data: &Value, in_full: &[String]) -> Vec<FormRow> {
    let Some(map) = data.as_object() else {
        return vec![FormRow {
            key: String::new(),
            title: "数据".to_owned(),
            value: value_text(data, true),
        }];
    };
    map.iter()
        .map(|(k, v)| {
            let field = def.and_then(|d| d.form.field(k));
            FormRow {
                key: k.clone(),
                title: field.map_or_else(|| k.clone(), |f| f.title.clone()),
                value: match (field, v.as_str()) {
                    (Some(f), Some(choice)) if !f.choice_titles.is_empty() => {
                        f.choice_title(choice).to_owned()
                    }
                    _ => value_text(v, !in_full.contains(k)),
                },
            }
        })
        .collect()
}

/// The diagram of `def` as an inline SVG document (no XML prolog), the state named `current`
/// lit (`class="current"`, `aria-current="step"`); an unknown or absent name lights nothing.
///
/// The SVG is built in Rust from the definition (its titles escaped by the writer), so pages
/// insert it unescaped: `{{{diagram}}}`.
#[must_use]
pub fn diagram(def: &Definition, current: Option<&str>) -> String {
    let current = current.filter(|c| def.state_id(c).is_some());
    certdesk_diagram::to_svg(&certdesk_engine::graph::graph(def), current)
}

/// A caption for [`diagram`]: the definition's title and version, and the lit state's title.
#[must_use]
pub fn diagram_caption(def: &Definition, current: Option<&str>) -> String {
    match current.and_then(|c| def.state_id(c)) {
        Some(id) => format!(
            "{}（第 {} 版）流程图，当前环节：{}",
            def.title,
            def.version,
            def.state(id).title
        ),
        None => format!("{}（第 {} 版）流程图", def.title, def.version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn beijing_is_eight_hours_ahead() {
        let t = Utc
            .with_ymd_and_hms(2026, 12, 1, 18, 30, 5)
            .single()
            .unwrap_or_default();
        assert_eq!(beijing(t), "2026-12-02 02:30");
        assert_eq!(beijing_seconds(t), "2026-12-02 02:30:05");
    }

    #[test]
    fn numbers_in_free_text_are_masked() {
        assert_eq!(
            mask_numbers("请联系 13712345678 或 11010519491231002X，订单 12345"),
            "请联系 137****5678 或 110105*****002X，订单 12345"
        );
        assert_eq!(
            mask_numbers("账号 6222020200112233445"),
            "账号 ***************3445"
        );
        assert_eq!(mask_numbers(""), "");
    }

    #[test]
    fn form_values_are_masked_and_spelled_out() {
        let rows = form_rows(
            None,
            &serde_json::json!({"phone": "13712345678", "id": "11010519491231002X", "ok": true, "n": 3}),
            &[],
        );
        let by_key = |k: &str| rows.iter().find(|r| r.key == k).map(|r| r.value.clone());
        assert_eq!(by_key("phone").as_deref(), Some("137****5678"));
        assert_eq!(by_key("id").as_deref(), Some("110105*****002X"));
        assert_eq!(by_key("ok").as_deref(), Some("是"));
        assert_eq!(by_key("n").as_deref(), Some("3"));
    }

    #[test]
    fn a_revealed_field_is_shown_in_full_and_only_it() {
        let data = serde_json::json!({
            "phone": "13712345678",
            "phones": ["13712345678"],
            "id": "11010519491231002X",
        });
        let rows = form_rows(None, &data, &["phone".to_owned(), "phones".to_owned()]);
        let by_key = |k: &str| rows.iter().find(|r| r.key == k).map(|r| r.value.clone());
        assert_eq!(by_key("phone").as_deref(), Some("13712345678"));
        assert_eq!(by_key("phones").as_deref(), Some("13712345678"));
        assert_eq!(by_key("id").as_deref(), Some("110105*****002X"));
    }

    #[test]
    fn reason_codes_have_chinese_labels() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let reasons = crate::decide::load_reasons(&root.join("templates/reasons.toml")).unwrap();
        assert_eq!(reason_label(&reasons, "not_employee"), "非本企业员工");
        assert_eq!(reason_label(&reasons, "no_such_code"), "no_such_code");
    }

    #[test]
    fn system_actors_are_named() {
        let people = People::new();
        assert_eq!(actor_text("system:timer", &people), "系统（定时）");
        assert_eq!(actor_text("system:bank", &people), "系统（bank）");
        assert_eq!(
            actor_text("user:00000000-0000-0000-0000-000000000001", &people),
            "未知用户"
        );
    }
}
