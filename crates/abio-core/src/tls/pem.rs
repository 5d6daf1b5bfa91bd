//! Certificates, CA bundles and private keys from PEM, as Node's `cert`, `ca` and `key`
//! options take them, and the `NODE_EXTRA_CA_CERTS` file.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::{CertifiedKey, SigningKey};
use rustls::RootCertStore;

use super::ConfigError;

/// The certificates of a PEM blob, in order (a chain: leaf first). Blocks of other kinds
/// (a key next to the certificate, say) are skipped; a blob without any certificate is an
/// error of `field`.
pub fn certs(
    blob: &[u8],
    field: &'static str,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_slice_iter(blob)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::new(field, pem_problem(&e)))?;
    if certs.is_empty() {
        return Err(ConfigError::new(
            field,
            "no certificate found (expected PEM: -----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certs)
}

/// A trust store of the certificates of `blobs` (each may hold several), as Node's `ca`.
/// Also returns the self-signed ones, which are trusted as they are even when webpki would
/// refuse them as an end-entity certificate (the `CA:TRUE` that `openssl req -x509` writes).
pub(crate) fn ca_store(
    blobs: &[Vec<u8>],
) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), ConfigError> {
    let mut store = RootCertStore::empty();
    let mut pinned = Vec::new();
    let algs = super::provider().signature_verification_algorithms;
    for blob in blobs {
        for cert in certs(blob, "ca")? {
            store
                .add(cert.clone())
                .map_err(|e| ConfigError::new("ca", format!("not a usable CA certificate: {e}")))?;
            if super::x509::Cert::parse(&cert).is_some_and(|c| c.is_self_signed(algs.all)) {
                pinned.push(cert);
            }
        }
    }
    Ok((store, pinned))
}

/// The private key of a PEM blob: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1),
/// `EC PRIVATE KEY` (SEC1), or `ENCRYPTED PRIVATE KEY` (PKCS#8 encrypted with PBES2, as
/// OpenSSL and Node write it), which needs `passphrase`. The first key of the blob is used.
pub fn private_key(
    blob: &[u8],
    passphrase: Option<&str>,
) -> Result<PrivateKeyDer<'static>, ConfigError> {
    if contains(blob, b"Proc-Type: 4,ENCRYPTED") {
        return Err(ConfigError::new(
            "key",
            "keys encrypted in OpenSSL's legacy PEM format (Proc-Type: 4,ENCRYPTED) are not \
             supported: convert the key to PKCS#8 (openssl pkcs8 -topk8)",
        ));
    }
    if let Some(encrypted) = encrypted_pkcs8(blob)? {
        return decrypt(&encrypted, passphrase);
    }
    PrivateKeyDer::from_pem_slice(blob).map_err(|e| match e {
        pem::Error::NoItemsFound => ConfigError::new(
            "key",
            "no private key found (expected PEM: -----BEGIN PRIVATE KEY-----)",
        ),
        e => ConfigError::new("key", pem_problem(&e)),
    })
}

/// The signing key of `key` (PEM, with `passphrase` if encrypted) for the certificate chain
/// `certs`, checked to match the leaf.
pub(crate) fn certified_key(
    certs: Vec<CertificateDer<'static>>,
    key: &[u8],
    passphrase: Option<&str>,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, ConfigError> {
    let der = private_key(key, passphrase)?;
    let signing: Arc<dyn SigningKey> = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| ConfigError::new("key", format!("unsupported or invalid private key: {e}")))?;
    let certified = CertifiedKey::new(certs, signing);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(ConfigError::new("key", "does not match the certificate"))
        }
        // ring can name the public key of every key it loads; a key it cannot is used
        // unchecked, and a mismatch shows at the first handshake.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified),
        Err(e) => Err(ConfigError::new(
            "cert",
            format!("unusable certificate: {e}"),
        )),
    }
}

/// The `ENCRYPTED PRIVATE KEY` block of `blob` as DER, if it has one. (pki-types skips
/// blocks of that label, so it is relabelled for its lenient base64 reader.)
fn encrypted_pkcs8(blob: &[u8]) -> Result<Option<Vec<u8>>, ConfigError> {
    const BEGIN: &[u8] = b"-----BEGIN ENCRYPTED PRIVATE KEY-----";
    const END: &[u8] = b"-----END ENCRYPTED PRIVATE KEY-----";
    let Some(start) = find(blob, BEGIN) else {
        return Ok(None);
    };
    let body = &blob[start + BEGIN.len()..];
    let Some(end) = find(body, END) else {
        return Err(ConfigError::new(
            "key",
            "the ENCRYPTED PRIVATE KEY block has no -----END ENCRYPTED PRIVATE KEY----- line",
        ));
    };
    let mut relabelled = b"-----BEGIN PRIVATE KEY-----".to_vec();
    relabelled.extend_from_slice(&body[..end]);
    relabelled.extend_from_slice(b"-----END PRIVATE KEY-----\n");
    let der = PrivatePkcs8KeyDer::from_pem_slice(&relabelled)
        .map_err(|e| ConfigError::new("key", pem_problem(&e)))?;
    Ok(Some(der.secret_pkcs8_der().to_vec()))
}

/// Decrypts an `EncryptedPrivateKeyInfo` (RFC 5958) with `passphrase`.
fn decrypt(der: &[u8], passphrase: Option<&str>) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der)
        .map_err(|e| ConfigError::new("key", format!("invalid ENCRYPTED PRIVATE KEY: {e}")))?;
    let Some(passphrase) = passphrase else {
        return Err(ConfigError::new(
            "passphrase",
            "the key is encrypted: a passphrase is needed",
        ));
    };
    match info.decrypt(passphrase) {
        Ok(doc) => Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            doc.as_bytes().to_vec(),
        ))),
        Err(pkcs8::Error::EncryptedPrivateKey(
            e @ (pkcs8::pkcs5::Error::UnsupportedAlgorithm { .. }
            | pkcs8::pkcs5::Error::NoPbes1CryptSupport),
        )) => Err(ConfigError::new(
            "key",
            format!("the key's encryption is not supported: {e}"),
        )),
        // A wrong passphrase fails the padding check, or (rarely) leaves bytes that are not DER.
        Err(_) => Err(ConfigError::new(
            "passphrase",
            "bad decrypt: the passphrase does not open the key",
        )),
    }
}

/// The certificates of the file named by `NODE_EXTRA_CA_CERTS`, or the reason they cannot
/// be used, worded as Node's warning has it (`error:80000002:system library::No such file or
/// directory` for a missing file). A file without any certificate gives none and no error,
/// as in Node.
pub fn read_extra_ca_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| match e.raw_os_error() {
        Some(code) => {
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text);
            format!(
                "error:{:08X}:system library::{text}",
                0x8000_0000u32 | code as u32
            )
        }
        None => e.to_string(),
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_problem(&e))?;
    for cert in &certs {
        webpki::anchor_from_trusted_cert(cert)
            .map_err(|e| format!("a certificate cannot be read: {e}"))?;
    }
    Ok(certs)
}

/// A PEM reading error in words.
fn pem_problem(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "invalid PEM: a block has no -----END {}----- line",
            String::from_utf8_lossy(end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => format!(
            "invalid PEM: malformed line {:?}",
            String::from_utf8_lossy(line)
        ),
        pem::Error::Base64Decode(_) => "invalid PEM: bad base64 in a block".to_owned(),
        e => format!("invalid PEM: {e}"),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}
