//! The graph model handed over by the workflow engine, and its resolution into
//! unique nodes and drawable edges shared by both writers.

use std::collections::HashMap;

/// A workflow definition reduced to what is drawn: states and transitions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Graph {
    /// Human-readable name of the workflow, used as the diagram title.
    pub title: String,
    /// States, drawn in this order where the layout leaves a choice.
    pub nodes: Vec<Node>,
    /// Transitions between states, drawn in this order.
    pub edges: Vec<Edge>,
}

/// One state of a workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Machine name of the state (ASCII snake_case), unique within the graph.
    pub id: String,
    /// Display title of the state, often Chinese (for example "管理员审核").
    pub label: String,
    /// What the state does, which decides its shape and colour.
    pub kind: NodeKind,
}

/// The behaviour of a state, which decides how it is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// Entry point of the workflow.
    Start,
    /// A step done by a person, such as a review.
    Task,
    /// A step done automatically by the system.
    Auto,
    /// Waiting for an external event, a timer or a resubmission.
    Wait,
    /// Runs another workflow and continues when it finishes.
    Subflow,
    /// A final state.
    Terminal,
}

/// One transition between two states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// Id of the state the transition leaves.
    pub from: String,
    /// Id of the state the transition enters.
    pub to: String,
    /// Short caption such as "approve", "7d" or "bank_result"; may be empty.
    pub label: String,
    /// What triggers the transition, which decides its line style.
    pub kind: EdgeKind,
}

/// What triggers a transition, which decides how it is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdgeKind {
    /// An outcome chosen by a person, such as approve or reject.
    Outcome,
    /// A timer that fired.
    Timer,
    /// An external event that arrived.
    Event,
    /// An automatic step that finished.
    Auto,
    /// A subflow that finished.
    Subflow,
}

impl Graph {
    /// Creates an empty graph with the given title.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            nodes: Vec::new(),
            edges: Vec::new(),
        }
    }
}

impl Node {
    /// Creates a node from its id, display label and kind.
    pub fn new(id: impl Into<String>, label: impl Into<String>, kind: NodeKind) -> Self {
        Self {
            id: id.into(),
            label: label.into(),
            kind,
        }
    }
}

impl Edge {
    /// Creates an edge between two node ids with a caption and kind.
    pub fn new(
        from: impl Into<String>,
        to: impl Into<String>,
        label: impl Into<String>,
        kind: EdgeKind,
    ) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
            label: label.into(),
            kind,
        }
    }
}

impl NodeKind {
    /// All kinds, in the order their styles are written.
    pub(crate) const ALL: [Self; 6] = [
        Self::Start,
        Self::Task,
        Self::Auto,
        Self::Wait,
        Self::Subflow,
        Self::Terminal,
    ];

    /// Class name used for this kind in both Mermaid and SVG output.
    pub(crate) fn class_name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Task => "task",
            Self::Auto => "auto",
            Self::Wait => "wait",
            Self::Subflow => "subflow",
            Self::Terminal => "terminal",
        }
    }
}

impl EdgeKind {
    /// All kinds, in the order their arrowheads are defined.
    pub(crate) const ALL: [Self; 5] = [
        Self::Outcome,
        Self::Timer,
        Self::Event,
        Self::Auto,
        Self::Subflow,
    ];

    /// Class name used for this kind in SVG output.
    pub(crate) fn class_name(self) -> &'static str {
        match self {
            Self::Outcome => "outcome",
            Self::Timer => "timer",
            Self::Event => "event",
            Self::Auto => "auto",
            Self::Subflow => "subflow",
        }
    }
}

/// An edge whose endpoints both exist, in terms of [`Resolved::nodes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResolvedEdge {
    /// Index of the edge in [`Graph::edges`].
    pub index: usize,
    /// Position of the source in [`Resolved::nodes`].
    pub from: usize,
    /// Position of the target in [`Resolved::nodes`].
    pub to: usize,
}

/// The drawable part of a graph: unique nodes and edges between known nodes.
#[derive(Debug, Clone)]
pub(crate) struct Resolved<'g> {
    /// Indices into [`Graph::nodes`] of the first node with each id, in input order.
    pub nodes: Vec<usize>,
    /// Edges whose endpoints are both known, in input order.
    pub edges: Vec<ResolvedEdge>,
    positions: HashMap<&'g str, usize>,
}

impl<'g> Resolved<'g> {
    /// Resolves node ids, dropping repeated ids and edges to unknown nodes.
    pub fn new(graph: &'g Graph) -> Self {
        let mut positions = HashMap::with_capacity(graph.nodes.len());
        let mut nodes = Vec::with_capacity(graph.nodes.len());
        for (index, node) in graph.nodes.iter().enumerate() {
            if !positions.contains_key(node.id.as_str()) {
                positions.insert(node.id.as_str(), nodes.len());
                nodes.push(index);
            }
        }
        let edges = graph
            .edges
            .iter()
            .enumerate()
            .filter_map(|(index, edge)| {
                let from = *positions.get(edge.from.as_str())?;
                let to = *positions.get(edge.to.as_str())?;
                Some(ResolvedEdge { index, from, to })
            })
            .collect();
        Self {
            nodes,
            edges,
            positions,
        }
    }

    /// Position in [`Resolved::nodes`] of the node with this id, if any.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.positions.get(id).copied()
    }
}
