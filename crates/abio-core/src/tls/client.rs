//! Client configs from Node's options (`ca`, `rejectUnauthorized`, `cert`, `key`,
//! `passphrase`), the default trust, and the name a client verifies and sends.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{DnsName, ServerName};
use rustls::sign::SingleCertAndKey;
use rustls::{ClientConfig, RootCertStore};

use super::verify::NodeVerifier;
use super::{pem, provider, ConfigError, VERSIONS};

/// A client's TLS options, as Node's `tls.connect` and `https.request` take them. Its
/// `Debug` leaves out the key and passphrase.
#[derive(Clone)]
pub struct ClientOptions {
    /// PEM blobs replacing the default trust, as Node's `ca` (each may hold several
    /// certificates). `Some(vec![])` trusts nothing, as `ca: []` does in Node.
    pub ca: Option<Vec<Vec<u8>>>,
    /// `false`: accept any certificate (the handshake's signatures are still checked).
    pub reject_unauthorized: bool,
    /// The client certificate chain (PEM), sent when a server asks for one.
    pub cert: Option<Vec<u8>>,
    /// The client certificate's private key (PEM).
    pub key: Option<Vec<u8>>,
    /// The passphrase of an encrypted `key`.
    pub passphrase: Option<String>,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("ca", &self.ca.as_ref().map(Vec::len))
            .field("reject_unauthorized", &self.reject_unauthorized)
            .field("cert", &self.cert.as_ref().map(Vec::len))
            .field("key", &self.key.as_ref().map(|_| "(hidden)"))
            .field("passphrase", &self.passphrase.as_ref().map(|_| "(hidden)"))
            .finish()
    }
}

impl Default for ClientOptions {
    /// Node's defaults: the default trust, unauthorized servers rejected, no certificate.
    fn default() -> ClientOptions {
        ClientOptions {
            ca: None,
            reject_unauthorized: true,
            cert: None,
            key: None,
            passphrase: None,
        }
    }
}

/// A client config for options `o`, offering the ALPN protocols `alpn` (in order of
/// preference). The server's certificate is verified as Node does, with Node's codes for
/// failures (see [`classify`](super::classify)); the name checked is the connection's
/// [`server_name`].
pub fn client_config(o: &ClientOptions, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>, ConfigError> {
    let provider = provider();
    let algs = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = match (o.reject_unauthorized, &o.ca) {
        (false, _) => Arc::new(NodeVerifier::accept_any(algs)),
        (true, None) => Arc::new(NodeVerifier::new(default_roots(), Vec::new(), algs)),
        (true, Some(ca)) => {
            let (roots, pinned) = pem::ca_store(ca)?;
            Arc::new(NodeVerifier::new(Arc::new(roots), pinned, algs))
        }
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| ConfigError::new("cert", format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&o.cert, &o.key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let certs = pem::certs(cert, "cert")?;
            let certified = pem::certified_key(certs, key, o.passphrase.as_deref(), &provider)?;
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified)))
        }
        (Some(_), None) => {
            return Err(ConfigError::new(
                "key",
                "a client certificate needs its key",
            ))
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                "cert",
                "a client key needs its certificate",
            ))
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Mozilla's roots (webpki-roots) plus the certificates of the file named by
/// `NODE_EXTRA_CA_CERTS`, read once per process as Node does. A file that cannot be read
/// or parsed is ignored, with the one-line warning Node prints to stderr:
/// ``Warning: Ignoring extra certs from `<file>`, load failed: <reason>``.
///
/// (Node reads the variable at startup; this reads it at the first TLS config that needs
/// the default trust, so a change made by the process before then counts.)
pub fn default_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let file = std::env::var_os("NODE_EXTRA_CA_CERTS").filter(|f| !f.is_empty());
            if let Some(file) = file {
                match pem::read_extra_ca_certs(Path::new(&file)) {
                    Ok(certs) => {
                        roots.add_parsable_certificates(certs);
                    }
                    Err(reason) => eprintln!(
                        "Warning: Ignoring extra certs from `{}`, load failed: {reason}",
                        Path::new(&file).display()
                    ),
                }
            }
            Arc::new(roots)
        })
        .clone()
}

/// The name a client verifies the certificate against and sends as SNI: a DNS name, or an
/// IP literal (`[::1]` and a zone, `fe80::1%eth0`, accepted; an IP is checked against the
/// certificate's IP addresses and not sent as SNI, as in Node).
pub fn server_name(host: &str) -> Result<ServerName<'static>, ConfigError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let unzoned = bare.split_once('%').map_or(bare, |(ip, _zone)| ip);
    if let Ok(ip) = unzoned.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    DnsName::try_from(bare.to_owned())
        .map(ServerName::DnsName)
        .map_err(|_| ConfigError::new("servername", format!("{host:?} is not a valid host name")))
}
