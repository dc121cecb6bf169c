//! Worker names that are unique per process start.
//!
//! apalis-redis keeps every worker name in a sorted set scored by its last heartbeat and refuses
//! to register a name whose score is recent (`worker is still active within threshold`); a
//! graceful stop does not remove the name. A process that restarts under a fixed name therefore
//! fails to start for a while. Names made here carry the role (for people reading Redis), the
//! host name and process id (to find the process), and a random suffix, so no two starts share
//! a name even when the pid is reused (for example pid 1 in a container).

/// Longest role kept in a name; longer roles are cut.
const MAX_ROLE_LEN: usize = 40;
/// Longest host name kept in a name; longer host names are cut.
const MAX_HOST_LEN: usize = 63;

/// A worker name `"{role}-{hostname}-{pid}-{suffix}"`, unique per call.
///
/// `suffix` is the first 8 hex digits of a fresh UUID v4. Characters other than ASCII letters,
/// digits, `.` and `_` in the role and host name become `-` (names end up inside Redis key
/// names such as `{queue}:inflight:{name}`, so `:` and spaces stay out).
///
/// ```
/// let name = certdesk_workers::naming::worker_name("mailer");
/// assert!(name.starts_with("mailer-"));
/// assert_ne!(name, certdesk_workers::naming::worker_name("mailer"));
/// ```
#[must_use]
pub fn worker_name(role: &str) -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    compose(role, &hostname(), std::process::id(), &suffix[..8])
}

/// Joins the parts of a name, cleaning and bounding the free-text ones.
fn compose(role: &str, host: &str, pid: u32, suffix: &str) -> String {
    let role = clean(role, MAX_ROLE_LEN, "worker");
    let host = clean(host, MAX_HOST_LEN, "unknown-host");
    format!("{role}-{host}-{pid}-{suffix}")
}

/// Keeps `[A-Za-z0-9._]`, maps everything else to `-`, cuts to `max` characters and falls back
/// to `fallback` when nothing is left.
fn clean(raw: &str, max: usize, fallback: &str) -> String {
    let cleaned: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(max)
        .collect();
    let cleaned = cleaned.trim_matches('-');
    if cleaned.is_empty() {
        fallback.to_owned()
    } else {
        cleaned.to_owned()
    }
}

/// The host name from the kernel, then `$HOSTNAME`, else empty (the caller falls back).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn name_has_role_host_pid_and_short_uuid() {
        let name = worker_name("bank-transfer");
        let pid = std::process::id().to_string();
        assert!(name.starts_with("bank-transfer-"), "{name}");
        let (rest, suffix) = name.rsplit_once('-').unwrap();
        assert_eq!(suffix.len(), 8, "{name}");
        assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
        assert!(rest.ends_with(&format!("-{pid}")), "{name}");
        let host = clean(&hostname(), MAX_HOST_LEN, "unknown-host");
        assert!(rest.contains(&format!("-{host}-")), "{name} lacks {host}");
    }

    #[test]
    fn every_call_gives_a_new_name() {
        let names: HashSet<String> = (0..1000).map(|_| worker_name("sms")).collect();
        assert_eq!(names.len(), 1000);
    }

    #[test]
    fn free_text_parts_are_cleaned() {
        assert_eq!(
            compose(" mail:out ", "host.example.cn\n", 7, "0123abcd"),
            "mail-out-host.example.cn-7-0123abcd"
        );
        assert_eq!(
            compose("", ":::", 1, "ffffffff"),
            "worker-unknown-host-1-ffffffff"
        );
        let long = "r".repeat(200);
        let name = compose(&long, "h", 1, "00000000");
        assert_eq!(name.len(), MAX_ROLE_LEN + "-h-1-00000000".len());
    }
}
