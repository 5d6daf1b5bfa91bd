//! Headers from JS, checked: shared by the HTTP server (routes, answers) and the WebSocket
//! client's handshake, so that neither area imports the other for them.

use hyper::header::{HeaderName, HeaderValue};

use crate::bytes::latin1_bytes;
use crate::error::{AbioError, AbioResult};

/// The `(name, value)` pairs of a flat `[name, value, ...]` list from JS, each checked;
/// `whose` names their owner in the error.
pub fn header_pairs(flat: &[String], whose: &str) -> AbioResult<Vec<(HeaderName, HeaderValue)>> {
    flat.chunks_exact(2)
        .map(|pair| {
            let (name, value) = (&pair[0], &pair[1]);
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                AbioError::InvalidArg(format!("{whose} has an invalid header name: {name:?}"))
            })?;
            let v = latin1_bytes(value)
                .and_then(|b| HeaderValue::from_bytes(&b).ok())
                .ok_or_else(|| {
                    AbioError::InvalidArg(format!(
                        "{whose} has an invalid value for header '{name}'"
                    ))
                })?;
            Ok((n, v))
        })
        .collect()
}
