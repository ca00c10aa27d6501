//! Signature checks over the raw request bytes, one file per scheme. Every
//! check runs before the body is parsed and compares in constant time.
//!
//! Every plugin has one [`Verifier`], built at load from its [`Scheme`] and
//! [`Credentials`]: Pyrus bots and extensions always `pyrus-sig`, generic
//! webhook plugins what their sidecar names (`verify = "github"`, …). The
//! handlers call [`Verifier::verify`] on every request.

mod basic;
mod common;
mod github;
mod pyrus;
mod shopify;
mod slack;
mod standard_webhooks;
mod stripe;
mod token;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use hmac::digest::KeyInit;

pub use common::TOLERANCE;

/// Why a request was not accepted as coming from its sender. The texts are
/// safe to send back: they never include the secret or the expected value.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// Spelled as the sender documents it (`X-Pyrus-Sig`), or in lower case
    /// for the `token_header` a sidecar names.
    #[error("missing {0} header")]
    Missing(Cow<'static, str>),
    #[error("{0} header is malformed")]
    Malformed(&'static str),
    #[error("{0} does not match the request body")]
    Mismatch(&'static str),
    /// The signed timestamp is more than [`TOLERANCE`] before or after now.
    #[error("{0} is outside the 5-minute tolerance")]
    Stale(&'static str),
    /// A shared token or a user and password that are not the configured
    /// ones (which part was wrong is not said).
    #[error("{0} not accepted")]
    Denied(&'static str),
}

/// Declares [`Scheme`] and all that follows from the list of schemes, so
/// that adding one is a line in `schemes!`'s call plus its file, which gives
/// the function that prepares the scheme's [`Check`].
macro_rules! schemes {
    ($($variant:ident = $name:literal, needs $needs:literal, $prepare:path;)*) => {
        /// How a plugin's requests are authenticated: `pyrus-sig` for Pyrus
        /// bots and extensions, the sidecar's `verify = "<name>"` for the
        /// others. `Display` and `FromStr` use the names below; each
        /// scheme's file documents its headers.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
        #[serde(try_from = "String")]
        pub enum Scheme {
            $($variant,)*
        }

        impl Scheme {
            /// Every scheme, in the order error messages list them.
            pub const ALL: [Scheme; [$($name),*].len()] = [$(Scheme::$variant),*];

            pub const NAMES: [&'static str; Scheme::ALL.len()] = [$($name),*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Scheme::$variant => $name,)*
                }
            }

            /// What [`Credentials`] the scheme takes, for error messages.
            const fn needs(self) -> &'static str {
                match self {
                    $(Scheme::$variant => $needs,)*
                }
            }

            /// The key for `credentials`, checked once when the plugin loads.
            fn prepare(self, credentials: Credentials) -> Result<Arc<dyn Check>, Unfit> {
                Ok(match self {
                    $(Scheme::$variant => Arc::new($prepare(credentials)?),)*
                })
            }
        }
    };
}

schemes! {
    Github = "github", needs "a secret", github::sha256;
    GithubSha1 = "github-sha1", needs "a secret", github::sha1;
    StandardWebhooks = "standard-webhooks", needs "a secret", standard_webhooks::prepare;
    Stripe = "stripe", needs "a secret", stripe::prepare;
    Slack = "slack", needs "a secret", slack::prepare;
    Shopify = "shopify", needs "a secret", shopify::prepare;
    PyrusSig = "pyrus-sig", needs "a secret", pyrus::prepare;
    Token = "token", needs "a token", token::prepare;
    Basic = "basic", needs "a user and a password", basic::prepare;
    None = "none", needs "no credentials", open;
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scheme {
    type Err = ConfigError;

    /// Exact, lower-case names only; anything else is
    /// [`ConfigError::UnknownScheme`], whose text lists the known names.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Scheme::ALL
            .into_iter()
            .find(|scheme| scheme.as_str() == name)
            .ok_or_else(|| ConfigError::UnknownScheme(name.to_owned()))
    }
}

impl TryFrom<String> for Scheme {
    type Error = ConfigError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

/// What a scheme checks against. `Debug` never prints the secret, token,
/// user or password.
#[derive(Clone)]
pub enum Credentials {
    /// The shared secret of the HMAC schemes, as the sender shows it (the
    /// scheme's file says how it keys the HMAC).
    Secret(Box<[u8]>),
    Token {
        header: HeaderName,
        token: Box<[u8]>,
    },
    /// The `basic` scheme's user and password.
    Basic { user: String, password: Box<[u8]> },
    /// For the `none` scheme.
    None,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Secret(_) => f.write_str("Secret(<redacted>)"),
            Credentials::Token { header, .. } => f
                .debug_struct("Token")
                .field("header", header)
                .field("token", &format_args!("<redacted>"))
                .finish(),
            Credentials::Basic { .. } => f
                .debug_struct("Basic")
                .field("user", &format_args!("<redacted>"))
                .field("password", &format_args!("<redacted>"))
                .finish(),
            Credentials::None => f.write_str("None"),
        }
    }
}

/// A sidecar's `verify` settings that cannot work. The texts never quote the
/// secret; callers add the plugin and scheme (`verify = "github": …`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "unknown verify scheme {0:?}; known schemes: {names}",
        names = Scheme::NAMES.join(", ")
    )]
    UnknownScheme(String),
    #[error("the scheme needs {needs}", needs = scheme.needs())]
    WrongCredentials { scheme: Scheme },
    #[error("{reason}")]
    Invalid {
        scheme: Scheme,
        reason: &'static str,
    },
}

/// One scheme's prepared key and what it does with it, from the function
/// named in `schemes!`'s call; the methods are [`Verifier`]'s.
pub(super) trait Check: Send + Sync {
    fn verify(&self, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Result<(), VerifyError>;

    fn sign(&self, body: &[u8], now: SystemTime) -> Vec<(HeaderName, HeaderValue)>;

    fn credential_header(&self) -> Option<&HeaderName> {
        None
    }

    fn challenge(&self) -> Option<(HeaderName, HeaderValue)> {
        None
    }
}

/// Why credentials cannot key a scheme; [`Verifier::new`] names the scheme.
pub(super) enum Unfit {
    /// Not the kind of credentials the scheme takes.
    Kind,
    /// The right kind but unusable, for a reason that never quotes them.
    Invalid(&'static str),
}

impl From<&'static str> for Unfit {
    fn from(reason: &'static str) -> Unfit {
        Unfit::Invalid(reason)
    }
}

/// The shared secret, which is all the HMAC schemes take.
pub(super) fn secret(credentials: Credentials) -> Result<Box<[u8]>, Unfit> {
    match credentials {
        Credentials::Secret(secret) => Ok(secret),
        _ => Err(Unfit::Kind),
    }
}

/// The keyed HMAC state for the secret in `credentials`, used as it is.
pub(super) fn hmac_key<M: KeyInit>(credentials: Credentials) -> Result<M, Unfit> {
    keyed(&secret(credentials)?)
}

/// The keyed HMAC state for a non-empty key.
pub(super) fn keyed<M: KeyInit>(key: &[u8]) -> Result<M, Unfit> {
    if key.is_empty() {
        return Err(Unfit::Invalid("the secret is empty"));
    }
    // HMAC takes keys of any length; this error cannot happen.
    M::new_from_slice(key).map_err(|_| Unfit::Invalid("the secret cannot key an HMAC"))
}

/// The `none` scheme's check, which passes everything and signs nothing.
struct Open;

fn open(credentials: Credentials) -> Result<Open, Unfit> {
    match credentials {
        Credentials::None => Ok(Open),
        _ => Err(Unfit::Kind),
    }
}

impl Check for Open {
    fn verify(&self, _: &HeaderMap, _: &[u8], _: SystemTime) -> Result<(), VerifyError> {
        Ok(())
    }

    fn sign(&self, _: &[u8], _: SystemTime) -> Vec<(HeaderName, HeaderValue)> {
        Vec::new()
    }
}

/// One plugin's check, built once when the plugin loads. Cheap to clone; the
/// keyed HMAC state is prepared here, so requests only hash their own bytes.
#[derive(Clone)]
pub struct Verifier {
    scheme: Scheme,
    check: Arc<dyn Check>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Verifier");
        out.field("scheme", &self.scheme);
        if let Some(header) = self.credential_header() {
            out.field("header", header);
        }
        out.finish_non_exhaustive()
    }
}

impl Verifier {
    /// Checks that `credentials` suit `scheme` and prepares the key: a secret
    /// must be non-empty, a `standard-webhooks` secret must be base64 (with or
    /// without `whsec_`), a token must fit in a header, a user must not
    /// contain `:`. Fails closed with a [`ConfigError`] otherwise.
    pub fn new(scheme: Scheme, credentials: Credentials) -> Result<Verifier, ConfigError> {
        let check = scheme.prepare(credentials).map_err(|unfit| match unfit {
            Unfit::Kind => ConfigError::WrongCredentials { scheme },
            Unfit::Invalid(reason) => ConfigError::Invalid { scheme, reason },
        })?;
        Ok(Verifier { scheme, check })
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Whether `headers` show that `body` (the raw request bytes) comes from
    /// the configured sender. `now` is the server's clock, against which the
    /// signed timestamps of `standard-webhooks`, `stripe` and `slack` must lie
    /// within [`TOLERANCE`](super::TOLERANCE). Replays inside that window are
    /// not detected here.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        self.check.verify(headers, body, now)
    }

    /// Headers a genuine sender would add for `body` at `now`, for
    /// `hookhost test --sign` and the tests. `standard-webhooks` gets a fresh
    /// random `webhook-id` on each call; `none` adds nothing. Token and basic
    /// values are marked sensitive.
    pub fn sign(&self, body: &[u8], now: SystemTime) -> Vec<(HeaderName, HeaderValue)> {
        self.check.sign(body, now)
    }

    /// The header that carries the credential itself (the token, or basic
    /// auth's `Authorization`), which a plugin has no business seeing.
    /// `None` for the HMAC schemes, whose headers prove but do not reveal.
    pub fn credential_header(&self) -> Option<&HeaderName> {
        self.check.credential_header()
    }

    /// The `WWW-Authenticate` header to add to a 401 answer, if the scheme
    /// calls for one: `Basic realm="hookhost"` for `basic`, and
    /// `Bearer realm="hookhost"` for `token` with `token_header =
    /// "Authorization"`. `None` for every other scheme.
    pub fn challenge(&self) -> Option<(HeaderName, HeaderValue)> {
        self.check.challenge()
    }
}

#[cfg(test)]
mod tests {
    use super::common::tests::{at, from_signed};
    use super::*;

    fn secret(s: &str) -> Credentials {
        Credentials::Secret(s.as_bytes().into())
    }

    /// One verifier per scheme, each with a distinctive credential.
    fn every_verifier() -> Vec<Verifier> {
        Scheme::ALL
            .into_iter()
            .map(|scheme| {
                let credentials = match scheme {
                    Scheme::StandardWebhooks => secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                    Scheme::Token => Credentials::Token {
                        header: HeaderName::from_static("x-webhook-token"),
                        token: b"Sup3rS3cretTok3n".as_slice().into(),
                    },
                    Scheme::Basic => Credentials::Basic {
                        user: "Sup3rUs3r".into(),
                        password: b"Sup3rS3cretPassw0rd".as_slice().into(),
                    },
                    Scheme::None => Credentials::None,
                    _ => secret("Sup3rS3cretK3y"),
                };
                Verifier::new(scheme, credentials).unwrap()
            })
            .collect()
    }

    #[test]
    fn names_round_trip_and_unknown_lists_them() {
        for scheme in Scheme::ALL {
            assert_eq!(scheme.to_string().parse::<Scheme>(), Ok(scheme));
        }
        let err = "GitHub".parse::<Scheme>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown verify scheme \"GitHub\"; known schemes: github, github-sha1, \
             standard-webhooks, stripe, slack, shopify, pyrus-sig, token, basic, none"
        );
    }

    #[test]
    fn deserializes_from_the_sidecar_name() {
        #[derive(serde::Deserialize)]
        struct Sidecar {
            verify: Scheme,
        }
        let sidecar: Sidecar = toml::from_str("verify = \"github-sha1\"").unwrap();
        assert_eq!(sidecar.verify, Scheme::GithubSha1);
        let err = toml::from_str::<Sidecar>("verify = \"gitlab\"")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("known schemes: github"), "{err}");
    }

    #[test]
    fn every_scheme_verifies_what_it_signs_and_rejects_a_changed_body() {
        let now = at(1_700_000_000);
        for verifier in every_verifier() {
            let headers = from_signed(verifier.sign(b"{\"n\":1}", now));
            assert_eq!(
                verifier.verify(&headers, b"{\"n\":1}", now),
                Ok(()),
                "{verifier:?}"
            );
            let unsigned = verifier.verify(&HeaderMap::new(), b"{\"n\":1}", now);
            let changed = verifier.verify(&headers, b"{\"n\":2}", now);
            match verifier.scheme() {
                Scheme::None => assert_eq!(unsigned, Ok(())),
                // The credential does not depend on the body.
                Scheme::Token | Scheme::Basic => {
                    assert!(unsigned.is_err());
                    assert_eq!(changed, Ok(()));
                }
                _ => {
                    assert!(unsigned.is_err(), "{verifier:?}");
                    assert!(
                        matches!(changed, Err(VerifyError::Mismatch(_))),
                        "{verifier:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn credentials_must_suit_the_scheme() {
        let token = || Credentials::Token {
            header: HeaderName::from_static("x-webhook-token"),
            token: b"t".as_slice().into(),
        };
        let cases = [
            (Scheme::Github, token(), "the scheme needs a secret"),
            (Scheme::Token, secret("s"), "the scheme needs a token"),
            (
                Scheme::Basic,
                Credentials::None,
                "the scheme needs a user and a password",
            ),
            (Scheme::None, secret("s"), "the scheme needs no credentials"),
            (
                Scheme::Stripe,
                Credentials::None,
                "the scheme needs a secret",
            ),
        ];
        for (scheme, credentials, text) in cases {
            let err = Verifier::new(scheme, credentials).unwrap_err();
            assert_eq!(err, ConfigError::WrongCredentials { scheme });
            assert_eq!(err.to_string(), text);
        }
    }

    #[test]
    fn empty_secrets_fail_closed() {
        let hmac = Scheme::ALL.into_iter().filter(|s| s.needs() == "a secret");
        assert_eq!(hmac.clone().count(), 7);
        for scheme in hmac {
            let err = Verifier::new(scheme, secret("")).unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { .. }),
                "{scheme}: {err:?}"
            );
        }
        let err = Verifier::new(Scheme::StandardWebhooks, secret("whsec_")).unwrap_err();
        assert_eq!(err.to_string(), "the secret is empty");
    }

    #[test]
    fn debug_never_shows_credentials() {
        let needles = ["Sup3r", "MfKQ9r8G", "U3VwM"]; // U3VwM: base64 of "Sup3"
        let mut printed = vec![
            format!("{:?}", secret("Sup3rS3cretK3y")),
            format!(
                "{:?}",
                Credentials::Token {
                    header: HeaderName::from_static("x-gitlab-token"),
                    token: b"Sup3rS3cretTok3n".as_slice().into(),
                }
            ),
            format!(
                "{:?}",
                Credentials::Basic {
                    user: "Sup3rUs3r".into(),
                    password: b"Sup3rS3cretPassw0rd".as_slice().into(),
                }
            ),
        ];
        for verifier in every_verifier() {
            printed.push(format!("{verifier:?}"));
            printed.push(format!("{verifier:#?}"));
        }
        for text in &printed {
            for needle in needles {
                assert!(!text.contains(needle), "{text}");
            }
        }
        assert_eq!(printed[0], "Secret(<redacted>)");
        assert!(printed[1].contains("x-gitlab-token"), "{}", printed[1]);
        assert_eq!(
            format!("{:?}", every_verifier()[0]),
            "Verifier { scheme: Github, .. }"
        );
    }

    #[test]
    fn only_basic_and_bearer_challenge() {
        for verifier in every_verifier() {
            let challenge = verifier.challenge();
            if verifier.scheme() == Scheme::Basic {
                let (name, value) = challenge.unwrap();
                assert_eq!(name, axum::http::header::WWW_AUTHENTICATE);
                assert_eq!(value, "Basic realm=\"hookhost\"");
            } else {
                assert_eq!(challenge, None, "{verifier:?}");
            }
        }
    }
}
