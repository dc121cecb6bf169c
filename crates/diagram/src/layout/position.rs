//! Coordinate assignment: horizontal positions by repeated sweeps that pull
//! every item towards the mean of its neighbours, then a pass that lines up
//! simple chains exactly; vertical positions by stacking the layers, with
//! gaps that grow where edges step far sideways.
//!
//! Each sweep solves one layer exactly: minimise the weighted squared
//! distance of items to where their neighbours pull them, keeping the layer
//! order and minimum separations. Shifting every item by the sum of the
//! separations to its left turns this into isotonic regression, solved by
//! the pool-adjacent-violators algorithm. Dummy items weigh more than nodes,
//! which keeps long edges straight.

use super::layered::{ItemKind, Layered, Links};

/// Number of down-and-up sweep pairs.
const ITERATIONS: usize = 8;
/// Number of final sweeps that look both ways.
const BALANCING: usize = 2;
/// Weight of a node's wish to sit at the mean of its neighbours.
const NODE_WEIGHT: f64 = 1.0;
/// Weight of an edge bend point's wish to line up with its neighbours.
const DUMMY_WEIGHT: f64 = 4.0;
/// Weight of a port's or loop's wish to stay near its node.
const SIDE_WEIGHT: f64 = 2.0;
/// Weight of an item's wish to stay put when nothing pulls it.
const IDLE_WEIGHT: f64 = 0.01;
/// Smallest vertical gap between adjacent layers.
const LAYER_GAP: f64 = 14.0;
/// Largest vertical gap between adjacent layers.
const MAX_LAYER_GAP: f64 = 36.0;
/// Vertical gap per pixel of the widest sideways step of an edge between two
/// layers.
const GAP_PER_STEP: f64 = 0.12;
/// Smallest height of a label layer, so unlabelled edges have room to bend.
const MIN_LABEL_LAYER: f64 = 6.0;

/// Which neighbours pull an item during a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pull {
    /// Neighbours in the layer above.
    Above,
    /// Neighbours in the layer below.
    Below,
    /// Neighbours on both sides.
    Both,
}

/// Assigns every item's horizontal centre; the leftmost edge ends up at 0.
pub(super) fn assign_x(graph: &mut Layered) {
    let links = graph.links(true);
    for index in 0..graph.layers.len() {
        pack(graph, index);
    }
    let count = graph.layers.len();
    for _ in 0..ITERATIONS {
        for index in 1..count {
            place(graph, &links, index, Pull::Above);
        }
        for index in (0..count.saturating_sub(1)).rev() {
            place(graph, &links, index, Pull::Below);
        }
    }
    for _ in 0..BALANCING {
        for index in 0..count {
            place(graph, &links, index, Pull::Both);
        }
    }
    straighten(graph, &links);
    let left = graph
        .items
        .iter()
        .map(|item| item.x - item.width / 2.0)
        .fold(f64::INFINITY, f64::min);
    if left.is_finite() {
        for item in &mut graph.items {
            item.x -= left;
        }
    }
}

/// Lines up, from the top down, every item with the single item above it
/// when each is the other's only link that way and the layer has room, so
/// plain chains of nodes and edges are drawn as straight vertical lines
/// rather than the slight wobble the sweeps leave.
fn straighten(graph: &mut Layered, links: &Links) {
    for index in 1..graph.layers.len() {
        let layer = graph.layers[index].clone();
        for (slot, &item) in layer.iter().enumerate() {
            let [above] = links.up[item][..] else {
                continue;
            };
            if links.down[above][..] != [item] {
                continue;
            }
            let target = graph.items[above].x;
            let lowest = match slot.checked_sub(1).and_then(|left| layer.get(left)) {
                Some(&left) => graph.items[left].x + graph.separation(left, item),
                None => f64::NEG_INFINITY,
            };
            let highest = match layer.get(slot + 1) {
                Some(&right) => graph.items[right].x - graph.separation(item, right),
                None => f64::INFINITY,
            };
            if (lowest..=highest).contains(&target) {
                graph.items[item].x = target;
            }
        }
    }
}

/// Top and height of each layer, stacked from `top` down. The gap below a
/// layer grows with the widest sideways step an edge takes across it, so
/// fanned-out edges do not run nearly flat and on top of each other.
pub(super) fn layer_bands(graph: &Layered, top: f64) -> Vec<(f64, f64)> {
    let links = graph.links(true);
    let mut y = top;
    let mut bands = Vec::with_capacity(graph.layers.len());
    for (index, layer) in graph.layers.iter().enumerate() {
        let tallest = layer
            .iter()
            .map(|&item| graph.items[item].height)
            .fold(0.0, f64::max);
        let height = if index % 2 == 1 {
            tallest.max(MIN_LABEL_LAYER)
        } else {
            tallest
        };
        let widest_step = layer
            .iter()
            .flat_map(|&item| {
                let x = graph.items[item].x;
                links.down[item]
                    .iter()
                    .map(move |&next| (graph.items[next].x - x).abs())
            })
            .fold(0.0, f64::max);
        let gap = (widest_step * GAP_PER_STEP).clamp(LAYER_GAP, MAX_LAYER_GAP);
        bands.push((y, height));
        y += height + gap;
    }
    bands
}

/// Distances of each item's centre from the first item's centre when the
/// layer is packed as tightly as allowed.
fn offsets(graph: &Layered, layer: &[usize]) -> Vec<f64> {
    let mut offsets = Vec::with_capacity(layer.len());
    let mut total = 0.0;
    let mut previous = None;
    for &item in layer {
        if let Some(left) = previous {
            total += graph.separation(left, item);
        }
        offsets.push(total);
        previous = Some(item);
    }
    offsets
}

/// Packs a layer tightly, centred on 0.
fn pack(graph: &mut Layered, index: usize) {
    let layer = graph.layers[index].clone();
    let offsets = offsets(graph, &layer);
    let middle = offsets.last().copied().unwrap_or(0.0) / 2.0;
    for (&item, offset) in layer.iter().zip(offsets) {
        graph.items[item].x = offset - middle;
    }
}

/// Moves the items of one layer as close as allowed to where `pull` wants them.
fn place(graph: &mut Layered, links: &Links, index: usize, pull: Pull) {
    let layer = graph.layers[index].clone();
    if layer.is_empty() {
        return;
    }
    let offsets = offsets(graph, &layer);
    let mut desired = Vec::with_capacity(layer.len());
    let mut weight = Vec::with_capacity(layer.len());
    let mut pulled = Vec::with_capacity(layer.len());
    for &item in &layer {
        let (above, below): (&[usize], &[usize]) = match pull {
            Pull::Above => (&links.up[item], &[]),
            Pull::Below => (&[], &links.down[item]),
            Pull::Both => (&links.up[item], &links.down[item]),
        };
        let count = above.len() + below.len();
        let here = &graph.items[item];
        if count == 0 {
            desired.push(here.x);
            weight.push(IDLE_WEIGHT);
            pulled.push(false);
        } else {
            let sum: f64 = above
                .iter()
                .chain(below)
                .map(|&other| graph.items[other].x)
                .sum();
            desired.push(sum / count as f64);
            weight.push(match here.kind {
                ItemKind::Node => NODE_WEIGHT,
                ItemKind::Dummy => DUMMY_WEIGHT,
                ItemKind::Port { .. } | ItemKind::Loop { .. } => SIDE_WEIGHT,
            });
            pulled.push(true);
        }
    }
    // Ports and loops nothing pulls follow their node at the closest
    // distance; other items nothing pulls drift gently towards the pulled
    // ones, so unconnected nodes do not widen the drawing.
    let pulled_weight: f64 = weight
        .iter()
        .zip(&pulled)
        .filter(|(_, p)| **p)
        .map(|(w, _)| w)
        .sum();
    let anchor = (pulled_weight > 0.0).then(|| {
        let sum: f64 = desired
            .iter()
            .zip(&weight)
            .zip(&pulled)
            .filter(|(_, p)| **p)
            .map(|((d, w), _)| d * w)
            .sum();
        sum / pulled_weight
    });
    let owners: Vec<Option<usize>> = layer
        .iter()
        .map(|&item| match graph.items[item].kind {
            ItemKind::Port { owner, .. } | ItemKind::Loop { owner, .. } => {
                layer.iter().position(|&other| other == owner)
            }
            ItemKind::Node | ItemKind::Dummy => None,
        })
        .collect();
    if let Some(anchor) = anchor {
        for slot in 0..layer.len() {
            if !pulled[slot] && owners[slot].is_none() {
                desired[slot] = anchor;
            }
        }
    }
    for slot in 0..layer.len() {
        if let (false, Some(at)) = (pulled[slot], owners[slot]) {
            desired[slot] = desired[at] + offsets[slot] - offsets[at];
            weight[slot] = SIDE_WEIGHT;
        }
    }
    let targets: Vec<f64> = desired.iter().zip(&offsets).map(|(d, o)| d - o).collect();
    let solved = isotonic(&targets, &weight);
    for ((&item, value), offset) in layer.iter().zip(solved).zip(offsets) {
        graph.items[item].x = value + offset;
    }
}

/// Weighted least-squares fit of a non-decreasing sequence to `targets`, by
/// pool-adjacent-violators. Weights must be positive.
fn isotonic(targets: &[f64], weights: &[f64]) -> Vec<f64> {
    // Each block: weighted sum, total weight, number of values.
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(targets.len());
    for (&target, &weight) in targets.iter().zip(weights) {
        blocks.push((target * weight, weight, 1));
        while let [.., (sum_a, weight_a, len_a), (sum_b, weight_b, len_b)] = blocks[..] {
            if sum_a / weight_a <= sum_b / weight_b {
                break;
            }
            blocks.truncate(blocks.len() - 2);
            blocks.push((sum_a + sum_b, weight_a + weight_b, len_a + len_b));
        }
    }
    blocks
        .into_iter()
        .flat_map(|(sum, weight, len)| std::iter::repeat_n(sum / weight, len))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isotonic_keeps_sorted_targets() {
        assert_eq!(isotonic(&[1.0, 2.0, 3.0], &[1.0; 3]), vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn isotonic_pools_violators_by_weight() {
        assert_eq!(isotonic(&[3.0, 1.0], &[1.0, 1.0]), vec![2.0, 2.0]);
        assert_eq!(isotonic(&[4.0, 0.0], &[3.0, 1.0]), vec![3.0, 3.0]);
        assert_eq!(
            isotonic(&[0.0, 5.0, 1.0, 6.0], &[1.0; 4]),
            vec![0.0, 3.0, 3.0, 6.0]
        );
    }
}
