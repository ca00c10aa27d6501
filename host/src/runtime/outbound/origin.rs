//! Where a guest's request is going, read from the URI wasmtime-wasi-http
//! built from the guest's scheme and authority.

use std::fmt;

use http::Uri;
use wasmtime_wasi_http::Error;

use crate::outbound::default_port;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Origin {
    /// `http` or `https` (wasmtime refuses other schemes before us).
    pub scheme: String,
    /// As in the URL: a name, an IPv4 literal or `[v6]`; never userinfo.
    pub host: String,
    /// Only when the URL names one.
    pub port: Option<u16>,
}

impl Origin {
    pub fn of(uri: &Uri) -> Result<Origin, Error> {
        let scheme = uri.scheme_str().ok_or(Error::HttpRequestUriInvalid)?;
        let host = uri.host().filter(|h| !h.is_empty());
        let host = host.ok_or(Error::HttpRequestUriInvalid)?;
        Ok(Origin {
            scheme: scheme.to_ascii_lowercase(),
            host: host.to_owned(),
            port: uri.port_u16(),
        })
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port
            .or_else(|| default_port(&self.scheme))
            .unwrap_or(80)
    }

    pub fn is_https(&self) -> bool {
        self.scheme == "https"
    }

    /// The `Host` header: the URL's host and port, without any userinfo the
    /// guest put in the authority.
    pub fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(uri: &str) -> Origin {
        Origin::of(&uri.parse::<Uri>().unwrap()).unwrap()
    }

    #[test]
    fn reads_scheme_host_and_port() {
        let o = origin("http://127.0.0.1:9000/x?y");
        assert_eq!(o.to_string(), "http://127.0.0.1:9000");
        assert_eq!(o.port(), 9000);
        let o = origin("https://api.pyrus.com/v4");
        assert_eq!((o.port, o.port()), (None, 443));
        assert_eq!(o.authority(), "api.pyrus.com");
        assert!(o.is_https());
        let o = origin("http://[::1]:8080/");
        assert_eq!(o.host, "[::1]");
        assert_eq!(o.authority(), "[::1]:8080");
    }

    #[test]
    fn userinfo_never_reaches_the_host_header() {
        let o = origin("http://user:pw@example.com:81/");
        assert_eq!(o.authority(), "example.com:81");
        assert!(!o.to_string().contains("pw"));
    }

    #[test]
    fn a_uri_without_host_is_invalid() {
        let uri: Uri = "/path".parse().unwrap();
        assert!(matches!(
            Origin::of(&uri),
            Err(Error::HttpRequestUriInvalid)
        ));
    }
}
