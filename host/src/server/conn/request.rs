//! One request off the wire, into the router: counted as the connection's
//! work while it is handled, and refused when its HTTP/1 framing breaks a
//! rule the router never sees.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{Request, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use tower::ServiceExt;

use super::watchdog::Activity;
use crate::server::ApiError;

pub async fn handle(
    req: Request<Incoming>,
    app: Router,
    activity: Arc<Activity>,
    peer: SocketAddr,
) -> Result<Response, Infallible> {
    let _busy = activity.begin();
    if let Err(refused) = check_host(&req) {
        tracing::warn!(%peer, method = %req.method(), path = %req.uri().path(), "refused: {}", refused.reason);
        return Ok(refused.into_response());
    }
    app.oneshot(req).await
}

/// RFC 9112 §3.2: an HTTP/1.1 request without `Host`, or any HTTP/1
/// request with more than one or with one that is not a host, is `400`.
/// (HTTP/2 carries the authority in the request line.)
fn check_host<B>(req: &Request<B>) -> Result<(), ApiError> {
    let version = req.version();
    if version != Version::HTTP_11 && version != Version::HTTP_10 {
        return Ok(());
    }
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let bad = |reason| Err(ApiError::new(StatusCode::BAD_REQUEST, reason));
    match (hosts.next(), hosts.next()) {
        (None, _) if version == Version::HTTP_11 => bad("an HTTP/1.1 request needs a Host header"),
        (None, _) => Ok(()),
        (Some(_), Some(_)) => bad("more than one Host header"),
        (Some(host), None) if host.is_empty() || is_host(host.as_bytes()) => Ok(()),
        (Some(_), None) => bad("the Host header is not a host[:port]"),
    }
}

/// `host[:port]` as a URI authority, without user information.
fn is_host(value: &[u8]) -> bool {
    !value.contains(&b'@') && http::uri::Authority::try_from(value).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, hosts: &[&str]) -> Request<()> {
        let mut req = Request::builder().version(version).uri("/x");
        for host in hosts {
            req = req.header(header::HOST, *host);
        }
        req.body(()).unwrap_or_default()
    }

    fn status(version: Version, hosts: &[&str]) -> Option<StatusCode> {
        check_host(&request(version, hosts)).err().map(|e| e.status)
    }

    #[test]
    fn http_1_1_needs_exactly_one_host() {
        let bad = Some(StatusCode::BAD_REQUEST);
        assert_eq!(status(Version::HTTP_11, &["example.com"]), None);
        assert_eq!(status(Version::HTTP_11, &["127.0.0.1:8080"]), None);
        assert_eq!(status(Version::HTTP_11, &["[::1]:8080"]), None);
        assert_eq!(status(Version::HTTP_11, &[]), bad);
        assert_eq!(status(Version::HTTP_11, &["a.example", "b.example"]), bad);
        assert_eq!(status(Version::HTTP_11, &["user@example.com"]), bad);
        assert_eq!(status(Version::HTTP_11, &["exa mple.com"]), bad);
        assert_eq!(status(Version::HTTP_11, &["example.com/path"]), bad);
    }

    #[test]
    fn http_1_0_may_omit_it_and_http_2_has_none() {
        assert_eq!(status(Version::HTTP_10, &[]), None);
        assert_eq!(
            status(Version::HTTP_10, &["a", "b"]),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(status(Version::HTTP_2, &[]), None);
    }
}
