//! libuv, as Node exports it to addons: the poll handle functions behind
//! [`crate::runtime::JsPoll`], and the names and messages of error codes (`uv_err_name_r`,
//! `uv_strerror_r`: the very strings Node prints, `ENOENT`, `no such file or directory`,
//! for every errno libuv knows, with no table kept here) behind [`crate::error`].
//!
//! On Unix they are linked from the process (Node's executable exports them, as it does
//! `napi_*`); on Windows looked up once at run time in the process's module (node.exe, or an
//! embedder's libnode/node DLL), as napi-sys finds `napi_*` there.

use std::ffi::{c_char, c_int, c_void, CStr};

/// libuv's "unknown error" code (`UV_UNKNOWN`, the same on every platform).
const UNKNOWN: c_int = -4094;

/// `uv_err_name_r` and `uv_strerror_r`: write the text for `err` into `buf` (at most
/// `buflen` bytes, NUL included; truncated to fit) and return `buf`.
type TextFn = unsafe extern "C" fn(err: c_int, buf: *mut c_char, buflen: usize) -> *mut c_char;

/// `UV_POLL` in `uv_handle_type`.
pub(crate) const POLL: c_int = 8;
/// `UV_READABLE` in `uv_poll_event`.
pub(crate) const READABLE: c_int = 1;
/// `uv_poll_cb`.
pub(crate) type PollCb = unsafe extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
/// `uv_close_cb`.
pub(crate) type CloseCb = unsafe extern "C" fn(handle: *mut c_void);

/// Linked like the napi functions: Node's executable exports them.
#[cfg(unix)]
mod sym {
    use std::ffi::{c_char, c_int, c_void};

    use super::{CloseCb, PollCb};
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
        pub fn uv_err_name_r(err: c_int, buf: *mut c_char, buflen: usize) -> *mut c_char;
        pub fn uv_strerror_r(err: c_int, buf: *mut c_char, buflen: usize) -> *mut c_char;
    }

    /// `uv_err_name_r` and `uv_strerror_r`.
    pub fn text_fns() -> Option<(super::TextFn, super::TextFn)> {
        Some((uv_err_name_r, uv_strerror_r))
    }
}

/// On Windows an addon links against no Node import library for these: they are found at
/// run time in the process (node.exe, or an embedder's libnode/node DLL), as napi-sys finds
/// the `napi_*` functions there.
#[cfg(windows)]
mod sym {
    use std::ffi::{c_int, c_void};
    use std::sync::OnceLock;

    use super::{CloseCb, PollCb};
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
        err_name: super::TextFn,
        strerror: super::TextFn,
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
                err_name: *lib.get(b"uv_err_name_r\0").map_err(|e| e.to_string())?,
                strerror: *lib.get(b"uv_strerror_r\0").map_err(|e| e.to_string())?,
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

    /// `uv_err_name_r` and `uv_strerror_r`, found once; `None` when the process exports no
    /// libuv.
    pub fn text_fns() -> Option<(super::TextFn, super::TextFn)> {
        api().as_ref().ok().map(|a| (a.err_name, a.strerror))
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

pub(crate) use self::sym::*;

/// The text `f` (one of the [`TextFn`]s) gives `err`.
fn text(f: TextFn, err: c_int) -> String {
    // Longer than any name or message libuv has (the longest message is under 50 bytes).
    let mut buf = [0 as c_char; 128];
    // SAFETY: `f` is `uv_err_name_r` or `uv_strerror_r`, which write at most `buf.len()`
    // bytes, NUL-terminated, into `buf` (for any `err`) and keep no pointer to it.
    unsafe {
        f(err, buf.as_mut_ptr(), buf.len());
        CStr::from_ptr(buf.as_ptr())
    }
    .to_string_lossy()
    .into_owned()
}

/// The name and message libuv (and so Node) gives the libuv error code `err` (negative:
/// `-errno` on Unix, `UV_E*` on Windows): `("ENOENT", "no such file or directory")`;
/// `("UNKNOWN", "unknown error")` for a code libuv does not know, as Node reports one.
pub fn error_text(err: i32) -> (String, String) {
    let Some((name_of, message_of)) = sym::text_fns() else {
        return ("UNKNOWN".into(), "unknown error".into());
    };
    let (mut err, mut name) = (err, text(name_of, err));
    // libuv names a code it does not know "Unknown system error <n>"; Node calls it UNKNOWN.
    if name.starts_with("Unknown system error") {
        err = UNKNOWN;
        name = text(name_of, err);
    }
    (name, text(message_of, err))
}

/// The libuv error code of `errno` (`libc`'s numbering, see
/// [`abio_core::error::errno_of`]): the `errno` property Node gives an error.
pub fn code_of(errno: i32) -> i32 {
    #[cfg(unix)]
    {
        -errno
    }
    #[cfg(windows)]
    {
        windows_code(errno)
    }
}

/// libuv's own error numbers on Windows (uv/errno.h: `UV_ENOENT` is -4058 there, not
/// `-ENOENT`), by errno.
#[cfg(windows)]
fn windows_code(errno: i32) -> i32 {
    match errno {
        libc::E2BIG => -4093,
        libc::EACCES => -4092,
        libc::EADDRINUSE => -4091,
        libc::EADDRNOTAVAIL => -4090,
        libc::EAFNOSUPPORT => -4089,
        libc::EAGAIN => -4088,
        libc::EALREADY => -4084,
        libc::EBADF => -4083,
        libc::EBUSY => -4082,
        libc::ECANCELED => -4081,
        libc::ECONNABORTED => -4079,
        libc::ECONNREFUSED => -4078,
        libc::ECONNRESET => -4077,
        libc::EDESTADDRREQ => -4076,
        libc::EEXIST => -4075,
        libc::EFAULT => -4074,
        libc::EHOSTUNREACH => -4073,
        libc::EINTR => -4072,
        libc::EINVAL => -4071,
        libc::EIO => -4070,
        libc::EISCONN => -4069,
        libc::EISDIR => -4068,
        libc::ELOOP => -4067,
        libc::EMFILE => -4066,
        libc::EMSGSIZE => -4065,
        libc::ENAMETOOLONG => -4064,
        libc::ENETDOWN => -4063,
        libc::ENETUNREACH => -4062,
        libc::ENFILE => -4061,
        libc::ENOBUFS => -4060,
        libc::ENODEV => -4059,
        libc::ENOENT => -4058,
        libc::ENOMEM => -4057,
        libc::ENOSPC => -4055,
        libc::ENOSYS => -4054,
        libc::ENOTCONN => -4053,
        libc::ENOTDIR => -4052,
        libc::ENOTEMPTY => -4051,
        libc::ENOTSOCK => -4050,
        libc::ENOTSUP => -4049,
        libc::EPERM => -4048,
        libc::EPIPE => -4047,
        libc::EPROTO => -4046,
        libc::EPROTONOSUPPORT => -4045,
        libc::EPROTOTYPE => -4044,
        libc::EROFS => -4043,
        libc::ESPIPE => -4041,
        libc::ESRCH => -4040,
        libc::ETIMEDOUT => -4039,
        libc::ETXTBSY => -4038,
        libc::EXDEV => -4037,
        libc::EFBIG => -4036,
        libc::ENOPROTOOPT => -4035,
        libc::ERANGE => -4034,
        libc::ENXIO => -4033,
        libc::EMLINK => -4032,
        libc::ENOTTY => -4029,
        libc::EILSEQ => -4027,
        libc::EOVERFLOW => -4026,
        libc::ENODATA => -4024,
        _ => UNKNOWN,
    }
}
