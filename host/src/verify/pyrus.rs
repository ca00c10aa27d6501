//! Pyrus: `X-Pyrus-Sig: <hex>`, the HMAC-SHA1 of the raw body keyed with the
//! bot's or extension's secret. Pyrus's own samples emit upper- and
//! lower-case hex; both are accepted. One signature per request, so the same
//! header twice is malformed.

use hmac::Hmac;
use sha1::Sha1;

use super::common::BodyMac;
use super::{Credentials, Unfit};

const HEADER: &str = "X-Pyrus-Sig";

pub(super) fn prepare(credentials: Credentials) -> Result<BodyMac<Hmac<Sha1>>, Unfit> {
    // `hex` decodes either case; a wrong length or a non-hex digit is
    // malformed, while no digits at all is merely a tag that cannot match.
    let decode = |digits: &str| hex::decode(digits).ok();
    BodyMac::new(credentials, HEADER, "", decode, |tag| hex::encode(tag))
}

#[cfg(test)]
mod tests {
    use super::super::common::tests::{at, headers};
    use super::super::{Scheme, Verifier, VerifyError};
    use super::*;

    // Computed independently: python3 -c "import hmac,hashlib;
    // print(hmac.new(b'secret', b'{}', hashlib.sha1).hexdigest())"
    const SIG_OF_EMPTY_OBJECT: &str = "5d61605c3feea9799210ddcb71307d4ba264225f";

    fn verifier(secret: &str) -> Verifier {
        let secret = Credentials::Secret(secret.as_bytes().into());
        Verifier::new(Scheme::PyrusSig, secret).unwrap()
    }

    fn sign(v: &Verifier, body: &[u8]) -> String {
        let signed = v.sign(body, at(0));
        assert_eq!(signed[0].0, HEADER);
        signed[0].1.to_str().unwrap().to_owned()
    }

    /// `v`'s verdict on `body` sent with these `X-Pyrus-Sig` values.
    fn check(v: &Verifier, signatures: &[&str], body: &[u8]) -> Result<(), VerifyError> {
        let pairs: Vec<_> = signatures.iter().map(|sig| (HEADER, *sig)).collect();
        v.verify(&headers(&pairs), body, at(0))
    }

    #[test]
    fn sign_matches_python_hmac_and_either_case_verifies() {
        let v = verifier("secret");
        assert_eq!(sign(&v, b"{}"), SIG_OF_EMPTY_OBJECT);
        assert_eq!(check(&v, &[SIG_OF_EMPTY_OBJECT], b"{}"), Ok(()));
        let upper = SIG_OF_EMPTY_OBJECT.to_uppercase();
        assert_eq!(check(&v, &[&upper], b"{}"), Ok(()));
    }

    #[test]
    fn rejects_missing_repeated_malformed_truncated_and_wrong() {
        let v = verifier("k");
        let sig = sign(&v, b"body");
        let missing = check(&v, &[], b"body").unwrap_err();
        assert_eq!(missing, VerifyError::Missing(HEADER.into()));
        assert_eq!(missing.to_string(), "missing X-Pyrus-Sig header");
        // Two signatures, even if one is right: which one was meant?
        let malformed = Err(VerifyError::Malformed(HEADER));
        assert_eq!(check(&v, &[&sig, &sig], b"body"), malformed);
        assert_eq!(check(&v, &["zz"], b"body"), malformed);
        let mismatch = Err(VerifyError::Mismatch(HEADER));
        assert_eq!(check(&v, &[&sig[..38]], b"body"), mismatch);
        assert_eq!(check(&v, &[""], b"body"), mismatch);
        assert_eq!(check(&verifier("other"), &[&sig], b"body"), mismatch);
        assert_eq!(check(&v, &[&sig], b"body!"), mismatch);
    }
}
