//! The shared page pieces: an instance's timeline from its signed history, and its diagram.

use certdesk_admin::view;
use certdesk_store::schema::users;
use certdesk_store::testing::seed;
use diesel::ExpressionMethods;
use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::support::*;

/// A join request submitted by an applicant with a phone and rejected by the enterprise's
/// admin with a reason and a comment holding a phone number.
async fn rejected_join(w: &World) -> uuid::Uuid {
    let rt = &w.state.runtime;
    let now = w.now();
    let mut conn = w.conn().await;
    let applicant = seed::person(&mut conn, "李四", now).await;
    diesel::update(users::table)
        .filter(users::id.eq(applicant))
        .set(users::phone.eq("13812345678"))
        .execute(&mut conn)
        .await
        .unwrap();
    let admin = seed::person(&mut conn, "管理员甲", now).await;
    seed::member(&mut conn, w.enterprise, admin, "enterprise_admin", now).await;
    drop(conn);
    let id = certdesk_testkit::join::submit(rt, applicant, w.enterprise).await;
    let to = certdesk_testkit::join::decide(
        rt,
        id,
        admin,
        "reject",
        Some("not_employee"),
        Some("请致电 13912345678 核实"),
    )
    .await;
    assert_eq!(to, "rejected");
    id
}

#[tokio::test]
async fn timeline_names_people_masks_numbers_and_titles_states() {
    let w = World::new().await;
    let id = rejected_join(&w).await;
    let def = w.state.runtime.definition("join_request").cloned();
    let mut conn = w.conn().await;
    let rows = view::timeline(&mut conn, def.as_deref(), id, &w.state.settings.reasons)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let start = &rows[0];
    assert_eq!(start.seq, 1);
    assert_eq!(start.event, "提交申请");
    assert_eq!(start.actor, "李四（138****5678）");
    assert_eq!(start.to.as_deref(), Some("企业管理员审核"));
    // 2026-12-01 02:00 UTC is 10:00 in Beijing.
    assert_eq!(start.at, "2026-12-01 10:00:00");
    let decided = &rows[1];
    assert_eq!(decided.event, "审核决定");
    assert_eq!(decided.outcome.as_deref(), Some("拒绝"));
    assert_eq!(decided.from.as_deref(), Some("企业管理员审核"));
    assert_eq!(decided.to.as_deref(), Some("已拒绝"));
    assert_eq!(decided.reason.as_deref(), Some("非本企业员工"));
    assert_eq!(decided.comment.as_deref(), Some("请致电 139****5678 核实"));
    assert!(decided.actor.starts_with("管理员甲"), "{}", decided.actor);

    // Form data titled from the definition's form.
    let data: serde_json::Value = {
        use certdesk_store::schema::instances;
        use diesel::QueryDsl;
        instances::table
            .find(id)
            .select(instances::data)
            .first(&mut conn)
            .await
            .unwrap()
    };
    let form = view::form_rows(def.as_deref(), &data, &[]);
    assert!(
        form.iter()
            .any(|r| r.title == "申请理由" && r.value == "新同事"),
        "{form:?}"
    );
    // A choice shows its title from the definition, not the stored value.
    assert!(
        form.iter()
            .any(|r| r.title == "验证方式" && r.value == "填写申请理由"),
        "{form:?}"
    );

    // Without the definition or titles, state names and reason codes show as stored.
    let raw = view::timeline(&mut conn, None, id, &Default::default())
        .await
        .unwrap();
    assert_eq!(raw[1].to.as_deref(), Some("rejected"));
    assert_eq!(raw[1].reason.as_deref(), Some("not_employee"));

    // The partial renders the rows, escaped, with no number in full.
    let mut h = certdesk_admin::pages::templates().unwrap();
    h.register_template_string("t", "{{> timeline}}").unwrap();
    let html = h.render("t", &json!({ "timeline": rows })).unwrap();
    assert!(html.contains("企业管理员审核 → 已拒绝"), "{html}");
    assert!(
        html.contains("非本企业员工") && html.contains("139****5678"),
        "{html}"
    );
    assert!(
        !html.contains("13912345678") && !html.contains("13812345678"),
        "{html}"
    );
    let empty = h.render("t", &json!({ "timeline": [] })).unwrap();
    assert!(empty.contains("暂无记录"), "{empty}");
}

#[tokio::test]
async fn diagram_lights_the_current_state_only() {
    let w = World::new().await;
    let def = w.state.runtime.definition("join_request").unwrap().clone();
    let svg = view::diagram(&def, Some("admin_review"));
    assert!(svg.starts_with("<svg"), "{svg}");
    assert_eq!(svg.matches("aria-current=\"step\"").count(), 1, "{svg}");
    let lit = svg.find("aria-current=\"step\"").unwrap();
    let group = &svg[svg[..lit].rfind("<g").unwrap()..lit];
    assert!(group.contains("node-admin_review"), "{group}");
    assert!(svg.contains("企业管理员审核") && svg.contains("已加入"));

    // An unknown state lights nothing rather than failing.
    let none = view::diagram(&def, Some("no_such_state"));
    assert!(!none.contains("aria-current"), "{none}");
    assert_eq!(
        view::diagram_caption(&def, Some("admin_review")),
        "加入企业申请（第 2 版）流程图，当前环节：企业管理员审核"
    );

    let mut h = certdesk_admin::pages::templates().unwrap();
    h.register_template_string("d", "{{> diagram}}").unwrap();
    let html = h
        .render("d", &json!({"diagram": svg, "diagram_caption": "流程图"}))
        .unwrap();
    assert!(
        html.contains("<figure class=\"diagram\">") && html.contains("<svg"),
        "{html}"
    );
    assert!(html.contains("<figcaption>流程图</figcaption>"), "{html}");
    let nothing = h.render("d", &json!({})).unwrap();
    assert!(!nothing.contains("figure"), "{nothing}");
}
