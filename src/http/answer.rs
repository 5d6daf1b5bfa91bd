//! The answer to a `GET` or `HEAD` of a representation (a route's bytes, a file): 200, or
//! 304 when the client's copy is current (`If-None-Match`, else `If-Modified-Since`), or a
//! single byte range (206, 416), by the rules of [`abio_core::http`].

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use abio_core::http::{self as rules, Range};
use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Response, StatusCode};

use crate::body::Body;

/// The headers of a request that shape the answer, kept apart from the request so a `fetch`
/// handler's answer can use them after the request was handed to JS.
#[derive(Default)]
pub(crate) struct Conditions {
    if_none_match: Option<HeaderValue>,
    if_modified_since: Option<HeaderValue>,
    range: Option<HeaderValue>,
    /// A `HEAD`: the headers of `GET`, no body read.
    head: bool,
}

impl Conditions {
    pub(crate) fn of(method: &Method, h: &HeaderMap) -> Conditions {
        Conditions {
            if_none_match: h.get(header::IF_NONE_MATCH).cloned(),
            if_modified_since: h.get(header::IF_MODIFIED_SINCE).cloned(),
            range: h.get(header::RANGE).cloned(),
            head: method == Method::HEAD,
        }
    }
}

/// Where the bytes are.
pub(crate) enum Content {
    /// Held in memory (a route's body, a cached file).
    Bytes(Bytes),
    /// An open file (its path names it in errors), read as the peer takes it.
    File(Arc<File>, PathBuf),
}

/// What is being answered.
pub(crate) struct Entity<'a> {
    pub len: u64,
    pub etag: &'a HeaderValue,
    /// A file's modification time, and as an HTTP date.
    pub modified: Option<(SystemTime, &'a HeaderValue)>,
    pub content_type: &'a HeaderValue,
    /// Sent as given, last (they override abio's, except the length).
    pub headers: &'a [(HeaderName, HeaderValue)],
}

/// A response with `status` and no body.
pub(crate) fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

/// The answer to `c` for `e`, whose bytes are `content`.
pub(crate) fn answer(c: &Conditions, e: &Entity, content: Content) -> Response<Body> {
    let etag = e.etag.to_str().unwrap_or("");
    let fresh = match (&c.if_none_match, &c.if_modified_since, e.modified) {
        (Some(inm), _, _) => rules::none_match(inm.as_bytes(), etag),
        (None, Some(ims), Some((time, _))) => rules::not_modified_since(ims.as_bytes(), time),
        _ => false,
    };
    let (status, part) = if fresh {
        (StatusCode::NOT_MODIFIED, None)
    } else {
        match c.range.as_ref().map(|v| rules::range(v.as_bytes(), e.len)) {
            None | Some(Range::Full) => (StatusCode::OK, Some((0, e.len))),
            Some(Range::Part { start, end }) => {
                (StatusCode::PARTIAL_CONTENT, Some((start, end - start + 1)))
            }
            Some(Range::Unsatisfiable) => (StatusCode::RANGE_NOT_SATISFIABLE, None),
        }
    };
    let (start, sent) = part.unwrap_or((0, 0));
    let body = match content {
        _ if c.head || sent == 0 => Body::empty(),
        Content::Bytes(b) => Body::from(b.slice(start as usize..(start + sent) as usize)),
        Content::File(f, path) => Body::file(f, path, start, sent),
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let out = r.headers_mut();
    out.insert(header::ETAG, e.etag.clone());
    if let Some((_, date)) = e.modified {
        out.insert(header::LAST_MODIFIED, date.clone());
    }
    if status != StatusCode::NOT_MODIFIED {
        out.insert(header::CONTENT_TYPE, e.content_type.clone());
        out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        // Said outright: hyper leaves it out of a HEAD answer whose body is empty.
        out.insert(header::CONTENT_LENGTH, HeaderValue::from(sent));
    }
    let range = match status {
        StatusCode::PARTIAL_CONTENT => {
            Some(format!("bytes {start}-{}/{}", start + sent - 1, e.len))
        }
        StatusCode::RANGE_NOT_SATISFIABLE => Some(format!("bytes */{}", e.len)),
        _ => None,
    };
    if let Some(cr) = range.and_then(|s| HeaderValue::from_str(&s).ok()) {
        out.insert(header::CONTENT_RANGE, cr);
    }
    for (n, v) in e.headers {
        out.insert(n.clone(), v.clone());
    }
    r
}
