//! HTTP (design.md section 7): `serve()` on hyper 1 over the shared tokio runtime.
//!
//! Routes ([`routes`]: exact paths, `GET` and `HEAD`, the query ignored) are answered
//! entirely in Rust, without entering JS: bytes routes are the caller's memory, held (not
//! copied) as `bytes::Bytes`; file routes are [`files`]. Both get `ETag` (and files
//! `Last-Modified`), 304 and single byte ranges ([`answer`], by the rules of
//! [`abio_core::http`]). Other requests go to the JS `fetch` handler ([`exchange`]); `serve`
//! and `reload` take `#[napi(object)]` options ([`ServeOptions`], [`RouteSpec`]). WebSocket
//! upgrades are the WebSocket side's (src/ws/upgrade.rs): this server asks it whether a
//! request is one, and hands it over. Bodies both ways are [`body`]; the
//! `headersTimeout`/`idleTimeout`/`bodyTimeout` watch is [`timeouts`]. The listening
//! socket's lifecycle is src/net/listen.rs's `Listening`.

use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use napi::bindgen_prelude::{ClassInstance, FnArgs, Function, FunctionRef};
use napi::Env;
use napi_derive::napi;
use tokio::sync::watch;

mod answer;

mod exchange;
mod files;
mod outflow;
mod routes;
mod timeouts;

use exchange::{dispatch, NativeRequest};
use files::Budget;
use routes::{route_answer, route_table, RouteSpec, Routes};
use timeouts::{Activity, Limits, Tracked, Watched};

use crate::bytes::WriteList;
use crate::error::{sync_call, AbioError};
use crate::net::dial::target;
use crate::net::listen::{listening, Bound, Listening};
use crate::net::transport::Transport;
use crate::runtime::Promise;
use crate::tls::{ServerTls, TlsServerContext};
use crate::ws::upgrade::{WsServeOptions, WsServer};

/// A wrong argument `lib/` did not catch (or could not: a header Rust parses).
fn invalid(msg: String) -> AbioError {
    AbioError::InvalidArg(msg)
}

/// Limits against slow or hostile clients.
#[napi(object)]
pub struct HttpOptions {
    /// Bytes of a request's line and headers, then 431.
    pub max_header_size: u32,
    /// Milliseconds from a request's first byte to the end of its headers, then the
    /// connection is closed.
    pub headers_timeout: f64,
    /// Milliseconds a connection may wait for its next request, then it is closed.
    pub idle_timeout: f64,
    /// Milliseconds a request may go without progress while it waits on the client (a
    /// handler waits for body bytes, or the kernel takes no byte of the answer), then the
    /// connection is closed.
    pub body_timeout: f64,
    /// Bytes of a request body `req.body()` reads, then 413.
    pub max_body_size: f64,
}

struct Http {
    core: Arc<Listening>,
    routes: RwLock<Arc<Routes>>,
    /// What the routes' files may keep in memory.
    budget: Arc<Budget>,
    options: HttpOptions,
    /// Set when the server closes: connections finish their request and close.
    shutdown: watch::Sender<bool>,
    /// lib/http.js's dispatcher for the `fetch` handler: `(request, method, url, headers)`.
    fetch: Option<FetchFn>,
    /// https and wss: each connection's handshake runs before hyper sees it.
    tls: Option<Arc<ServerTls>>,
    /// WebSocket upgrades, when the server takes them.
    ws: Option<Arc<WsServer>>,
}

/// `(request, method, url, headers)` of lib/http.js's dispatcher.
type FetchArgs = FnArgs<(NativeRequest, String, String, Vec<String>)>;
type FetchFn = FunctionRef<FetchArgs, ()>;

impl Http {
    fn routes(&self) -> Arc<Routes> {
        self.routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The transport of a connection hyper hands over on an upgrade.
fn take_transport(io: Watched<Transport>) -> Transport {
    io.io
}

/// Accepts connections until the server closes; each is served by hyper on its own task.
async fn serve_loop(server: Arc<Http>, io: Bound) {
    while let Some(sock) = server.core.accept(&io).await {
        let _ = sock.set_tcp_nodelay(true);
        // Plain: registered here. TLS: the socket goes to the connection's task.
        let accepted = match &server.tls {
            None => match Transport::new(sock) {
                Ok(stream) => Ok(stream),
                Err(_) => continue,
            },
            Some(_) => Err(sock),
        };
        let me = server.clone();
        server.core.js.spawn(async move {
            // A TLS handshake on the connection's own task, bounded by the handshake
            // timeout: a slow client holds up nobody else.
            let stream = match (accepted, &me.tls) {
                (Ok(stream), _) => stream,
                (Err(sock), Some(tls)) => match Transport::accept_tls(sock, tls).await {
                    Ok(stream) => stream,
                    Err(_) => return,
                },
                (Err(_), None) => return,
            };
            let mut stop = me.shutdown.subscribe();
            let activity = Activity::new();
            let (routes_of, watched) = (me.clone(), activity.clone());
            let service = service_fn(move |req| {
                let (server, activity) = (routes_of.clone(), watched.clone());
                activity.busy();
                async move {
                    if let Some(ws) = server
                        .ws
                        .as_ref()
                        .filter(|ws| ws.wants(req.uri().path(), req.headers()))
                    {
                        let r = ws.answer(&server.core.js, req, take_transport).await;
                        return Ok(r.map(|body| Tracked { body, activity }));
                    }
                    let routes = server.routes();
                    let handled = server.fetch.is_some();
                    let r = match route_answer(&routes, &server.budget, &req, handled).await {
                        Some(r) => r,
                        None => dispatch(server, req, activity.clone()).await,
                    };
                    Ok::<_, Infallible>(r.map(|body| Tracked { body, activity }))
                }
            });
            let io = Watched {
                io: stream,
                activity: activity.clone(),
            };
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .keep_alive(true)
                .max_header_size(me.options.max_header_size as usize)
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            tokio::pin!(conn);
            if *stop.borrow() {
                conn.as_mut().graceful_shutdown();
            }
            let ms = |n: f64| Duration::from_millis(n as u64);
            let limits = Limits {
                headers: ms(me.options.headers_timeout),
                idle: ms(me.options.idle_timeout),
                body: ms(me.options.body_timeout),
            };
            let overstayed = timeouts::watch(activity, limits);
            tokio::pin!(overstayed);
            tokio::select! {
                _ = conn.as_mut() => return,
                // Dropping the connection closes it.
                _ = overstayed.as_mut() => return,
                _ = stop.changed() => conn.as_mut().graceful_shutdown(),
            }
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = overstayed => {}
            }
        });
    }
    let _ = server.shutdown.send(true);
    server.core.stopped(io);
}

/// A listening HTTP server (the native half of `lib/http.js`'s `HttpServer`).
#[napi]
pub struct NativeHttpServer {
    inner: Arc<Http>,
    host: String,
    port: u32,
}

#[napi]
impl NativeHttpServer {
    /// The address it listens on.
    #[napi(getter)]
    pub fn host(&self) -> String {
        self.host.clone()
    }

    /// The port it listens on (the one picked when 0 was asked).
    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.port
    }

    /// Replaces the routes (when given) and the TLS context (when given); requests already
    /// answered keep the bodies they got, open connections their certificates.
    #[napi]
    pub fn reload(
        &self,
        env: Env,
        routes: Option<Vec<RouteSpec>>,
        tls: Option<ClassInstance<TlsServerContext>>,
    ) -> napi::Result<()> {
        sync_call(&env, || {
            if tls.is_some() && self.inner.tls.is_none() {
                return Err(AbioError::InvalidArg(
                    "options.tls: the server was started without tls".into(),
                ));
            }
            if let Some(routes) = routes {
                let table = route_table(routes)?;
                *self.inner.routes.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
            }
            if let (Some(ctx), Some(current)) = (tls, &self.inner.tls) {
                current.reload(&ctx);
            }
            Ok(())
        })
    }

    /// Stops accepting; resolves once the listening socket is closed. Open connections
    /// finish the request they are on, then close.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self, env: Env) -> napi::Result<Promise> {
        let _ = self.inner.shutdown.send(true);
        if let Some(ws) = &self.inner.ws {
            ws.registry().going_away();
        }
        self.inner.core.close(&env)
    }

    /// Queues `list`'s one message on every open WebSocket, framed once (sent by
    /// `flushBroadcasts`); returns how many.
    #[napi(ts_args_type = "list: Array<string | ArrayBufferView>")]
    pub fn broadcast(&self, list: WriteList) -> napi::Result<u32> {
        match &self.inner.ws {
            Some(ws) => ws.registry().broadcast(&list),
            None => Ok(0),
        }
    }

    /// Queues `list`'s one message on every WebSocket subscribed to `topic`, framed once
    /// (sent by `flushBroadcasts`); returns how many.
    #[napi(ts_args_type = "topic: string, list: Array<string | ArrayBufferView>")]
    pub fn publish(&self, topic: String, list: WriteList) -> napi::Result<u32> {
        match &self.inner.ws {
            Some(ws) => ws.registry().publish(&topic, &list, None),
            None => Ok(0),
        }
    }

    /// How many WebSockets are subscribed to `topic`.
    #[napi]
    pub fn subscriber_count(&self, topic: String) -> u32 {
        self.inner
            .ws
            .as_ref()
            .map_or(0, |ws| ws.registry().subscribers(&topic))
    }

    /// Sends what this turn's broadcasts and publishes queued.
    #[napi]
    pub fn flush_broadcasts(&self, env: Env) {
        if let Some(ws) = &self.inner.ws {
            ws.registry().flush(&env);
        }
    }

    /// Keeps the process alive while listening (the default).
    #[napi(js_name = "ref")]
    pub fn ref_(&self, env: Env) {
        self.inner.core.hold(&env, true);
    }

    /// Lets the process exit while listening.
    #[napi]
    pub fn unref(&self, env: Env) {
        self.inner.core.hold(&env, false);
    }
}

/// `serve()`'s options, as `lib/http.js` checked them.
#[napi(object, object_to_js = false)]
pub struct ServeOptions<'a> {
    /// The address to listen on; all of them (`::`, else `0.0.0.0`) when absent.
    pub host: Option<String>,
    /// The port (0: one the OS picks).
    pub port: u32,
    /// `SO_REUSEPORT`: several servers share the port.
    pub reuse_port: bool,
    /// Answered in Rust, without entering JS.
    pub routes: Vec<RouteSpec>,
    /// Limits against slow or hostile clients.
    pub limits: HttpOptions,
    /// lib/http.js's dispatcher for the `fetch` handler, called for each request no route
    /// answers; without it, such requests get 404 (405 for a route's path).
    #[napi(
        ts_type = "(request: NativeRequest, method: string, url: string, headers: string[]) => void"
    )]
    pub fetch: Option<Function<'a, FetchArgs, ()>>,
    /// WebSocket upgrades, when the server takes them.
    pub websocket: Option<WsServeOptions<'a>>,
    /// https and wss: the certificates (`lib/tls.js` made the context).
    pub tls: Option<ClassInstance<'a, TlsServerContext>>,
    /// Milliseconds a TLS handshake may take, then the connection is dropped.
    pub handshake_timeout: f64,
}

/// Listens on `host:port` and serves the routes. Resolves once listening.
#[napi(ts_return_type = "Promise<NativeHttpServer>")]
pub fn serve(env: Env, options: ServeOptions<'_>) -> napi::Result<Promise> {
    let ServeOptions {
        host,
        port,
        reuse_port,
        routes,
        limits: options,
        fetch,
        websocket,
        tls,
        handshake_timeout,
    } = options;
    let tls = tls.map(|ctx| ServerTls::new(&ctx, handshake_timeout));
    let routes = sync_call(&env, || route_table(routes))?;
    let fetch = fetch.map(|f| f.create_ref()).transpose()?;
    let ws = match websocket {
        Some(o) => Some(Arc::new(WsServer::new(o)?)),
        None => None,
    };
    let target = target(host, port, None);
    listening(
        &env,
        target,
        511,
        reuse_port,
        move |core, io, host, port| {
            let inner = Arc::new(Http {
                core,
                routes: RwLock::new(Arc::new(routes)),
                budget: Budget::new(),
                options,
                shutdown: watch::Sender::new(false),
                fetch,
                ws,
                tls,
            });
            inner.core.js.spawn(serve_loop(inner.clone(), io));
            NativeHttpServer {
                inner,
                host,
                port: port as u32,
            }
        },
    )
}
