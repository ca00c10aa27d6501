//! Sending one admitted request. What wasmtime-wasi-http's default sender
//! does, with the differences that are the point: the name is resolved here
//! and every address checked before a socket opens; the waits are ours,
//! bounded by the call's deadline, instead of 600 s; the body is capped; a
//! permit from the plugin's connection limit lives as long as the
//! connection, which the plugin's pool keeps for its next request to the
//! same origin. Redirects are the guest's to follow or not, as for any
//! HTTP/1.1 client library at this level: nothing here follows them.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http::header::{CONTENT_LENGTH, HOST};
use http::{HeaderName, HeaderValue, Request, Response, Uri};
use http_body::Body;
use http_body_util::BodyExt;
use hyper::client::conn::http1;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::body::CappedBody;
use super::origin::Origin;
use super::tls;
use super::{CallFlags, OutboundPolicy};
use crate::outbound::{Host, Refused, is_forbidden_header, suggest_entry};

/// What `send_request` resolves to: the response, and the connection's
/// remaining work, which wasmtime-wasi-http keeps running while the guest
/// reads the body.
pub(super) type Sent = (
    Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
);

/// Everything the send task needs, owned: it outlives the hook call.
pub(super) struct Outgoing {
    pub plugin: Arc<str>,
    pub policy: Arc<OutboundPolicy>,
    pub deadline: Instant,
    pub flags: Arc<CallFlags>,
    pub options: Option<RequestOptions>,
    pub origin: Origin,
}

impl Outgoing {
    /// A wait that ran out: if the call's deadline is what ended it, the
    /// call has failed its deadline, and is reported so.
    fn timed_out(&self, error: Error) -> Error {
        if Instant::now() >= self.deadline {
            self.flags.deadline_hit.store(true, Ordering::Relaxed);
        }
        error
    }
}

/// Sends `request` and logs one debug line for it.
pub(super) async fn send(out: Outgoing, request: Request<WasiBody>) -> Result<Sent, Error> {
    let started = Instant::now();
    let method = request.method().clone();
    let result = exchange(&out, request).await;
    let ms = started.elapsed().as_millis() as u64;
    match &result {
        Ok((res, _)) => tracing::debug!(
            %method,
            origin = %out.origin,
            status = res.status().as_u16(),
            ms,
            "outbound request"
        ),
        Err(e) => tracing::debug!(
            %method,
            origin = %out.origin,
            ms,
            "outbound request failed: {e}"
        ),
    }
    result
}

async fn exchange(out: &Outgoing, mut request: Request<WasiBody>) -> Result<Sent, Error> {
    let limits = out.policy.limits();
    let options = out.options.unwrap_or_default();
    prepare(&mut request, &out.origin)?;
    let first_byte = limits.first_byte_timeout(options.first_byte_timeout, out.deadline);
    let pool = &out.policy.pool;

    let reusable = tokio::time::timeout(first_byte, pool.take(&out.origin)).await;
    if let Ok(Some(mut sender)) = reusable {
        match tokio::time::timeout(first_byte, sender.try_send_request(request)).await {
            Err(_) => return Err(out.timed_out(Error::ConnectionReadTimeout)),
            Ok(Ok(res)) => return respond(out, res, sender),
            // The server closed the idle connection as the request was
            // being handed over: nothing was sent, so a new connection
            // carries it (hyper-util's pool does the same).
            Ok(Err(mut e)) => match e.take_message() {
                Some(unsent) => request = unsent,
                None => return Err(Error::Hyper(e.into_error())),
            },
        }
    }

    // One budget for the whole way to a ready connection: a free slot under
    // the plugin's connection limit, DNS, TCP, TLS and the HTTP handshake.
    let connect_timeout = limits.connect_timeout(options.connect_timeout, out.deadline);
    let connect_by = tokio::time::Instant::now() + connect_timeout;

    let connections = &out.policy.connections;
    let permit = match connections.clone().try_acquire_owned() {
        Ok(permit) => Ok(Ok(permit)),
        Err(_) => {
            pool.close_oldest();
            tokio::time::timeout_at(connect_by, connections.clone().acquire_owned()).await
        }
    };
    let permit = permit
        .map_err(|_| {
            tracing::warn!(
                origin = %out.origin,
                "outbound request not sent: plugin {} has {} connections open, its [outbound] max_connections",
                out.plugin,
                limits.max_connections
            );
            out.timed_out(Error::ConnectionLimitReached)
        })?
        // The semaphore is never closed.
        .map_err(|_| Error::ConnectionLimitReached)?;

    let (mut sender, conn) = tokio::time::timeout_at(connect_by, connect(out))
        .await
        .map_err(|_| out.timed_out(Error::ConnectionTimeout))??;

    // The connection runs on a task of its own, holding the permit, and
    // outlives the call when the pool keeps it. It ends when its last
    // handle is dropped: by the pool, or by the response body when the
    // guest did not read it to its end.
    tokio::spawn(async move {
        let _permit = permit;
        if let Err(e) = conn.await {
            tracing::debug!("outbound connection ended: {e}");
        }
    });

    let res = tokio::time::timeout(first_byte, sender.send_request(request))
        .await
        .map_err(|_| out.timed_out(Error::ConnectionReadTimeout))?
        .map_err(Error::Hyper)?;
    respond(out, res, sender)
}

/// The response as the guest gets it: the body capped and its waits
/// bounded; the connection goes back to the pool once the body is read.
fn respond(
    out: &Outgoing,
    res: Response<hyper::body::Incoming>,
    sender: http1::SendRequest<WasiBody>,
) -> Result<Sent, Error> {
    let limits = out.policy.limits();
    let cap = limits.max_response_bytes;
    if let Some(length) = content_length(res.headers())
        && length > cap
    {
        return Err(Error::HttpResponseBodySize(Some(length)));
    }
    let keep = out.policy.pool.keep(out.origin.clone(), sender);
    // Between frames of the body the guest's own wait is allowed if it set
    // one, else the first-byte limit; either way never past the deadline.
    let idle = out
        .options
        .and_then(|o| o.between_bytes_timeout)
        .map_or(limits.first_byte_timeout, |t| {
            t.min(limits.first_byte_timeout)
        })
        .max(Duration::from_millis(1));
    let flags = out.flags.clone();
    let res = res.map(|incoming| {
        if incoming.is_end_stream() {
            // No body to read (HEAD, 204, 304): the connection is free now.
            keep.done();
            return http_body_util::Empty::new()
                .map_err(|never: std::convert::Infallible| -> Error { match never {} })
                .boxed_unsync();
        }
        CappedBody::new(incoming, cap, idle, out.deadline, flags, keep).boxed_unsync()
    });
    Ok((res, Box::new(std::future::ready(Ok(())))))
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

type Connection = http1::Connection<TokioIo<Box<dyn Stream>>, WasiBody>;

/// Resolves, checks each address, connects to the first allowed one that
/// answers, then TLS and the HTTP/1.1 handshake.
async fn connect(out: &Outgoing) -> Result<(http1::SendRequest<WasiBody>, Connection), Error> {
    let origin = &out.origin;
    let host = Host::parse(&origin.host).ok_or(Error::HttpRequestUriInvalid)?;
    let port = origin.port();
    let addrs = resolve(&host, port).await?;

    let allow = out.policy.allow_list();
    let mut refused: Option<(IpAddr, Refused)> = None;
    let allowed: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|addr| {
            match allow.check_connect(&origin.scheme, &origin.host, origin.port, addr.ip()) {
                Ok(()) => true,
                Err(why) => {
                    refused.get_or_insert((addr.ip(), why));
                    false
                }
            }
        })
        .collect();
    if allowed.is_empty() {
        warn_refused(out, refused);
        out.flags.denied.store(true, Ordering::Relaxed);
        return Err(Error::DestinationIpProhibited);
    }

    let mut last_error = None;
    let mut stream = None;
    for addr in allowed {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let stream = match (stream, last_error) {
        (Some(stream), _) => stream,
        (None, Some(e)) => return Err(Error::Connect(e)),
        (None, None) => return Err(Error::ConnectionRefused),
    };
    // Requests are small and latency matters more than packet count.
    let _ = stream.set_nodelay(true);

    let stream: Box<dyn Stream> = if origin.is_https() {
        Box::new(tls::connect(stream, &host).await?)
    } else {
        Box::new(stream)
    };
    http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(Error::Hyper)
}

/// The addresses to try: an IP literal is its own; a name goes to the
/// system resolver (off the async workers, as tokio does it).
async fn resolve(host: &Host, port: u16) -> Result<Vec<SocketAddr>, Error> {
    let name = match host {
        Host::Ip(ip) => return Ok(vec![SocketAddr::new(*ip, port)]),
        Host::Name(name) => name.as_str(),
    };
    let dns_error = |rcode: &str| Error::DnsError {
        rcode: Some(rcode.to_owned()),
        info_code: None,
    };
    match tokio::net::lookup_host((name, port)).await {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(dns_error("no addresses"))
            } else {
                Ok(addrs)
            }
        }
        Err(e) => {
            tracing::debug!("cannot resolve {name}: {e}");
            Err(dns_error("name does not resolve"))
        }
    }
}

/// One warning for a request whose name led only to refused addresses: the
/// plugin, the origin, the address and its range, and what would allow it.
fn warn_refused(out: &Outgoing, refused: Option<(IpAddr, Refused)>) {
    let Some((ip, why)) = refused else {
        return;
    };
    let origin = &out.origin;
    let literal = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    let fix = suggest_entry(&origin.scheme, &literal, origin.port)
        .map(|entry| {
            format!(
                "; if {ip} is meant, name it in allowed_outbound_hosts in {}.toml: \"{entry}\"",
                out.plugin
            )
        })
        .unwrap_or_default();
    // An IP literal was not resolved; the wording should not say it was.
    let how = match Host::parse(&origin.host) {
        Some(Host::Ip(_)) => "goes to",
        _ => "resolved to",
    };
    tracing::warn!(
        origin = %origin,
        address = %ip,
        "outbound request refused: plugin {}'s request to {origin} {how} {ip}, {why}, which an entry must name literally{fix}",
        out.plugin,
    );
}

/// The request as it goes on the wire: origin-form target, `Host` from the
/// URL, no hop-by-hop headers.
fn prepare(request: &mut Request<WasiBody>, origin: &Origin) -> Result<(), Error> {
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    *request.uri_mut() = Uri::builder()
        .path_and_query(target)
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let headers = request.headers_mut();
    // Already refused when the guest set them; checked again because the
    // request may have been built from fields wasmtime let through.
    let forbidden: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_forbidden_header(name))
        .cloned()
        .collect();
    for name in forbidden {
        headers.remove(&name);
    }
    let host =
        HeaderValue::from_str(&origin.authority()).map_err(|_| Error::HttpRequestUriInvalid)?;
    headers.insert(HOST, host);
    Ok(())
}

fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Empty;

    #[test]
    fn the_wire_request_has_the_urls_host_and_no_hop_by_hop_headers() {
        let body: WasiBody = Empty::<bytes::Bytes>::new()
            .map_err(|never: std::convert::Infallible| -> Error { match never {} })
            .boxed_unsync();
        let mut request = Request::builder()
            .uri("http://user:pw@example.com:8080/a/b?c=d")
            .header("host", "evil.example")
            .header("connection", "upgrade")
            .header("proxy-authorization", "x")
            .header("x-kept", "1")
            .body(body)
            .unwrap();
        let origin = Origin::of(request.uri()).unwrap();
        prepare(&mut request, &origin).unwrap();
        assert_eq!(request.uri().to_string(), "/a/b?c=d");
        let headers = request.headers();
        assert_eq!(headers["host"], "example.com:8080");
        assert!(headers.get("connection").is_none());
        assert!(headers.get("proxy-authorization").is_none());
        assert_eq!(headers["x-kept"], "1");
    }

    #[tokio::test]
    async fn ip_literals_are_not_looked_up() {
        let host = Host::parse("[::1]").unwrap();
        let addrs = resolve(&host, 8080).await.unwrap();
        assert_eq!(addrs, vec!["[::1]:8080".parse().unwrap()]);
    }
}
