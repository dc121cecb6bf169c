//! Cycle breaking and layer assignment: the first two phases of the layout.
//!
//! Back edges are found by a depth-first search that starts from the start
//! states, in input order, and are reversed for ranking; every node then gets
//! the length of the longest path that reaches it in the resulting acyclic
//! graph.

use std::collections::VecDeque;

/// Result of ranking: a layer per node and which edges point backwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ranking {
    /// Rank of each node; every edge that is not reversed or a self-loop goes
    /// from a lower rank to a strictly higher one.
    pub rank: Vec<usize>,
    /// Whether each edge was reversed to break a cycle.
    pub reversed: Vec<bool>,
}

/// Ranks `node_count` nodes joined by `edges` (pairs of node positions, all
/// below `node_count`); `is_start` marks the nodes the search starts from.
pub(super) fn rank(node_count: usize, edges: &[(usize, usize)], is_start: &[bool]) -> Ranking {
    let reversed = back_edges(node_count, edges, is_start);
    let rank = longest_path(node_count, edges, &reversed, is_start);
    Ranking { rank, reversed }
}

/// Progress of the depth-first search at a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visit {
    /// Not reached yet.
    New,
    /// On the current search path.
    Open,
    /// Finished.
    Done,
}

/// Marks the edges that close a cycle, found by an iterative depth-first
/// search from start nodes first, then from nodes without incoming edges,
/// then from anything left, each group in input order.
fn back_edges(node_count: usize, edges: &[(usize, usize)], is_start: &[bool]) -> Vec<bool> {
    let mut outgoing = vec![Vec::new(); node_count];
    let mut has_incoming = vec![false; node_count];
    for (index, &(from, to)) in edges.iter().enumerate() {
        if from != to {
            outgoing[from].push(index);
            has_incoming[to] = true;
        }
    }
    let starts = (0..node_count).filter(|&n| is_start.get(n).copied().unwrap_or(false));
    let sources = (0..node_count).filter(|&n| !has_incoming[n]);
    let roots = starts.chain(sources).chain(0..node_count);

    let mut visit = vec![Visit::New; node_count];
    let mut reversed = vec![false; edges.len()];
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for root in roots {
        if visit[root] != Visit::New {
            continue;
        }
        visit[root] = Visit::Open;
        stack.push((root, 0));
        while let Some((node, next)) = stack.last_mut() {
            match outgoing[*node].get(*next) {
                Some(&edge) => {
                    *next += 1;
                    let target = edges[edge].1;
                    match visit[target] {
                        Visit::New => {
                            visit[target] = Visit::Open;
                            stack.push((target, 0));
                        }
                        Visit::Open => reversed[edge] = true,
                        Visit::Done => {}
                    }
                }
                None => {
                    visit[*node] = Visit::Done;
                    stack.pop();
                }
            }
        }
    }
    reversed
}

/// Longest-path ranks in the graph with `reversed` edges turned around, by
/// Kahn's topological order. Sources other than start nodes are then moved
/// down to sit just above their nearest successor, so a side entry does not
/// float at the top of the drawing.
fn longest_path(
    node_count: usize,
    edges: &[(usize, usize)],
    reversed: &[bool],
    is_start: &[bool],
) -> Vec<usize> {
    let mut successors = vec![Vec::new(); node_count];
    let mut pending = vec![0usize; node_count];
    for (&(from, to), &flip) in edges.iter().zip(reversed) {
        if from != to {
            let (upper, lower) = if flip { (to, from) } else { (from, to) };
            successors[upper].push(lower);
            pending[lower] += 1;
        }
    }
    let is_source: Vec<bool> = pending.iter().map(|&count| count == 0).collect();
    let mut queue: VecDeque<usize> = (0..node_count).filter(|&n| is_source[n]).collect();
    let mut order = Vec::with_capacity(node_count);
    let mut rank = vec![0usize; node_count];
    while let Some(node) = queue.pop_front() {
        order.push(node);
        for &next in &successors[node] {
            rank[next] = rank[next].max(rank[node] + 1);
            pending[next] -= 1;
            if pending[next] == 0 {
                queue.push_back(next);
            }
        }
    }
    // Only sources move, and only down to just above their successors, so
    // every edge still points strictly downwards.
    let movable = |n: usize| is_source[n] && !is_start.get(n).copied().unwrap_or(false);
    for node in order.into_iter().filter(|&n| movable(n)) {
        if let Some(lowest) = successors[node].iter().map(|&next| rank[next]).min() {
            rank[node] = rank[node].max(lowest.saturating_sub(1));
        }
    }
    rank
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_gets_increasing_ranks() {
        let ranking = rank(3, &[(0, 1), (1, 2)], &[true, false, false]);
        assert_eq!(ranking.rank, vec![0, 1, 2]);
        assert_eq!(ranking.reversed, vec![false, false]);
    }

    #[test]
    fn cycle_is_broken_at_the_edge_back_to_the_search_path() {
        let ranking = rank(3, &[(0, 1), (1, 2), (2, 1)], &[true, false, false]);
        assert_eq!(ranking.reversed, vec![false, false, true]);
        assert_eq!(ranking.rank, vec![0, 1, 2]);
    }

    #[test]
    fn search_starts_at_start_nodes_even_when_they_come_last() {
        // 0 -> 1 -> 2 -> 0 with node 2 the start: the edge into 2 is the back edge.
        let ranking = rank(3, &[(0, 1), (1, 2), (2, 0)], &[false, false, true]);
        assert_eq!(ranking.reversed, vec![false, true, false]);
        assert_eq!(ranking.rank, vec![1, 2, 0]);
    }

    #[test]
    fn longest_path_wins_over_shortcut() {
        let ranking = rank(3, &[(0, 2), (0, 1), (1, 2)], &[true, false, false]);
        assert_eq!(ranking.rank, vec![0, 1, 2]);
    }

    #[test]
    fn side_entries_sit_just_above_their_successor() {
        // 0 -> 1 -> 2 -> 3, and a source 4 that only leads to 3.
        let ranking = rank(
            5,
            &[(0, 1), (1, 2), (2, 3), (4, 3)],
            &[true, false, false, false, false],
        );
        assert_eq!(ranking.rank, vec![0, 1, 2, 3, 2]);
    }

    #[test]
    fn self_loops_are_ignored() {
        let ranking = rank(2, &[(0, 0), (0, 1)], &[true, false]);
        assert_eq!(ranking.rank, vec![0, 1]);
        assert_eq!(ranking.reversed, vec![false, false]);
    }
}
