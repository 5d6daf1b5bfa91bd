//! The client's errors before a response: a connector's (Node-shaped `connect` errors) or
//! hyper's (a reset, an answer that is not HTTP), as Node reports them.

use std::error::Error as StdError;
use std::io;

use abio_core::error::{errno_error, errno_of};
use abio_core::Error as CoreError;

use crate::error::AbioError;
use crate::tls::session::{tls_error, tls_failure};

/// The first error of type `T` in `e`'s source chain (`e` included).
fn find<'a, T: StdError + 'static>(e: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        cur = err.source();
    }
    None
}

/// An owned copy of a connector error (the pool keeps the original).
fn copy_core(e: &CoreError) -> CoreError {
    match e {
        CoreError::Net {
            source,
            syscall,
            address,
            port,
        } => CoreError::Net {
            source: match (errno_of(source), tls_failure(source)) {
                (_, Some(tls)) => tls_error(tls.clone()),
                (Some(errno), None) => errno_error(errno),
                (None, None) => io::Error::new(source.kind(), source.to_string()),
            },
            syscall,
            address: address.clone(),
            port: *port,
        },
        CoreError::NotFound { host } => CoreError::NotFound { host: host.clone() },
        other => CoreError::net(io::Error::other(other.to_string()), "connect"),
    }
}

/// A failure of hyper's before a response: a reset (`read ECONNRESET`, as Node says), an
/// answer that is not HTTP, or the connection closed before any answer (Node's "socket hang
/// up", also `ECONNRESET`). Failures within a body are src/http/body.rs's `body_failed`.
fn hyper_error(e: &(dyn StdError + 'static)) -> AbioError {
    if let Some(tls) = find::<io::Error>(e).and_then(tls_failure) {
        return CoreError::net(tls_error(tls.clone()), "read").into();
    }
    if let Some(errno) = find::<io::Error>(e).and_then(|io| io.raw_os_error().and(errno_of(io))) {
        return CoreError::net(errno_error(errno), "read").into();
    }
    if let Some(h) = find::<hyper::Error>(e) {
        if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
            return CoreError::HttpParse(format!("The server's answer is not valid HTTP/1.x: {h}"))
                .into();
        }
    }
    CoreError::net(errno_error(libc::ECONNRESET), "read").into()
}

/// The error of a request that got no response.
pub(super) fn send_error(e: hyper_util::client::legacy::Error) -> AbioError {
    if let Some(core) = find::<CoreError>(&e) {
        return copy_core(core).into();
    }
    hyper_error(&e)
}
