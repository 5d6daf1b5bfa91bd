//! Every JS error abio throws or rejects with is made here, shaped like Node's:
//! OS failures carry `code`, `errno` (negative), `syscall` and `path`, with the message
//! Node gives (`ENOENT: no such file or directory, open '/x'`: name and text from libuv
//! itself, see [`crate::uv`]); abio's own failures carry a stable `ABIO_ERR_*` code;
//! cancellation is an `AbortError`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use abio_core::Error as CoreError;
use napi::bindgen_prelude::{JsObjectValue, Object, ToNapiValue};
use napi::{sys, Env, JsValue};

use crate::tls::session::tls_failure;
use crate::uv;

/// A failure on its way to JS.
#[derive(Debug)]
pub enum AbioError {
    /// A failure of the core (OS error, limit, abort, closed handle).
    Core(CoreError),
    /// A bad argument that got past the JS layer's checks: a `TypeError`.
    InvalidArg(String),
    /// An argument out of range that only Rust can see (e.g. a target too small): a
    /// `RangeError`.
    OutOfRange(String),
    /// A bug: a Rust panic, caught before it could abort the process.
    Internal(String),
}

/// Result with an [`AbioError`].
pub type AbioResult<T> = std::result::Result<T, AbioError>;

impl From<CoreError> for AbioError {
    fn from(e: CoreError) -> Self {
        AbioError::Core(e)
    }
}

/// Runs `f`, turning a panic into [`AbioError::Internal`]: a Rust panic must never
/// reach Node as an abort (napi-rs does not catch panics in `Task::compute`).
pub fn guard<T>(f: impl FnOnce() -> AbioResult<T>) -> AbioResult<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(AbioError::Internal(msg))
    })
}

/// Runs a sync call's work on the JS thread: a panic becomes `ABIO_ERR_INTERNAL`, an error
/// the JS error made here; both are thrown.
pub fn sync_call<T>(env: &Env, f: impl FnOnce() -> AbioResult<T>) -> napi::Result<T> {
    guard(f).map_err(|e| to_js(env, e))
}

/// An OS error's errno (`libc`'s numbering on every platform, see
/// [`abio_core::error::errno_of`]), `EIO` when it has none.
fn errno_of(e: &std::io::Error) -> i32 {
    abio_core::error::errno_of(e).unwrap_or(libc::EIO)
}

/// Which JS constructor makes an error: `Error`, `TypeError` or `RangeError`.
#[derive(Clone, Copy)]
enum Ctor {
    Error,
    Type,
    Range,
}

/// A new JS error object of `kind` with `code` and `message` set.
fn new_error<'e>(env: &'e Env, kind: Ctor, code: &str, message: &str) -> napi::Result<Object<'e>> {
    let raw = env.raw();
    // SAFETY: called on the JS thread that owns `env` (every caller holds the `Env` of a
    // call or task completion); the strings are valid napi values created just before.
    unsafe {
        let code = ToNapiValue::to_napi_value(raw, code)?;
        let msg = ToNapiValue::to_napi_value(raw, message)?;
        let mut out = std::ptr::null_mut();
        let status = match kind {
            Ctor::Error => sys::napi_create_error(raw, code, msg, &mut out),
            Ctor::Type => sys::napi_create_type_error(raw, code, msg, &mut out),
            Ctor::Range => sys::napi_create_range_error(raw, code, msg, &mut out),
        };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::from_reason(message.to_string()));
        }
        Ok(Object::from_raw(raw, out))
    }
}

/// A TLS failure as Node reports it: the code (`CERT_HAS_EXPIRED`,
/// `ERR_TLS_CERT_ALTNAME_INVALID`, `ERR_SSL_…`) and message `abio_core::tls` gives it.
fn tls_error<'e>(env: &'e Env, source: &std::io::Error) -> Option<napi::Result<Object<'e>>> {
    let (code, message) = abio_core::tls::classify(tls_failure(source)?);
    Some(new_error(env, Ctor::Error, code, &message))
}

fn build<'e>(env: &'e Env, err: &AbioError) -> napi::Result<Object<'e>> {
    if let AbioError::Core(CoreError::Net { source, .. } | CoreError::Io { source, .. }) = err {
        if let Some(made) = tls_error(env, source) {
            return made;
        }
    }
    match err {
        AbioError::Core(CoreError::Io {
            source,
            syscall,
            path,
        }) => {
            let errno = uv::code_of(errno_of(source));
            let (code, desc) = uv::error_text(errno);
            let mut message = format!("{code}: {desc}, {syscall}");
            let path = path.as_ref().map(|p| p.to_string_lossy().into_owned());
            if let Some(p) = &path {
                message.push_str(&format!(" '{p}'"));
            }
            let mut obj = new_error(env, Ctor::Error, &code, &message)?;
            obj.set_named_property("errno", errno)?;
            obj.set_named_property("syscall", *syscall)?;
            if let Some(p) = path {
                obj.set_named_property("path", p)?;
            }
            Ok(obj)
        }
        AbioError::Core(
            e @ CoreError::TooLarge {
                path, size, max, ..
            },
        ) => {
            let mut obj = new_error(env, Ctor::Range, "ABIO_ERR_FILE_TOO_LARGE", &e.to_string())?;
            obj.set_named_property("path", path.to_string_lossy().as_ref())?;
            obj.set_named_property("size", *size as f64)?;
            obj.set_named_property("maxSize", *max as f64)?;
            Ok(obj)
        }
        AbioError::Core(e @ CoreError::Aborted) => {
            let mut obj = new_error(env, Ctor::Error, "ABORT_ERR", &e.to_string())?;
            obj.set_named_property("name", "AbortError")?;
            Ok(obj)
        }
        AbioError::Core(
            e @ (CoreError::Closed(_) | CoreError::Ended { .. } | CoreError::BodyCut { .. }),
        ) => new_error(env, Ctor::Error, "ABIO_ERR_CLOSED", &e.to_string()),
        AbioError::Core(CoreError::Net {
            source,
            syscall,
            address,
            port,
        }) => {
            // Node's shapes: `connect ECONNREFUSED 127.0.0.1:1`, `read ECONNRESET`,
            // `listen EADDRINUSE: address already in use 127.0.0.1:80`.
            let errno = uv::code_of(errno_of(source));
            let (code, desc) = uv::error_text(errno);
            let mut message = format!("{syscall} {code}");
            if matches!(*syscall, "listen" | "bind") {
                message.push_str(&format!(": {desc}"));
            }
            if let Some(a) = address {
                message.push(' ');
                message.push_str(a);
                if let Some(p) = port {
                    message.push_str(&format!(":{p}"));
                }
            }
            let mut obj = new_error(env, Ctor::Error, &code, &message)?;
            obj.set_named_property("errno", errno)?;
            obj.set_named_property("syscall", *syscall)?;
            if let Some(a) = address {
                obj.set_named_property("address", a.as_str())?;
            }
            if let Some(p) = port {
                obj.set_named_property("port", *p)?;
            }
            Ok(obj)
        }
        AbioError::Core(e @ CoreError::NotFound { host }) => {
            let mut obj = new_error(env, Ctor::Error, "ENOTFOUND", &e.to_string())?;
            // libuv's UV_EAI_NONAME, as Node reports it.
            obj.set_named_property("errno", -3008)?;
            obj.set_named_property("syscall", "getaddrinfo")?;
            obj.set_named_property("hostname", host.as_str())?;
            Ok(obj)
        }
        AbioError::Core(e @ CoreError::BodyTooLarge { max }) => {
            let mut obj = new_error(env, Ctor::Range, "ABIO_ERR_BODY_TOO_LARGE", &e.to_string())?;
            obj.set_named_property("maxBodySize", *max as f64)?;
            Ok(obj)
        }
        AbioError::Core(e @ CoreError::ResponseTooLarge { size, max }) => {
            let mut obj = new_error(env, Ctor::Range, "ABIO_ERR_BODY_TOO_LARGE", &e.to_string())?;
            obj.set_named_property("maxSize", *max as f64)?;
            if let Some(n) = size {
                obj.set_named_property("size", *n as f64)?;
            }
            Ok(obj)
        }
        AbioError::Core(e @ CoreError::TooManyRedirects { url, .. }) => {
            let mut obj = new_error(
                env,
                Ctor::Error,
                "ABIO_ERR_TOO_MANY_REDIRECTS",
                &e.to_string(),
            )?;
            obj.set_named_property("url", url.as_str())?;
            Ok(obj)
        }
        AbioError::Core(e @ CoreError::BadRedirect { location, .. }) => {
            let mut obj = new_error(env, Ctor::Error, "ABIO_ERR_BAD_REDIRECT", &e.to_string())?;
            obj.set_named_property("location", location.as_str())?;
            Ok(obj)
        }
        AbioError::Core(e @ CoreError::HttpStatus { status, url }) => {
            let mut obj = new_error(env, Ctor::Error, "ABIO_ERR_HTTP_STATUS", &e.to_string())?;
            obj.set_named_property("status", *status as u32)?;
            obj.set_named_property("url", url.as_str())?;
            Ok(obj)
        }
        AbioError::Core(e @ CoreError::WsHandshake { status, .. }) => {
            let mut obj = new_error(env, Ctor::Error, "ABIO_ERR_WS_HANDSHAKE", &e.to_string())?;
            obj.set_named_property("status", *status as u32)?;
            Ok(obj)
        }
        AbioError::Core(e @ CoreError::Timeout { .. }) => {
            new_error(env, Ctor::Error, "ABIO_ERR_TIMEOUT", &e.to_string())
        }
        AbioError::Core(CoreError::BadFormat(msg)) => {
            new_error(env, Ctor::Error, "ABIO_ERR_BAD_FORMAT", msg)
        }
        AbioError::Core(CoreError::HttpParse(msg)) => {
            new_error(env, Ctor::Error, "ABIO_ERR_HTTP_PARSE", msg)
        }
        AbioError::Core(CoreError::Checksum(msg)) => {
            new_error(env, Ctor::Error, "ABIO_ERR_CHECKSUM", msg)
        }
        AbioError::Core(e @ CoreError::FrameTooLarge { .. }) => {
            new_error(env, Ctor::Range, "ABIO_ERR_FRAME_TOO_LARGE", &e.to_string())
        }
        AbioError::InvalidArg(msg) => new_error(env, Ctor::Type, "ABIO_ERR_INVALID_ARG", msg),
        AbioError::OutOfRange(msg) => new_error(env, Ctor::Range, "ABIO_ERR_INVALID_ARG", msg),
        AbioError::Internal(msg) => new_error(
            env,
            Ctor::Error,
            "ABIO_ERR_INTERNAL",
            &format!("abio internal error (please report): {msg}"),
        ),
    }
}

/// The JS error for `err`, as a `napi::Error` that throws or rejects with that very object.
pub fn to_js(env: &Env, err: AbioError) -> napi::Error {
    match build(env, &err) {
        Ok(obj) => napi::Error::from(obj.to_unknown()),
        Err(e) => e,
    }
}

/// The JS error for `err` as a raw value, to reject a promise with. JS thread only.
pub fn error_value(env: &Env, err: AbioError) -> sys::napi_value {
    match build(env, &err) {
        Ok(obj) => obj.raw(),
        Err(_) => {
            // Making the error failed (e.g. out of memory): a plain one, with no properties.
            let raw = env.raw();
            let mut msg = std::ptr::null_mut();
            let mut out = std::ptr::null_mut();
            let text = format!("{err:?}");
            // SAFETY: JS thread (caller's contract); plain value creation.
            unsafe {
                sys::napi_create_string_utf8(
                    raw,
                    text.as_ptr().cast(),
                    text.len() as isize,
                    &mut msg,
                );
                sys::napi_create_error(raw, std::ptr::null_mut(), msg, &mut out);
            }
            out
        }
    }
}
