//! Layered (Sugiyama-style) layout of a [`Graph`], used to draw SVG.
//!
//! The phases, each in its own module:
//!
//! 1. [`rank`]: back edges found by a depth-first search from the start
//!    states are reversed, then every node gets the length of the longest
//!    path reaching it as its rank (its row, top to bottom).
//! 2. [`layered`]: edges spanning several rows become chains of dummy items,
//!    with a row between any two node rows for edge labels.
//! 3. [`order`]: barycenter sweeps order every row to reduce crossings.
//! 4. [`position`]: rows are stacked and items pulled towards their
//!    neighbours while keeping order and spacing.
//! 5. [`route`]: edges become paths between node outlines.

mod layered;
mod order;
mod position;
mod rank;
mod route;

use crate::graph::{Graph, NodeKind, Resolved};
use crate::shape::node_size;
use crate::text::one_line;
pub(crate) use layered::LABEL_FONT;
use layered::Layered;

/// Empty space around the drawing.
const MARGIN: f64 = 16.0;
/// How far, as a share of a slot, back edges are nudged right while ordering.
const BACK_EDGE_BIAS: f64 = 0.45;

/// A point in SVG user units (pixels), y pointing down.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    /// Horizontal coordinate.
    pub x: f64,
    /// Vertical coordinate, growing downwards.
    pub y: f64,
}

impl Point {
    /// Creates a point from its coordinates.
    pub const fn new(x: f64, y: f64) -> Self {
        Self { x, y }
    }

    /// Straight-line distance to `other`.
    pub fn distance(self, other: Self) -> f64 {
        (self.x - other.x).hypot(self.y - other.y)
    }

    /// The point `length` away from this one in the direction of `target`
    /// (this point itself if the two coincide).
    pub(crate) fn towards(self, target: Self, length: f64) -> Self {
        let distance = self.distance(target);
        if distance <= f64::EPSILON {
            return self;
        }
        let share = length / distance;
        Self::new(
            self.x + (target.x - self.x) * share,
            self.y + (target.y - self.y) * share,
        )
    }
}

/// An axis-aligned rectangle in SVG user units.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rect {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Horizontal extent.
    pub width: f64,
    /// Vertical extent.
    pub height: f64,
}

impl Rect {
    /// Creates a rectangle from its top-left corner and size.
    pub const fn new(x: f64, y: f64, width: f64, height: f64) -> Self {
        Self {
            x,
            y,
            width,
            height,
        }
    }

    /// Right edge.
    pub fn right(&self) -> f64 {
        self.x + self.width
    }

    /// Bottom edge.
    pub fn bottom(&self) -> f64 {
        self.y + self.height
    }

    /// Centre point.
    pub fn center(&self) -> Point {
        Point::new(self.x + self.width / 2.0, self.y + self.height / 2.0)
    }

    /// Whether the interiors of the two rectangles intersect; rectangles that
    /// only touch along an edge do not overlap.
    pub fn overlaps(&self, other: &Self) -> bool {
        self.x < other.right()
            && other.x < self.right()
            && self.y < other.bottom()
            && other.y < self.bottom()
    }
}

/// Where one node of the graph is drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeBox {
    /// Index of the node in [`Graph::nodes`].
    pub index: usize,
    /// Id of the node.
    pub id: String,
    /// Kind of the node, which decides its shape.
    pub kind: NodeKind,
    /// Row of the node, counted from 0 at the top; every edge that is not a
    /// back edge or a self-loop goes to a strictly higher rank.
    pub rank: usize,
    /// Bounding box of the node's shape.
    pub rect: Rect,
}

/// How an edge runs between its nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// Downwards, from the bottom of the source to the top of the target.
    Forward,
    /// Upwards, closing a cycle: from the right side of the source to the
    /// right side of the target.
    Back,
    /// From a node to itself, on its left side.
    SelfLoop,
}

/// One piece of an edge's path, in the sense of SVG path commands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PathSegment {
    /// Starts the path at a point.
    MoveTo(Point),
    /// A straight line to a point.
    LineTo(Point),
    /// A quadratic curve through a control point to an end point.
    QuadTo(Point, Point),
    /// A cubic curve through two control points to an end point.
    CubicTo(Point, Point, Point),
}

/// Where one edge of the graph is drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeRoute {
    /// Index of the edge in [`Graph::edges`].
    pub index: usize,
    /// How the edge runs.
    pub kind: RouteKind,
    /// The edge's path, starting with a move, from the outline of the source
    /// to the outline of the target, where the arrowhead goes.
    pub path: Vec<PathSegment>,
    /// Box of the edge's label, if it has one.
    pub label: Option<Rect>,
}

/// Geometry of a laid-out graph, in SVG user units (pixels).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Layout {
    /// Width of the whole drawing, margins included.
    pub width: f64,
    /// Height of the whole drawing, margins included.
    pub height: f64,
    /// One box per distinct node id, in input order.
    pub nodes: Vec<NodeBox>,
    /// One route per edge between known nodes, in input order.
    pub edges: Vec<EdgeRoute>,
}

impl Layout {
    /// The box of the node with the given id, if the node is drawn.
    pub fn node(&self, id: &str) -> Option<&NodeBox> {
        self.nodes.iter().find(|node| node.id == id)
    }
}

/// Lays out `graph` for drawing, as [`to_svg`](crate::to_svg) does.
///
/// Nodes are ranked top to bottom by the longest path from the start states
/// (cycles are broken by reversing back edges found by a depth-first search
/// from the start states), ordered within rows by barycenter sweeps to reduce
/// crossings, and placed so that no two boxes overlap. Edge labels get rows of
/// their own between node rows. Edges naming unknown nodes are left out, and
/// a repeated node id is laid out once. The result is deterministic.
pub fn layout(graph: &Graph) -> Layout {
    let resolved = Resolved::new(graph);
    let nodes: Vec<(usize, &crate::graph::Node)> = resolved
        .nodes
        .iter()
        .filter_map(|&index| graph.nodes.get(index).map(|node| (index, node)))
        .collect();
    if nodes.is_empty() {
        return Layout {
            width: 2.0 * MARGIN,
            height: 2.0 * MARGIN,
            nodes: Vec::new(),
            edges: Vec::new(),
        };
    }
    let sizes: Vec<(f64, f64)> = nodes.iter().map(|(_, node)| node_size(node)).collect();
    let kinds: Vec<NodeKind> = nodes.iter().map(|(_, node)| node.kind).collect();
    let is_start: Vec<bool> = kinds.iter().map(|&kind| kind == NodeKind::Start).collect();
    let pairs: Vec<(usize, usize)> = resolved.edges.iter().map(|e| (e.from, e.to)).collect();
    let labels: Vec<String> = resolved
        .edges
        .iter()
        .map(|e| {
            graph
                .edges
                .get(e.index)
                .map_or_else(String::new, |edge| one_line(&edge.label))
        })
        .collect();
    let edge_index: Vec<usize> = resolved.edges.iter().map(|e| e.index).collect();

    let ranking = rank::rank(nodes.len(), &pairs, &is_start);
    let mut layered = Layered::build(&sizes, &pairs, &labels, &ranking);
    let links = layered.links(false);
    let mut bias = vec![0.0; layered.items.len()];
    for chain in layered.chains.iter().filter(|c| c.kind == RouteKind::Back) {
        for &item in &chain.middle {
            bias[item] = BACK_EDGE_BIAS;
        }
    }
    order::reduce_crossings(&mut layered.layers, &links.up, &links.down, &bias);
    layered.attach_side_items();
    position::assign_x(&mut layered);
    let bands = position::layer_bands(&layered, MARGIN);

    let rects: Vec<Rect> = layered.items[..nodes.len()]
        .iter()
        .map(|item| {
            let (top, height) = bands.get(item.layer).copied().unwrap_or_default();
            Rect::new(
                MARGIN + item.x - item.width / 2.0,
                top + (height - item.height) / 2.0,
                item.width,
                item.height,
            )
        })
        .collect();
    for item in &mut layered.items {
        item.x += MARGIN;
    }
    let right = layered
        .items
        .iter()
        .map(|item| item.x + item.width / 2.0)
        .fold(0.0, f64::max);
    let bottom = bands.last().map_or(0.0, |&(top, height)| top + height);

    let geometry = route::Geometry {
        graph: &layered,
        bands: &bands,
        rects: &rects,
        kinds: &kinds,
    };
    let edges = route::routes(&geometry, &edge_index);
    let nodes = nodes
        .iter()
        .zip(&rects)
        .zip(&ranking.rank)
        .map(|(((index, node), &rect), &rank)| NodeBox {
            index: *index,
            id: node.id.clone(),
            kind: node.kind,
            rank,
            rect,
        })
        .collect();
    Layout {
        width: (right + MARGIN).ceil(),
        height: (bottom + MARGIN).ceil(),
        nodes,
        edges,
    }
}
