//! When a delivery is tried again: the pure policy that turns an attempt's outcome into a
//! [`Decision`] (delivered, try again at a time, failed, or the receiver is gone).
//!
//! A failed attempt waits for the next step of the schedule (30 s, 2 min, 15 min, 1 h, 4 h by
//! default), give or take the jitter; after the last step's attempt fails, the delivery has
//! failed. A `429` or `503` that asks for more time with `Retry-After` waits at least that long,
//! though never longer than the schedule's longest step. A `410` means the receiver is gone.

use std::time::Duration;

use hookflow_store::{Attempt, clock};
use rand::Rng;

/// The waits between attempts by default.
pub const DEFAULT_SCHEDULE: [Duration; 5] = [
    Duration::from_secs(30),
    Duration::from_secs(2 * 60),
    Duration::from_secs(15 * 60),
    Duration::from_secs(60 * 60),
    Duration::from_secs(4 * 60 * 60),
];

/// How far a wait strays from its step by default: ±20 %.
pub const DEFAULT_JITTER: f64 = 0.2;

/// The waits between attempts, and how far each may stray.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// The wait after each failed attempt: the first after attempt 1, and so on. The attempt
    /// after the last step is the last one.
    pub schedule: Vec<Duration>,
    /// The fraction each wait strays from its step, up or down, at random (0 to 1).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { schedule: DEFAULT_SCHEDULE.to_vec(), jitter: DEFAULT_JITTER }
    }
}

/// What an attempt came to, as the policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered 2xx.
    Delivered,
    /// The receiver answered `410 Gone`.
    Gone,
    /// The receiver answered `429` or `503`, asking to wait this long, if it said.
    Throttled(Option<Duration>),
    /// The receiver answered with another status.
    Rejected(u16),
    /// No answer: the address was refused, the connection failed or timed out.
    NoAnswer,
}

impl Outcome {
    /// The outcome of `attempt`; a `Retry-After` given as an HTTP date counts from `now_ms`.
    pub fn of(attempt: &Attempt, now_ms: i64) -> Outcome {
        match attempt.status {
            None => Outcome::NoAnswer,
            Some(200..=299) => Outcome::Delivered,
            Some(410) => Outcome::Gone,
            Some(429 | 503) => Outcome::Throttled(
                header(attempt, "retry-after").and_then(|value| retry_after(value, now_ms)),
            ),
            Some(status) => Outcome::Rejected(status),
        }
    }
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// It was delivered.
    Succeeded,
    /// Try again at this time (milliseconds since the Unix epoch).
    RetryAt(i64),
    /// Its last attempt failed.
    Failed,
    /// The receiver answered `410 Gone`: the delivery fails and its subscription is switched off.
    Gone,
}

impl RetryPolicy {
    /// The decision after attempt number `attempt` (from 1, see [`attempt_number`]) came to
    /// `outcome` at `now_ms`; `rng` draws the jitter.
    pub fn decide(
        &self,
        attempt: u32,
        outcome: Outcome,
        now_ms: i64,
        rng: &mut impl Rng,
    ) -> Decision {
        let asked = match outcome {
            Outcome::Delivered => return Decision::Succeeded,
            Outcome::Gone => return Decision::Gone,
            Outcome::Throttled(asked) => asked,
            Outcome::Rejected(_) | Outcome::NoAnswer => None,
        };
        let step = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        let Some(&step) = self.schedule.get(step) else {
            return Decision::Failed;
        };
        let wait_ms = self.jittered_ms(step, rng).max(asked.map_or(0, |a| self.capped_ms(a)));
        Decision::RetryAt(now_ms.saturating_add(wait_ms))
    }

    /// `step` in milliseconds, strayed by up to the jitter either way.
    fn jittered_ms(&self, step: Duration, rng: &mut impl Rng) -> i64 {
        let jitter = if self.jitter.is_finite() { self.jitter.clamp(0.0, 1.0) } else { 0.0 };
        let factor = 1.0 + rng.random_range(-jitter..=jitter);
        // A float cast saturates: a wait beyond `i64::MAX` ms is `i64::MAX`.
        (millis(step) as f64 * factor).round() as i64
    }

    /// `asked` in milliseconds, cut to the schedule's longest step.
    fn capped_ms(&self, asked: Duration) -> i64 {
        millis(asked.min(self.schedule.iter().copied().max().unwrap_or(Duration::ZERO)))
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The number that the next attempt at a delivery has in its schedule, given the attempts made
/// so far (`previous`, oldest first) and how many steps the schedule has.
///
/// Attempts come in runs: a run ends with an attempt that was delivered, or answered `410`, or
/// was the run's last (after every step). An attempt after a run ended (sent by hand, say to
/// retry a failed delivery) starts a new run as number 1, so that if it fails the delivery
/// follows the schedule again from its first step.
pub fn attempt_number(previous: &[Attempt], steps: usize) -> u32 {
    let steps = u32::try_from(steps).unwrap_or(u32::MAX);
    let run = previous.iter().fold(0u32, |run, attempt| {
        let run = run.saturating_add(1);
        let ended = matches!(attempt.status, Some(200..=299 | 410)) || run > steps;
        if ended { 0 } else { run }
    });
    run.saturating_add(1)
}

/// The first value of the response header `name` (lowercase) that `attempt` recorded.
fn header<'a>(attempt: &'a Attempt, name: &str) -> Option<&'a str> {
    attempt
        .response_headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// The wait a `Retry-After` value asks for: whole seconds, or an HTTP date (a date already past
/// asks for no wait). `None` when it is neither.
fn retry_after(value: &str, now_ms: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(clock::time(now_ms)).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use rand::{RngCore, SeedableRng};

    use super::*;

    fn http_date(t: SystemTime) -> String {
        httpdate::fmt_http_date(t)
    }

    /// An RNG that always draws the same word: 0 is the lowest jitter, `u64::MAX` the highest.
    struct Fixed(u64);

    impl RngCore for Fixed {
        fn next_u32(&mut self) -> u32 {
            self.0 as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            dst.fill(self.0 as u8);
        }
    }

    const NOW: i64 = 1_700_000_000_000;

    fn policy() -> RetryPolicy {
        RetryPolicy { schedule: vec![secs(10), secs(100)], jitter: 0.2 }
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn at(wait: Duration) -> Decision {
        Decision::RetryAt(NOW + i64::try_from(wait.as_millis()).unwrap())
    }

    fn answered(status: u16, headers: &[(&str, &str)]) -> Attempt {
        Attempt {
            at_ms: NOW,
            status: Some(status),
            error: None,
            duration_ms: 5,
            response_headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            response_body: Vec::new(),
            response_body_truncated: false,
        }
    }

    fn no_answer() -> Attempt {
        Attempt { status: None, error: Some("connection refused".into()), ..answered(0, &[]) }
    }

    #[test]
    fn a_2xx_succeeds_and_a_410_is_gone_whatever_the_attempt() {
        let p = policy();
        for attempt in [1, 3, 99] {
            assert_eq!(
                p.decide(attempt, Outcome::Delivered, NOW, &mut Fixed(0)),
                Decision::Succeeded
            );
            assert_eq!(p.decide(attempt, Outcome::Gone, NOW, &mut Fixed(0)), Decision::Gone);
        }
    }

    #[test]
    fn a_failure_waits_for_its_step_then_the_last_attempt_fails() {
        let p = RetryPolicy { jitter: 0.0, ..policy() };
        for outcome in [Outcome::Rejected(500), Outcome::NoAnswer, Outcome::Throttled(None)] {
            assert_eq!(p.decide(1, outcome, NOW, &mut Fixed(0)), at(secs(10)), "{outcome:?}");
            assert_eq!(p.decide(2, outcome, NOW, &mut Fixed(0)), at(secs(100)), "{outcome:?}");
            assert_eq!(p.decide(3, outcome, NOW, &mut Fixed(0)), Decision::Failed, "{outcome:?}");
        }
        let none = RetryPolicy { schedule: Vec::new(), jitter: 0.2 };
        assert_eq!(none.decide(1, Outcome::NoAnswer, NOW, &mut Fixed(0)), Decision::Failed);
    }

    #[test]
    fn jitter_strays_up_to_its_fraction_either_way() {
        let p = policy();
        assert_eq!(p.decide(1, Outcome::NoAnswer, NOW, &mut Fixed(0)), at(secs(8)));
        assert_eq!(p.decide(1, Outcome::NoAnswer, NOW, &mut Fixed(u64::MAX)), at(secs(12)));
        let mut seeded = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..100 {
            let Decision::RetryAt(t) = p.decide(2, Outcome::NoAnswer, NOW, &mut seeded) else {
                panic!("not retried");
            };
            assert!((NOW + 80_000..=NOW + 120_000).contains(&t), "{}", t - NOW);
        }
    }

    #[test]
    fn retry_after_waits_at_least_that_long_up_to_the_longest_step() {
        let p = policy();
        let throttled = |s| Outcome::Throttled(Some(secs(s)));
        assert_eq!(p.decide(1, throttled(50), NOW, &mut Fixed(0)), at(secs(50)));
        assert_eq!(
            p.decide(1, throttled(1), NOW, &mut Fixed(0)),
            at(secs(8)),
            "the step is longer"
        );
        assert_eq!(p.decide(1, throttled(9999), NOW, &mut Fixed(0)), at(secs(100)), "capped");
        assert_eq!(p.decide(3, throttled(1), NOW, &mut Fixed(0)), Decision::Failed);
    }

    #[test]
    fn outcomes_are_read_from_attempts() {
        assert_eq!(Outcome::of(&answered(204, &[]), NOW), Outcome::Delivered);
        assert_eq!(Outcome::of(&answered(410, &[]), NOW), Outcome::Gone);
        assert_eq!(
            Outcome::of(&answered(500, &[("retry-after", "5")]), NOW),
            Outcome::Rejected(500)
        );
        assert_eq!(Outcome::of(&answered(301, &[]), NOW), Outcome::Rejected(301));
        assert_eq!(Outcome::of(&no_answer(), NOW), Outcome::NoAnswer);
        assert_eq!(
            Outcome::of(&answered(429, &[("Retry-After", " 7 ")]), NOW),
            Outcome::Throttled(Some(secs(7)))
        );
        let in_a_minute = http_date(clock::time(NOW) + secs(60));
        assert_eq!(
            Outcome::of(&answered(503, &[("retry-after", &in_a_minute)]), NOW),
            Outcome::Throttled(Some(secs(60)))
        );
        let past = http_date(clock::time(NOW) - secs(60));
        assert_eq!(
            Outcome::of(&answered(503, &[("retry-after", &past)]), NOW),
            Outcome::Throttled(Some(Duration::ZERO))
        );
        assert_eq!(
            Outcome::of(&answered(429, &[("retry-after", "soon")]), NOW),
            Outcome::Throttled(None)
        );
    }

    #[test]
    fn attempts_are_numbered_within_their_run() {
        let fail = answered(500, &[]);
        assert_eq!(attempt_number(&[], 2), 1);
        assert_eq!(attempt_number(std::slice::from_ref(&fail), 2), 2);
        assert_eq!(attempt_number(&[no_answer(), fail.clone()], 2), 3);
        // Three attempts exhaust two steps: the next one starts a new run.
        let exhausted = vec![fail.clone(), fail.clone(), fail.clone()];
        assert_eq!(attempt_number(&exhausted, 2), 1);
        assert_eq!(attempt_number(&[exhausted.clone(), vec![fail.clone()]].concat(), 2), 2);
        assert_eq!(attempt_number(&[fail.clone(), answered(410, &[])], 2), 1);
        assert_eq!(attempt_number(&[fail, answered(200, &[])], 2), 1);
    }
}
