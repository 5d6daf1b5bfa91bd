//! Headers between JS and hyper: from JS, checked (the HTTP server's routes and answers,
//! the WebSocket client's handshake); to JS, a request's line and headers (the HTTP
//! server's `fetch` handler, a WebSocket's `open`). Shared, so that neither area imports the
//! other for them.

use hyper::header::{HeaderName, HeaderValue};

use crate::bytes::{latin1_bytes, latin1_string};
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

/// A request's method, target and flat Latin-1 headers, as JS gets them.
pub fn request_line(parts: &hyper::http::request::Parts) -> (String, String, Vec<String>) {
    let mut headers = Vec::with_capacity(parts.headers.len() * 2);
    for (n, v) in &parts.headers {
        headers.push(n.as_str().to_string());
        headers.push(latin1_string(v.as_bytes()));
    }
    let url = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_string(), |p| p.to_string());
    (parts.method.to_string(), url, headers)
}
