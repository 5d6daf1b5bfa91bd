//! File work off the JS thread: [`job`], one async call as one trip to a libuv pool thread
//! (a napi `AsyncTask`), and [`parallel_map`], a batch spread over scoped threads that live
//! only for the call.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use napi::bindgen_prelude::{AsyncTask, ToNapiValue, TypeName};
use napi::{Env, Task};

use crate::error::{guard, to_js, AbioError, AbioResult};

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
