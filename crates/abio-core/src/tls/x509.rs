//! The little of X.509 (RFC 5280) read here, where webpki gives no answer: who issued a
//! certificate, whether it signed itself, and when it is valid. Used only to name a failure
//! webpki already found, and to accept a self-signed certificate the user trusts as it is.
//! The DER is read by `x509-cert`; signatures are checked with rustls's algorithms.

use rustls::pki_types::{SignatureVerificationAlgorithm, UnixTime};
use x509_cert::der::{Decode, EncodeValue, Header, Reader, SliceReader};
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::time::Time;
use x509_cert::Certificate;

/// A certificate as this module reads it.
pub(crate) struct Cert<'a> {
    cert: Certificate,
    /// The `tbsCertificate` as received: what the signature covers. (Not x509-cert's
    /// re-encoding, which writes times in RFC 5280's form and so may differ from what was
    /// signed.)
    tbs: &'a [u8],
    /// The contents of the key's and the signature's `AlgorithmIdentifier`s, as rustls names
    /// algorithms.
    key_alg: Vec<u8>,
    sig_alg: Vec<u8>,
}

impl<'a> Cert<'a> {
    /// Reads `der`; `None` if it is not a certificate `x509-cert` reads.
    pub(crate) fn parse(der: &'a [u8]) -> Option<Cert<'a>> {
        let cert = Certificate::from_der(der).ok()?;
        let mut reader = SliceReader::new(der).ok()?;
        Header::decode(&mut reader).ok()?;
        let tbs = reader.tlv_bytes().ok()?;
        let key_alg = contents(&cert.tbs_certificate().subject_public_key_info().algorithm)?;
        let sig_alg = contents(cert.signature_algorithm())?;
        Some(Cert {
            cert,
            tbs,
            key_alg,
            sig_alg,
        })
    }

    /// Whether `self` names itself as issuer and its signature is made by its own key.
    pub(crate) fn is_self_signed(&self, algs: &[&dyn SignatureVerificationAlgorithm]) -> bool {
        self.is_signed_by(self, algs)
    }

    /// Whether `issuer` is named as `self`'s issuer and its key made `self`'s signature.
    pub(crate) fn is_signed_by(
        &self,
        issuer: &Cert<'_>,
        algs: &[&dyn SignatureVerificationAlgorithm],
    ) -> bool {
        let fields = self.cert.tbs_certificate();
        let key = issuer
            .cert
            .tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .as_bytes();
        let (Some(key), Some(sig)) = (key, self.cert.signature().as_bytes()) else {
            return false;
        };
        fields.issuer() == issuer.cert.tbs_certificate().subject()
            && algs.iter().any(|alg| {
                alg.public_key_alg_id().as_ref() == issuer.key_alg
                    && alg.signature_alg_id().as_ref() == self.sig_alg
                    && alg.verify_signature(key, self.tbs, sig).is_ok()
            })
    }

    /// The certificate's `notBefore` and `notAfter`.
    pub(crate) fn validity(&self) -> (UnixTime, UnixTime) {
        let validity = self.cert.tbs_certificate().validity();
        let t = |time: Time| UnixTime::since_unix_epoch(time.to_unix_duration());
        (t(validity.not_before), t(validity.not_after))
    }
}

/// The contents of an `AlgorithmIdentifier` (its DER without tag and length).
fn contents(alg: &AlgorithmIdentifierOwned) -> Option<Vec<u8>> {
    let mut der = Vec::new();
    alg.encode_value(&mut der).ok()?;
    Some(der)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rcgen::{CertificateParams, KeyPair, SigningKey};
    use x509_cert::der::asn1::{AnyRef, BitStringRef, GeneralizedTime};
    use x509_cert::der::{Encode, Tag};

    use super::super::tests::{fixture, intermediate, leaf, root};
    use super::*;

    fn algs() -> &'static [&'static dyn SignatureVerificationAlgorithm] {
        super::super::provider()
            .signature_verification_algorithms
            .all
    }

    fn secs(t: UnixTime) -> u64 {
        t.as_secs()
    }

    #[test]
    fn both_time_forms_read() {
        // rcgen writes UTCTime up to 2049 and GeneralizedTime from 2050, as RFC 5280 says.
        let mut params = CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(1999, 12, 31) + Duration::from_secs(86_399);
        params.not_after = rcgen::date_time_ymd(2050, 1, 1);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let cert = Cert::parse(cert.der()).unwrap();
        let (from, to) = cert.validity();
        assert_eq!((secs(from), secs(to)), (946_684_799, 2_524_608_000));
        assert!(cert.is_self_signed(algs()));
    }

    #[test]
    fn openssl_certificates_are_self_signed() {
        // RSA and P-256, CA:TRUE, a GeneralizedTime notAfter in 2126 (fixtures/README.md).
        for name in ["rsa-self-signed.crt", "ec-self-signed.crt"] {
            let pem = fixture(name);
            let der = super::super::pem::certs(pem.as_bytes(), "ca").unwrap();
            let cert = Cert::parse(&der[0]).unwrap();
            assert!(cert.is_self_signed(algs()), "{name}");
            let (_, to) = cert.validity();
            assert!(secs(to) > 4_900_000_000, "{name}: 2126");
        }
    }

    #[test]
    fn chains_are_followed_by_signature() {
        let ca = root("abio test root");
        let mid = intermediate("abio test intermediate", &ca);
        let end = leaf(&["localhost"], Some(&mid), None);
        let (ca, mid, end) = (
            Cert::parse(&ca.pem.der).unwrap(),
            Cert::parse(&mid.pem.der).unwrap(),
            Cert::parse(&end.der).unwrap(),
        );
        assert!(ca.is_self_signed(algs()));
        assert!(!mid.is_self_signed(algs()) && !end.is_self_signed(algs()));
        assert!(end.is_signed_by(&mid, algs()) && mid.is_signed_by(&ca, algs()));
        assert!(!end.is_signed_by(&ca, algs()), "not its issuer");
        // The same name is not enough: the key must have made the signature.
        let other = root("abio test root");
        assert!(!mid.is_signed_by(&Cert::parse(&other.pem.der).unwrap(), algs()));
    }

    #[test]
    fn truncated_or_trailing_bytes_are_refused() {
        let pem = leaf(&["localhost"], None, None);
        let der = pem.der.as_ref();
        assert!(Cert::parse(der).is_some());
        assert!(Cert::parse(&der[..der.len() - 1]).is_none());
        assert!(Cert::parse(&[der, &[0]].concat()).is_none());
        assert!(Cert::parse(&[]).is_none());
    }

    /// A DER element of tag `tag` around `contents`.
    fn tlv(tag: Tag, contents: &[u8]) -> Vec<u8> {
        AnyRef::new(tag, contents).unwrap().to_der().unwrap()
    }

    #[test]
    fn signature_covers_the_bytes_received() {
        // A GeneralizedTime before 2050, which RFC 5280 forbids and x509-cert would re-encode
        // as UTCTime: the signature is still checked over the bytes as signed.
        let key = KeyPair::generate().unwrap();
        let made = CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let mut outer = SliceReader::new(made.der()).unwrap();
        Header::decode(&mut outer).unwrap();
        let (tbs, sig_alg) = (outer.tlv_bytes().unwrap(), outer.tlv_bytes().unwrap());
        let mut fields = SliceReader::new(tbs).unwrap();
        Header::decode(&mut fields).unwrap();
        let mut contents = Vec::new();
        let mut i = 0;
        while !fields.is_finished() {
            let field = fields.tlv_bytes().unwrap();
            i += 1;
            if i == 5 {
                // version, serialNumber, signature, issuer, then validity
                let time = |secs| {
                    GeneralizedTime::from_unix_duration(Duration::from_secs(secs))
                        .unwrap()
                        .to_der()
                        .unwrap()
                };
                let validity = [time(1_704_067_200), time(2_524_608_000)].concat();
                contents.extend(tlv(Tag::Sequence, &validity));
            } else {
                contents.extend(field);
            }
        }
        let tbs = tlv(Tag::Sequence, &contents);
        let sig = key.sign(&tbs).unwrap();
        let sig = BitStringRef::from_bytes(&sig).unwrap().to_der().unwrap();
        let der = tlv(Tag::Sequence, &[&tbs[..], sig_alg, &sig].concat());

        let cert = Cert::parse(&der).unwrap();
        let (from, to) = cert.validity();
        assert_eq!((secs(from), secs(to)), (1_704_067_200, 2_524_608_000));
        assert_ne!(cert.cert.tbs_certificate().to_der().unwrap(), tbs);
        assert!(cert.is_self_signed(algs()));
    }
}
