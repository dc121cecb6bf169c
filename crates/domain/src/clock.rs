//! The single source of "now" for certdesk.
//!
//! Business rules (deadlines, business hours, certificate validity) must read time through
//! [`Clock`] so tests and demos can move it; only [`SystemClock`] touches the wall clock.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

/// A source of the current instant in UTC.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Returns the current instant.
    fn now(&self) -> DateTime<Utc>;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// The production clock, reading the operating system's wall clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place that reads the wall clock"
    )]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to, for tests, demos and replays.
///
/// It is shared by reference (typically in an `Arc`), so the time lives behind a mutex; a mutex
/// poisoned by a panicking test thread is still read, since a `DateTime` cannot be left half
/// written.
#[derive(Debug)]
pub struct ManualClock {
    at: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// Creates a clock stopped at `at`.
    #[must_use]
    pub fn new(at: DateTime<Utc>) -> Self {
        Self { at: Mutex::new(at) }
    }

    /// Moves the clock to `at`, which may be earlier than the current reading.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.at.lock().unwrap_or_else(PoisonError::into_inner) = at;
    }

    /// Moves the clock by `by`, backwards if `by` is negative.
    ///
    /// Saturates at the bounds chrono can represent instead of panicking; no realistic test
    /// advances by hundreds of thousands of years.
    pub fn advance(&self, by: Duration) {
        let mut at = self.at.lock().unwrap_or_else(PoisonError::into_inner);
        *at = at
            .checked_add_signed(by)
            .unwrap_or(if by < Duration::zero() {
                DateTime::<Utc>::MIN_UTC
            } else {
                DateTime::<Utc>::MAX_UTC
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.at.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 2, 28, 23, 30, 0).unwrap()
    }

    #[test]
    fn manual_clock_stands_still_until_moved() {
        let clock = ManualClock::new(start());
        assert_eq!(clock.now(), start());
        assert_eq!(clock.now(), start());
    }

    #[test]
    fn manual_clock_advances_and_sets() {
        let clock = ManualClock::new(start());
        clock.advance(Duration::hours(1));
        assert_eq!(
            clock.now(),
            Utc.with_ymd_and_hms(2024, 2, 29, 0, 30, 0).unwrap()
        );
        clock.advance(Duration::minutes(-90));
        assert_eq!(
            clock.now(),
            Utc.with_ymd_and_hms(2024, 2, 28, 23, 0, 0).unwrap()
        );
        let later = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        clock.set(later);
        assert_eq!(clock.now(), later);
        clock.set(start());
        assert_eq!(clock.now(), start());
    }

    #[test]
    fn manual_clock_saturates_instead_of_panicking() {
        let clock = ManualClock::new(start());
        clock.advance(Duration::MAX);
        assert_eq!(clock.now(), DateTime::<Utc>::MAX_UTC);
        clock.advance(Duration::MIN);
        clock.advance(Duration::MIN);
        assert_eq!(clock.now(), DateTime::<Utc>::MIN_UTC);
    }

    #[test]
    fn manual_clock_survives_a_poisoned_mutex() {
        let clock = Arc::new(ManualClock::new(start()));
        let poisoner = Arc::clone(&clock);
        let result = std::thread::spawn(move || {
            let _guard = poisoner.at.lock().unwrap();
            panic!("poison the clock's mutex");
        })
        .join();
        assert!(result.is_err());
        assert!(clock.at.is_poisoned());
        assert_eq!(clock.now(), start());
        clock.advance(Duration::seconds(1));
        assert_eq!(clock.now(), start() + Duration::seconds(1));
    }

    #[test]
    fn clocks_work_behind_shared_pointers() {
        fn read(clock: impl Clock) -> DateTime<Utc> {
            clock.now()
        }
        let manual = Arc::new(ManualClock::new(start()));
        let shared: Arc<dyn Clock> = manual.clone();
        manual.advance(Duration::days(1));
        assert_eq!(shared.now(), start() + Duration::days(1));
        assert_eq!(read(&*manual), shared.now());
        assert_eq!(read(Arc::clone(&manual)), shared.now());
        assert_eq!(read(Arc::clone(&shared)), shared.now());
    }

    #[test]
    fn system_clock_is_monotonic_enough() {
        let first = SystemClock.now();
        let second = SystemClock.now();
        assert!(second >= first);
        assert!(first > Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap());
    }
}
