//! TLS configuration as Node users know it (design.md section 11): server identities and
//! client options made into rustls configs, the default trust (Mozilla's roots plus
//! `NODE_EXTRA_CA_CERTS`), and rustls's failures named with Node's codes.
//!
//! Everything here is pure configuration: the addon runs the sessions (`src/tls/` of the
//! addon) with the configs made here. Every config installs the ring provider explicitly
//! (it builds with cc for every napi target) and allows TLS 1.3 and 1.2 only; rustls has no
//! renegotiation.
//!
//! - [`pem`]: certificates, CA bundles and private keys from PEM (encrypted PKCS#8 included)
//! - [`server`]: [`ServerIdentity`], [`server_config`], certificates chosen by SNI
//! - [`client`]: [`ClientOptions`], [`client_config`], [`default_roots`], [`server_name`]
//! - `verify`: the server-certificate verifier that knows Node's codes for an untrusted chain
//! - `x509`: the little of X.509 that needs reading here (names, validity, self-signatures)
//! - [`codes`]: [`classify`], Node's code and message for a rustls error

use std::fmt;
use std::sync::Arc;

pub use rustls;
use rustls::crypto::CryptoProvider;

pub mod client;
pub mod codes;
pub mod pem;
pub mod server;
mod verify;
mod x509;

pub use client::{client_config, default_roots, server_name, ClientOptions};
pub use codes::classify;
pub use server::{server_config, ServerIdentity};
pub use verify::NodeCode;

/// The protocol versions every config allows: TLS 1.3 and 1.2, as Node's defaults.
pub static VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The crypto provider of every config made here: ring, installed explicitly (never the
/// process default, which another crate in the process could have set).
///
/// rustls 0.23.48 deprecates ring's provider for lacking post-quantum key exchange (X25519MLKEM768
/// is aws-lc-rs's); Node's OpenSSL 3.0 offers none either, so handshakes are what Node's are.
#[allow(
    deprecated,
    reason = "ring is the provider that builds with cc for every napi target (aws-lc-rs needs cmake)"
)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// What is wrong with TLS options, for the `TypeError` (`ABIO_ERR_INVALID_ARG`) the addon
/// throws. `field` is the option's name as JS spells it: `"cert"`, `"key"`, `"ca"`,
/// `"passphrase"`, `"serverName"` (a server identity) or `"servername"` (a client).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The option at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    /// An error of `field` with `message`.
    pub fn new(field: &'static str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests;
