//! Promises and callbacks settled from the runtime: [`Deferred`] (a promise made and
//! settled on the JS thread), [`Progress`] (an `onProgress(done, total)` fed from any
//! thread, coalesced) and [`woken_on_cancel`] (an `AbortSignal` as a tokio `Notify`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{FnArgs, Function, FunctionRef, ToNapiValue, TypeName, ValueType};
use napi::{sys, Env};

use super::Js;
use crate::error::{error_value, AbioError, AbioResult};

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
