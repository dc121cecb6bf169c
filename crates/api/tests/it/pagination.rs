//! Cursor pagination on every list: each item exactly once in order whatever the page size, no
//! repeat or skip when rows arrive between pages, cursors bound to their list, limits checked.

use std::collections::HashSet;

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use certdesk_api::issue_token;
use certdesk_store::testing::seed;
use chrono::TimeDelta;
use serde_json::{Value, json};

use crate::support::{User, World, get, post, send};

/// Walks `uri` page by page with `limit`, as `user`; returns every item in the order served.
async fn walk<S, B, E>(app: &S, uri: &str, limit: usize, user: &User) -> Vec<Value>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = E>,
    E: std::fmt::Debug,
    B: MessageBody,
{
    let sep = if uri.contains('?') { '&' } else { '?' };
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let page_uri = match &cursor {
            Some(c) => format!("{uri}{sep}limit={limit}&cursor={c}"),
            None => format!("{uri}{sep}limit={limit}"),
        };
        let r = send(app, get(&page_uri, user).to_request()).await;
        assert_eq!(r.status, StatusCode::OK, "{page_uri}: {:#}", r.body);
        let items = r.body["items"].as_array().unwrap();
        assert!(
            items.len() <= limit,
            "{page_uri}: a page longer than its limit"
        );
        all.extend(items.iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(items.len(), limit, "only the last page may be short");
                cursor = Some(next.to_owned());
            }
            None => return all,
        }
    }
    panic!("{uri}: more than 100 pages");
}

fn ids(items: &[Value], field: &str) -> Vec<String> {
    items
        .iter()
        .map(|i| i[field].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn members_are_listed_once_each_by_name_across_pages() {
    let w = World::new().await;
    let app = app!(w);
    // 20 more members; pairs share a name so that the id breaks ties.
    {
        let mut conn = w.conn().await;
        for i in 0..20 {
            let person = seed::person(&mut conn, &format!("成员{:02}", i / 2), w.now()).await;
            seed::member(&mut conn, w.enterprise, person, "member", w.now()).await;
        }
    }
    let uri = format!("/api/v1/enterprises/{}/members", w.enterprise);
    let whole = send(
        &app,
        get(&format!("{uri}?limit=100"), &w.admin).to_request(),
    )
    .await;
    let whole = whole.body["items"].as_array().unwrap().clone();
    assert!(whole.len() >= 21, "{whole:#?}");
    let mut sorted = whole.clone();
    sorted.sort_by_key(|m| {
        (
            m["name"].as_str().unwrap().to_owned(),
            m["user_id"].as_str().unwrap().to_owned(),
        )
    });
    assert_eq!(
        ids(&whole, "user_id"),
        ids(&sorted, "user_id"),
        "by name, then id"
    );

    for limit in [1, 3, 7, 20] {
        let paged = walk(&app, &uri, limit, &w.admin).await;
        assert_eq!(
            ids(&paged, "user_id"),
            ids(&whole, "user_id"),
            "limit {limit}"
        );
    }
}

#[actix_web::test]
async fn tokens_page_newest_first_and_a_new_token_between_pages_is_neither_repeated_nor_skipped() {
    let w = World::new().await;
    let app = app!(w);
    // Eleven more tokens, some at the same instant (ties broken by id).
    for i in 0..11 {
        if i % 3 == 0 {
            w.clock.advance(TimeDelta::seconds(1));
        }
        issue_token(
            w.state.runtime.pool(),
            w.applicant.id,
            "t",
            w.now(),
            TimeDelta::days(1),
        )
        .await
        .unwrap();
    }
    let all = walk(&app, "/api/v1/auth/tokens", 100, &w.applicant).await;
    assert_eq!(all.len(), 12);
    let paged = walk(&app, "/api/v1/auth/tokens", 5, &w.applicant).await;
    assert_eq!(ids(&paged, "id"), ids(&all, "id"));
    let times: Vec<&str> = all
        .iter()
        .map(|t| t["created_at"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|p| p[0] >= p[1]),
        "newest first: {times:?}"
    );

    // A token issued after the first page was read lands before the cursor: the rest of the
    // walk neither repeats nor skips anything.
    let first = send(
        &app,
        get("/api/v1/auth/tokens?limit=4", &w.applicant).to_request(),
    )
    .await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    w.clock.advance(TimeDelta::seconds(5));
    issue_token(
        w.state.runtime.pool(),
        w.applicant.id,
        "new",
        w.now(),
        TimeDelta::days(1),
    )
    .await
    .unwrap();
    let rest = send(
        &app,
        get(
            &format!("/api/v1/auth/tokens?limit=100&cursor={cursor}"),
            &w.applicant,
        )
        .to_request(),
    )
    .await;
    let mut seen: Vec<String> = ids(first.body["items"].as_array().unwrap(), "id");
    seen.extend(ids(rest.body["items"].as_array().unwrap(), "id"));
    assert_eq!(seen, ids(&all, "id"));

    // Another applicant's list never shows these tokens, cursor or not.
    let theirs = walk(&app, "/api/v1/auth/tokens", 3, &w.stranger).await;
    let mine: HashSet<String> = ids(&all, "id").into_iter().collect();
    assert!(ids(&theirs, "id").iter().all(|t| !mine.contains(t)));
    let r = send(
        &app,
        get(&format!("/api/v1/auth/tokens?cursor={cursor}"), &w.stranger).to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        ids(r.body["items"].as_array().unwrap(), "id")
            .iter()
            .all(|t| !mine.contains(t))
    );
}

#[actix_web::test]
async fn join_requests_page_in_the_review_list_and_in_the_requesters_own_list() {
    let w = World::new().await;
    let app = app!(w);
    let mut submitted = Vec::new();
    for i in 0..5 {
        let person = w.user(&format!("申请人{i}"), None).await;
        let r = send(
            &app,
            post(
                "/api/v1/join-requests",
                &person,
                json!({ "enterprise_id": w.enterprise, "mode": "reason", "reason": "投标" }),
            )
            .to_request(),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
        submitted.push((person, r.body["id"].as_str().unwrap().to_owned()));
        w.clock.advance(TimeDelta::seconds(1));
    }
    let uri = format!("/api/v1/enterprises/{}/join-requests", w.enterprise);
    let listed = walk(&app, &uri, 2, &w.admin).await;
    let newest_first: Vec<String> = submitted.iter().rev().map(|s| s.1.clone()).collect();
    assert_eq!(ids(&listed, "id"), newest_first);
    let filtered = walk(&app, &format!("{uri}?state=admin_review"), 3, &w.admin).await;
    assert_eq!(ids(&filtered, "id"), newest_first);

    // Each requester sees exactly their own, with the enterprise's name.
    let (person, id) = &submitted[2];
    let own = walk(&app, "/api/v1/join-requests", 10, person).await;
    assert_eq!(ids(&own, "id"), vec![id.clone()]);
    assert_eq!(own[0]["enterprise_id"], json!(w.enterprise));
    assert_eq!(own[0]["state"], "admin_review");
    assert!(own[0]["enterprise_name"].is_string());
    assert!(
        walk(&app, "/api/v1/join-requests", 10, &w.stranger)
            .await
            .is_empty()
    );
}

#[actix_web::test]
async fn a_cursor_of_another_list_a_forged_cursor_and_bad_limits_are_422_by_field() {
    let w = World::new().await;
    let app = app!(w);
    issue_token(
        w.state.runtime.pool(),
        w.admin.id,
        "t",
        w.now(),
        TimeDelta::days(1),
    )
    .await
    .unwrap();
    let tokens = send(
        &app,
        get("/api/v1/auth/tokens?limit=1", &w.admin).to_request(),
    )
    .await;
    let token_cursor = tokens.body["next_cursor"].as_str().unwrap().to_owned();
    let members = format!("/api/v1/enterprises/{}/members", w.enterprise);
    for uri in [
        format!("{members}?cursor={token_cursor}"),
        format!("{members}?cursor=bm90LWEtY3Vyc29y"),
        "/api/v1/me/enterprises?cursor=%21%21".to_owned(),
        "/api/v1/join-requests?cursor=eyJ4Ijp9".to_owned(),
    ] {
        let r = send(&app, get(&uri, &w.admin).to_request()).await;
        r.problem(422, "invalid_input");
        assert_eq!(
            r.field_errors(),
            vec![("cursor".to_owned(), "invalid_cursor".to_owned())],
            "{uri}"
        );
    }
    for limit in ["0", "101", "-1"] {
        let r = send(
            &app,
            get(&format!("/api/v1/auth/tokens?limit={limit}"), &w.admin).to_request(),
        )
        .await;
        r.problem(422, "invalid_input");
        assert_eq!(
            r.field_errors(),
            vec![("limit".to_owned(), "out_of_range".to_owned())]
        );
    }
    let r = send(
        &app,
        get("/api/v1/auth/tokens?limit=many", &w.admin).to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:#}", r.body);
}
