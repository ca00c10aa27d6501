//! One `allowed_outbound_hosts` entry, in Spin's syntax:
//! `scheme://host[:port]`, where the scheme may be `*`, the host `*`,
//! `*.domain`, a name, an IP literal (IPv6 in brackets) or a CIDR network,
//! and the port a number, `*` or an end-exclusive range `8000..9000`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::cidr::Cidr;
use super::host::{Host, check_name};

/// A malformed entry. The text names the entry, says what is wrong and, where
/// it can, what to write instead: it is what `hookhost routes` shows for a
/// plugin that is not served because of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry:?}: {problem}")]
pub struct EntryError {
    pub entry: String,
    pub problem: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemePattern {
    /// `*://`: both schemes a plugin can use.
    Any,
    Http,
    Https,
}

impl SchemePattern {
    fn parse(text: &str) -> Option<SchemePattern> {
        match text.to_ascii_lowercase().as_str() {
            "*" => Some(SchemePattern::Any),
            "http" => Some(SchemePattern::Http),
            "https" => Some(SchemePattern::Https),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SchemePattern::Any => "*",
            SchemePattern::Http => "http",
            SchemePattern::Https => "https",
        }
    }

    fn matches(self, scheme: &str) -> bool {
        self == SchemePattern::Any || scheme.eq_ignore_ascii_case(self.as_str())
    }
}

/// The port a URL of this scheme means when it names none.
pub fn default_port(scheme: &str) -> Option<u16> {
    if scheme.eq_ignore_ascii_case("http") {
        Some(80)
    } else if scheme.eq_ignore_ascii_case("https") {
        Some(443)
    } else {
        None
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// `*`: any host. Never unlocks a private address.
    Any,
    /// `*.slack.com`, held without the `*.`: names under it, not the name
    /// itself.
    Subdomains(String),
    /// Lower case.
    Name(String),
    Ip(IpAddr),
    Cidr(Cidr),
}

impl HostPattern {
    fn matches(&self, host: &Host) -> bool {
        match (self, host) {
            (HostPattern::Any, _) => true,
            (HostPattern::Subdomains(suffix), Host::Name(name)) => name
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            (HostPattern::Name(want), Host::Name(name)) => want == name,
            (HostPattern::Ip(want), Host::Ip(ip)) => want == ip,
            (HostPattern::Cidr(net), Host::Ip(ip)) => net.contains(*ip),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortPattern {
    Any,
    Port(u16),
    /// `start..end`, end exclusive as in Spin; `end` may be 65536 so that
    /// 65535 can be included.
    Range {
        start: u16,
        end: u32,
    },
}

impl PortPattern {
    fn matches(self, port: u16) -> bool {
        match self {
            PortPattern::Any => true,
            PortPattern::Port(p) => p == port,
            PortPattern::Range { start, end } => start <= port && u32::from(port) < end,
        }
    }
}

/// A parsed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    scheme: SchemePattern,
    host: HostPattern,
    port: PortPattern,
}

impl Entry {
    pub fn parse(text: &str) -> Result<Entry, EntryError> {
        parse(text.trim()).map_err(|problem| {
            let info = userinfo(text);
            EntryError {
                entry: redact(text, info),
                problem: redact(&problem, info),
            }
        })
    }

    pub fn scheme(&self) -> SchemePattern {
        self.scheme
    }

    pub fn host(&self) -> &HostPattern {
        &self.host
    }

    pub fn port(&self) -> PortPattern {
        self.port
    }

    /// Whether a request to `scheme://host[:port]` is allowed by this entry.
    /// A missing port is the scheme's default, as in the URL.
    pub fn matches(&self, scheme: &str, host: &Host, port: Option<u16>) -> bool {
        if !self.scheme.matches(scheme) || !self.host.matches(host) {
            return false;
        }
        match port.or_else(|| default_port(scheme)) {
            Some(port) => self.port.matches(port),
            None => self.port == PortPattern::Any,
        }
    }
}

/// The canonical spelling, which parses back to the same entry: lower case,
/// no trailing slash, the scheme's default port left out, CIDR host bits
/// cleared, an IPv6 CIDR unbracketed as Spin writes it.
impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        match &self.host {
            HostPattern::Any => f.write_str("*")?,
            HostPattern::Subdomains(suffix) => write!(f, "*.{suffix}")?,
            HostPattern::Name(name) => f.write_str(name)?,
            HostPattern::Ip(IpAddr::V4(ip)) => write!(f, "{ip}")?,
            HostPattern::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            HostPattern::Cidr(net) => write!(f, "{net}")?,
        }
        match self.port {
            PortPattern::Any => f.write_str(":*"),
            PortPattern::Port(p) if Some(p) == default_port(self.scheme.as_str()) => Ok(()),
            PortPattern::Port(p) => write!(f, ":{p}"),
            PortPattern::Range { start, end } => write!(f, ":{start}..{end}"),
        }
    }
}

const EXAMPLE: &str = "\"https://api.example.com\"";

/// Credentials before an '@' in the authority, which an error never quotes
/// (as sidecar secrets are never quoted).
fn userinfo(text: &str) -> Option<&str> {
    let rest = text.split_once("://").map_or(text, |(_, rest)| rest);
    userinfo_split(rest).map(|(info, _)| info)
}

/// `user:password` and the host after it, the authority being cut at the
/// first '/': a password may hold '?' or '#', which a host cannot.
fn userinfo_split(rest: &str) -> Option<(&str, &str)> {
    authority_guess(rest).rsplit_once('@')
}

fn redact(text: &str, info: Option<&str>) -> String {
    match info {
        Some(info) => text.replace(&format!("{info}@"), "***@"),
        None => text.to_owned(),
    }
}

fn parse(text: &str) -> Result<Entry, String> {
    if text.is_empty() {
        return Err(format!(
            "is empty; an outbound host is a scheme and a host, e.g. {EXAMPLE}"
        ));
    }
    let Some((scheme_text, rest)) = text.split_once("://") else {
        return Err(missing_scheme(text));
    };
    let scheme = SchemePattern::parse(scheme_text).ok_or_else(|| {
        if scheme_text.is_empty() {
            format!("has no scheme before \"://\"; write e.g. \"https://{rest}\"")
        } else {
            format!(
                "plugins can only make HTTP requests, so the scheme must be \
                 \"http\", \"https\" or \"*\", not {scheme_text:?}"
            )
        }
    })?;
    let s = scheme.as_str();
    // Before the query check: a password may hold '#' or '?'.
    if let Some((_, host)) = userinfo_split(rest) {
        return Err(format!(
            "has credentials before '@'; they do not belong in the allow-list \
             (a plugin keeps them in its secret or config), write \"{s}://{host}\""
        ));
    }
    if let Some(at) = rest.find(['?', '#']) {
        let kind = if rest[at..].starts_with('?') {
            "a query"
        } else {
            "a fragment"
        };
        return Err(format!(
            "has {kind} ({:?}); an outbound host is only scheme, host and port, \
             e.g. \"{s}://{}\"",
            &rest[at..],
            authority_guess(&rest[..at])
        ));
    }
    // A lone trailing slash is what a copied URL often ends with; Spin once
    // broke matching on it (spin#2545). Anything more is a path.
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Err(format!(
            "names no host; write e.g. \"{s}://api.example.com\""
        ));
    }
    let (host, port_text) = split_host(s, rest)?;
    let port = match port_text {
        None | Some("") => match default_port(s) {
            Some(p) => PortPattern::Port(p),
            None => {
                let h = rest.strip_suffix(':').unwrap_or(rest);
                return Err(format!(
                    "a \"*\" scheme has no default port, so name one: \
                     \"*://{h}:443\", or \"*://{h}:*\" for any port"
                ));
            }
        },
        Some(p) => parse_port(p)?,
    };
    Ok(Entry { scheme, host, port })
}

fn missing_scheme(text: &str) -> String {
    if text == "*" || text == "*:*" || text.eq_ignore_ascii_case("insecure:allow-all") {
        return "an outbound host needs a scheme; to allow every host write \
                \"*://*:*\" (this turns the outbound sandbox off)"
            .into();
    }
    if let Some((head, tail)) = text.split_once(':')
        && SchemePattern::parse(head).is_some()
    {
        let tail = tail.trim_start_matches('/');
        return format!("the scheme must be followed by \"://\", e.g. \"{head}://{tail}\"");
    }
    let bare = text.trim_start_matches('/');
    format!("an outbound host needs a scheme, e.g. \"https://{bare}\"")
}

/// The host[:port] part of `rest` for a suggestion, cut at the first path
/// slash.
fn authority_guess(rest: &str) -> &str {
    rest.split('/').next().unwrap_or(rest)
}

/// Splits the authority into host pattern and port text. An IPv6 literal is
/// bracketed; an IPv6 CIDR may be bracketed or not (`fd00::/8` is Spin's
/// spelling), since the `/` already ends the address.
fn split_host<'a>(s: &str, rest: &'a str) -> Result<(HostPattern, Option<&'a str>), String> {
    if let Some(open) = rest.strip_prefix('[') {
        let Some((inner, after)) = open.split_once(']') else {
            return Err(format!(
                "has '[' without ']'; write an IPv6 address as \"{s}://[::1]\""
            ));
        };
        let addr: Ipv6Addr = inner.parse().map_err(|_| match inner.parse::<Ipv4Addr>() {
            Ok(v4) => format!("IPv4 addresses go without brackets: \"{s}://{v4}\""),
            Err(_) => format!("[{inner}] is not an IPv6 address"),
        })?;
        if let Some(tail) = after.strip_prefix('/') {
            return cidr(s, IpAddr::V6(addr), tail);
        }
        return match after {
            "" => Ok((HostPattern::Ip(addr.into()), None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((HostPattern::Ip(addr.into()), Some(port))),
                None => Err(format!(
                    "has {after:?} after the address; write \"{s}://[{addr}]\" or \
                     \"{s}://[{addr}]:PORT\""
                )),
            },
        };
    }
    if let Some((before, tail)) = rest.split_once('/') {
        return match before.parse::<IpAddr>() {
            Ok(addr) => cidr(s, addr, tail),
            Err(_) => Err(path_problem(s, before, &rest[before.len()..])),
        };
    }
    if rest.matches(':').count() > 1 {
        return Err(unbracketed(s, rest));
    }
    let (host_text, port) = match rest.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    Ok((parse_host(host_text)?, port))
}

fn path_problem(s: &str, authority: &str, path: &str) -> String {
    format!(
        "has a path ({path:?}); an outbound host is only scheme, host and port, \
         e.g. \"{s}://{authority}\""
    )
}

fn unbracketed(s: &str, rest: &str) -> String {
    if rest.starts_with("*.") {
        return address_wildcard();
    }
    if let Ok(ip) = rest.parse::<Ipv6Addr>() {
        return format!("IPv6 addresses go in brackets: \"{s}://[{ip}]\"");
    }
    if let Some((h, p)) = rest.rsplit_once(':')
        && let Ok(ip) = h.parse::<Ipv6Addr>()
    {
        return format!("IPv6 addresses go in brackets: \"{s}://[{ip}]:{p}\"");
    }
    let mut parts = rest.split(':');
    let host = parts.next().unwrap_or_default();
    let port = parts.next().unwrap_or_default();
    format!("has more than one ':'; write one host and one port, e.g. \"{s}://{host}:{port}\"")
}

/// `tail` is what follows the `/` of `addr/`: the network length, then
/// perhaps `:port`. Anything else there is a path.
fn cidr<'a>(
    s: &str,
    addr: IpAddr,
    tail: &'a str,
) -> Result<(HostPattern, Option<&'a str>), String> {
    let (length, port) = match tail.split_once(':') {
        Some((l, port)) => (l, Some(port)),
        None => (tail, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(length) {
        // `10.0.0.0/8/x` is a network with a path; `[::1]/x` an address with one.
        let (authority, path) = match tail.split_once('/') {
            Some((l, path)) if digits(l) => (format!("{addr}/{l}"), format!("/{path}")),
            _ => match addr {
                IpAddr::V4(a) => (a.to_string(), format!("/{tail}")),
                IpAddr::V6(a) => (format!("[{a}]"), format!("/{tail}")),
            },
        };
        return Err(path_problem(s, &authority, &path));
    }
    let bits = if addr.is_ipv4() { 32 } else { 128 };
    let net = length
        .parse::<u8>()
        .ok()
        .and_then(|l| Cidr::new(addr, l))
        .ok_or_else(|| {
            format!("the network length after '/' must be from 0 to {bits}, not {length}")
        })?;
    Ok((HostPattern::Cidr(net), port))
}

fn parse_host(text: &str) -> Result<HostPattern, String> {
    if text.is_empty() {
        return Err("names no host before the ':'".into());
    }
    if text == "*" {
        return Ok(HostPattern::Any);
    }
    if let Some(suffix) = text.strip_prefix("*.") {
        if suffix.contains('*') {
            return Err(wildcard_problem());
        }
        if suffix.parse::<IpAddr>().is_ok() {
            return Err(address_wildcard());
        }
        let name = check_name(suffix).map_err(|p| format!("wildcard domain {suffix:?} {p}"))?;
        return Ok(HostPattern::Subdomains(name));
    }
    if text.contains('*') {
        return Err(wildcard_problem());
    }
    if let Ok(ip) = text.parse::<Ipv4Addr>() {
        return Ok(HostPattern::Ip(ip.into()));
    }
    check_name(text)
        .map(HostPattern::Name)
        .map_err(|p| format!("host {text:?} {p}"))
}

fn address_wildcard() -> String {
    "a wildcard stands for the subdomains of a name, not for addresses; \
     name a network instead, e.g. \"10.0.0.0/8\""
        .into()
}

fn wildcard_problem() -> String {
    "a wildcard is either the whole host (\"*\") or its first label \
     (\"*.example.com\"), nothing else"
        .into()
}

fn parse_port(text: &str) -> Result<PortPattern, String> {
    if text == "*" {
        return Ok(PortPattern::Any);
    }
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if let Some((start, end)) = text.split_once("..") {
        if let Some(inclusive) = end.strip_prefix('=') {
            let next = inclusive
                .parse::<u32>()
                .map_or_else(|_| "END".into(), |e| e.saturating_add(1).to_string());
            return Err(format!(
                "port ranges are written start..end, the end not included, e.g. \
                 \"{start}..{next}\", not {text:?}"
            ));
        }
        let start_num = start.parse::<u16>().ok().filter(|_| digits(start));
        let end_num = end
            .parse::<u32>()
            .ok()
            .filter(|e| digits(end) && *e <= 65536);
        let (Some(start_num), Some(end_num)) = (start_num, end_num) else {
            return Err(format!(
                "port range {text:?} must be two numbers, start..end, the end not \
                 included (so at most 65536), e.g. \"8000..9000\""
            ));
        };
        if u32::from(start_num) >= end_num {
            return Err(format!(
                "port range {text:?} is empty: the end is not included, so \
                 \"{start_num}..{}\" is port {start_num} alone",
                u32::from(start_num) + 1
            ));
        }
        return Ok(PortPattern::Range {
            start: start_num,
            end: end_num,
        });
    }
    match text.parse::<u16>().ok().filter(|_| digits(text)) {
        Some(0) => Err("port 0 cannot be connected to; name a port from 1 to 65535".into()),
        Some(p) => Ok(PortPattern::Port(p)),
        None => Err(format!(
            "port {text:?} must be a number from 1 to 65535, \"*\" for any port, \
             or a range such as \"8000..9000\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> Entry {
        Entry::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn problem(text: &str) -> String {
        match Entry::parse(text) {
            Ok(e) => panic!("{text:?} parsed as {e}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn accepted_forms_and_their_canonical_spelling() {
        for (text, shown) in [
            ("https://api.pyrus.com", "https://api.pyrus.com"),
            ("  https://api.pyrus.com  ", "https://api.pyrus.com"),
            ("HTTPS://API.Pyrus.COM", "https://api.pyrus.com"),
            ("https://api.pyrus.com/", "https://api.pyrus.com"),
            ("https://api.pyrus.com:443", "https://api.pyrus.com"),
            ("https://api.pyrus.com:", "https://api.pyrus.com"),
            ("http://api.pyrus.com:443", "http://api.pyrus.com:443"),
            ("https://api.pyrus.com:8443/", "https://api.pyrus.com:8443"),
            (
                "http://api.example.com:8000..9000",
                "http://api.example.com:8000..9000",
            ),
            (
                "https://api.example.com:1..65536",
                "https://api.example.com:1..65536",
            ),
            ("https://*.slack.com", "https://*.slack.com"),
            ("https://*.Slack.COM:*", "https://*.slack.com:*"),
            ("https://*.com", "https://*.com"),
            ("http://*", "http://*"),
            ("http://*:8080", "http://*:8080"),
            ("*://*:*", "*://*:*"),
            ("*://api.example.com:443", "*://api.example.com:443"),
            ("*://api.example.com:80..444", "*://api.example.com:80..444"),
            ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
            ("http://127.0.0.1:9000/", "http://127.0.0.1:9000"),
            ("http://localhost:3000", "http://localhost:3000"),
            ("http://LocalHost", "http://localhost"),
            ("http://my_svc-1.internal", "http://my_svc-1.internal"),
            ("https://xn--bcher-kva.de", "https://xn--bcher-kva.de"),
            ("http://[::1]", "http://[::1]"),
            ("http://[::1]/", "http://[::1]"),
            ("http://[::1]:8080/", "http://[::1]:8080"),
            ("http://[::1]:*", "http://[::1]:*"),
            ("https://[2001:DB8::1]:443", "https://[2001:db8::1]"),
            ("http://[::ffff:127.0.0.1]", "http://[::ffff:127.0.0.1]"),
            ("http://10.0.0.0/8", "http://10.0.0.0/8"),
            ("http://10.1.2.3/8", "http://10.0.0.0/8"),
            ("http://10.0.0.0/8/", "http://10.0.0.0/8"),
            ("http://10.0.0.0/8:8080", "http://10.0.0.0/8:8080"),
            ("*://127.0.0.1/24:63551", "*://127.0.0.0/24:63551"),
            ("http://0.0.0.0/0:*", "http://0.0.0.0/0:*"),
            ("http://fd00::/8", "http://fd00::/8"),
            ("http://[fd00::]/8", "http://fd00::/8"),
            ("http://[fd00::]/8:8080", "http://fd00::/8:8080"),
            ("https://2001:db8::/32:443", "https://2001:db8::/32"),
            ("http://::1/128", "http://::1/128"),
        ] {
            let parsed = entry(text);
            assert_eq!(parsed.to_string(), shown, "{text:?}");
            assert_eq!(entry(shown), parsed, "{shown:?} parses back");
        }
    }

    #[test]
    fn parts_are_what_was_written() {
        let e = entry("https://*.slack.com");
        assert_eq!(e.scheme(), SchemePattern::Https);
        assert_eq!(e.host(), &HostPattern::Subdomains("slack.com".into()));
        assert_eq!(e.port(), PortPattern::Port(443));

        let e = entry("http://api.example.com");
        assert_eq!(e.port(), PortPattern::Port(80));

        let e = entry("*://[::1]:8000..9000");
        assert_eq!(e.scheme(), SchemePattern::Any);
        assert_eq!(e.host(), &HostPattern::Ip("::1".parse().unwrap()));
        assert_eq!(
            e.port(),
            PortPattern::Range {
                start: 8000,
                end: 9000
            }
        );

        let e = entry("http://fd00::/8");
        let net = Cidr::new("fd00::".parse().unwrap(), 8).unwrap();
        assert_eq!(e.host(), &HostPattern::Cidr(net));
        assert_eq!(entry("http://[fd00::]/8"), e);

        assert_eq!(entry("*://*:*").host(), &HostPattern::Any);
        assert_eq!(entry("*://*:*").port(), PortPattern::Any);
    }

    #[test]
    fn the_missing_scheme_message() {
        assert_eq!(
            problem("api.pyrus.com"),
            r#""api.pyrus.com": an outbound host needs a scheme, e.g. "https://api.pyrus.com""#
        );
    }

    #[test]
    fn malformed_entries_say_what_to_write() {
        for (text, says) in [
            ("", "is empty; an outbound host is a scheme and a host"),
            ("   ", "is empty"),
            ("api.pyrus.com:8443", r#"e.g. "https://api.pyrus.com:8443""#),
            ("//api.pyrus.com", r#"e.g. "https://api.pyrus.com""#),
            ("*", r#"to allow every host write "*://*:*""#),
            ("insecure:allow-all", r#""*://*:*""#),
            (
                "https:api.pyrus.com",
                r#"followed by "://", e.g. "https://api.pyrus.com""#,
            ),
            ("https:/api.pyrus.com", r#"e.g. "https://api.pyrus.com""#),
            (
                "://api.pyrus.com",
                r#"no scheme before "://"; write e.g. "https://api.pyrus.com""#,
            ),
            (
                "ftp://files.example.com",
                r#""http", "https" or "*", not "ftp""#,
            ),
            ("postgres://db:5432", "can only make HTTP requests"),
            ("htps://api.pyrus.com", r#"not "htps""#),
            (
                "https://",
                r#"names no host; write e.g. "https://api.example.com""#,
            ),
            ("https:///", "names no host"),
            ("https://:443", "names no host"),
            (
                "https://api.pyrus.com/v4/tasks",
                r#"has a path ("/v4/tasks"); an outbound host is only scheme, host and port, e.g. "https://api.pyrus.com""#,
            ),
            ("https://api.pyrus.com//", r#"has a path ("/")"#),
            (
                "https://api.pyrus.com:8443/v4",
                r#"e.g. "https://api.pyrus.com:8443""#,
            ),
            ("https://api.pyrus.com?x=1", r#"has a query ("?x=1")"#),
            ("https://api.pyrus.com/#top", r##"has a fragment ("#top")"##),
            (
                "https://user:pw@api.pyrus.com/",
                r#"write "https://api.pyrus.com""#,
            ),
            (
                "*://api.pyrus.com",
                r#"no default port, so name one: "*://api.pyrus.com:443", or "*://api.pyrus.com:*" for any port"#,
            ),
            ("*://*", r#""*://*:*" for any port"#),
            ("https://api.*.com", "a wildcard is either the whole host"),
            ("https://*api.com", "a wildcard is either the whole host"),
            ("https://*.*.com", "a wildcard is either the whole host"),
            ("https://api.slack.*", "a wildcard is either the whole host"),
            ("https://**", "a wildcard is either the whole host"),
            ("https://*.", r#"wildcard domain "" is empty"#),
            (
                "https://*.127.0.0.1",
                "not for addresses; name a network instead",
            ),
            ("https://exa mple.com", r#"host "exa mple.com" has ' '"#),
            ("https://example%2Ecom", "has '%'"),
            ("https://{a,b}.com", "has '{'"),
            ("https://bücher.de", "punycode"),
            (
                "https://api.pyrus.com.",
                r#"without the trailing dot, "api.pyrus.com""#,
            ),
            ("https://api..pyrus.com", "empty label"),
            ("http://127.1", "four numbers, e.g. 127.0.0.1"),
            ("http://10.0.0.256", "four numbers"),
            ("http://0x7f.1", "four numbers"),
            (
                "http://::1",
                r#"IPv6 addresses go in brackets: "http://[::1]""#,
            ),
            ("http://fe80::1", r#""http://[fe80::1]""#),
            ("http://[::1", "'[' without ']'"),
            ("http://[::1]junk", r#"has "junk" after the address"#),
            (
                "http://[10.0.0.1]",
                r#"IPv4 addresses go without brackets: "http://10.0.0.1""#,
            ),
            ("http://[v1.x]", "[v1.x] is not an IPv6 address"),
            ("http://[fe80::1%25eth0]", "is not an IPv6 address"),
            (
                "http://[::1]/foo",
                r#"has a path ("/foo"); an outbound host is only scheme, host and port, e.g. "http://[::1]""#,
            ),
            ("http://10.0.0.0/33", "from 0 to 32, not 33"),
            ("http://fd00::/129", "from 0 to 128, not 129"),
            ("http://[fd00::]/999", "from 0 to 128, not 999"),
            (
                "http://10.0.0.0/8/extra",
                r#"has a path ("/extra"); an outbound host is only scheme, host and port, e.g. "http://10.0.0.0/8""#,
            ),
            ("http://10.0.0.0/x", r#"has a path ("/x")"#),
            ("http://10.0.0.0//", r#"has a path ("/")"#),
            (
                "http://example.com:notaport",
                r#"port "notaport" must be a number from 1 to 65535, "*" for any port, or a range such as "8000..9000""#,
            ),
            ("http://example.com:+80", r#"port "+80" must be a number"#),
            (
                "http://example.com:65536",
                r#"port "65536" must be a number"#,
            ),
            ("http://example.com:{80,443}", "must be a number"),
            ("http://example.com:0", "port 0 cannot be connected to"),
            (
                "http://example.com:80:90",
                r#"write one host and one port, e.g. "http://example.com:80""#,
            ),
            ("http://*.[::1]", "not for addresses"),
            (
                "http://example.com:9000..8000",
                r#"port range "9000..8000" is empty"#,
            ),
            (
                "http://example.com:8000..8000",
                r#""8000..8001" is port 8000 alone"#,
            ),
            (
                "http://example.com:8000..=9000",
                r#"the end not included, e.g. "8000..9001", not "8000..=9000""#,
            ),
            ("http://example.com:8000..", "must be two numbers"),
            ("http://example.com:..9000", "must be two numbers"),
            ("http://example.com:8080..70000", "at most 65536"),
            ("http://example.com:8O8O", "must be a number"),
        ] {
            let text_problem = problem(text);
            assert!(
                text_problem.starts_with(&format!("{text:?}: ")) || text.contains('@'),
                "{text:?}: {text_problem}"
            );
            assert!(text_problem.contains(says), "{text:?}: {text_problem}");
        }
    }

    #[test]
    fn credentials_are_never_quoted() {
        for text in [
            "https://user:s3cret@api.pyrus.com",
            "https://s3cret@api.pyrus.com/v1",
            "*://u:s3cret@*:*",
            "https://a@b:s3cret@api.pyrus.com",
            "user:s3cret@api.pyrus.com",
            "https://user:pass#s3cret@api.pyrus.com",
            "https://user:pass?s3cret@api.pyrus.com",
        ] {
            let shown = problem(text);
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("***@"), "{shown}");
        }
    }

    #[test]
    fn spin_rejects_these_and_so_do_we() {
        // From Spin's own test list of invalid entries.
        for text in [
            "http://*.example.com:notaport",
            "http://*.example.com:8080..",
            "http://*.example.com:8080/p",
            "http://*.example.com/p",
            "http://127.0.0.0/24/p",
            "http://[::1junk",
            "http://*.:8080",
            "example.com:8080",
            "http://example%.com",
            "http://exa[mple.com",
            r"http://exa\mple.com",
            "http://[vG.example]",
            "http://ff00::/8/extra",
            "http://[::1]::80",
            "[::1]:8080",
            "http://*.[::1]",
            "http://*.192.168.001.001",
            "http://self//",
        ] {
            assert!(Entry::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn matching_one_entry() {
        let name = |s: &str| Host::parse(s).unwrap();
        let e = entry("https://api.pyrus.com");
        assert!(e.matches("https", &name("api.pyrus.com"), None));
        assert!(e.matches("HTTPS", &name("API.PYRUS.COM"), Some(443)));
        assert!(!e.matches("http", &name("api.pyrus.com"), None));
        assert!(!e.matches("https", &name("api.pyrus.com"), Some(8443)));
        assert!(!e.matches("https", &name("pyrus.com"), None));
        // A scheme without a default port matches only a `*` port.
        assert!(!entry("*://x.com:443").matches("gopher", &name("x.com"), None));
        assert!(entry("*://x.com:*").matches("gopher", &name("x.com"), None));
    }
}
