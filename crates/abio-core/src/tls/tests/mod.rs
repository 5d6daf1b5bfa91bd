//! Tests of the TLS configs: real rustls handshakes in memory (a client and a server
//! connection pumping bytes through `Vec`s), with certificates made by rcgen and a few keys
//! and certificates made by the `openssl` command line (`fixtures/`, see its README).

mod config;
mod handshake;

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, ClientConnection, Connection, Error, ServerConfig, ServerConnection};

use super::{server_name, ClientOptions, ServerIdentity};

/// A certificate and its key, as PEM.
pub(super) struct Pem {
    pub cert: String,
    pub key: String,
    pub der: CertificateDer<'static>,
}

/// An issuing certificate: its PEM, and what signs with it.
pub(super) struct Ca {
    pub pem: Pem,
    pub issuer: Issuer<'static, KeyPair>,
}

fn params(cn: &str, names: &[&str]) -> CertificateParams {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params
}

fn pem_of(cert: rcgen::Certificate, key: &KeyPair) -> Pem {
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
        der: cert.der().clone(),
    }
}

/// A self-signed CA named `cn`.
pub(super) fn root(cn: &str) -> Ca {
    let mut params = params(cn, &[]);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let pem = pem_of(cert, &key);
    Ca {
        pem,
        issuer: Issuer::new(params, key),
    }
}

/// A CA named `cn` signed by `by`.
pub(super) fn intermediate(cn: &str, by: &Ca) -> Ca {
    let mut params = params(cn, &[]);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &by.issuer).unwrap();
    let pem = pem_of(cert, &key);
    Ca {
        pem,
        issuer: Issuer::new(params, key),
    }
}

/// An end-entity certificate for `names`, signed by `by` (`None`: self-signed), valid
/// between the two years given (`None`: rcgen's default, 1975 to 4096).
pub(super) fn leaf(names: &[&str], by: Option<&Ca>, years: Option<(i32, i32)>) -> Pem {
    let mut params = params(names.first().unwrap_or(&"leaf"), names);
    if let Some((from, to)) = years {
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(to, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = match by {
        Some(ca) => params.signed_by(&key, &ca.issuer).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    pem_of(cert, &key)
}

/// A server identity answering with `pem` (its chain: `pem` then `chain`).
pub(super) fn identity(pem: &Pem, chain: &[&Pem]) -> ServerIdentity {
    let mut cert = pem.cert.clone();
    for c in chain {
        cert.push_str(&c.cert);
    }
    ServerIdentity {
        cert: cert.into_bytes(),
        key: pem.key.clone().into_bytes(),
        ..ServerIdentity::default()
    }
}

/// Client options trusting only `cas`.
pub(super) fn trusting(cas: &[&str]) -> ClientOptions {
    ClientOptions {
        ca: Some(cas.iter().map(|c| c.as_bytes().to_vec()).collect()),
        ..ClientOptions::default()
    }
}

/// The ALPN list of the tests: HTTP/1.1, as the addon offers.
pub(super) const HTTP1: &[&[u8]] = &[b"http/1.1"];

/// What each side of a failed handshake saw.
#[derive(Debug)]
pub(super) struct Failure {
    pub client: Option<Error>,
    pub server: Option<Error>,
}

impl Failure {
    /// The client's error, named by `classify`.
    pub fn client_code(&self) -> (&'static str, String) {
        super::classify(self.client.as_ref().expect("the client failed"))
    }

    /// The server's error, named by `classify`.
    pub fn server_code(&self) -> (&'static str, String) {
        super::classify(self.server.as_ref().expect("the server failed"))
    }
}

/// A TLS handshake between a client of `client` connecting to `host` and a server of
/// `server`, then `ping` from the client and `pong` back, checked byte for byte.
pub(super) fn connect(
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    host: &str,
) -> Result<(ClientConnection, ServerConnection), Box<Failure>> {
    let client = ClientConnection::new(client, server_name(host).unwrap()).unwrap();
    let server = ServerConnection::new(server).unwrap();
    let (mut client, mut server) = (Connection::from(client), Connection::from(server));
    pump(&mut client, &mut server)?;
    assert!(!client.is_handshaking() && !server.is_handshaking());

    exchange(&mut client, &mut server, b"ping");
    exchange(&mut server, &mut client, b"pong");
    match (client, server) {
        (Connection::Client(c), Connection::Server(s)) => Ok((c, s)),
        _ => unreachable!(),
    }
}

/// Moves bytes both ways until neither side has any to send; each side's error, if any.
pub(super) fn pump(client: &mut Connection, server: &mut Connection) -> Result<(), Box<Failure>> {
    let mut failure = Failure {
        client: None,
        server: None,
    };
    for _ in 0..32 {
        let to_server = deliver(client, server, &mut failure.server);
        let to_client = deliver(server, client, &mut failure.client);
        if !to_server && !to_client {
            break;
        }
    }
    match (&failure.client, &failure.server) {
        (None, None) => Ok(()),
        _ => Err(Box::new(failure)),
    }
}

/// Sends what `from` has to `to`, noting `to`'s error; whether any bytes moved.
fn deliver(from: &mut Connection, to: &mut Connection, error: &mut Option<Error>) -> bool {
    let mut bytes = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut bytes).unwrap();
    }
    if bytes.is_empty() {
        return false;
    }
    if error.is_none() {
        feed(to, &bytes, error);
    }
    true
}

/// Hands `bytes` to `to` as if read from its socket, noting its error.
pub(super) fn feed(to: &mut Connection, mut bytes: &[u8], error: &mut Option<Error>) {
    while !bytes.is_empty() {
        to.read_tls(&mut bytes).unwrap();
        if let Err(e) = to.process_new_packets() {
            *error = Some(e);
            return;
        }
    }
}

/// Writes `data` on `from`, and checks `to` reads exactly it.
fn exchange(from: &mut Connection, to: &mut Connection, data: &[u8]) {
    use std::io::{Read, Write};
    from.writer().write_all(data).unwrap();
    let mut error = None;
    let mut bytes = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut bytes).unwrap();
    }
    feed(to, &bytes, &mut error);
    assert!(error.is_none(), "{error:?}");
    let mut got = vec![0; data.len()];
    to.reader().read_exact(&mut got).unwrap();
    assert_eq!(got, data);
}

/// A file of `fixtures/`.
pub(super) fn fixture(name: &str) -> String {
    let path = format!(
        "{}/src/tls/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
