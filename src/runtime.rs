//! Where work runs. The only module that starts threads.
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

use std::cell::RefCell;
use std::ffi::c_void;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use napi::bindgen_prelude::{
    AsyncTask, FnArgs, Function, FunctionRef, ToNapiValue, TypeName, ValueType,
};
use napi::{sys, Env, Task};

use crate::error::{error_value, guard, to_js, AbioError, AbioResult};

/// A napi `Task` that runs `run(&mut state)` on a libuv pool thread.
///
/// `state` holds the call's inputs (held JS memory included) and is dropped on the JS
/// thread after the promise settles, so JS references are released where they belong.
pub struct Job<S, T> {
    state: S,
    run: Option<Work<S, T>>,
    failed: Option<AbioError>,
    _out: PhantomData<fn() -> T>,
}

/// Runs `run(&mut state)` off the JS thread; the promise resolves with its value or
/// rejects with the JS error made by `error.rs`.
pub fn job<S, T>(
    state: S,
    run: impl FnOnce(&mut S) -> AbioResult<T> + Send + 'static,
) -> AsyncTask<Job<S, T>>
where
    S: Send,
    T: ToNapiValue + TypeName + Send + 'static,
{
    AsyncTask::new(Job {
        state,
        run: Some(Box::new(run)),
        failed: None,
        _out: PhantomData,
    })
}

/// The work of a [`Job`]; boxed so that `#[napi]` signatures can name the task type.
type Work<S, T> = Box<dyn FnOnce(&mut S) -> AbioResult<T> + Send>;

impl<S, T> Task for Job<S, T>
where
    S: Send,
    T: ToNapiValue + TypeName + Send + 'static,
{
    type Output = T;
    type JsValue = T;

    fn compute(&mut self) -> napi::Result<T> {
        let run = self.run.take();
        let state = &mut self.state;
        let result = guard(move || match run {
            Some(run) => run(state),
            None => Err(AbioError::Internal("job ran twice".into())),
        });
        result.map_err(|e| {
            // The JS error can only be built on the JS thread: keep the cause for `reject`.
            self.failed = Some(e);
            napi::Error::from_reason("failed")
        })
    }

    fn resolve(&mut self, _env: Env, output: T) -> napi::Result<T> {
        Ok(output)
    }

    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<T> {
        Err(match self.failed.take() {
            Some(e) => to_js(&env, e),
            None => err,
        })
    }
}

/// How many threads a batch uses, the calling one included: one per core, at least 2
/// (files off the page cache wait on the disk) and at most 8; `ABIO_BATCH_THREADS`
/// overrides it. Computed once: `available_parallelism` reads cgroup files (~50 µs).
fn batch_threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        if let Some(n) = std::env::var("ABIO_BATCH_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
        {
            return n.clamp(1, 64);
        }
        std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8)
    })
}

/// Computes `f(&mut state, worker, i)` for every `i` in `0..n` on a few threads and
/// returns the results in order, with each worker's `state` (made by `init`, indexed by
/// `worker`). Items are claimed a few at a time from a shared counter, so a slow item does
/// not hold up the others.
///
/// Starting a thread costs ~50-100 µs here: a thread is added only per `per_thread` items
/// (a few files' worth of work at least), up to `batch_threads()`.
pub fn parallel_map<W, T, F>(
    n: usize,
    per_thread: usize,
    init: impl Fn() -> W + Sync,
    f: F,
) -> (Vec<T>, Vec<W>)
where
    W: Send,
    T: Send,
    F: Fn(&mut W, usize, usize) -> T + Sync,
{
    // Claim a few items at a time (fewer atomics), but not more than a thread's share.
    let claim = per_thread.clamp(1, 4);
    let threads = batch_threads().min(n / per_thread.max(1)).max(1);
    let next = AtomicUsize::new(0);
    let work = |worker: usize| {
        let mut state = init();
        let mut done = Vec::new();
        loop {
            let start = next.fetch_add(claim, Ordering::Relaxed);
            if start >= n {
                return (state, done);
            }
            for i in start..(start + claim).min(n) {
                done.push((i, f(&mut state, worker, i)));
            }
        }
    };
    let mut slots: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let mut states = Vec::with_capacity(threads);
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads).map(|w| s.spawn(move || work(w))).collect();
        let mut place = |(state, items): (W, Vec<(usize, T)>)| {
            states.push(state);
            for (i, v) in items {
                slots[i] = Some(v);
            }
        };
        place(work(0));
        for h in helpers {
            match h.join() {
                Ok(done) => place(done),
                // Re-raise on this thread, where `guard` turns it into an error.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    let results = slots
        .into_iter()
        .map(|v| v.expect("every index is claimed exactly once"))
        .collect();
    (results, states)
}

/// Items per thread for a batch of files: fewer files are not worth a thread start.
pub const FILES_PER_THREAD: usize = 32;

/// An [`abio_core::fs::Spread`] over [`parallel_map`]: every item (a 16 MiB chunk of a
/// large read) may get a thread.
pub fn spread(n: usize, f: &(dyn Fn(usize) + Sync)) {
    parallel_map(n, 1, || (), |_, _, i| f(i));
}

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

// ---------------------------------------------------------------------------------------
// Sockets on the runtime's reactor

/// A socket registered with [`net`]'s reactor: on Unix tokio's `AsyncFd`, which watches any
/// descriptor (`ready`, then `try_io` around our own nonblocking syscalls).
#[cfg(unix)]
pub type AsyncSock = tokio::io::unix::AsyncFd<socket2::Socket>;
/// What [`AsyncSock::ready`] gives: `try_io` runs a syscall, clearing the readiness when it
/// would block.
#[cfg(unix)]
pub type ReadyGuard<'a> = tokio::io::unix::AsyncFdReadyGuard<'a, socket2::Socket>;

/// Registers `sock` with the runtime's reactor. On a runtime thread.
#[cfg(unix)]
pub fn register(
    sock: socket2::Socket,
    interest: tokio::io::Interest,
) -> std::io::Result<AsyncSock> {
    // SAFETY: a `Socket` owns its descriptor, keeps it open until dropped and always
    // reports the same one; the `AsyncFd` owns the `Socket`.
    unsafe { AsyncSock::register_with_interest(sock, interest) }.map_err(std::io::Error::from)
}

/// Polls `sock` for `interest`, then runs `f` (a nonblocking syscall) until it does not
/// say `WouldBlock` (which clears the readiness, so the next poll waits). `f` also tells
/// whether the socket is now drained or full (a short read or write): its readiness is
/// cleared too, sparing a syscall that would only say `WouldBlock`.
#[cfg(unix)]
pub fn poll_io<R>(
    sock: &AsyncSock,
    cx: &mut std::task::Context<'_>,
    interest: tokio::io::Interest,
    mut f: impl FnMut() -> std::io::Result<(R, bool)>,
) -> std::task::Poll<std::io::Result<R>> {
    use std::task::Poll;
    loop {
        let polled = if interest.is_readable() {
            sock.poll_read_ready(cx)
        } else {
            sock.poll_write_ready(cx)
        };
        let mut guard = match polled {
            Poll::Ready(Ok(g)) => g,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        match guard.try_io(|_| f()) {
            Ok(Ok((r, drained))) => {
                if drained {
                    guard.clear_ready();
                }
                return Poll::Ready(Ok(r));
            }
            Ok(Err(e)) => return Poll::Ready(Err(e)),
            // `WouldBlock`: the readiness was cleared; poll again.
            Err(_) => continue,
        }
    }
}

/// Waits on the runtime until the nonblocking `connect` of `sock` is done; then takes its
/// result (`SO_ERROR`).
pub async fn connected(sock: socket2::Socket) -> std::io::Result<socket2::Socket> {
    let io = register(sock, tokio::io::Interest::WRITABLE)?;
    let _ = io.writable().await?;
    let sock = io.into_inner();
    #[cfg(windows)]
    let sock = sock?;
    match sock.take_error()? {
        Some(e) => Err(e),
        None => Ok(sock),
    }
}

/// Windows has no `AsyncFd`: a socket (connected, connecting or listening) is registered as
/// a tokio `TcpStream`, whose `ready` and `try_io` work the same way for our own syscalls
/// on its handle (mio's readable interest includes `AFD_POLL_ACCEPT`, so a listening
/// socket's readiness is its pending connections). The same API as Unix's `AsyncFd`, as far
/// as abio uses it.
#[cfg(windows)]
pub struct AsyncSock {
    stream: tokio::net::TcpStream,
}

#[cfg(windows)]
impl AsyncSock {
    /// Waits until the socket is ready for `interest`.
    pub async fn ready(&self, interest: tokio::io::Interest) -> std::io::Result<ReadyGuard<'_>> {
        self.stream.ready(interest).await?;
        Ok(ReadyGuard { io: self, interest })
    }

    /// Waits until the socket is writable.
    pub async fn writable(&self) -> std::io::Result<ReadyGuard<'_>> {
        self.ready(tokio::io::Interest::WRITABLE).await
    }

    /// The socket back, no longer registered.
    pub fn into_inner(self) -> std::io::Result<socket2::Socket> {
        self.stream.into_std().map(socket2::Socket::from)
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsRawSocket for AsyncSock {
    fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
        self.stream.as_raw_socket()
    }
}

/// What [`AsyncSock::ready`] gives: `try_io` runs a syscall, clearing the readiness when it
/// would block.
#[cfg(windows)]
pub struct ReadyGuard<'a> {
    io: &'a AsyncSock,
    interest: tokio::io::Interest,
}

/// `try_io`'s "it would block; the readiness was cleared".
#[cfg(windows)]
#[derive(Debug)]
pub struct TryIoError;

#[cfg(windows)]
impl<'a> ReadyGuard<'a> {
    /// Runs `f`; a `WouldBlock` clears the readiness (and re-arms the reactor) and is
    /// `Err(TryIoError)`, as `AsyncFdReadyGuard::try_io`.
    pub fn try_io<R>(
        &mut self,
        f: impl FnOnce(&'a AsyncSock) -> std::io::Result<R>,
    ) -> Result<std::io::Result<R>, TryIoError> {
        let io = self.io;
        match io.stream.try_io(self.interest, || f(io)) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Err(TryIoError),
            r => Ok(r),
        }
    }
}

/// Polls `sock` for `interest`, then runs `f` (a nonblocking syscall) until it does not
/// say `WouldBlock` (which clears the readiness, so the next poll waits), as the Unix one.
/// (tokio keeps no readiness to clear on a short read or write on Windows.)
#[cfg(windows)]
pub fn poll_io<R>(
    sock: &AsyncSock,
    cx: &mut std::task::Context<'_>,
    interest: tokio::io::Interest,
    mut f: impl FnMut() -> std::io::Result<(R, bool)>,
) -> std::task::Poll<std::io::Result<R>> {
    use std::task::Poll;
    loop {
        let polled = if interest.is_readable() {
            sock.stream.poll_read_ready(cx)
        } else {
            sock.stream.poll_write_ready(cx)
        };
        match polled {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        match sock.stream.try_io(interest, || f()) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            r => return Poll::Ready(r.map(|(r, _)| r)),
        }
    }
}

/// Registers `sock` with the runtime's reactor. On a runtime thread.
#[cfg(windows)]
pub fn register(
    sock: socket2::Socket,
    _interest: tokio::io::Interest,
) -> std::io::Result<AsyncSock> {
    let stream = tokio::net::TcpStream::from_std(std::net::TcpStream::from(sock))?;
    Ok(AsyncSock { stream })
}

/// Work for the JS thread, posted from any thread.
type Call = Box<dyn FnOnce(&Env) + Send>;

/// A raw thread-safe function; `None` once Node finalized it (its environment is gone).
struct Tsfn(RwLock<Option<usize>>);

impl Tsfn {
    fn raw(&self) -> Option<sys::napi_threadsafe_function> {
        let raw = *self.0.read().unwrap_or_else(|e| e.into_inner());
        raw.map(|r| r as sys::napi_threadsafe_function)
    }
}

/// One JS environment's way back ([`Js::post`]) and its tasks on the runtime ([`Js::spawn`]).
struct PerEnvShared {
    tsfn: Tsfn,
    tasks: Tasks,
}

/// The way back to one JS thread: [`Js::post`] runs a closure there, from any thread; and
/// the environment's tasks on the runtime, stopped when it is torn down ([`Js::spawn`]).
#[derive(Clone)]
pub struct Js(Arc<PerEnvShared>);

/// The runtime tasks of one JS environment: every task that may read or write memory of that
/// environment (held request and response bodies, queued sends) runs as one of them, so the
/// environment's teardown (a worker terminated, the main thread exiting) can stop them all
/// before it returns, and so before the isolate frees that memory.
#[derive(Default)]
struct Tasks {
    set: std::sync::Mutex<TaskSet>,
    /// Signalled when the last task of a stopped set is gone.
    emptied: std::sync::Condvar,
}

#[derive(Default)]
struct TaskSet {
    next: u64,
    live: std::collections::HashMap<u64, tokio::task::AbortHandle>,
    /// The environment is being torn down: no task starts any more.
    stopped: bool,
}

/// How long a teardown waits for its environment's tasks to stop. Aborted tasks stop at their
/// next await (they never block a thread), so this is only a guard against a bug hanging a
/// worker's exit forever.
const TEARDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Lives inside a task's future: dropped when the task completes or is aborted (its future
/// dropped), which takes the task off its environment's list.
struct Member {
    env: Arc<PerEnvShared>,
    id: u64,
}

impl Drop for Member {
    fn drop(&mut self) {
        let tasks = &self.env.tasks;
        let mut set = tasks.set.lock().unwrap_or_else(|e| e.into_inner());
        set.live.remove(&self.id);
        if set.stopped && set.live.is_empty() {
            tasks.emptied.notify_all();
        }
    }
}

unsafe extern "C" fn stop_tasks(arg: *mut c_void) {
    // SAFETY: `arg` is the `Arc<PerEnvShared>` leaked for this hook in `Js::of`; the hook runs
    // once, at the environment's teardown, and is never removed.
    let shared = unsafe { Arc::from_raw(arg.cast::<PerEnvShared>()) };
    let tasks = &shared.tasks;
    let mut set = tasks.set.lock().unwrap_or_else(|e| e.into_inner());
    set.stopped = true;
    for task in set.live.values() {
        task.abort();
    }
    // An aborted task's future is dropped by the runtime thread that next looks at it (at
    // once if it is running now, after its current poll): only then is the memory it holds
    // out of reach.
    let (set, waited) = tasks
        .emptied
        .wait_timeout_while(set, TEARDOWN_WAIT, |s| !s.live.is_empty())
        .unwrap_or_else(|e| e.into_inner());
    if waited.timed_out() {
        eprintln!(
            "abio: {} task(s) did not stop at the environment's teardown",
            set.live.len()
        );
    }
}

struct PerEnv {
    env: sys::napi_env,
    js: Js,
    holds: usize,
}

thread_local! {
    static PER_ENV: RefCell<Option<PerEnv>> = const { RefCell::new(None) };
}

unsafe extern "C" fn run_call(
    env: sys::napi_env,
    _callback: sys::napi_value,
    _context: *mut c_void,
    data: *mut c_void,
) {
    // SAFETY: `data` is the `Box<Call>` leaked by `post`, handed to us exactly once.
    let call = unsafe { Box::from_raw(data.cast::<Call>()) };
    if env.is_null() {
        // The environment is being torn down: drop the work (napi-rs values release
        // themselves safely then), run nothing.
        return;
    }
    let env = Env::from_raw(env);
    if let Err(e) = guard(move || {
        call(&env);
        Ok(())
    }) {
        eprintln!("abio: {e:?}");
    }
}

unsafe extern "C" fn finalize_tsfn(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the `Arc<PerEnvShared>` leaked when the function was made; Node
    // finalizes once. Posting threads hold the read lock while they use the raw pointer.
    let shared = unsafe { Arc::from_raw(data.cast::<PerEnvShared>()) };
    *shared.tsfn.0.write().unwrap_or_else(|e| e.into_inner()) = None;
}

impl Js {
    /// The queue of the JS thread running `env`, made on first use. JS thread only.
    pub fn of(env: &Env) -> napi::Result<Js> {
        PER_ENV.with(|cell| {
            let mut slot = cell.borrow_mut();
            if let Some(per) = slot.as_ref().filter(|p| p.env == env.raw()) {
                return Ok(per.js.clone());
            }
            let shared = Arc::new(PerEnvShared {
                tsfn: Tsfn(RwLock::new(None)),
                tasks: Tasks::default(),
            });
            let mut raw = std::ptr::null_mut();
            // SAFETY: JS thread (caller's contract). No JS function: `run_call` does the
            // work. One leaked `Arc` is the finalizer's, reclaimed in `finalize_tsfn`; one is
            // the teardown hook's, reclaimed in `stop_tasks`.
            unsafe {
                let mut name = std::ptr::null_mut();
                napi::check_status!(sys::napi_create_string_utf8(
                    env.raw(),
                    c"abio".as_ptr(),
                    4,
                    &mut name
                ))?;
                napi::check_status!(sys::napi_create_threadsafe_function(
                    env.raw(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    name,
                    0,
                    1,
                    Arc::into_raw(shared.clone()) as *mut c_void,
                    Some(finalize_tsfn),
                    std::ptr::null_mut(),
                    Some(run_call),
                    &mut raw,
                ))?;
                // Nothing is held yet: the process may exit.
                napi::check_status!(sys::napi_unref_threadsafe_function(env.raw(), raw))?;
                let hook = Arc::into_raw(shared.clone()) as *mut c_void;
                let status = sys::napi_add_env_cleanup_hook(env.raw(), Some(stop_tasks), hook);
                if status != sys::Status::napi_ok {
                    drop(Arc::from_raw(hook.cast::<PerEnvShared>()));
                    return Err(napi::Error::from_reason("napi_add_env_cleanup_hook failed"));
                }
            }
            *shared.tsfn.0.write().unwrap_or_else(|e| e.into_inner()) = Some(raw as usize);
            let js = Js(shared);
            *slot = Some(PerEnv {
                env: env.raw(),
                js: js.clone(),
                holds: 0,
            });
            Ok(js)
        })
    }

    /// Runs `f` on the JS thread soon. When the environment is gone, `f` is dropped
    /// without running (and `false` is returned).
    pub fn post(&self, f: impl FnOnce(&Env) + Send + 'static) -> bool {
        let guard = self.0.tsfn.0.read().unwrap_or_else(|e| e.into_inner());
        let Some(raw) = *guard else { return false };
        let call: Box<Call> = Box::new(Box::new(f));
        let data = Box::into_raw(call);
        // SAFETY: the function is alive (not finalized) while we hold the read lock; the
        // queue is unbounded, so a nonblocking call only fails when it is closing.
        let status = unsafe {
            sys::napi_call_threadsafe_function(
                raw as sys::napi_threadsafe_function,
                data.cast(),
                sys::ThreadsafeFunctionCallMode::nonblocking,
            )
        };
        if status != sys::Status::napi_ok {
            // SAFETY: not queued, so still ours.
            drop(unsafe { Box::from_raw(data) });
            return false;
        }
        true
    }

    /// Runs `work` on the runtime as a task of this environment: one that may read or write
    /// its memory (a held body, a queued send) must be started here, never with a bare
    /// `tokio::spawn`. At the environment's teardown every such task is aborted and the
    /// teardown waits until its future is dropped, so nothing touches the memory the isolate
    /// frees next. After the teardown began, `work` is dropped without running. Any thread.
    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        let mut set = self.0.tasks.set.lock().unwrap_or_else(|e| e.into_inner());
        if set.stopped {
            return;
        }
        let id = set.next;
        set.next += 1;
        let member = Member {
            env: self.0.clone(),
            id,
        };
        // The task cannot take itself off the list before it is on it: its `Member` needs
        // the lock held here.
        let task = net().spawn(async move {
            let _member = member;
            work.await
        });
        set.live.insert(id, task.abort_handle());
    }
}

/// hyper's connections (the client's pooled ones) run as tasks of the environment that made
/// them ([`Js::spawn`]).
impl<F> hyper::rt::Executor<F> for Js
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        self.spawn(async move {
            fut.await;
        });
    }
}

/// Whether one socket, server or pending connect keeps the event loop alive (as Node's
/// ref'd handles do). JS thread only; the flag is atomic only to be shareable.
#[derive(Default)]
pub struct KeepAlive(AtomicBool);

impl KeepAlive {
    /// Holds (`true`) or lets go of (`false`) the event loop; repeated calls are no-ops.
    pub fn set(&self, env: &Env, on: bool) {
        self.set_in(Some(env.raw()), on);
    }

    /// Lets go of the event loop of this JS thread's environment, where no `Env` is at
    /// hand (a finalizer).
    pub fn release_here(&self) {
        self.set_in(None, false);
    }

    fn set_in(&self, env: Option<sys::napi_env>, on: bool) {
        if self.0.swap(on, Ordering::Relaxed) == on {
            return;
        }
        PER_ENV.with(|cell| {
            let mut slot = cell.borrow_mut();
            let Some(per) = slot.as_mut().filter(|p| env.is_none_or(|e| p.env == e)) else {
                return;
            };
            let before = per.holds;
            per.holds = if on {
                before + 1
            } else {
                before.saturating_sub(1)
            };
            let Some(raw) = per.js.0.tsfn.raw() else {
                return;
            };
            // SAFETY: JS thread; the function is alive (checked just above, and only
            // this thread's environment teardown finalizes it).
            unsafe {
                if before == 0 && per.holds == 1 {
                    sys::napi_ref_threadsafe_function(per.env, raw);
                } else if before == 1 && per.holds == 0 {
                    sys::napi_unref_threadsafe_function(per.env, raw);
                }
            }
        });
    }

    /// Whether it holds the loop now.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Work to do if the JS environment is torn down (a worker terminated, or the main thread
/// finishing) before [`Teardown::cancel`]: stopping what no JS will close any more, such as
/// a listening server, whose port would otherwise outlive its worker.
pub struct Teardown(*mut TeardownWork);

type TeardownWork = Option<Box<dyn FnOnce() + Send>>;

// SAFETY: the pointer is only dereferenced on the JS thread (the cleanup hook, or `cancel`
// with that thread's `Env`); moving it between threads is fine.
unsafe impl Send for Teardown {}

unsafe extern "C" fn run_teardown(arg: *mut c_void) {
    // SAFETY: `arg` is the box `Teardown::new` leaked; the hook runs at most once, and
    // `cancel` removes it before freeing the box.
    let work = unsafe { Box::from_raw(arg.cast::<TeardownWork>()) };
    if let Some(f) = *work {
        f();
    }
}

impl Teardown {
    /// Runs `f` at the teardown of `env`'s environment unless cancelled first. JS thread.
    pub fn new(env: &Env, f: Box<dyn FnOnce() + Send>) -> napi::Result<Teardown> {
        let work = Box::into_raw(Box::new(Some(f)));
        // SAFETY: JS thread; `work` stays valid until the hook runs or `cancel` frees it.
        let status =
            unsafe { sys::napi_add_env_cleanup_hook(env.raw(), Some(run_teardown), work.cast()) };
        if status != sys::Status::napi_ok {
            // SAFETY: not registered: still ours.
            drop(unsafe { Box::from_raw(work) });
            return Err(napi::Error::from_reason("napi_add_env_cleanup_hook failed"));
        }
        Ok(Teardown(work))
    }

    /// The work is not needed any more (closed by JS): forgets it. JS thread (`env`).
    pub fn cancel(self, env: &Env) {
        // SAFETY: JS thread; the hook has not run (it only runs at teardown, after which
        // no JS calls this), so the box is still ours once the hook is removed.
        unsafe {
            sys::napi_remove_env_cleanup_hook(env.raw(), Some(run_teardown), self.0.cast());
            drop(Box::from_raw(self.0));
        }
    }
}

/// A promise's resolver: made on the JS thread, moved anywhere, settled on the JS thread
/// (directly, or in a closure given to [`Js::post`]). A `Deferred` dropped unsettled leaves
/// its promise pending: every path settles it.
pub struct Deferred(sys::napi_deferred);

// SAFETY: the raw resolver is only used on the JS thread (`settle` takes the `Env` of a
// call or of a posted closure); moving the pointer between threads is fine.
unsafe impl Send for Deferred {}

/// A promise for JS (the value returned with a [`Deferred`]).
pub struct Promise(sys::napi_value);

impl ToNapiValue for Promise {
    unsafe fn to_napi_value(_env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        Ok(val.0)
    }
}

impl TypeName for Promise {
    fn type_name() -> &'static str {
        "Promise"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl Deferred {
    /// A new pending promise and its resolver. JS thread only.
    pub fn new(env: &Env) -> napi::Result<(Deferred, Promise)> {
        let mut deferred = std::ptr::null_mut();
        let mut promise = std::ptr::null_mut();
        // SAFETY: JS thread (the caller's `Env`).
        napi::check_status!(unsafe {
            sys::napi_create_promise(env.raw(), &mut deferred, &mut promise)
        })?;
        Ok((Deferred(deferred), Promise(promise)))
    }

    /// A promise already settled with `result`. JS thread only.
    pub fn settled<T: ToNapiValue>(env: &Env, result: AbioResult<T>) -> napi::Result<Promise> {
        let (d, p) = Deferred::new(env)?;
        d.settle(env, result);
        Ok(p)
    }

    /// Resolves with the JS value of `Ok`, or rejects with the JS error of `Err` (made by
    /// error.rs); a value that cannot be made rejects with that failure.
    pub fn settle<T: ToNapiValue>(self, env: &Env, result: AbioResult<T>) {
        let raw = env.raw();
        // SAFETY: JS thread (the `Env` of a call or posted closure); the resolver is used
        // exactly once, here.
        unsafe {
            let outcome = match result {
                Ok(v) => T::to_napi_value(raw, v).map_err(|e| AbioError::Internal(e.reason)),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(value) => sys::napi_resolve_deferred(raw, self.0, value),
                Err(e) => sys::napi_reject_deferred(raw, self.0, error_value(env, e)),
            };
        }
    }
}

/// `onProgress(done, total)` fed from the runtime's threads: at most one call waits on the
/// JS thread at a time, and it reports the latest counts when it runs. `total` is
/// [`Progress::UNKNOWN`] when not known (`lib/` turns it into `null`).
pub struct Progress {
    callback: FunctionRef<FnArgs<(f64, f64)>, ()>,
    done: AtomicU64,
    total: AtomicU64,
    queued: AtomicBool,
}

impl Progress {
    /// A total not known yet (a chunked body): reported as -1.
    pub const UNKNOWN: u64 = u64::MAX;

    /// Holds `callback` until the last report has run.
    pub fn new(callback: Function<FnArgs<(f64, f64)>, ()>) -> napi::Result<Arc<Progress>> {
        Ok(Arc::new(Progress {
            callback: callback.create_ref()?,
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            queued: AtomicBool::new(false),
        }))
    }

    /// Reports `done` of `total` bytes.
    pub fn report(self: &Arc<Self>, js: &Js, done: u64, total: u64) {
        self.done.store(done, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        js.post(move |env| {
            me.queued.store(false, Ordering::Release);
            let total = match me.total.load(Ordering::Relaxed) {
                Self::UNKNOWN => -1.0,
                t => t as f64,
            };
            let args = (me.done.load(Ordering::Relaxed) as f64, total);
            if let Ok(f) = me.callback.borrow_back(env) {
                // A throwing callback is the caller's uncaught exception, as in Node.
                let _ = f.call(args.into());
            }
        });
    }
}

/// A `Notify` woken (once, a stored permit if nobody waits yet) when `cancel` is set: what
/// an async wait `select!`s on to stop at an `AbortSignal`.
pub fn woken_on_cancel(cancel: &abio_core::Cancel) -> Arc<tokio::sync::Notify> {
    let aborted = Arc::new(tokio::sync::Notify::new());
    let wake = aborted.clone();
    cancel.on_cancel(move || wake.notify_one());
    aborted
}

// ---------------------------------------------------------------------------------------
// Readiness on the JS thread

/// libuv, as Node exports it to addons.
#[cfg(unix)]
mod uv {
    use std::ffi::{c_int, c_void};

    pub const POLL: c_int = 8; // UV_POLL in uv_handle_type
    pub const READABLE: c_int = 1;
    pub type PollCb = unsafe extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
    pub type CloseCb = unsafe extern "C" fn(handle: *mut c_void);
    /// Linked like the napi functions: Node's executable exports them.
    pub fn load() -> Result<(), String> {
        Ok(())
    }

    extern "C" {
        pub fn uv_handle_size(kind: c_int) -> usize;
        /// `fd` is a `uv_os_sock_t`: a descriptor.
        pub fn uv_poll_init_socket(lp: *mut c_void, handle: *mut c_void, fd: c_int) -> c_int;
        pub fn uv_poll_start(handle: *mut c_void, events: c_int, cb: PollCb) -> c_int;
        pub fn uv_poll_stop(handle: *mut c_void) -> c_int;
        pub fn uv_close(handle: *mut c_void, cb: Option<CloseCb>);
        pub fn uv_unref(handle: *mut c_void);
        pub fn uv_handle_set_data(handle: *mut c_void, data: *mut c_void);
        pub fn uv_handle_get_data(handle: *const c_void) -> *mut c_void;
    }
}

/// libuv, as Node exports it to addons. On Windows an addon links against no Node import
/// library for these: they are found at run time in the process (node.exe, or an embedder's
/// libnode/node DLL), as napi-sys finds the `napi_*` functions there.
#[cfg(windows)]
mod uv {
    use std::ffi::{c_int, c_void};
    use std::sync::OnceLock;

    pub const POLL: c_int = 8; // UV_POLL in uv_handle_type
    pub const READABLE: c_int = 1;
    pub type PollCb = unsafe extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
    pub type CloseCb = unsafe extern "C" fn(handle: *mut c_void);
    /// `uv_os_sock_t`: a `SOCKET`.
    type Sock = usize;

    struct Api {
        handle_size: unsafe extern "C" fn(c_int) -> usize,
        poll_init_socket: unsafe extern "C" fn(*mut c_void, *mut c_void, Sock) -> c_int,
        poll_start: unsafe extern "C" fn(*mut c_void, c_int, PollCb) -> c_int,
        poll_stop: unsafe extern "C" fn(*mut c_void) -> c_int,
        close: unsafe extern "C" fn(*mut c_void, Option<CloseCb>),
        unref: unsafe extern "C" fn(*mut c_void),
        handle_set_data: unsafe extern "C" fn(*mut c_void, *mut c_void),
        handle_get_data: unsafe extern "C" fn(*const c_void) -> *mut c_void,
        /// Keeps the module the functions live in loaded (it is the process's own anyway).
        _lib: libloading::os::windows::Library,
    }

    fn find() -> Result<Api, String> {
        use libloading::os::windows::Library;
        let has_uv = |lib: Result<Library, libloading::Error>| {
            let lib = lib.map_err(|e| e.to_string())?;
            // SAFETY: only looks the name up; nothing is called.
            unsafe { lib.get::<unsafe extern "C" fn()>(b"uv_poll_init_socket\0") }
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(lib)
        };
        let lib = has_uv(Library::this())
            .or_else(|_| has_uv(Library::open_already_loaded("libnode")))
            .or_else(|_| has_uv(Library::open_already_loaded("node")))?;
        // SAFETY: each name is libuv's function of exactly the signature it is read as
        // (uv.h); the pointers stay valid while `_lib` (the process's module) is loaded.
        unsafe {
            Ok(Api {
                handle_size: *lib.get(b"uv_handle_size\0").map_err(|e| e.to_string())?,
                poll_init_socket: *lib
                    .get(b"uv_poll_init_socket\0")
                    .map_err(|e| e.to_string())?,
                poll_start: *lib.get(b"uv_poll_start\0").map_err(|e| e.to_string())?,
                poll_stop: *lib.get(b"uv_poll_stop\0").map_err(|e| e.to_string())?,
                close: *lib.get(b"uv_close\0").map_err(|e| e.to_string())?,
                unref: *lib.get(b"uv_unref\0").map_err(|e| e.to_string())?,
                handle_set_data: *lib
                    .get(b"uv_handle_set_data\0")
                    .map_err(|e| e.to_string())?,
                handle_get_data: *lib
                    .get(b"uv_handle_get_data\0")
                    .map_err(|e| e.to_string())?,
                _lib: lib,
            })
        }
    }

    fn api() -> &'static Result<Api, String> {
        static API: OnceLock<Result<Api, String>> = OnceLock::new();
        API.get_or_init(find)
    }

    /// Finds the functions (once); every other function here may be called only after this
    /// succeeded (`JsPoll::start` checks it first).
    pub fn load() -> Result<(), String> {
        api().as_ref().map(drop).map_err(Clone::clone)
    }

    fn loaded() -> &'static Api {
        api()
            .as_ref()
            .expect("uv::load succeeded before any handle was made")
    }

    pub unsafe fn uv_handle_size(kind: c_int) -> usize {
        // SAFETY: forwarded from the caller.
        unsafe { (loaded().handle_size)(kind) }
    }
    pub unsafe fn uv_poll_init_socket(
        lp: *mut c_void,
        handle: *mut c_void,
        fd: std::os::windows::io::RawSocket,
    ) -> c_int {
        // SAFETY: forwarded from the caller; a SOCKET is pointer-sized.
        unsafe { (loaded().poll_init_socket)(lp, handle, fd as Sock) }
    }
    pub unsafe fn uv_poll_start(handle: *mut c_void, events: c_int, cb: PollCb) -> c_int {
        // SAFETY: forwarded from the caller.
        unsafe { (loaded().poll_start)(handle, events, cb) }
    }
    pub unsafe fn uv_poll_stop(handle: *mut c_void) -> c_int {
        // SAFETY: forwarded from the caller.
        unsafe { (loaded().poll_stop)(handle) }
    }
    pub unsafe fn uv_close(handle: *mut c_void, cb: Option<CloseCb>) {
        // SAFETY: forwarded from the caller.
        unsafe { (loaded().close)(handle, cb) }
    }
    pub unsafe fn uv_unref(handle: *mut c_void) {
        // SAFETY: forwarded from the caller.
        unsafe { (loaded().unref)(handle) }
    }
    pub unsafe fn uv_handle_set_data(handle: *mut c_void, data: *mut c_void) {
        // SAFETY: forwarded from the caller.
        unsafe { (loaded().handle_set_data)(handle, data) }
    }
    pub unsafe fn uv_handle_get_data(handle: *const c_void) -> *mut c_void {
        // SAFETY: forwarded from the caller.
        unsafe { (loaded().handle_get_data)(handle) }
    }
}

/// What a [`JsPoll`]'s libuv handle points at; freed with the handle, in `poll_closed`.
struct PollState {
    env: sys::napi_env,
    on_readable: Box<dyn FnMut(&Env)>,
    /// An object and async context for the callback scope: after `on_readable` returns,
    /// Node runs the microtasks it queued (promise reactions, `queueMicrotask`), as after
    /// any I/O callback of its own.
    resource: sys::napi_ref,
    context: sys::napi_async_context,
    /// Run if the environment is torn down first: the owner lets go of what it holds.
    on_teardown: Option<Box<dyn FnOnce() + Send>>,
    /// `uv_close` was called: nothing more may touch the handle.
    closed: bool,
}

/// Calls a closure on the JS thread whenever a socket is readable, from Node's own event
/// loop (a libuv poll handle): a reader that hands everything it reads to JS makes no
/// thread hop per read, as Node's own sockets do not. The handle does not keep the process
/// alive (callers hold it with [`KeepAlive`]). Used on the JS thread that made it, until
/// [`JsPoll::close`]; an environment torn down first (a worker terminated) closes the handle
/// itself, and a `JsPoll` dropped unclosed leaves the handle to that teardown.
pub struct JsPoll {
    /// The libuv handle; its memory (and state) live until libuv's close callback.
    handle: *mut std::ffi::c_void,
}

// SAFETY: the handle is only touched on the JS thread that made it (every method takes
// that thread's `Env`, or runs in its cleanup hook); the value merely moves between threads
// inside the connection that owns it, and dropping it touches nothing.
unsafe impl Send for JsPoll {}
// SAFETY: as above: no method reads or writes the handle off the JS thread.
unsafe impl Sync for JsPoll {}

/// The state behind a live handle.
///
/// # Safety
/// `handle` is a poll handle made by [`JsPoll::start`] whose close callback has not run,
/// used on its JS thread.
unsafe fn poll_state<'a>(handle: *mut std::ffi::c_void) -> &'a mut PollState {
    // SAFETY: the caller's contract: the data pointer is the live `PollState`.
    unsafe { &mut *(uv::uv_handle_get_data(handle) as *mut PollState) }
}

unsafe extern "C" fn poll_ready(handle: *mut std::ffi::c_void, _status: i32, _events: i32) {
    // SAFETY: libuv calls this only for a started, unclosed handle, on its JS thread.
    let state = unsafe { poll_state(handle) };
    let raw = state.env;
    // SAFETY: libuv calls this on the JS thread of `raw`, outside any other napi call;
    // the scopes opened here are closed before returning.
    unsafe {
        let mut handles = std::ptr::null_mut();
        if sys::napi_open_handle_scope(raw, &mut handles) != sys::Status::napi_ok {
            return;
        }
        let mut resource = std::ptr::null_mut();
        sys::napi_get_reference_value(raw, state.resource, &mut resource);
        let mut scope = std::ptr::null_mut();
        let opened = sys::napi_open_callback_scope(raw, resource, state.context, &mut scope)
            == sys::Status::napi_ok;
        let env = Env::from_raw(raw);
        // A panic must not unwind into libuv.
        let _ = guard(|| {
            (state.on_readable)(&env);
            Ok(())
        });
        if opened {
            sys::napi_close_callback_scope(raw, scope);
        }
        sys::napi_close_handle_scope(raw, handles);
    }
}

unsafe extern "C" fn poll_closed(handle: *mut std::ffi::c_void) {
    // SAFETY: the last call libuv makes for this handle: free the state and the handle.
    unsafe {
        drop(Box::from_raw(
            uv::uv_handle_get_data(handle) as *mut PollState
        ));
        let size = uv::uv_handle_size(uv::POLL);
        drop(Vec::from_raw_parts(handle as *mut u8, size, size));
    }
}

/// Closes `handle` once (JS thread).
///
/// # Safety
/// As [`poll_state`].
unsafe fn close_poll(handle: *mut std::ffi::c_void) {
    // SAFETY: the caller's contract; `poll_closed` frees the handle after this.
    unsafe {
        let state = poll_state(handle);
        if std::mem::replace(&mut state.closed, true) {
            return;
        }
        // Released while the environment still exists.
        sys::napi_async_destroy(state.env, state.context);
        sys::napi_delete_reference(state.env, state.resource);
        uv::uv_poll_stop(handle);
        uv::uv_close(handle, Some(poll_closed));
    }
}

unsafe extern "C" fn poll_teardown(handle: *mut std::ffi::c_void) {
    // SAFETY: the hook was registered with the handle in `start` and is removed before
    // `JsPoll::close` closes it: the handle is live here.
    unsafe {
        if let Some(f) = poll_state(handle).on_teardown.take() {
            f();
        }
        close_poll(handle)
    }
}

impl JsPoll {
    /// Starts calling `on_readable` while `fd` is readable; `on_teardown` runs if the
    /// environment goes away before [`JsPoll::close`] (a worker terminated).
    pub fn start(
        env: &Env,
        fd: abio_core::net::RawSock,
        on_readable: Box<dyn FnMut(&Env)>,
        on_teardown: Box<dyn FnOnce() + Send>,
    ) -> napi::Result<JsPoll> {
        uv::load().map_err(|e| napi::Error::from_reason(format!("libuv not found: {e}")))?;
        let raw = env.raw();
        // SAFETY: JS thread (`env`); every out-pointer is a live local; the handle memory is
        // as large as libuv says a poll handle is, and lives until `poll_closed` frees it.
        unsafe {
            let mut lp = std::ptr::null_mut();
            napi::check_status!(sys::napi_get_uv_event_loop(raw, &mut lp))?;
            let mut object = std::ptr::null_mut();
            napi::check_status!(sys::napi_create_object(raw, &mut object))?;
            let mut name = std::ptr::null_mut();
            napi::check_status!(sys::napi_create_string_utf8(
                raw,
                c"abio:socket".as_ptr(),
                11,
                &mut name
            ))?;
            let mut context = std::ptr::null_mut();
            napi::check_status!(sys::napi_async_init(raw, object, name, &mut context))?;
            let mut resource = std::ptr::null_mut();
            napi::check_status!(sys::napi_create_reference(raw, object, 1, &mut resource))?;
            let size = uv::uv_handle_size(uv::POLL);
            let mut memory = vec![0u8; size];
            let handle = memory.as_mut_ptr() as *mut std::ffi::c_void;
            let r = uv::uv_poll_init_socket(lp.cast(), handle, fd);
            if r != 0 {
                sys::napi_async_destroy(raw, context);
                sys::napi_delete_reference(raw, resource);
                return Err(napi::Error::from_reason(format!(
                    "uv_poll_init_socket: {r}"
                )));
            }
            // Owned by the handle from here on: freed in `poll_closed`.
            std::mem::forget(memory);
            let state = Box::new(PollState {
                env: raw,
                on_readable,
                resource,
                context,
                on_teardown: Some(on_teardown),
                closed: false,
            });
            uv::uv_handle_set_data(handle, Box::into_raw(state).cast());
            uv::uv_unref(handle);
            napi::check_status!(sys::napi_add_env_cleanup_hook(
                raw,
                Some(poll_teardown),
                handle
            ))?;
            let poll = JsPoll { handle };
            poll.resume(true);
            Ok(poll)
        }
    }

    /// Stops (`false`) or restarts (`true`) the calls. JS thread.
    pub fn resume(&self, on: bool) {
        // SAFETY: JS thread; the handle is live until `close` (which consumes `self`) or the
        // environment's teardown (after which no JS runs to call this).
        unsafe {
            if poll_state(self.handle).closed {
                return;
            }
            if on {
                uv::uv_poll_start(self.handle, uv::READABLE, poll_ready);
            } else {
                uv::uv_poll_stop(self.handle);
            }
        }
    }

    /// Stops for good and frees the handle. JS thread (`env`).
    pub fn close(self, env: &Env) {
        // SAFETY: JS thread; the hook registered in `start` with this handle, removed
        // before the handle closes (a no-op if the teardown already ran it).
        unsafe {
            if poll_state(self.handle).closed {
                return;
            }
            sys::napi_remove_env_cleanup_hook(env.raw(), Some(poll_teardown), self.handle);
            close_poll(self.handle);
        }
    }
}
