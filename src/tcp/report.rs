//! Settling writes in JS: `lib/net.js` holds the promises of its writes, in call order, and
//! learns from one call how many of a socket's next writes succeeded or failed
//! ([`report_writes`]), so no Node-API promise is made per write.

use std::cell::RefCell;

use napi::bindgen_prelude::{Function, FunctionRef};
use napi::{sys, Env, JsValue};
use napi_derive::napi;

use crate::error::{error_value, AbioError};

thread_local! {
    /// `lib/net.js`'s `(id, ok, failed, error)` of this thread's environment.
    static ON_WRITES: RefCell<Option<(sys::napi_env, FunctionRef<(), ()>)>> = const { RefCell::new(None) };
}

/// Consecutive settled writes of one socket, told to JS at once.
#[derive(Default)]
pub(super) struct Run {
    pub(super) ok: u32,
    pub(super) failed: u32,
    pub(super) error: Option<AbioError>,
}

impl Run {
    pub(super) fn report(&mut self, env: &Env, id: u32) {
        if self.ok + self.failed > 0 {
            report_writes(env, id, self.ok, self.failed, self.error.take());
        }
        *self = Run::default();
    }
}

/// Tells `lib/net.js` that the next `ok` writes of socket `id` succeeded and the `failed`
/// after them failed with `error` (JS resolves and rejects its promises in order).
pub(super) fn report_writes(env: &Env, id: u32, ok: u32, failed: u32, error: Option<AbioError>) {
    ON_WRITES.with(|cell| {
        let slot = cell.borrow();
        let Some((owner, callback)) = slot.as_ref().filter(|(e, _)| *e == env.raw()) else {
            return;
        };
        let Ok(f) = callback.borrow_back(env) else {
            return;
        };
        let raw = env.raw();
        let error = error.map(|e| error_value(env, e));
        // SAFETY: JS thread (the caller's `Env`, the one the callback belongs to); the
        // arguments are values made in this scope.
        unsafe {
            let mut argv = [std::ptr::null_mut(); 4];
            let mut undefined = std::ptr::null_mut();
            sys::napi_get_undefined(*owner, &mut undefined);
            for (slot, n) in argv.iter_mut().zip([id, ok, failed]) {
                sys::napi_create_uint32(raw, n, slot);
            }
            argv[3] = error.unwrap_or(undefined);
            let mut result = std::ptr::null_mut();
            // A throwing callback would be a bug of lib/net.js: it surfaces as uncaught.
            sys::napi_call_function(
                raw,
                undefined,
                f.raw(),
                argv.len(),
                argv.as_ptr(),
                &mut result,
            );
        }
    });
}

/// Registers `lib/net.js`'s `(id, ok, failed, error)`, called on the JS thread as writes
/// settle (see [`report_writes`]). Once per environment.
#[napi]
pub fn set_write_callback(
    env: Env,
    #[napi(ts_arg_type = "(id: number, ok: number, failed: number, error: unknown) => void")]
    callback: Function<(), ()>,
) -> napi::Result<()> {
    let callback = callback.create_ref()?;
    ON_WRITES.with(|cell| *cell.borrow_mut() = Some((env.raw(), callback)));
    Ok(())
}
