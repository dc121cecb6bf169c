//! A definition as a drawable graph, for `certdesk workflows show` and the console.

use certdesk_diagram::{Edge, EdgeKind, Graph, Node, NodeKind};

use crate::def::{Definition, Kind, Transition};

/// Builds the state graph of a definition: one node per state, one edge per branch and timer.
pub fn graph(def: &Definition) -> Graph {
    let nodes = def
        .states
        .iter()
        .map(|s| Node {
            id: s.name.clone(),
            label: s.title.clone(),
            kind: match s.kind {
                Kind::Start { .. } => NodeKind::Start,
                Kind::Auto { .. } => NodeKind::Auto,
                Kind::Task(_) => NodeKind::Task,
                Kind::Wait => NodeKind::Wait,
                Kind::Subflow(_) => NodeKind::Subflow,
                Kind::Terminal { .. } => NodeKind::Terminal,
            },
        })
        .collect();
    let mut edges = Vec::new();
    for s in &def.states {
        let mut add = |t: &Transition, label: &str, kind: EdgeKind| {
            for b in &t.branches {
                let label = match &b.guard {
                    Some(g) if label.is_empty() => g.label.clone(),
                    Some(g) => format!("{label} [{}]", g.label),
                    None => label.to_owned(),
                };
                edges.push(Edge {
                    from: s.name.clone(),
                    to: def.state(b.to).name.clone(),
                    label,
                    kind,
                });
            }
        };
        match &s.kind {
            Kind::Start { next } | Kind::Auto { next } => add(next, "", EdgeKind::Auto),
            Kind::Task(task) => {
                for o in &task.outcomes {
                    add(&o.transition, &o.name, EdgeKind::Outcome);
                }
            }
            Kind::Subflow(sub) => {
                for (result, t) in &sub.finished {
                    add(t, result, EdgeKind::Subflow);
                }
            }
            Kind::Wait | Kind::Terminal { .. } => {}
        }
        for (event, t) in &s.on {
            add(t, event, EdgeKind::Event);
        }
        if let Some(t) = &s.withdraw {
            add(t, crate::catalog::WITHDRAW, EdgeKind::Event);
        }
        if let Some(t) = &s.resubmit {
            add(t, crate::catalog::RESUBMIT, EdgeKind::Event);
        }
        for timer in &s.timers {
            if let Some(to) = timer.to {
                edges.push(Edge {
                    from: s.name.clone(),
                    to: def.state(to).name.clone(),
                    label: timer.label.clone(),
                    kind: EdgeKind::Timer,
                });
            }
        }
    }
    Graph {
        title: format!("{} v{} — {}", def.name, def.version, def.title),
        nodes,
        edges,
    }
}
