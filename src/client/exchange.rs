//! One exchange: a checked request ([`Spec`]), its body ([`Upload`], sent again on a 307/308),
//! redirects followed by the Fetch standard's rules ([`abio_core::client`]), and the
//! response body read into one exact allocation when its length is announced, or decoded
//! as it streams ([`super::decode`]) when it has a content coding.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use abio_core::client::{self as rules, Redirect, Url, UrlError, MAX_REDIRECTS};
use abio_core::error::errno_error;
use abio_core::{Cancel, Error as CoreError};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, Uri};

use super::decode::{codings, Coding, Decoded};
use super::errors::send_error;
use super::pool::Pool;
use crate::body::{body_to_vec, Body as ReqBody};
use crate::bytes::{latin1_bytes, latin1_string, COPY_THRESHOLD};
use crate::error::{AbioError, AbioResult};
use crate::runtime::{net as rt, woken_on_cancel, Js, Progress};

fn invalid(msg: String) -> AbioError {
    AbioError::InvalidArg(msg)
}

/// Bytes of a redirect's body read (and dropped) to keep its connection; more, and the
/// connection is closed instead.
const DRAIN_MAX: u64 = 64 << 10;

/// The `accept-encoding` sent when the caller gives none and bodies are decoded: what
/// `fetch` sends, less any coding abio cannot undo.
const ACCEPT_ENCODING: &str = "gzip, deflate, br";

/// Where a request's body comes from; each send (the first, and each 307/308 redirect)
/// makes a new body of it.
#[derive(Clone)]
pub(super) enum Upload {
    None,
    Bytes(Bytes),
    File(PathBuf),
}

impl Upload {
    /// A body to send, and its length (`None`: no body).
    async fn open(&self) -> AbioResult<(ReqBody, Option<u64>)> {
        Ok(match self {
            Upload::None => (ReqBody::empty(), None),
            Upload::Bytes(b) => (ReqBody::from(b.clone()), Some(b.len() as u64)),
            Upload::File(path) => {
                let (body, len) = file_body(path.clone()).await?;
                (body, Some(len))
            }
        })
    }
}

/// Opens `path` and takes its length from `fstat`; the body reads it as the server takes
/// it ([`ReqBody::file`]: one piece at a time, no pool thread held while the server is
/// slow). A file that shrinks meanwhile fails the request (its `content-length` was sent);
/// one that grows is sent as it was.
async fn file_body(path: PathBuf) -> AbioResult<(ReqBody, u64)> {
    let shown = path.clone();
    let opened = rt()
        .spawn_blocking(move || {
            let f = std::fs::File::open(&path)?;
            let meta = f.metadata()?;
            if meta.is_dir() {
                return Err(errno_error(libc::EISDIR));
            }
            Ok((f, meta.len()))
        })
        .await
        .map_err(|e| AbioError::Internal(e.to_string()))?;
    let (file, len) = opened.map_err(|e| CoreError::io(e, "open", Some(&shown)))?;
    Ok((ReqBody::file(Arc::new(file), shown, 0, len), len))
}

/// A checked request: what is sent first, and changed by redirects.
pub(super) struct Spec {
    pub(super) url: Url,
    pub(super) method: Method,
    headers: HeaderMap,
    source: Upload,
    follow: bool,
    /// Undo the response's content codings.
    pub(super) decompress: bool,
}

fn uri_of(url: &Url) -> Option<Uri> {
    Uri::builder()
        .scheme(url.scheme())
        .authority(url.authority())
        .path_and_query(url.target.as_str())
        .build()
        .ok()
}

impl Spec {
    pub(super) fn new(
        url: &str,
        method: &str,
        headers: &[String],
        source: Upload,
        follow: bool,
        decompress: bool,
    ) -> AbioResult<Spec> {
        let parsed = Url::parse(url).map_err(|e| match e {
            UrlError::Scheme(_) => invalid(format!(
                "The \"url\" argument must be an http: or https: URL: {e}. Received '{url}'"
            )),
            UrlError::Invalid(why) => invalid(format!(
                "The \"url\" argument is not a usable http: or https: URL: {why}. Received '{url}'"
            )),
        })?;
        if uri_of(&parsed).is_none() {
            return Err(invalid(format!(
                "The \"url\" argument is not a usable http: or https: URL. Received '{url}'"
            )));
        }
        let method = Method::from_bytes(method.as_bytes())
            .ok()
            .filter(|_| rules::is_token(method))
            .ok_or_else(|| invalid(format!("The method {method:?} is not an HTTP token")))?;
        let mut map = HeaderMap::with_capacity(headers.len() / 2);
        for pair in headers.chunks_exact(2) {
            let (name, value) = (&pair[0], &pair[1]);
            let n = HeaderName::from_bytes(name.as_bytes())
                .ok()
                .filter(|_| rules::is_token(name))
                .ok_or_else(|| invalid(format!("The header name {name:?} is not valid")))?;
            if n == header::CONTENT_LENGTH || n == header::TRANSFER_ENCODING {
                return Err(invalid(format!(
                    "The header '{n}' is set by abio from the body; do not set it"
                )));
            }
            let v = latin1_bytes(value)
                .and_then(|b| HeaderValue::from_bytes(&b).ok())
                .ok_or_else(|| {
                    invalid(format!(
                        "The value of header '{name}' has invalid characters"
                    ))
                })?;
            map.append(n, v);
        }
        if decompress && !map.contains_key(header::ACCEPT_ENCODING) {
            map.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static(ACCEPT_ENCODING),
            );
        }
        Ok(Spec {
            url: parsed,
            method,
            headers: map,
            source,
            follow,
            decompress,
        })
    }

    fn build(&self, url: &Url, body: ReqBody, len: Option<u64>) -> AbioResult<Request<ReqBody>> {
        let uri = uri_of(url).ok_or_else(|| CoreError::BadRedirect {
            location: url.to_string(),
            reason: "not a usable URL".into(),
        })?;
        let mut req = Request::new(body);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = uri;
        *req.headers_mut() = self.headers.clone();
        if let Some(n) = len {
            req.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        Ok(req)
    }
}

/// Reads and drops a small unread body so that its connection can be reused; a large or
/// slow one closes its connection instead.
async fn drain(body: Incoming) {
    if body.size_hint().lower() > DRAIN_MAX {
        return;
    }
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        http_body_util::Limited::new(body, DRAIN_MAX as usize).collect(),
    )
    .await;
}

/// Sends `spec` over `pool` and follows redirects (when asked to); the final response and
/// its URL.
pub(super) async fn exchange(
    pool: &Pool,
    spec: &mut Spec,
) -> AbioResult<(Response<Incoming>, Url)> {
    let mut url = spec.url.clone();
    let mut hops = 0;
    loop {
        let (body, len) = spec.source.open().await?;
        let req = spec.build(&url, body, len)?;
        let res = pool.request(req).await.map_err(send_error)?;
        if !spec.follow {
            return Ok((res, url));
        }
        let Some(rule) = rules::redirect(res.status().as_u16(), spec.method.as_str()) else {
            return Ok((res, url));
        };
        // A redirect without a Location is the answer itself (as `fetch` has it).
        let Some(location) = res.headers().get(header::LOCATION) else {
            return Ok((res, url));
        };
        let location = latin1_string(location.as_bytes());
        if hops == MAX_REDIRECTS {
            return Err(CoreError::TooManyRedirects {
                url: url.to_string(),
                max: MAX_REDIRECTS,
            }
            .into());
        }
        hops += 1;
        let next = url.join(&location).map_err(|e| CoreError::BadRedirect {
            location: location.clone(),
            reason: e.to_string(),
        })?;
        if rule == Redirect::ToGet {
            spec.method = Method::GET;
            spec.source = Upload::None;
            for h in rules::BODY_HEADERS {
                spec.headers.remove(h);
            }
        }
        if !url.same_origin(&next) {
            for h in rules::CREDENTIAL_HEADERS {
                spec.headers.remove(h);
            }
        }
        drain(res.into_body()).await;
        url = next;
    }
}

/// The announced length of `res`'s body (0 when it has none: `HEAD`, 204, 304).
pub(super) fn body_length(res: &Response<Incoming>, method: &Method) -> Option<u64> {
    if rules::bodiless(res.status().as_u16(), method.as_str()) {
        return Some(0);
    }
    res.body().size_hint().exact()
}

/// The content codings to undo in `res`'s body: none unless `spec` asks to decompress and
/// the body may have bytes (not `HEAD`, 204, 304, nor an announced length of 0), and none
/// when a coding is unknown (the body is returned as sent).
pub(super) fn decoding(res: &Response<Incoming>, spec: &Spec) -> AbioResult<Option<Vec<Coding>>> {
    if !spec.decompress || body_length(res, &spec.method) == Some(0) {
        return Ok(None);
    }
    Ok(codings(res.headers())?)
}

/// `res`'s headers as the flat `[name, value, ...]` list JS takes: in arrival order,
/// repeated names as separate entries (several `set-cookie`s stay apart), values Latin-1.
/// A decoded body's `content-encoding` and `content-length` are left out: they described
/// the bytes as sent.
pub(super) fn flat_headers(res: &Response<Incoming>, decoded: bool) -> Vec<String> {
    let mut flat = Vec::with_capacity(res.headers().len() * 2);
    for (n, v) in res.headers() {
        if decoded && (n == header::CONTENT_ENCODING || n == header::CONTENT_LENGTH) {
            continue;
        }
        flat.push(n.as_str().to_string());
        flat.push(latin1_string(v.as_bytes()));
    }
    flat
}

/// Reads a response body into one buffer, refused past `max`. Without `codings`, one exact
/// buffer (src/body.rs's [`body_to_vec`]: allocated once when its length is known, and
/// refused before allocating when that is over `max`; grown otherwise); with them, the
/// decoded bytes, counted against `max` as they come. Progress is reported as bytes arrive
/// (decoded bytes, with an unknown total, when decoding), and a last time with
/// `done === total` once the body is whole.
pub(super) async fn read_body(
    res: Response<Incoming>,
    method: &Method,
    codings: Option<Vec<Coding>>,
    max: u64,
    cancel: &Cancel,
    progress: Option<(&Js, &Arc<Progress>)>,
) -> AbioResult<Vec<u8>> {
    let wanted = body_length(&res, method);
    let announced = wanted.filter(|_| codings.is_none());
    if let Some(n) = announced.filter(|&n| n > max) {
        return Err(CoreError::ResponseTooLarge { size: Some(n), max }.into());
    }
    let total = announced.unwrap_or(Progress::UNKNOWN);
    let report = |done| {
        if let Some((js, p)) = progress {
            p.report(js, done, total);
        }
    };
    let body = match codings {
        _ if wanted == Some(0) => Vec::new(),
        None => body_to_vec(res.into_body(), max, cancel, report)
            .await
            .map_err(too_large)?,
        Some(codings) => {
            let decoded = Decoded::new(res.into_body(), &codings);
            let mut body = body_to_vec(decoded, max, cancel, report)
                .await
                .map_err(too_large)?;
            // Grown by doubling: a buffer handed to JS as it is (not copied) gives back a
            // large unused tail (for big buffers, a remap rather than a copy).
            if body.len() > COPY_THRESHOLD && body.capacity() - body.len() > body.len() / 8 {
                body.shrink_to_fit();
            }
            body
        }
    };
    if let Some((js, p)) = progress {
        p.report(js, body.len() as u64, body.len() as u64);
    }
    Ok(body)
}

/// The shared body readers' `BodyTooLarge` (worded for a server's request body) as the
/// client's own error, which names `maxSize`.
pub(super) fn too_large(e: CoreError) -> CoreError {
    match e {
        CoreError::BodyTooLarge { max } => CoreError::ResponseTooLarge { size: None, max },
        e => e,
    }
}

/// Runs `work` until it ends or `cancel` is requested (then it is dropped, and with it its
/// connection: a request cut short is never returned to the pool).
pub(super) async fn abortable<T>(
    cancel: &Cancel,
    work: impl Future<Output = AbioResult<T>>,
) -> AbioResult<T> {
    let aborted = woken_on_cancel(cancel);
    tokio::select! {
        r = work => r,
        _ = aborted.notified() => Err(CoreError::Aborted.into()),
    }
}
