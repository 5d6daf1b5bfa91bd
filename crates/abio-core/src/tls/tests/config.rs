//! Options that cannot make a config, each with the field at fault; keys in every format
//! Node takes; `NODE_EXTRA_CA_CERTS`; names; and `classify`'s tables.

use std::path::PathBuf;

use super::*;
use crate::tls::pem::read_extra_ca_certs;
use crate::tls::{classify, client_config, server_config, ConfigError, ServerIdentity};

fn server_error(id: ServerIdentity) -> ConfigError {
    server_config(&[id], HTTP1).unwrap_err()
}

fn client_error(o: ClientOptions) -> ConfigError {
    client_config(&o, HTTP1).unwrap_err()
}

/// An encrypted PKCS#8 PEM of `key` under `passphrase` (PBES2: PBKDF2-SHA256, AES-256-CBC).
fn encrypt(key: &str, passphrase: &str) -> String {
    use pkcs8::der::pem::LineEnding;
    let der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let info = pkcs8::PrivateKeyInfoRef::try_from(der.secret_pkcs8_der()).unwrap();
    let params =
        pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(2048, &[7; 16], [9; 16])
            .unwrap();
    let doc = info.encrypt_with_params(params, passphrase).unwrap();
    doc.to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .unwrap()
        .to_string()
}

use rustls::pki_types::pem::PemObject;

#[test]
fn bad_certificates_name_the_cert_field() {
    let pem = leaf(&["localhost"], None, None);
    let with_cert = |cert: &str| ServerIdentity {
        cert: cert.as_bytes().to_vec(),
        ..identity(&pem, &[])
    };
    let e = server_error(with_cert("not a certificate"));
    assert_eq!(e.field, "cert");
    assert!(e.message.starts_with("no certificate found"), "{e}");
    let e = server_error(with_cert(&pem.cert.replace("MI", "!!")));
    assert_eq!(e.to_string(), "cert: invalid PEM: bad base64 in a block");
    let e = server_error(with_cert(
        &pem.cert.replace("-----END CERTIFICATE-----", ""),
    ));
    assert_eq!(
        e.to_string(),
        "cert: invalid PEM: a block has no -----END CERTIFICATE----- line"
    );
    let e = server_config(&[], HTTP1).unwrap_err();
    assert_eq!(e.field, "cert");
}

#[test]
fn bad_keys_name_the_key_field() {
    let pem = leaf(&["localhost"], None, None);
    let other = leaf(&["localhost"], None, None);
    let with_key = |key: &str| ServerIdentity {
        key: key.as_bytes().to_vec(),
        ..identity(&pem, &[])
    };
    let e = server_error(with_key(&other.key));
    assert_eq!(e.to_string(), "key: does not match the certificate");
    let e = server_error(with_key(&pem.cert));
    assert_eq!(e.field, "key");
    assert!(e.message.starts_with("no private key found"), "{e}");
    let e = server_error(with_key(
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ));
    assert_eq!(e.field, "key");
    assert!(
        e.message.starts_with("unsupported or invalid private key"),
        "{e}"
    );
    let e = server_error(with_key(&fixture("ec-legacy-encrypted.key")));
    assert_eq!(e.field, "key");
    assert!(e.message.contains("openssl pkcs8 -topk8"), "{e}");

    // A client certificate and key go together.
    let e = client_error(ClientOptions {
        cert: Some(pem.cert.clone().into_bytes()),
        ..ClientOptions::default()
    });
    assert_eq!(e.field, "key");
    let e = client_error(ClientOptions {
        key: Some(pem.key.clone().into_bytes()),
        ..ClientOptions::default()
    });
    assert_eq!(e.field, "cert");
    let e = client_error(ClientOptions {
        cert: Some(pem.cert.clone().into_bytes()),
        key: Some(other.key.clone().into_bytes()),
        ..ClientOptions::default()
    });
    assert_eq!(e.to_string(), "key: does not match the certificate");
}

#[test]
fn encrypted_keys_need_the_right_passphrase() {
    let ca = root("Test CA");
    let pem = leaf(&["localhost"], Some(&ca), None);
    let encrypted = encrypt(&pem.key, "correct horse");
    let with = |passphrase: Option<&str>| ServerIdentity {
        key: encrypted.clone().into_bytes(),
        passphrase: passphrase.map(str::to_owned),
        ..identity(&pem, &[])
    };
    let e = server_error(with(None));
    assert_eq!(
        e.to_string(),
        "passphrase: the key is encrypted: a passphrase is needed"
    );
    let e = server_error(with(Some("wrong")));
    assert_eq!(e.field, "passphrase");
    assert!(e.message.starts_with("bad decrypt"), "{e}");

    let served = server_config(&[with(Some("correct horse"))], HTTP1).unwrap();
    connect(
        client_config(&trusting(&[&ca.pem.cert]), HTTP1).unwrap(),
        served,
        "localhost",
    )
    .unwrap();
}

#[test]
fn every_key_format_node_takes() {
    let id = |cert: &str, key: &str, passphrase: Option<&str>| ServerIdentity {
        cert: fixture(cert).into_bytes(),
        key: fixture(key).into_bytes(),
        passphrase: passphrase.map(str::to_owned),
        ..ServerIdentity::default()
    };
    let rsa = fixture("rsa-self-signed.crt");
    let ec = fixture("ec-self-signed.crt");
    let cases = [
        (&rsa, id("rsa-self-signed.crt", "rsa-pkcs1.key", None)),
        (
            &rsa,
            id("rsa-self-signed.crt", "rsa-aes256.key", Some("abio-test")),
        ),
        (&ec, id("ec-self-signed.crt", "ec-sec1.key", None)),
        (
            &ec,
            id("ec-self-signed.crt", "ec-3des-sha1.key", Some("abio-test")),
        ),
        (
            &ec,
            id("ec-self-signed.crt", "ec-scrypt.key", Some("abio-test")),
        ),
    ];
    for (cert, identity) in cases {
        let served = server_config(&[identity], HTTP1).unwrap();
        let config = client_config(&trusting(&[cert]), HTTP1).unwrap();
        connect(config, served, "localhost").unwrap();
    }
    let e = server_error(id("rsa-self-signed.crt", "rsa-aes256.key", Some("nope")));
    assert_eq!(e.field, "passphrase");
    // A PEM holding the certificate and the key together serves as both.
    let both = format!(
        "{}{}",
        fixture("ec-self-signed.crt"),
        fixture("ec-sec1.key")
    );
    let together = ServerIdentity {
        cert: both.clone().into_bytes(),
        key: both.into_bytes(),
        ..ServerIdentity::default()
    };
    server_config(&[together], HTTP1).unwrap();
}

#[test]
fn bad_ca_and_server_names() {
    let pem = leaf(&["localhost"], None, None);
    let e = client_error(trusting(&["/etc/ssl/certs/ca.pem"]));
    assert_eq!(e.field, "ca");
    assert!(e.message.starts_with("no certificate found"), "{e}");
    let e = server_error(ServerIdentity {
        ca: vec![b"garbage".to_vec()],
        request_cert: true,
        ..identity(&pem, &[])
    });
    assert_eq!(e.field, "ca");
    for bad in ["", "*", "a.*.test", "bad name.test", "*.*.test"] {
        let e = server_error(ServerIdentity {
            server_name: Some(bad.to_owned()),
            ..identity(&pem, &[])
        });
        assert_eq!(e.field, "serverName", "{bad:?}");
    }
    for good in ["a.test", "*.a.test", "A.Test."] {
        server_config(
            &[ServerIdentity {
                server_name: Some(good.to_owned()),
                ..identity(&pem, &[])
            }],
            HTTP1,
        )
        .unwrap();
    }
}

#[test]
fn server_names() {
    use rustls::pki_types::ServerName;
    let name = |host: &str| crate::tls::server_name(host).map(|n| n.to_str().into_owned());
    assert_eq!(name("localhost").unwrap(), "localhost");
    assert_eq!(name("127.0.0.1").unwrap(), "127.0.0.1");
    assert_eq!(name("[::1]").unwrap(), "::1");
    assert_eq!(name("::1").unwrap(), "::1");
    assert_eq!(name("fe80::1%eth0").unwrap(), "fe80::1");
    assert!(matches!(
        crate::tls::server_name("10.0.0.1"),
        Ok(ServerName::IpAddress(_))
    ));
    for bad in ["", "bad name", "a..b", "[::1"] {
        let e = crate::tls::server_name(bad).unwrap_err();
        assert_eq!(e.field, "servername", "{bad:?}");
    }
}

/// A file in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("abio-tls-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn node_extra_ca_certs_files() {
    let (a, b) = (root("Extra A"), root("Extra B"));
    let bundle = format!("# comment\n{}\n{}{}", a.pem.cert, a.pem.key, b.pem.cert);
    let file = TempFile::new("bundle.pem", &bundle);
    assert_eq!(
        read_extra_ca_certs(&file.0).unwrap(),
        [a.pem.der.clone(), b.pem.der.clone()]
    );

    let empty = TempFile::new("empty.pem", "no certificates here\n");
    assert_eq!(read_extra_ca_certs(&empty.0).unwrap(), []);

    let broken = TempFile::new("broken.pem", &a.pem.cert.replace("MI", "!!"));
    assert!(read_extra_ca_certs(&broken.0).is_err());

    let missing = std::env::temp_dir().join("abio-tls-no-such-file.pem");
    #[cfg(unix)]
    assert_eq!(
        read_extra_ca_certs(&missing).unwrap_err(),
        "error:80000002:system library::No such file or directory"
    );
    #[cfg(not(unix))]
    assert!(read_extra_ca_certs(&missing).is_err());
}

#[test]
fn the_default_trust_is_mozillas() {
    let roots = crate::tls::default_roots();
    assert!(roots.len() >= webpki_roots::TLS_SERVER_ROOTS.len());
    assert!(
        std::sync::Arc::ptr_eq(&roots, &crate::tls::default_roots()),
        "made once"
    );
}

#[test]
fn alert_codes_are_openssl_reasons() {
    use rustls::AlertDescription as A;
    let mut seen = 0;
    for n in 0..=255u8 {
        let (code, message) = classify(&rustls::Error::AlertReceived(A::from(n)));
        if code == "ABIO_ERR_TLS" {
            continue;
        }
        // Node's code is OpenSSL's reason, upper-cased, with underscores.
        let expected = format!("ERR_SSL_{}", message.to_uppercase().replace(' ', "_"));
        assert_eq!(code, expected);
        assert!(
            message.starts_with("sslv3 ") || message.starts_with("tlsv1"),
            "{message}"
        );
        seen += 1;
    }
    assert_eq!(seen, 33);
    assert_eq!(
        classify(&rustls::Error::AlertReceived(A::UnknownCA)),
        (
            "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
            "tlsv1 alert unknown ca".into()
        )
    );
    assert_eq!(
        classify(&rustls::Error::General("odd".into())),
        ("ABIO_ERR_TLS", "unexpected error: odd".into())
    );
}
