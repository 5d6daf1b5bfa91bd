//! Readiness on the JS thread: [`JsPoll`], a libuv poll handle on Node's own event loop
//! that calls a closure whenever a socket is readable, for a reader that hands all it reads
//! to JS (WebSockets): no thread hop per read. libuv's functions are Node's, found as the
//! `napi_*` ones are.

use napi::{sys, Env};

use crate::uv;

use crate::error::guard;

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
