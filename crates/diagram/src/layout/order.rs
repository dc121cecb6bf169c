//! Crossing reduction: orders the items of each layer by barycenter sweeps
//! and keeps the order with the fewest edge crossings.

/// Number of down-and-up sweep pairs tried at most; sweeping stops early
/// once an order without crossings is found.
const SWEEPS: usize = 6;

/// Reorders `layers` in place to reduce crossings between adjacent layers.
///
/// `up` and `down` give, for every item id, its neighbours in the layer above
/// and below; `bias` nudges items right by a share of a slot (back edges use
/// it to keep to the right of forward edges, next to the ports they end in).
/// The first layer keeps its
/// input order until the first upward sweep, and ties keep their current
/// order, so the result is deterministic.
pub(super) fn reduce_crossings(
    layers: &mut [Vec<usize>],
    up: &[Vec<usize>],
    down: &[Vec<usize>],
    bias: &[f64],
) {
    let mut position = vec![0usize; bias.len()];
    for layer in layers.iter() {
        record_positions(layer, &mut position);
    }
    let mut best = layers.to_vec();
    let mut best_crossings = crossings(layers, down, &position);
    for sweep in 0..SWEEPS {
        if sweep > 0 && best_crossings == 0 {
            break;
        }
        for index in 1..layers.len() {
            let fixed = layers[index - 1].len();
            sort_by_barycenter(&mut layers[index], fixed, up, bias, &mut position);
        }
        keep_if_better(layers, down, &position, &mut best, &mut best_crossings);
        for index in (0..layers.len().saturating_sub(1)).rev() {
            let fixed = layers[index + 1].len();
            sort_by_barycenter(&mut layers[index], fixed, down, bias, &mut position);
        }
        keep_if_better(layers, down, &position, &mut best, &mut best_crossings);
    }
    layers.clone_from_slice(&best);
}

/// Stores each item's index within `layer`.
fn record_positions(layer: &[usize], position: &mut [usize]) {
    for (index, &item) in layer.iter().enumerate() {
        position[item] = index;
    }
}

/// Remembers the current order unless it has more crossings than the best so
/// far; on a tie the later order wins, as sweeping settles ties by barycenter.
fn keep_if_better(
    layers: &[Vec<usize>],
    down: &[Vec<usize>],
    position: &[usize],
    best: &mut [Vec<usize>],
    best_crossings: &mut usize,
) {
    let current = crossings(layers, down, position);
    if current <= *best_crossings {
        *best_crossings = current;
        best.clone_from_slice(layers);
    }
}

/// Sorts `layer` by the mean relative position of each item's neighbours in
/// the fixed adjacent layer of `fixed_len` items, plus their bias; items
/// without neighbours there keep their relative position.
fn sort_by_barycenter(
    layer: &mut [usize],
    fixed_len: usize,
    neighbours: &[Vec<usize>],
    bias: &[f64],
    position: &mut [usize],
) {
    let free_len = layer.len() as f64;
    let fixed_len = fixed_len.max(1) as f64;
    let mut keyed: Vec<(f64, usize)> = layer
        .iter()
        .map(|&item| {
            let around = &neighbours[item];
            let key = if around.is_empty() {
                (position[item] as f64 + 0.5) / free_len
            } else {
                let sum: f64 = around
                    .iter()
                    .map(|&other| (position[other] as f64 + 0.5) / fixed_len)
                    .sum();
                (sum / around.len() as f64) + bias.get(item).copied().unwrap_or(0.0) / fixed_len
            };
            (key, item)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (slot, (_, item)) in layer.iter_mut().zip(keyed) {
        *slot = item;
    }
    record_positions(layer, position);
}

/// Total number of crossings between all pairs of adjacent layers.
fn crossings(layers: &[Vec<usize>], down: &[Vec<usize>], position: &[usize]) -> usize {
    layers
        .windows(2)
        .map(|pair| match pair {
            [upper, lower] => crossings_between(upper, lower.len(), down, position),
            _ => 0,
        })
        .sum()
}

/// Crossings between the edges leaving `upper` for a layer of `lower_len`
/// items, counted as inversions with a Fenwick tree.
fn crossings_between(
    upper: &[usize],
    lower_len: usize,
    down: &[Vec<usize>],
    position: &[usize],
) -> usize {
    let mut pairs: Vec<(usize, usize)> = upper
        .iter()
        .flat_map(|&item| {
            down[item]
                .iter()
                .map(move |&next| (position[item], position[next]))
        })
        .collect();
    pairs.sort_unstable();
    let mut tree = vec![0usize; lower_len + 1];
    let mut total = 0;
    for (inserted, (_, lower)) in pairs.into_iter().enumerate() {
        // Edges inserted so far that end strictly right of this one cross it.
        let mut not_right = 0;
        let mut index = lower + 1;
        while index > 0 {
            not_right += tree.get(index).copied().unwrap_or(0);
            index &= index - 1;
        }
        total += inserted - not_right;
        let mut index = lower + 1;
        while let Some(count) = tree.get_mut(index) {
            *count += 1;
            index += index & index.wrapping_neg();
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_crossings_of_a_twisted_pair() {
        // Layer 0: items 0, 1; layer 1: items 2, 3; edges 0-3 and 1-2 cross.
        let down = vec![vec![3], vec![2], vec![], vec![]];
        let layers = vec![vec![0, 1], vec![2, 3]];
        let position = vec![0, 1, 0, 1];
        assert_eq!(crossings(&layers, &down, &position), 1);
    }

    #[test]
    fn untwists_a_twisted_pair() {
        let up = vec![vec![], vec![], vec![1], vec![0]];
        let down = vec![vec![3], vec![2], vec![], vec![]];
        let mut layers = vec![vec![0, 1], vec![2, 3]];
        reduce_crossings(&mut layers, &up, &down, &[0.0; 4]);
        assert_eq!(layers, vec![vec![0, 1], vec![3, 2]]);
    }

    #[test]
    fn shared_endpoints_do_not_cross() {
        let down = vec![vec![2, 3], vec![3], vec![], vec![]];
        let layers = vec![vec![0, 1], vec![2, 3]];
        let position = vec![0, 1, 0, 1];
        assert_eq!(crossings(&layers, &down, &position), 0);
    }
}
