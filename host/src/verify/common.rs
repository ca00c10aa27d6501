//! Pieces the schemes share: reading one header, timestamps, constant-time
//! comparisons, encodings, and the one-header HMAC of the body that GitHub,
//! Shopify and Pyrus send.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::header::GetAll;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::Mac;
use hmac::digest::KeyInit;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::{Check, Credentials, Unfit, VerifyError, hmac_key};

/// How far a signed timestamp may lie before or after now: five minutes, as
/// Stripe, Slack and Standard Webhooks all recommend. Exactly 300 s off is
/// still accepted; 301 s is not.
pub const TOLERANCE: Duration = Duration::from_secs(300);

/// Standard base64 with `+/`, padded on output, padding optional on input
/// (some senders and most hand-written secrets drop the `=`).
pub(super) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The one value of `header`. Absent is `Missing`; sent twice is
/// `Malformed`, since it is then unclear which one the sender signed.
pub(super) fn single<'a>(
    headers: &'a HeaderMap,
    header: &'static str,
) -> Result<&'a HeaderValue, VerifyError> {
    only(headers.get_all(header), || header.into(), header)
}

/// [`single`] for a header known only from the sidecar (the token scheme's
/// `token_header`): `spelled` names it when missing, `label` when sent twice.
pub(super) fn only<'a>(
    values: GetAll<'a, HeaderValue>,
    spelled: impl FnOnce() -> Cow<'static, str>,
    label: &'static str,
) -> Result<&'a HeaderValue, VerifyError> {
    let mut values = values.iter();
    let first = values
        .next()
        .ok_or_else(|| VerifyError::Missing(spelled()))?;
    if values.next().is_some() {
        return Err(VerifyError::Malformed(label));
    }
    Ok(first)
}

/// The header's text, trimmed; anything but visible ASCII is `Malformed`.
pub(super) fn text<'a>(value: &'a HeaderValue, name: &'static str) -> Result<&'a str, VerifyError> {
    value
        .to_str()
        .map(str::trim)
        .map_err(|_| VerifyError::Malformed(name))
}

/// Unix seconds as senders write them: 1 to 19 ASCII digits, nothing else
/// (no sign, no fraction). The text itself is what gets signed, so callers
/// keep it; this only checks and reads it.
pub(super) fn parse_timestamp(text: &str, name: &'static str) -> Result<u64, VerifyError> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::Malformed(name));
    }
    text.parse().map_err(|_| VerifyError::Malformed(name))
}

/// Whole seconds since the Unix epoch, negative before it.
fn seconds(now: SystemTime) -> i128 {
    match now.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::from(after.as_secs()),
        Err(before) => -i128::from(before.duration().as_secs()),
    }
}

/// `Stale(name)` unless `timestamp` is within [`TOLERANCE`] of `now`, in
/// either direction (a timestamp from the future is as suspect as an old one).
pub(super) fn check_fresh(
    timestamp: u64,
    now: SystemTime,
    name: &'static str,
) -> Result<(), VerifyError> {
    let skew = (seconds(now) - i128::from(timestamp)).unsigned_abs();
    if skew > u128::from(TOLERANCE.as_secs()) {
        return Err(VerifyError::Stale(name));
    }
    Ok(())
}

/// `now` as the Unix seconds a sender would put in its header.
pub(super) fn unix_seconds(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map_or(0, |after| after.as_secs())
}

/// `Mismatch(name)` unless a candidate equals `expected`, in constant time
/// for each candidate of the right length. All candidates are compared (no
/// early exit on a match); a length difference is public and rejects at once.
pub(super) fn matches_any<'a>(
    expected: &[u8],
    candidates: impl IntoIterator<Item = &'a [u8]>,
    name: &'static str,
) -> Result<(), VerifyError> {
    let mut any = Choice::from(0);
    for candidate in candidates {
        any |= expected.ct_eq(candidate);
    }
    bool::from(any)
        .then_some(())
        .ok_or(VerifyError::Mismatch(name))
}

/// SHA-256 of a token, user or password, so that comparing two of them costs
/// the same whatever their lengths and wherever they first differ.
pub(super) fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub(super) fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> Choice {
    a.as_slice().ct_eq(b.as_slice())
}

/// Headers for `sign`: each a scheme's own name, spelled as its sender
/// documents it, and text this module produced itself (hex, base64, digits
/// and fixed prefixes), which are always valid. Should that ever not hold,
/// the header is left out, which fails verification rather than panicking.
pub(super) fn signed<const N: usize>(
    pairs: [(&'static str, String); N],
) -> Vec<(HeaderName, HeaderValue)> {
    let header = |(name, text): (&str, String)| {
        Some((
            HeaderName::try_from(name).ok()?,
            HeaderValue::try_from(text).ok()?,
        ))
    };
    pairs.into_iter().filter_map(header).collect()
}

/// A non-empty tag in hex of either case.
pub(super) fn hex_tag(text: &str) -> Option<Vec<u8>> {
    hex::decode(text).ok().filter(|tag| !tag.is_empty())
}

/// A non-empty tag in [`BASE64`].
pub(super) fn base64_tag(text: &str) -> Option<Vec<u8>> {
    BASE64.decode(text).ok().filter(|tag| !tag.is_empty())
}

/// The keyed HMAC state after `parts`, in order.
pub(super) fn mac_of<M: Mac + Clone>(key: &M, parts: &[&[u8]]) -> M {
    let mut mac = key.clone();
    for part in parts {
        mac.update(part);
    }
    mac
}

/// A scheme whose sender puts one HMAC of the raw body in one header, as
/// `{prefix}{tag}`. The same header twice is malformed: there is no key
/// rotation within a request, so it is unclear which one was signed.
pub(super) struct BodyMac<M> {
    mac: M,
    /// Spelled as the sender documents it, for errors.
    header: &'static str,
    /// Matched in either case (`sha256=` or `SHA256=`).
    prefix: &'static str,
    /// The tag the text after the prefix spells; `None` is malformed.
    decode: fn(&str) -> Option<Vec<u8>>,
    encode: fn(&[u8]) -> String,
}

impl<M: Mac + KeyInit + Clone> BodyMac<M> {
    pub(super) fn new(
        credentials: Credentials,
        header: &'static str,
        prefix: &'static str,
        decode: fn(&str) -> Option<Vec<u8>>,
        encode: fn(&[u8]) -> String,
    ) -> Result<BodyMac<M>, Unfit> {
        Ok(BodyMac {
            mac: hmac_key(credentials)?,
            header,
            prefix,
            decode,
            encode,
        })
    }
}

impl<M: Mac + Clone + Send + Sync> Check for BodyMac<M> {
    fn verify(&self, headers: &HeaderMap, body: &[u8], _: SystemTime) -> Result<(), VerifyError> {
        let value = text(single(headers, self.header)?, self.header)?;
        let claimed = value
            .split_at_checked(self.prefix.len())
            .filter(|(prefix, _)| prefix.eq_ignore_ascii_case(self.prefix))
            .and_then(|(_, encoded)| (self.decode)(encoded))
            .ok_or(VerifyError::Malformed(self.header))?;
        // Constant time; a tag of the wrong length does not match.
        mac_of(&self.mac, &[body])
            .verify_slice(&claimed)
            .map_err(|_| VerifyError::Mismatch(self.header))
    }

    fn sign(&self, body: &[u8], _: SystemTime) -> Vec<(HeaderName, HeaderValue)> {
        let tag = mac_of(&self.mac, &[body]).finalize().into_bytes();
        let value = format!("{}{}", self.prefix, (self.encode)(&tag));
        signed([(self.header, value)])
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use axum::http::{HeaderMap, HeaderName, HeaderValue};

    use super::*;

    /// `SystemTime` for Unix second `secs`.
    pub fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// A header map from (name, value) pairs; repeats append.
    pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    /// A header map from `Verifier::sign` output.
    pub fn from_signed(pairs: Vec<(HeaderName, HeaderValue)>) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name, value);
        }
        map
    }

    #[test]
    fn timestamps_are_plain_digits() {
        assert_eq!(parse_timestamp("1614265330", "t"), Ok(1614265330));
        assert_eq!(parse_timestamp("0", "t"), Ok(0));
        for bad in [
            "",
            "+1",
            "-1",
            "1.5",
            "1e9",
            " 1",
            "0x10",
            "99999999999999999999",
        ] {
            assert_eq!(
                parse_timestamp(bad, "t"),
                Err(VerifyError::Malformed("t")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn tolerance_is_five_minutes_both_ways_inclusive() {
        let ts = 1_700_000_000;
        for skew in [0, 1, 299, 300] {
            assert_eq!(check_fresh(ts, at(ts + skew), "t"), Ok(()), "+{skew}");
            assert_eq!(check_fresh(ts, at(ts - skew), "t"), Ok(()), "-{skew}");
        }
        assert_eq!(
            check_fresh(ts, at(ts + 301), "t"),
            Err(VerifyError::Stale("t"))
        );
        assert_eq!(
            check_fresh(ts, at(ts - 301), "t"),
            Err(VerifyError::Stale("t"))
        );
        // Sub-second parts of `now` are dropped, not rounded up.
        assert_eq!(
            check_fresh(ts, at(ts + 300) + Duration::from_millis(999), "t"),
            Ok(())
        );
        // Far-off values neither overflow nor pass.
        assert_eq!(
            check_fresh(u64::MAX, at(ts), "t"),
            Err(VerifyError::Stale("t"))
        );
        assert_eq!(check_fresh(0, at(ts), "t"), Err(VerifyError::Stale("t")));
        let before_epoch = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(check_fresh(0, before_epoch, "t"), Ok(()));
    }

    #[test]
    fn single_rejects_absent_and_repeated() {
        let map = headers(&[("a", "1"), ("b", "1"), ("b", "2")]);
        assert_eq!(single(&map, "A").map(|v| v.as_bytes()), Ok(&b"1"[..]));
        assert_eq!(single(&map, "C"), Err(VerifyError::Missing("C".into())));
        assert_eq!(single(&map, "B"), Err(VerifyError::Malformed("B")));
        let (b, c) = (HeaderName::from_static("b"), HeaderName::from_static("c"));
        let spelled = |name: &HeaderName| -> Cow<'static, str> { name.as_str().to_owned().into() };
        assert_eq!(
            only(map.get_all(&c), || spelled(&c), "token"),
            Err(VerifyError::Missing("c".into()))
        );
        assert_eq!(
            only(map.get_all(&b), || spelled(&b), "token"),
            Err(VerifyError::Malformed("token"))
        );
    }

    #[test]
    fn matches_any_needs_one_equal_candidate() {
        let expected = [1u8, 2, 3];
        let mismatch = Err(VerifyError::Mismatch("t"));
        let candidates = [&[9u8, 9, 9][..], &[1, 2, 3][..]];
        assert!(matches_any(&expected, candidates, "t").is_ok());
        let candidates = [&[1u8, 2][..], &[1, 2, 3, 4][..]];
        assert_eq!(matches_any(&expected, candidates, "t"), mismatch);
        assert_eq!(matches_any(&expected, std::iter::empty(), "t"), mismatch);
    }
}
