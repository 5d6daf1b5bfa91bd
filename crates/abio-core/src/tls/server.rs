//! Server configs from one or several identities (certificate, key, and for several the SNI
//! name each answers), as Node's `tls.createServer` with `SNICallback`-like contexts.

use std::fmt;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use super::{default_roots, pem, provider, ConfigError, VERSIONS};

/// One server identity: certificate chain and key as PEM bytes (the JS side gives a string
/// or bytes). Its `Debug` leaves out the key and passphrase.
#[derive(Clone, Default)]
pub struct ServerIdentity {
    /// PEM, one or more CERTIFICATE blocks (leaf first).
    pub cert: Vec<u8>,
    /// PEM: PRIVATE KEY (PKCS#8), RSA PRIVATE KEY, EC PRIVATE KEY, or ENCRYPTED PRIVATE KEY
    /// (needs `passphrase`).
    pub key: Vec<u8>,
    /// The passphrase of an encrypted `key`.
    pub passphrase: Option<String>,
    /// PEM blobs (each may hold several certificates): the trust for client certificates.
    pub ca: Vec<Vec<u8>>,
    /// Ask for and require a client certificate verified against `ca` (Node's `requestCert`
    /// with `rejectUnauthorized` left at its default, true); without `ca`, against the
    /// default trust, as in Node.
    pub request_cert: bool,
    /// The SNI name this identity answers when there are several: a DNS name, or a wildcard
    /// `*.example.com` (one label, as in certificates).
    pub server_name: Option<String>,
}

impl fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("cert", &format_args!("{} bytes", self.cert.len()))
            .field("key", &format_args!("(hidden)"))
            .field("passphrase", &self.passphrase.as_ref().map(|_| "(hidden)"))
            .field("ca", &self.ca.len())
            .field("request_cert", &self.request_cert)
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// A server config answering with `ids`, offering the ALPN protocols `alpn` (in order of
/// preference; a client offering none of them is refused with `no_application_protocol`,
/// one offering no ALPN at all is served).
///
/// One identity answers every handshake. With several, the client's SNI chooses: an exact
/// name first, then a wildcard; a handshake without SNI or with an unknown name gets the
/// first identity without a `server_name`, else the first identity (Node's default context).
///
/// rustls has one client-certificate verifier per config: `request_cert` and `ca` of the
/// **first** identity apply to the whole config, and are ignored on the others.
///
/// Session resumption: TLS 1.3 tickets and TLS 1.2 stateless tickets under a key made for
/// this config (so a new config, as after a reload, does not resume older sessions), and
/// rustls's in-memory session cache for TLS 1.2 session IDs.
pub fn server_config(
    ids: &[ServerIdentity],
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, ConfigError> {
    let Some(first) = ids.first() else {
        return Err(ConfigError::new("cert", "no certificate given"));
    };
    let provider = provider();
    let mut identities = Vec::with_capacity(ids.len());
    for id in ids {
        let names = match &id.server_name {
            Some(name) => Some(sni_pattern(name)?),
            None => None,
        };
        let certs = pem::certs(&id.cert, "cert")?;
        let key = pem::certified_key(certs, &id.key, id.passphrase.as_deref(), &provider)?;
        identities.push((names, Arc::new(key)));
    }
    let default = identities
        .iter()
        .position(|(name, _)| name.is_none())
        .unwrap_or(0);
    let resolver = ByServerName {
        identities,
        default,
    };

    let client_auth = if first.request_cert {
        let builder = if first.ca.is_empty() {
            // Node sends no CA names without `ca`; the default roots would be ~150 of them.
            WebPkiClientVerifier::builder_with_provider(default_roots(), provider.clone())
                .clear_root_hint_subjects()
        } else {
            let (roots, _) = pem::ca_store(&first.ca)?;
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        };
        builder
            .build()
            .map_err(|e| ConfigError::new("ca", e.to_string()))?
    } else {
        WebPkiClientVerifier::no_client_auth()
    };

    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(VERSIONS)
        .map_err(|e| ConfigError::new("cert", format!("TLS versions: {e}")))?
        .with_client_cert_verifier(client_auth)
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.ticketer = rustls::crypto::ring::Ticketer::new()
        .map_err(|e| ConfigError::new("cert", format!("session tickets: {e}")))?;
    Ok(Arc::new(config))
}

/// A `serverName`, checked and lower-cased: a DNS name or `*.` and a DNS name.
fn sni_pattern(name: &str) -> Result<String, ConfigError> {
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    let base = lower.strip_prefix("*.").unwrap_or(&lower);
    match rustls::pki_types::DnsName::try_from(base) {
        Ok(_) if !base.contains('*') => Ok(lower),
        _ => Err(ConfigError::new(
            "serverName",
            format!("{name:?} is not a DNS name or a wildcard like \"*.example.com\""),
        )),
    }
}

/// Chooses the identity by the client's SNI.
#[derive(Debug)]
struct ByServerName {
    /// Each identity with the name it answers (lower case; `None`: no name).
    identities: Vec<(Option<String>, Arc<CertifiedKey>)>,
    /// The identity for no SNI or an unknown name.
    default: usize,
}

impl ByServerName {
    fn choose(&self, sni: Option<&str>) -> &Arc<CertifiedKey> {
        let chosen = sni.and_then(|sni| {
            let sni = sni.trim_end_matches('.').to_ascii_lowercase();
            let exact = |name: &str| name == sni;
            // "*.example.com" answers "a.example.com", not "example.com" nor "a.b.example.com".
            let wildcard = |name: &str| {
                name.strip_prefix("*.").is_some_and(|base| {
                    sni.split_once('.')
                        .is_some_and(|(label, rest)| !label.is_empty() && rest == base)
                })
            };
            let named = |test: &dyn Fn(&str) -> bool| {
                self.identities
                    .iter()
                    .find(|(name, _)| name.as_deref().is_some_and(test))
            };
            named(&exact).or_else(|| named(&wildcard))
        });
        match chosen {
            Some((_, key)) => key,
            None => &self.identities[self.default].1,
        }
    }
}

impl ResolvesServerCert for ByServerName {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.choose(client_hello.server_name()).clone())
    }
}
