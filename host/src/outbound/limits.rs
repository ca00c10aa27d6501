//! How much outbound traffic one plugin call may make. Every timeout is also
//! cut to what is left of the call's own deadline, so waiting on the network
//! never outlives the request that asked for it.

use std::time::{Duration, Instant};

/// Requests one plugin call may send.
pub const DEFAULT_MAX_REQUESTS: u32 = 16;
/// Beyond this a plugin is crawling, not handling a webhook.
pub const MAX_MAX_REQUESTS: u32 = 1024;

/// TCP plus TLS handshake.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// From the request sent to the response head.
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(10);
/// A ceiling to catch a unit mistake (seconds written as milliseconds); the
/// call's deadline bounds every wait anyway.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// Bytes of one response body the plugin may read.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 8 << 20;
/// A quarter of the largest linear memory a plugin may have
/// (`memory_mb` ≤ 4096): the body has to fit in it beside everything else.
pub const MAX_MAX_RESPONSE_BYTES: u64 = 1 << 30;

/// Connections one plugin may have open at once, across its calls.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;
pub const MAX_MAX_CONNECTIONS: u32 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundLimits {
    pub max_requests: u32,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub max_response_bytes: u64,
    pub max_connections: u32,
}

impl Default for OutboundLimits {
    fn default() -> Self {
        OutboundLimits {
            max_requests: DEFAULT_MAX_REQUESTS,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// A limit out of range; the text names the field and the range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} must be between {min} and {max}, not {got}")]
pub struct LimitError {
    pub name: &'static str,
    pub min: String,
    pub max: String,
    pub got: String,
}

impl OutboundLimits {
    /// Zero is refused everywhere: "no requests" is an empty allow-list,
    /// and a zero timeout or cap would fail every request in a way that
    /// looks like the network's fault.
    pub fn validate(&self) -> Result<(), LimitError> {
        check("max_requests", self.max_requests, 1, MAX_MAX_REQUESTS)?;
        check_timeout("connect_timeout", self.connect_timeout)?;
        check_timeout("first_byte_timeout", self.first_byte_timeout)?;
        check(
            "max_response_bytes",
            self.max_response_bytes,
            1,
            MAX_MAX_RESPONSE_BYTES,
        )?;
        check(
            "max_connections",
            self.max_connections,
            1,
            MAX_MAX_CONNECTIONS,
        )
    }

    /// The connect timeout for one request: the guest's own
    /// `request-options` value if smaller, then cut to the deadline.
    pub fn connect_timeout(&self, requested: Option<Duration>, deadline: Instant) -> Duration {
        bounded(at_most(requested, self.connect_timeout), deadline)
    }

    /// Likewise for the wait on the response head.
    pub fn first_byte_timeout(&self, requested: Option<Duration>, deadline: Instant) -> Duration {
        bounded(at_most(requested, self.first_byte_timeout), deadline)
    }
}

fn at_most(requested: Option<Duration>, limit: Duration) -> Duration {
    requested.map_or(limit, |r| r.min(limit))
}

/// `timeout`, or what is left until `deadline` if that is less (zero once
/// it has passed, so the wait fails at once).
pub fn bounded(timeout: Duration, deadline: Instant) -> Duration {
    timeout.min(deadline.saturating_duration_since(Instant::now()))
}

fn check<T: PartialOrd + ToString>(
    name: &'static str,
    got: T,
    min: T,
    max: T,
) -> Result<(), LimitError> {
    if got < min || got > max {
        return Err(LimitError {
            name,
            min: min.to_string(),
            max: max.to_string(),
            got: got.to_string(),
        });
    }
    Ok(())
}

fn check_timeout(name: &'static str, got: Duration) -> Result<(), LimitError> {
    let min = Duration::from_millis(1);
    if got < min || got > MAX_TIMEOUT {
        return Err(LimitError {
            name,
            min: format!("{min:?}"),
            max: format!("{MAX_TIMEOUT:?}"),
            got: format!("{got:?}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented() {
        let limits = OutboundLimits::default();
        assert_eq!(limits.validate(), Ok(()));
        assert_eq!(limits.max_requests, 16);
        assert_eq!(limits.connect_timeout, Duration::from_secs(10));
        assert_eq!(limits.first_byte_timeout, Duration::from_secs(10));
        assert_eq!(limits.max_response_bytes, 8 * 1024 * 1024);
        assert_eq!(limits.max_connections, 8);
    }

    #[test]
    fn out_of_range_limits_are_named() {
        let base = OutboundLimits::default();
        let cases: [(OutboundLimits, &str); 10] = [
            (
                OutboundLimits {
                    max_requests: 0,
                    ..base
                },
                "max_requests must be between 1 and 1024, not 0",
            ),
            (
                OutboundLimits {
                    max_requests: 1025,
                    ..base
                },
                "max_requests must be between 1 and 1024, not 1025",
            ),
            (
                OutboundLimits {
                    connect_timeout: Duration::ZERO,
                    ..base
                },
                "connect_timeout must be between 1ms and 300s, not 0ns",
            ),
            (
                OutboundLimits {
                    connect_timeout: Duration::from_secs(301),
                    ..base
                },
                "connect_timeout must be between 1ms and 300s, not 301s",
            ),
            (
                OutboundLimits {
                    first_byte_timeout: Duration::from_micros(999),
                    ..base
                },
                "first_byte_timeout must be between 1ms and 300s, not 999µs",
            ),
            (
                OutboundLimits {
                    first_byte_timeout: Duration::from_secs(3000),
                    ..base
                },
                "first_byte_timeout must be between 1ms and 300s, not 3000s",
            ),
            (
                OutboundLimits {
                    max_response_bytes: 0,
                    ..base
                },
                "max_response_bytes must be between 1 and 1073741824, not 0",
            ),
            (
                OutboundLimits {
                    max_response_bytes: (1 << 30) + 1,
                    ..base
                },
                "max_response_bytes must be between 1 and 1073741824, not 1073741825",
            ),
            (
                OutboundLimits {
                    max_connections: 0,
                    ..base
                },
                "max_connections must be between 1 and 256, not 0",
            ),
            (
                OutboundLimits {
                    max_connections: 257,
                    ..base
                },
                "max_connections must be between 1 and 256, not 257",
            ),
        ];
        for (limits, says) in cases {
            assert_eq!(limits.validate().unwrap_err().to_string(), says);
        }
        let edges = OutboundLimits {
            max_requests: 1024,
            connect_timeout: Duration::from_millis(1),
            first_byte_timeout: MAX_TIMEOUT,
            max_response_bytes: 1 << 30,
            max_connections: 1,
        };
        assert_eq!(edges.validate(), Ok(()));
    }

    #[test]
    fn timeouts_never_outlive_the_deadline() {
        let ten = Duration::from_secs(10);
        let far = Instant::now() + Duration::from_secs(3600);
        assert_eq!(bounded(ten, far), ten);

        let near = Instant::now() + Duration::from_secs(2);
        let cut = bounded(ten, near);
        assert!(
            cut <= Duration::from_secs(2) && cut > Duration::from_secs(1),
            "{cut:?}"
        );

        let past = Instant::now()
            .checked_sub(Duration::from_secs(1))
            .unwrap_or_else(Instant::now);
        assert_eq!(bounded(ten, past), Duration::ZERO);
        assert_eq!(bounded(Duration::ZERO, far), Duration::ZERO);
    }

    #[test]
    fn guest_options_only_shorten() {
        let limits = OutboundLimits::default();
        let far = Instant::now() + Duration::from_secs(3600);
        let one = Duration::from_secs(1);
        assert_eq!(limits.connect_timeout(None, far), limits.connect_timeout);
        assert_eq!(limits.connect_timeout(Some(one), far), one);
        assert_eq!(
            limits.connect_timeout(Some(Duration::from_secs(600)), far),
            limits.connect_timeout
        );
        assert_eq!(limits.first_byte_timeout(Some(one), far), one);
        let near = Instant::now() + Duration::from_millis(500);
        assert!(limits.first_byte_timeout(None, near) <= Duration::from_millis(500));
    }
}
