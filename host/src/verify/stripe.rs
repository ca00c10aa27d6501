//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=<hex>]`.
//! A `v1` is the hex HMAC-SHA256 of `"{t}.{body}"` keyed with the endpoint's
//! signing secret used literally as bytes (`whsec_…` included, not decoded).
//! Any one `v1` matching passes (Stripe sends one per active secret while a
//! secret is being rolled); `v0` (test-mode legacy) and unknown keys are
//! ignored. `t` must be within five minutes of now.

use std::time::SystemTime;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::common::{
    check_fresh, hex_tag, mac_of, matches_any, parse_timestamp, signed, single, text, unix_seconds,
};
use super::{Check, Credentials, Unfit, VerifyError, hmac_key};

const HEADER: &str = "Stripe-Signature";
/// For `Stale`: "Stripe-Signature timestamp is outside the 5-minute tolerance".
const TIMESTAMP: &str = "Stripe-Signature timestamp";

pub(super) struct Stripe(Hmac<Sha256>);

pub(super) fn prepare(credentials: Credentials) -> Result<Stripe, Unfit> {
    hmac_key(credentials).map(Stripe)
}

impl Check for Stripe {
    fn verify(&self, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Result<(), VerifyError> {
        let malformed = VerifyError::Malformed(HEADER);
        let mut timestamp = None;
        let mut candidates = Vec::new();
        for item in text(single(headers, HEADER)?, HEADER)?.split(',') {
            let (key, value) = item.trim().split_once('=').ok_or(malformed.clone())?;
            match key {
                // Two `t`s would leave it unclear which one was signed.
                "t" if timestamp.replace(value).is_some() => return Err(malformed),
                "t" => {}
                // An entry that is not hex cannot match; others still may.
                "v1" => candidates.extend(hex_tag(value)),
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or(malformed.clone())?;
        let seconds = parse_timestamp(timestamp, HEADER)?;
        if candidates.is_empty() {
            return Err(malformed);
        }
        check_fresh(seconds, now, TIMESTAMP)?;
        let expected = tag(&self.0, timestamp, body);
        matches_any(&expected, candidates.iter().map(Vec::as_slice), HEADER)
    }

    fn sign(&self, body: &[u8], now: SystemTime) -> Vec<(HeaderName, HeaderValue)> {
        let timestamp = unix_seconds(now).to_string();
        let signature = hex::encode(tag(&self.0, &timestamp, body));
        signed([(HEADER, format!("t={timestamp},v1={signature}"))])
    }
}

fn tag(mac: &Hmac<Sha256>, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mac = mac_of(mac, &[timestamp.as_bytes(), b".", body]);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::super::common::tests::{at, from_signed, headers};
    use super::super::{Credentials, Scheme, Verifier};
    use super::*;

    // Stripe publishes no test vector; computed independently with Python:
    // python3 -c "import hmac,hashlib; print(hmac.new(b'whsec_test_secret',
    // b'1700000000.{\"id\":\"evt_1\",\"object\":\"event\"}', hashlib.sha256).hexdigest())"
    const SECRET: &str = "whsec_test_secret";
    const TS: u64 = 1700000000;
    const BODY: &[u8] = br#"{"id":"evt_1","object":"event"}"#;
    const V1: &str = "0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd";

    fn verifier(secret: &str) -> Verifier {
        Verifier::new(
            Scheme::Stripe,
            Credentials::Secret(secret.as_bytes().into()),
        )
        .unwrap()
    }

    fn request(value: &str) -> HeaderMap {
        headers(&[(HEADER, value)])
    }

    fn good() -> String {
        format!("t={TS},v1={V1}")
    }

    #[test]
    fn python_vector_verifies_and_signs() {
        let v = verifier(SECRET);
        assert_eq!(v.verify(&request(&good()), BODY, at(TS)), Ok(()));
        let signed = v.sign(BODY, at(TS));
        assert_eq!(signed.len(), 1);
        assert_eq!(signed[0].0, "stripe-signature");
        assert_eq!(signed[0].1, good());
        // Upper-case hex, spaces after commas, and a v0 entry are all fine.
        let loose = format!("t={TS}, v1={}, v0=abcdef", V1.to_uppercase());
        assert_eq!(v.verify(&request(&loose), BODY, at(TS)), Ok(()));
    }

    #[test]
    fn a_base64_looking_whsec_secret_is_still_used_literally() {
        // Unlike standard-webhooks, the secret is not base64-decoded, even when
        // it would decode. python3 -c "import hmac,hashlib; print(hmac.new(
        // b'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', b'1614265330.{\"test\":
        // 2432232314}', hashlib.sha256).hexdigest())"
        let v = verifier("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let literal = "t=1614265330,\
            v1=2e37df5d4a028c51a7f3133d64ae1e300d2c2c900f1b1d49d4369ad2530f8964";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(v.verify(&request(literal), body, at(1614265330)), Ok(()));
    }

    #[test]
    fn any_v1_may_match() {
        let v = verifier(SECRET);
        let wrong = "0".repeat(64);
        for value in [
            format!("t={TS},v1={wrong},v1={V1}"),
            format!("t={TS},v1={V1},v1={wrong}"),
            format!("v1={wrong},v0={V1},v1={V1},t={TS}"),
            format!("t={TS},v1=nothex,v1={V1},scheme=x"),
        ] {
            assert_eq!(v.verify(&request(&value), BODY, at(TS)), Ok(()), "{value}");
        }
        // A matching signature under v0 does not count.
        let only_v0 = format!("t={TS},v0={V1},v1={wrong}");
        assert_eq!(
            v.verify(&request(&only_v0), BODY, at(TS)),
            Err(VerifyError::Mismatch(HEADER))
        );
    }

    #[test]
    fn rejects_missing_and_malformed() {
        let v = verifier(SECRET);
        assert_eq!(
            v.verify(&HeaderMap::new(), BODY, at(TS)),
            Err(VerifyError::Missing(HEADER.into()))
        );
        for bad in [
            String::new(),
            format!("v1={V1}"),               // no t
            format!("t={TS}"),                // no v1
            format!("t={TS},v0={V1}"),        // only v0
            format!("t={TS},v1=xyz"),         // no usable v1
            format!("t={TS},v1="),            // empty v1
            format!("t={TS}.5,v1={V1}"),      // fractional t
            format!("t=,v1={V1}"),            // empty t
            format!("t={TS},t={TS},v1={V1}"), // two t
            format!("t={TS};v1={V1}"),        // wrong separator
            format!("t={TS},v1{V1}"),         // item without "="
        ] {
            assert_eq!(
                v.verify(&request(&bad), BODY, at(TS)),
                Err(VerifyError::Malformed(HEADER)),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_wrong_secret_and_tampered_body_or_timestamp() {
        assert_eq!(
            verifier("whsec_other").verify(&request(&good()), BODY, at(TS)),
            Err(VerifyError::Mismatch(HEADER))
        );
        let v = verifier(SECRET);
        assert_eq!(
            v.verify(
                &request(&good()),
                br#"{"id":"evt_2","object":"event"}"#,
                at(TS)
            ),
            Err(VerifyError::Mismatch(HEADER))
        );
        let moved = format!("t={},v1={V1}", TS + 1);
        assert_eq!(
            v.verify(&request(&moved), BODY, at(TS)),
            Err(VerifyError::Mismatch(HEADER))
        );
    }

    #[test]
    fn timestamp_within_five_minutes_either_way() {
        let v = verifier(SECRET);
        for now in [TS - 300, TS, TS + 300] {
            assert_eq!(v.verify(&request(&good()), BODY, at(now)), Ok(()), "{now}");
        }
        for now in [TS - 301, TS + 301] {
            let err = v.verify(&request(&good()), BODY, at(now)).unwrap_err();
            assert_eq!(err, VerifyError::Stale(TIMESTAMP));
            assert_eq!(
                err.to_string(),
                "Stripe-Signature timestamp is outside the 5-minute tolerance"
            );
        }
    }

    #[test]
    fn sign_output_verifies() {
        let v = verifier("whsec_another");
        let now = at(1_800_000_000);
        let signed = from_signed(v.sign(BODY, now));
        assert_eq!(v.verify(&signed, BODY, now), Ok(()));
    }
}
