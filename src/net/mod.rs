//! What every network area shares (TCP sockets, the HTTP server and client, WebSockets):
//! dialing ([`dial`]), listening ([`listen`]), the transport seam every connection's bytes
//! pass through ([`transport`]), and the socket core here: waiting for a socket's readiness
//! until it is closed ([`ready`]), its addresses as Node shows them ([`describe`]), and the
//! lock helper their shared state uses.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use abio_core::error::errno_of;
use abio_core::net;
use socket2::SockAddr;
use tokio::sync::Notify;

pub mod dial;
pub mod listen;
pub mod transport;

/// Locks `m`, also after a panic elsewhere poisoned it (the data stays consistent: every
/// critical section here is a few field updates).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connection's transport, shared: tasks hold their own clone, so the descriptor closes
/// when the last of them is done.
pub(crate) type Io = Arc<transport::Transport>;

/// Why a write (or every write after it) failed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Failure {
    /// The socket was closed (or finished) meanwhile.
    Closed,
    /// A `sendFile`'s signal aborted it.
    Aborted,
    /// An OS error (errno, syscall).
    Os(i32, &'static str),
}

impl Failure {
    pub(crate) fn os(e: &io::Error, syscall: &'static str) -> Failure {
        Failure::Os(errno_of(e).unwrap_or(libc::EIO), syscall)
    }
}

/// Waits for `readiness` (a transport's or listening socket's `ready(interest)`); fails with [`Failure::Closed`] once
/// `closing` is notified (after `is_closed` became true), with [`Failure::Aborted`] once
/// `cancel` is.
pub(crate) async fn ready<G>(
    readiness: impl Future<Output = io::Result<G>>,
    closing: &Notify,
    is_closed: &AtomicBool,
    cancel: Option<&Notify>,
) -> Result<G, Failure> {
    let notified = closing.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    if is_closed.load(Ordering::Acquire) {
        return Err(Failure::Closed);
    }
    let aborted = async {
        match cancel {
            Some(n) => n.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        g = readiness => g.map_err(|e| Failure::os(&e, "poll")),
        _ = notified => Err(Failure::Closed),
        _ = aborted => Err(Failure::Aborted),
    }
}

/// The address, port and family (`IPv4`, `IPv6`, `Unix`) of `addr`, as Node shows them.
pub(crate) fn describe(addr: Option<SockAddr>) -> (String, u16, &'static str) {
    match addr {
        Some(a) => match a.as_socket() {
            Some(SocketAddr::V4(v4)) => (v4.ip().to_string(), v4.port(), "IPv4"),
            Some(SocketAddr::V6(v6)) => (v6.ip().to_string(), v6.port(), "IPv6"),
            None => (
                net::unix_path(&a)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                0,
                "Unix",
            ),
        },
        None => (String::new(), 0, ""),
    }
}
