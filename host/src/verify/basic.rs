//! HTTP basic auth (RFC 7617): `Authorization: Basic base64(user:password)`.
//! User and password are each compared as SHA-256 digests in constant time,
//! and both comparisons always run, so the timing does not show which one
//! was wrong, nor how long either is. A 401 should carry the challenge
//! (`Verifier::challenge` returns it).

use std::time::SystemTime;

use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine as _;

use super::common::{BASE64, digest, same_digest, single};
use super::{Check, Credentials, Unfit, VerifyError};

const HEADER: &str = "Authorization";

pub(super) struct Basic {
    user: [u8; 32],
    password: [u8; 32],
    /// What `sign` sends, marked sensitive.
    value: HeaderValue,
}

pub(super) fn prepare(credentials: Credentials) -> Result<Basic, Unfit> {
    let Credentials::Basic { user, password } = credentials else {
        return Err(Unfit::Kind);
    };
    if user.is_empty() {
        return Err("the user is empty".into());
    }
    if user.contains(':') {
        return Err("the user contains ':', which basic auth cannot carry".into());
    }
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    if user.chars().any(char::is_control) || password.iter().any(u8::is_ascii_control) {
        return Err("the user or password contains control characters".into());
    }
    let credentials = [user.as_bytes(), b":", &password].concat();
    let mut value = HeaderValue::try_from(format!("Basic {}", BASE64.encode(credentials)))
        .map_err(|_| "the user or password cannot be encoded")?;
    value.set_sensitive(true);
    Ok(Basic {
        user: digest(user.as_bytes()),
        password: digest(&password),
        value,
    })
}

impl Check for Basic {
    fn verify(&self, headers: &HeaderMap, _: &[u8], _: SystemTime) -> Result<(), VerifyError> {
        let malformed = VerifyError::Malformed(HEADER);
        let decoded = single(headers, HEADER)?
            .as_bytes()
            .split_at_checked(6)
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"Basic "))
            .and_then(|(_, rest)| BASE64.decode(rest.trim_ascii()).ok())
            .ok_or(malformed.clone())?;
        // RFC 7617: the user cannot contain ':', the password may.
        let colon = decoded.iter().position(|&b| b == b':').ok_or(malformed)?;
        let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
        let user_ok = same_digest(&digest(user), &self.user);
        let password_ok = same_digest(&digest(password), &self.password);
        bool::from(user_ok & password_ok)
            .then_some(())
            .ok_or(VerifyError::Denied("user or password"))
    }

    fn sign(&self, _: &[u8], _: SystemTime) -> Vec<(HeaderName, HeaderValue)> {
        vec![(AUTHORIZATION, self.value.clone())]
    }

    fn credential_header(&self) -> Option<&HeaderName> {
        static NAME: HeaderName = AUTHORIZATION;
        Some(&NAME)
    }

    /// `WWW-Authenticate: Basic realm="hookhost"`, for 401 answers.
    fn challenge(&self) -> Option<(HeaderName, HeaderValue)> {
        Some((
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"hookhost\""),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::super::common::tests::{at, from_signed, headers};
    use super::super::{ConfigError, Credentials, Scheme, Verifier};
    use super::*;

    fn verifier(user: &str, password: &str) -> Verifier {
        Verifier::new(
            Scheme::Basic,
            Credentials::Basic {
                user: user.into(),
                password: password.as_bytes().into(),
            },
        )
        .unwrap()
    }

    fn now() -> SystemTime {
        at(1_700_000_000)
    }

    fn request(value: &str) -> HeaderMap {
        headers(&[(HEADER, value)])
    }

    #[test]
    fn rfc_7617_example_verifies_and_signs() {
        // RFC 7617 §2: user "Aladdin", password "open sesame" give
        // "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".
        let v = verifier("Aladdin", "open sesame");
        let header = "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==";
        assert_eq!(v.verify(&request(header), b"{}", now()), Ok(()));
        let signed = v.sign(b"{}", now());
        assert_eq!(
            signed,
            vec![(AUTHORIZATION, HeaderValue::from_static(header))]
        );
        assert!(signed[0].1.is_sensitive());
        // Scheme name in any case, extra spaces, no padding.
        for loose in [
            "basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            "BASIC   QWxhZGRpbjpvcGVuIHNlc2FtZQ",
        ] {
            assert_eq!(v.verify(&request(loose), b"", now()), Ok(()), "{loose}");
        }
    }

    #[test]
    fn passwords_may_contain_colons() {
        let v = verifier("hook", "a:b:c");
        assert_eq!(
            v.verify(&from_signed(v.sign(b"", now())), b"", now()),
            Ok(())
        );
    }

    #[test]
    fn rejects_missing_and_malformed() {
        let v = verifier("Aladdin", "open sesame");
        assert_eq!(
            v.verify(&HeaderMap::new(), b"", now()),
            Err(VerifyError::Missing(HEADER.into()))
        );
        for bad in [
            "",
            "Basic",
            "Basic ",
            "Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            "Basic not-base64!",
            "Basic QWxhZGRpbg==", // "Aladdin", no colon
        ] {
            assert_eq!(
                v.verify(&request(bad), b"", now()),
                Err(VerifyError::Malformed(HEADER)),
                "{bad:?}"
            );
        }
        let twice = headers(&[
            (HEADER, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            (HEADER, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ]);
        assert_eq!(
            v.verify(&twice, b"", now()),
            Err(VerifyError::Malformed(HEADER))
        );
    }

    #[test]
    fn wrong_user_or_password_is_denied_alike() {
        let v = verifier("Aladdin", "open sesame");
        for (user, password) in [
            ("Aladdin", "open sesamE"),
            ("aladdin", "open sesame"),
            ("Aladdin", ""),
            ("", "open sesame"),
            ("Aladdin", "open sesame "),
            ("open sesame", "Aladdin"),
        ] {
            let value = format!("Basic {}", BASE64.encode(format!("{user}:{password}")));
            let err = v.verify(&request(&value), b"", now()).unwrap_err();
            assert_eq!(
                err,
                VerifyError::Denied("user or password"),
                "{user}:{password}"
            );
            assert_eq!(err.to_string(), "user or password not accepted");
        }
    }

    #[test]
    fn challenge_names_the_realm() {
        let v = verifier("Aladdin", "open sesame");
        assert_eq!(
            v.challenge(),
            Some((
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"hookhost\"")
            ))
        );
    }

    #[test]
    fn unusable_credentials_fail_to_load_without_quoting_them() {
        for (user, password, reason) in [
            ("", "Sup3rPass", "the user is empty"),
            (
                "Sup3r:User",
                "Sup3rPass",
                "the user contains ':', which basic auth cannot carry",
            ),
            ("Sup3rUser", "", "the password is empty"),
            (
                "Sup3rUser",
                "Sup3r\nPass",
                "the user or password contains control characters",
            ),
        ] {
            let err = Verifier::new(
                Scheme::Basic,
                Credentials::Basic {
                    user: user.into(),
                    password: password.as_bytes().into(),
                },
            )
            .unwrap_err();
            assert_eq!(
                err,
                ConfigError::Invalid {
                    scheme: Scheme::Basic,
                    reason
                }
            );
            assert!(!err.to_string().contains("Sup3r"));
        }
    }
}
