//! `wasi:http/outgoing-handler` for plugins: every request a guest sends
//! goes through [`CallHooks::send_request`], which counts it, checks its
//! origin against the plugin's allow-list and hands it to our own sender
//! ([`send`]), which resolves the name itself so the SSRF guard sees every
//! address before a socket is opened. The policy is in `crate::outbound`;
//! this is the plumbing.

mod body;
mod origin;
mod pool;
mod send;
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::sync::Semaphore;
use tracing::Instrument;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{Error, ForbiddenHeaderFilter, RequestOptions, WasiBody, WasiHttpHooks};

use super::fair::LaneSlot;
use crate::metrics;
use crate::outbound::{AllowList, OutboundLimits, is_forbidden_header, suggest_entry};
use origin::Origin;
use send::{Outgoing, Sent};

/// What one plugin may do over HTTP. One per loaded plugin version, shared
/// by all its calls behind an `Arc`.
#[derive(Debug)]
pub struct OutboundPolicy {
    allow: AllowList,
    limits: OutboundLimits,
    /// Connections open at once across the plugin's calls; a permit lives
    /// as long as its connection.
    connections: Arc<Semaphore>,
    /// Its connections kept open between requests.
    pool: Arc<pool::Pool>,
}

impl OutboundPolicy {
    pub fn new(allow: AllowList, limits: OutboundLimits) -> Self {
        OutboundPolicy {
            connections: Arc::new(Semaphore::new(limits.max_connections as usize)),
            pool: Arc::default(),
            allow,
            limits,
        }
    }

    /// No origin allowed: a plugin without `allowed_outbound_hosts`.
    pub fn deny_all() -> Self {
        OutboundPolicy::new(AllowList::default(), OutboundLimits::default())
    }

    pub fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    pub fn limits(&self) -> &OutboundLimits {
        &self.limits
    }
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        OutboundPolicy::deny_all()
    }
}

/// The `WasiHttpHooks` of one call: lives in the call's `HostState`.
pub struct CallHooks {
    plugin: Arc<str>,
    policy: Arc<OutboundPolicy>,
    /// The call's own deadline; no outbound wait goes past it.
    deadline: Instant,
    sent: u32,
    over_limit_logged: bool,
    /// What the call's requests ran into, seen by the sender's tasks too.
    /// Made on the first request, so a call that sends none allocates
    /// nothing for it.
    flags: Option<Arc<CallFlags>>,
    /// A request of this call was refused before it left (not allowed, or
    /// over the count).
    denied: bool,
    /// The call's lane, given up while the guest waits on the network.
    lane: LaneSlot,
}

impl CallHooks {
    pub fn new(
        plugin: Arc<str>,
        policy: Arc<OutboundPolicy>,
        deadline: Instant,
        lane: LaneSlot,
    ) -> Self {
        CallHooks {
            plugin,
            policy,
            deadline,
            lane,
            sent: 0,
            over_limit_logged: false,
            flags: None,
            denied: false,
        }
    }

    /// An outbound wait ended because the call's deadline came: the call
    /// then failed its deadline, whatever the guest made of the error it
    /// got (see `invoke::classify`).
    pub fn deadline_hit(&self) -> bool {
        self.flags
            .as_ref()
            .is_some_and(|flags| flags.deadline_hit.load(Ordering::Relaxed))
    }

    /// A request of this call was denied, by the allow-list, the request
    /// count or the address check: a kept instance is not kept after that.
    pub fn denied(&self) -> bool {
        self.denied
            || self
                .flags
                .as_ref()
                .is_some_and(|flags| flags.denied.load(Ordering::Relaxed))
    }

    /// Counts the request and checks its origin before anything else
    /// happens; a refusal is logged here, inside the request's span.
    fn admit(&mut self, origin: &Origin) -> Result<(), Error> {
        self.sent = self.sent.saturating_add(1);
        let max = self.policy.limits.max_requests;
        if self.sent > max {
            // Once per call: a guest retrying in a loop must not flood the log.
            if !self.over_limit_logged {
                self.over_limit_logged = true;
                tracing::warn!(
                    origin = %origin,
                    "outbound request denied: plugin {} made more than {max} requests in one call (raise [outbound] max_requests in {}.toml if that is meant)",
                    self.plugin,
                    self.plugin,
                );
            }
            self.denied = true;
            return Err(Error::HttpRequestDenied);
        }
        if self
            .policy
            .allow
            .allows(&origin.scheme, &origin.host, origin.port)
        {
            return Ok(());
        }
        let fix = match suggest_entry(&origin.scheme, &origin.host, origin.port) {
            Some(entry) => format!(
                "; to allow it, put this line in {}.toml: {}",
                self.plugin,
                line_with(&self.policy.allow, &entry)
            ),
            None => String::new(),
        };
        tracing::warn!(
            origin = %origin,
            "outbound request denied: plugin {} may not reach {origin} (not in its allowed_outbound_hosts){fix}",
            self.plugin,
        );
        self.denied = true;
        Err(Error::HttpRequestDenied)
    }
}

/// What one call's outbound requests ran into, set where they run.
#[derive(Debug, Default)]
pub(super) struct CallFlags {
    pub deadline_hit: AtomicBool,
    /// Every address of a request's host was refused by the address check.
    pub denied: AtomicBool,
}

/// The `allowed_outbound_hosts` line the sidecar needs for `entry` to be
/// allowed too: the entries it has, then the new one.
fn line_with(allow: &AllowList, entry: &str) -> String {
    let quoted: Vec<String> = allow
        .entries()
        .iter()
        .map(|e| format!("\"{e}\""))
        .chain(std::iter::once(format!("\"{entry}\"")))
        .collect();
    // Entries hold only URL characters, none of which TOML escapes.
    format!("allowed_outbound_hosts = [{}]", quoted.join(", "))
}

type SendFuture = Box<dyn Future<Output = Result<Sent, Error>> + Send>;

impl WasiHttpHooks for CallHooks {
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        Arc::new(is_forbidden_header)
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        let origin = match Origin::of(request.uri()) {
            Ok(origin) => origin,
            Err(e) => return Box::new(std::future::ready(Err(e))),
        };
        // The allow-list entry, not the URL: a metric label must be bounded.
        let entry: Arc<str> = self
            .policy
            .allow
            .matching(&origin.scheme, &origin.host, origin.port)
            .next()
            .map_or_else(|| Arc::from("-"), |entry| Arc::from(entry.to_string()));
        if let Err(e) = self.admit(&origin) {
            metrics::get().outbound(&self.plugin, &entry, "denied");
            return Box::new(std::future::ready(Err(e)));
        }
        self.lane.release();
        let outgoing = Outgoing {
            plugin: self.plugin.clone(),
            policy: self.policy.clone(),
            deadline: self.deadline,
            flags: self.flags.get_or_insert_with(Arc::default).clone(),
            options,
            origin,
        };
        let plugin = self.plugin.clone();
        let sending = async move {
            let sent = send::send(outgoing, request).await;
            let outcome = match &sent {
                Ok(_) => "sent",
                // Every address of the host was refused (SSRF guard).
                Err(Error::DestinationIpProhibited) => "denied",
                Err(_) => "failed",
            };
            metrics::get().outbound(&plugin, &entry, outcome);
            sent
        };
        // wasmtime-wasi-http runs this on a task of its own: carry the
        // request's span (plugin, id) along for the log lines.
        Box::new(sending.instrument(tracing::Span::current()))
    }

    // The defaults log every failure at warn; a remote being down is the
    // plugin's business, logged at debug with the request (see `send`).
    fn p2_error_from_hyper(&mut self, err: &hyper::Error) -> ErrorCode {
        if err.is_timeout() {
            ErrorCode::HttpResponseTimeout
        } else if err.is_incomplete_message() {
            ErrorCode::HttpResponseIncomplete
        } else {
            ErrorCode::HttpProtocolError
        }
    }

    fn p2_error_from_connect(&mut self, err: &std::io::Error) -> ErrorCode {
        use std::io::ErrorKind;
        match err.kind() {
            ErrorKind::ConnectionRefused => ErrorCode::ConnectionRefused,
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => {
                ErrorCode::ConnectionTerminated
            }
            ErrorKind::TimedOut => ErrorCode::ConnectionTimeout,
            ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
                ErrorCode::DestinationUnavailable
            }
            _ => ErrorCode::ConnectionRefused,
        }
    }

    fn p2_error_from_tls(&mut self, err: &std::io::Error) -> ErrorCode {
        tls::error_code(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fix_line_keeps_existing_entries() {
        let empty = AllowList::default();
        assert_eq!(
            line_with(&empty, "http://127.0.0.1:9000"),
            "allowed_outbound_hosts = [\"http://127.0.0.1:9000\"]"
        );
        let some = AllowList::parse(&["https://api.pyrus.com", "https://*.slack.com"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            line_with(&some, "http://localhost:8080"),
            "allowed_outbound_hosts = [\"https://api.pyrus.com\", \"https://*.slack.com\", \"http://localhost:8080\"]"
        );
    }

    #[test]
    fn requests_past_the_limit_and_off_the_list_are_denied() {
        let allow = AllowList::parse(&["http://127.0.0.1:9000"]).unwrap_or_else(|e| panic!("{e}"));
        let limits = OutboundLimits {
            max_requests: 2,
            ..OutboundLimits::default()
        };
        let policy = Arc::new(OutboundPolicy::new(allow, limits));
        let mut hooks = CallHooks::new(Arc::from("p"), policy, Instant::now(), LaneSlot::default());
        let allowed = Origin {
            scheme: "http".into(),
            host: "127.0.0.1".into(),
            port: Some(9000),
        };
        let other = Origin {
            port: Some(9001),
            ..allowed.clone()
        };
        assert!(hooks.admit(&allowed).is_ok());
        assert!(matches!(hooks.admit(&other), Err(Error::HttpRequestDenied)));
        // The denied one counted too: the third is over the limit.
        assert!(matches!(
            hooks.admit(&allowed),
            Err(Error::HttpRequestDenied)
        ));
    }
}
