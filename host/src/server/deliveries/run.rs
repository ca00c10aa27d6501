//! One attempt at one journaled delivery: the plugin's call (or calls, one
//! per Worksection event), and whether a failure is worth retrying.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::bindings::hookhost::plugin::types::PluginError;
use crate::bindings::http_hook::hookhost::plugin::http_types::Request as HookRequest;
use crate::journal::Delivery;
use crate::logtext::{MAX_LOGGED, sanitize};
use crate::plugins::{LoadedPlugin, Lookup, Registry};
use crate::protocol::{http_hook, worksection};
use crate::runtime::{Prepared, Runtime};

/// The `kind` of a journaled Worksection delivery: the payload is its body.
pub const WORKSECTION: &str = "worksection";
/// The `kind` of a journaled generic hook request: the payload is its
/// body, the meta its [`HookMeta`].
pub const HTTP_HOOK: &str = "http-hook";

/// What is kept of a generic hook request besides its body: enough to ask
/// the plugin again, nothing that proves who sent it.
#[derive(Debug, Serialize, Deserialize)]
pub struct HookMeta {
    pub method: String,
    /// Path and query, as received.
    pub uri: String,
    /// Without the header that carries the plugin's credential.
    pub headers: Vec<(String, String)>,
}

impl HookMeta {
    pub fn new(
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        hidden: Option<&HeaderName>,
    ) -> Self {
        let headers = headers
            .iter()
            .filter(|(name, _)| Some(*name) != hidden)
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        HookMeta {
            method: method.as_str().to_owned(),
            uri: uri.to_string(),
            headers,
        }
    }
}

/// Why an attempt failed.
#[derive(Debug)]
pub struct Failure {
    pub error: String,
    /// Retrying cannot help (`rejected`, or a payload the plugin can never
    /// take): the delivery goes dead at once.
    pub last: bool,
    /// Events handled before the failure; the retry starts after them.
    pub progress: u32,
}

impl Failure {
    fn retry(error: impl Into<String>, progress: u32) -> Failure {
        Failure {
            error: error.into(),
            last: false,
            progress,
        }
    }

    fn last(error: impl Into<String>, progress: u32) -> Failure {
        Failure {
            error: error.into(),
            last: true,
            progress,
        }
    }
}

pub async fn attempt(
    runtime: &Runtime,
    registry: &Registry,
    plugin: &LoadedPlugin,
    delivery: &Delivery,
) -> Result<(), Failure> {
    // Nobody waits on a journaled delivery: it waits for its plugin's turn
    // rather than being refused as busy.
    let sandbox = plugin.sandbox.background();
    match (delivery.kind.as_str(), &plugin.prepared) {
        (WORKSECTION, Prepared::Worksection(pre)) => {
            let parsed = worksection::parse_delivery(&delivery.payload)
                .map_err(|e| Failure::last(format!("journaled body no longer parses: {e}"), 0))?;
            for (n, event) in parsed
                .events
                .iter()
                .enumerate()
                .skip(delivery.progress as usize)
            {
                let what = worksection::summary(event);
                let failed = match runtime.call_worksection(pre, &sandbox, event).await {
                    Ok(Ok(())) => {
                        tracing::info!(plugin = %plugin.name, event = %what, "event handled");
                        continue;
                    }
                    Ok(Err(e)) => {
                        let last = matches!(e, PluginError::Rejected(_));
                        (format!("plugin returned an error: {e:?}"), last)
                    }
                    Err(e) => (e.to_string(), false),
                };
                tracing::error!(
                    plugin = %plugin.name,
                    event = %what,
                    raw = %sanitize(&event.raw_json, MAX_LOGGED),
                    "event not handled: {}",
                    sanitize(&failed.0, MAX_LOGGED)
                );
                // A refused event is refused for good; the ones after it
                // still deserve their plugin.
                if !failed.1 {
                    return Err(Failure::retry(failed.0, n as u32));
                }
            }
            Ok(())
        }
        (HTTP_HOOK, Prepared::HttpHook(pre)) => {
            let request = hook_request(registry, plugin, delivery)?;
            match runtime.call_hook(pre, &sandbox, &request).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e @ PluginError::Rejected(_))) => Err(Failure::last(format!("{e:?}"), 0)),
                Ok(Err(e)) => Err(Failure::retry(format!("{e:?}"), 0)),
                Err(e) => Err(Failure::retry(e.to_string(), 0)),
            }
        }
        (kind, prepared) => Err(Failure::last(
            format!(
                "a {kind} delivery cannot go to a {} plugin",
                prepared.kind()
            ),
            0,
        )),
    }
}

/// The hook request as the plugin would have got it when it came in, its
/// rule looked up again in today's table.
fn hook_request(
    registry: &Registry,
    plugin: &LoadedPlugin,
    delivery: &Delivery,
) -> Result<HookRequest, Failure> {
    let meta: HookMeta = serde_json::from_str(&delivery.meta)
        .map_err(|e| Failure::last(format!("journaled request is unreadable: {e}"), 0))?;
    let method = Method::from_bytes(meta.method.as_bytes())
        .map_err(|_| Failure::last("journaled request has a bad method", 0))?;
    let uri: Uri = meta
        .uri
        .parse()
        .map_err(|_| Failure::last("journaled request has a bad URI", 0))?;
    let mut headers = HeaderMap::new();
    for (name, value) in &meta.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    let (route, params) = match registry.hooks().lookup(uri.path(), method.as_str()) {
        Lookup::Found {
            plugin: found,
            route,
            params,
        } if found.name == plugin.name => (route, params),
        // A reload may bring the rule back; until the attempts run out.
        _ => {
            return Err(Failure::retry(
                format!("no rule of {} takes {method} {}", plugin.name, uri.path()),
                0,
            ));
        }
    };
    let hidden = plugin.verifier.credential_header();
    let body = Bytes::copy_from_slice(&delivery.payload);
    http_hook::request(route, params, &method, &uri, &headers, hidden, body)
        .map_err(|e| Failure::last(format!("journaled request: {e}"), 0))
}
