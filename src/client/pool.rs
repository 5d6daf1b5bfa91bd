//! The connection pool: `hyper_util`'s legacy `Client` (keep-alive, one pool per JS
//! environment, whose connections are tasks of that environment: a terminated worker's stop
//! with it) over our own connector ([`Connector`]): it resolves and connects the way
//! `connect()` does (src/net/dial.rs: Node-shaped `ECONNREFUSED`/`ENOTFOUND`) and sets
//! `TCP_NODELAY`. Chosen over a hand-made pool over `hyper::client::conn::http1`: that
//! pool would have to redo what this one already does right: check out only idle
//! connections that are still open, evict idle ones on a timer, and resend a request that
//! failed on a reused connection before any of it was written (the server closed the idle
//! connection just then). Its cost per request is a hash-map lookup and a lock, small next
//! to the 30-45 µs thread hop back to JS that every call pays anyway. Measured here
//! (bench/http-client.js --quick, 2 cores, a Node server in another process): GET 16 B one
//! at a time ~200 µs per request (http.get with a keep-alive Agent ~340 µs, fetch ~630 µs);
//! 16 in flight ~15k req/s (http.get ~4.2k). A hand-made pool was not built to compare: at
//! these figures the server's side dominates.
//!
//! Idle pooled connections live on the runtime only: nothing holds the Node event loop for
//! them, so a process exits as soon as its requests are done.
//!
//! `https:` connections are TLS transports (src/net/transport.rs) made with the request's
//! TLS context (src/tls/): one pool per context, so a connection verified against one
//! trust is never reused by a request that asked for another. Equal options give the same
//! context (src/tls/ interns them), hence the same pool.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use abio_core::Error as CoreError;
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioIo, TokioTimer};
use napi::{sys, Env};

use crate::body::Body as ReqBody;
use crate::error::AbioError;
use crate::net::dial::{open, Target};
use crate::net::transport::Transport;
use crate::runtime::Js;
use crate::tls::ClientContext;

/// How long a pooled connection may sit idle before it is closed: under the 5 s
/// `keepAliveTimeout` of Node's server (undici uses 4 s too), so that we rarely reuse a
/// connection the server is closing.
const POOL_IDLE: Duration = Duration::from_secs(4);

/// Opens pooled connections: resolve and connect as `connect()` does, then `TCP_NODELAY`
/// (a request's head and body leave in separate writes, which Nagle would delay), then
/// for `https:` the TLS handshake with `tls`.
/// The context is held weakly: a pool must not keep its own context alive (see
/// [`pool`]); each request holds it while it runs.
#[derive(Clone)]
pub(super) struct Connector {
    tls: Weak<ClientContext>,
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Transport>;
    type Error = CoreError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, CoreError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), CoreError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let tls = self.tls.clone();
        Box::pin(async move {
            let secure = uri.scheme_str() == Some("https");
            let host = uri.host().unwrap_or_default().to_string();
            let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
            let sock = open(&Target::Tcp(host.clone(), port))
                .await
                .map_err(|e| match e {
                    AbioError::Core(c) => c,
                    other => CoreError::net(io::Error::other(format!("{other:?}")), "connect"),
                })?;
            let _ = sock.set_tcp_nodelay(true);
            let stream = if secure {
                let tls = tls.upgrade().ok_or(CoreError::Closed("TLS context"))?;
                Transport::connect_tls(sock, &tls, &host).await
            } else {
                Transport::new(sock)
            };
            Ok(TokioIo::new(
                stream.map_err(|e| CoreError::net(e, "connect"))?,
            ))
        })
    }
}

/// What the pool knows of a connection: a plain HTTP/1.1 one (no proxy, no ALPN).
impl hyper_util::client::legacy::connect::Connection for Transport {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        hyper_util::client::legacy::connect::Connected::new()
    }
}

/// A pool of keep-alive connections.
pub(super) type Pool = Client<Connector, ReqBody>;

/// The pools of one JS environment, by TLS context (its address; the context is held
/// weakly, and a pool whose context is gone is dropped with its idle connections).
type Pools = HashMap<usize, (Weak<ClientContext>, Pool)>;

thread_local! {
    /// The pools of this thread's JS environment. Per environment, not per process: their
    /// connections (which send held request bodies) run as tasks of that environment
    /// ([`Js::spawn`]), so a worker's teardown stops them before its memory is freed.
    static POOLS: RefCell<Option<(sys::napi_env, Pools)>> = const { RefCell::new(None) };
}

/// The pool of `env`'s environment for `tls` (the default context's also serves `http:`),
/// made on first use. The caller holds `tls` until its request is done; a pool whose
/// context nobody holds any more is dropped (with its idle connections) when the next pool
/// is made. JS thread.
pub(super) fn pool(env: &Env, js: &Js, tls: &Arc<ClientContext>) -> Pool {
    POOLS.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(owner, _)| *owner != env.raw()) {
            *slot = Some((env.raw(), HashMap::new()));
        }
        let (_, pools) = slot.as_mut().expect("set above");
        let key = Arc::as_ptr(tls) as usize;
        if let Some((_, pool)) = pools.get(&key).filter(|(ctx, _)| ctx.strong_count() > 0) {
            return pool.clone();
        }
        pools.retain(|_, (ctx, _)| ctx.strong_count() > 0);
        let weak = Arc::downgrade(tls);
        let pool = Client::builder(js.clone())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(Connector { tls: weak.clone() });
        pools.insert(key, (weak, pool.clone()));
        pool
    })
}
