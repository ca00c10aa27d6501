//! A shared token sent as the whole value of a header: the sidecar's
//! `token_header` (e.g. GitLab's `X-Gitlab-Token`; the loader defaults it to
//! `X-Webhook-Token`).
//! If that header is `Authorization`, the value must be `Bearer <token>`;
//! no other header is ever consulted (a token configured for one header is
//! not accepted in another, Bearer included).
//!
//! The presented and configured tokens are compared as SHA-256 digests in
//! constant time, so neither the token's length nor the position of the
//! first differing byte shows in the timing.

use std::time::SystemTime;

use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::common::{digest, only, same_digest, single};
use super::{Check, Credentials, Unfit, VerifyError};

/// Names the token in errors without quoting it: "token not accepted".
const TOKEN: &str = "token";
const AUTHORIZATION_NAME: &str = "Authorization";

pub(super) struct Token {
    header: HeaderName,
    /// `header` is `Authorization`, so the value is `Bearer <token>`.
    bearer: bool,
    digest: [u8; 32],
    /// What `sign` sends, marked sensitive.
    value: HeaderValue,
}

pub(super) fn prepare(credentials: Credentials) -> Result<Token, Unfit> {
    let Credentials::Token { header, token } = credentials else {
        return Err(Unfit::Kind);
    };
    if token.is_empty() {
        return Err("the token is empty".into());
    }
    if token.first().is_some_and(is_space) || token.last().is_some_and(is_space) {
        // HTTP drops such whitespace in transit: the token could never match.
        return Err("the token starts or ends with whitespace".into());
    }
    let bearer = header == AUTHORIZATION;
    let mut value = if bearer {
        HeaderValue::from_bytes(&[b"Bearer ", &token[..]].concat())
    } else {
        HeaderValue::from_bytes(&token)
    }
    .map_err(|_| "the token has characters a header cannot carry")?;
    value.set_sensitive(true);
    Ok(Token {
        header,
        bearer,
        digest: digest(&token),
        value,
    })
}

impl Check for Token {
    fn verify(&self, headers: &HeaderMap, _: &[u8], _: SystemTime) -> Result<(), VerifyError> {
        let presented = if self.bearer {
            bearer_token(headers)?
        } else {
            let spelled = || self.header.as_str().to_owned().into();
            only(headers.get_all(&self.header), spelled, TOKEN)?.as_bytes()
        };
        bool::from(same_digest(&digest(presented), &self.digest))
            .then_some(())
            .ok_or(VerifyError::Denied(TOKEN))
    }

    fn sign(&self, _: &[u8], _: SystemTime) -> Vec<(HeaderName, HeaderValue)> {
        vec![(self.header.clone(), self.value.clone())]
    }

    fn credential_header(&self) -> Option<&HeaderName> {
        Some(&self.header)
    }

    /// `WWW-Authenticate: Bearer realm="hookhost"` when the token is a
    /// Bearer token (RFC 6750 §3); nothing for a custom header.
    fn challenge(&self) -> Option<(HeaderName, HeaderValue)> {
        self.bearer.then(|| {
            (
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"hookhost\""),
            )
        })
    }
}

fn is_space(b: &u8) -> bool {
    matches!(b, b' ' | b'\t')
}

/// The token of `Authorization: Bearer <token>` (scheme name in any case).
fn bearer_token(headers: &HeaderMap) -> Result<&[u8], VerifyError> {
    single(headers, AUTHORIZATION_NAME)?
        .as_bytes()
        .split_at_checked(7)
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"Bearer "))
        .map(|(_, rest)| rest.trim_ascii_start())
        .filter(|token| !token.is_empty())
        .ok_or(VerifyError::Malformed(AUTHORIZATION_NAME))
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::super::common::tests::{at, from_signed, headers};
    use super::super::{ConfigError, Credentials, Scheme, Verifier};
    use super::*;

    const TOKEN_VALUE: &str = "glpat-Sup3rS3cret";
    const DEFAULT_HEADER: &str = "X-Webhook-Token";

    fn verifier(header: &'static str, token: &str) -> Verifier {
        Verifier::new(
            Scheme::Token,
            Credentials::Token {
                header: HeaderName::from_static(header),
                token: token.as_bytes().into(),
            },
        )
        .unwrap()
    }

    /// Tokens carry no timestamp.
    fn now() -> SystemTime {
        at(1_700_000_000)
    }

    #[test]
    fn token_in_its_header() {
        let v = verifier("x-webhook-token", TOKEN_VALUE);
        let ok = headers(&[(DEFAULT_HEADER, TOKEN_VALUE)]);
        assert_eq!(v.verify(&ok, b"any body", now()), Ok(()));
        let err = v.verify(&HeaderMap::new(), b"", now()).unwrap_err();
        assert_eq!(err.to_string(), "missing x-webhook-token header");
        // A Bearer token is not accepted in place of the configured header.
        let bearer = headers(&[("Authorization", &format!("Bearer {TOKEN_VALUE}"))]);
        assert!(v.verify(&bearer, b"", now()).is_err());
    }

    #[test]
    fn named_header_such_as_gitlabs() {
        let v = verifier("x-gitlab-token", TOKEN_VALUE);
        let ok = headers(&[("X-Gitlab-Token", TOKEN_VALUE)]);
        assert_eq!(v.verify(&ok, b"{}", now()), Ok(()));
        let default = headers(&[(DEFAULT_HEADER, TOKEN_VALUE)]);
        assert_eq!(
            v.verify(&default, b"{}", now()),
            Err(VerifyError::Missing("x-gitlab-token".into()))
        );
        assert_eq!(v.challenge(), None);
    }

    #[test]
    fn wrong_tokens_are_denied_without_saying_why() {
        let v = verifier("x-webhook-token", TOKEN_VALUE);
        for wrong in [
            "glpat-Sup3rS3cres",  // last byte differs
            "glpat-Sup3rS3cret2", // longer
            "glpat-Sup3rS3cre",   // prefix
            "GLPAT-SUP3RS3CRET",  // case matters
            "x",
        ] {
            let err = v
                .verify(&headers(&[(DEFAULT_HEADER, wrong)]), b"", now())
                .unwrap_err();
            assert_eq!(err, VerifyError::Denied(TOKEN), "{wrong}");
            assert_eq!(err.to_string(), "token not accepted");
        }
        let empty = headers(&[(DEFAULT_HEADER, "")]);
        assert_eq!(
            v.verify(&empty, b"", now()),
            Err(VerifyError::Denied(TOKEN))
        );
        // Two values: malformed, even if one is right.
        let twice = headers(&[(DEFAULT_HEADER, "x"), (DEFAULT_HEADER, TOKEN_VALUE)]);
        assert_eq!(
            v.verify(&twice, b"", now()),
            Err(VerifyError::Malformed(TOKEN))
        );
    }

    #[test]
    fn authorization_header_means_bearer() {
        let v = verifier("authorization", TOKEN_VALUE);
        for ok in [
            format!("Bearer {TOKEN_VALUE}"),
            format!("bearer {TOKEN_VALUE}"),
            format!("BEARER   {TOKEN_VALUE}"),
        ] {
            assert_eq!(
                v.verify(&headers(&[("Authorization", &ok)]), b"", now()),
                Ok(()),
                "{ok}"
            );
        }
        assert_eq!(
            v.verify(&HeaderMap::new(), b"", now()),
            Err(VerifyError::Missing("Authorization".into()))
        );
        for malformed in [
            TOKEN_VALUE.to_owned(),
            format!("Basic {TOKEN_VALUE}"),
            "Bearer ".into(),
            "Bearer".into(),
        ] {
            assert_eq!(
                v.verify(&headers(&[("Authorization", &malformed)]), b"", now()),
                Err(VerifyError::Malformed("Authorization")),
                "{malformed}"
            );
        }
        let wrong = headers(&[("Authorization", "Bearer glpat-other")]);
        assert_eq!(
            v.verify(&wrong, b"", now()),
            Err(VerifyError::Denied(TOKEN))
        );
        let (name, value) = v.challenge().unwrap();
        assert_eq!(name, WWW_AUTHENTICATE);
        assert_eq!(value, "Bearer realm=\"hookhost\"");
    }

    #[test]
    fn sign_output_verifies_and_is_sensitive() {
        for header in ["x-webhook-token", "x-gitlab-token", "authorization"] {
            let v = verifier(header, TOKEN_VALUE);
            let signed = v.sign(b"", now());
            assert!(signed.iter().all(|(_, value)| value.is_sensitive()));
            assert_eq!(
                v.verify(&from_signed(signed), b"", now()),
                Ok(()),
                "{header:?}"
            );
        }
    }

    #[test]
    fn unusable_tokens_fail_to_load_without_quoting_them() {
        for (token, reason) in [
            ("", "the token is empty"),
            (" Sup3r", "the token starts or ends with whitespace"),
            ("Sup3r\t", "the token starts or ends with whitespace"),
            (
                "Sup3r\nS3cret",
                "the token has characters a header cannot carry",
            ),
        ] {
            let err = Verifier::new(
                Scheme::Token,
                Credentials::Token {
                    header: HeaderName::from_static("x-webhook-token"),
                    token: token.as_bytes().into(),
                },
            )
            .unwrap_err();
            assert_eq!(
                err,
                ConfigError::Invalid {
                    scheme: Scheme::Token,
                    reason
                }
            );
            assert!(!err.to_string().contains("Sup3r"));
        }
    }

    #[test]
    fn non_ascii_tokens_work_as_bytes() {
        let v = verifier("x-webhook-token", "tökén");
        let mut request = HeaderMap::new();
        request.insert(
            DEFAULT_HEADER,
            HeaderValue::from_bytes("tökén".as_bytes()).unwrap(),
        );
        assert_eq!(v.verify(&request, b"", now()), Ok(()));
    }
}
