//! Applicant identity: login by SMS code (验证码登录, which also registers an unknown phone, as
//! every app in the manuals does), the optional login password (登录密码) and the limits that
//! keep both from being guessed.
//!
//! What it owns:
//!
//! - **Codes**: 6 digits from the operating system's CSPRNG ([`code`]), stored only as
//!   HMAC-SHA256 under a server key ([`CodeKey`]) over purpose, phone and code, compared in
//!   constant time. A code lives 5 minutes, dies on its 5th wrong try, is used once, and a newer
//!   code of the same phone and purpose replaces it. A phone gets a new code at most every 60 s
//!   and a capped number per Beijing day; so does an IP.
//! - **Passwords**: argon2id PHC strings ([`password`]); 5 wrong passwords lock a phone for 15
//!   minutes (each try is counted before it is checked, so a burst cannot outrun the lock). The lock is kept per phone whether or not an account has it, and an unknown phone
//!   costs one argon2 verification like a known one, so neither answers nor timing tell who has
//!   an account.
//! - **The per-IP limit**: every code entry and password attempt is written down as a failure
//!   before it is checked (and as a success after), so attempts in flight count too: one IP
//!   gets at most [`Limits::ip_failures`] failures per [`Limits::ip_window`].
//!
//! The IP is the TCP peer of the request ([`actix_web::HttpRequest::peer_addr`]);
//! `X-Forwarded-For` is never read, so a client cannot choose its own bucket. Behind a reverse
//! proxy every request has the proxy's address: give the proxy its own limits, or extend this
//! with a trusted-proxy setting. IPv6 peers are counted per /64, the block one subscriber gets.
//!
//! All of it lives in PostgreSQL (migration `000011_identity`), not Redis: API processes are
//! stateless, and logging in must keep working, and keep being limited, while Redis is down.
//! Time is the runtime clock's, so tests move it instead of sleeping. The queries are in
//! `store`; the HTTP handlers in `routes::auth` and `routes::me`.

pub mod code;
pub mod password;
pub(crate) mod store;

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use certdesk_notify::SmsSender;
use chrono::{DateTime, FixedOffset, TimeDelta, Utc};

pub use code::{CodeKey, CodeKeyError, CodeKeyFileError};

/// Beijing time: the calendar day of the daily caps (no DST in China).
const BEIJING: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

/// The numbers the identity rules run on. The defaults are the issue's; the daily caps, the
/// per-IP limit and the token lifetime are configurable (`certdesk.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How long a code is valid.
    pub code_ttl: TimeDelta,
    /// How long a phone waits between two codes.
    pub resend_after: TimeDelta,
    /// Wrong tries that void a code (the last of them voids it).
    pub max_code_tries: i32,
    /// Codes one phone may be sent per Beijing day.
    pub daily_codes_per_phone: i64,
    /// Codes one IP may ask for per Beijing day.
    pub daily_codes_per_ip: i64,
    /// Failed code entries and password attempts one IP may make per [`Self::ip_window`].
    pub ip_failures: i64,
    /// The sliding window of [`Self::ip_failures`].
    pub ip_window: TimeDelta,
    /// Wrong passwords that lock a phone's password login.
    pub max_password_failures: i32,
    /// How long that lock lasts.
    pub password_lock: TimeDelta,
    /// How long a bearer token from a login is valid.
    pub token_ttl: TimeDelta,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            code_ttl: TimeDelta::minutes(5),
            resend_after: TimeDelta::seconds(60),
            max_code_tries: 5,
            daily_codes_per_phone: 10,
            daily_codes_per_ip: 50,
            ip_failures: 30,
            ip_window: TimeDelta::minutes(10),
            max_password_failures: 5,
            password_lock: TimeDelta::minutes(15),
            token_ttl: TimeDelta::days(30),
        }
    }
}

/// What the login endpoints need beyond the runtime: the SMS gateway, the key of the code
/// hashes, the limits and the brand that signs each SMS.
#[derive(Clone)]
pub struct Identity {
    sms: Arc<dyn SmsSender>,
    key: CodeKey,
    limits: Limits,
    brand: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("key", &self.key)
            .field("limits", &self.limits)
            .field("brand", &self.brand)
            .finish_non_exhaustive()
    }
}

/// The SMS signature used when none is configured.
pub const DEFAULT_BRAND: &str = "中标一证通";

impl Identity {
    /// Codes sent through `sms` and hashed under `key`, with the default limits and brand.
    #[must_use]
    pub fn new(sms: Arc<dyn SmsSender>, key: CodeKey) -> Self {
        Identity {
            sms,
            key,
            limits: Limits::default(),
            brand: DEFAULT_BRAND.to_owned(),
        }
    }

    /// The same with other limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The same with another SMS signature (`【brand】` opens every message).
    #[must_use]
    pub fn with_brand(mut self, brand: impl Into<String>) -> Self {
        self.brand = brand.into();
        self
    }

    /// The limits in force.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub(crate) fn sms(&self) -> &dyn SmsSender {
        &*self.sms
    }

    pub(crate) fn key(&self) -> &CodeKey {
        &self.key
    }

    pub(crate) fn brand(&self) -> &str {
        &self.brand
    }
}

/// What a code is for. A code of one purpose never serves the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Logging in (and registering an unknown phone).
    Login,
    /// Setting or resetting the login password of the signed-in applicant.
    SetPassword,
}

impl Purpose {
    /// The stored and wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Login => "login",
            Purpose::SetPassword => "set_password",
        }
    }

    /// Parses the wire name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "login" => Some(Purpose::Login),
            "set_password" => Some(Purpose::SetPassword),
            _ => None,
        }
    }
}

/// The bucket a peer address counts in: an IPv4 address as is (also when mapped into IPv6),
/// an IPv6 address by its /64; requests without a peer (unit tests, Unix sockets) share one.
#[must_use]
pub fn ip_bucket(peer: Option<IpAddr>) -> String {
    match peer {
        None => "unknown".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Midnight of `now`'s Beijing day, and of the next one, in UTC.
pub(crate) fn beijing_day(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let local = now.with_timezone(&BEIJING);
    let start = local
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(BEIJING).single())
        .map_or(now, |t| t.with_timezone(&Utc));
    (start, start + TimeDelta::days(1))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ipv6_peers_count_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(ip_bucket(None), "unknown");
        assert_eq!(
            ip_bucket(Some("203.0.113.7".parse().unwrap())),
            "203.0.113.7"
        );
        assert_eq!(
            ip_bucket(Some("::ffff:203.0.113.7".parse().unwrap())),
            "203.0.113.7"
        );
        let a = ip_bucket(Some("2001:db8:1:2:aaaa::1".parse().unwrap()));
        let b = ip_bucket(Some("2001:db8:1:2:bbbb::9".parse().unwrap()));
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, b);
        assert_ne!(a, ip_bucket(Some("2001:db8:1:3::1".parse().unwrap())));
    }

    #[test]
    fn the_day_is_beijings() {
        // 2026-03-02 15:59 UTC is 23:59 in Beijing; 16:00 UTC is the next Beijing day.
        let late = Utc.with_ymd_and_hms(2026, 3, 2, 15, 59, 0).unwrap();
        let (start, next) = beijing_day(late);
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 3, 1, 16, 0, 0).unwrap());
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 3, 2, 16, 0, 0).unwrap());
        let (start, _) = beijing_day(next);
        assert_eq!(start, next);
    }

    #[test]
    fn purposes_round_trip() {
        for p in [Purpose::Login, Purpose::SetPassword] {
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
        }
        assert_eq!(Purpose::parse("reset"), None);
    }
}
