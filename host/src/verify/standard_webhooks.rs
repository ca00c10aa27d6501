//! Standard Webhooks (standardwebhooks.com): `webhook-id`,
//! `webhook-timestamp` (Unix seconds) and `webhook-signature`, a
//! space-separated list of `<version>,<signature>` entries. A `v1` entry is
//! the base64 HMAC-SHA256 of `"{id}.{timestamp}.{body}"`; any one matching
//! passes (senders list several while rotating keys) and other versions
//! (e.g. the asymmetric `v1a`) are ignored.
//!
//! The secret is base64 of the key bytes, usually with a `whsec_` prefix.
//! A secret without the prefix is decoded as base64 too, as the reference
//! libraries do; if it is not base64 the plugin fails to load.

use std::time::SystemTime;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::common::{
    BASE64, base64_tag, check_fresh, mac_of, matches_any, parse_timestamp, signed, single, text,
    unix_seconds,
};
use super::{Check, Credentials, Unfit, VerifyError, keyed, secret};

const ID: &str = "webhook-id";
const TIMESTAMP: &str = "webhook-timestamp";
const SIGNATURE: &str = "webhook-signature";
const PREFIX: &[u8] = b"whsec_";

pub(super) struct StandardWebhooks(Hmac<Sha256>);

/// The HMAC key from the secret as configured. The reason never quotes it.
fn decode_secret(secret: &[u8]) -> Result<Vec<u8>, &'static str> {
    let encoded = secret.strip_prefix(PREFIX).unwrap_or(secret);
    BASE64
        .decode(encoded)
        .map_err(|_| "the secret is not base64 (after an optional whsec_ prefix)")
}

pub(super) fn prepare(credentials: Credentials) -> Result<StandardWebhooks, Unfit> {
    let key = decode_secret(&secret(credentials)?)?;
    // `keyed` refuses an empty key, e.g. a bare `whsec_`.
    keyed(&key).map(StandardWebhooks)
}

impl Check for StandardWebhooks {
    fn verify(&self, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Result<(), VerifyError> {
        let id = text(single(headers, ID)?, ID)?;
        if id.is_empty() {
            return Err(VerifyError::Malformed(ID));
        }
        let timestamp = text(single(headers, TIMESTAMP)?, TIMESTAMP)?;
        let seconds = parse_timestamp(timestamp, TIMESTAMP)?;
        let candidates: Vec<Vec<u8>> = text(single(headers, SIGNATURE)?, SIGNATURE)?
            .split(' ')
            .filter_map(|entry| entry.split_once(','))
            .filter(|(version, _)| *version == "v1")
            .filter_map(|(_, signature)| base64_tag(signature))
            .collect();
        if candidates.is_empty() {
            return Err(VerifyError::Malformed(SIGNATURE));
        }
        check_fresh(seconds, now, TIMESTAMP)?;
        let expected = tag(&self.0, id, timestamp, body);
        matches_any(&expected, candidates.iter().map(Vec::as_slice), SIGNATURE)
    }

    /// A fresh `msg_<uuid>` id, `now` as the timestamp, one `v1` signature.
    fn sign(&self, body: &[u8], now: SystemTime) -> Vec<(HeaderName, HeaderValue)> {
        let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let timestamp = unix_seconds(now).to_string();
        let signature = format!("v1,{}", BASE64.encode(tag(&self.0, &id, &timestamp, body)));
        signed([(ID, id), (TIMESTAMP, timestamp), (SIGNATURE, signature)])
    }
}

fn tag(mac: &Hmac<Sha256>, id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let signed: [&[u8]; 5] = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
    mac_of(mac, &signed).finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::super::common::tests::{at, from_signed, headers};
    use super::super::{ConfigError, Credentials, Scheme, Verifier};
    use super::*;

    // The vector of the Standard Webhooks reference libraries' tests
    // (github.com/standard-webhooks/standard-webhooks, e.g.
    // libraries/python/standardwebhooks/tests.py and the JavaScript
    // index.test.ts): secret, id, timestamp, payload and signature verbatim.
    // Cross-checked: python3 -c "import hmac,hashlib,base64; k=base64.b64decode(
    // 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'); print(base64.b64encode(hmac.new(k,
    // b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}',
    // hashlib.sha256).digest()).decode())"
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: u64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn verifier(secret: &str) -> Verifier {
        Verifier::new(
            Scheme::StandardWebhooks,
            Credentials::Secret(secret.as_bytes().into()),
        )
        .unwrap()
    }

    fn request(signature: &str) -> HeaderMap {
        headers(&[
            (ID, MSG_ID),
            (TIMESTAMP, &TS.to_string()),
            (SIGNATURE, signature),
        ])
    }

    #[test]
    fn reference_vector_verifies() {
        assert_eq!(verifier(SECRET).verify(&request(SIG), BODY, at(TS)), Ok(()));
        // Header names are case-insensitive.
        let upper = headers(&[
            ("Webhook-Id", MSG_ID),
            ("Webhook-Timestamp", "1614265330"),
            ("Webhook-Signature", SIG),
        ]);
        assert_eq!(verifier(SECRET).verify(&upper, BODY, at(TS)), Ok(()));
    }

    #[test]
    fn secret_without_prefix_is_base64_too() {
        let bare = SECRET.strip_prefix("whsec_").unwrap();
        assert_eq!(verifier(bare).verify(&request(SIG), BODY, at(TS)), Ok(()));
        // Padding is optional on secrets: 24 bytes need none, 25 need "=".
        let padded = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAA==";
        let unpadded = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAA";
        let signed = from_signed(verifier(padded).sign(BODY, at(TS)));
        assert_eq!(verifier(unpadded).verify(&signed, BODY, at(TS)), Ok(()));
    }

    #[test]
    fn secret_that_is_not_base64_fails_to_load_without_quoting_it() {
        for secret in [
            "whsec_not base64!",
            "Sup3r-S3cret-not-base64",
            "whsec_MfKQ\n",
        ] {
            let err = Verifier::new(
                Scheme::StandardWebhooks,
                Credentials::Secret(secret.as_bytes().into()),
            )
            .unwrap_err();
            assert_eq!(
                err,
                ConfigError::Invalid {
                    scheme: Scheme::StandardWebhooks,
                    reason: "the secret is not base64 (after an optional whsec_ prefix)",
                }
            );
            assert!(!err.to_string().contains("Sup3r"));
            assert!(!err.to_string().contains("base64!"));
        }
    }

    #[test]
    fn any_v1_entry_may_match_and_others_are_ignored() {
        let v = verifier(SECRET);
        let wrong = "v1,Ceb6KvoUbZ2DnmHJdsCvXKRH7DKpIJG6R9BRPEXUm1E=";
        for list in [
            format!("{wrong} {SIG}"),
            format!("{SIG} {wrong}"),
            format!("v1a,{} {SIG}", "A".repeat(86)),
            format!("v2,whatever {SIG} v1,!!notbase64!!"),
            format!("garbage  {SIG}"),
        ] {
            assert_eq!(v.verify(&request(&list), BODY, at(TS)), Ok(()), "{list}");
        }
        // None matching: a mismatch. None usable at all: malformed.
        let two_wrong = format!("{wrong} v1,{}", "A".repeat(44));
        assert_eq!(
            v.verify(&request(&two_wrong), BODY, at(TS)),
            Err(VerifyError::Mismatch(SIGNATURE))
        );
        for unusable in [
            "",
            "v1,",
            "v1a,abc",
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v1,%%%",
            "V1,x",
        ] {
            assert_eq!(
                v.verify(&request(unusable), BODY, at(TS)),
                Err(VerifyError::Malformed(SIGNATURE)),
                "{unusable:?}"
            );
        }
    }

    #[test]
    fn rejects_missing_and_malformed_headers() {
        let v = verifier(SECRET);
        let ts = TS.to_string();
        for (name, pairs) in [
            (ID, vec![(TIMESTAMP, ts.as_str()), (SIGNATURE, SIG)]),
            (TIMESTAMP, vec![(ID, MSG_ID), (SIGNATURE, SIG)]),
            (SIGNATURE, vec![(ID, MSG_ID), (TIMESTAMP, ts.as_str())]),
        ] {
            assert_eq!(
                v.verify(&headers(&pairs), BODY, at(TS)),
                Err(VerifyError::Missing(name.into()))
            );
        }
        for bad_ts in ["", "1614265330.5", "-1614265330", "soon", "0x6037"] {
            let request = headers(&[(ID, MSG_ID), (TIMESTAMP, bad_ts), (SIGNATURE, SIG)]);
            assert_eq!(
                v.verify(&request, BODY, at(TS)),
                Err(VerifyError::Malformed(TIMESTAMP)),
                "{bad_ts:?}"
            );
        }
        let empty_id = headers(&[(ID, ""), (TIMESTAMP, &ts), (SIGNATURE, SIG)]);
        assert_eq!(
            v.verify(&empty_id, BODY, at(TS)),
            Err(VerifyError::Malformed(ID))
        );
        let mut twice = request(SIG);
        twice.append(ID, HeaderValue::from_static("msg_other"));
        assert_eq!(
            v.verify(&twice, BODY, at(TS)),
            Err(VerifyError::Malformed(ID))
        );
    }

    #[test]
    fn rejects_wrong_secret_tampered_body_and_other_id() {
        let other = "whsec_Ceb6KvoUbZ2DnmHJdsCvXKRH7DKpIJG6";
        assert_eq!(
            verifier(other).verify(&request(SIG), BODY, at(TS)),
            Err(VerifyError::Mismatch(SIGNATURE))
        );
        let v = verifier(SECRET);
        assert_eq!(
            v.verify(&request(SIG), br#"{"test": 2432232315}"#, at(TS)),
            Err(VerifyError::Mismatch(SIGNATURE))
        );
        let other_id = headers(&[
            (ID, "msg_other"),
            (TIMESTAMP, "1614265330"),
            (SIGNATURE, SIG),
        ]);
        assert_eq!(
            v.verify(&other_id, BODY, at(TS)),
            Err(VerifyError::Mismatch(SIGNATURE))
        );
    }

    #[test]
    fn timestamp_within_five_minutes_either_way() {
        let v = verifier(SECRET);
        for now in [TS - 300, TS - 1, TS + 1, TS + 300] {
            assert_eq!(v.verify(&request(SIG), BODY, at(now)), Ok(()), "{now}");
        }
        for now in [TS - 301, TS + 301, TS + 86_400] {
            let err = v.verify(&request(SIG), BODY, at(now)).unwrap_err();
            assert_eq!(err, VerifyError::Stale(TIMESTAMP));
            assert_eq!(
                err.to_string(),
                "webhook-timestamp is outside the 5-minute tolerance"
            );
        }
        // The timestamp is signed: moving it into the window breaks the signature.
        let moved = headers(&[(ID, MSG_ID), (TIMESTAMP, "1614265630"), (SIGNATURE, SIG)]);
        assert_eq!(
            v.verify(&moved, BODY, at(TS + 301)),
            Err(VerifyError::Mismatch(SIGNATURE))
        );
    }

    #[test]
    fn sign_output_verifies_and_matches_the_vector_form() {
        let v = verifier(SECRET);
        let now = at(1_700_000_000);
        let signed = from_signed(v.sign(BODY, now));
        assert_eq!(v.verify(&signed, BODY, now), Ok(()));
        assert_eq!(signed[TIMESTAMP], "1700000000");
        assert!(signed[ID].to_str().unwrap().starts_with("msg_"));
        let signature = signed[SIGNATURE].to_str().unwrap();
        assert!(
            signature.starts_with("v1,") && signature.len() == 47,
            "{signature}"
        );
        // Given the vector's id and time, the signature is the vector's.
        let expected = tag(
            &Hmac::new_from_slice(&decode_secret(SECRET.as_bytes()).unwrap()).unwrap(),
            MSG_ID,
            "1614265330",
            BODY,
        );
        assert_eq!(format!("v1,{}", BASE64.encode(expected)), SIG);
    }
}
