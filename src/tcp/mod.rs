//! TCP and Unix domain sockets (design.md section 6): `connect`, `listen`, and the
//! `Socket`'s writes, `sendFile`, reads and frames.
//!
//! Each call first tries its syscall on the JS thread without waiting (`sendmsg` with
//! `MSG_DONTWAIT | MSG_NOSIGNAL`, `recv` with `MSG_DONTWAIT`): a write the kernel takes at
//! once, or a read whose bytes are already there, settles with no thread hop. What would
//! block waits on tokio and comes back through [`Js::post`]: the reader task completes
//! reads; a full socket is refilled by the writer task for bulk transfers (and every
//! `sendFile`), or by the JS thread once a task saw it writable for small writes.
//!
//! `lib/net.js` gathers the writes of a microtask turn and hands them over in one
//! [`NativeSocket::write_batch`] call; they queue in call order, leave in as few `sendmsg`
//! calls as the socket allows (up to 1024 buffers each, never concatenated), and are
//! settled in order through [`report_writes`]: one callback for many plain JS promises,
//! no Node-API promise per write. The byte rules (chunks, exact reads, frames) are
//! [`abio_core::net::Reader`]'s. Dialing (hosts, Unix paths, Node-shaped errors) is
//! src/net/dial.rs, shared with the HTTP and WebSocket clients; the socket's bytes pass
//! through src/net/transport.rs.
//!
//! Here: the JS classes, `connect` and `listen`. A socket's shared state and its JS-thread
//! calls are [`conn`]; what it sends, and the tasks that wait for room, [`send`]; its reader
//! task, [`receive`]; settling writes in JS, [`report`].

use std::io;
use std::net::Shutdown;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use abio_core::net::Want;
use abio_core::Error as CoreError;
use napi::bindgen_prelude::{ClassInstance, FnArgs, Function, FunctionRef};
use napi::Env;
use napi_derive::napi;
use socket2::Socket;

use self::conn::{Addresses, Conn};
use self::kinds::{ReadKind, MAX_FRAME};
use self::send::{FileItem, Item};
use crate::bytes::WriteList;
use crate::cancel::{cancel_of, CancelToken};
use crate::error::AbioError;
use crate::net::dial::{open, target, Target};
use crate::net::listen::{listening, Bound, Listening};
use crate::net::lock;
use crate::net::transport::Transport;
use crate::runtime::{net as rt, woken_on_cancel, Deferred, Js, KeepAlive, Progress, Promise};
use crate::tls::{ServerTls, TlsClientContext, TlsServerContext};

mod conn;
pub mod kinds;
mod receive;
pub mod report;
mod send;

fn closed(what: &'static str) -> AbioError {
    CoreError::Closed(what).into()
}

fn would_block() -> io::Error {
    io::ErrorKind::WouldBlock.into()
}

// ---------------------------------------------------------------------------------------
// The JS classes

/// A connected TCP or Unix socket (the native half of `lib/net.js`'s `Socket`).
#[napi]
pub struct NativeSocket {
    conn: Arc<Conn>,
}

impl Drop for NativeSocket {
    /// Collected while open: nothing can use the socket any more. It stops keeping the
    /// process alive, and is shut down so the peer sees the end (its tasks settle what is
    /// pending and return). Runs on the JS thread, in a finalizer: no JS calls here.
    fn drop(&mut self) {
        let conn = &self.conn;
        if conn.closed.load(Ordering::Acquire) {
            return;
        }
        conn.keep.release_here();
        if let Some(io) = conn.io() {
            let _ = io.shutdown(Shutdown::Both);
        }
    }
}

#[napi]
impl NativeSocket {
    /// Queues the writes of one microtask turn (`writes[i]` is `Data` or `Data[]`, one
    /// write each; frames when `framed`) and sends what the socket takes now. Parts over
    /// 16 KiB are held until their write settles, smaller ones copied now. Each write is
    /// settled, in order, through the callback given to `setWriteCallback`.
    #[napi]
    pub fn write_batch(
        &self,
        env: Env,
        #[napi(ts_arg_type = "Array<string | ArrayBufferView | Array<string | ArrayBufferView>>")]
        writes: WriteList,
        framed: bool,
    ) -> napi::Result<()> {
        self.conn.write_batch(&env, &writes, framed)
    }

    /// The id `setWriteCallback`'s callback names this socket by.
    #[napi(getter)]
    pub fn id(&self) -> u32 {
        self.conn.id
    }

    /// Queues `sendfile(2)` of `path` from `offset` for `length` bytes (-1: to the end);
    /// resolves with the bytes sent.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn send_file(
        &self,
        env: Env,
        path: String,
        offset: f64,
        length: f64,
        on_progress: Option<Function<FnArgs<(f64, f64)>, ()>>,
        token: Option<ClassInstance<CancelToken>>,
    ) -> napi::Result<Promise> {
        let progress = on_progress.map(Progress::new).transpose()?;
        self.conn.push(
            &env,
            Item::File(Box::new(FileItem {
                path: PathBuf::from(path),
                offset: offset as u64,
                length: (length >= 0.0).then_some(length as u64),
                progress,
                cancel: cancel_of(token),
            })),
        )
    }

    /// Queues the end of our side of the stream (after pending writes).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn end(&self, env: Env) -> napi::Result<Promise> {
        if lock(&self.conn.w).ended && !self.conn.user_closed.load(Ordering::Acquire) {
            // Ended already (by an earlier call, or in answer to the peer's end): a no-op,
            // as Node's second `end()`.
            return Deferred::settled(&env, Ok(()));
        }
        self.conn.push(&env, Item::End)
    }

    /// Reads: `kind` 0 up to `n` bytes (null at the end), 1 exactly `n` bytes, 2 one frame
    /// of at most `n` bytes (null at the end).
    #[napi(ts_return_type = "Promise<ArrayBuffer | null>")]
    pub fn read(&self, env: Env, kind: ReadKind, n: f64) -> napi::Result<Promise> {
        let want = match kind {
            ReadKind::Chunk => Want::Chunk(n as usize),
            ReadKind::Exactly => Want::Exactly(n as usize),
            ReadKind::Frame => Want::Frame(n.min(MAX_FRAME as f64) as u32),
        };
        self.conn.read(&env, want)
    }

    /// Closes the socket now; idempotent.
    #[napi]
    pub fn close(&self, env: Env) {
        self.conn.close(&env);
    }

    /// Keeps the event loop alive while open (the default).
    #[napi(js_name = "ref")]
    pub fn ref_(&self, env: Env) {
        if !self.conn.closed.load(Ordering::Acquire) {
            self.conn.keep.set(&env, true);
        }
    }

    /// Lets the process exit while this socket is open.
    #[napi]
    pub fn unref(&self, env: Env) {
        self.conn.keep.set(&env, false);
    }

    /// Whether the socket is closed (by `close`, or finished).
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.conn.closed.load(Ordering::Acquire)
    }

    /// This end's address.
    #[napi(getter)]
    pub fn local_address(&self) -> String {
        self.conn.addresses.local.clone()
    }

    /// This end's port (0 for a Unix socket).
    #[napi(getter)]
    pub fn local_port(&self) -> u32 {
        self.conn.addresses.local_port as u32
    }

    /// The peer's address (a Unix socket's path, if any).
    #[napi(getter)]
    pub fn remote_address(&self) -> String {
        self.conn.addresses.remote.clone()
    }

    /// The peer's port (0 for a Unix socket).
    #[napi(getter)]
    pub fn remote_port(&self) -> u32 {
        self.conn.addresses.remote_port as u32
    }

    /// `IPv4`, `IPv6` or `Unix`.
    #[napi(getter)]
    pub fn remote_family(&self) -> String {
        self.conn.addresses.family.to_string()
    }

    /// On a TLS socket, the protocol (`TLSv1.3`, `TLSv1.2`) and the ALPN protocol agreed;
    /// `null` on a plain one.
    #[napi]
    pub fn tls_info(&self) -> Option<TlsInfo> {
        let io = self.conn.io()?;
        let (protocol, alpn_protocol) = io.session()?.describe();
        Some(TlsInfo {
            protocol: protocol.unwrap_or_default().to_string(),
            alpn_protocol,
        })
    }
}

/// What a TLS socket agreed with its peer.
#[napi(object)]
pub struct TlsInfo {
    /// `TLSv1.3` or `TLSv1.2`.
    pub protocol: String,
    /// The ALPN protocol, when one was agreed.
    pub alpn_protocol: Option<String>,
}

// ---------------------------------------------------------------------------------------
// connect

/// Socket options shared by `connect` and `listen`.
#[napi(object)]
pub struct SocketOptions {
    /// `TCP_NODELAY` (writes leave at once).
    pub no_delay: bool,
    /// `SO_KEEPALIVE`.
    pub keep_alive: bool,
    /// Keep our side open after the peer ended its own.
    pub allow_half_open: bool,
}

fn configure(sock: &Socket, unix: bool, o: &SocketOptions) -> io::Result<()> {
    if !unix {
        sock.set_tcp_nodelay(o.no_delay)?;
        if o.keep_alive {
            sock.set_keepalive(true)?;
        }
    }
    Ok(())
}

/// Connects to `host:port` (or the Unix socket at `path`); `timeout_ms` 0 waits as long
/// as the OS does. Keeps the event loop alive until it settles.
#[napi(ts_return_type = "Promise<NativeSocket>")]
#[allow(
    clippy::too_many_arguments,
    reason = "a #[napi] function's arguments are its JS signature (lib/ checked them)"
)]
pub fn connect(
    env: Env,
    host: Option<String>,
    port: u32,
    path: Option<String>,
    options: SocketOptions,
    timeout_ms: f64,
    token: Option<ClassInstance<CancelToken>>,
    tls: Option<ClassInstance<TlsClientContext>>,
) -> napi::Result<Promise> {
    let tls = tls.map(|t| t.inner.clone());
    let (done, promise) = Deferred::new(&env)?;
    let js = Js::of(&env)?;
    let keep = Arc::new(KeepAlive::default());
    keep.set(&env, true);
    let cancel = cancel_of(token);
    let target = target(host, port, path);
    let unix = matches!(target, Target::Unix(_));
    let back = js.clone();
    rt().spawn(async move {
        let aborted = woken_on_cancel(&cancel);
        let timeout = async {
            if timeout_ms > 0.0 {
                tokio::time::sleep(Duration::from_millis(timeout_ms as u64)).await
            } else {
                std::future::pending().await
            }
        };
        // The TLS handshake is part of connecting: the timeout and the signal cover it.
        let connected = async {
            let sock = open(&target).await?;
            let addresses = Addresses::of(&sock);
            configure(&sock, unix, &options).map_err(|e| CoreError::net(e, "connect"))?;
            let io = match (&tls, &target) {
                (None, _) => Transport::new(sock),
                (Some(tls), Target::Tcp(host, _)) if !host.is_empty() => {
                    Transport::connect_tls(sock, tls, host).await
                }
                // As Node's `tls.connect`, the default name is `localhost`.
                (Some(tls), _) => Transport::connect_tls(sock, tls, "localhost").await,
            };
            let io = io.map_err(|e| CoreError::net(e, "connect"))?;
            Ok::<_, AbioError>(Conn::new(io, addresses, js, options.allow_half_open))
        };
        let conn = tokio::select! {
            r = connected => r,
            _ = timeout => Err(CoreError::Timeout { what: "connect", ms: timeout_ms as u64 }.into()),
            _ = aborted.notified() => Err(CoreError::Aborted.into()),
        };
        back.post(move |env| {
            keep.set(env, false);
            done.settle(env, conn.map(|c| c.start(env)));
        });
    });
    Ok(promise)
}

// ---------------------------------------------------------------------------------------
// listen

/// A `listen` server: its listening socket, and what each connection gets.
struct Listener {
    core: Arc<Listening>,
    options: SocketOptions,
    on_connection: FunctionRef<NativeSocket, ()>,
    /// TLS: each connection's handshake runs before `onConnection` sees it.
    tls: Option<Arc<ServerTls>>,
}

/// A listening server (the native half of `lib/net.js`'s `Server`).
#[napi]
pub struct NativeServer {
    inner: Arc<Listener>,
    host: String,
    port: u32,
}

#[napi]
impl NativeServer {
    /// The address it listens on (a Unix socket's path).
    #[napi(getter)]
    pub fn host(&self) -> String {
        self.host.clone()
    }

    /// The port it listens on (the one picked when 0 was asked; 0 for a Unix socket).
    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.port
    }

    /// Stops accepting and closes the listening socket (its port is free when this
    /// resolves; a Unix socket's file is removed). Open connections stay open.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self, env: Env) -> napi::Result<Promise> {
        self.inner.core.close(&env)
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

/// Accepts connections until the server closes, handing each to `onConnection` on the
/// JS thread; then closes the descriptor and settles the `close()` calls.
async fn accept_loop(server: Arc<Listener>, io: Bound) {
    let unix = server.core.unix.is_some();
    while let Some(sock) = server.core.accept(&io).await {
        if configure(&sock, unix, &server.options).is_err() {
            continue;
        }
        let addresses = Addresses::of(&sock);
        match &server.tls {
            None => {
                if let Ok(io) = Transport::new(sock) {
                    server.hand_over(io, addresses);
                }
            }
            // Each handshake on its own task (bounded by the handshake timeout): a slow
            // client holds up nobody else.
            Some(tls) => {
                let (me, tls) = (server.clone(), tls.clone());
                server.core.js.spawn(async move {
                    if let Ok(io) = Transport::accept_tls(sock, &tls).await {
                        me.hand_over(io, addresses);
                    }
                });
            }
        }
    }
    server.core.stopped(io);
}

impl Listener {
    /// Makes the socket of an accepted connection and hands it to `onConnection` on the JS
    /// thread (unless the server closed meanwhile).
    fn hand_over(self: &Arc<Self>, io: Transport, addresses: Addresses) {
        let js = self.core.js.clone();
        let conn = Conn::new(io, addresses, js, self.options.allow_half_open);
        let me = self.clone();
        self.core.js.post(move |env| {
            if me.core.closed.load(Ordering::Acquire) {
                return;
            }
            let socket = conn.start(env);
            if let Ok(f) = me.on_connection.borrow_back(env) {
                // lib/net.js catches what the handler throws or rejects with.
                let _ = f.call(socket);
            }
        });
    }
}

/// Listens on `host:port` (or the Unix socket `path`) and calls `onConnection` with each
/// accepted socket. Resolves once listening.
#[napi(ts_return_type = "Promise<NativeServer>")]
#[allow(
    clippy::too_many_arguments,
    reason = "a #[napi] function's arguments are its JS signature (lib/ checked them)"
)]
pub fn listen(
    env: Env,
    host: Option<String>,
    port: u32,
    path: Option<String>,
    backlog: i32,
    reuse_port: bool,
    options: SocketOptions,
    on_connection: Function<NativeSocket, ()>,
    tls: Option<ClassInstance<TlsServerContext>>,
    handshake_timeout: f64,
) -> napi::Result<Promise> {
    let tls = tls.map(|ctx| ServerTls::new(&ctx, handshake_timeout));
    let on_connection = on_connection.create_ref()?;
    let target = target(host, port, path);
    listening(
        &env,
        target,
        backlog,
        reuse_port,
        move |core, io, host, port| {
            let inner = Arc::new(Listener {
                core,
                options,
                on_connection,
                tls,
            });
            inner.core.js.spawn(accept_loop(inner.clone(), io));
            NativeServer {
                inner,
                host,
                port: port as u32,
            }
        },
    )
}
