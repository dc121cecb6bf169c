//! Mermaid `flowchart` output, for documentation and tools that render
//! Mermaid themselves.

use std::collections::HashSet;
use std::fmt::{self, Write as _};

use crate::graph::{EdgeKind, Graph, NodeKind, Resolved};
use crate::shape::node_text;
use crate::text::one_line;
use crate::theme::{self, CURRENT};

/// Writes `graph` as a Mermaid `flowchart TD`, marking the node with id
/// `current` (if any) with the `current` class.
///
/// Nodes come in input order, one per line, shaped by kind and labelled with
/// their title and id; edges follow in input order (timer edges dotted,
/// subflow edges thick), then one `classDef` per kind used and the `class`
/// assignments. Node ids that Mermaid would misread are replaced by safe
/// ones, labels are quoted with Mermaid's entity escapes, and edges naming
/// unknown nodes are left out. The output is deterministic.
pub fn to_mermaid(graph: &Graph, current: Option<&str>) -> String {
    Mermaid { graph, current }.to_string()
}

/// A graph ready to be formatted as Mermaid.
struct Mermaid<'a> {
    /// The graph to draw.
    graph: &'a Graph,
    /// Id of the node to highlight.
    current: Option<&'a str>,
}

impl fmt::Display for Mermaid<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let graph = self.graph;
        let resolved = Resolved::new(graph);
        let nodes: Vec<&crate::graph::Node> = resolved
            .nodes
            .iter()
            .filter_map(|&index| graph.nodes.get(index))
            .collect();
        let ids = mermaid_ids(&nodes);

        let title = one_line(&graph.title);
        if !title.is_empty() {
            writeln!(out, "---\ntitle: \"{}\"\n---", escape_yaml(&title))?;
        }
        writeln!(out, "flowchart TD")?;
        for (node, id) in nodes.iter().zip(&ids) {
            let (open, close) = shape(node.kind);
            let text = node_text(node);
            let mut label = escape(&text.title);
            if let Some(node_id) = &text.id {
                write!(label, "<br/>{}", escape(node_id))?;
            }
            writeln!(out, "    {id}{open}\"{label}\"{close}")?;
        }
        for edge in &resolved.edges {
            let (Some(from), Some(to), Some(original)) = (
                ids.get(edge.from),
                ids.get(edge.to),
                graph.edges.get(edge.index),
            ) else {
                continue;
            };
            let arrow = arrow(original.kind);
            let label = one_line(&original.label);
            if label.is_empty() {
                writeln!(out, "    {from} {arrow} {to}")?;
            } else {
                writeln!(out, "    {from} {arrow}|\"{}\"| {to}", escape(&label))?;
            }
        }

        let current = self.current.and_then(|id| resolved.position(id));
        for kind in NodeKind::ALL {
            let members: Vec<&str> = nodes
                .iter()
                .zip(&ids)
                .filter(|(node, _)| node.kind == kind)
                .map(|(_, id)| id.as_str())
                .collect();
            if members.is_empty() {
                continue;
            }
            let colors = theme::node_colors(kind);
            let class = kind.class_name();
            writeln!(
                out,
                "    classDef {class} fill:{},stroke:{},color:{}",
                colors.fill, colors.stroke, colors.text
            )?;
            writeln!(out, "    class {} {class}", members.join(","))?;
        }
        if let Some(id) = current.and_then(|position| ids.get(position)) {
            writeln!(
                out,
                "    classDef current fill:{},stroke:{},stroke-width:3px,color:{}",
                CURRENT.fill, CURRENT.stroke, CURRENT.text
            )?;
            writeln!(out, "    class {id} current")?;
        }
        Ok(())
    }
}

/// Opening and closing brackets of the Mermaid shape for a node kind.
fn shape(kind: NodeKind) -> (&'static str, &'static str) {
    match kind {
        NodeKind::Start => ("([", "])"),
        NodeKind::Task => ("[", "]"),
        NodeKind::Auto => ("{{", "}}"),
        NodeKind::Wait => ("[/", "/]"),
        NodeKind::Subflow => ("[[", "]]"),
        NodeKind::Terminal => ("(((", ")))"),
    }
}

/// Mermaid link for an edge kind: timers dotted, subflows thick.
fn arrow(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Outcome | EdgeKind::Event | EdgeKind::Auto => "-->",
        EdgeKind::Timer => "-.->",
        EdgeKind::Subflow => "==>",
    }
}

/// Words Mermaid's flowchart grammar reserves, which cannot be node ids.
const RESERVED: [&str; 14] = [
    "end",
    "graph",
    "flowchart",
    "flowchart-elk",
    "subgraph",
    "style",
    "linkstyle",
    "class",
    "classdef",
    "click",
    "call",
    "href",
    "direction",
    "default",
];

/// Mermaid ids for the nodes: the node's own id where Mermaid reads it as
/// is, otherwise `n<position>` made unique with trailing underscores.
fn mermaid_ids(nodes: &[&crate::graph::Node]) -> Vec<String> {
    let safe: Vec<bool> = nodes.iter().map(|node| is_safe_id(&node.id)).collect();
    let mut used: HashSet<String> = nodes
        .iter()
        .zip(&safe)
        .filter(|(_, safe)| **safe)
        .map(|(node, _)| node.id.clone())
        .collect();
    nodes
        .iter()
        .zip(&safe)
        .enumerate()
        .map(|(position, (node, &safe))| {
            if safe {
                return node.id.clone();
            }
            let mut id = format!("n{position}");
            while used.contains(&id) {
                id.push('_');
            }
            used.insert(id.clone());
            id
        })
        .collect()
}

/// Whether Mermaid reads `id` as a plain node id.
fn is_safe_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.contains(&id.to_ascii_lowercase().as_str())
}

/// Escapes text for a double-quoted Mermaid label with entity codes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in one_line(text).chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '|' => out.push_str("#124;"),
            '`' => out.push_str("#96;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a double-quoted YAML scalar.
fn escape_yaml(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Node;

    #[test]
    fn reserved_and_odd_ids_are_replaced() {
        let nodes = [
            Node::new("end", "", NodeKind::Terminal),
            Node::new("n0", "", NodeKind::Task),
            Node::new("审核", "", NodeKind::Task),
            Node::new("a b", "", NodeKind::Task),
            Node::new("bank_result", "", NodeKind::Task),
        ];
        let refs: Vec<&Node> = nodes.iter().collect();
        assert_eq!(mermaid_ids(&refs), ["n0_", "n0", "n2", "n3", "bank_result"]);
    }

    #[test]
    fn label_escapes_use_entity_codes() {
        assert_eq!(
            escape("a \"b\" <c> & #d | `e`\nf"),
            "a #quot;b#quot; #lt;c#gt; #amp; #35;d #124; #96;e#96; f"
        );
    }

    #[test]
    fn yaml_title_is_escaped() {
        assert_eq!(escape_yaml(r#"a "b" \c"#), r#"a \"b\" \\c"#);
    }
}
