//! Listening, shared by `listen` (src/tcp/) and `serve` (src/http/): binding as Node does
//! (`::` dual-stack by default), the listening socket's lifecycle, and its accept loop's
//! next connection.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use abio_core::error::errno_of;
use abio_core::net::{self, raw_of};
use abio_core::Error as CoreError;
use napi::bindgen_prelude::ToNapiValue;
use napi::Env;
use socket2::{Domain, Socket};
use tokio::io::Interest;
use tokio::sync::Notify;

use super::dial::{net_error, new_socket, resolve, Target};
use super::{describe, lock, ready};
use crate::error::AbioResult;
use crate::runtime::{net as rt, register, AsyncSock, Deferred, Js, KeepAlive, Promise, Teardown};

/// A listening socket registered with the runtime (readable: connections wait); the accept
/// loop holds a clone, so the descriptor closes when it returns.
pub(crate) type Bound = Arc<AsyncSock>;

/// A listening socket's lifecycle, shared by `listen` (src/tcp/) and `serve` (src/http/): it keeps
/// the event loop alive while listening (unless unref'd), and `close()` resolves once the
/// accept loop has returned and the descriptor is closed (its port free again, a Unix
/// socket's file removed).
pub(crate) struct Listening {
    io: Mutex<Option<Bound>>,
    pub(crate) js: Js,
    pub(crate) unix: Option<PathBuf>,
    keep: KeepAlive,
    /// Holds the loop while a `close()` waits for the accept loop (even when unref'd).
    closing_keep: KeepAlive,
    pub(crate) closed: AtomicBool,
    pub(crate) closing: Notify,
    /// Whether the accept loop has returned (the descriptor is closed), and the `close()`
    /// calls waiting for it.
    stopped: Mutex<(bool, Vec<Deferred>)>,
    /// Stops accepting if the JS environment goes away first (a worker terminated with the
    /// server open): its port must not outlive it.
    teardown: Mutex<Option<Teardown>>,
}

impl Listening {
    fn new(io: Bound, js: Js, unix: Option<PathBuf>) -> Listening {
        Listening {
            io: Mutex::new(Some(io)),
            js,
            unix,
            keep: KeepAlive::default(),
            closing_keep: KeepAlive::default(),
            closed: AtomicBool::new(false),
            closing: Notify::new(),
            stopped: Mutex::new((false, Vec::new())),
            teardown: Mutex::new(None),
        }
    }

    /// Stops accepting (the accept loop then returns and closes the socket). Any thread.
    fn stop(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.closing.notify_waiters();
            drop(lock(&self.io).take());
        }
    }

    /// Stops accepting; the promise resolves once the accept loop has closed the socket.
    pub(crate) fn close(&self, env: &Env) -> napi::Result<Promise> {
        let (done, promise) = Deferred::new(env)?;
        self.keep.set(env, false);
        let mut stopped = lock(&self.stopped);
        if stopped.0 {
            drop(stopped);
            done.settle(env, Ok(()));
            return Ok(promise);
        }
        stopped.1.push(done);
        drop(stopped);
        self.closing_keep.set(env, true);
        if let Some(t) = lock(&self.teardown).take() {
            t.cancel(env);
        }
        self.stop();
        Ok(promise)
    }

    /// `ref()` (`true`) or `unref()`.
    pub(crate) fn hold(&self, env: &Env, on: bool) {
        if !on || !self.closed.load(Ordering::Acquire) {
            self.keep.set(env, on);
        }
    }

    /// The next accepted connection (nonblocking, close-on-exec), or `None` once closed.
    pub(crate) async fn accept(&self, io: &AsyncSock) -> Option<Socket> {
        let fd = raw_of(io);
        loop {
            let readable = io.ready(Interest::READABLE);
            let mut guard = ready(readable, &self.closing, &self.closed, None)
                .await
                .ok()?;
            match guard.try_io(|_| net::accept(fd)) {
                Err(_) => continue,
                Ok(Ok(sock)) => return Some(sock),
                Ok(Err(e)) => {
                    if matches!(
                        errno_of(&e),
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                    ) {
                        // Out of descriptors or memory: the connection waits in the backlog.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
    }

    /// The accept loop has returned: closes the descriptor, removes a Unix socket's file,
    /// settles the `close()` calls.
    pub(crate) fn stopped(self: &Arc<Self>, io: Bound) {
        drop(io);
        drop(lock(&self.io).take());
        if let Some(path) = &self.unix {
            let _ = std::fs::remove_file(path);
        }
        let waiting = {
            let mut stopped = lock(&self.stopped);
            stopped.0 = true;
            std::mem::take(&mut stopped.1)
        };
        let me = self.clone();
        self.js.post(move |env| {
            me.closing_keep.set(env, false);
            for d in waiting {
                d.settle(env, Ok(()));
            }
        });
    }
}

/// Binds `target` on the runtime (holding the event loop meanwhile), then on the JS thread
/// hands the listening socket to `start` with the address bound, which spawns its accept
/// loop and makes the server object the promise resolves with. The listening socket holds
/// the loop from then on.
pub(crate) fn listening<T: ToNapiValue + 'static>(
    env: &Env,
    target: Target,
    backlog: i32,
    reuse_port: bool,
    start: impl FnOnce(Arc<Listening>, Bound, String, u16) -> T + Send + 'static,
) -> napi::Result<Promise> {
    let (done, promise) = Deferred::new(env)?;
    let js = Js::of(env)?;
    let keep = KeepAlive::default();
    keep.set(env, true);
    let back = js.clone();
    rt().spawn(async move {
        let unix = match &target {
            Target::Unix(p) => Some(p.clone()),
            Target::Tcp(..) => None,
        };
        let bound = bind(&target, backlog, reuse_port)
            .await
            .and_then(|(sock, host, port)| {
                let io =
                    register(sock, Interest::READABLE).map_err(|e| CoreError::net(e, "listen"))?;
                Ok((Arc::new(io), host, port))
            });
        back.post(move |env| {
            keep.set(env, false);
            let server = bound.map(|(io, host, port)| {
                let core = Arc::new(Listening::new(io.clone(), js, unix));
                core.keep.set(env, true);
                let weak = Arc::downgrade(&core);
                let stop = move || weak.upgrade().into_iter().for_each(|c| c.stop());
                *lock(&core.teardown) = Teardown::new(env, Box::new(stop)).ok();
                start(core, io, host, port)
            });
            done.settle(env, server);
        });
    });
    Ok(promise)
}

/// Binds and listens on `target`. The default host is `::` (dual-stack), or `0.0.0.0`
/// where IPv6 is missing, as Node.
pub(crate) async fn bind(
    target: &Target,
    backlog: i32,
    reuse_port: bool,
) -> AbioResult<(Socket, String, u16)> {
    let (addr, shown, port) = match target {
        Target::Unix(path) => {
            let shown = path.to_string_lossy().into_owned();
            let addr =
                net::unix_addr(path).map_err(|e| net_error(e, "listen", shown.clone(), None))?;
            (addr, shown, None)
        }
        Target::Tcp(host, port) if host.is_empty() => {
            let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), *port);
            let addr = match new_socket(Domain::IPV6) {
                Ok(_) => any6,
                Err(_) => SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), *port),
            };
            (addr.into(), addr.ip().to_string(), Some(*port))
        }
        Target::Tcp(host, port) => {
            let addr = resolve(host, *port).await?[0];
            (addr.into(), addr.ip().to_string(), Some(*port))
        }
    };
    let err = |e| net_error(e, "listen", shown.clone(), port);
    let sock = new_socket(addr.domain()).map_err(err)?;
    if port.is_some() {
        net::reuse(&sock, reuse_port).map_err(err)?;
        if addr.is_ipv6() {
            sock.set_only_v6(false).map_err(err)?;
        }
    }
    sock.bind(&addr).map_err(err)?;
    sock.listen(backlog).map_err(err)?;
    let (host, port, _) = describe(sock.local_addr().ok());
    Ok((sock, host, port))
}
