//! Real handshakes between configs made here: what succeeds, and Node's code for each
//! failure on each side.

use std::sync::Arc;

use rustls::{ClientConfig, Connection, HandshakeKind, ProtocolVersion};

use super::*;
use crate::tls::{client_config, server_config, ClientOptions, ServerIdentity};

fn server(ids: &[ServerIdentity]) -> Arc<ServerConfig> {
    server_config(ids, HTTP1).unwrap()
}

fn client(o: &ClientOptions) -> Arc<ClientConfig> {
    client_config(o, HTTP1).unwrap()
}

/// The client's code and message when `served` answers a client trusting `ca` that
/// connects to `host`.
fn refused(ca: &[&str], served: ServerIdentity, host: &str) -> (&'static str, String) {
    let failure = connect(client(&trusting(ca)), server(&[served]), host).unwrap_err();
    failure.client_code()
}

#[test]
fn a_leaf_of_a_trusted_ca_is_accepted() {
    let ca = root("Test CA");
    let leaf = leaf(&["localhost", "127.0.0.1"], Some(&ca), None);
    let config = client(&trusting(&[&ca.pem.cert]));
    let served = server(&[identity(&leaf, &[])]);
    for host in ["localhost", "127.0.0.1", "LocalHost"] {
        let (c, s) = connect(config.clone(), served.clone(), host).unwrap();
        assert_eq!(c.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(s.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(c.protocol_version(), Some(ProtocolVersion::TLSv1_3));
        assert_eq!(
            c.peer_certificates().unwrap(),
            std::slice::from_ref(&leaf.der)
        );
        assert_eq!(
            s.server_name(),
            (host != "127.0.0.1").then_some("localhost")
        );
    }
}

#[test]
fn tls12_is_served_and_older_versions_are_not() {
    let ca = root("Test CA");
    let leaf = leaf(&["localhost"], Some(&ca), None);
    let served = server(&[identity(&leaf, &[])]);
    // A client that offers TLS 1.2 only, with the same trust.
    let tls12 = |versions: &[&'static rustls::SupportedProtocolVersion]| {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.pem.der.clone()).unwrap();
        Arc::new(
            ClientConfig::builder_with_provider(crate::tls::provider())
                .with_protocol_versions(versions)
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    };
    let (c, _) = connect(
        tls12(&[&rustls::version::TLS12]),
        served.clone(),
        "localhost",
    )
    .unwrap();
    assert_eq!(c.protocol_version(), Some(ProtocolVersion::TLSv1_2));

    // That client's hello made to offer TLS 1.1 only: its version and supported_versions.
    let mut c = Connection::from(
        rustls::ClientConnection::new(
            tls12(&[&rustls::version::TLS12]),
            server_name("localhost").unwrap(),
        )
        .unwrap(),
    );
    let mut hello = Vec::new();
    c.write_tls(&mut hello).unwrap();
    // record header (5 bytes), handshake header (4), then client_version.
    assert_eq!(
        (hello[0], hello[5], &hello[9..11]),
        (0x16, 0x01, &[3, 3][..])
    );
    hello[10] = 2;
    let versions = [0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x03];
    let at = hello.windows(7).position(|w| w == versions).unwrap();
    hello[at + 6] = 2;
    let mut s = Connection::from(rustls::ServerConnection::new(served).unwrap());
    let mut error = None;
    feed(&mut s, &hello, &mut error);
    assert_eq!(
        crate::tls::classify(&error.unwrap()),
        (
            "ERR_SSL_UNSUPPORTED_PROTOCOL",
            "unsupported protocol".into()
        )
    );
}

#[test]
fn a_chain_through_an_intermediate_is_accepted() {
    let ca = root("Test Root");
    let mid = intermediate("Test Intermediate", &ca);
    let leaf = leaf(&["localhost"], Some(&mid), None);
    let served = identity(&leaf, &[&mid.pem]);
    let (c, _) = connect(
        client(&trusting(&[&ca.pem.cert])),
        server(&[served]),
        "localhost",
    )
    .unwrap();
    assert_eq!(c.peer_certificates().unwrap().len(), 2);
}

#[test]
fn expired_and_not_yet_valid() {
    let ca = root("Test CA");
    let expired = leaf(&["localhost"], Some(&ca), Some((2000, 2001)));
    assert_eq!(
        refused(&[&ca.pem.cert], identity(&expired, &[]), "localhost"),
        ("CERT_HAS_EXPIRED", "certificate has expired".into())
    );
    let early = leaf(&["localhost"], Some(&ca), Some((2100, 2101)));
    assert_eq!(
        refused(&[&ca.pem.cert], identity(&early, &[]), "localhost"),
        ("CERT_NOT_YET_VALID", "certificate is not yet valid".into())
    );
    // The server hears of it as OpenSSL names the alert.
    let failure = connect(
        client(&trusting(&[&ca.pem.cert])),
        server(&[identity(&expired, &[])]),
        "localhost",
    )
    .unwrap_err();
    assert_eq!(
        failure.server_code(),
        (
            "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED",
            "sslv3 alert certificate expired".into()
        )
    );
}

#[test]
fn self_signed_leaves() {
    let ca = root("Test CA");
    let self_signed = leaf(&["localhost"], None, None);
    let depth_zero = (
        "DEPTH_ZERO_SELF_SIGNED_CERT",
        "self-signed certificate".to_owned(),
    );
    assert_eq!(
        refused(&[&ca.pem.cert], identity(&self_signed, &[]), "localhost"),
        depth_zero
    );
    // With the default trust too.
    let failure = connect(
        client(&ClientOptions::default()),
        server(&[identity(&self_signed, &[])]),
        "localhost",
    )
    .unwrap_err();
    assert_eq!(failure.client_code(), depth_zero);
    // An untrusted chain is named before an expired certificate, as OpenSSL does.
    let old = leaf(&["localhost"], None, Some((2000, 2001)));
    assert_eq!(
        refused(&[&ca.pem.cert], identity(&old, &[]), "localhost"),
        depth_zero
    );
    // `openssl req -x509` writes CA:TRUE, which webpki refuses as an end entity: same code.
    let (cert, key) = (fixture("rsa-self-signed.crt"), fixture("rsa-pkcs1.key"));
    let openssl = ServerIdentity {
        cert: cert.into(),
        key: key.into(),
        ..ServerIdentity::default()
    };
    assert_eq!(refused(&[&ca.pem.cert], openssl, "localhost"), depth_zero);
}

#[test]
fn a_self_signed_certificate_in_ca_is_trusted_as_it_is() {
    let self_signed = leaf(&["localhost"], None, None);
    let served = server(&[identity(&self_signed, &[])]);
    connect(client(&trusting(&[&self_signed.cert])), served, "localhost").unwrap();

    // Also with the CA:TRUE `openssl req -x509` writes, for its names and validity.
    let cert = fixture("rsa-self-signed.crt");
    let id = ServerIdentity {
        cert: cert.clone().into(),
        key: fixture("rsa-pkcs1.key").into(),
        ..ServerIdentity::default()
    };
    let served = server(&[id]);
    let config = client(&trusting(&[&cert]));
    for host in ["localhost", "127.0.0.1"] {
        let (c, _) = connect(config.clone(), served.clone(), host).unwrap();
        assert_eq!(c.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    }
    let failure = connect(config, served, "other.test").unwrap_err();
    assert_eq!(failure.client_code().0, "ERR_TLS_CERT_ALTNAME_INVALID");
}

#[test]
fn untrusted_chains() {
    let trusted = root("Trusted CA");
    let other = root("Other CA");
    let leaf_of_other = leaf(&["localhost"], Some(&other), None);
    assert_eq!(
        refused(
            &[&trusted.pem.cert],
            identity(&leaf_of_other, &[]),
            "localhost"
        ),
        (
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
            "unable to verify the first certificate".into()
        )
    );
    // With the default trust: the same.
    let failure = connect(
        client(&ClientOptions::default()),
        server(&[identity(&leaf_of_other, &[])]),
        "localhost",
    )
    .unwrap_err();
    assert_eq!(failure.client_code().0, "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    // The alert of a failure named by the verifier is certificate_unknown (see verify.rs).
    assert_eq!(
        failure.server_code().0,
        "ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN"
    );

    let mid = intermediate("Other Intermediate", &other);
    let leaf_of_mid = leaf(&["localhost"], Some(&mid), None);
    assert_eq!(
        refused(
            &[&trusted.pem.cert],
            identity(&leaf_of_mid, &[&mid.pem]),
            "localhost"
        ),
        (
            "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
            "unable to get local issuer certificate".into()
        )
    );
    assert_eq!(
        refused(
            &[&trusted.pem.cert],
            identity(&leaf_of_mid, &[&mid.pem, &other.pem]),
            "localhost"
        ),
        (
            "SELF_SIGNED_CERT_IN_CHAIN",
            "self-signed certificate in certificate chain".into()
        )
    );
    // `ca: []` trusts nothing, as in Node.
    let failure = connect(
        client(&trusting(&[])),
        server(&[identity(&leaf_of_other, &[])]),
        "localhost",
    )
    .unwrap_err();
    assert_eq!(failure.client_code().0, "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
}

#[test]
fn wrong_host() {
    let ca = root("Test CA");
    let wrong = leaf(
        &["wrong.test", "www.wrong.test", "127.0.0.1"],
        Some(&ca),
        None,
    );
    assert_eq!(
        refused(&[&ca.pem.cert], identity(&wrong, &[]), "localhost"),
        (
            "ERR_TLS_CERT_ALTNAME_INVALID",
            "Hostname/IP does not match certificate's altnames: Host: localhost. is not in the \
             cert's altnames: DNS:wrong.test, DNS:www.wrong.test, IP Address:127.0.0.1"
                .into()
        )
    );
    assert_eq!(
        refused(&[&ca.pem.cert], identity(&wrong, &[]), "127.0.0.2"),
        (
            "ERR_TLS_CERT_ALTNAME_INVALID",
            "Hostname/IP does not match certificate's altnames: IP: 127.0.0.2 is not in the \
             cert's list: 127.0.0.1"
                .into()
        )
    );
    let failure = connect(
        client(&trusting(&[&ca.pem.cert])),
        server(&[identity(&wrong, &[])]),
        "localhost",
    )
    .unwrap_err();
    assert_eq!(
        failure.server_code().0,
        "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE"
    );
}

#[test]
fn reject_unauthorized_false_accepts_any_certificate() {
    let accept_any = ClientOptions {
        reject_unauthorized: false,
        ..ClientOptions::default()
    };
    let config = client(&accept_any);
    let self_signed = leaf(&["localhost"], None, None);
    let expired_elsewhere = leaf(&["wrong.test"], None, Some((2000, 2001)));
    for pem in [&self_signed, &expired_elsewhere] {
        let (c, _) = connect(config.clone(), server(&[identity(pem, &[])]), "localhost").unwrap();
        assert_eq!(
            c.peer_certificates().unwrap(),
            std::slice::from_ref(&pem.der)
        );
    }
}

#[test]
fn sni_chooses_the_identity() {
    let ca = root("Test CA");
    let a = leaf(&["a.test"], Some(&ca), None);
    let wild = leaf(&["*.example.test"], Some(&ca), None);
    let fallback = leaf(&["localhost", "127.0.0.1"], Some(&ca), None);
    let named = |pem: &Pem, name: &str| ServerIdentity {
        server_name: Some(name.to_owned()),
        ..identity(pem, &[])
    };
    let served = server(&[
        named(&a, "a.test"),
        named(&wild, "*.Example.test"),
        identity(&fallback, &[]),
    ]);
    let any = client(&ClientOptions {
        reject_unauthorized: false,
        ..ClientOptions::default()
    });
    let seen = |host: &str| {
        let (c, _) = connect(any.clone(), served.clone(), host).unwrap();
        c.peer_certificates().unwrap()[0].clone()
    };
    assert_eq!(seen("a.test"), a.der);
    assert_eq!(seen("A.TEST"), a.der);
    assert_eq!(seen("x.example.test"), wild.der);
    assert_eq!(
        seen("example.test"),
        fallback.der,
        "a wildcard needs one more label"
    );
    assert_eq!(
        seen("x.y.example.test"),
        fallback.der,
        "a wildcard covers one label"
    );
    assert_eq!(seen("unknown.test"), fallback.der);
    assert_eq!(
        seen("127.0.0.1"),
        fallback.der,
        "no SNI: the unnamed identity"
    );

    // Verified with the CA, each name gets a certificate valid for it.
    let trusted = client(&trusting(&[&ca.pem.cert]));
    for host in ["a.test", "x.example.test", "localhost", "127.0.0.1"] {
        connect(trusted.clone(), served.clone(), host).unwrap();
    }

    // Without an unnamed identity, the first answers unknown names.
    let served = server(&[named(&a, "a.test"), named(&wild, "*.example.test")]);
    let (c, _) = connect(any.clone(), served, "unknown.test").unwrap();
    assert_eq!(c.peer_certificates().unwrap()[0], a.der);
}

#[test]
fn request_cert_requires_a_client_certificate_signed_by_ca() {
    let ca = root("Test CA");
    let server_leaf = leaf(&["localhost"], Some(&ca), None);
    let clients_ca = root("Clients CA");
    let served = server(&[ServerIdentity {
        ca: vec![clients_ca.pem.cert.clone().into_bytes()],
        request_cert: true,
        ..identity(&server_leaf, &[])
    }]);

    let without = client(&trusting(&[&ca.pem.cert]));
    let failure = connect(without, served.clone(), "localhost").unwrap_err();
    assert_eq!(
        failure.server_code(),
        (
            "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE",
            "peer did not return a certificate".into()
        )
    );
    assert_eq!(
        failure.client_code(),
        (
            "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
            "tlsv13 alert certificate required".into()
        )
    );

    let with_cert = |pem: &Pem| {
        client(&ClientOptions {
            cert: Some(pem.cert.clone().into_bytes()),
            key: Some(pem.key.clone().into_bytes()),
            ..trusting(&[&ca.pem.cert])
        })
    };
    let alice = leaf(&["alice"], Some(&clients_ca), None);
    let (_, s) = connect(with_cert(&alice), served.clone(), "localhost").unwrap();
    assert_eq!(
        s.peer_certificates().unwrap(),
        std::slice::from_ref(&alice.der)
    );

    let mallory = leaf(&["mallory"], Some(&ca), None);
    let failure = connect(with_cert(&mallory), served.clone(), "localhost").unwrap_err();
    assert_eq!(failure.server_code().0, "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    assert_eq!(
        failure.client_code(),
        (
            "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
            "tlsv1 alert unknown ca".into()
        )
    );

    // Over TLS 1.2 too (rustls sends certificate_required there, where OpenSSL sends
    // handshake_failure).
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.pem.der.clone()).unwrap();
    let tls12 = ClientConfig::builder_with_provider(crate::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let failure = connect(Arc::new(tls12), served, "localhost").unwrap_err();
    assert_eq!(
        failure.server_code().0,
        "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE"
    );
    assert_eq!(
        failure.client_code().0,
        "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"
    );
}

#[test]
fn alpn_without_a_common_protocol_is_refused() {
    let ca = root("Test CA");
    let leaf = leaf(&["localhost"], Some(&ca), None);
    let h2_only = client_config(&trusting(&[&ca.pem.cert]), &[b"h2"]).unwrap();
    let failure = connect(h2_only, server(&[identity(&leaf, &[])]), "localhost").unwrap_err();
    assert_eq!(
        failure.server_code(),
        (
            "ERR_SSL_NO_APPLICATION_PROTOCOL",
            "no application protocol".into()
        )
    );
    assert_eq!(
        failure.client_code().0,
        "ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL"
    );
    // A client offering no ALPN at all is served.
    let none = client_config(&trusting(&[&ca.pem.cert]), &[]).unwrap();
    let (c, _) = connect(none, server(&[identity(&leaf, &[])]), "localhost").unwrap();
    assert_eq!(c.alpn_protocol(), None);
}

#[test]
fn a_peer_that_does_not_speak_tls() {
    let ca = root("Test CA");
    let leaf = leaf(&["localhost"], Some(&ca), None);
    let wrong_version = (
        "ERR_SSL_WRONG_VERSION_NUMBER",
        "wrong version number".to_owned(),
    );

    // A client whose server answers in plain HTTP.
    let config = client(&trusting(&[&ca.pem.cert]));
    let mut c = Connection::from(
        rustls::ClientConnection::new(config, server_name("localhost").unwrap()).unwrap(),
    );
    let mut hello = Vec::new();
    c.write_tls(&mut hello).unwrap();
    let mut error = None;
    feed(
        &mut c,
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
        &mut error,
    );
    assert_eq!(crate::tls::classify(&error.unwrap()), wrong_version);

    // A server sent a plain HTTP request.
    let mut s =
        Connection::from(rustls::ServerConnection::new(server(&[identity(&leaf, &[])])).unwrap());
    let mut error = None;
    feed(
        &mut s,
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        &mut error,
    );
    assert_eq!(crate::tls::classify(&error.unwrap()), wrong_version);
}

#[test]
fn sessions_resume() {
    let ca = root("Test CA");
    let leaf = leaf(&["localhost"], Some(&ca), None);
    let served = server(&[identity(&leaf, &[])]);
    let config = client(&trusting(&[&ca.pem.cert]));
    let (first, _) = connect(config.clone(), served.clone(), "localhost").unwrap();
    assert_eq!(first.handshake_kind(), Some(HandshakeKind::Full));
    let (second, _) = connect(config.clone(), served, "localhost").unwrap();
    assert_eq!(second.handshake_kind(), Some(HandshakeKind::Resumed));
    // A new config (a reload) has a new ticket key: a full handshake again.
    let reloaded = server(&[identity(&leaf, &[])]);
    let (third, _) = connect(config, reloaded, "localhost").unwrap();
    assert_eq!(third.handshake_kind(), Some(HandshakeKind::Full));
}
