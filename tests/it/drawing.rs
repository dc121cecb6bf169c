//! Drawings of the product's definitions: the Mermaid text is reviewed as a snapshot; the SVG
//! is checked for content (every state drawn once, the current state lit).

use certdesk_engine::graph::graph;

use crate::support::product;

#[test]
fn join_request_mermaid_drawing() {
    let registry = product();
    let def = registry.get("join_request").unwrap();
    insta::assert_snapshot!(certdesk_diagram::to_mermaid(&graph(def), None));
}

#[test]
fn join_request_svg_draws_every_state_once_and_lights_the_current_one() {
    let registry = product();
    let def = registry.get("join_request").unwrap();
    let svg = certdesk_diagram::to_svg(&graph(def), Some("admin_review"));
    assert!(
        svg.starts_with("<svg") || svg.starts_with("<?xml"),
        "{}",
        &svg[..80.min(svg.len())]
    );
    for s in &def.states {
        let marker = format!("id=\"node-{}\"", s.name);
        assert_eq!(
            svg.matches(&marker).count(),
            1,
            "state {} drawn {} times",
            s.name,
            svg.matches(&marker).count()
        );
        assert!(svg.contains(&s.title), "title {} missing", s.title);
    }
    let current = svg.find("id=\"node-admin_review\"").unwrap();
    let tag_end = svg[current..].find('>').unwrap();
    assert!(
        svg[current..current + tag_end].contains("current"),
        "admin_review is not lit"
    );
    assert_eq!(svg.matches("aria-current=\"step\"").count(), 1);
}

#[test]
fn the_drawing_in_docs_is_current() {
    let registry = product();
    let def = registry.get("join_request").unwrap();
    let committed =
        std::fs::read_to_string(crate::support::root().join("docs/join_request.svg")).unwrap();
    assert!(
        committed == certdesk_diagram::to_svg(&graph(def), None),
        "docs/join_request.svg is stale: run `cargo run -- workflows show join_request --format svg > docs/join_request.svg`"
    );
}
