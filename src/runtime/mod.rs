//! Where work runs. The only module that starts threads; its rooms: [`job`] (file work
//! off the JS thread), [`sock`] (sockets on the reactor), [`js`] (the way back to a JS
//! thread, and each environment's tasks), [`promise`] (promises and progress settled from
//! any thread), [`poll`] (readiness on the JS thread's own loop). Callers use the names
//! re-exported here.
//!
//! - [`job`]: one async call = one trip to a libuv pool thread (a napi `AsyncTask`) doing
//!   every syscall of the call there. Measured here: `fs.promises.readFile` makes 4-5
//!   pool trips per call and each wake-up of a sleeping thread costs 30-45 µs; one
//!   `AsyncTask` trip was ~2.7x faster than tokio's `spawn_blocking` (two hand-offs).
//! - [`parallel_map`]: a batch (thousands of files) spread over a few scoped threads that
//!   live only for the call, so nothing is left running to keep the process alive or to
//!   outlive a `worker_threads` unload, and open file descriptors are bounded by the
//!   thread count.
//!
//! - [`net`]: the one tokio runtime, for the network areas: sockets wait for readiness
//!   there, and results come back to the JS thread through [`Js::post`], one thread-safe
//!   function per JS environment (not one per call), which keeps the event loop alive only
//!   while something [`KeepAlive`]s it (an open socket, a listening server, a connect).
//! - [`Deferred`]: a promise made and settled on the JS thread, for calls that complete
//!   either right away (on the JS thread) or later (through [`Js::post`]).
//! - [`Progress`]: an `onProgress(done, total)` callback fed from the runtime's threads.
//! - [`JsPoll`]: a socket's readiness on the JS thread's own libuv loop, for a reader that
//!   hands all it reads to JS (WebSockets): no thread hop per read.

use std::sync::OnceLock;

pub mod job;
pub mod js;
pub mod poll;
pub mod promise;
pub mod sock;

pub use self::job::{job, parallel_map, spread, Job, FILES_PER_THREAD};
pub use self::js::{Js, KeepAlive, Teardown};
pub use self::poll::JsPoll;
pub use self::promise::{woken_on_cancel, Deferred, Progress, Promise};
pub use self::sock::{connected, peer_of, poll_io, register, reregister, AsyncSock, ReadyGuard};

/// The tokio runtime of the network areas, started on first use: a few worker threads that
/// wait for socket readiness (`ABIO_NET_THREADS` overrides their number). It lives as long
/// as the process; its idle threads do not keep Node alive.
pub fn net() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let threads = std::env::var("ABIO_NET_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .clamp(1, 16);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("abio-net")
            // File pieces of HTTP bodies (src/http/) are read and written here: bounded, so
            // a burst of large-file requests queues instead of starting hundreds of threads.
            .max_blocking_threads(32)
            .enable_io()
            .enable_time()
            .build()
            .expect("the tokio runtime starts")
    })
}
