//! Real-name verification (实名认证) of applicants: the provider behind it and the bounded
//! retries around it.
//!
//! Mainland resident IDs are checked by a real-name provider in two calls (中标一证通 4: 身份
//! 认证 → 人脸审核; 数信签 4.1): a three-element check (name + ID number + the phone the
//! applicant logged in with, against the carrier's and the public-security records), then a
//! face check of a liveness photo against the ID's photo. [`RealNameProvider`] is that party;
//! [`SandboxRealName`] stands in for it (SPEC: every external party is a trait with a sandbox
//! that behaves like the real one), deterministically by input so tests can provoke each case.
//!
//! Every call carries a request id that the caller stores before the call; real providers
//! deduplicate by it (a retried request is not billed twice) and so does the sandbox. A
//! transient failure ([`ProviderError::Unavailable`]) is retried by [`RealName::call`] a bounded
//! number of times with exponential backoff, with the same request id; then the API answers
//! `503 real_name_unavailable` and stores nothing as verified.
//!
//! Why here and not in `workers/`: the applicant waits for the answer (the app shows "实名认证
//! 成功!" on the same screen), so it is called on the request path, and only the API calls it.
//! The trait has no API types in it; when the enterprise claim's four-element check needs the
//! same party from a worker, this module moves to a crate of its own unchanged.
//!
//! Passports and Hong Kong / Macau / Taiwan permits are not checked by a provider: they go to
//! CS reviewers through the `real_name_review` workflow (数信签 4.2, "预计审核 1-2 小时").

mod sandbox;
pub(crate) mod store;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use certdesk_domain::ident::{CnIdNumber, Phone};
use uuid::Uuid;

pub use sandbox::{SandboxRealName, SandboxStats};

/// A boxed, sendable future (the trait is object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the provider answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Everything matches.
    Match,
    /// The name is not the name registered to this ID number (姓名与身份证号不一致).
    NameIdMismatch,
    /// The phone is not registered (实名登记) to this ID number at its carrier.
    PhoneMismatch,
    /// The liveness photo is not the person of the ID's photo.
    FaceMismatch,
}

impl Verdict {
    /// The stored name (`real_name_checks.result`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Match => "match",
            Verdict::NameIdMismatch => "name_id_mismatch",
            Verdict::PhoneMismatch => "phone_mismatch",
            Verdict::FaceMismatch => "face_mismatch",
        }
    }
}

/// A call that got no verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider is down, timed out or throttled us: worth retrying with the same request
    /// id.
    #[error("real-name provider unavailable: {0}")]
    Unavailable(String),
}

/// The three-element check's input.
#[derive(Debug, Clone, Copy)]
pub struct ThreeElement<'a> {
    /// The name as on the ID card.
    pub name: &'a str,
    /// The resident ID number.
    pub id_number: &'a CnIdNumber,
    /// The applicant's phone (the one they logged in with).
    pub phone: &'a Phone,
    /// The idempotency key, stored before the call.
    pub request_id: Uuid,
}

/// The face check's input.
#[derive(Debug, Clone, Copy)]
pub struct FaceCheck<'a> {
    /// The name checked in the first step.
    pub name: &'a str,
    /// The resident ID number checked in the first step.
    pub id_number: &'a CnIdNumber,
    /// The liveness photo (JPEG or PNG bytes, as uploaded).
    pub image: &'a [u8],
    /// The idempotency key, stored before the call.
    pub request_id: Uuid,
}

/// A real-name verification party (公安身份核验 + 运营商三要素 + 人脸比对).
pub trait RealNameProvider: Send + Sync {
    /// A short name recorded with each call (`sandbox`, `vendor_x`).
    fn name(&self) -> &'static str;

    /// Name + ID number + phone: [`Verdict::Match`], [`Verdict::NameIdMismatch`] or
    /// [`Verdict::PhoneMismatch`].
    fn three_element_check<'a>(
        &'a self,
        input: ThreeElement<'a>,
    ) -> BoxFuture<'a, Result<Verdict, ProviderError>>;

    /// A liveness photo against the ID's photo: [`Verdict::Match`] or
    /// [`Verdict::FaceMismatch`].
    fn face_check<'a>(
        &'a self,
        input: FaceCheck<'a>,
    ) -> BoxFuture<'a, Result<Verdict, ProviderError>>;
}

/// How transient failures are retried: `attempts` calls in all, waiting `backoff`, then twice
/// that, and so on, between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Calls in all, the first included (at least 1).
    pub attempts: u32,
    /// The wait after the first failure; doubled after each further one.
    pub backoff: Duration,
}

impl Default for Retry {
    /// Three calls, 200 ms then 400 ms apart: under a second of waiting before the applicant
    /// is told to try later.
    fn default() -> Self {
        Retry {
            attempts: 3,
            backoff: Duration::from_millis(200),
        }
    }
}

/// The provider the API calls, with its retry policy.
#[derive(Clone)]
pub struct RealName {
    provider: Arc<dyn RealNameProvider>,
    retry: Retry,
}

impl std::fmt::Debug for RealName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealName")
            .field("provider", &self.provider.name())
            .field("retry", &self.retry)
            .finish()
    }
}

/// The outcome of a call with its retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Called {
    /// The verdict, or the last transient error once the attempts ran out.
    pub result: Result<Verdict, ProviderError>,
    /// How many calls were made.
    pub attempts: u32,
}

impl RealName {
    /// Calls `provider`, retrying as `retry` says.
    #[must_use]
    pub fn new(provider: Arc<dyn RealNameProvider>, retry: Retry) -> Self {
        RealName { provider, retry }
    }

    /// The sandbox provider answering after `latency`, with the default retries.
    #[must_use]
    pub fn sandbox(latency: Duration) -> Self {
        RealName::new(Arc::new(SandboxRealName::new(latency)), Retry::default())
    }

    /// The provider's short name.
    #[must_use]
    pub fn provider_name(&self) -> &'static str {
        self.provider.name()
    }

    /// The provider itself.
    #[must_use]
    pub fn provider(&self) -> &dyn RealNameProvider {
        &*self.provider
    }

    /// Calls `call` until it gives a verdict or the attempts run out; every try gets the same
    /// request id (the closure's), so the provider counts it once.
    pub async fn call<'a, F>(&'a self, mut call: F) -> Called
    where
        F: FnMut(&'a dyn RealNameProvider) -> BoxFuture<'a, Result<Verdict, ProviderError>>,
    {
        let attempts = self.retry.attempts.max(1);
        let mut wait = self.retry.backoff;
        let mut made = 0;
        loop {
            made += 1;
            let result = call(&*self.provider).await;
            match result {
                Ok(verdict) => {
                    return Called {
                        result: Ok(verdict),
                        attempts: made,
                    };
                }
                Err(e) if made >= attempts => {
                    return Called {
                        result: Err(e),
                        attempts: made,
                    };
                }
                Err(e) => {
                    tracing::info!(
                        real_name.provider = self.provider.name(),
                        attempt = made,
                        error = %e,
                        "real-name provider unavailable; retrying"
                    );
                    if !wait.is_zero() {
                        actix_web::rt::time::sleep(wait).await;
                    }
                    wait = wait.saturating_mul(2);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use super::*;
    use certdesk_domain::ident::id_check_char;

    /// A valid resident ID whose sequence code (characters 15–17) is `seq`.
    fn id(seq: &str) -> CnIdNumber {
        let first17 = format!("11010519900307{seq}");
        let check = id_check_char(&first17).unwrap();
        CnIdNumber::parse(&format!("{first17}{check}")).unwrap()
    }

    fn instant() -> RealName {
        RealName::new(
            Arc::new(SandboxRealName::new(Duration::ZERO)),
            Retry {
                attempts: 3,
                backoff: Duration::ZERO,
            },
        )
    }

    async fn three(rn: &RealName, seq: &str, request_id: Uuid) -> Called {
        let id = id(seq);
        let phone = Phone::parse("13900001111").unwrap();
        rn.call(|p| {
            p.three_element_check(ThreeElement {
                name: "张三",
                id_number: &id,
                phone: &phone,
                request_id,
            })
        })
        .await
    }

    #[actix_web::test]
    async fn a_flaky_provider_is_retried_with_the_same_request_id_and_answers() {
        let sandbox = Arc::new(SandboxRealName::new(Duration::ZERO));
        let rn = RealName::new(
            sandbox.clone(),
            Retry {
                attempts: 3,
                backoff: Duration::ZERO,
            },
        );
        let called = three(&rn, "996", Uuid::now_v7()).await;
        assert_eq!(called.result, Ok(Verdict::Match));
        assert_eq!(called.attempts, 2);
        let stats = sandbox.stats();
        assert_eq!(stats.calls, 2);
        assert_eq!(stats.billed, 1);
    }

    #[actix_web::test]
    async fn an_outage_gives_up_after_the_attempts() {
        let rn = instant();
        let called = three(&rn, "997", Uuid::now_v7()).await;
        assert!(matches!(called.result, Err(ProviderError::Unavailable(_))));
        assert_eq!(called.attempts, 3);
    }

    #[actix_web::test]
    async fn backoff_waits_between_attempts() {
        let rn = RealName::new(
            Arc::new(SandboxRealName::new(Duration::ZERO)),
            Retry {
                attempts: 3,
                backoff: Duration::from_millis(20),
            },
        );
        let started = std::time::Instant::now();
        let called = three(&rn, "997", Uuid::now_v7()).await;
        assert_eq!(called.attempts, 3);
        // 20 ms, then 40 ms.
        assert!(started.elapsed() >= Duration::from_millis(60));
    }

    #[actix_web::test]
    async fn verdicts_come_back_without_retries() {
        let rn = instant();
        assert_eq!(
            three(&rn, "123", Uuid::now_v7()).await,
            Called {
                result: Ok(Verdict::Match),
                attempts: 1
            }
        );
        assert_eq!(
            three(&rn, "999", Uuid::now_v7()).await.result,
            Ok(Verdict::NameIdMismatch)
        );
    }
}
