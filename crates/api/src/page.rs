//! Cursor pagination, the same on every list of `/api/v1`.
//!
//! A list takes `?limit=N&cursor=C` and answers `{ "items": [...], "next_cursor": C | null }`.
//! The cursor is opaque to clients: the base64url of the sort key of the last item returned,
//! tagged with the list it belongs to, so a cursor from one list is refused by another. It
//! carries no count and no offset (offsets reveal how many rows there are and skip or repeat
//! rows when the list changes between pages); the next page starts strictly after that key.
//! A cursor grants nothing: every list still filters by what the caller may see.
//!
//! Pages are read with `limit + 1` rows: the extra row only tells whether there is a next page.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use certdesk_engine::def::Definition;

use crate::problem::{ApiError, FieldProblem};

/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 20;
/// The largest `limit` accepted.
pub const MAX_LIMIT: i64 = 100;
/// Longest cursor accepted, in bytes (a key of a timestamp and a UUID needs about 100).
const MAX_CURSOR_LEN: usize = 512;

/// `?limit=…&cursor=…`, the query of every list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// How many items, 1–100 (default 20).
    #[param(example = 20, minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
}

/// A checked page request: how many rows, and the sort key to start after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageRequest<K> {
    /// Items per page.
    pub limit: i64,
    /// The sort key of the last item of the previous page.
    pub after: Option<K>,
}

impl<K> PageRequest<K> {
    /// Rows to read: one more than the page, to know whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }
}

impl PageQuery {
    /// Checks `limit` and decodes `cursor` for the list named `list`; the problems name the
    /// fields at fault (append them to the list's own before answering 422).
    pub fn check<K: DeserializeOwned>(
        self,
        list: &str,
        errors: &mut Vec<FieldProblem>,
    ) -> PageRequest<K> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            errors.push(FieldProblem::new(
                "limit",
                "out_of_range",
                format!("每页条数应在 1 到 {MAX_LIMIT} 之间"),
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = match self.cursor.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(cursor) => match decode(list, cursor) {
                Some(key) => Some(key),
                None => {
                    errors.push(FieldProblem::new(
                        "cursor",
                        "invalid_cursor",
                        "分页游标无效，请从第一页重新获取",
                        "cursor is not a next_cursor of this list; start again from the first page",
                    ));
                    None
                }
            },
        };
        PageRequest { limit, after }
    }
}

/// `?state=…&limit=…&cursor=…`, the query of a list of one chain's requests (join, leave and
/// admin-transfer requests alike).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StateListQuery {
    /// Only requests in this state (a state of the chain's workflow).
    #[param(example = "admin_review")]
    pub state: Option<String>,
    /// How many, 1–100 (default 20).
    #[param(example = 20, minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
}

impl StateListQuery {
    /// The state asked for (`None` when absent or blank) and the page of the list named
    /// `list`, or 422 naming every field at fault: a state `def` does not have, a bad limit or
    /// cursor.
    pub fn check<K: DeserializeOwned>(
        self,
        def: &Definition,
        list: &str,
    ) -> Result<(Option<String>, PageRequest<K>), ApiError> {
        let mut errors = Vec::new();
        let wanted = self.state.filter(|s| !s.trim().is_empty());
        if let Some(s) = &wanted
            && def.state_id(s).is_none()
        {
            let names: Vec<&str> = def.states.iter().map(|s| s.name.as_str()).collect();
            errors.push(FieldProblem::new(
                "state",
                "unknown_state",
                "状态无效",
                format!("state must be one of: {}", names.join(", ")),
            ));
        }
        let page = PageQuery {
            limit: self.limit,
            cursor: self.cursor,
        }
        .check(list, &mut errors);
        if errors.is_empty() {
            Ok((wanted, page))
        } else {
            Err(ApiError::invalid(errors))
        }
    }
}

/// Cuts `rows` (read with [`PageRequest::fetch`]) to the page and makes the cursor of the next
/// page from the last item kept, when more rows follow.
pub(crate) fn cut<T, K: serde::Serialize>(
    list: &str,
    mut rows: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> K,
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(|last| encode(list, &key(last)));
    (rows, next)
}

/// The cursor of `key` in list `list`.
pub(crate) fn encode<K: serde::Serialize>(list: &str, key: &K) -> String {
    // A key is a tuple of strings, numbers and timestamps: serialising it cannot fail.
    let key = serde_json::to_string(key).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(format!("{list}\n{key}"))
}

fn decode<K: DeserializeOwned>(list: &str, cursor: &str) -> Option<K> {
    if cursor.len() > MAX_CURSOR_LEN {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (tag, key) = text.split_once('\n')?;
    if tag != list {
        return None;
    }
    serde_json::from_str(key).ok()
}

/// Declares the page type of a list: `{ items: [T], next_cursor }`, one named schema per list
/// in the OpenAPI document.
macro_rules! page_type {
    ($(#[$meta:meta])* $name:ident, $item:ty) => {
        $(#[$meta])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub(crate) struct $name {
            /// This page's items.
            pub items: Vec<$item>,
            /// Pass as `cursor` for the next page; `null` on the last page.
            pub next_cursor: Option<String>,
        }
    };
}
pub(crate) use page_type;

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;

    type Key = (DateTime<Utc>, Uuid);

    /// A timestamp with microseconds, as PostgreSQL keeps them.
    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 123_456_000).unwrap()
    }

    fn query(limit: Option<i64>, cursor: Option<&str>) -> PageQuery {
        PageQuery {
            limit,
            cursor: cursor.map(str::to_owned),
        }
    }

    #[test]
    fn a_cursor_comes_back_as_the_key_it_was_made_from() {
        let key: Key = (at(), Uuid::new_v4());
        let cursor = encode("tokens", &key);
        let mut errors = Vec::new();
        let page = query(Some(5), Some(&cursor)).check::<Key>("tokens", &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            page,
            PageRequest {
                limit: 5,
                after: Some(key)
            }
        );
    }

    #[test]
    fn a_cursor_of_another_list_or_garbage_is_refused_by_field() {
        let cursor = encode("tokens", &(at(), Uuid::new_v4()));
        for bad in [cursor.as_str(), "not base64!", "AAAA", &"x".repeat(600)] {
            let mut errors = Vec::new();
            let page = query(None, Some(bad)).check::<Key>("members", &mut errors);
            assert_eq!(page.after, None);
            assert_eq!(errors.len(), 1, "{bad}");
            assert_eq!(errors[0].field, "cursor");
            assert_eq!(errors[0].code, "invalid_cursor");
        }
    }

    #[test]
    fn limits_outside_1_to_100_are_refused_and_the_default_is_20() {
        for (limit, ok) in [
            (0, false),
            (1, true),
            (100, true),
            (101, false),
            (-3, false),
        ] {
            let mut errors = Vec::new();
            query(Some(limit), None).check::<Key>("x", &mut errors);
            assert_eq!(errors.is_empty(), ok, "{limit}");
        }
        let mut errors = Vec::new();
        assert_eq!(
            query(None, Some("")).check::<Key>("x", &mut errors).limit,
            20
        );
        assert!(errors.is_empty());
    }

    #[test]
    fn cut_keeps_the_page_and_points_after_its_last_item() {
        let (items, next) = cut("n", vec![1, 2, 3], 2, |n| *n);
        assert_eq!(items, vec![1, 2]);
        let mut errors = Vec::new();
        let after = query(None, next.as_deref())
            .check::<i32>("n", &mut errors)
            .after;
        assert_eq!(after, Some(2));
        assert_eq!(cut("n", vec![1, 2], 2, |n| *n), (vec![1, 2], None));
    }

    proptest! {
        /// Walking any sorted list page by page with keyset "after" semantics returns every
        /// item exactly once, whatever the page size.
        #[test]
        fn paging_visits_every_item_once(mut all in proptest::collection::vec(0u32..1000, 0..60),
                                         limit in 1i64..10) {
            all.sort_unstable();
            all.dedup();
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut errors = Vec::new();
                let page = query(Some(limit), cursor.as_deref()).check::<u32>("p", &mut errors);
                prop_assert!(errors.is_empty());
                let rows: Vec<u32> = all
                    .iter()
                    .copied()
                    .filter(|n| page.after.is_none_or(|a| *n > a))
                    .take(usize::try_from(page.fetch()).unwrap_or(usize::MAX))
                    .collect();
                let (items, next) = cut("p", rows, page.limit, |n| *n);
                seen.extend(items);
                match next {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            prop_assert_eq!(seen, all);
        }
    }
}
