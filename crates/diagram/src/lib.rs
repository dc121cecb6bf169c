//! Draws certdesk workflow definitions — approval chains made of states and
//! transitions — as Mermaid flowchart text or as standalone SVG.
//!
//! The workflow engine builds a [`Graph`] from a definition; the CLI
//! (`certdesk workflows show NAME --format mermaid|svg`) and the admin console
//! render it with [`to_mermaid`] or [`to_svg`], optionally highlighting the
//! state an instance is currently in.
//!
//! Rendering Mermaid to pictures needs JavaScript, so SVG output is laid out
//! here in pure Rust by a small layered (Sugiyama-style) algorithm, exposed as
//! [`layout`] for callers and tests that need the geometry itself.
//!
//! Both writers are total: any [`Graph`] is drawn without panicking. Edges that
//! name unknown nodes are left out, and a node id that occurs more than once is
//! drawn once, with its first definition. Output is deterministic: the same
//! graph always yields the same bytes.

mod graph;
mod layout;
mod mermaid;
mod shape;
mod svg;
mod text;
mod theme;

pub use graph::{Edge, EdgeKind, Graph, Node, NodeKind};
pub use layout::{EdgeRoute, Layout, NodeBox, PathSegment, Point, Rect, RouteKind, layout};
pub use mermaid::to_mermaid;
pub use svg::to_svg;
pub use text::text_width;
