//! TLS, for every network area: the contexts `lib/tls.js` makes from a `tls` option
//! ([`TlsServerContext`] for `serve`/`listen`, [`TlsClientContext`] for `connect`,
//! `request`, `download` and `connectWebSocket`), and the [`session`] that stands in for a
//! plain socket behind the transport seam (src/net/transport.rs). Certificates, keys,
//! trust (Mozilla's roots plus `NODE_EXTRA_CA_CERTS`) and Node's error codes are
//! `abio_core::tls`'s; the handshake runs in [`crate::net::transport::Transport::secure`].
//!
//! A context is made once, when the options are given (a bad certificate throws there,
//! not at the first connection), and shared by every connection that uses it: rustls's
//! configuration is immutable and reference-counted, so a server's `reload({ tls })`
//! swaps in a new context while open connections keep theirs.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use abio_core::tls::rustls::{self, ClientConnection, Connection, ServerConnection};
use abio_core::tls::{ClientOptions, ConfigError, ServerIdentity};
use napi::Env;
use napi_derive::napi;

use crate::bytes::CopiedBytes;
use crate::error::{sync_call, to_js, AbioError, AbioResult};

pub mod session;

use session::tls_error;

/// One identity of `serve({ tls })`/`listen({ tls })`, as `lib/tls.js` checked it.
#[napi(object, object_to_js = false)]
pub struct TlsServerSpec {
    /// The certificate chain, PEM (leaf first).
    #[napi(ts_type = "string | ArrayBufferView")]
    pub cert: CopiedBytes,
    /// The private key, PEM (PKCS#8, PKCS#1, SEC1, or encrypted PKCS#8 with `passphrase`).
    #[napi(ts_type = "string | ArrayBufferView")]
    pub key: CopiedBytes,
    /// Decrypts an encrypted key.
    pub passphrase: Option<String>,
    /// Trust for client certificates (PEM, each may hold several).
    #[napi(ts_type = "Array<string | ArrayBufferView>")]
    pub ca: Vec<CopiedBytes>,
    /// Asks for a client certificate, and refuses a client without a valid one.
    pub request_cert: bool,
    /// The SNI name this identity answers.
    pub server_name: Option<String>,
}

/// The TLS side of a server: its certificates, made once from `tls` options.
#[napi]
pub struct TlsServerContext {
    config: Arc<rustls::ServerConfig>,
}

/// A TLS server's side of its connections (`serve`, `listen`): the context new handshakes
/// use, swapped by `reload({ tls })`, and how long a handshake may take (then the
/// connection is dropped: a client that stops mid-handshake holds a descriptor no longer).
pub(crate) struct ServerTls {
    config: RwLock<Arc<rustls::ServerConfig>>,
    pub(crate) handshake_timeout: Duration,
}

impl ServerTls {
    pub(crate) fn new(ctx: &TlsServerContext, handshake_timeout_ms: f64) -> Arc<ServerTls> {
        Arc::new(ServerTls {
            config: RwLock::new(ctx.config.clone()),
            handshake_timeout: Duration::from_millis(handshake_timeout_ms as u64),
        })
    }

    /// A server session for a new connection, with the current context.
    pub(crate) fn connection(&self) -> io::Result<Connection> {
        let config = self
            .config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        ServerConnection::new(config)
            .map(Connection::Server)
            .map_err(tls_error)
    }

    /// New handshakes use `ctx` from now on; open connections keep theirs.
    pub(crate) fn reload(&self, ctx: &TlsServerContext) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = ctx.config.clone();
    }
}

/// `lib/tls.js`'s `tls` option of `connect`, `request`, `download`, `connectWebSocket`.
#[napi(object, object_to_js = false)]
pub struct TlsClientSpec {
    /// Trust instead of the default roots (PEM).
    #[napi(ts_type = "Array<string | ArrayBufferView>")]
    pub ca: Option<Vec<CopiedBytes>>,
    /// `false`: any certificate is accepted (the handshake's signatures are still checked).
    pub reject_unauthorized: bool,
    /// The name to send (SNI) and verify, instead of the host connected to.
    pub servername: Option<String>,
    /// A client certificate chain (PEM).
    #[napi(ts_type = "string | ArrayBufferView")]
    pub cert: Option<CopiedBytes>,
    /// Its private key (PEM).
    #[napi(ts_type = "string | ArrayBufferView")]
    pub key: Option<CopiedBytes>,
    /// Decrypts an encrypted key.
    pub passphrase: Option<String>,
}

/// The TLS side of a client: trust and client certificate, made once from options and
/// shared by the connections that use them (the HTTP client pools its connections per
/// context: see src/client/pool.rs).
#[napi]
pub struct TlsClientContext {
    pub(crate) inner: Arc<ClientContext>,
}

/// What a [`TlsClientContext`] holds, shared with the connections made from it.
pub(crate) struct ClientContext {
    config: Arc<rustls::ClientConfig>,
    servername: Option<String>,
}

impl ClientContext {
    /// A client session for a connection to `host` (the name verified and sent as SNI,
    /// unless `servername` was given).
    pub(crate) fn connection(&self, host: &str) -> io::Result<Connection> {
        let name = self.servername.as_deref().unwrap_or(host);
        let name = abio_core::tls::server_name(name)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        ClientConnection::new(self.config.clone(), name)
            .map(Connection::Client)
            .map_err(tls_error)
    }
}

/// A bad option, named as the caller knows it (`options.tls.cert`, `options.ca`).
fn invalid(name: &str, e: ConfigError) -> AbioError {
    AbioError::InvalidArg(format!("{name}.{e}"))
}

fn protocols(alpn: &[String]) -> Vec<&[u8]> {
    alpn.iter().map(|p| p.as_bytes()).collect()
}

/// Makes a server context from `specs` (several: chosen by SNI), offering `alpn`; errors
/// name the option `name` (`options.tls`).
/// @throws {TypeError} `ABIO_ERR_INVALID_ARG` when a certificate or key does not parse,
/// they do not match, or the passphrase is wrong.
#[napi]
pub fn tls_server_context(
    env: Env,
    specs: Vec<TlsServerSpec>,
    alpn: Vec<String>,
    name: String,
) -> napi::Result<TlsServerContext> {
    sync_call(&env, || {
        let ids: Vec<ServerIdentity> = specs
            .into_iter()
            .map(|s| ServerIdentity {
                cert: s.cert.0,
                key: s.key.0,
                passphrase: s.passphrase,
                ca: s.ca.into_iter().map(|c| c.0).collect(),
                request_cert: s.request_cert,
                server_name: s.server_name,
            })
            .collect();
        let config = abio_core::tls::server_config(&ids, &protocols(&alpn))
            .map_err(|e| invalid(&name, e))?;
        Ok(TlsServerContext { config })
    })
}

/// Makes a client context from `spec`, offering `alpn`; equal options give the same
/// context while one is alive (so `request()` calls with equal options share a pool).
/// Errors name the option `name` (`options`, `options.tls`).
/// @throws {TypeError} `ABIO_ERR_INVALID_ARG` when a certificate or key does not parse.
#[napi]
pub fn tls_client_context(
    env: Env,
    spec: TlsClientSpec,
    alpn: Vec<String>,
    name: String,
) -> napi::Result<TlsClientContext> {
    sync_call(&env, || {
        let options = ClientOptions {
            ca: spec.ca.map(|v| v.into_iter().map(|c| c.0).collect()),
            reject_unauthorized: spec.reject_unauthorized,
            cert: spec.cert.map(|c| c.0),
            key: spec.key.map(|c| c.0),
            passphrase: spec.passphrase,
        };
        let inner = client_context(options, spec.servername, alpn, &name)?;
        Ok(TlsClientContext { inner })
    })
}

/// The contexts alive, by everything they were made from.
static CLIENTS: Mutex<Option<HashMap<Vec<u8>, Weak<ClientContext>>>> = Mutex::new(None);

/// The context for these options: the live one made from equal options, else a new one.
fn client_context(
    options: ClientOptions,
    servername: Option<String>,
    alpn: Vec<String>,
    name: &str,
) -> AbioResult<Arc<ClientContext>> {
    let key = identity(&options, servername.as_deref(), &alpn);
    let mut clients = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
    let clients = clients.get_or_insert_with(HashMap::new);
    if let Some(ctx) = clients.get(&key).and_then(Weak::upgrade) {
        return Ok(ctx);
    }
    let option = name;
    if let Some(name) = &servername {
        abio_core::tls::server_name(name).map_err(|e| invalid(option, e))?;
    }
    let config = abio_core::tls::client_config(&options, &protocols(&alpn))
        .map_err(|e| invalid(option, e))?;
    let ctx = Arc::new(ClientContext { config, servername });
    clients.retain(|_, c| c.strong_count() > 0);
    clients.insert(key, Arc::downgrade(&ctx));
    Ok(ctx)
}

/// Everything a client context is made from, as bytes (each field tagged and
/// length-prefixed, so different options never give equal bytes).
fn identity(o: &ClientOptions, servername: Option<&str>, alpn: &[String]) -> Vec<u8> {
    let mut key = Vec::new();
    let mut put = |tag: u8, bytes: &[u8]| {
        key.push(tag);
        key.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        key.extend_from_slice(bytes);
    };
    for ca in o.ca.iter().flatten() {
        put(1, ca);
    }
    put(2, &[o.reject_unauthorized as u8, o.ca.is_some() as u8]);
    for (tag, field) in [(3, &o.cert), (4, &o.key)] {
        if let Some(v) = field {
            put(tag, v);
        }
    }
    if let Some(p) = &o.passphrase {
        put(5, p.as_bytes());
    }
    if let Some(n) = servername {
        put(6, n.as_bytes());
    }
    for p in alpn {
        put(7, p.as_bytes());
    }
    key
}

/// The TLS context of a client call: the one given, else [`default_client`]. JS thread.
pub(crate) fn client_of(
    env: &Env,
    given: Option<&TlsClientContext>,
) -> napi::Result<Arc<ClientContext>> {
    match given {
        Some(t) => Ok(t.inner.clone()),
        None => default_client().map_err(|e| to_js(env, e)),
    }
}

/// The context of `request()`, `download()` and `connectWebSocket()` without TLS options:
/// default trust, certificates verified, ALPN `http/1.1`. Made once per process.
pub(crate) fn default_client() -> AbioResult<Arc<ClientContext>> {
    static DEFAULT: OnceLock<Arc<ClientContext>> = OnceLock::new();
    if let Some(ctx) = DEFAULT.get() {
        return Ok(ctx.clone());
    }
    let ctx = client_context(
        ClientOptions::default(),
        None,
        vec!["http/1.1".into()],
        "options",
    )?;
    Ok(DEFAULT.get_or_init(|| ctx).clone())
}
