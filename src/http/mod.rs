//! HTTP (design.md section 7): `serve()` on hyper 1 over the shared tokio runtime.
//!
//! Routes ([`routes`]: exact paths, `GET` and `HEAD`, the query ignored) are answered
//! entirely in Rust, without entering JS: bytes routes are the caller's memory, held (not
//! copied) as `bytes::Bytes`; file routes are [`files`]. Both get `ETag` (and files
//! `Last-Modified`), 304 and single byte ranges ([`answer`], by the rules of
//! [`abio_core::http`]). Other requests go to the JS `fetch` handler ([`exchange`]); `serve`
//! and `reload` take `#[napi(object)]` options ([`ServeOptions`], [`RouteSpec`]). WebSocket
//! upgrades become
//! src/ws.rs connections ([`accept_upgrade`]). Bodies both ways are [`body`]; the
//! `headersTimeout`/`idleTimeout`/`bodyTimeout` watch is [`timeouts`]. The listening
//! socket's lifecycle is src/net/listen.rs's `Listening`.

use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use napi::bindgen_prelude::{FnArgs, Function, FunctionRef};
use napi::Env;
use napi_derive::napi;
use tokio::sync::watch;

mod answer;
pub(crate) mod body;
mod exchange;
mod files;
mod routes;
mod timeouts;

use answer::empty;
use body::Body;
use exchange::{dispatch, NativeRequest};
use files::Budget;
use routes::{route_answer, route_table, RouteSpec, Routes};
use timeouts::{Activity, Limits, Tracked, Watched};

use crate::bytes::{latin1_string, WriteList};
use crate::error::{sync_call, AbioError};
use crate::net::dial::target;
use crate::net::listen::{listening, Listening};
use crate::net::Io;
use crate::runtime::Promise;
use crate::ws::{NativeWebSocket, Registry, Ws, WsOptions};
use abio_core::ws::{self as codec, Role};

/// A wrong argument `lib/` did not catch (or could not: a header Rust parses).
fn invalid(msg: String) -> AbioError {
    AbioError::InvalidArg(msg)
}

/// `serve({ websocket })` as lib/ws.js checked it.
#[napi(object, object_to_js = false)]
pub struct WsServeOptions<'a> {
    /// Upgrades only on this path; any path when absent.
    pub path: Option<String>,
    /// What every connection gets.
    pub connection: WsOptions,
    /// lib/ws.js's opener, called with each new connection (before it reads anything).
    #[napi(
        ts_type = "(socket: NativeWebSocket, method: string, url: string, headers: string[]) => void"
    )]
    pub on_open: Function<'a, OpenArgs, ()>,
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
    /// WebSocket upgrades, when the server takes them.
    ws: Option<WsServe>,
}

/// `serve({ websocket })`: where upgrades are taken, the connections' options, lib/ws.js's
/// `(socket, method, url, headers)` for each new connection, and the open connections.
struct WsServe {
    path: Option<String>,
    options: WsOptions,
    on_open: OpenFn,
    registry: Arc<Registry>,
}

type OpenArgs = FnArgs<(NativeWebSocket, String, String, Vec<String>)>;
type OpenFn = FunctionRef<OpenArgs, ()>;

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

/// Whether `headers` ask for a WebSocket upgrade this server takes: `None` when not (the
/// request is served as HTTP), `Ok` to accept, `Err` with the refusal (400, or 426 for
/// another protocol version).
fn upgrade(
    server: &Http,
    method: &Method,
    path: &str,
    headers: &hyper::HeaderMap,
) -> Option<Result<(), Response<Body>>> {
    let ws = server.ws.as_ref()?;
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") {
        return None;
    }
    if ws.path.as_deref().is_some_and(|p| p != path) {
        return None;
    }
    if method != Method::GET || !headers.contains_key(header::SEC_WEBSOCKET_KEY) {
        return Some(Err(empty(StatusCode::BAD_REQUEST)));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        let mut r = empty(StatusCode::UPGRADE_REQUIRED);
        r.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return Some(Err(r));
    }
    Some(Ok(()))
}

/// Answers 101 to a WebSocket upgrade; once hyper hands the connection over, it becomes a
/// [`Ws`], told to JS (`open`) before it reads anything.
fn accept_upgrade(server: Arc<Http>, mut req: Request<Incoming>) -> Response<Body> {
    let key = req.headers()[header::SEC_WEBSOCKET_KEY].as_bytes().to_vec();
    let upgraded = hyper::upgrade::on(&mut req);
    let (parts, _) = req.into_parts();
    let js = server.core.js.clone();
    js.spawn(async move {
        let Some(ws) = &server.ws else { return };
        let Ok(up) = upgraded.await else { return };
        let Ok(parts_io) = up.downcast::<TokioIo<Watched<tokio::net::TcpStream>>>() else {
            return;
        };
        let early = parts_io.read_buf.to_vec();
        let stream = parts_io.io.into_inner().io;
        let js = server.core.js.clone();
        let conn = Ws::new(
            stream,
            Role::Server,
            &ws.options,
            js,
            Some(ws.registry.clone()),
        );
        let (method, url, headers) = request_line(&parts);
        let me = server.clone();
        server.core.js.post(move |env| {
            let Some(ws) = &me.ws else { return };
            if let Ok(f) = ws.on_open.borrow_back(env) {
                let native = NativeWebSocket::opened(env, conn.clone());
                let _ = f.call((native, method, url, headers).into());
            }
            // Read once JS knows of the connection.
            conn.run(env, early);
        });
    });
    let mut r = empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    let accept = HeaderValue::from_str(&codec::accept_key(&key)).expect("base64 is ASCII");
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    r
}

/// A request's method, target and flat Latin-1 headers, as JS gets them.
fn request_line(parts: &hyper::http::request::Parts) -> (String, String, Vec<String>) {
    let mut headers = Vec::with_capacity(parts.headers.len() * 2);
    for (n, v) in &parts.headers {
        headers.push(n.as_str().to_string());
        headers.push(latin1_string(v.as_bytes()));
    }
    let url = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_string(), |p| p.to_string());
    (parts.method.to_string(), url, headers)
}

/// Accepts connections until the server closes; each is served by hyper on its own task.
async fn serve_loop(server: Arc<Http>, io: Io) {
    while let Some(sock) = server.core.accept(&io).await {
        let _ = sock.set_tcp_nodelay(true);
        let Ok(stream) = tokio::net::TcpStream::from_std(sock.into()) else {
            continue;
        };
        let me = server.clone();
        server.core.js.spawn(async move {
            let mut stop = me.shutdown.subscribe();
            let activity = Activity::new();
            let (routes_of, watched) = (me.clone(), activity.clone());
            let service = service_fn(move |req| {
                let (server, activity) = (routes_of.clone(), watched.clone());
                activity.busy();
                async move {
                    if let Some(r) = upgrade(&server, req.method(), req.uri().path(), req.headers())
                    {
                        let r = r.map(|()| accept_upgrade(server, req));
                        return Ok(r
                            .unwrap_or_else(|r| r)
                            .map(|body| Tracked { body, activity }));
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

    /// Replaces the routes; requests already answered keep the bodies they got.
    #[napi]
    pub fn reload(&self, env: Env, routes: Vec<RouteSpec>) -> napi::Result<()> {
        sync_call(&env, || {
            let table = route_table(routes)?;
            *self.inner.routes.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
            Ok(())
        })
    }

    /// Stops accepting; resolves once the listening socket is closed. Open connections
    /// finish the request they are on, then close.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self, env: Env) -> napi::Result<Promise> {
        let _ = self.inner.shutdown.send(true);
        if let Some(ws) = &self.inner.ws {
            ws.registry.going_away();
        }
        self.inner.core.close(&env)
    }

    /// Queues `list`'s one message on every open WebSocket, framed once (sent by
    /// `flushBroadcasts`); returns how many.
    #[napi(ts_args_type = "list: Array<string | ArrayBufferView>")]
    pub fn broadcast(&self, list: WriteList) -> napi::Result<u32> {
        match &self.inner.ws {
            Some(ws) => crate::ws::broadcast(&ws.registry, &list),
            None => Ok(0),
        }
    }

    /// Sends what this turn's broadcasts queued.
    #[napi]
    pub fn flush_broadcasts(&self, env: Env) {
        if let Some(ws) = &self.inner.ws {
            crate::ws::flush(&ws.registry, &env);
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
    } = options;
    let routes = sync_call(&env, || route_table(routes))?;
    let fetch = fetch.map(|f| f.create_ref()).transpose()?;
    let ws = match websocket {
        Some(o) => Some(WsServe {
            path: o.path,
            options: o.connection,
            on_open: o.on_open.create_ref()?,
            registry: Arc::default(),
        }),
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
