//! When a failed delivery is tried again: a fixed schedule of eleven attempts over about
//! three days (the first retry within ten seconds), each delay spread by ±10 % so that
//! receivers coming back from an outage are not hit by every message at once, and never
//! sooner than a receiver's `Retry-After` asks.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;

/// The wait after each failed attempt (after the first, the second, …); after the last
/// entry the message has failed for good. Sum: 71 h 36 min 5 s.
pub const RETRY_DELAYS: &[Duration] = &[
    Duration::seconds(5),
    Duration::minutes(1),
    Duration::minutes(5),
    Duration::minutes(30),
    Duration::hours(2),
    Duration::hours(5),
    Duration::hours(10),
    Duration::hours(14),
    Duration::hours(20),
    Duration::hours(20),
];

/// The longest `Retry-After` honoured: a receiver cannot park a message for longer.
pub const RETRY_AFTER_MAX: Duration = Duration::hours(24);

/// When to try again after failed attempt number `attempts` (1-based), or `None` when
/// the schedule is exhausted.
pub fn next_attempt(
    attempts: i32,
    now: DateTime<Utc>,
    retry_after: Option<Duration>,
) -> Option<DateTime<Utc>> {
    let delay = *RETRY_DELAYS.get(usize::try_from(attempts).ok()?.checked_sub(1)?)?;
    let spread = delay.num_milliseconds() / 10;
    let jittered = delay + Duration::milliseconds(rand::thread_rng().gen_range(-spread..=spread));
    let asked = retry_after.map_or(Duration::zero(), |a| a.min(RETRY_AFTER_MAX));
    Some(now + jittered.max(asked))
}

/// A `Retry-After` value: delay-seconds or an HTTP-date, as a wait from `now`.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<i64>() {
        return (seconds >= 0).then(|| Duration::seconds(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).max(Duration::zero()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_spans_about_three_days_and_starts_within_ten_seconds() {
        let total: Duration = RETRY_DELAYS.iter().copied().sum();
        assert!(total > Duration::hours(66) && total < Duration::hours(78));
        let now = Utc::now();
        for _ in 0..100 {
            let first = next_attempt(1, now, None).unwrap() - now;
            assert!(first >= Duration::milliseconds(4500) && first <= Duration::seconds(10));
        }
        assert!(next_attempt(10, now, None).is_some());
        assert_eq!(next_attempt(11, now, None), None);
        assert_eq!(next_attempt(0, now, None), None);
    }

    #[test]
    fn retry_after_is_honoured_up_to_a_day() {
        let now = Utc::now();
        let asked = next_attempt(1, now, Some(Duration::minutes(10))).unwrap() - now;
        assert_eq!(asked, Duration::minutes(10));
        let capped = next_attempt(1, now, Some(Duration::days(9))).unwrap() - now;
        assert_eq!(capped, RETRY_AFTER_MAX);
        assert_eq!(parse_retry_after("120", now), Some(Duration::seconds(120)));
        assert_eq!(parse_retry_after("-1", now), None);
        let date = (now + Duration::hours(1))
            .to_rfc2822()
            .replace("+0000", "GMT");
        let waited = parse_retry_after(&date, now).unwrap();
        assert!(waited > Duration::minutes(59) && waited <= Duration::hours(1));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
