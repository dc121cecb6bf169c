//! SVG output and layout geometry, checked at the text level and on the
//! rectangles [`layout`] reports.

mod common;

use certdesk_diagram::{
    EdgeKind, Graph, Layout, NodeKind, PathSegment, Point, RouteKind, layout, to_svg,
};

/// Every pair of node boxes is disjoint.
fn assert_no_overlap(layout: &Layout) {
    for (i, a) in layout.nodes.iter().enumerate() {
        for b in &layout.nodes[i + 1..] {
            assert!(
                !a.rect.overlaps(&b.rect),
                "{} overlaps {}: {a:?} {b:?}",
                a.id,
                b.id
            );
        }
    }
}

/// Everything drawn lies inside the drawing.
fn assert_inside(layout: &Layout) {
    let boxes = layout
        .nodes
        .iter()
        .map(|node| node.rect)
        .chain(layout.edges.iter().filter_map(|edge| edge.label));
    for rect in boxes {
        assert!(
            rect.x >= 0.0
                && rect.y >= 0.0
                && rect.right() <= layout.width
                && rect.bottom() <= layout.height,
            "{rect:?} outside {}x{}",
            layout.width,
            layout.height
        );
    }
}

/// First and last point of a path.
fn ends(path: &[PathSegment]) -> Option<(Point, Point)> {
    let point = |segment: &PathSegment| match *segment {
        PathSegment::MoveTo(p) | PathSegment::LineTo(p) => p,
        PathSegment::QuadTo(_, p) | PathSegment::CubicTo(_, _, p) => p,
    };
    Some((point(path.first()?), point(path.last()?)))
}

/// Ids of the `<g id="node-…"` groups, in document order.
fn node_groups(svg: &str) -> Vec<&str> {
    svg.split("<g id=\"node-")
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(id, _)| id))
        .collect()
}

#[test]
fn every_node_is_one_group_and_the_current_one_is_marked() {
    let graph = common::issuance();
    let svg = to_svg(&graph, Some("admin_review"));
    common::assert_well_formed_svg(&svg);
    let groups = node_groups(&svg);
    assert_eq!(groups.len(), graph.nodes.len());
    for node in &graph.nodes {
        assert_eq!(
            groups.iter().filter(|&&id| id == node.id).count(),
            1,
            "{}",
            node.id
        );
    }
    assert_eq!(svg.matches("class=\"node task current\"").count(), 1);
    assert_eq!(svg.matches("aria-current=\"step\"").count(), 1);
    assert!(
        svg.contains(
            "<g id=\"node-admin_review\" class=\"node task current\" aria-current=\"step\">"
        ),
        "{svg}"
    );
    assert!(svg.contains("<text x=\"") && svg.contains(">管理员审核</text>"));
}

#[test]
fn document_has_size_title_and_accessible_name() {
    let svg = to_svg(&common::small(), None);
    let header = svg.lines().next().unwrap();
    for needle in [
        "xmlns=\"http://www.w3.org/2000/svg\"",
        "viewBox=\"0 0 ",
        " width=\"",
        " height=\"",
        "role=\"img\"",
        "aria-label=\"证书签发 issue\"",
        "font-family=\"Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif\"",
    ] {
        assert!(header.contains(needle), "{needle} missing from {header}");
    }
    assert!(svg.contains("<title>证书签发 issue</title>"));
    assert!(svg.ends_with("</svg>\n"));
    assert!(
        !svg.contains("current"),
        "nothing is highlighted without a current node"
    );
    for kind in ["outcome", "timer", "event", "auto", "subflow"] {
        assert!(
            svg.contains(&format!("<marker id=\"certdesk-arrow-{kind}\"")),
            "{kind}"
        );
    }
}

#[test]
fn output_is_deterministic() {
    let graph = common::issuance();
    assert_eq!(
        to_svg(&graph, Some("issued")),
        to_svg(&graph.clone(), Some("issued"))
    );
    assert_eq!(layout(&graph), layout(&graph));
}

#[test]
fn quotes_markup_and_ampersands_are_escaped() {
    let graph = common::graph(
        "A & B <\"审核\">",
        &[
            ("a\"<&", "审核 \"urgent\" <b> & co", NodeKind::Start),
            ("b", "it's <done>", NodeKind::Terminal),
        ],
        &[("a\"<&", "b", "\"ok\" <br/> & more", EdgeKind::Outcome)],
    );
    let svg = to_svg(&graph, Some("a\"<&"));
    common::assert_well_formed_svg(&svg);
    assert!(
        svg.contains("<title>A &amp; B &lt;&quot;审核&quot;&gt;</title>"),
        "{svg}"
    );
    assert!(svg.contains("<g id=\"node-a&quot;&lt;&amp;\" class=\"node start current\""));
    assert!(svg.contains(">审核 &quot;urgent&quot; &lt;b&gt; &amp; co</text>"));
    assert!(svg.contains(">&quot;ok&quot; &lt;br/&gt; &amp; more</text>"));
    assert!(svg.contains(">it&apos;s &lt;done&gt;</text>"));
}

#[test]
fn node_boxes_never_overlap() {
    for graph in [common::small(), common::issuance()] {
        let placed = layout(&graph);
        assert_eq!(placed.nodes.len(), graph.nodes.len());
        assert_no_overlap(&placed);
        assert_inside(&placed);
    }
}

#[test]
fn labels_overlap_neither_boxes_nor_each_other() {
    let placed = layout(&common::issuance());
    let labels: Vec<_> = placed.edges.iter().filter_map(|edge| edge.label).collect();
    assert_eq!(labels.len(), 13, "every labelled edge has a label box");
    for (i, label) in labels.iter().enumerate() {
        for node in &placed.nodes {
            assert!(!label.overlaps(&node.rect), "{label:?} covers {}", node.id);
        }
        for other in &labels[i + 1..] {
            assert!(!label.overlaps(other), "{label:?} covers {other:?}");
        }
    }
}

#[test]
fn chinese_labels_get_wider_boxes() {
    let graph = common::graph(
        "",
        &[
            ("a", "审核", NodeKind::Task),
            ("b", "管理员审核与证书信息复核", NodeKind::Task),
        ],
        &[],
    );
    let placed = layout(&graph);
    let (a, b) = (placed.node("a").unwrap(), placed.node("b").unwrap());
    assert!(b.rect.width >= 12.0 * 13.0, "{:?}", b.rect);
    assert!(b.rect.width > a.rect.width + 100.0);
}

#[test]
fn path_goes_down_strictly_by_layer() {
    let graph = common::graph(
        "",
        &[
            ("c", "C", NodeKind::Terminal),
            ("b", "B", NodeKind::Task),
            ("a", "A", NodeKind::Start),
        ],
        &[
            ("a", "b", "", EdgeKind::Outcome),
            ("b", "c", "", EdgeKind::Outcome),
        ],
    );
    let placed = layout(&graph);
    let (a, b, c) = (
        placed.node("a").unwrap(),
        placed.node("b").unwrap(),
        placed.node("c").unwrap(),
    );
    assert!(a.rank < b.rank && b.rank < c.rank, "{a:?} {b:?} {c:?}");
    assert!(a.rect.bottom() < b.rect.y && b.rect.bottom() < c.rect.y);
    for route in &placed.edges {
        assert_eq!(route.kind, RouteKind::Forward);
    }
}

#[test]
fn edges_run_from_outline_to_outline() {
    let graph = common::small();
    let placed = layout(&graph);
    assert_eq!(placed.edges.len(), graph.edges.len());
    for route in &placed.edges {
        let edge = &graph.edges[route.index];
        let (from, to) = (
            placed.node(&edge.from).unwrap(),
            placed.node(&edge.to).unwrap(),
        );
        let (start, end) = ends(&route.path).unwrap();
        assert!(matches!(route.path[0], PathSegment::MoveTo(_)));
        match route.kind {
            RouteKind::Forward => {
                assert!((start.y - from.rect.bottom()).abs() < 1e-6, "{route:?}");
                assert!((end.y - to.rect.y).abs() < 1e-6, "{route:?}");
            }
            RouteKind::Back => {
                assert_eq!(
                    (edge.from.as_str(), edge.to.as_str()),
                    ("admin_review", "submitted")
                );
                assert!((start.x - from.rect.right()).abs() < 1e-6, "{route:?}");
                // The target is a stadium, whose right side is rounded.
                assert!(
                    end.x <= to.rect.right() && end.x > to.rect.center().x,
                    "{route:?}"
                );
                assert!(end.y > to.rect.y && end.y < to.rect.bottom());
            }
            RouteKind::SelfLoop => panic!("no self-loops here"),
        }
    }
}

#[test]
fn cycles_terminate_and_draw_every_node() {
    let graph = common::graph(
        "loop",
        &[
            ("a", "甲", NodeKind::Task),
            ("b", "乙", NodeKind::Task),
            ("c", "丙", NodeKind::Wait),
        ],
        &[
            ("a", "b", "go", EdgeKind::Outcome),
            ("b", "c", "on", EdgeKind::Outcome),
            ("c", "a", "again", EdgeKind::Timer),
            ("b", "b", "retry", EdgeKind::Auto),
            ("c", "b", "back", EdgeKind::Event),
        ],
    );
    let placed = layout(&graph);
    assert_eq!(placed.nodes.len(), 3);
    assert_eq!(placed.edges.len(), 5);
    assert_no_overlap(&placed);
    let kinds: Vec<RouteKind> = placed.edges.iter().map(|edge| edge.kind).collect();
    assert_eq!(
        kinds,
        [
            RouteKind::Forward,
            RouteKind::Forward,
            RouteKind::Back,
            RouteKind::SelfLoop,
            RouteKind::Back
        ]
    );
    let svg = to_svg(&graph, Some("c"));
    common::assert_well_formed_svg(&svg);
    assert_eq!(node_groups(&svg), ["a", "b", "c"]);
}

#[test]
fn unknown_endpoints_are_skipped() {
    let graph = common::graph(
        "",
        &[("a", "A", NodeKind::Start), ("b", "B", NodeKind::Terminal)],
        &[
            ("a", "ghost", "lost", EdgeKind::Outcome),
            ("a", "b", "ok", EdgeKind::Outcome),
            ("nobody", "a", "lost", EdgeKind::Event),
        ],
    );
    let placed = layout(&graph);
    assert_eq!(placed.edges.len(), 1);
    assert_eq!(placed.edges[0].index, 1);
    let svg = to_svg(&graph, Some("ghost"));
    common::assert_well_formed_svg(&svg);
    assert!(!svg.contains("ghost") && !svg.contains("lost") && !svg.contains("nobody"));
    assert_eq!(svg.matches("<path class=\"edge").count(), 1);
    assert!(!svg.contains("current"));
}

#[test]
fn parallel_edges_stay_separate() {
    let graph = common::graph(
        "",
        &[("a", "A", NodeKind::Start), ("b", "B", NodeKind::Terminal)],
        &[
            ("a", "b", "approve", EdgeKind::Outcome),
            ("a", "b", "7d", EdgeKind::Timer),
        ],
    );
    let placed = layout(&graph);
    let labels: Vec<_> = placed
        .edges
        .iter()
        .map(|edge| edge.label.unwrap())
        .collect();
    assert_eq!(labels.len(), 2);
    assert!(!labels[0].overlaps(&labels[1]));
    let svg = to_svg(&graph, None);
    assert!(svg.contains(">approve</text>") && svg.contains(">7d</text>"));
}

#[test]
fn repeated_node_ids_are_drawn_once() {
    let graph = common::graph(
        "",
        &[
            ("a", "first", NodeKind::Task),
            ("a", "second", NodeKind::Auto),
        ],
        &[("a", "a", "self", EdgeKind::Outcome)],
    );
    let svg = to_svg(&graph, Some("a"));
    common::assert_well_formed_svg(&svg);
    assert_eq!(node_groups(&svg), ["a"]);
    assert!(svg.contains(">first</text>") && !svg.contains("second"));
}

#[test]
fn empty_graph_is_a_valid_empty_drawing() {
    let placed = layout(&Graph::default());
    assert!(placed.nodes.is_empty() && placed.edges.is_empty());
    assert!(placed.width > 0.0 && placed.height > 0.0);
    let svg = to_svg(&Graph::default(), Some("anything"));
    common::assert_well_formed_svg(&svg);
    assert!(svg.contains("<title>Workflow diagram</title>"));
    assert!(node_groups(&svg).is_empty());
    assert!(!svg.contains("<path"));
}

#[test]
fn random_graphs_lay_out_cleanly() {
    let mut rng = common::Rng::new(42);
    for _ in 0..300 {
        let graph = common::random_graph(&mut rng, 14);
        let placed = layout(&graph);
        let mut ids: Vec<&str> = graph.nodes.iter().map(|node| node.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(placed.nodes.len(), ids.len());
        assert_no_overlap(&placed);
        assert_inside(&placed);
        for route in &placed.edges {
            let edge = &graph.edges[route.index];
            let (from, to) = (
                placed.node(&edge.from).unwrap(),
                placed.node(&edge.to).unwrap(),
            );
            if route.kind == RouteKind::Forward {
                assert!(from.rank < to.rank, "{edge:?}");
            }
            assert!(route.path.iter().all(|segment| match *segment {
                PathSegment::MoveTo(p) | PathSegment::LineTo(p) =>
                    p.x.is_finite() && p.y.is_finite(),
                PathSegment::QuadTo(c, p) => c.x.is_finite() && p.y.is_finite(),
                PathSegment::CubicTo(a, b, p) =>
                    a.x.is_finite() && b.y.is_finite() && p.x.is_finite(),
            }));
        }
        let svg = to_svg(&graph, Some("s0"));
        common::assert_well_formed_svg(&svg);
        assert_eq!(node_groups(&svg).len(), ids.len());
    }
}

#[test]
fn large_random_graph_is_laid_out_without_overlap() {
    let mut rng = common::Rng::new(3);
    let graph = common::random_graph(&mut rng, 400);
    let placed = layout(&graph);
    assert_no_overlap(&placed);
}
