//! The routes of `serve`/`reload`: exact paths answered in Rust without entering JS, from
//! held bytes (their `ETag` computed once) or a file ([`super::files`]), with 304 and single
//! byte ranges ([`super::answer`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use abio_core::http as rules;
use abio_core::Error as CoreError;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use napi_derive::napi;

use super::answer::{answer, empty, Conditions, Content, Entity};
use super::files::{Budget, Dress, FileRoute};
use super::{files, invalid};
use crate::body::Body;
use crate::bytes::HeldBytes;
use crate::error::AbioResult;
use crate::headers::header_pairs;

/// A route: held bytes (with their entity tag), or a file.
pub(super) enum RouteContent {
    Bytes { body: Bytes, etag: HeaderValue },
    File(FileRoute),
}

/// A route's answer, ready to send.
pub(super) struct Route {
    source: RouteContent,
    /// The type given, else `application/octet-stream` for bytes; `None` for a file means
    /// the type of its extension.
    content_type: Option<HeaderValue>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

pub(super) type Routes = HashMap<String, Route>;

/// A route of `serve`/`reload`, as `lib/http.js` checked it.
#[napi(object, object_to_js = false)]
pub struct RouteSpec {
    /// The exact path it answers (the query ignored).
    pub path: String,
    /// The body, held (not copied) for as long as the route exists (or `file`).
    #[napi(ts_type = "string | ArrayBufferView")]
    pub body: Option<HeldBytes>,
    /// The file sent instead of a body (an absolute path), opened for each request.
    pub file: Option<String>,
    /// The `content-type`: by default `application/octet-stream` for a body, the
    /// extension's type for a file.
    #[napi(js_name = "type")]
    pub content_type: Option<String>,
    /// More headers: name, value, name, value, ...
    pub headers: Vec<String>,
}

/// The routes of `serve`/`reload`: each path answers its body or file with its headers.
pub(super) fn route_table(specs: Vec<RouteSpec>) -> AbioResult<Routes> {
    let mut routes = HashMap::with_capacity(specs.len());
    for spec in specs {
        let RouteSpec {
            path,
            body,
            file,
            content_type,
            headers: extra,
        } = spec;
        let content_type = content_type
            .map(|ty| {
                HeaderValue::from_str(&ty).map_err(|_| {
                    invalid(format!(
                        "The content type of route '{path}' is not a valid header value: {ty:?}"
                    ))
                })
            })
            .transpose()?;
        let mut headers = Vec::with_capacity(extra.len() / 2);
        let mut etag = None;
        for (n, v) in header_pairs(&extra, &format!("Route '{path}'"))? {
            let ours = n == header::CONTENT_LENGTH
                || n == header::TRANSFER_ENCODING
                || n == header::CONTENT_RANGE
                || (file.is_some() && (n == header::ETAG || n == header::LAST_MODIFIED));
            if ours {
                return Err(invalid(format!(
                    "Route '{path}' sets the header '{n}', which abio sets from the {}",
                    if file.is_some() { "file" } else { "body" }
                )));
            }
            if n == header::ETAG {
                // Your tag: sent, and compared with If-None-Match.
                etag = Some(v);
                continue;
            }
            headers.push((n, v));
        }
        let source = match (body, file) {
            (_, Some(f)) => {
                // A path that is wrong from the start is said now, not as 404s later.
                let p = PathBuf::from(f);
                match std::fs::metadata(&p) {
                    Ok(m) if m.is_dir() => {
                        let e = abio_core::error::errno_error(libc::EISDIR);
                        return Err(CoreError::io(e, "open", Some(&p)).into());
                    }
                    Ok(_) => {}
                    Err(e) => return Err(CoreError::io(e, "stat", Some(&p)).into()),
                }
                RouteContent::File(FileRoute::new(p))
            }
            (Some(body), None) => {
                let body = body.0;
                let etag = etag.unwrap_or_else(|| {
                    HeaderValue::from_str(&rules::etag(&body)).expect("an etag is ASCII")
                });
                RouteContent::Bytes { body, etag }
            }
            (None, None) => return Err(invalid(format!("Route '{path}' has no body"))),
        };
        let content_type = match source {
            RouteContent::Bytes { .. } => Some(content_type.unwrap_or_else(|| OCTETS.clone())),
            RouteContent::File(_) => content_type,
        };
        routes.insert(
            path,
            Route {
                source,
                content_type,
                headers,
            },
        );
    }
    Ok(routes)
}

static OCTETS: HeaderValue = HeaderValue::from_static("application/octet-stream");

/// The answer to `req` from the routes: the body or file (or a range of it) with its
/// headers, 304 when the client's copy is current. `HEAD` gets the headers of `GET`.
/// Without a route for it, `None` when a `fetch` handler will answer (`handled`), else 404
/// for other paths and 405 for other methods.
pub(super) async fn route_answer(
    routes: &Routes,
    budget: &Arc<Budget>,
    req: &Request<Incoming>,
    handled: bool,
) -> Option<Response<Body>> {
    let route = routes.get(req.uri().path());
    let readable = req.method() == Method::GET || req.method() == Method::HEAD;
    let route = match route {
        Some(route) if readable => route,
        _ if handled => return None,
        None => return Some(empty(StatusCode::NOT_FOUND)),
        Some(_) => {
            let mut r = empty(StatusCode::METHOD_NOT_ALLOWED);
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return Some(r);
        }
    };
    let c = Conditions::of(req.method(), req.headers());
    Some(match &route.source {
        RouteContent::Bytes { body, etag } => {
            let e = Entity {
                len: body.len() as u64,
                etag,
                modified: None,
                content_type: route.content_type.as_ref().unwrap_or(&OCTETS),
                headers: &route.headers,
            };
            answer(&c, &e, Content::Bytes(body.clone()))
        }
        RouteContent::File(file) => {
            let dress = Dress {
                content_type: route.content_type.as_ref(),
                headers: &route.headers,
            };
            files::serve_route(file, budget, &c, &dress).await
        }
    })
}
