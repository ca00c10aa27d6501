//! GitHub: `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the raw
//! body keyed with the webhook's secret; and the legacy
//! `X-Hub-Signature: sha1=<hex>` with HMAC-SHA1. Hex of either case is
//! accepted. GitHub sends one signature per header, so there is no key
//! rotation within a request; the same header twice is malformed.

use hmac::Hmac;

use super::common::{BodyMac, hex_tag};
use super::{Credentials, Unfit};

pub(super) const HEADER_SHA256: &str = "X-Hub-Signature-256";
pub(super) const HEADER_SHA1: &str = "X-Hub-Signature";

pub(super) fn sha256(credentials: Credentials) -> Result<BodyMac<Hmac<sha2::Sha256>>, Unfit> {
    BodyMac::new(credentials, HEADER_SHA256, "sha256=", hex_tag, |tag| {
        hex::encode(tag)
    })
}

pub(super) fn sha1(credentials: Credentials) -> Result<BodyMac<Hmac<sha1::Sha1>>, Unfit> {
    BodyMac::new(credentials, HEADER_SHA1, "sha1=", hex_tag, |tag| {
        hex::encode(tag)
    })
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderName, HeaderValue};

    use super::super::common::tests::{at, from_signed, headers};
    use super::super::{Scheme, Verifier, VerifyError};
    use super::*;

    // GitHub docs, "Validating webhook deliveries" (docs.github.com/en/webhooks/
    // using-webhooks/validating-webhook-deliveries), "Testing the webhook
    // payload validation": secret, payload and expected signature verbatim.
    const DOC_SECRET: &str = "It's a Secret to Everybody";
    const DOC_BODY: &[u8] = b"Hello, World!";
    const DOC_SHA256: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    // GitHub publishes no SHA-1 vector; the same inputs, computed independently:
    // python3 -c "import hmac,hashlib; print(hmac.new(b\"It's a Secret to
    // Everybody\", b'Hello, World!', hashlib.sha1).hexdigest())"
    const DOC_SHA1: &str = "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59";

    fn verifier(scheme: Scheme, secret: &str) -> Verifier {
        Verifier::new(scheme, Credentials::Secret(secret.as_bytes().into())).unwrap()
    }

    /// Time plays no part in GitHub's signatures.
    fn now() -> std::time::SystemTime {
        at(1_700_000_000)
    }

    #[test]
    fn github_docs_vector_verifies_and_signs() {
        let v = verifier(Scheme::Github, DOC_SECRET);
        let request = headers(&[(HEADER_SHA256, DOC_SHA256)]);
        assert_eq!(v.verify(&request, DOC_BODY, now()), Ok(()));
        assert_eq!(
            v.sign(DOC_BODY, now()),
            vec![(
                HeaderName::from_static("x-hub-signature-256"),
                HeaderValue::from_static(DOC_SHA256)
            )]
        );
    }

    #[test]
    fn sha1_vector_verifies_and_signs() {
        let v = verifier(Scheme::GithubSha1, DOC_SECRET);
        let request = headers(&[(HEADER_SHA1, DOC_SHA1)]);
        assert_eq!(v.verify(&request, DOC_BODY, now()), Ok(()));
        assert_eq!(v.sign(DOC_BODY, now())[0].1, DOC_SHA1);
        // The SHA-1 scheme does not look at the SHA-256 header, nor the reverse.
        let both = headers(&[(HEADER_SHA256, DOC_SHA256)]);
        assert_eq!(
            v.verify(&both, DOC_BODY, now()),
            Err(VerifyError::Missing(HEADER_SHA1.into()))
        );
        let sha256 = verifier(Scheme::Github, DOC_SECRET);
        assert_eq!(
            sha256.verify(&request, DOC_BODY, now()),
            Err(VerifyError::Missing(HEADER_SHA256.into()))
        );
    }

    #[test]
    fn hex_and_prefix_of_either_case() {
        let v = verifier(Scheme::Github, DOC_SECRET);
        let upper = DOC_SHA256.to_uppercase(); // "SHA256=757107EA…"
        assert_eq!(
            v.verify(&headers(&[(HEADER_SHA256, &upper)]), DOC_BODY, now()),
            Ok(())
        );
    }

    #[test]
    fn rejects_missing_malformed_wrong_secret_and_tampered_body() {
        for (scheme, name, good) in [
            (Scheme::Github, HEADER_SHA256, DOC_SHA256),
            (Scheme::GithubSha1, HEADER_SHA1, DOC_SHA1),
        ] {
            let v = verifier(scheme, DOC_SECRET);
            let check =
                |value: &str, body: &[u8]| v.verify(&headers(&[(name, value)]), body, now());
            assert_eq!(
                v.verify(&HeaderMap::new(), DOC_BODY, now()),
                Err(VerifyError::Missing(name.into()))
            );
            let (prefix, digits) = good.split_once('=').unwrap();
            for bad in [
                digits.to_owned(),                    // no prefix
                format!("{prefix}:{digits}"),         // wrong separator
                format!("md5={digits}"),              // other algorithm
                format!("{prefix}={}", &digits[1..]), // odd number of digits
                format!("{prefix}=zz{}", &digits[2..]),
                format!("{prefix}="),
                String::new(),
            ] {
                assert_eq!(
                    check(&bad, DOC_BODY),
                    Err(VerifyError::Malformed(name)),
                    "{bad}"
                );
            }
            // A well-formed but truncated or wrong tag is a mismatch.
            let truncated = &good[..good.len() - 2];
            assert_eq!(check(truncated, DOC_BODY), Err(VerifyError::Mismatch(name)));
            assert_eq!(
                check(good, b"Hello, World?"),
                Err(VerifyError::Mismatch(name))
            );
            let other = verifier(scheme, "It's a Secret to Everybody!");
            assert_eq!(
                other.verify(&headers(&[(name, good)]), DOC_BODY, now()),
                Err(VerifyError::Mismatch(name))
            );
        }
    }

    #[test]
    fn a_second_signature_header_is_malformed() {
        // No rotation in GitHub's scheme: one header, one signature. A second
        // value (even a valid one) leaves it unclear what was signed.
        let v = verifier(Scheme::Github, DOC_SECRET);
        let wrong = format!("sha256={}", "0".repeat(64));
        let request = headers(&[(HEADER_SHA256, &wrong), (HEADER_SHA256, DOC_SHA256)]);
        assert_eq!(
            v.verify(&request, DOC_BODY, now()),
            Err(VerifyError::Malformed(HEADER_SHA256))
        );
    }

    #[test]
    fn sign_output_verifies() {
        for scheme in [Scheme::Github, Scheme::GithubSha1] {
            let v = verifier(scheme, "another secret");
            let body = br#"{"action":"opened","number":7}"#;
            let signed = from_signed(v.sign(body, now()));
            assert_eq!(v.verify(&signed, body, now()), Ok(()));
        }
    }
}
