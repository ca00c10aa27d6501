//! Host names and IP literals, read the same way from allow-list entries and
//! from request URLs, so that a name an entry may hold is exactly a name a
//! request can be matched on (and the denied-origin hint always parses).

use std::net::{IpAddr, Ipv6Addr};

/// The host of a request's URL authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// Lower case.
    Name(String),
    Ip(IpAddr),
}

impl Host {
    /// Reads `api.example.com`, `10.0.0.1`, `[::1]` or `::1`. `None` for
    /// anything no entry could name (such a request is denied): a trailing
    /// dot, percent-encoding, or a numeric form the resolver would take for
    /// an address (`127.1`, `0x7f.1`), which must not slip past entries that
    /// name addresses literally.
    pub fn parse(text: &str) -> Option<Host> {
        if let Some(inner) = text.strip_prefix('[') {
            let inner = inner.strip_suffix(']')?;
            return inner.parse::<Ipv6Addr>().ok().map(|a| Host::Ip(a.into()));
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Some(Host::Ip(ip));
        }
        check_name(text).ok().map(Host::Name)
    }
}

/// Longest name DNS can carry, without the root's trailing dot.
const MAX_NAME: usize = 253;
const MAX_LABEL: usize = 63;

/// `name` in lower case, or what is wrong with it, phrased to follow the
/// name (`"exa mple.com" has ' ', which …`).
pub fn check_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if !name.is_ascii() {
        return Err("is not ASCII; write an international name in its punycode \
                    (xn--…) form"
            .into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!("has {c:?}, which a host name cannot contain"));
    }
    if let Some(stem) = name.strip_suffix('.') {
        return Err(format!(
            "ends with '.'; write it without the trailing dot, {stem:?}"
        ));
    }
    if name.len() > MAX_NAME {
        return Err(format!("is longer than {MAX_NAME} characters"));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return Err("has an empty label (\"..\" or a leading '.')".into());
    }
    if labels.iter().any(|l| l.len() > MAX_LABEL) {
        return Err(format!("has a label longer than {MAX_LABEL} characters"));
    }
    // The resolver reads a name whose last label is a number as an IPv4
    // address in one of inet_aton's short forms.
    if labels.last().is_some_and(|l| looks_numeric(l)) {
        return Err("is neither a host name nor an IPv4 address; write an \
                    address as four numbers, e.g. 127.0.0.1"
            .into());
    }
    Ok(name.to_ascii_lowercase())
}

fn looks_numeric(label: &str) -> bool {
    let hex = label
        .strip_prefix("0x")
        .or_else(|| label.strip_prefix("0X"));
    match hex {
        Some(digits) => digits.chars().all(|c| c.is_ascii_hexdigit()),
        None => label.chars().all(|c| c.is_ascii_digit()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_hosts() {
        let name = |s: &str| Some(Host::Name(s.into()));
        let ip = |s: &str| Some(Host::Ip(s.parse().unwrap()));
        for (text, want) in [
            ("api.pyrus.com", name("api.pyrus.com")),
            ("API.Pyrus.COM", name("api.pyrus.com")),
            ("localhost", name("localhost")),
            ("my_host-1.internal", name("my_host-1.internal")),
            ("10.0.0.1", ip("10.0.0.1")),
            ("[::1]", ip("::1")),
            ("::1", ip("::1")),
            ("[::ffff:127.0.0.1]", ip("::ffff:127.0.0.1")),
            ("[fe80::1%eth0]", None),
            ("[10.0.0.1]", None),
            ("[::1", None),
            ("", None),
            ("api.pyrus.com.", None),
            ("127.1", None),
            ("0x7f.1", None),
            ("2130706433", None),
            ("010.0.0.1", None),
            ("1.2.3.4.5", None),
            ("exa mple.com", None),
            ("exa%2Emple.com", None),
            ("bücher.de", None),
            ("a..b", None),
            ("*.slack.com", None),
            ("user@host", None),
        ] {
            assert_eq!(Host::parse(text), want, "{text:?}");
        }
    }

    #[test]
    fn name_problems_are_explained() {
        for (name, says) in [
            ("", "is empty"),
            ("bücher.de", "punycode"),
            ("a b", "' '"),
            ("a.b.", "without the trailing dot, \"a.b\""),
            ("a..b", "empty label"),
            (".a", "empty label"),
            ("10.0.0.256", "four numbers"),
            ("0xff", "four numbers"),
        ] {
            let problem = check_name(name).unwrap_err();
            assert!(problem.contains(says), "{name:?}: {problem}");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(check_name(&long_label).unwrap_err().contains("63"));
        let long_name = ["a"; 130].join(".");
        assert!(check_name(&long_name).unwrap_err().contains("253"));
        assert_eq!(check_name(&"a".repeat(63)), Ok("a".repeat(63)));
        assert_eq!(check_name("1password.com"), Ok("1password.com".into()));
        assert_eq!(
            check_name("xn--bcher-kva.de"),
            Ok("xn--bcher-kva.de".into())
        );
    }
}
