//! The server side of the upgrade (RFC 6455 section 4.2), owned by the WebSocket area: the
//! HTTP server asks [`WsServer::wants`] whether a request is an upgrade it takes, and hands
//! it to [`WsServer::answer`], which checks it, asks lib/ws.js's decider when there is one
//! (the `upgrade` hook, a `protocols` function: [`NativeUpgrade`]), and answers 101 or the
//! refusal. Once hyper lets go of an accepted connection it becomes a [`Ws`], told to JS
//! before it reads anything. Nothing here knows the HTTP server: it passes the way to take
//! its transport back out of hyper's connection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use abio_core::ws::{self as codec, Role};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use napi::bindgen_prelude::{FnArgs, Function, FunctionRef};
use napi::Env;
use napi_derive::napi;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;

use super::conn::{next_id, Opened, Ws};
use super::registry::Registry;
use super::{NativeWebSocket, WsOptions};
use crate::body::Body;
use crate::bytes::HeldBytes;
use crate::error::sync_call;
use crate::headers::{header_pairs, request_line};
use crate::net::lock;
use crate::net::transport::Transport;
use crate::runtime::Js;

/// `(id, socket, method, url, headers)` of lib/ws.js's opener; no socket when the accepted
/// upgrade never became a connection (the client left first): JS forgets what it kept for `id`.
type OpenArgs = FnArgs<(u32, Option<NativeWebSocket>, String, String, Vec<String>)>;
/// `(upgrade, method, url, headers, offered protocols)` of lib/ws.js's decider.
type DecideArgs = FnArgs<(NativeUpgrade, String, String, Vec<String>, Vec<String>)>;

/// `serve({ websocket })` as lib/ws.js checked it.
#[napi(object, object_to_js = false)]
pub struct WsServeOptions<'a> {
    /// Upgrades only on this path; any path when absent.
    pub path: Option<String>,
    /// What every connection gets.
    pub connection: WsOptions,
    /// The subprotocols this server speaks, when given as a list (no decider needed): the
    /// first of the client's offers that is in it is agreed.
    pub protocols: Option<Vec<String>>,
    /// Milliseconds the decider may take, then the answer is 503.
    pub upgrade_timeout: f64,
    /// lib/ws.js's opener, called with each new connection (before it reads anything).
    #[napi(
        ts_type = "(id: number, socket: NativeWebSocket | null, method: string, url: string, headers: string[]) => void"
    )]
    pub on_open: Function<'a, OpenArgs, ()>,
    /// lib/ws.js's decider (an `upgrade` hook or a `protocols` function), called with each
    /// upgrade request; it answers through the `NativeUpgrade`.
    #[napi(
        ts_type = "(upgrade: NativeUpgrade, method: string, url: string, headers: string[], protocols: string[]) => void"
    )]
    pub on_upgrade: Option<Function<'a, DecideArgs, ()>>,
}

/// A server's WebSocket side: where upgrades are taken, the connections' options,
/// lib/ws.js's callbacks, and the open connections (for `broadcast`, `publish`, `close`).
pub(crate) struct WsServer {
    path: Option<String>,
    options: WsOptions,
    protocols: Option<Vec<String>>,
    timeout: Duration,
    on_open: FunctionRef<OpenArgs, ()>,
    on_upgrade: Option<FunctionRef<DecideArgs, ()>>,
    registry: Arc<Registry>,
}

/// An accepted upgrade: the subprotocol agreed, and more headers for the 101.
struct Accepted {
    protocol: Option<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// What the decider said.
enum Verdict {
    /// Accept.
    Accept(Accepted),
    /// Refuse with this answer.
    Refuse(Response<Body>),
}

/// A refusal: `status`, no body, and the connection closed after it (a refused client has
/// nothing more to ask; 10,000 of them must leave no descriptor behind).
fn refusal(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Whether `v` is a token (RFC 7230 section 3.2.6), as a subprotocol must be.
fn is_token(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The client's `Sec-WebSocket-Protocol` offers, in order; `None` when malformed (not
/// tokens, or one twice).
fn offered_protocols(headers: &HeaderMap) -> Option<Vec<String>> {
    let mut offered: Vec<String> = Vec::new();
    for v in headers.get_all(header::SEC_WEBSOCKET_PROTOCOL) {
        for p in v.to_str().ok()?.split(',') {
            let p = p.trim();
            if !is_token(p) || offered.iter().any(|o| o == p) {
                return None;
            }
            offered.push(p.to_string());
        }
    }
    Some(offered)
}

/// Headers the handshake sets itself; a decider's copies are left out.
fn reserved(name: &HeaderName) -> bool {
    [
        header::UPGRADE,
        header::CONNECTION,
        header::SEC_WEBSOCKET_ACCEPT,
        header::SEC_WEBSOCKET_PROTOCOL,
        header::SEC_WEBSOCKET_EXTENSIONS,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
    ]
    .contains(name)
}

impl WsServer {
    /// From `serve`'s options (JS thread).
    pub(crate) fn new(o: WsServeOptions<'_>) -> napi::Result<WsServer> {
        Ok(WsServer {
            path: o.path,
            options: o.connection,
            protocols: o.protocols,
            timeout: Duration::from_millis(o.upgrade_timeout as u64),
            on_open: o.on_open.create_ref()?,
            on_upgrade: o.on_upgrade.map(|f| f.create_ref()).transpose()?,
            registry: Arc::default(),
        })
    }

    /// The open connections.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Whether a request asks for an upgrade this server takes (else it is served as HTTP).
    pub(crate) fn wants(&self, path: &str, headers: &HeaderMap) -> bool {
        let has = |name: header::HeaderName, token: &str| {
            headers.get_all(name).iter().any(|v| {
                v.to_str()
                    .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            })
        };
        has(header::UPGRADE, "websocket")
            && has(header::CONNECTION, "upgrade")
            && self.path.as_deref().is_none_or(|p| p == path)
    }

    /// Answers an upgrade [`wants`](Self::wants) took: 400 for a malformed one, 426 for
    /// another protocol version; else what the decider says (accept, or its refusal; 500
    /// when it threw, 503 past the timeout); else 101. Once hyper hands an accepted
    /// connection over (as `TokioIo<S>`, `S` the server's I/O type, whose transport `take`
    /// gives back), it becomes a [`Ws`], told to JS (`open`) before it reads anything. The
    /// task is one of `js`'s environment.
    pub(crate) async fn answer<S>(
        self: &Arc<Self>,
        js: &Js,
        req: Request<Incoming>,
        take: fn(S) -> Transport,
    ) -> Response<Body>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let headers = req.headers();
        if req.method() != Method::GET || !headers.contains_key(header::SEC_WEBSOCKET_KEY) {
            return refusal(StatusCode::BAD_REQUEST);
        }
        if headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|v| v.as_bytes() != b"13")
        {
            let mut r = refusal(StatusCode::UPGRADE_REQUIRED);
            r.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            return r;
        }
        let Some(offered) = offered_protocols(headers) else {
            return refusal(StatusCode::BAD_REQUEST);
        };
        let id = next_id();
        let (parts, body) = req.into_parts();
        let line = request_line(&parts);
        let req = Request::from_parts(parts, body);
        let verdict = match &self.on_upgrade {
            Some(_) => self.decide(js, id, line.clone(), offered).await,
            None => Verdict::Accept(Accepted {
                protocol: self.pick(&offered),
                headers: Vec::new(),
            }),
        };
        match verdict {
            Verdict::Refuse(r) => r,
            Verdict::Accept(accepted) => self.accept(js, id, req, line, accepted, take),
        }
    }

    /// The subprotocol agreed without a decider: the client's first offer this server
    /// speaks (any, without a `protocols` list, as `ws` does).
    fn pick(&self, offered: &[String]) -> Option<String> {
        match &self.protocols {
            None => offered.first().cloned(),
            Some(ours) => offered.iter().find(|p| ours.contains(p)).cloned(),
        }
    }

    /// Asks lib/ws.js's decider about the upgrade `id`, waiting at most the upgrade timeout.
    async fn decide(
        self: &Arc<Self>,
        js: &Js,
        id: u32,
        line: (String, String, Vec<String>),
        offered: Vec<String>,
    ) -> Verdict {
        let (tx, rx) = oneshot::channel();
        let upgrade = NativeUpgrade {
            id,
            offered: offered.clone(),
            reply: Mutex::new(Some(tx)),
        };
        let (method, url, headers) = line;
        let me = self.clone();
        js.post(move |env: &Env| {
            if let Some(Ok(f)) = me.on_upgrade.as_ref().map(|f| f.borrow_back(env)) {
                // lib/ws.js's decider catches what the hook throws.
                let _ = f.call((upgrade, method, url, headers, offered).into());
            }
        });
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(v)) => v,
            // Dropped unanswered (the environment went away): 500.
            Ok(Err(_)) => Verdict::Refuse(refusal(StatusCode::INTERNAL_SERVER_ERROR)),
            Err(_) => Verdict::Refuse(refusal(StatusCode::SERVICE_UNAVAILABLE)),
        }
    }

    /// Answers 101 and, once hyper hands the connection over, makes it a [`Ws`].
    fn accept<S>(
        self: &Arc<Self>,
        js: &Js,
        id: u32,
        mut req: Request<Incoming>,
        line: (String, String, Vec<String>),
        Accepted { protocol, headers }: Accepted,
        take: fn(S) -> Transport,
    ) -> Response<Body>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let key = req.headers()[header::SEC_WEBSOCKET_KEY].as_bytes().to_vec();
        let upgraded = hyper::upgrade::on(&mut req);
        let (me, back) = (self.clone(), js.clone());
        // permessage-deflate, when this server takes it and the client offers it.
        let offers: Vec<&str> = req
            .headers()
            .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let deflate = self
            .options
            .per_message_deflate
            .as_ref()
            .and_then(|d| codec::negotiate_server(&offers, &d.options()));
        let opened = Opened {
            id,
            protocol: protocol.clone().unwrap_or_default(),
            extensions: deflate.as_ref().map(|d| d.1.clone()).unwrap_or_default(),
            deflate: deflate.as_ref().map(|d| d.0),
        };
        js.spawn(async move {
            let early_and_io = async {
                let up = upgraded.await.ok()?;
                let parts_io = up.downcast::<TokioIo<S>>().ok()?;
                let early = parts_io.read_buf.to_vec();
                // Read on the JS thread from now on: the reactor watches writes only.
                let transport = take(parts_io.io.into_inner()).for_js_reads().ok()?;
                Some((early, transport))
            };
            let (method, url, headers) = line;
            let Some((early, transport)) = early_and_io.await else {
                back.post(move |env: &Env| {
                    if let Ok(f) = me.on_open.borrow_back(env) {
                        let _ = f.call((id, None, method, url, headers).into());
                    }
                });
                return;
            };
            let conn = Ws::new(
                transport,
                Role::Server,
                opened,
                &me.options,
                back.clone(),
                Some(me.registry.clone()),
            );
            back.post(move |env: &Env| {
                if let Ok(f) = me.on_open.borrow_back(env) {
                    let native = NativeWebSocket::opened(env, conn.clone());
                    let _ = f.call((id, Some(native), method, url, headers).into());
                }
                // Read once JS knows of the connection.
                conn.run(env, early);
            });
        });
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        for (n, v) in headers.into_iter().filter(|(n, _)| !reserved(n)) {
            h.append(n, v);
        }
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        let accept = HeaderValue::from_str(&codec::accept_key(&key)).expect("base64 is ASCII");
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        if let Some(p) = protocol.and_then(|p| HeaderValue::from_str(&p).ok()) {
            h.insert(header::SEC_WEBSOCKET_PROTOCOL, p);
        }
        if let Some(e) = deflate.and_then(|d| HeaderValue::from_str(&d.1).ok()) {
            h.insert(header::SEC_WEBSOCKET_EXTENSIONS, e);
        }
        r
    }
}

/// An upgrade request waiting for lib/ws.js's decider: `accept()` or `refuse()` answers it
/// (the first answer counts). Dropped unanswered, it is refused with 500.
#[napi]
pub struct NativeUpgrade {
    id: u32,
    offered: Vec<String>,
    reply: Mutex<Option<oneshot::Sender<Verdict>>>,
}

impl NativeUpgrade {
    /// Answers (the first answer only); false when the upgrade no longer waits (answered
    /// already, timed out, or the client left).
    fn send(&self, v: Verdict) -> bool {
        lock(&self.reply)
            .take()
            .is_some_and(|tx| tx.send(v).is_ok())
    }
}

impl Drop for NativeUpgrade {
    fn drop(&mut self) {
        self.send(Verdict::Refuse(refusal(StatusCode::INTERNAL_SERVER_ERROR)));
    }
}

#[napi]
impl NativeUpgrade {
    /// The id the connection will have (lib/ws.js keeps the hook's `data` under it).
    #[napi(getter)]
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Accepts: `protocol` (one of the client's offers, or none) and `headers` (name, value,
    /// ...) in the 101 answer; false when the upgrade no longer waits (it timed out: 503, or
    /// the client left), so nothing will open.
    #[napi]
    pub fn accept(
        &self,
        env: Env,
        protocol: Option<String>,
        headers: Vec<String>,
    ) -> napi::Result<bool> {
        sync_call(&env, || {
            if let Some(p) = protocol.as_ref().filter(|p| !self.offered.contains(p)) {
                return Err(crate::error::AbioError::InvalidArg(format!(
                    "The upgrade's protocol {p:?} is not one the client offered ({:?})",
                    self.offered
                )));
            }
            let headers = header_pairs(&headers, "The upgrade's headers")?;
            Ok(self.send(Verdict::Accept(Accepted { protocol, headers })))
        })
    }

    /// Refuses with `status`, `headers` (name, value, ...) and `body` (held until sent); the
    /// connection is closed after it.
    #[napi]
    pub fn refuse(
        &self,
        env: Env,
        status: u32,
        headers: Vec<String>,
        #[napi(ts_arg_type = "string | ArrayBufferView | undefined")] body: Option<HeldBytes>,
    ) -> napi::Result<()> {
        sync_call(&env, || {
            let code = u16::try_from(status)
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
                .filter(|c| !c.is_informational() && !c.is_success())
                .ok_or_else(|| {
                    crate::error::AbioError::InvalidArg(format!(
                        "The status {status} does not refuse an upgrade (use 300-599)"
                    ))
                })?;
            let pairs = header_pairs(&headers, "The refusal's headers")?;
            let body = body.map(|b| b.0).unwrap_or_default();
            let len = body.len();
            let mut r = refusal(code);
            *r.body_mut() = Body::from(body);
            let h = r.headers_mut();
            for (n, v) in pairs.into_iter().filter(|(n, _)| !reserved(n)) {
                h.append(n, v);
            }
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            self.send(Verdict::Refuse(r));
            Ok(())
        })
    }
}
