//! Edge routing: turns each chain of items into a path from the outline of
//! one node to the outline of another, plus the box its label sits in.
//!
//! Downward edges leave the bottom of their source and enter the top of their
//! target, running straight through each layer they cross and curving in the
//! gaps between layers. Back edges leave and enter the right side of their
//! nodes through ports and run upwards the same way; self-loops hang on the
//! left side of their node.

use super::layered::{Chain, ItemKind, Layered};
use super::{EdgeRoute, PathSegment, Point, Rect, RouteKind};
use crate::graph::NodeKind;
use crate::shape::{Side, boundary_x, flat_span};

/// Radius of the rounded corners where back edges and loops turn.
const CORNER_RADIUS: f64 = 6.0;
/// Widest spacing between edges sharing the top or bottom of a node.
const MAX_PORT_SPREAD: f64 = 16.0;
/// Share of a node's flat top or bottom that edges may spread over.
const PORT_SPREAD_SHARE: f64 = 0.7;
/// Widest spacing between back edges on the side of a node.
const MAX_SIDE_SPACING: f64 = 8.0;
/// Vertical distance from a node's centre to the legs of its inner self-loop.
const LOOP_LEG: f64 = 12.0;
/// Extra vertical distance for each further self-loop on the same node.
const LOOP_STEP: f64 = 4.0;

/// What routing needs to know about the laid-out graph.
pub(super) struct Geometry<'a> {
    /// The layered graph with positions assigned.
    pub graph: &'a Layered,
    /// Top and height of every layer.
    pub bands: &'a [(f64, f64)],
    /// Box of every node.
    pub rects: &'a [Rect],
    /// Kind of every node.
    pub kinds: &'a [NodeKind],
}

impl Geometry<'_> {
    /// Horizontal centre of an item.
    fn x(&self, item: usize) -> f64 {
        self.graph.items.get(item).map_or(0.0, |i| i.x)
    }

    /// Top and bottom of the layer an item lives in.
    fn band(&self, item: usize) -> (f64, f64) {
        let layer = self.graph.items.get(item).map_or(0, |i| i.layer);
        self.bands
            .get(layer)
            .map_or((0.0, 0.0), |&(top, height)| (top, top + height))
    }

    /// Box of a node.
    fn rect(&self, node: usize) -> Rect {
        self.rects.get(node).copied().unwrap_or_default()
    }

    /// Kind of a node.
    fn kind(&self, node: usize) -> NodeKind {
        self.kinds.get(node).copied().unwrap_or(NodeKind::Task)
    }
}

/// Routes every chain, in chain order; `edge_index` maps the resolved edge
/// positions stored in chains to indices into the graph's edges.
pub(super) fn routes(geometry: &Geometry<'_>, edge_index: &[usize]) -> Vec<EdgeRoute> {
    let ends = spread_vertical_ends(geometry);
    geometry
        .graph
        .chains
        .iter()
        .zip(ends)
        .map(|(chain, (start_x, end_x))| {
            let path = match chain.kind {
                RouteKind::Forward => forward_path(geometry, chain, start_x, end_x),
                RouteKind::Back => back_path(geometry, chain),
                RouteKind::SelfLoop => loop_path(geometry, chain),
            };
            EdgeRoute {
                index: edge_index.get(chain.edge).copied().unwrap_or(chain.edge),
                kind: chain.kind,
                path,
                label: label_rect(geometry, chain),
            }
        })
        .collect()
}

/// Where each downward edge leaves its source and enters its target: edges
/// sharing a side of a node are spread over its flat part in the order of
/// the items they run to, so they do not cross at the node.
fn spread_vertical_ends(geometry: &Geometry<'_>) -> Vec<(f64, f64)> {
    let chains = &geometry.graph.chains;
    let node_count = geometry.rects.len();
    // (x of the next item along the edge, chain)
    let mut leaving = vec![Vec::new(); node_count];
    let mut entering = vec![Vec::new(); node_count];
    for (index, chain) in chains.iter().enumerate() {
        if chain.kind != RouteKind::Forward {
            continue;
        }
        let first = chain.middle.first().copied().unwrap_or(chain.bottom);
        let last = chain.middle.last().copied().unwrap_or(chain.top);
        if let Some(list) = leaving.get_mut(chain.top) {
            list.push((geometry.x(first), index));
        }
        if let Some(list) = entering.get_mut(chain.bottom) {
            list.push((geometry.x(last), index));
        }
    }
    let mut ends: Vec<(f64, f64)> = chains
        .iter()
        .map(|chain| (geometry.x(chain.top), geometry.x(chain.bottom)))
        .collect();
    for (node, (mut out, mut into)) in leaving.into_iter().zip(entering).enumerate() {
        let rect = geometry.rect(node);
        let kind = geometry.kind(node);
        for (list, bottom) in [(&mut out, true), (&mut into, false)] {
            list.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let (lo, hi) = flat_span(kind, &rect, bottom);
            let centre = rect.center().x;
            let count = list.len();
            let step = if count > 1 {
                ((hi - lo) * PORT_SPREAD_SHARE / (count - 1) as f64).min(MAX_PORT_SPREAD)
            } else {
                0.0
            };
            for (slot, &(_, chain)) in list.iter().enumerate() {
                let x = (centre + (slot as f64 - (count - 1) as f64 / 2.0) * step).clamp(lo, hi);
                if let Some(end) = ends.get_mut(chain) {
                    if bottom {
                        end.0 = x;
                    } else {
                        end.1 = x;
                    }
                }
            }
        }
    }
    ends
}

/// Path of a downward edge: from the bottom of its source, straight through
/// every layer it crosses, to the top of its target.
fn forward_path(
    geometry: &Geometry<'_>,
    chain: &Chain,
    start_x: f64,
    end_x: f64,
) -> Vec<PathSegment> {
    let source = geometry.rect(chain.top);
    let target = geometry.rect(chain.bottom);
    let mut path = PathBuilder::new(Point::new(start_x, source.bottom()));
    path.line_to(Point::new(start_x, geometry.band(chain.top).1));
    for &item in &chain.middle {
        let (top, bottom) = geometry.band(item);
        let x = geometry.x(item);
        path.curve_to(Point::new(x, top));
        path.line_to(Point::new(x, bottom));
    }
    path.curve_to(Point::new(end_x, geometry.band(chain.bottom).0));
    path.line_to(Point::new(end_x, target.y));
    path.finish()
}

/// Path of a back edge: out of the right side of its source (the lower
/// node), up through its port and every layer in between, and into the right
/// side of its target (the upper node).
fn back_path(geometry: &Geometry<'_>, chain: &Chain) -> Vec<PathSegment> {
    let (source, target) = (chain.bottom, chain.top);
    let source_port = chain.bottom_port.unwrap_or(source);
    let target_port = chain.top_port.unwrap_or(target);
    let source_rect = geometry.rect(source);
    let target_rect = geometry.rect(target);
    let source_leg = port_leg(geometry, source_port, &source_rect);
    let target_leg = port_leg(geometry, target_port, &target_rect);
    let start_x = boundary_x(geometry.kind(source), &source_rect, source_leg, Side::Right);
    let end_x = boundary_x(geometry.kind(target), &target_rect, target_leg, Side::Right);

    let mut path = PathBuilder::new(Point::new(start_x, source_leg));
    let port_x = geometry.x(source_port);
    let source_top = Point::new(port_x, geometry.band(source).0);
    path.corner(Point::new(port_x, source_leg), source_top);
    path.line_to(source_top);
    for &item in chain.middle.iter().rev() {
        let (top, bottom) = geometry.band(item);
        let x = geometry.x(item);
        path.curve_to(Point::new(x, bottom));
        path.line_to(Point::new(x, top));
    }
    let port_x = geometry.x(target_port);
    path.curve_to(Point::new(port_x, geometry.band(target).1));
    let end = Point::new(end_x, target_leg);
    path.corner(Point::new(port_x, target_leg), end);
    path.line_to(end);
    path.finish()
}

/// Height at which the back edge of `port` meets its node: upward edges
/// above the centre, downward ones below, inner ports furthest out, so the
/// edges on one side of a node never cross.
fn port_leg(geometry: &Geometry<'_>, port: usize, rect: &Rect) -> f64 {
    let centre = rect.center().y;
    match geometry.graph.items.get(port).map(|item| item.kind) {
        Some(ItemKind::Port {
            up, slot, count, ..
        }) => {
            let room = (rect.height / 2.0 - CORNER_RADIUS).max(0.0);
            let step = (room / count.max(1) as f64).min(MAX_SIDE_SPACING);
            let distance = (count - slot) as f64 * step;
            if up {
                centre - distance
            } else {
                centre + distance
            }
        }
        _ => centre,
    }
}

/// Path of a self-loop: out of the left side of its node near the top, round
/// its loop item, and back in near the bottom.
fn loop_path(geometry: &Geometry<'_>, chain: &Chain) -> Vec<PathSegment> {
    let node = chain.top;
    let rect = geometry.rect(node);
    let kind = geometry.kind(node);
    let item = chain.loop_item.unwrap_or(node);
    let slot = match geometry.graph.items.get(item).map(|i| i.kind) {
        Some(ItemKind::Loop { slot, .. }) => slot,
        _ => 0,
    };
    let half = rect.height / 2.0;
    let leg = (LOOP_LEG + LOOP_STEP * slot as f64)
        .min(half - 3.0)
        .max(0.0);
    let centre = rect.center().y;
    let (upper, lower) = (centre - leg, centre + leg);
    let x = match chain.loop_item {
        Some(item) => geometry.x(item),
        None => rect.x - 2.0 * LOOP_LEG,
    };
    let mut path = PathBuilder::new(Point::new(
        boundary_x(kind, &rect, upper, Side::Left),
        upper,
    ));
    let end = Point::new(boundary_x(kind, &rect, lower, Side::Left), lower);
    path.corner(Point::new(x, upper), Point::new(x, lower));
    path.corner(Point::new(x, lower), end);
    path.line_to(end);
    path.finish()
}

/// Box of the label of a chain, centred on its label item.
fn label_rect(geometry: &Geometry<'_>, chain: &Chain) -> Option<Rect> {
    let (width, height) = chain.label_size?;
    let item = chain.label?;
    let centre_y = match chain.kind {
        RouteKind::SelfLoop => geometry.rect(chain.top).center().y,
        RouteKind::Forward | RouteKind::Back => {
            let (top, bottom) = geometry.band(item);
            (top + bottom) / 2.0
        }
    };
    Some(Rect::new(
        geometry.x(item) - width / 2.0,
        centre_y - height / 2.0,
        width,
        height,
    ))
}

/// Below this, distances are treated as zero: far less than the 0.1 pixel
/// precision the SVG is written with.
const TOLERANCE: f64 = 0.01;

/// Collects path segments, dropping ones of zero length so arrowheads always
/// take their direction from a real segment, and merging straight lines that
/// continue each other.
struct PathBuilder {
    /// Segments so far, starting with a move.
    segments: Vec<PathSegment>,
    /// Where the path currently ends.
    current: Point,
    /// Where the last segment started, if it is a straight line.
    line_start: Option<Point>,
}

impl PathBuilder {
    /// Starts a path at `start`.
    fn new(start: Point) -> Self {
        Self {
            segments: vec![PathSegment::MoveTo(start)],
            current: start,
            line_start: None,
        }
    }

    /// Draws a straight line to `to`.
    fn line_to(&mut self, to: Point) {
        if self.current.distance(to) <= TOLERANCE {
            return;
        }
        if let Some(start) = self.line_start
            && continues(start, self.current, to)
            && let Some(PathSegment::LineTo(end)) = self.segments.last_mut()
        {
            *end = to;
        } else {
            self.segments.push(PathSegment::LineTo(to));
            self.line_start = Some(self.current);
        }
        self.current = to;
    }

    /// Draws an S-curve to `to` that leaves and arrives vertically.
    fn curve_to(&mut self, to: Point) {
        if (self.current.x - to.x).abs() <= TOLERANCE {
            self.line_to(to);
            return;
        }
        let middle = (self.current.y + to.y) / 2.0;
        self.segments.push(PathSegment::CubicTo(
            Point::new(self.current.x, middle),
            Point::new(to.x, middle),
            to,
        ));
        self.current = to;
        self.line_start = None;
    }

    /// Draws a line towards `corner` and turns there towards `next` with a
    /// rounded corner, stopping just past the turn.
    fn corner(&mut self, corner: Point, next: Point) {
        let before = self.current.distance(corner);
        let after = corner.distance(next);
        let radius = CORNER_RADIUS.min(before / 2.0).min(after / 2.0);
        if radius <= TOLERANCE {
            self.line_to(corner);
            return;
        }
        self.line_to(corner.towards(self.current, radius));
        let leave = corner.towards(next, radius);
        self.segments.push(PathSegment::QuadTo(corner, leave));
        self.current = leave;
        self.line_start = None;
    }

    /// The finished path.
    fn finish(self) -> Vec<PathSegment> {
        self.segments
    }
}

/// Whether the line from `middle` to `end` carries on straight in the
/// direction of the line from `start` to `middle`.
fn continues(start: Point, middle: Point, end: Point) -> bool {
    let (ax, ay) = (middle.x - start.x, middle.y - start.y);
    let (bx, by) = (end.x - middle.x, end.y - middle.y);
    let cross = ax * by - ay * bx;
    let dot = ax * bx + ay * by;
    dot > 0.0 && cross.abs() <= TOLERANCE * start.distance(middle).max(middle.distance(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn straight_runs_merge_and_empty_steps_vanish() {
        let mut path = PathBuilder::new(Point::new(0.0, 0.0));
        path.line_to(Point::new(0.0, 10.0));
        path.line_to(Point::new(0.0, 10.0));
        path.line_to(Point::new(0.0, 25.0));
        path.curve_to(Point::new(0.0, 40.0));
        path.line_to(Point::new(5.0, 40.0));
        assert_eq!(
            path.finish(),
            vec![
                PathSegment::MoveTo(Point::new(0.0, 0.0)),
                PathSegment::LineTo(Point::new(0.0, 40.0)),
                PathSegment::LineTo(Point::new(5.0, 40.0)),
            ]
        );
    }

    #[test]
    fn turning_back_is_not_merged() {
        let mut path = PathBuilder::new(Point::new(0.0, 0.0));
        path.line_to(Point::new(0.0, 10.0));
        path.line_to(Point::new(0.0, 5.0));
        assert_eq!(path.finish().len(), 3);
    }

    #[test]
    fn corners_are_rounded() {
        let mut path = PathBuilder::new(Point::new(0.0, 0.0));
        path.corner(Point::new(20.0, 0.0), Point::new(20.0, 20.0));
        path.line_to(Point::new(20.0, 20.0));
        assert_eq!(
            path.finish(),
            vec![
                PathSegment::MoveTo(Point::new(0.0, 0.0)),
                PathSegment::LineTo(Point::new(14.0, 0.0)),
                PathSegment::QuadTo(Point::new(20.0, 0.0), Point::new(20.0, 6.0)),
                PathSegment::LineTo(Point::new(20.0, 20.0)),
            ]
        );
    }
}
