//! The complete example in docs/workflows.md is a valid definition.

use crate::support::{load_fixture, render, root};

#[test]
fn the_example_in_docs_workflows_md_is_valid() {
    let doc = std::fs::read_to_string(root().join("docs/workflows.md")).unwrap();
    let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + doc[start..].find("```").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("doc_claim.toml"), &doc[start..end]).unwrap();
    // Its sub-workflow is a fixture.
    std::fs::copy(
        root().join("tests/fixtures/valid/micro_payment.toml"),
        tmp.path().join("micro_payment.toml"),
    )
    .unwrap();
    let registry = load_fixture(tmp.path()).unwrap_or_else(|e| panic!("{}", render(&e)));
    let def = registry.get("doc_claim").unwrap();
    assert_eq!(def.states.len(), 9);
    let review = def.state(def.state_id("cs_review").unwrap());
    let certdesk_engine::def::Kind::Task(task) = &review.kind else {
        panic!("cs_review is a task")
    };
    assert_eq!(task.sla.as_ref().map(|s| s.label.as_str()), Some("16bh"));
}
