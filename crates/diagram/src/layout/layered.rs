//! The layered graph the layout works on: nodes in layers, long edges split
//! into chains of dummy items, and side items for back edges and self-loops.
//!
//! Node ranks are doubled: a node of rank `r` lives in layer `2r`, and the odd
//! layers between node layers hold edge labels. Every edge therefore crosses
//! at least one odd layer, where its label (or an empty bend point) is placed
//! like a small node, so labels never overlap boxes or each other.

use super::RouteKind;
use super::rank::Ranking;
use crate::text::text_width;

/// Font size of edge labels, in pixels.
pub(crate) const LABEL_FONT: f64 = 12.0;
/// Horizontal padding inside an edge label's background.
const LABEL_PAD_X: f64 = 5.0;
/// Height of an edge label's background.
pub(crate) const LABEL_HEIGHT: f64 = 18.0;
/// Narrowest self-loop, so an unlabelled loop is still visible.
const MIN_LOOP_WIDTH: f64 = 12.0;

/// Horizontal gap between two node boxes.
const NODE_GAP: f64 = 36.0;
/// Horizontal gap between a node and an edge passing by.
const NODE_EDGE_GAP: f64 = 20.0;
/// Horizontal gap between two edges or labels.
const EDGE_GAP: f64 = 12.0;
/// Distance from a node to the first back edge leaving its right side.
const PORT_GAP: f64 = 18.0;
/// Distance between back edges on the same side of a node.
const PORT_SPACING: f64 = 10.0;
/// Distance from a node to the self-loop on its left side.
const LOOP_GAP: f64 = 14.0;

/// What an item in a layer stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ItemKind {
    /// A node of the graph; its item id is its node position.
    Node,
    /// A bend point or label of an edge between two node layers.
    Dummy,
    /// Where a back edge leaves or enters the right side of `owner`.
    Port {
        /// Item id of the node the port belongs to.
        owner: usize,
        /// Whether the edge continues upwards from here.
        up: bool,
        /// Index among the ports of `owner` going the same way, inner first.
        slot: usize,
        /// Number of ports of `owner` going the same way.
        count: usize,
    },
    /// A self-loop drawn on the left side of `owner`.
    Loop {
        /// Item id of the node the loop belongs to.
        owner: usize,
        /// Index among the loops of `owner`, inner first.
        slot: usize,
    },
}

/// Something that takes horizontal room in a layer.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Item {
    /// What the item stands for.
    pub kind: ItemKind,
    /// Layer the item lives in.
    pub layer: usize,
    /// Horizontal room the item needs.
    pub width: f64,
    /// Vertical room the item needs.
    pub height: f64,
    /// Horizontal centre, once positions are assigned.
    pub x: f64,
}

/// One edge of the graph as a path of items through consecutive layers.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Chain {
    /// Position of the edge among the resolved edges.
    pub edge: usize,
    /// How the edge runs.
    pub kind: RouteKind,
    /// Node item in the upper layer (for self-loops, the node).
    pub top: usize,
    /// Node item in the lower layer (for self-loops, the node).
    pub bottom: usize,
    /// Dummy items from top to bottom, one per layer in between.
    pub middle: Vec<usize>,
    /// Item the label is centred on, if the edge has a label.
    pub label: Option<usize>,
    /// Width and height of the label background, if the edge has a label.
    pub label_size: Option<(f64, f64)>,
    /// Port of a back edge at the `top` node.
    pub top_port: Option<usize>,
    /// Port of a back edge at the `bottom` node.
    pub bottom_port: Option<usize>,
    /// Side item of a self-loop.
    pub loop_item: Option<usize>,
}

/// Links between items of adjacent layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Links {
    /// For each item, its neighbours in the layer above.
    pub up: Vec<Vec<usize>>,
    /// For each item, its neighbours in the layer below.
    pub down: Vec<Vec<usize>>,
}

/// The whole layered graph.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Layered {
    /// All items; the first ones are the nodes, in node order.
    pub items: Vec<Item>,
    /// Item ids per layer, from left to right.
    pub layers: Vec<Vec<usize>>,
    /// One chain per drawable edge, in edge order.
    pub chains: Vec<Chain>,
    /// Number of nodes, which are the first items.
    pub node_count: usize,
}

impl Layered {
    /// Builds layers from node sizes, edges (pairs of node positions), edge
    /// labels (already on one line) and a ranking of the nodes.
    pub fn build(
        sizes: &[(f64, f64)],
        edges: &[(usize, usize)],
        labels: &[String],
        ranking: &Ranking,
    ) -> Self {
        let layer_count = ranking.rank.iter().max().map_or(0, |&max| 2 * max + 1);
        let mut layers = vec![Vec::new(); layer_count];
        let mut items = Vec::with_capacity(sizes.len() + edges.len());
        for (node, (&(width, height), &rank)) in sizes.iter().zip(&ranking.rank).enumerate() {
            layers[2 * rank].push(node);
            items.push(Item {
                kind: ItemKind::Node,
                layer: 2 * rank,
                width,
                height,
                x: 0.0,
            });
        }

        let mut chains = Vec::with_capacity(edges.len());
        for (edge, &(from, to)) in edges.iter().enumerate() {
            let label_size = labels
                .get(edge)
                .filter(|label| !label.is_empty())
                .map(|label| {
                    let width = (text_width(label, LABEL_FONT) + 2.0 * LABEL_PAD_X).ceil();
                    (width, LABEL_HEIGHT)
                });
            let reversed = ranking.reversed.get(edge).copied().unwrap_or(false);
            let (top, bottom, kind) = match (from == to, reversed) {
                (true, _) => (from, to, RouteKind::SelfLoop),
                (false, false) => (from, to, RouteKind::Forward),
                (false, true) => (to, from, RouteKind::Back),
            };
            let mut chain = Chain {
                edge,
                kind,
                top,
                bottom,
                middle: Vec::new(),
                label: None,
                label_size,
                top_port: None,
                bottom_port: None,
                loop_item: None,
            };
            if kind != RouteKind::SelfLoop {
                let (top_layer, bottom_layer) = (items[top].layer, items[bottom].layer);
                if top_layer >= bottom_layer {
                    // Ranking makes every such edge point down; an edge that
                    // does not cannot be routed and is left out.
                    continue;
                }
                // The label sits in the middle one of the odd layers crossed.
                let odd_layers = (bottom_layer - top_layer) / 2;
                let label_layer = top_layer + 1 + 2 * (odd_layers.saturating_sub(1) / 2);
                let between = top_layer + 1..bottom_layer;
                for (layer, row) in between.clone().zip(&mut layers[between]) {
                    let id = items.len();
                    let (width, height) = match label_size {
                        Some(size) if layer == label_layer => {
                            chain.label = Some(id);
                            size
                        }
                        _ => (0.0, 0.0),
                    };
                    items.push(Item {
                        kind: ItemKind::Dummy,
                        layer,
                        width,
                        height,
                        x: 0.0,
                    });
                    row.push(id);
                    chain.middle.push(id);
                }
            }
            chains.push(chain);
        }
        Self {
            items,
            layers,
            chains,
            node_count: sizes.len(),
        }
    }

    /// Links along every chain; with `ports`, back edges end at their ports
    /// instead of their nodes.
    pub fn links(&self, ports: bool) -> Links {
        let mut links = Links {
            up: vec![Vec::new(); self.items.len()],
            down: vec![Vec::new(); self.items.len()],
        };
        for chain in self.chains.iter().filter(|c| c.kind != RouteKind::SelfLoop) {
            let (first, last) = if ports {
                (
                    chain.top_port.unwrap_or(chain.top),
                    chain.bottom_port.unwrap_or(chain.bottom),
                )
            } else {
                (chain.top, chain.bottom)
            };
            let mut previous = first;
            for &item in chain.middle.iter().chain([&last]) {
                links.down[previous].push(item);
                links.up[item].push(previous);
                previous = item;
            }
        }
        links
    }

    /// Adds, once the order of layers is settled, a port right of each node
    /// for every back edge that touches it and a loop item left of it for
    /// every self-loop.
    pub fn attach_side_items(&mut self) {
        let mut position = vec![0usize; self.items.len()];
        for layer in &self.layers {
            for (index, &item) in layer.iter().enumerate() {
                position[item] = index;
            }
        }
        let node_count = self.node_count;
        // (goes up, position of the next item along the edge, chain)
        let mut right: Vec<Vec<(bool, usize, usize)>> = vec![Vec::new(); node_count];
        let mut left: Vec<Vec<usize>> = vec![Vec::new(); node_count];
        for (index, chain) in self.chains.iter().enumerate() {
            match chain.kind {
                RouteKind::Forward => {}
                RouteKind::SelfLoop => left[chain.top].push(index),
                RouteKind::Back => {
                    let first = chain.middle.first().map_or(0, |&item| position[item]);
                    let last = chain.middle.last().map_or(0, |&item| position[item]);
                    right[chain.top].push((false, first, index));
                    right[chain.bottom].push((true, last, index));
                }
            }
        }
        for (node, (mut ports, loops)) in right.into_iter().zip(left).enumerate() {
            if ports.is_empty() && loops.is_empty() {
                continue;
            }
            // Upward ports first, each group ordered like the edges they lead
            // to, so port lines do not cross each other.
            ports.sort_by_key(|&(up, next, chain)| (!up, next, chain));
            let up_count = ports.iter().filter(|&&(up, _, _)| up).count();
            let down_count = ports.len() - up_count;
            let layer = self.items[node].layer;
            let mut port_ids = Vec::with_capacity(ports.len());
            for (index, &(up, _, chain)) in ports.iter().enumerate() {
                let (slot, count) = if up {
                    (index, up_count)
                } else {
                    (index - up_count, down_count)
                };
                let id = self.push_side_item(
                    ItemKind::Port {
                        owner: node,
                        up,
                        slot,
                        count,
                    },
                    layer,
                    0.0,
                );
                if up {
                    self.chains[chain].bottom_port = Some(id);
                } else {
                    self.chains[chain].top_port = Some(id);
                }
                port_ids.push(id);
            }
            let mut loop_ids = Vec::with_capacity(loops.len());
            for (slot, &chain) in loops.iter().enumerate() {
                let width = self.chains[chain]
                    .label_size
                    .map_or(MIN_LOOP_WIDTH, |(width, _)| width.max(MIN_LOOP_WIDTH));
                let id = self.push_side_item(ItemKind::Loop { owner: node, slot }, layer, width);
                let chain = &mut self.chains[chain];
                chain.loop_item = Some(id);
                if chain.label_size.is_some() {
                    chain.label = Some(id);
                }
                loop_ids.push(id);
            }
            let row = &mut self.layers[layer];
            if let Some(at) = row.iter().position(|&item| item == node) {
                row.splice(at + 1..at + 1, port_ids);
                row.splice(at..at, loop_ids.into_iter().rev());
            }
        }
    }

    /// Adds an item that is not part of any layer order yet.
    fn push_side_item(&mut self, kind: ItemKind, layer: usize, width: f64) -> usize {
        self.items.push(Item {
            kind,
            layer,
            width,
            height: 0.0,
            x: 0.0,
        });
        self.items.len() - 1
    }

    /// Smallest distance between the centres of adjacent items `left` and
    /// `right` of one layer.
    pub fn separation(&self, left: usize, right: usize) -> f64 {
        let (a, b) = (&self.items[left], &self.items[right]);
        let gap = match (a.kind, b.kind) {
            (ItemKind::Node, ItemKind::Node) => NODE_GAP,
            (_, ItemKind::Port { owner, .. }) if owner == left => PORT_GAP,
            (ItemKind::Port { owner: one, .. }, ItemKind::Port { owner: other, .. })
                if one == other =>
            {
                PORT_SPACING
            }
            (ItemKind::Loop { owner, .. }, _) if owner == right => LOOP_GAP,
            (ItemKind::Loop { owner: one, .. }, ItemKind::Loop { owner: other, .. })
                if one == other =>
            {
                EDGE_GAP
            }
            (ItemKind::Node, _) | (_, ItemKind::Node) => NODE_EDGE_GAP,
            _ => EDGE_GAP,
        };
        (a.width + b.width) / 2.0 + gap
    }
}
