//! The server side of the upgrade (RFC 6455 section 4.2), owned by the WebSocket area: the
//! HTTP server asks [`WsServer::refusal`] whether a request is an upgrade it takes, and
//! hands it to [`WsServer::accept`], which answers 101 and, once hyper lets go of the
//! connection, makes it a [`Ws`] told to JS before it reads anything. Nothing here knows the
//! HTTP server: it passes the way to take its transport back out of hyper's connection.

use std::sync::Arc;

use abio_core::ws::{self as codec, Role};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use napi::bindgen_prelude::{FnArgs, Function, FunctionRef};
use napi::Env;
use napi_derive::napi;
use tokio::io::{AsyncRead, AsyncWrite};

use super::conn::{Registry, Ws};
use super::{NativeWebSocket, WsOptions};
use crate::headers::request_line;
use crate::net::transport::Transport;
use crate::runtime::Js;

/// `(socket, method, url, headers)` of lib/ws.js's opener.
type OpenArgs = FnArgs<(NativeWebSocket, String, String, Vec<String>)>;

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

/// A server's WebSocket side: where upgrades are taken, the connections' options,
/// lib/ws.js's opener, and the open connections (for `broadcast` and `close`).
pub(crate) struct WsServer {
    path: Option<String>,
    options: WsOptions,
    on_open: FunctionRef<OpenArgs, ()>,
    registry: Arc<Registry>,
}

impl WsServer {
    /// From `serve`'s options (JS thread).
    pub(crate) fn new(o: WsServeOptions<'_>) -> napi::Result<WsServer> {
        Ok(WsServer {
            path: o.path,
            options: o.connection,
            on_open: o.on_open.create_ref()?,
            registry: Arc::default(),
        })
    }

    /// The open connections.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Whether a request asks for an upgrade this server takes: `None` when not (it is
    /// served as HTTP), `Some(None)` to accept it, `Some(Some(r))` with the refusal's head
    /// (400, or 426 for another protocol version; no body).
    pub(crate) fn refusal(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Option<Option<Response<()>>> {
        let has = |name: header::HeaderName, token: &str| {
            headers.get_all(name).iter().any(|v| {
                v.to_str()
                    .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            })
        };
        if !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") {
            return None;
        }
        if self.path.as_deref().is_some_and(|p| p != path) {
            return None;
        }
        let status = |s: StatusCode| {
            let mut r = Response::new(());
            *r.status_mut() = s;
            r
        };
        if method != Method::GET || !headers.contains_key(header::SEC_WEBSOCKET_KEY) {
            return Some(Some(status(StatusCode::BAD_REQUEST)));
        }
        if headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|v| v.as_bytes() != b"13")
        {
            let mut r = status(StatusCode::UPGRADE_REQUIRED);
            r.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            return Some(Some(r));
        }
        Some(None)
    }

    /// Answers 101 to an upgrade [`refusal`](Self::refusal) accepted. Once hyper hands the
    /// connection over (as `TokioIo<S>`, `S` the server's I/O type, whose transport `take`
    /// gives back), it becomes a [`Ws`], told to JS (`open`) before it reads anything. The
    /// task is one of `js`'s environment.
    pub(crate) fn accept<S>(
        self: &Arc<Self>,
        js: &Js,
        mut req: Request<Incoming>,
        take: fn(S) -> Transport,
    ) -> Response<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let key = req.headers()[header::SEC_WEBSOCKET_KEY].as_bytes().to_vec();
        let upgraded = hyper::upgrade::on(&mut req);
        let (parts, _) = req.into_parts();
        let (me, back) = (self.clone(), js.clone());
        js.spawn(async move {
            let Ok(up) = upgraded.await else { return };
            let Ok(parts_io) = up.downcast::<TokioIo<S>>() else {
                return;
            };
            let early = parts_io.read_buf.to_vec();
            // Read on the JS thread from now on: the reactor watches writes only.
            let Ok(transport) = take(parts_io.io.into_inner()).for_js_reads() else {
                return;
            };
            let conn = Ws::new(
                transport,
                Role::Server,
                &me.options,
                back.clone(),
                Some(me.registry.clone()),
            );
            let (method, url, headers) = request_line(&parts);
            back.post(move |env: &Env| {
                if let Ok(f) = me.on_open.borrow_back(env) {
                    let native = NativeWebSocket::opened(env, conn.clone());
                    let _ = f.call((native, method, url, headers).into());
                }
                // Read once JS knows of the connection.
                conn.run(env, early);
            });
        });
        let mut r = Response::new(());
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        let accept = HeaderValue::from_str(&codec::accept_key(&key)).expect("base64 is ASCII");
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        r
    }
}
