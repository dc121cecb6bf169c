//! Colours and line styles shared by the Mermaid and SVG writers, so both
//! formats draw a state kind or transition kind the same way.

use crate::graph::{EdgeKind, NodeKind};

/// Fill, stroke and text colour of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeColors {
    /// Background of the shape.
    pub fill: &'static str,
    /// Outline of the shape.
    pub stroke: &'static str,
    /// Colour of the title text.
    pub text: &'static str,
}

/// Colours of a node of the given kind.
pub(crate) fn node_colors(kind: NodeKind) -> NodeColors {
    let (fill, stroke, text) = match kind {
        NodeKind::Start => ("#e8f5e9", "#2e7d32", "#1b5e20"),
        NodeKind::Task => ("#e3f2fd", "#1565c0", "#0d47a1"),
        NodeKind::Auto => ("#fff3e0", "#ef6c00", "#8a3b00"),
        NodeKind::Wait => ("#f3e5f5", "#6a1b9a", "#4a148c"),
        NodeKind::Subflow => ("#e0f7fa", "#00838f", "#004d55"),
        NodeKind::Terminal => ("#eceff1", "#37474f", "#263238"),
    };
    NodeColors { fill, stroke, text }
}

/// Colours of the node an instance is currently in.
pub(crate) const CURRENT: NodeColors = NodeColors {
    fill: "#fff59d",
    stroke: "#d32f2f",
    text: "#3e2723",
};

/// Outline width of ordinary nodes, in pixels.
pub(crate) const NODE_STROKE_WIDTH: f64 = 1.5;
/// Outline width of the current node, in pixels.
pub(crate) const CURRENT_STROKE_WIDTH: f64 = 3.0;

/// Colour of the secondary line (the state id) inside nodes.
pub(crate) const ID_TEXT: &str = "#546e7a";
/// Colour of edge label text.
pub(crate) const EDGE_LABEL_TEXT: &str = "#37474f";

/// Line colour, width and dash pattern of an edge of the given kind.
pub(crate) fn edge_style(kind: EdgeKind) -> (&'static str, f64, Option<&'static str>) {
    match kind {
        EdgeKind::Outcome => ("#455a64", 1.5, None),
        EdgeKind::Timer => ("#8d6e63", 1.5, Some("6 4")),
        EdgeKind::Event => ("#1565c0", 1.5, Some("2 3")),
        EdgeKind::Auto => ("#78909c", 1.5, None),
        EdgeKind::Subflow => ("#00838f", 2.5, None),
    }
}
