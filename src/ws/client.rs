//! The client side: the opening handshake (RFC 6455 section 4.1) through hyper's HTTP/1.1
//! client on a new transport, and [`connect_web_socket`].

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use napi::bindgen_prelude::ClassInstance;
use napi::Env;
use napi_derive::napi;

use abio_core::ws::{self as codec, DeflateOptions, Role};
use abio_core::Error as CoreError;

use super::conn::{next_id, Opened, Ws};
use super::{NativeWebSocket, WsOptions};
use crate::cancel::{cancel_of, CancelToken};
use crate::error::{sync_call, AbioError, AbioResult};
use crate::headers::header_pairs;
use crate::net::dial::{open, Target};
use crate::net::transport::Transport;
use crate::runtime::{net as rt, woken_on_cancel, Deferred, Js, KeepAlive, Promise};
use crate::tls::{client_of, ClientContext, TlsClientContext};

/// The error of a failed client handshake.
fn handshake_error(status: u16, why: impl std::fmt::Display) -> AbioError {
    CoreError::WsHandshake {
        status,
        reason: why.to_string(),
    }
    .into()
}

/// What the client asks for in its opening handshake.
struct Ask {
    host: String,
    port: u16,
    target: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Subprotocols offered, in order of preference.
    protocols: Vec<String>,
    /// permessage-deflate, offered when given.
    deflate: Option<DeflateOptions>,
}

/// The client's opening handshake (RFC 6455 section 4.1) on a new connection to
/// `host:port`, through hyper's HTTP/1.1 client; the connection, the bytes that came
/// after the 101 answer, and what was agreed.
async fn handshake(
    ask: Ask,
    tls: Option<Arc<ClientContext>>,
) -> AbioResult<(Transport, Vec<u8>, Opened)> {
    let Ask {
        host,
        port,
        target,
        headers,
        protocols,
        deflate,
    } = ask;
    let sock = open(&Target::Tcp(host.clone(), port)).await?;
    let _ = sock.set_tcp_nodelay(true);
    let stream = match &tls {
        None => Transport::new(sock),
        Some(tls) => Transport::connect_tls(sock, tls, &host).await,
    };
    let stream = stream.map_err(|e| CoreError::net(e, "connect"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| handshake_error(0, e))?;
    rt().spawn(conn.with_upgrades());
    let mut nonce = [0u8; 16];
    codec::fill_random(&mut nonce);
    let key = codec::base64(&nonce);
    let mut req = hyper::Request::new(Empty::new());
    *req.uri_mut() = target.parse().map_err(|e| handshake_error(0, e))?;
    let h = req.headers_mut();
    for (n, v) in headers {
        h.append(n, v);
    }
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let set = |h: &mut hyper::HeaderMap, n: HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(n, v);
        }
    };
    if !h.contains_key(header::HOST) {
        set(h, header::HOST, &authority);
    }
    set(h, header::UPGRADE, "websocket");
    set(h, header::CONNECTION, "Upgrade");
    set(h, header::SEC_WEBSOCKET_KEY, &key);
    set(h, header::SEC_WEBSOCKET_VERSION, "13");
    if !protocols.is_empty() {
        set(h, header::SEC_WEBSOCKET_PROTOCOL, &protocols.join(", "));
    }
    if let Some(ours) = &deflate {
        set(
            h,
            header::SEC_WEBSOCKET_EXTENSIONS,
            &codec::offer_client(ours),
        );
    }
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| handshake_error(0, e))?;
    let status = res.status().as_u16();
    if status != 101 {
        return Err(handshake_error(
            status,
            "the server did not switch protocols",
        ));
    }
    let accept = res.headers().get(header::SEC_WEBSOCKET_ACCEPT);
    if accept.is_none_or(|a| a.as_bytes() != codec::accept_key(key.as_bytes()).as_bytes()) {
        return Err(handshake_error(status, "a wrong Sec-WebSocket-Accept"));
    }
    // A subprotocol we did not offer fails the handshake; none is fine (the server speaks
    // none of ours: `protocol` is '', as in browsers).
    let protocol = match res.headers().get(header::SEC_WEBSOCKET_PROTOCOL) {
        None => String::new(),
        Some(p) => match p.to_str() {
            Ok(p) if protocols.iter().any(|o| o == p) => p.to_string(),
            _ => {
                return Err(handshake_error(
                    status,
                    "a subprotocol the client did not offer",
                ))
            }
        },
    };
    // An extension we did not offer, or an answer our offer does not allow, fails it too.
    let answers: Vec<&str> = res
        .headers()
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{0}"))
        .collect();
    let agreed = match &deflate {
        Some(ours) => {
            codec::accept_client(&answers, ours).map_err(|why| handshake_error(status, why))?
        }
        None if answers.is_empty() => None,
        None => {
            return Err(handshake_error(
                status,
                "an extension the client did not offer",
            ))
        }
    };
    let opened = Opened {
        id: next_id(),
        protocol,
        extensions: answers.join(", "),
        deflate: agreed,
    };
    let up = hyper::upgrade::on(res)
        .await
        .map_err(|e| handshake_error(status, e))?;
    let parts = up
        .downcast::<TokioIo<Transport>>()
        .map_err(|_| handshake_error(status, "the connection could not be taken over"))?;
    // Read on the JS thread from now on: the reactor watches writes only.
    let transport = parts
        .io
        .into_inner()
        .for_js_reads()
        .map_err(|e| CoreError::net(e, "connect"))?;
    Ok((transport, parts.read_buf.to_vec(), opened))
}

/// Connects to a WebSocket server at `host:port`, asking for `target` with `headers` (name,
/// value, ...) and offering `protocols`; resolves with the open connection. lib/ws.js turned the `ws:` or `wss:`
/// URL into these; `secure` (wss:) speaks TLS with `tls` (the default context when absent).
#[napi(ts_return_type = "Promise<NativeWebSocket>")]
#[allow(
    clippy::too_many_arguments,
    reason = "a #[napi] function's arguments are its JS signature (lib/ checked them)"
)]
pub fn connect_web_socket(
    env: Env,
    host: String,
    port: u32,
    target: String,
    headers: Vec<String>,
    protocols: Vec<String>,
    options: WsOptions,
    token: Option<ClassInstance<CancelToken>>,
    secure: bool,
    tls: Option<ClassInstance<TlsClientContext>>,
) -> napi::Result<Promise> {
    let headers = sync_call(&env, || header_pairs(&headers, "options.headers"))?;
    let ask = Ask {
        host,
        port: port as u16,
        target,
        headers,
        protocols,
        deflate: options.per_message_deflate.as_ref().map(|d| d.options()),
    };
    let tls = match secure {
        true => Some(client_of(&env, tls.as_deref())?),
        false => None,
    };
    let (done, promise) = Deferred::new(&env)?;
    let js = Js::of(&env)?;
    // A connect in progress holds the event loop, as `connect()` does.
    let keep = Arc::new(KeepAlive::default());
    keep.set(&env, true);
    let cancel = cancel_of(token);
    rt().spawn(async move {
        let aborted = woken_on_cancel(&cancel);
        let result = tokio::select! {
            r = handshake(ask, tls) => r,
            _ = aborted.notified() => Err(CoreError::Aborted.into()),
        };
        let back = js.clone();
        match result {
            Ok((stream, early, opened)) => {
                let ws = Ws::new(stream, Role::Client, opened, &options, js, None);
                back.post(move |env| {
                    keep.set(env, false);
                    let native = NativeWebSocket::opened(env, ws.clone());
                    done.settle(env, Ok(native));
                    ws.run(env, early);
                });
            }
            Err(e) => {
                back.post(move |env| {
                    keep.set(env, false);
                    done.settle::<()>(env, Err(e));
                });
            }
        }
    });
    Ok(promise)
}
