//! The sandbox real-name provider: answers like a real one, decided by the input so a test (or
//! a tester with the demo app) can provoke every case.
//!
//! The resident ID's sequence code (顺序码, characters 15–17) picks the behaviour; any other
//! ID number with a valid check digit matches:
//!
//! | sequence code | three-element check | face check |
//! |---|---|---|
//! | `999` | name/ID mismatch | — |
//! | `998` | phone not registered to this ID | — |
//! | `997` | unavailable, every time (an outage) | unavailable |
//! | `996` | unavailable on a request id's first call, then the verdict (a blip) | same |
//! | `995` | match | face mismatch |
//!
//! Like a real provider it waits (a configurable latency per call) and is idempotent by
//! request id: a verdict once given is given again for the same id without being billed
//! again; an unavailable answer is not a verdict, so the retry with the same id is answered.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use certdesk_domain::ident::CnIdNumber;
use uuid::Uuid;

use super::{BoxFuture, FaceCheck, ProviderError, RealNameProvider, ThreeElement, Verdict};

/// The sandbox provider.
#[derive(Debug, Default)]
pub struct SandboxRealName {
    latency: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Verdicts given, by request id.
    answered: HashMap<Uuid, Verdict>,
    /// Request ids that already had their one blip (sequence code 996).
    blipped: HashSet<Uuid>,
    calls: u64,
    billed: u64,
}

/// What the sandbox has seen (for tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SandboxStats {
    /// Calls received, retries included.
    pub calls: u64,
    /// Distinct request ids that got a verdict (what a real provider bills).
    pub billed: u64,
}

impl SandboxRealName {
    /// A sandbox that takes `latency` to answer each call.
    #[must_use]
    pub fn new(latency: Duration) -> Self {
        SandboxRealName {
            latency,
            state: Mutex::new(State::default()),
        }
    }

    /// Calls and billed requests so far.
    #[must_use]
    pub fn stats(&self) -> SandboxStats {
        let s = self.lock();
        SandboxStats {
            calls: s.calls,
            billed: s.billed,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain counters behind: still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn answer(
        &self,
        request_id: Uuid,
        id_number: &CnIdNumber,
        decide: impl FnOnce(&str) -> Verdict,
    ) -> Result<Verdict, ProviderError> {
        if !self.latency.is_zero() {
            actix_web::rt::time::sleep(self.latency).await;
        }
        let seq = id_number.as_str().get(14..17).unwrap_or_default();
        let mut s = self.lock();
        s.calls += 1;
        if let Some(v) = s.answered.get(&request_id) {
            return Ok(*v);
        }
        match seq {
            "997" => {
                return Err(ProviderError::Unavailable(
                    "sandbox: upstream 503 (sequence code 997)".into(),
                ));
            }
            "996" if s.blipped.insert(request_id) => {
                return Err(ProviderError::Unavailable(
                    "sandbox: upstream timeout (sequence code 996, first call)".into(),
                ));
            }
            _ => {}
        }
        let verdict = decide(seq);
        s.answered.insert(request_id, verdict);
        s.billed += 1;
        Ok(verdict)
    }
}

impl RealNameProvider for SandboxRealName {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn three_element_check<'a>(
        &'a self,
        input: ThreeElement<'a>,
    ) -> BoxFuture<'a, Result<Verdict, ProviderError>> {
        Box::pin(
            self.answer(input.request_id, input.id_number, |seq| match seq {
                "999" => Verdict::NameIdMismatch,
                "998" => Verdict::PhoneMismatch,
                _ => Verdict::Match,
            }),
        )
    }

    fn face_check<'a>(
        &'a self,
        input: FaceCheck<'a>,
    ) -> BoxFuture<'a, Result<Verdict, ProviderError>> {
        Box::pin(
            self.answer(input.request_id, input.id_number, |seq| match seq {
                "995" => Verdict::FaceMismatch,
                _ => Verdict::Match,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use super::*;
    use certdesk_domain::ident::{Phone, id_check_char};

    fn id(seq: &str) -> CnIdNumber {
        let first17 = format!("35010219851120{seq}");
        let check = id_check_char(&first17).unwrap();
        CnIdNumber::parse(&format!("{first17}{check}")).unwrap()
    }

    async fn three(
        s: &SandboxRealName,
        seq: &str,
        request_id: Uuid,
    ) -> Result<Verdict, ProviderError> {
        let phone = Phone::parse("13900001111").unwrap();
        let id = id(seq);
        s.three_element_check(ThreeElement {
            name: "李四",
            id_number: &id,
            phone: &phone,
            request_id,
        })
        .await
    }

    async fn face(
        s: &SandboxRealName,
        seq: &str,
        request_id: Uuid,
    ) -> Result<Verdict, ProviderError> {
        let id = id(seq);
        s.face_check(FaceCheck {
            name: "李四",
            id_number: &id,
            image: b"\xff\xd8\xff",
            request_id,
        })
        .await
    }

    #[actix_web::test]
    async fn each_sequence_code_gives_its_answer() {
        let s = SandboxRealName::new(Duration::ZERO);
        assert_eq!(three(&s, "123", Uuid::now_v7()).await, Ok(Verdict::Match));
        assert_eq!(
            three(&s, "999", Uuid::now_v7()).await,
            Ok(Verdict::NameIdMismatch)
        );
        assert_eq!(
            three(&s, "998", Uuid::now_v7()).await,
            Ok(Verdict::PhoneMismatch)
        );
        assert!(matches!(
            three(&s, "997", Uuid::now_v7()).await,
            Err(ProviderError::Unavailable(_))
        ));
        assert_eq!(three(&s, "995", Uuid::now_v7()).await, Ok(Verdict::Match));
        assert_eq!(
            face(&s, "995", Uuid::now_v7()).await,
            Ok(Verdict::FaceMismatch)
        );
        assert_eq!(face(&s, "123", Uuid::now_v7()).await, Ok(Verdict::Match));
        assert!(face(&s, "997", Uuid::now_v7()).await.is_err());
    }

    #[actix_web::test]
    async fn an_outage_stays_down_and_bills_nothing() {
        let s = SandboxRealName::new(Duration::ZERO);
        let rid = Uuid::now_v7();
        for _ in 0..5 {
            assert!(three(&s, "997", rid).await.is_err());
        }
        assert_eq!(
            s.stats(),
            SandboxStats {
                calls: 5,
                billed: 0
            }
        );
    }

    #[actix_web::test]
    async fn a_blip_fails_once_per_request_id() {
        let s = SandboxRealName::new(Duration::ZERO);
        let rid = Uuid::now_v7();
        assert!(three(&s, "996", rid).await.is_err());
        assert_eq!(three(&s, "996", rid).await, Ok(Verdict::Match));
        // A new request id blips again.
        assert!(three(&s, "996", Uuid::now_v7()).await.is_err());
    }

    #[actix_web::test]
    async fn the_same_request_id_is_answered_alike_and_billed_once() {
        let s = SandboxRealName::new(Duration::ZERO);
        let rid = Uuid::now_v7();
        assert_eq!(three(&s, "999", rid).await, Ok(Verdict::NameIdMismatch));
        assert_eq!(three(&s, "999", rid).await, Ok(Verdict::NameIdMismatch));
        assert_eq!(three(&s, "123", Uuid::now_v7()).await, Ok(Verdict::Match));
        assert_eq!(
            s.stats(),
            SandboxStats {
                calls: 3,
                billed: 2
            }
        );
    }

    #[actix_web::test]
    async fn each_call_takes_the_latency() {
        let s = SandboxRealName::new(Duration::from_millis(30));
        let started = std::time::Instant::now();
        assert_eq!(three(&s, "123", Uuid::now_v7()).await, Ok(Verdict::Match));
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
