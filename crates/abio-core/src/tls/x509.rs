//! The little of X.509 (RFC 5280) read here, where webpki gives no answer: who issued a
//! certificate, whether it signed itself, and when it is valid. Used only to name a failure
//! webpki already found, and to accept a self-signed certificate the user trusts as it is.

use std::time::Duration;

use rustls::pki_types::{SignatureVerificationAlgorithm, UnixTime};

/// The parts of a DER certificate this module reads, borrowed from it.
#[derive(Clone, Copy)]
pub(crate) struct Cert<'a> {
    /// The whole `tbsCertificate` (what the signature covers).
    tbs: &'a [u8],
    /// The issuer and subject `Name`s, whole (compared byte for byte).
    issuer: &'a [u8],
    subject: &'a [u8],
    not_before: u64,
    not_after: u64,
    /// The contents of the key's `AlgorithmIdentifier`, and the key's bits.
    key_alg: &'a [u8],
    key: &'a [u8],
    /// The contents of the signature's `AlgorithmIdentifier`, and the signature's bits.
    sig_alg: &'a [u8],
    sig: &'a [u8],
}

impl<'a> Cert<'a> {
    /// Reads `der`; `None` if it is not a certificate this reader understands.
    pub(crate) fn parse(der: &'a [u8]) -> Option<Cert<'a>> {
        let (cert, _) = tlv(der, SEQUENCE)?;
        let (tbs_contents, rest) = tlv(cert.contents, SEQUENCE)?;
        let tbs = tbs_contents.whole;
        let (sig_alg, rest) = tlv(rest, SEQUENCE)?;
        let (sig, _) = tlv(rest, BIT_STRING)?;

        let mut fields = tbs_contents.contents;
        if fields.first() == Some(&0xa0) {
            fields = tlv(fields, 0xa0)?.1; // [0] version
        }
        let (_serial, fields) = tlv(fields, INTEGER)?;
        let (_signature, fields) = tlv(fields, SEQUENCE)?;
        let (issuer, fields) = tlv(fields, SEQUENCE)?;
        let (validity, fields) = tlv(fields, SEQUENCE)?;
        let (subject, fields) = tlv(fields, SEQUENCE)?;
        let (spki, _) = tlv(fields, SEQUENCE)?;
        let (not_before, rest) = time(validity.contents)?;
        let (not_after, _) = time(rest)?;
        let (key_alg, rest) = tlv(spki.contents, SEQUENCE)?;
        let (key, _) = tlv(rest, BIT_STRING)?;
        Some(Cert {
            tbs,
            issuer: issuer.whole,
            subject: subject.whole,
            not_before,
            not_after,
            key_alg: key_alg.contents,
            key: bits(key.contents)?,
            sig_alg: sig_alg.contents,
            sig: bits(sig.contents)?,
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
        self.issuer == issuer.subject
            && algs.iter().any(|alg| {
                alg.public_key_alg_id().as_ref() == issuer.key_alg
                    && alg.signature_alg_id().as_ref() == self.sig_alg
                    && alg.verify_signature(issuer.key, self.tbs, self.sig).is_ok()
            })
    }

    /// The certificate's `notBefore` and `notAfter`.
    pub(crate) fn validity(&self) -> (UnixTime, UnixTime) {
        let t = |secs| UnixTime::since_unix_epoch(Duration::from_secs(secs));
        (t(self.not_before), t(self.not_after))
    }
}

const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const SEQUENCE: u8 = 0x30;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// One DER element: its bytes with tag and length, and its contents.
struct Tlv<'a> {
    whole: &'a [u8],
    contents: &'a [u8],
}

/// The element at the start of `input` if its tag is `tag`, and what follows it.
fn tlv(input: &[u8], tag: u8) -> Option<(Tlv<'_>, &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = match first {
        0..=0x7f => usize::from(first),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7f);
            let (bytes, after) = (rest.get(..n)?, rest.get(n..)?);
            rest = after;
            bytes
                .iter()
                .fold(0usize, |len, &b| (len << 8) | usize::from(b))
        }
        _ => return None,
    };
    let contents = rest.get(..len)?;
    let header = input.len() - rest.len();
    Some((
        Tlv {
            whole: &input[..header + len],
            contents,
        },
        &rest[len..],
    ))
}

/// The bits of a BIT STRING's contents (whole bytes only, as keys and signatures are).
fn bits(contents: &[u8]) -> Option<&[u8]> {
    match contents.split_first()? {
        (0, bits) => Some(bits),
        _ => None,
    }
}

/// A `Time` (UTCTime or GeneralizedTime, in UTC as RFC 5280 requires) as seconds since the
/// Unix epoch, and what follows it.
fn time(input: &[u8]) -> Option<(u64, &[u8])> {
    let tag = *input.first()?;
    let (t, rest) = tlv(input, tag)?;
    let digits = match (tag, t.contents) {
        (UTC_TIME, [d @ .., b'Z']) if d.len() == 12 => d,
        (GENERALIZED_TIME, [d @ .., b'Z']) if d.len() == 14 => d,
        _ => return None,
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let num = |range: std::ops::Range<usize>| {
        digits[range]
            .iter()
            .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'))
    };
    let (year, at) = if tag == UTC_TIME {
        let yy = num(0..2);
        (if yy < 50 { 2000 + yy } else { 1900 + yy }, 2)
    } else {
        (num(0..4), 4)
    };
    let (month, day) = (num(at..at + 2), num(at + 2..at + 4));
    let (hour, minute, second) = (
        num(at + 4..at + 6),
        num(at + 6..at + 8),
        num(at + 8..at + 10),
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second, rest))
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (year >= 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    // Howard Hinnant's algorithm, with years starting in March.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(days_from_civil(2126, 1, 1), 56_978);
    }

    #[test]
    fn both_time_forms_read() {
        let utc = b"\x17\x0d991231235959Z";
        assert_eq!(time(utc).map(|t| t.0), Some(946_684_799));
        let generalized = b"\x18\x0f20500101000000Z";
        assert_eq!(time(generalized).map(|t| t.0), Some(2_524_608_000));
        assert!(
            time(b"\x17\x0b9912312359Z").is_none(),
            "no seconds: refused"
        );
    }

    #[test]
    fn long_lengths_and_truncation() {
        let mut der = vec![0x30, 0x81, 0x80];
        der.extend(std::iter::repeat_n(0, 0x80));
        let (t, rest) = tlv(&der, SEQUENCE).unwrap();
        assert_eq!(
            (t.contents.len(), t.whole.len(), rest.len()),
            (0x80, 0x83, 0)
        );
        assert!(tlv(&der[..0x82], SEQUENCE).is_none());
        assert!(tlv(&der, INTEGER).is_none());
    }
}
