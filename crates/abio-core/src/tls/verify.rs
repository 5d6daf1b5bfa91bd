//! The client's check of a server certificate: webpki's, with Node's answer where webpki's
//! is coarser. webpki says `UnknownIssuer` for every untrusted chain; Node (OpenSSL) tells a
//! self-signed leaf (`DEPTH_ZERO_SELF_SIGNED_CERT`) from a chain ending in an untrusted
//! self-signed certificate (`SELF_SIGNED_CERT_IN_CHAIN`), a chain whose top has no trusted
//! issuer (`UNABLE_TO_GET_ISSUER_CERT_LOCALLY`) and a lone leaf without one
//! (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`). The verifier looks at the chain the peer sent and
//! returns `CertificateError::Other` carrying a [`NodeCode`], which
//! [`classify`](super::classify) reads back.
//!
//! Like OpenSSL, an untrusted chain is reported before an expired certificate, and a
//! self-signed certificate listed in `ca` is trusted as it is, even with the `CA:TRUE` that
//! `openssl req -x509` writes (webpki refuses a CA certificate as an end entity).
//!
//! (The cost: the alert sent for such a failure is `certificate_unknown`, not `unknown_ca`.
//! Node's own client sends none: it checks after the handshake and closes.)

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, DigitallySignedStruct, Error, OtherError, RootCertStore, SignatureScheme,
};

use super::x509::Cert;

/// Node's code and message for a certificate failure rustls cannot name, carried in
/// `CertificateError::Other` from the verifier to [`classify`](super::classify).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeCode {
    /// Node's `err.code`, e.g. `DEPTH_ZERO_SELF_SIGNED_CERT`.
    pub code: &'static str,
    /// Node's `err.message`, e.g. `self-signed certificate`.
    pub message: &'static str,
}

impl fmt::Display for NodeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl std::error::Error for NodeCode {}

/// The server-certificate verifier of a client: Node's checks and codes, or (`rejectUnauthorized:
/// false`) none but the handshake's signatures.
#[derive(Debug)]
pub(crate) struct NodeVerifier {
    /// `false` (`rejectUnauthorized: false`): any certificate is accepted, but the
    /// handshake's signatures are still checked against it (the peer holds its key).
    verify: bool,
    roots: Arc<RootCertStore>,
    /// Self-signed certificates of the user's `ca`, trusted as they are.
    pinned: Vec<CertificateDer<'static>>,
    algs: WebPkiSupportedAlgorithms,
}

impl NodeVerifier {
    pub(crate) fn new(
        roots: Arc<RootCertStore>,
        pinned: Vec<CertificateDer<'static>>,
        algs: WebPkiSupportedAlgorithms,
    ) -> NodeVerifier {
        NodeVerifier {
            verify: true,
            roots,
            pinned,
            algs,
        }
    }

    /// The verifier of `rejectUnauthorized: false`: any certificate, signatures checked.
    pub(crate) fn accept_any(algs: WebPkiSupportedAlgorithms) -> NodeVerifier {
        NodeVerifier {
            verify: false,
            ..NodeVerifier::new(Arc::new(RootCertStore::empty()), Vec::new(), algs)
        }
    }

    /// Whether `leaf` chains through `intermediates` to a trusted root at time `at`.
    fn chain(
        &self,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        at: UnixTime,
    ) -> Result<(), Error> {
        let result = if self.roots.is_empty() {
            Err(CertificateError::UnknownIssuer.into())
        } else {
            ParsedCertificate::try_from(leaf).and_then(|cert| {
                verify_server_cert_signed_by_trust_anchor(
                    &cert,
                    &self.roots,
                    intermediates,
                    at,
                    self.algs.all,
                )
            })
        };
        let pinned = match &result {
            Err(Error::InvalidCertificate(CertificateError::Other(_))) if self.is_pinned(leaf) => {
                Cert::parse(leaf)
            }
            _ => None,
        };
        let Some(pinned) = pinned else {
            return result;
        };
        let (not_before, not_after) = pinned.validity();
        if at < not_before {
            Err(CertificateError::NotValidYetContext {
                time: at,
                not_before,
            }
            .into())
        } else if at > not_after {
            Err(CertificateError::ExpiredContext {
                time: at,
                not_after,
            }
            .into())
        } else {
            Ok(())
        }
    }

    fn is_pinned(&self, leaf: &CertificateDer<'_>) -> bool {
        self.pinned.iter().any(|p| p.as_ref() == leaf.as_ref())
    }

    /// The failure `e` of the chain at `now`, named as Node would.
    fn explain(
        &self,
        e: Error,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Error {
        let boundary = match &e {
            Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                return untrusted(leaf, intermediates, self.algs);
            }
            Error::InvalidCertificate(CertificateError::Other(_)) => {
                return match self.self_signed(leaf) {
                    true => untrusted(leaf, intermediates, self.algs),
                    false => e,
                };
            }
            Error::InvalidCertificate(CertificateError::ExpiredContext { not_after, .. }) => {
                *not_after
            }
            Error::InvalidCertificate(CertificateError::NotValidYetContext {
                not_before, ..
            }) => *not_before,
            _ => return e,
        };
        // A certificate out of its validity: OpenSSL reports an untrusted chain first, so
        // look again at a time the certificate was valid.
        match self.chain(leaf, intermediates, boundary) {
            Err(Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
                untrusted(leaf, intermediates, self.algs)
            }
            Err(Error::InvalidCertificate(CertificateError::Other(_)))
                if self.self_signed(leaf) =>
            {
                untrusted(leaf, intermediates, self.algs)
            }
            _ => e,
        }
    }

    fn self_signed(&self, leaf: &CertificateDer<'_>) -> bool {
        Cert::parse(leaf).is_some_and(|c| c.is_self_signed(self.algs.all))
    }
}

/// Node's code for a chain that reaches no trusted root, from the chain the peer sent.
fn untrusted(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    algs: WebPkiSupportedAlgorithms,
) -> Error {
    let code = |code, message| {
        CertificateError::Other(OtherError(Arc::new(NodeCode { code, message }))).into()
    };
    let Some(leaf) = Cert::parse(leaf) else {
        return code(
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
            "unable to verify the first certificate",
        );
    };
    if leaf.is_self_signed(algs.all) {
        return code("DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate");
    }
    // Build the chain as OpenSSL does from what was sent: each certificate's issuer among
    // the others, until one signed itself or none is found.
    let sent: Vec<Cert<'_>> = intermediates
        .iter()
        .filter_map(|c| Cert::parse(c))
        .collect();
    let mut cert = &leaf;
    let mut depth = 0;
    while depth < sent.len() {
        let Some(issuer) = sent.iter().find(|i| cert.is_signed_by(i, algs.all)) else {
            break;
        };
        if issuer.is_self_signed(algs.all) {
            return code(
                "SELF_SIGNED_CERT_IN_CHAIN",
                "self-signed certificate in certificate chain",
            );
        }
        cert = issuer;
        depth += 1;
    }
    match depth {
        0 => code(
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
            "unable to verify the first certificate",
        ),
        _ => code(
            "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
            "unable to get local issuer certificate",
        ),
    }
}

impl ServerCertVerifier for NodeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if !self.verify {
            return Ok(ServerCertVerified::assertion());
        }
        self.chain(end_entity, intermediates, now)
            .map_err(|e| self.explain(e, end_entity, intermediates))?;
        verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
