//! Who may open which console page: deny by default, one function per kind of page.
//!
//! | page | may open |
//! |---|---|
//! | inbox, task pages, deciding | staff whose groups the task names ([`crate::inbox`]; never the requester, [`crate::decide`]) |
//! | an uploaded document | staff whose groups a task of an instance naming it names; `supervisor`, `sys_admin` ([`crate::documents`]) |
//! | instance search, dashboard, reassigning, definitions, dead jobs, audit | `supervisor`, `sys_admin` |
//! | an instance's page | `supervisor`, `sys_admin`, and staff whose groups one of its tasks names |
//! | staff list | `supervisor` (read-only), `sys_admin` |
//! | changing roles, disabling, resetting TOTP | `sys_admin` |
//! | a personal number in full (recorded; [`crate::reveal`]) | `cs_reviewer`, `supervisor`, `sys_admin`, on a page they may open |
//!
//! A page a role may not open answers 403 (a known page, not hidden); an instance outside
//! the person's tasks answers 404, as a task of another group does.

use serde_json::{Value, json};

use crate::pages::PageError;
use crate::session::Staff;

/// Whether `staff` supervises: sees every queue, instance, definition, dead job and the audit.
#[must_use]
pub fn supervises(staff: &Staff) -> bool {
    staff.has("supervisor") || staff.has("sys_admin")
}

/// Whether `staff` administers accounts.
#[must_use]
pub fn administers(staff: &Staff) -> bool {
    staff.has("sys_admin")
}

/// 403 unless `staff` supervises.
///
/// # Errors
///
/// [`PageError::Forbidden`] for everyone else.
pub fn require_supervisor(staff: &Staff) -> Result<(), PageError> {
    if supervises(staff) {
        Ok(())
    } else {
        tracing::info!(user.id = %staff.user_id, "supervisor page refused");
        Err(PageError::Forbidden)
    }
}

/// 403 unless `staff` is a `sys_admin`.
///
/// # Errors
///
/// [`PageError::Forbidden`] for everyone else.
pub fn require_admin(staff: &Staff) -> Result<(), PageError> {
    if administers(staff) {
        Ok(())
    } else {
        tracing::info!(user.id = %staff.user_id, "administrator action refused");
        Err(PageError::Forbidden)
    }
}

/// The menu entries `staff` may open (the layout shows only these).
#[must_use]
pub fn nav(staff: &Staff) -> Value {
    let sup = supervises(staff);
    json!({
        "supervise": sup,
        "instances": sup,
        "staff": sup,
        "definitions": sup,
        "jobs": sup,
        "audit": sup,
    })
}
