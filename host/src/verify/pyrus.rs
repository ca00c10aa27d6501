//! `X-Pyrus-Sig`: HMAC-SHA1 of the raw body keyed with the bot's secret, in
//! hex. Pyrus's own samples emit upper- and lower-case hex; both are accepted.

use axum::http::HeaderValue;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::VerifyError;

pub const HEADER: &str = "X-Pyrus-Sig";

pub fn verify(
    secret: &[u8],
    signature: Option<&HeaderValue>,
    body: &[u8],
) -> Result<(), VerifyError> {
    let signature = signature.ok_or(VerifyError::Missing(HEADER))?;
    // `hex` decodes either case; a wrong length or a non-hex digit is malformed.
    let claimed = hex::decode(signature.as_bytes().trim_ascii())
        .map_err(|_| VerifyError::Malformed(HEADER))?;
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret).map_err(|_| VerifyError::Mismatch(HEADER))?;
    mac.update(body);
    // `verify_slice` compares in constant time (and rejects truncated tags).
    mac.verify_slice(&claimed)
        .map_err(|_| VerifyError::Mismatch(HEADER))
}

/// The header value Pyrus would send for `body`, for `hookhost test --sign`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    match Hmac::<Sha1>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed independently: python3 -c "import hmac,hashlib;
    // print(hmac.new(b'secret', b'{}', hashlib.sha1).hexdigest())"
    const SIG_OF_EMPTY_OBJECT: &str = "5d61605c3feea9799210ddcb71307d4ba264225f";

    fn header(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn sign_matches_python_hmac() {
        assert_eq!(sign(b"secret", b"{}"), SIG_OF_EMPTY_OBJECT);
    }

    #[test]
    fn accepts_either_case() {
        let sig = sign(b"k", b"body");
        assert_eq!(verify(b"k", Some(&header(&sig)), b"body"), Ok(()));
        let upper = sig.to_uppercase();
        assert_eq!(verify(b"k", Some(&header(&upper)), b"body"), Ok(()));
    }

    #[test]
    fn rejects_missing_malformed_truncated_and_wrong() {
        let sig = sign(b"k", b"body");
        assert_eq!(
            verify(b"k", None, b"body"),
            Err(VerifyError::Missing(HEADER))
        );
        assert_eq!(
            verify(b"k", Some(&header("zz")), b"body"),
            Err(VerifyError::Malformed(HEADER))
        );
        assert_eq!(
            verify(b"k", Some(&header(&sig[..38])), b"body"),
            Err(VerifyError::Mismatch(HEADER))
        );
        assert_eq!(
            verify(b"other", Some(&header(&sig)), b"body"),
            Err(VerifyError::Mismatch(HEADER))
        );
        assert_eq!(
            verify(b"k", Some(&header(&sig)), b"body!"),
            Err(VerifyError::Mismatch(HEADER))
        );
    }
}
