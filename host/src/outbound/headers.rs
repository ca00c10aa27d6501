//! Request headers a plugin may not set: hop-by-hop headers describe one
//! connection, which is the host's, and `Host` comes from the URL the
//! allow-list checked, so a guest cannot name one origin and address
//! another.

use axum::http::HeaderName;

/// Exact names; `proxy-*` is matched as a prefix besides.
const FORBIDDEN: [&str; 8] = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    // HTTP/2's upgrade handshake; wasmtime-wasi-http forbids it too.
    "http2-settings",
];

/// A superset of wasmtime-wasi-http 48's `DEFAULT_FORBIDDEN_HEADERS`.
pub fn is_forbidden_header(name: &HeaderName) -> bool {
    // `HeaderName` is always lower case.
    let name = name.as_str();
    FORBIDDEN.contains(&name) || name.starts_with("proxy-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(name: &str) -> bool {
        is_forbidden_header(&HeaderName::from_bytes(name.as_bytes()).unwrap())
    }

    #[test]
    fn hop_by_hop_and_host_are_forbidden() {
        for name in [
            "Connection",
            "keep-alive",
            "Proxy-Authorization",
            "proxy-authenticate",
            "proxy-connection",
            "proxy-anything",
            "TE",
            "trailer",
            "Transfer-Encoding",
            "upgrade",
            "Host",
            "http2-settings",
        ] {
            assert!(forbidden(name), "{name}");
        }
    }

    #[test]
    fn end_to_end_headers_are_allowed() {
        for name in [
            "authorization",
            "content-type",
            "content-length",
            "accept",
            "user-agent",
            "x-request-id",
            "cookie",
            "trailers",
            "proxy",
            "x-proxy-id",
            "hostname",
            "tenant",
        ] {
            assert!(!forbidden(name), "{name}");
        }
    }

    /// wasmtime-wasi-http 48.0.8, src/lib.rs `DEFAULT_FORBIDDEN_HEADERS`.
    #[test]
    fn covers_wasmtime_defaults() {
        for name in [
            "connection",
            "keep-alive",
            "proxy-authenticate",
            "proxy-authorization",
            "proxy-connection",
            "transfer-encoding",
            "upgrade",
            "host",
            "http2-settings",
        ] {
            assert!(forbidden(name), "{name}");
        }
    }
}
