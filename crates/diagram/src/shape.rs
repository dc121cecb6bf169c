//! Node shapes: how large a node must be to hold its text, and where its
//! outline runs, so edges start and end exactly on it.

use crate::graph::{Node, NodeKind};
use crate::layout::{Point, Rect};
use crate::text::{one_line, text_width};

/// Font size of a node's title line, in pixels.
pub(crate) const TITLE_FONT: f64 = 13.0;
/// Font size of a node's id line, in pixels.
pub(crate) const ID_FONT: f64 = 11.0;
/// Line height as a multiple of the font size.
pub(crate) const LINE_HEIGHT: f64 = 1.3;
/// Horizontal padding between text and outline.
const PAD_X: f64 = 14.0;
/// Vertical padding between text and outline.
const PAD_Y: f64 = 8.0;
/// Narrowest node drawn, so short titles still make a comfortable box.
const MIN_WIDTH: f64 = 80.0;
/// Horizontal skew of a parallelogram (wait states).
pub(crate) const SKEW: f64 = 12.0;
/// Distance of a subroutine's inner bars from its sides (subflow states).
pub(crate) const SUBFLOW_BAR: f64 = 7.0;
/// Gap between the two outlines of a terminal state.
pub(crate) const TERMINAL_GAP: f64 = 4.0;

/// The text drawn inside a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeText {
    /// Main line: the label, or the id when the label is empty.
    pub title: String,
    /// Second, smaller line with the id, unless the title already shows it.
    pub id: Option<String>,
}

/// The lines of text drawn inside `node`.
pub(crate) fn node_text(node: &Node) -> NodeText {
    let label = one_line(&node.label);
    let id = one_line(&node.id);
    if label.is_empty() || label == id {
        NodeText {
            title: id,
            id: None,
        }
    } else {
        NodeText {
            title: label,
            id: Some(id),
        }
    }
}

/// Width and height of the box that holds `node`.
pub(crate) fn node_size(node: &Node) -> (f64, f64) {
    let text = node_text(node);
    let title_width = text_width(&text.title, TITLE_FONT);
    let id_width = text.id.as_deref().map_or(0.0, |id| text_width(id, ID_FONT));
    let lines_height = match text.id {
        Some(_) => (TITLE_FONT + ID_FONT) * LINE_HEIGHT,
        None => TITLE_FONT * LINE_HEIGHT,
    };
    let height = (lines_height + 2.0 * PAD_Y).ceil();
    let extra = match node.kind {
        NodeKind::Task => 0.0,
        NodeKind::Start => height / 3.0,
        NodeKind::Terminal => height / 3.0 + 2.0 * TERMINAL_GAP,
        NodeKind::Auto => hexagon_inset(height),
        NodeKind::Wait => SKEW,
        NodeKind::Subflow => 2.0 * SUBFLOW_BAR,
    };
    let width = (title_width.max(id_width) + 2.0 * PAD_X + extra)
        .max(MIN_WIDTH)
        .ceil();
    (width, height)
}

/// How far a hexagon's top and bottom edges stop short of its sides.
pub(crate) fn hexagon_inset(height: f64) -> f64 {
    height / 4.0
}

/// Which side of a node an edge attaches to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The left side.
    Left,
    /// The right side.
    Right,
}

/// The x coordinate where the outline of a `kind` node drawn in `rect`
/// crosses the horizontal line at `y`, on the given side.
pub(crate) fn boundary_x(kind: NodeKind, rect: &Rect, y: f64, side: Side) -> f64 {
    let half = rect.height / 2.0;
    let dy = (y - (rect.y + half)).abs().min(half);
    let inset = match kind {
        NodeKind::Task | NodeKind::Subflow => 0.0,
        NodeKind::Start | NodeKind::Terminal => half - (half * half - dy * dy).max(0.0).sqrt(),
        NodeKind::Auto => hexagon_inset(rect.height) * dy / half.max(f64::EPSILON),
        NodeKind::Wait => {
            // The left side leans right towards the top, the right side leans
            // left towards the bottom.
            let from_top = ((y - rect.y) / rect.height.max(f64::EPSILON)).clamp(0.0, 1.0);
            match side {
                Side::Left => SKEW * (1.0 - from_top),
                Side::Right => SKEW * from_top,
            }
        }
    };
    match side {
        Side::Left => rect.x + inset,
        Side::Right => rect.x + rect.width - inset,
    }
}

/// The horizontal span of the flat part of a node's top (`bottom == false`)
/// or bottom edge, where vertical edges may attach.
pub(crate) fn flat_span(kind: NodeKind, rect: &Rect, bottom: bool) -> (f64, f64) {
    let (left, right) = (rect.x, rect.x + rect.width);
    let (lo, hi) = match kind {
        NodeKind::Task | NodeKind::Subflow => (left, right),
        NodeKind::Start | NodeKind::Terminal => {
            (left + rect.height / 2.0, right - rect.height / 2.0)
        }
        NodeKind::Auto => {
            let inset = hexagon_inset(rect.height);
            (left + inset, right - inset)
        }
        NodeKind::Wait if bottom => (left, right - SKEW),
        NodeKind::Wait => (left + SKEW, right),
    };
    if lo <= hi {
        (lo, hi)
    } else {
        let middle = rect.x + rect.width / 2.0;
        (middle, middle)
    }
}

/// Corners of the hexagon drawn for automatic states, clockwise from the left.
pub(crate) fn hexagon(rect: &Rect) -> [Point; 6] {
    let inset = hexagon_inset(rect.height);
    let (l, r) = (rect.x, rect.x + rect.width);
    let (t, b, m) = (rect.y, rect.y + rect.height, rect.y + rect.height / 2.0);
    [
        Point::new(l, m),
        Point::new(l + inset, t),
        Point::new(r - inset, t),
        Point::new(r, m),
        Point::new(r - inset, b),
        Point::new(l + inset, b),
    ]
}

/// Corners of the parallelogram drawn for wait states, clockwise from the
/// top left.
pub(crate) fn parallelogram(rect: &Rect) -> [Point; 4] {
    let (l, r) = (rect.x, rect.x + rect.width);
    let (t, b) = (rect.y, rect.y + rect.height);
    [
        Point::new(l + SKEW, t),
        Point::new(r, t),
        Point::new(r - SKEW, b),
        Point::new(l, b),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_titles_get_wider_boxes_than_the_minimum() {
        let node = Node::new("review", "管理员审核与证书信息复核", NodeKind::Task);
        let (width, height) = node_size(&node);
        assert!(width >= 12.0 * TITLE_FONT + 2.0 * PAD_X, "{width}");
        assert!(height > 2.0 * TITLE_FONT, "{height}");
    }

    #[test]
    fn empty_label_shows_id_once() {
        let text = node_text(&Node::new("done", "", NodeKind::Terminal));
        assert_eq!(text.title, "done");
        assert_eq!(text.id, None);
    }

    #[test]
    fn boundaries_stay_inside_the_box() {
        let rect = Rect::new(10.0, 20.0, 120.0, 48.0);
        for kind in NodeKind::ALL {
            for step in 0..=10 {
                let y = rect.y + rect.height * f64::from(step) / 10.0;
                let left = boundary_x(kind, &rect, y, Side::Left);
                let right = boundary_x(kind, &rect, y, Side::Right);
                assert!(rect.x <= left && left < right && right <= rect.x + rect.width);
            }
            let (lo, hi) = flat_span(kind, &rect, true);
            assert!(rect.x <= lo && lo <= hi && hi <= rect.x + rect.width);
        }
    }
}
