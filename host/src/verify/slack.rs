//! Slack: `X-Slack-Signature: v0=<hex>`, the HMAC-SHA256 of
//! `"v0:{X-Slack-Request-Timestamp}:{body}"` keyed with the app's signing
//! secret; the timestamp must be within five minutes of now. Slack sends one
//! signature per request (no rotation within a request).

use std::time::SystemTime;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::common::{
    check_fresh, hex_tag, mac_of, parse_timestamp, signed, single, text, unix_seconds,
};
use super::{Check, Credentials, Unfit, VerifyError, hmac_key};

const SIGNATURE: &str = "X-Slack-Signature";
const TIMESTAMP: &str = "X-Slack-Request-Timestamp";

pub(super) struct Slack(Hmac<Sha256>);

pub(super) fn prepare(credentials: Credentials) -> Result<Slack, Unfit> {
    hmac_key(credentials).map(Slack)
}

impl Check for Slack {
    fn verify(&self, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Result<(), VerifyError> {
        let timestamp = text(single(headers, TIMESTAMP)?, TIMESTAMP)?;
        let seconds = parse_timestamp(timestamp, TIMESTAMP)?;
        let claimed = text(single(headers, SIGNATURE)?, SIGNATURE)?
            .strip_prefix("v0=")
            .and_then(hex_tag)
            .ok_or(VerifyError::Malformed(SIGNATURE))?;
        check_fresh(seconds, now, TIMESTAMP)?;
        // Constant time; a tag of the wrong length does not match.
        mac_of(&self.0, &[b"v0:", timestamp.as_bytes(), b":", body])
            .verify_slice(&claimed)
            .map_err(|_| VerifyError::Mismatch(SIGNATURE))
    }

    fn sign(&self, body: &[u8], now: SystemTime) -> Vec<(HeaderName, HeaderValue)> {
        let timestamp = unix_seconds(now).to_string();
        let tag = mac_of(&self.0, &[b"v0:", timestamp.as_bytes(), b":", body]);
        let tag = tag.finalize().into_bytes();
        let signature = format!("v0={}", hex::encode(tag));
        signed([(TIMESTAMP, timestamp), (SIGNATURE, signature)])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::tests::{at, from_signed, headers};
    use super::super::{Credentials, Scheme, Verifier};
    use super::*;

    // Slack's docs, "Verifying requests from Slack"
    // (api.slack.com/authentication/verifying-requests-from-slack, now
    // docs.slack.dev/authentication/verifying-requests-from-slack): the worked
    // example's signing secret, timestamp, slash-command body and signature.
    // The body is as quoted by several independent test suites of that
    // example; it reproduces the documented signature:
    // python3 -c "import hmac,hashlib; print(hmac.new(
    // b'8f742231b10e8888abcd99yyyzzz85a5', b'v0:1531420618:' + BODY,
    // hashlib.sha256).hexdigest())"  (with BODY the bytes below)
    const DOC_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const DOC_TS: u64 = 1531420618;
    const DOC_BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&\
team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&\
user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2F\
hooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&\
trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const DOC_SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn verifier(secret: &str) -> Verifier {
        Verifier::new(Scheme::Slack, Credentials::Secret(secret.as_bytes().into())).unwrap()
    }

    fn request(timestamp: &str, signature: &str) -> HeaderMap {
        headers(&[(TIMESTAMP, timestamp), (SIGNATURE, signature)])
    }

    fn doc_request() -> HeaderMap {
        request(&DOC_TS.to_string(), DOC_SIG)
    }

    #[test]
    fn slack_docs_example_verifies_and_signs() {
        let v = verifier(DOC_SECRET);
        assert_eq!(v.verify(&doc_request(), DOC_BODY, at(DOC_TS)), Ok(()));
        assert_eq!(from_signed(v.sign(DOC_BODY, at(DOC_TS))), doc_request());
        let upper = format!("v0={}", DOC_SIG[3..].to_uppercase());
        assert_eq!(
            v.verify(&request("1531420618", &upper), DOC_BODY, at(DOC_TS)),
            Ok(())
        );
    }

    #[test]
    fn rejects_missing_and_malformed() {
        let v = verifier(DOC_SECRET);
        let only_sig = headers(&[(SIGNATURE, DOC_SIG)]);
        assert_eq!(
            v.verify(&only_sig, DOC_BODY, at(DOC_TS)),
            Err(VerifyError::Missing(TIMESTAMP.into()))
        );
        let only_ts = headers(&[(TIMESTAMP, "1531420618")]);
        assert_eq!(
            v.verify(&only_ts, DOC_BODY, at(DOC_TS)),
            Err(VerifyError::Missing(SIGNATURE.into()))
        );
        let digits = &DOC_SIG[3..];
        for bad in [
            digits.to_owned(),
            format!("v1={digits}"),
            format!("v0={}", &digits[1..]),
            "v0=".into(),
        ] {
            assert_eq!(
                v.verify(&request("1531420618", &bad), DOC_BODY, at(DOC_TS)),
                Err(VerifyError::Malformed(SIGNATURE)),
                "{bad}"
            );
        }
        for bad in ["", "1531420618.0", "now", "-1"] {
            assert_eq!(
                v.verify(&request(bad, DOC_SIG), DOC_BODY, at(DOC_TS)),
                Err(VerifyError::Malformed(TIMESTAMP)),
                "{bad}"
            );
        }
        // No rotation in Slack's scheme: a second signature header is malformed.
        let mut twice = doc_request();
        twice.append(SIGNATURE, HeaderValue::from_static(DOC_SIG));
        assert_eq!(
            v.verify(&twice, DOC_BODY, at(DOC_TS)),
            Err(VerifyError::Malformed(SIGNATURE))
        );
    }

    #[test]
    fn rejects_wrong_secret_tampered_body_and_moved_timestamp() {
        assert_eq!(
            verifier("8f742231b10e8888abcd99yyyzzz85a6").verify(
                &doc_request(),
                DOC_BODY,
                at(DOC_TS)
            ),
            Err(VerifyError::Mismatch(SIGNATURE))
        );
        let v = verifier(DOC_SECRET);
        let mut tampered = DOC_BODY.to_vec();
        tampered.extend_from_slice(b"&x=1");
        assert_eq!(
            v.verify(&doc_request(), &tampered, at(DOC_TS)),
            Err(VerifyError::Mismatch(SIGNATURE))
        );
        assert_eq!(
            v.verify(&request("1531420619", DOC_SIG), DOC_BODY, at(DOC_TS)),
            Err(VerifyError::Mismatch(SIGNATURE))
        );
        let truncated = &DOC_SIG[..DOC_SIG.len() - 2];
        assert_eq!(
            v.verify(&request("1531420618", truncated), DOC_BODY, at(DOC_TS)),
            Err(VerifyError::Mismatch(SIGNATURE))
        );
    }

    #[test]
    fn timestamp_within_five_minutes_either_way() {
        let v = verifier(DOC_SECRET);
        for now in [DOC_TS - 300, DOC_TS + 300] {
            assert_eq!(v.verify(&doc_request(), DOC_BODY, at(now)), Ok(()), "{now}");
        }
        for now in [DOC_TS - 301, DOC_TS + 301] {
            let err = v.verify(&doc_request(), DOC_BODY, at(now)).unwrap_err();
            assert_eq!(err, VerifyError::Stale(TIMESTAMP));
            assert_eq!(
                err.to_string(),
                "X-Slack-Request-Timestamp is outside the 5-minute tolerance"
            );
        }
    }

    #[test]
    fn sign_output_verifies() {
        let v = verifier("another signing secret");
        let now = at(1_800_000_000);
        let body = br#"{"type":"event_callback","event_id":"Ev1"}"#;
        assert_eq!(v.verify(&from_signed(v.sign(body, now)), body, now), Ok(()));
    }
}
