//! Renders the sample issuance workflow to `diagram-sample.svg` in the
//! temporary directory, for a person to look at.

mod common;

#[test]
fn writes_sample_svg() {
    let svg = certdesk_diagram::to_svg(&common::issuance(), Some("admin_review"));
    common::assert_well_formed_svg(&svg);
    std::fs::write(std::env::temp_dir().join("diagram-sample.svg"), svg).unwrap();
}
