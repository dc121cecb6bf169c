//! Graphs shared by the integration tests.

#![allow(dead_code)]

use certdesk_diagram::{Edge, EdgeKind, Graph, Node, NodeKind};

/// Builds a graph from `(id, label, kind)` nodes and `(from, to, label, kind)` edges.
pub fn graph(
    title: &str,
    nodes: &[(&str, &str, NodeKind)],
    edges: &[(&str, &str, &str, EdgeKind)],
) -> Graph {
    Graph {
        title: title.to_owned(),
        nodes: nodes
            .iter()
            .map(|&(id, label, kind)| Node::new(id, label, kind))
            .collect(),
        edges: edges
            .iter()
            .map(|&(from, to, label, kind)| Edge::new(from, to, label, kind))
            .collect(),
    }
}

/// Six nodes with every node kind and every edge kind, one back edge included.
pub fn small() -> Graph {
    graph(
        "证书签发 issue",
        &[
            ("submitted", "提交申请", NodeKind::Start),
            ("admin_review", "管理员审核", NodeKind::Task),
            ("identity_check", "实名核验", NodeKind::Auto),
            ("await_payment", "等待付款", NodeKind::Wait),
            ("bank_confirm", "银行确认", NodeKind::Subflow),
            ("issued", "已签发", NodeKind::Terminal),
        ],
        &[
            ("submitted", "identity_check", "submit", EdgeKind::Outcome),
            ("identity_check", "admin_review", "passed", EdgeKind::Auto),
            (
                "admin_review",
                "await_payment",
                "approve",
                EdgeKind::Outcome,
            ),
            (
                "admin_review",
                "submitted",
                "request_changes",
                EdgeKind::Outcome,
            ),
            ("await_payment", "bank_confirm", "paid", EdgeKind::Event),
            ("await_payment", "issued", "7d", EdgeKind::Timer),
            ("bank_confirm", "issued", "bank_result", EdgeKind::Subflow),
        ],
    )
}

/// A realistic certificate issuance workflow with branches, timers, back
/// edges and a self-loop.
pub fn issuance() -> Graph {
    graph(
        "个人证书签发 personal certificate",
        &[
            ("submitted", "提交申请", NodeKind::Start),
            ("identity_check", "实名核验", NodeKind::Auto),
            ("admin_review", "管理员审核", NodeKind::Task),
            ("need_more", "补充材料", NodeKind::Wait),
            ("await_payment", "等待付款", NodeKind::Wait),
            ("bank_confirm", "银行确认", NodeKind::Subflow),
            ("issue_cert", "签发证书", NodeKind::Auto),
            ("issued", "已签发", NodeKind::Terminal),
            ("rejected", "已驳回", NodeKind::Terminal),
            ("expired", "已过期", NodeKind::Terminal),
        ],
        &[
            ("submitted", "identity_check", "submit", EdgeKind::Outcome),
            ("identity_check", "admin_review", "passed", EdgeKind::Auto),
            ("identity_check", "rejected", "failed", EdgeKind::Auto),
            (
                "admin_review",
                "await_payment",
                "approve",
                EdgeKind::Outcome,
            ),
            ("admin_review", "rejected", "reject", EdgeKind::Outcome),
            (
                "admin_review",
                "need_more",
                "request_changes",
                EdgeKind::Outcome,
            ),
            (
                "admin_review",
                "admin_review",
                "reassign",
                EdgeKind::Outcome,
            ),
            ("need_more", "admin_review", "resubmit", EdgeKind::Event),
            ("need_more", "expired", "14d", EdgeKind::Timer),
            ("await_payment", "bank_confirm", "paid", EdgeKind::Event),
            ("await_payment", "expired", "7d", EdgeKind::Timer),
            (
                "bank_confirm",
                "issue_cert",
                "bank_result",
                EdgeKind::Subflow,
            ),
            (
                "bank_confirm",
                "await_payment",
                "declined",
                EdgeKind::Subflow,
            ),
            ("issue_cert", "issued", "", EdgeKind::Auto),
        ],
    )
}

/// Checks that `text` is a well-formed XML document with a single `<svg>`
/// root, without an XML crate: tags nest and close, attribute values are
/// quoted and escaped, text and attributes hold no stray `<` or `&`.
pub fn assert_well_formed_svg(text: &str) {
    assert!(
        text.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{text}"
    );
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('<') {
            let end = after
                .find('>')
                .unwrap_or_else(|| panic!("unclosed tag in {rest}"));
            let tag = &after[..end];
            rest = &after[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack.pop().unwrap_or_else(|| panic!("stray </{name}>"));
                assert_eq!(open, name, "mismatched closing tag");
                continue;
            }
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
            let name = &tag[..name_end];
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "bad tag name {name:?}"
            );
            check_attributes(&tag[name_end..]);
            if stack.is_empty() {
                roots += 1;
            }
            if !self_closing {
                stack.push(name.to_owned());
            }
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let chars = &rest[..end];
            assert!(
                !stack.is_empty() || chars.trim().is_empty(),
                "text outside root: {chars:?}"
            );
            check_escaped(chars);
            rest = &rest[end..];
        }
    }
    assert!(stack.is_empty(), "unclosed elements {stack:?}");
    assert_eq!(roots, 1, "exactly one root element");
}

/// Checks `name="value"` pairs with unique names and escaped values.
fn check_attributes(mut attributes: &str) {
    let mut names = Vec::new();
    loop {
        attributes = attributes.trim_start();
        if attributes.is_empty() {
            return;
        }
        let eq = attributes
            .find('=')
            .unwrap_or_else(|| panic!("attribute without value: {attributes}"));
        let name = &attributes[..eq];
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'),
            "bad attribute name {name:?}"
        );
        assert!(!names.contains(&name), "repeated attribute {name}");
        names.push(name);
        let value = attributes[eq + 1..]
            .strip_prefix('"')
            .unwrap_or_else(|| panic!("unquoted {name}"));
        let close = value
            .find('"')
            .unwrap_or_else(|| panic!("unterminated {name}"));
        check_escaped(&value[..close]);
        attributes = &value[close + 1..];
        assert!(
            attributes.is_empty() || attributes.starts_with(char::is_whitespace),
            "attributes run together: {attributes}"
        );
    }
}

/// Checks that text has no `<` and uses `&` only for the predefined entities.
fn check_escaped(text: &str) {
    assert!(!text.contains('<'), "raw < in {text:?}");
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        rest = &rest[at..];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                .iter()
                .any(|e| rest.starts_with(e)),
            "raw & in {text:?}"
        );
        rest = &rest[1..];
    }
}

/// A small deterministic pseudo-random generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    /// Creates a generator from a non-zero seed.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// A number below `bound` (which must be positive).
    pub fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % bound
    }
}

/// A random graph with up to `max_nodes` nodes of random kinds, random edges
/// (some to unknown nodes, some self-loops, some repeated), repeated node ids
/// and labels mixing Chinese, ASCII and markup characters.
pub fn random_graph(rng: &mut Rng, max_nodes: usize) -> Graph {
    const KINDS: [NodeKind; 6] = [
        NodeKind::Start,
        NodeKind::Task,
        NodeKind::Auto,
        NodeKind::Wait,
        NodeKind::Subflow,
        NodeKind::Terminal,
    ];
    const EDGES: [EdgeKind; 5] = [
        EdgeKind::Outcome,
        EdgeKind::Timer,
        EdgeKind::Event,
        EdgeKind::Auto,
        EdgeKind::Subflow,
    ];
    const WORDS: [&str; 8] = [
        "审核",
        "approve",
        "7d",
        "bank_result",
        "<&\">",
        "补充材料",
        "",
        "x",
    ];
    let count = rng.below(max_nodes + 1);
    let mut graph = Graph::new("random");
    for index in 0..count {
        // Every tenth node repeats an earlier id.
        let id = if index > 0 && rng.below(10) == 0 {
            format!("s{}", rng.below(index))
        } else {
            format!("s{index}")
        };
        let label = (0..rng.below(3))
            .map(|_| WORDS[rng.below(WORDS.len())])
            .collect::<String>();
        graph
            .nodes
            .push(Node::new(id, label, KINDS[rng.below(KINDS.len())]));
    }
    let edge_count = rng.below(2 * count + 2);
    for _ in 0..edge_count {
        // Ids up to count + 1 may name nodes that do not exist.
        let from = format!("s{}", rng.below(count + 2));
        let to = format!("s{}", rng.below(count + 2));
        let label = WORDS[rng.below(WORDS.len())];
        graph
            .edges
            .push(Edge::new(from, to, label, EDGES[rng.below(EDGES.len())]));
    }
    graph
}
