//! One fixture per validation rule: each must fail naming the exact file and path.

use std::path::Path;

use crate::support::{fixtures, load_fixture, render, root};

/// Loads `tests/fixtures/invalid/<rule>` and returns its errors as (file name, path, message).
fn errors_of(rule: &str) -> Vec<(String, String, String)> {
    let dir = root().join("tests/fixtures/invalid").join(rule);
    assert!(dir.is_dir(), "missing fixture {}", dir.display());
    match load_fixture(&dir) {
        Ok(_) => panic!("fixture `{rule}` loaded, but it must fail"),
        Err(errors) => errors
            .into_iter()
            .map(|e| {
                let file = Path::new(&e.file)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                (file, e.path, e.message)
            })
            .collect(),
    }
}

/// Asserts exactly one error, in `file` at `path`, whose message contains `needle`.
fn assert_only(rule: &str, file: &str, path: &str, needle: &str) {
    let errors = errors_of(rule);
    assert_eq!(
        errors.len(),
        1,
        "{rule}: expected one error, got {errors:#?}"
    );
    let (f, p, m) = &errors[0];
    assert_eq!(
        (f.as_str(), p.as_str()),
        (file, path),
        "{rule}: wrong location; message: {m}"
    );
    assert!(m.contains(needle), "{rule}: message `{m}` lacks `{needle}`");
}

#[test]
fn valid_fixtures_load() {
    let registry = fixtures();
    let names: Vec<&str> = registry.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["enterprise_claim", "micro_payment", "refund"]);
}

#[test]
fn syntax_error_names_line_and_path() {
    let dir = root().join("tests/fixtures/invalid/syntax_error");
    let errors = load_fixture(&dir).unwrap_err();
    assert_eq!(errors.len(), 1, "{}", render(&errors));
    assert_eq!(errors[0].path, "states.review.kind");
    assert_eq!(errors[0].line, Some(16));
    assert!(
        errors[0].message.starts_with("TOML syntax"),
        "{}",
        errors[0].message
    );
}

#[test]
fn unknown_key_is_rejected_with_its_path() {
    assert_only(
        "unknown_key",
        "unknown_key.toml",
        "states.review.outcomes.reject.goto",
        "unknown field `goto`",
    );
}

#[test]
fn duplicate_state_is_rejected() {
    assert_only(
        "duplicate_state",
        "duplicate_state.toml",
        "states.review",
        "TOML syntax",
    );
}

#[test]
fn unknown_state_kind_is_rejected() {
    assert_only(
        "unknown_state_kind",
        "unknown_state_kind.toml",
        "states.review.kind",
        "unknown state kind `review`",
    );
}

#[test]
fn unknown_target_state_is_rejected_and_its_victim_reported_unreachable() {
    let errors = errors_of("unknown_target_state");
    let paths: Vec<&str> = errors.iter().map(|(_, p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        ["states.review.outcomes.approve.to", "states.approved"],
        "{errors:#?}"
    );
    assert!(errors[0].2.contains("unknown state `aproved`"));
    assert!(errors[1].2.contains("unreachable"));
}

#[test]
fn unreachable_state_is_rejected() {
    assert_only(
        "unreachable_state",
        "unreachable_state.toml",
        "states.orphan",
        "unreachable",
    );
}

#[test]
fn non_terminal_dead_end_is_rejected() {
    assert_only("dead_end", "dead_end.toml", "states.limbo", "dead end");
}

#[test]
fn states_that_can_never_end_are_rejected() {
    let errors = errors_of("never_ends");
    let paths: Vec<&str> = errors.iter().map(|(_, p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        ["states.parked", "states.parked_again"],
        "{errors:#?}"
    );
    assert!(errors.iter().all(|(_, _, m)| m.contains("would never end")));
}

#[test]
fn unknown_guard_is_rejected() {
    assert_only(
        "unknown_guard",
        "unknown_guard.toml",
        "states.start.next[0].guard",
        "unknown guard `is_vip`",
    );
}

#[test]
fn unknown_action_is_rejected() {
    assert_only(
        "unknown_action",
        "unknown_action.toml",
        "states.approved.enter.actions[0]",
        "unknown action `enterprise.launch_rocket`",
    );
}

#[test]
fn unknown_validator_is_rejected() {
    assert_only(
        "unknown_validator",
        "unknown_validator.toml",
        "form.fields.note.validators[1]",
        "unknown validator `zip_code`",
    );
}

#[test]
fn a_title_for_no_choice_is_rejected() {
    assert_only(
        "unknown_choice_title",
        "unknown_choice_title.toml",
        "form.fields.kind.choice_titles.taiwan_permit",
        "`taiwan_permit` is not one of the choices",
    );
}

#[test]
fn unknown_template_is_rejected() {
    assert_only(
        "unknown_template",
        "unknown_template.toml",
        "states.review.enter.notify[0].template",
        "no template `templates/in_app/no_such_template.hbs`",
    );
}

#[test]
fn unknown_staff_group_is_rejected() {
    assert_only(
        "unknown_staff_group",
        "unknown_staff_group.toml",
        "states.review.task.assignees[0]",
        "unknown staff group or relation `cs_reviewers`",
    );
}

#[test]
fn relation_outside_its_subject_is_rejected() {
    assert_only(
        "relation_for_wrong_subject",
        "relation_for_wrong_subject.toml",
        "states.review.task.assignees[0]",
        "relation `enterprise.admins` needs subject enterprise",
    );
}

#[test]
fn unknown_event_is_rejected() {
    assert_only(
        "unknown_event",
        "unknown_event.toml",
        "states.review.on.bank_resulted",
        "unknown event `bank_resulted`",
    );
}

#[test]
fn outcome_without_transition_is_rejected() {
    assert_only(
        "outcome_without_transition",
        "outcome_without_transition.toml",
        "states.review.outcomes.return",
        "has no transition",
    );
}

#[test]
fn timer_without_target_is_rejected() {
    assert_only(
        "timer_without_target",
        "timer_without_target.toml",
        "states.review.timers[0]",
        "timer has no target",
    );
}

#[test]
fn bad_delay_is_rejected() {
    assert_only(
        "bad_delay",
        "bad_delay.toml",
        "states.review.timers[0].after",
        "`3 days` is not a delay",
    );
}

#[test]
fn missing_subflow_is_rejected() {
    assert_only(
        "missing_subflow",
        "missing_subflow.toml",
        "states.verify.workflow",
        "no definition named `no_such_flow`",
    );
}

#[test]
fn subflow_ending_without_transition_is_rejected() {
    assert_only(
        "subflow_ending_unhandled",
        "parent.toml",
        "states.verify.finished",
        "can end in `timed_out`",
    );
}

#[test]
fn loop_of_automatic_states_is_rejected() {
    assert_only(
        "automatic_loop",
        "automatic_loop.toml",
        "states.route_a.next",
        "automatic states loop (route_a -> route_b -> route_a)",
    );
}

#[test]
fn guarded_last_branch_is_rejected() {
    assert_only(
        "guarded_last_branch",
        "guarded_last_branch.toml",
        "states.start.next[1].guard",
        "last branch must have no guard",
    );
}

#[test]
fn guard_reading_a_missing_field_is_rejected() {
    assert_only(
        "guard_bad_path",
        "guard_bad_path.toml",
        "states.start.next[0].guard.path",
        "no form field `nothing`",
    );
}

#[test]
fn second_start_state_is_rejected() {
    assert_only(
        "two_start_states",
        "two_start_states.toml",
        "states.second.kind",
        "exactly one start state",
    );
}

#[test]
fn duplicate_definition_name_is_rejected() {
    assert_only(
        "duplicate_definition_name",
        "same_name_copy.toml",
        "name",
        "also defined in",
    );
}

#[test]
fn changed_content_with_kept_version_is_rejected() {
    assert_only(
        "version_kept",
        "version_kept.toml",
        "version",
        "content changed but version 1 was kept",
    );
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let errors = errors_of("many_errors");
    let paths: Vec<&str> = errors.iter().map(|(_, p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "form.fields.note.validators[0]",
            "states.review.task.assignees[0]",
            "states.review.outcomes.approve.to",
            "states.approved",
        ],
        "{errors:#?}"
    );
}

#[test]
fn unknown_relation_as_recipient_is_rejected() {
    assert_only(
        "unknown_relation",
        "unknown_relation.toml",
        "states.review.enter.notify[0].to",
        "unknown recipient `enterprise.owners`",
    );
}
