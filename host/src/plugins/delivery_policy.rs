//! How a plugin's deliveries that are answered before it runs (Worksection,
//! generic hooks with `mode = "async"`) are handled: the sidecar's `mode`,
//! `retry = { attempts, first_s, max_s }` and `concurrency`.

use std::time::Duration;

use serde::Deserialize;

/// Attempts before a delivery goes dead, as Svix makes them.
pub const DEFAULT_ATTEMPTS: u32 = 8;
/// Deliveries of one plugin handled at once.
pub const DEFAULT_CONCURRENCY: u32 = 4;
const MAX_ATTEMPTS: u64 = 100;
const MAX_CONCURRENCY: u64 = 256;

/// The waits before attempts 2 to 8 in seconds: Standard Webhooks' and
/// Svix's schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
const SCHEDULE_S: [u64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub attempts: u32,
    /// The first wait; the schedule keeps its shape, scaled to start here.
    pub first: Duration,
    /// No wait is longer.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: DEFAULT_ATTEMPTS,
            first: Duration::from_secs(SCHEDULE_S[0]),
            max: Duration::from_secs(SCHEDULE_S[6]),
        }
    }
}

impl RetryPolicy {
    /// The longest wait after `failed` failed attempts (1 after the first):
    /// the schedule scaled by `first / 5 s`, capped at `max`, its last step
    /// repeated past its end. The actual wait is drawn below it (full
    /// jitter), so retries from one outage do not arrive together.
    pub fn backoff(&self, failed: u32) -> Duration {
        let step = failed.saturating_sub(1) as usize;
        let base = SCHEDULE_S[step.min(SCHEDULE_S.len() - 1)];
        let scaled = self.first.mul_f64(base as f64 / SCHEDULE_S[0] as f64);
        scaled.min(self.max)
    }
}

/// Whether a generic hook is answered by its plugin or at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// The plugin's answer is the HTTP answer.
    #[default]
    Sync,
    /// `202 Accepted` with a delivery id once the request is journaled;
    /// the plugin runs after, with retries.
    Async,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryPolicy {
    pub mode: Mode,
    pub retry: RetryPolicy,
    pub concurrency: Concurrency,
}

/// Deliveries of one plugin worked on at once (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency(pub u32);

impl Default for Concurrency {
    fn default() -> Self {
        Concurrency(DEFAULT_CONCURRENCY)
    }
}

/// `retry = { attempts = 8, first_s = 5, max_s = 36000 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RetryFile {
    attempts: Option<u64>,
    first_s: Option<u64>,
    max_s: Option<u64>,
}

impl DeliveryPolicy {
    /// From the sidecar's keys; the message names the key that is wrong.
    pub(super) fn parse(
        mode: Option<&str>,
        retry: Option<&RetryFile>,
        concurrency: Option<u64>,
    ) -> Result<DeliveryPolicy, String> {
        let mode = match mode {
            None | Some("sync") => Mode::Sync,
            Some("async") => Mode::Async,
            Some(other) => {
                return Err(format!("mode must be \"sync\" or \"async\", not {other:?}"));
            }
        };
        let base = RetryPolicy::default();
        let retry = match retry {
            None => base,
            Some(file) => {
                let attempts = in_range("retry.attempts", file.attempts, 1, MAX_ATTEMPTS)?;
                let first = in_range("retry.first_s", file.first_s, 1, u64::from(u32::MAX))?;
                let max = in_range("retry.max_s", file.max_s, 1, u64::from(u32::MAX))?;
                RetryPolicy {
                    attempts: attempts.map_or(base.attempts, |n| n as u32),
                    first: first.map_or(base.first, Duration::from_secs),
                    max: max.map_or(base.max, Duration::from_secs),
                }
            }
        };
        if retry.max < retry.first {
            return Err("retry.max_s must not be less than retry.first_s".into());
        }
        let concurrency = in_range("concurrency", concurrency, 1, MAX_CONCURRENCY)?
            .map_or(Concurrency::default(), |n| Concurrency(n as u32));
        Ok(DeliveryPolicy {
            mode,
            retry,
            concurrency,
        })
    }
}

fn in_range(key: &str, value: Option<u64>, min: u64, max: u64) -> Result<Option<u64>, String> {
    match value {
        Some(n) if !(min..=max).contains(&n) => {
            Err(format!("{key} must be between {min} and {max}, not {n}"))
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_is_svix_s() {
        let retry = RetryPolicy::default();
        let waits: Vec<u64> = (1..=8).map(|n| retry.backoff(n).as_secs()).collect();
        assert_eq!(waits, [5, 300, 1800, 7200, 18_000, 36_000, 36_000, 36_000]);
        assert_eq!(retry.attempts, 8);
    }

    #[test]
    fn a_shortened_schedule_keeps_its_shape_under_its_cap() {
        let retry = DeliveryPolicy::parse(
            None,
            Some(&RetryFile {
                attempts: Some(3),
                first_s: Some(1),
                max_s: Some(90),
            }),
            None,
        )
        .unwrap()
        .retry;
        assert_eq!(retry.attempts, 3);
        assert_eq!(retry.backoff(1), Duration::from_secs(1));
        assert_eq!(retry.backoff(2), Duration::from_secs(60));
        assert_eq!(retry.backoff(3), Duration::from_secs(90));
    }

    #[test]
    fn bad_keys_are_named() {
        let retry = |attempts, first_s, max_s| RetryFile {
            attempts,
            first_s,
            max_s,
        };
        let cases = [
            (
                DeliveryPolicy::parse(Some("later"), None, None),
                "mode must be \"sync\" or \"async\", not \"later\"",
            ),
            (
                DeliveryPolicy::parse(None, Some(&retry(Some(0), None, None)), None),
                "retry.attempts must be between 1 and 100, not 0",
            ),
            (
                DeliveryPolicy::parse(None, Some(&retry(None, Some(10), Some(5))), None),
                "retry.max_s must not be less than retry.first_s",
            ),
            (
                DeliveryPolicy::parse(None, None, Some(0)),
                "concurrency must be between 1 and 256, not 0",
            ),
        ];
        for (parsed, message) in cases {
            assert_eq!(parsed.unwrap_err(), message);
        }
        let ok = DeliveryPolicy::parse(Some("async"), None, Some(2)).unwrap();
        assert_eq!((ok.mode, ok.concurrency), (Mode::Async, Concurrency(2)));
    }
}
