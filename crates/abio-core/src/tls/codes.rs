//! Node's code and message for a rustls failure, so users match on what they match on with
//! Node: the `X509_V_ERR_*` names for certificates (`CERT_HAS_EXPIRED`), `ERR_SSL_*` from
//! OpenSSL's reason strings for the protocol (`ERR_SSL_TLSV1_ALERT_UNKNOWN_CA`), and Node's
//! own `ERR_TLS_CERT_ALTNAME_INVALID`. What has no Node counterpart is `ABIO_ERR_TLS` with
//! rustls's text.

use rustls::pki_types::ServerName;
use rustls::{AlertDescription, CertificateError, Error, InvalidMessage, PeerIncompatible};

use super::NodeCode;

/// The code of a failure Node has no name for; the message is rustls's.
pub const ABIO_ERR_TLS: &str = "ABIO_ERR_TLS";

/// Node's code and message for `e` (see the module's doc).
pub fn classify(e: &Error) -> (&'static str, String) {
    let (code, message) = match e {
        Error::InvalidCertificate(c) => return certificate(c),
        Error::AlertReceived(alert) => match received(*alert) {
            Some(known) => known,
            None => return (ABIO_ERR_TLS, e.to_string()),
        },
        Error::NoCertificatesPresented => (
            "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE",
            "peer did not return a certificate",
        ),
        // Not TLS at all (an HTTP answer, say): the record header makes no sense.
        Error::InvalidMessage(
            InvalidMessage::InvalidContentType | InvalidMessage::UnknownProtocolVersion,
        ) => ("ERR_SSL_WRONG_VERSION_NUMBER", "wrong version number"),
        Error::InvalidMessage(InvalidMessage::MessageTooLarge) => {
            ("ERR_SSL_PACKET_LENGTH_TOO_LONG", "packet length too long")
        }
        Error::PeerSentOversizedRecord => ("ERR_SSL_DATA_LENGTH_TOO_LONG", "data length too long"),
        Error::DecryptError => (
            "ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC",
            "decryption failed or bad record mac",
        ),
        Error::InappropriateMessage { .. } | Error::InappropriateHandshakeMessage { .. } => {
            ("ERR_SSL_UNEXPECTED_MESSAGE", "unexpected message")
        }
        Error::NoApplicationProtocol => {
            ("ERR_SSL_NO_APPLICATION_PROTOCOL", "no application protocol")
        }
        Error::PeerIncompatible(p) => match p {
            PeerIncompatible::NoCipherSuitesInCommon => {
                ("ERR_SSL_NO_SHARED_CIPHER", "no shared cipher")
            }
            PeerIncompatible::NoKxGroupsInCommon => {
                ("ERR_SSL_NO_SUITABLE_KEY_SHARE", "no suitable key share")
            }
            PeerIncompatible::NoSignatureSchemesInCommon
            | PeerIncompatible::NoCertificateRequestSignatureSchemesInCommon => (
                "ERR_SSL_NO_SUITABLE_SIGNATURE_ALGORITHM",
                "no suitable signature algorithm",
            ),
            PeerIncompatible::ServerDoesNotSupportTls12Or13
            | PeerIncompatible::SupportedVersionsExtensionRequired
            | PeerIncompatible::Tls12NotOffered
            | PeerIncompatible::Tls12NotOfferedOrEnabled
            | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig => {
                ("ERR_SSL_UNSUPPORTED_PROTOCOL", "unsupported protocol")
            }
            _ => return (ABIO_ERR_TLS, e.to_string()),
        },
        _ => return (ABIO_ERR_TLS, e.to_string()),
    };
    (code, message.to_owned())
}

/// Node's code for a certificate the verifier refused (on a client: the server's; on a
/// server: a client's).
fn certificate(c: &CertificateError) -> (&'static str, String) {
    use CertificateError as C;
    let (code, message) = match c {
        C::Other(other) => {
            if let Some(node) = other.0.downcast_ref::<NodeCode>() {
                (node.code, node.message)
            } else if let Some(e) = other.0.downcast_ref::<webpki::Error>() {
                webpki_failure(e)
            } else {
                ("CERT_REJECTED", "certificate rejected")
            }
        }
        C::Expired | C::ExpiredContext { .. } => ("CERT_HAS_EXPIRED", "certificate has expired"),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            ("CERT_NOT_YET_VALID", "certificate is not yet valid")
        }
        // A server checking a client certificate has only rustls's answer, not the chain.
        C::UnknownIssuer => (
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
            "unable to verify the first certificate",
        ),
        C::NotValidForNameContext {
            expected,
            presented,
        } => {
            return (
                "ERR_TLS_CERT_ALTNAME_INVALID",
                altname_message(expected, presented),
            )
        }
        C::NotValidForName => (
            "ERR_TLS_CERT_ALTNAME_INVALID",
            "Hostname/IP does not match certificate's altnames",
        ),
        C::BadSignature
        | C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            ("CERT_SIGNATURE_FAILURE", "certificate signature failure")
        }
        C::Revoked => ("CERT_REVOKED", "certificate revoked"),
        C::UnknownRevocationStatus => ("UNABLE_TO_GET_CRL", "unable to get certificate CRL"),
        C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => {
            ("CRL_HAS_EXPIRED", "CRL has expired")
        }
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            ("INVALID_PURPOSE", "unsupported certificate purpose")
        }
        _ => ("CERT_REJECTED", "certificate rejected"),
    };
    (code, message.to_owned())
}

/// Node's code for a webpki failure that rustls passes on as it is.
fn webpki_failure(e: &webpki::Error) -> (&'static str, &'static str) {
    use webpki::Error as W;
    match e {
        W::CaUsedAsEndEntity | W::EndEntityUsedAsCa => ("INVALID_CA", "invalid CA certificate"),
        W::PathLenConstraintViolated => ("PATH_LENGTH_EXCEEDED", "path length constraint exceeded"),
        W::MaximumPathDepthExceeded
        | W::MaximumPathBuildCallsExceeded
        | W::MaximumSignatureChecksExceeded => {
            ("CERT_CHAIN_TOO_LONG", "certificate chain too long")
        }
        _ => ("CERT_REJECTED", "certificate rejected"),
    }
}

/// Node's message for a certificate not valid for the name asked (`checkServerIdentity`):
/// `Hostname/IP does not match certificate's altnames: Host: <host>. is not in the cert's
/// altnames: DNS:<a>, DNS:<b>`, or for an IP `... IP: <ip> is not in the cert's list: <ips>`.
fn altname_message(expected: &ServerName<'_>, presented: &[String]) -> String {
    // webpki writes the names it saw as `DnsName("a")`, `IpAddress(1.2.3.4)`, ...
    let names: Vec<(&str, &str)> = presented
        .iter()
        .filter_map(|p| {
            let (kind, rest) = p.split_once('(')?;
            let value = rest.strip_suffix(')')?;
            Some((kind, value.trim_matches('"')))
        })
        .collect();
    let reason = match expected {
        ServerName::IpAddress(_) => {
            let ips: Vec<&str> = names
                .iter()
                .filter(|(kind, _)| *kind == "IpAddress")
                .map(|(_, ip)| *ip)
                .collect();
            format!(
                "IP: {} is not in the cert's list: {}",
                expected.to_str(),
                ips.join(", ")
            )
        }
        _ => {
            let altnames: Vec<String> = names
                .iter()
                .filter_map(|(kind, value)| {
                    let label = match *kind {
                        "DnsName" => "DNS",
                        "IpAddress" => "IP Address",
                        "UniformResourceIdentifier" => "URI",
                        _ => return None,
                    };
                    Some(format!("{label}:{value}"))
                })
                .collect();
            if altnames.is_empty() {
                "Cert does not contain a DNS name".to_owned()
            } else {
                format!(
                    "Host: {}. is not in the cert's altnames: {}",
                    expected.to_str(),
                    altnames.join(", ")
                )
            }
        }
    };
    format!("Hostname/IP does not match certificate's altnames: {reason}")
}

/// OpenSSL's reason for an alert received from the peer, and Node's code for it.
fn received(alert: AlertDescription) -> Option<(&'static str, &'static str)> {
    use AlertDescription as A;
    Some(match alert {
        A::UnexpectedMessage => (
            "ERR_SSL_SSLV3_ALERT_UNEXPECTED_MESSAGE",
            "sslv3 alert unexpected message",
        ),
        A::BadRecordMac => (
            "ERR_SSL_SSLV3_ALERT_BAD_RECORD_MAC",
            "sslv3 alert bad record mac",
        ),
        A::DecryptionFailed => (
            "ERR_SSL_TLSV1_ALERT_DECRYPTION_FAILED",
            "tlsv1 alert decryption failed",
        ),
        A::RecordOverflow => (
            "ERR_SSL_TLSV1_ALERT_RECORD_OVERFLOW",
            "tlsv1 alert record overflow",
        ),
        A::DecompressionFailure => (
            "ERR_SSL_SSLV3_ALERT_DECOMPRESSION_FAILURE",
            "sslv3 alert decompression failure",
        ),
        A::HandshakeFailure => (
            "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE",
            "sslv3 alert handshake failure",
        ),
        A::NoCertificate => (
            "ERR_SSL_SSLV3_ALERT_NO_CERTIFICATE",
            "sslv3 alert no certificate",
        ),
        A::BadCertificate => (
            "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE",
            "sslv3 alert bad certificate",
        ),
        A::UnsupportedCertificate => (
            "ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
            "sslv3 alert unsupported certificate",
        ),
        A::CertificateRevoked => (
            "ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED",
            "sslv3 alert certificate revoked",
        ),
        A::CertificateExpired => (
            "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED",
            "sslv3 alert certificate expired",
        ),
        A::CertificateUnknown => (
            "ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN",
            "sslv3 alert certificate unknown",
        ),
        A::IllegalParameter => (
            "ERR_SSL_SSLV3_ALERT_ILLEGAL_PARAMETER",
            "sslv3 alert illegal parameter",
        ),
        A::UnknownCA => ("ERR_SSL_TLSV1_ALERT_UNKNOWN_CA", "tlsv1 alert unknown ca"),
        A::AccessDenied => (
            "ERR_SSL_TLSV1_ALERT_ACCESS_DENIED",
            "tlsv1 alert access denied",
        ),
        A::DecodeError => (
            "ERR_SSL_TLSV1_ALERT_DECODE_ERROR",
            "tlsv1 alert decode error",
        ),
        A::DecryptError => (
            "ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR",
            "tlsv1 alert decrypt error",
        ),
        A::ExportRestriction => (
            "ERR_SSL_TLSV1_ALERT_EXPORT_RESTRICTION",
            "tlsv1 alert export restriction",
        ),
        A::ProtocolVersion => (
            "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION",
            "tlsv1 alert protocol version",
        ),
        A::InsufficientSecurity => (
            "ERR_SSL_TLSV1_ALERT_INSUFFICIENT_SECURITY",
            "tlsv1 alert insufficient security",
        ),
        A::InternalError => (
            "ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR",
            "tlsv1 alert internal error",
        ),
        A::InappropriateFallback => (
            "ERR_SSL_TLSV1_ALERT_INAPPROPRIATE_FALLBACK",
            "tlsv1 alert inappropriate fallback",
        ),
        A::UserCanceled => (
            "ERR_SSL_TLSV1_ALERT_USER_CANCELLED",
            "tlsv1 alert user cancelled",
        ),
        A::NoRenegotiation => (
            "ERR_SSL_TLSV1_ALERT_NO_RENEGOTIATION",
            "tlsv1 alert no renegotiation",
        ),
        A::MissingExtension => (
            "ERR_SSL_TLSV13_ALERT_MISSING_EXTENSION",
            "tlsv13 alert missing extension",
        ),
        A::UnsupportedExtension => (
            "ERR_SSL_TLSV1_UNSUPPORTED_EXTENSION",
            "tlsv1 unsupported extension",
        ),
        A::CertificateUnobtainable => (
            "ERR_SSL_TLSV1_CERTIFICATE_UNOBTAINABLE",
            "tlsv1 certificate unobtainable",
        ),
        A::UnrecognisedName => ("ERR_SSL_TLSV1_UNRECOGNIZED_NAME", "tlsv1 unrecognized name"),
        A::BadCertificateStatusResponse => (
            "ERR_SSL_TLSV1_BAD_CERTIFICATE_STATUS_RESPONSE",
            "tlsv1 bad certificate status response",
        ),
        A::BadCertificateHashValue => (
            "ERR_SSL_TLSV1_BAD_CERTIFICATE_HASH_VALUE",
            "tlsv1 bad certificate hash value",
        ),
        A::UnknownPSKIdentity => (
            "ERR_SSL_TLSV1_ALERT_UNKNOWN_PSK_IDENTITY",
            "tlsv1 alert unknown psk identity",
        ),
        A::CertificateRequired => (
            "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
            "tlsv13 alert certificate required",
        ),
        A::NoApplicationProtocol => (
            "ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL",
            "tlsv1 alert no application protocol",
        ),
        _ => return None,
    })
}
