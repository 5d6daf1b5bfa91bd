//! libuv's names and messages for error codes (`uv_err_name_r`, `uv_strerror_r`), as Node
//! exports them to addons: the very strings Node prints (`ENOENT`, `no such file or
//! directory`), for every errno libuv knows, with no table kept here.
//!
//! Found like the `uv_poll_*` functions of `runtime.rs`: on Unix linked from the process
//! (Node's executable exports them, as it does `napi_*`); on Windows looked up at run time
//! in the process's module (node.exe, or an embedder's libnode/node DLL), as napi-sys finds
//! `napi_*` there.

use std::ffi::{c_char, c_int, CStr};

/// libuv's "unknown error" code (`UV_UNKNOWN`, the same on every platform).
const UNKNOWN: c_int = -4094;

/// `uv_err_name_r` and `uv_strerror_r`: write the text for `err` into `buf` (at most
/// `buflen` bytes, NUL included; truncated to fit) and return `buf`.
type TextFn = unsafe extern "C" fn(err: c_int, buf: *mut c_char, buflen: usize) -> *mut c_char;

#[cfg(unix)]
mod sym {
    use std::ffi::{c_char, c_int};

    extern "C" {
        pub fn uv_err_name_r(err: c_int, buf: *mut c_char, buflen: usize) -> *mut c_char;
        pub fn uv_strerror_r(err: c_int, buf: *mut c_char, buflen: usize) -> *mut c_char;
    }

    /// The two functions, linked like the napi functions.
    pub fn text_fns() -> Option<(super::TextFn, super::TextFn)> {
        Some((uv_err_name_r, uv_strerror_r))
    }
}

#[cfg(windows)]
mod sym {
    use std::sync::OnceLock;

    use libloading::os::windows::{Library, Symbol};

    /// The two functions, and the module they live in (kept loaded; it is the process's own).
    struct Found {
        name: super::TextFn,
        message: super::TextFn,
        _lib: Library,
    }

    fn find() -> Option<Found> {
        let with_uv = |lib: Result<Library, libloading::Error>| {
            let lib = lib.ok()?;
            // SAFETY: both names are libuv's functions of exactly the `TextFn` signature
            // (uv.h); the pointers stay valid while `lib` (kept in `Found`) is loaded.
            let (name, message) = unsafe {
                let name: Symbol<super::TextFn> = lib.get(b"uv_err_name_r\0").ok()?;
                let message: Symbol<super::TextFn> = lib.get(b"uv_strerror_r\0").ok()?;
                (*name, *message)
            };
            Some(Found {
                name,
                message,
                _lib: lib,
            })
        };
        with_uv(Library::this())
            .or_else(|| with_uv(Library::open_already_loaded("libnode")))
            .or_else(|| with_uv(Library::open_already_loaded("node")))
    }

    /// The two functions, found once; `None` when the process exports no libuv.
    pub fn text_fns() -> Option<(super::TextFn, super::TextFn)> {
        static FOUND: OnceLock<Option<Found>> = OnceLock::new();
        FOUND
            .get_or_init(find)
            .as_ref()
            .map(|f| (f.name, f.message))
    }
}

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
