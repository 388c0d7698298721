//! How long a failed job waits before its next attempt: exponential, capped, with equal
//! jitter (half the delay fixed, half random), so that jobs failing together (a receiver
//! down) do not all come back at the same instant, yet each waits at least half its delay.

use std::time::Duration;

/// The wait before retry number `retry` (1 for the first retry): about `base` x 2^(retry-1),
/// at most `max`; between half of that and all of it.
pub fn delay(retry: u32, base: Duration, max: Duration) -> Duration {
    let full = ceiling(retry, base, max);
    let half = full / 2;
    let spread = u64::try_from((full - half).as_micros()).unwrap_or(u64::MAX);
    half + Duration::from_micros(fastrand::u64(0..=spread))
}

/// base x 2^(retry-1), at most `max`.
fn ceiling(retry: u32, base: Duration, max: Duration) -> Duration {
    let doublings = retry.saturating_sub(1).min(31);
    base.checked_mul(1 << doublings).map_or(max, |d| d.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(1);

    #[test]
    fn doubles_until_the_cap() {
        let ceilings: Vec<_> = (1..=6).map(|n| ceiling(n, BASE, MAX).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(ceiling(u32::MAX, BASE, MAX), MAX);
    }

    #[test]
    fn waits_between_half_and_all_of_the_ceiling() {
        for retry in 1..=8 {
            let full = ceiling(retry, BASE, MAX);
            for _ in 0..100 {
                let wait = delay(retry, BASE, MAX);
                assert!(wait >= full / 2 && wait <= full, "{retry}: {wait:?}");
            }
        }
    }
}
