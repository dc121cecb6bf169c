//! Standalone SVG output, laid out by [`layout`](crate::layout) without any
//! JavaScript, for the CLI and the admin console.

use std::fmt;

use crate::graph::{EdgeKind, Graph, Node, NodeKind};
use crate::layout::{LABEL_FONT, Layout, NodeBox, PathSegment, Point, Rect, layout};
use crate::shape::{
    ID_FONT, LINE_HEIGHT, SUBFLOW_BAR, TERMINAL_GAP, TITLE_FONT, hexagon, node_text, parallelogram,
};
use crate::text::{escape_xml, one_line};
use crate::theme::{self, CURRENT, CURRENT_STROKE_WIDTH, NODE_STROKE_WIDTH};

/// Fonts asked for, CJK first so Chinese labels render with proper glyphs.
const FONT_FAMILY: &str = "Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif";
/// Prefix of arrowhead marker ids, chosen not to clash with a host page.
const MARKER_PREFIX: &str = "certdesk-arrow-";
/// Distance from a text line's centre to its baseline, in em.
const BASELINE_SHIFT: f64 = 0.35;
/// Accessible name used when the graph has no title.
const UNTITLED: &str = "Workflow diagram";

/// Draws `graph` as a standalone SVG document, highlighting the node with id
/// `current` (if any).
///
/// Nodes are shaped by kind (stadium for start, rectangle for tasks, hexagon
/// for automatic steps, parallelogram for waits, subroutine box for
/// subflows, double outline for terminals) and edges styled by kind, with
/// arrowheads and labels on white backgrounds. Each node is a group with id
/// `node-<id>`; the current one also has class `current` and
/// `aria-current="step"`. Edges naming unknown nodes are left out, an empty
/// graph gives an empty drawing, and the output is deterministic.
pub fn to_svg(graph: &Graph, current: Option<&str>) -> String {
    Svg {
        graph,
        layout: layout(graph),
        current,
    }
    .to_string()
}

/// A laid-out graph ready to be formatted as SVG.
struct Svg<'a> {
    /// The graph to draw.
    graph: &'a Graph,
    /// Where everything goes.
    layout: Layout,
    /// Id of the node to highlight; an unknown id highlights nothing.
    current: Option<&'a str>,
}

impl fmt::Display for Svg<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (width, height) = (num(self.layout.width), num(self.layout.height));
        let title = one_line(&self.graph.title);
        let name = if title.is_empty() { UNTITLED } else { &title };
        writeln!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" \
             width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{}\" \
             font-family=\"{FONT_FAMILY}\" font-size=\"{}\">",
            escape_xml(name),
            num(TITLE_FONT),
        )?;
        writeln!(out, "<title>{}</title>", escape_xml(name))?;
        self.write_markers(out)?;
        writeln!(
            out,
            "<rect class=\"background\" width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>"
        )?;
        self.write_edges(out)?;
        self.write_labels(out)?;
        self.write_nodes(out)?;
        writeln!(out, "</svg>")
    }
}

impl Svg<'_> {
    /// Kinds of the edges that are drawn, each once, in a fixed order.
    fn edge_kinds(&self) -> Vec<EdgeKind> {
        EdgeKind::ALL
            .into_iter()
            .filter(|&kind| {
                self.layout.edges.iter().any(|route| {
                    self.graph
                        .edges
                        .get(route.index)
                        .is_some_and(|edge| edge.kind == kind)
                })
            })
            .collect()
    }

    /// One arrowhead marker per edge kind drawn, coloured like its edges.
    fn write_markers(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds = self.edge_kinds();
        if kinds.is_empty() {
            return Ok(());
        }
        writeln!(out, "<defs>")?;
        for kind in kinds {
            let (color, _, _) = theme::edge_style(kind);
            writeln!(
                out,
                "<marker id=\"{MARKER_PREFIX}{}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
                 markerWidth=\"10\" markerHeight=\"10\" markerUnits=\"userSpaceOnUse\" \
                 orient=\"auto\"><path d=\"M0,1 L10,5 L0,9 Z\" fill=\"{color}\"/></marker>",
                kind.class_name()
            )?;
        }
        writeln!(out, "</defs>")
    }

    /// Edge paths, below labels and nodes.
    fn write_edges(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            out,
            "<g class=\"edges\" fill=\"none\" stroke-linecap=\"round\" stroke-linejoin=\"round\">"
        )?;
        for route in &self.layout.edges {
            let Some(edge) = self.graph.edges.get(route.index) else {
                continue;
            };
            let (color, width, dash) = theme::edge_style(edge.kind);
            let class = edge.kind.class_name();
            write!(
                out,
                "<path class=\"edge {class}\" data-from=\"{}\" data-to=\"{}\" d=\"{}\" \
                 stroke=\"{color}\" stroke-width=\"{}\"",
                escape_xml(&edge.from),
                escape_xml(&edge.to),
                PathData(&route.path),
                num(width),
            )?;
            if let Some(dash) = dash {
                write!(out, " stroke-dasharray=\"{dash}\"")?;
            }
            writeln!(out, " marker-end=\"url(#{MARKER_PREFIX}{class})\"/>")?;
        }
        writeln!(out, "</g>")
    }

    /// Edge labels on white backgrounds, above the edges.
    fn write_labels(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            out,
            "<g class=\"edge-labels\" font-size=\"{}\">",
            num(LABEL_FONT)
        )?;
        for route in &self.layout.edges {
            let (Some(rect), Some(edge)) = (route.label, self.graph.edges.get(route.index)) else {
                continue;
            };
            let centre = rect.center();
            writeln!(
                out,
                "<g class=\"edge-label {}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" \
                 rx=\"3\" fill=\"#ffffff\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" \
                 fill=\"{}\">{}</text></g>",
                edge.kind.class_name(),
                num(rect.x),
                num(rect.y),
                num(rect.width),
                num(rect.height),
                num(centre.x),
                num(centre.y + BASELINE_SHIFT * LABEL_FONT),
                theme::EDGE_LABEL_TEXT,
                escape_xml(&one_line(&edge.label)),
            )?;
        }
        writeln!(out, "</g>")
    }

    /// Node shapes and their text, on top.
    fn write_nodes(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(out, "<g class=\"nodes\">")?;
        for placed in &self.layout.nodes {
            if let Some(node) = self.graph.nodes.get(placed.index) {
                let current = self.current == Some(node.id.as_str());
                write_node(out, node, placed, current)?;
            }
        }
        writeln!(out, "</g>")
    }
}

/// One node: a group holding its shape and text.
fn write_node(
    out: &mut fmt::Formatter<'_>,
    node: &Node,
    placed: &NodeBox,
    current: bool,
) -> fmt::Result {
    let id = escape_xml(&node.id);
    let class = node.kind.class_name();
    let (colors, width) = if current {
        writeln!(
            out,
            "<g id=\"node-{id}\" class=\"node {class} current\" aria-current=\"step\">"
        )?;
        (CURRENT, CURRENT_STROKE_WIDTH)
    } else {
        writeln!(out, "<g id=\"node-{id}\" class=\"node {class}\">")?;
        (theme::node_colors(node.kind), NODE_STROKE_WIDTH)
    };
    let paint = Paint {
        fill: colors.fill,
        stroke: colors.stroke,
        width,
    };
    write_shape(out, node.kind, &placed.rect, &paint)?;
    write_node_text(out, node, &placed.rect, colors.text)?;
    writeln!(out, "</g>")
}

/// Fill and outline of a shape.
struct Paint {
    /// Fill colour, or `none`.
    fill: &'static str,
    /// Outline colour.
    stroke: &'static str,
    /// Outline width.
    width: f64,
}

impl Paint {
    /// The same outline without a fill.
    fn outline(&self) -> Self {
        Self {
            fill: "none",
            stroke: self.stroke,
            width: self.width,
        }
    }
}

impl fmt::Display for Paint {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            out,
            "fill=\"{}\" stroke=\"{}\" stroke-width=\"{}\"",
            self.fill,
            self.stroke,
            num(self.width)
        )
    }
}

/// The outline of a node of `kind` filling `rect`.
fn write_shape(
    out: &mut fmt::Formatter<'_>,
    kind: NodeKind,
    rect: &Rect,
    paint: &Paint,
) -> fmt::Result {
    match kind {
        NodeKind::Start => write_rect(out, rect, rect.height / 2.0, paint),
        NodeKind::Task => write_rect(out, rect, 2.0, paint),
        NodeKind::Auto => writeln!(
            out,
            "<polygon points=\"{}\" {paint}/>",
            Points(&hexagon(rect))
        ),
        NodeKind::Wait => writeln!(
            out,
            "<polygon points=\"{}\" {paint}/>",
            Points(&parallelogram(rect))
        ),
        NodeKind::Subflow => {
            write_rect(out, rect, 2.0, paint)?;
            for x in [rect.x + SUBFLOW_BAR, rect.right() - SUBFLOW_BAR] {
                writeln!(
                    out,
                    "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" {}/>",
                    num(rect.y),
                    num(rect.bottom()),
                    paint.outline(),
                    x = num(x),
                )?;
            }
            Ok(())
        }
        NodeKind::Terminal => {
            write_rect(out, rect, rect.height / 2.0, paint)?;
            let inner = Rect::new(
                rect.x + TERMINAL_GAP,
                rect.y + TERMINAL_GAP,
                rect.width - 2.0 * TERMINAL_GAP,
                rect.height - 2.0 * TERMINAL_GAP,
            );
            write_rect(out, &inner, inner.height / 2.0, &paint.outline())
        }
    }
}

/// A `<rect>` element with corner radius `radius`.
fn write_rect(
    out: &mut fmt::Formatter<'_>,
    rect: &Rect,
    radius: f64,
    paint: &Paint,
) -> fmt::Result {
    writeln!(
        out,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{}\" {paint}/>",
        num(rect.x),
        num(rect.y),
        num(rect.width),
        num(rect.height),
        num(radius.max(0.0)),
    )
}

/// The title line of a node and, below it in smaller type, its id.
fn write_node_text(
    out: &mut fmt::Formatter<'_>,
    node: &Node,
    rect: &Rect,
    color: &str,
) -> fmt::Result {
    let text = node_text(node);
    let centre = rect.center();
    let Some(id) = &text.id else {
        return write_text(out, centre.x, centre.y, TITLE_FONT, color, &text.title);
    };
    let top = centre.y - (TITLE_FONT + ID_FONT) * LINE_HEIGHT / 2.0;
    let title_middle = top + TITLE_FONT * LINE_HEIGHT / 2.0;
    let id_middle = top + TITLE_FONT * LINE_HEIGHT + ID_FONT * LINE_HEIGHT / 2.0;
    write_text(out, centre.x, title_middle, TITLE_FONT, color, &text.title)?;
    write_text(out, centre.x, id_middle, ID_FONT, theme::ID_TEXT, id)
}

/// One centred line of text whose middle is at `middle`.
fn write_text(
    out: &mut fmt::Formatter<'_>,
    x: f64,
    middle: f64,
    size: f64,
    color: &str,
    text: &str,
) -> fmt::Result {
    let size_attribute = if size == TITLE_FONT {
        String::new()
    } else {
        format!(" font-size=\"{}\"", num(size))
    };
    writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\"{size_attribute} fill=\"{color}\">{}</text>",
        num(x),
        num(middle + BASELINE_SHIFT * size),
        escape_xml(text),
    )
}

/// The value of a `points` attribute.
struct Points<'a>(&'a [Point]);

impl fmt::Display for Points<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, p) in self.0.iter().enumerate() {
            let separator = if index == 0 { "" } else { " " };
            write!(out, "{separator}{},{}", num(p.x), num(p.y))?;
        }
        Ok(())
    }
}

/// The value of a path's `d` attribute.
struct PathData<'a>(&'a [PathSegment]);

impl fmt::Display for PathData<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, segment) in self.0.iter().enumerate() {
            if index > 0 {
                out.write_str(" ")?;
            }
            match segment {
                PathSegment::MoveTo(p) => write!(out, "M{},{}", num(p.x), num(p.y))?,
                PathSegment::LineTo(p) => write!(out, "L{},{}", num(p.x), num(p.y))?,
                PathSegment::QuadTo(c, p) => {
                    write!(out, "Q{},{} {},{}", num(c.x), num(c.y), num(p.x), num(p.y))?;
                }
                PathSegment::CubicTo(a, b, p) => write!(
                    out,
                    "C{},{} {},{} {},{}",
                    num(a.x),
                    num(a.y),
                    num(b.x),
                    num(b.y),
                    num(p.x),
                    num(p.y)
                )?,
            }
        }
        Ok(())
    }
}

/// A coordinate written with at most one decimal, without `-0`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Num(f64);

/// Wraps a coordinate for writing.
fn num(value: f64) -> Num {
    Num(value)
}

impl fmt::Display for Num {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rounded = (self.0 * 10.0).round() / 10.0;
        if !rounded.is_finite() || rounded == 0.0 {
            out.write_str("0")
        } else {
            write!(out, "{rounded}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_and_stable() {
        assert_eq!(num(12.0).to_string(), "12");
        assert_eq!(num(12.34).to_string(), "12.3");
        assert_eq!(num(-0.01).to_string(), "0");
        assert_eq!(num(-2.25).to_string(), "-2.3");
        assert_eq!(num(0.3).to_string(), "0.3");
        assert_eq!(num(f64::NAN).to_string(), "0");
    }
}
