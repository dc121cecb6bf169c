//! Mermaid output: a reviewed snapshot, escaping and robustness.

mod common;

use certdesk_diagram::{EdgeKind, Graph, NodeKind, to_mermaid};

#[test]
fn small_graph_with_every_kind_and_current_node() {
    let graph = common::small();
    insta::assert_snapshot!(to_mermaid(&graph, Some("admin_review")));
}

#[test]
fn output_is_deterministic() {
    let graph = common::issuance();
    let first = to_mermaid(&graph, Some("need_more"));
    assert_eq!(first, to_mermaid(&graph.clone(), Some("need_more")));
}

#[test]
fn quotes_markup_and_ampersands_are_escaped() {
    let graph = common::graph(
        "say \"hi\"",
        &[
            ("a", "审核 \"urgent\" <b> & co", NodeKind::Start),
            ("b", "x | y #1", NodeKind::Task),
        ],
        &[("a", "b", "\"ok\" <br/> & more", EdgeKind::Outcome)],
    );
    let text = to_mermaid(&graph, None);
    assert!(text.contains("title: \"say \\\"hi\\\"\""), "{text}");
    assert!(
        text.contains(r#"a(["审核 #quot;urgent#quot; #lt;b#gt; #amp; co<br/>a"])"#),
        "{text}"
    );
    assert!(text.contains(r#"b["x #124; y #35;1<br/>b"]"#), "{text}");
    assert!(
        text.contains(r##"a -->|"#quot;ok#quot; #lt;br/#gt; #amp; more"| b"##),
        "{text}"
    );
    for line in text.lines().skip(3) {
        // Each quoted label is one pair of quotes with nothing raw inside.
        assert!(matches!(line.matches('"').count(), 0 | 2), "{line}");
        assert!(!line.replace("<br/>", "").contains('<'), "{line}");
        assert!(!line.contains('&'), "{line}");
    }
}

#[test]
fn unknown_endpoints_are_skipped_and_parallel_edges_kept() {
    let graph = common::graph(
        "",
        &[("a", "A", NodeKind::Start), ("b", "B", NodeKind::Terminal)],
        &[
            ("a", "b", "approve", EdgeKind::Outcome),
            ("a", "ghost", "lost", EdgeKind::Outcome),
            ("a", "b", "7d", EdgeKind::Timer),
            ("nobody", "b", "lost", EdgeKind::Event),
        ],
    );
    let text = to_mermaid(&graph, Some("ghost"));
    assert!(!text.contains("ghost") && !text.contains("nobody") && !text.contains("lost"));
    assert!(text.contains("a -->|\"approve\"| b\n"), "{text}");
    assert!(text.contains("a -.->|\"7d\"| b\n"), "{text}");
    assert!(
        !text.contains("current"),
        "unknown current node is not marked"
    );
    assert!(
        text.starts_with("flowchart TD\n"),
        "no title block without a title"
    );
}

#[test]
fn ids_mermaid_would_misread_are_replaced_consistently() {
    let graph = common::graph(
        "",
        &[
            ("end", "结束", NodeKind::Terminal),
            ("a b", "", NodeKind::Task),
        ],
        &[("a b", "end", "", EdgeKind::Auto)],
    );
    let text = to_mermaid(&graph, Some("end"));
    assert!(text.contains("    n0(((\"结束<br/>end\")))\n"), "{text}");
    assert!(text.contains("    n1[\"a b\"]\n"), "{text}");
    assert!(text.contains("    n1 --> n0\n"), "{text}");
    assert!(text.contains("    class n0 current\n"), "{text}");
    assert!(
        !text
            .lines()
            .any(|line| line.trim_start().starts_with("end"))
    );
}

#[test]
fn repeated_node_ids_are_written_once() {
    let graph = common::graph(
        "",
        &[
            ("a", "first", NodeKind::Task),
            ("a", "second", NodeKind::Auto),
        ],
        &[],
    );
    let text = to_mermaid(&graph, None);
    assert_eq!(text.matches("a[\"first<br/>a\"]").count(), 1, "{text}");
    assert!(!text.contains("second"), "{text}");
}

#[test]
fn empty_graph_is_an_empty_flowchart() {
    assert_eq!(to_mermaid(&Graph::default(), None), "flowchart TD\n");
}

#[test]
fn random_graphs_never_panic() {
    let mut rng = common::Rng::new(7);
    for _ in 0..200 {
        let graph = common::random_graph(&mut rng, 12);
        let text = to_mermaid(&graph, Some("s1"));
        assert!(text.contains("flowchart TD\n"));
    }
}
