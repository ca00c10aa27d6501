//! Shopify: `X-Shopify-Hmac-Sha256: <base64>`, the HMAC-SHA256 of the raw
//! body keyed with the app's client secret (or the store's webhook signing
//! secret), as bytes. No timestamp is signed and one signature is sent.

use base64::Engine as _;
use hmac::Hmac;
use sha2::Sha256;

use super::common::{BASE64, BodyMac, base64_tag};
use super::{Credentials, Unfit};

const HEADER: &str = "X-Shopify-Hmac-Sha256";

pub(super) fn prepare(credentials: Credentials) -> Result<BodyMac<Hmac<Sha256>>, Unfit> {
    BodyMac::new(credentials, HEADER, "", base64_tag, |tag| {
        BASE64.encode(tag)
    })
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderName, HeaderValue};

    use super::super::common::tests::{at, from_signed, headers};
    use super::super::{Scheme, Verifier, VerifyError};
    use super::*;

    // Shopify publishes no test vector; computed independently with Python:
    // python3 -c "import hmac,hashlib,base64; print(base64.b64encode(hmac.new(
    // b'shpss_test_secret', b'{\"id\":820982911946154508,\"email\":\"jon@example.com\"}',
    // hashlib.sha256).digest()).decode())"
    const SECRET: &str = "shpss_test_secret";
    const BODY: &[u8] = br#"{"id":820982911946154508,"email":"jon@example.com"}"#;
    const SIG: &str = "LnwdZPLBbdjkBwPD/lDL1/rYEGby/GHPtL1aAH6Dxjc=";

    fn verifier(secret: &str) -> Verifier {
        Verifier::new(
            Scheme::Shopify,
            Credentials::Secret(secret.as_bytes().into()),
        )
        .unwrap()
    }

    /// Time plays no part in Shopify's signature.
    fn now() -> std::time::SystemTime {
        at(1_700_000_000)
    }

    fn request(value: &str) -> HeaderMap {
        headers(&[(HEADER, value)])
    }

    #[test]
    fn python_vector_verifies_and_signs() {
        let v = verifier(SECRET);
        assert_eq!(v.verify(&request(SIG), BODY, now()), Ok(()));
        assert_eq!(
            v.sign(BODY, now()),
            vec![(
                HeaderName::from_static("x-shopify-hmac-sha256"),
                HeaderValue::from_static(SIG)
            )]
        );
        // Unpadded base64 is accepted as well.
        let unpadded = SIG.trim_end_matches('=');
        assert_eq!(v.verify(&request(unpadded), BODY, now()), Ok(()));
    }

    #[test]
    fn rejects_missing_malformed_wrong_secret_and_tampered_body() {
        let v = verifier(SECRET);
        assert_eq!(
            v.verify(&HeaderMap::new(), BODY, now()),
            Err(VerifyError::Missing(HEADER.into()))
        );
        let hex = "2e7c1d64f2c16dd8e40703c3fe50cbd7fad81066f2fc61cfb4bd5a007e83c637";
        for bad in [
            "",
            "not base64!",
            "sha256=LnwdZPLBbdjkBwPD/lDL1/rYEGby/GHPtL1aAH6Dxjc=",
            hex,
        ] {
            let got = v.verify(&request(bad), BODY, now());
            // The hex spelling happens to be valid base64 of 48 bytes: not a
            // SHA-256 tag, so it cannot match.
            let want = if bad == hex {
                VerifyError::Mismatch(HEADER)
            } else {
                VerifyError::Malformed(HEADER)
            };
            assert_eq!(got, Err(want), "{bad:?}");
        }
        // Base64url ("-_" for "+/") is not what Shopify sends.
        let url_safe = SIG.replace('/', "_");
        assert_eq!(
            v.verify(&request(&url_safe), BODY, now()),
            Err(VerifyError::Malformed(HEADER))
        );
        assert_eq!(
            verifier("shpss_other").verify(&request(SIG), BODY, now()),
            Err(VerifyError::Mismatch(HEADER))
        );
        let tampered = br#"{"id":820982911946154509,"email":"jon@example.com"}"#;
        assert_eq!(
            v.verify(&request(SIG), tampered, now()),
            Err(VerifyError::Mismatch(HEADER))
        );
        let mut twice = request(SIG);
        twice.append(HEADER, HeaderValue::from_static(SIG));
        assert_eq!(
            v.verify(&twice, BODY, now()),
            Err(VerifyError::Malformed(HEADER))
        );
    }

    #[test]
    fn sign_output_verifies() {
        let v = verifier("another secret");
        let body = b"{}";
        assert_eq!(
            v.verify(&from_signed(v.sign(body, now())), body, now()),
            Ok(())
        );
    }
}
