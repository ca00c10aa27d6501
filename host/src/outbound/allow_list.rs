//! A plugin's `allowed_outbound_hosts`: the origins it may send requests to.
//! Empty, the default, allows none.

use std::net::IpAddr;

use serde::Deserialize;

use super::address::{Refused, check_address};
use super::entry::{Entry, EntryError, default_port};
use super::host::Host;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct AllowList {
    entries: Vec<Entry>,
}

impl AllowList {
    /// Fails on the first malformed entry: a plugin with a list it cannot
    /// trust is not served, rather than served with part of it.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<AllowList, EntryError> {
        let entries = entries
            .iter()
            .map(|e| Entry::parse(e.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(AllowList { entries })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries that let `scheme://host[:port]` through. `host` is the
    /// URL authority's (`api.example.com`, `10.0.0.1`, `[::1]`); a host no
    /// entry could name matches nothing, not even `*`.
    pub fn matching(
        &self,
        scheme: &str,
        host: &str,
        port: Option<u16>,
    ) -> impl Iterator<Item = &Entry> {
        let host = Host::parse(host);
        self.entries.iter().filter(move |entry| {
            host.as_ref()
                .is_some_and(|host| entry.matches(scheme, host, port))
        })
    }

    /// Whether a request to `scheme://host[:port]` may be sent at all. A
    /// missing port is the scheme's default.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        self.matching(scheme, host, port).next().is_some()
    }

    /// Whether the request may connect to `ip`, one of the addresses its
    /// host resolved to: some entry must allow the request and, if `ip` is
    /// private or otherwise special, name it (see [`check_address`]).
    pub fn check_connect(
        &self,
        scheme: &str,
        host: &str,
        port: Option<u16>,
        ip: IpAddr,
    ) -> Result<(), Refused> {
        let mut refused = Refused::NotAllowed;
        for entry in self.matching(scheme, host, port) {
            match check_address(ip, entry) {
                Ok(()) => return Ok(()),
                Err(reason) => refused = reason,
            }
        }
        Err(refused)
    }
}

impl TryFrom<Vec<String>> for AllowList {
    type Error = EntryError;

    fn try_from(entries: Vec<String>) -> Result<Self, Self::Error> {
        AllowList::parse(&entries)
    }
}

/// The entry that would allow a denied request, for the warning that says
/// what to add: `scheme://host`, with `:port` only when it is not the
/// scheme's default. `None` when no entry could allow it (a scheme other
/// than http/https, a host no entry can name, port 0).
pub fn suggest_entry(scheme: &str, host: &str, port: Option<u16>) -> Option<String> {
    let default = default_port(scheme)?;
    // No entry names port 0 (nothing listens there), so no hint would parse.
    if port == Some(0) {
        return None;
    }
    let host = match Host::parse(host)? {
        Host::Name(name) => name,
        Host::Ip(IpAddr::V4(ip)) => ip.to_string(),
        Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
    };
    let scheme = scheme.to_ascii_lowercase();
    Some(match port {
        Some(port) if port != default => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// [`suggest_entry`] as the sidecar line to add, for a plugin that has no
/// list yet (with one, the entry goes into the existing array).
pub fn suggest_line(scheme: &str, host: &str, port: Option<u16>) -> Option<String> {
    // The entry holds only URL characters, none of which TOML escapes.
    suggest_entry(scheme, host, port).map(|entry| format!("allowed_outbound_hosts = [\"{entry}\"]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        AllowList::parse(entries).unwrap_or_else(|e| panic!("{e}"))
    }

    /// (request scheme, host, port, allowed)
    type Case = (&'static str, &'static str, Option<u16>, bool);

    fn check(entries: &[&str], cases: &[Case]) {
        let allow = list(entries);
        for &(scheme, host, port, want) in cases {
            assert_eq!(
                allow.allows(scheme, host, port),
                want,
                "{entries:?} vs {scheme}://{host} port {port:?}"
            );
        }
    }

    #[test]
    fn empty_list_denies_everything() {
        let allow = AllowList::default();
        assert!(allow.is_empty());
        for (scheme, host, port) in [
            ("https", "api.pyrus.com", None),
            ("http", "127.0.0.1", Some(9000)),
            ("https", "[::1]", None),
        ] {
            assert!(!allow.allows(scheme, host, port));
        }
        assert_eq!(list(&[]), allow);
    }

    #[test]
    fn exact_host_and_default_ports() {
        check(
            &["https://api.pyrus.com", "http://plain.example.com"],
            &[
                ("https", "api.pyrus.com", None, true),
                ("https", "api.pyrus.com", Some(443), true),
                ("https", "API.Pyrus.Com", None, true),
                ("HTTPS", "api.pyrus.com", None, true),
                ("https", "api.pyrus.com", Some(8443), false),
                ("http", "api.pyrus.com", None, false),
                ("http", "api.pyrus.com", Some(443), false),
                ("https", "pyrus.com", None, false),
                ("https", "x.api.pyrus.com", None, false),
                ("https", "api.pyrus.com.evil.net", None, false),
                ("https", "api.pyrus.com.", None, false),
                ("http", "plain.example.com", None, true),
                ("http", "plain.example.com", Some(80), true),
                ("http", "plain.example.com", Some(8080), false),
                ("https", "plain.example.com", None, false),
            ],
        );
    }

    #[test]
    fn subdomain_wildcards() {
        check(
            &["https://*.slack.com"],
            &[
                ("https", "hooks.slack.com", None, true),
                ("https", "a.b.slack.com", None, true),
                ("https", "HOOKS.SLACK.COM", None, true),
                ("https", "slack.com", None, false),
                ("https", "evilslack.com", None, false),
                ("https", "hooks.evilslack.com", None, false),
                ("https", "slack.com.evil.net", None, false),
                ("https", ".slack.com", None, false),
                ("https", "hooks.slack.com", Some(8443), false),
                ("http", "hooks.slack.com", None, false),
                ("https", "10.0.0.1", None, false),
            ],
        );
        // Case in the entry does not matter either.
        check(
            &["http://*.Example.COM"],
            &[("http", "foo.example.com", None, true)],
        );
    }

    #[test]
    fn any_host_any_scheme_any_port() {
        check(
            &["*://*:*"],
            &[
                ("https", "api.pyrus.com", None, true),
                ("http", "10.0.0.1", Some(1), true),
                ("http", "[::1]", Some(65535), true),
                ("https", "not a host", None, false),
                ("https", "127.1", None, false),
                ("https", "", None, false),
            ],
        );
        check(
            &["https://*"],
            &[
                ("https", "anything.example", None, true),
                ("https", "anything.example", Some(444), false),
                ("http", "anything.example", None, false),
            ],
        );
        check(
            &["*://api.example.com:443"],
            &[
                ("https", "api.example.com", None, true),
                ("http", "api.example.com", Some(443), true),
                ("http", "api.example.com", None, false),
            ],
        );
    }

    #[test]
    fn ports_and_end_exclusive_ranges() {
        check(
            &[
                "http://127.0.0.1:9000",
                "https://api.example.com:8000..9000",
            ],
            &[
                ("http", "127.0.0.1", Some(9000), true),
                ("http", "127.0.0.1", Some(9001), false),
                ("http", "127.0.0.1", None, false),
                ("https", "api.example.com", Some(8000), true),
                ("https", "api.example.com", Some(8999), true),
                ("https", "api.example.com", Some(9000), false),
                ("https", "api.example.com", Some(7999), false),
                ("https", "api.example.com", None, false),
            ],
        );
        check(
            &["http://a.example:65000..65536", "http://b.example:*"],
            &[
                ("http", "a.example", Some(65535), true),
                ("http", "a.example", Some(64999), false),
                ("http", "b.example", Some(1), true),
                ("http", "b.example", None, true),
            ],
        );
    }

    #[test]
    fn ip_literals_and_ipv6_brackets() {
        check(
            &[
                "http://[::1]:8080",
                "https://10.1.2.3",
                "http://[2001:db8::1]",
            ],
            &[
                ("http", "[::1]", Some(8080), true),
                ("http", "::1", Some(8080), true),
                ("http", "[0:0:0:0:0:0:0:1]", Some(8080), true),
                ("http", "[::2]", Some(8080), false),
                ("http", "[::1]", Some(8081), false),
                ("http", "[::1]", None, false),
                ("https", "10.1.2.3", None, true),
                ("https", "10.1.2.4", None, false),
                // Matching is on the literal: the mapped form is another
                // spelling this list does not name.
                ("https", "[::ffff:10.1.2.3]", None, false),
                ("http", "[2001:DB8::1]", None, true),
                ("http", "localhost", Some(8080), false),
            ],
        );
    }

    #[test]
    fn cidr_networks() {
        check(
            &[
                "http://10.0.0.0/8",
                "http://fd00::/8:8080",
                "*://127.0.0.1/24:63551",
            ],
            &[
                ("http", "10.0.0.1", None, true),
                ("http", "10.255.255.255", None, true),
                ("http", "11.0.0.1", None, false),
                ("http", "10.0.0.1", Some(8080), false),
                ("https", "10.0.0.1", None, false),
                ("http", "[fd12::1]", Some(8080), true),
                ("http", "[fc00::1]", Some(8080), false),
                ("http", "[fd12::1]", None, false),
                ("http", "127.0.0.200", Some(63551), true),
                ("https", "127.0.0.200", Some(63551), true),
                ("http", "127.0.1.1", Some(63551), false),
                // A network never matches a name, whatever it resolves to.
                ("http", "ten.example", None, false),
            ],
        );
    }

    #[test]
    fn trailing_slash_is_ignored() {
        // spin#2545: an entry copied with its slash must still match.
        check(
            &["https://my.api.com/", "http://[::1]:8080/"],
            &[
                ("https", "my.api.com", None, true),
                ("http", "[::1]", Some(8080), true),
            ],
        );
    }

    #[test]
    fn first_bad_entry_is_the_error() {
        let err =
            AllowList::parse(&["https://ok.example", "api.pyrus.com", "ftp://x"]).unwrap_err();
        assert_eq!(err.entry, "api.pyrus.com");
    }

    #[test]
    fn reads_from_a_sidecar() {
        #[derive(Deserialize)]
        struct Sidecar {
            #[serde(default)]
            allowed_outbound_hosts: AllowList,
        }
        let sidecar: Sidecar = toml::from_str(
            r#"allowed_outbound_hosts = ["https://api.pyrus.com", "https://*.slack.com", "http://127.0.0.1:9000"]"#,
        )
        .unwrap();
        let shown: Vec<String> = sidecar
            .allowed_outbound_hosts
            .entries()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "https://api.pyrus.com",
                "https://*.slack.com",
                "http://127.0.0.1:9000"
            ]
        );
        let none: Sidecar = toml::from_str("").unwrap();
        assert!(none.allowed_outbound_hosts.is_empty());
        let bad = toml::from_str::<Sidecar>(r#"allowed_outbound_hosts = ["api.pyrus.com"]"#)
            .err()
            .map(|e| e.message().to_owned())
            .unwrap_or_default();
        assert!(
            bad.contains(r#"an outbound host needs a scheme, e.g. "https://api.pyrus.com""#),
            "{bad}"
        );
    }

    #[test]
    fn denied_origin_hint() {
        for (scheme, host, port, want) in [
            (
                "https",
                "api.example.com",
                None,
                Some("https://api.example.com"),
            ),
            (
                "https",
                "api.example.com",
                Some(443),
                Some("https://api.example.com"),
            ),
            (
                "https",
                "API.Example.com",
                Some(8443),
                Some("https://api.example.com:8443"),
            ),
            (
                "HTTP",
                "api.example.com",
                Some(80),
                Some("http://api.example.com"),
            ),
            (
                "http",
                "api.example.com",
                Some(443),
                Some("http://api.example.com:443"),
            ),
            ("http", "10.0.0.7", Some(8080), Some("http://10.0.0.7:8080")),
            ("http", "[::1]", Some(3000), Some("http://[::1]:3000")),
            ("http", "::1", None, Some("http://[::1]")),
            ("gopher", "api.example.com", None, None),
            ("https", "bad host", None, None),
            ("https", "127.1", None, None),
        ] {
            let hint = suggest_entry(scheme, host, port);
            assert_eq!(hint.as_deref(), want, "{scheme}://{host} {port:?}");
            // The hint is exactly what lets the request through.
            if let Some(hint) = hint {
                assert!(list(&[hint.as_str()]).allows(scheme, host, port), "{hint}");
            }
        }
        assert_eq!(
            suggest_line("https", "hooks.slack.com", None).as_deref(),
            Some(r#"allowed_outbound_hosts = ["https://hooks.slack.com"]"#)
        );
        let line = suggest_line("http", "[fd00::5]", Some(9000)).unwrap();
        #[derive(Deserialize)]
        struct Sidecar {
            allowed_outbound_hosts: AllowList,
        }
        let parsed: Sidecar = toml::from_str(&line).unwrap();
        assert!(
            parsed
                .allowed_outbound_hosts
                .allows("http", "[fd00::5]", Some(9000))
        );
    }
}
