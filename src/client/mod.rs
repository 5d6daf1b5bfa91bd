//! The HTTP client (design.md section 7): `request()` and `download()` on hyper 1 over the
//! shared tokio runtime, taking `#[napi(object)]` options ([`RequestOptions`],
//! [`DownloadOptions`]).
//!
//! Connections are pooled ([mod@pool]); each call is one [mod@exchange] (redirects included),
//! its failures before a response are [`errors`], and bodies with a content coding are
//! [`decode`]d as they stream. A pending call holds the Node event loop ([`KeepAlive`]) until
//! its promise settles; idle pooled connections do not.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use abio_core::{Cancel, Error as CoreError};
use napi::bindgen_prelude::{ClassInstance, FnArgs, Function};
use napi::Env;
use napi_derive::napi;

use crate::body::body_to_file;
use crate::bytes::{HeldBytes, OutBytes};
use crate::cancel::{cancel_of, CancelToken};
use crate::error::{sync_call, AbioResult};
use crate::runtime::{Deferred, Js, KeepAlive, Progress, Promise};
use crate::tls::{client_of, TlsClientContext};
use crate::write_options::write_options;

mod decode;
mod errors;
mod exchange;
mod pool;

use decode::Decoded;
use exchange::{
    abortable, body_length, decoding, exchange, flat_headers, read_body, too_large, Spec, Upload,
};
use pool::pool;

/// A response for JS (lib/client.js makes `headers` a `Headers` when it is first read).
#[napi(object, object_from_js = false)]
pub struct ClientResponse {
    /// The final status code.
    pub status: u32,
    /// Name, value, name, value, ...: names lower-case, values Latin-1, in arrival order,
    /// repeated names as separate entries.
    pub headers: Vec<String>,
    /// The whole body, as an exact `ArrayBuffer`.
    #[napi(ts_type = "ArrayBuffer")]
    pub body: OutBytes,
    /// The URL that answered (after redirects).
    pub url: String,
}

/// `onProgress(done, total)`; `total` is -1 when unknown (lib/client.js passes `null`).
type ProgressFn<'a> = Function<'a, FnArgs<(f64, f64)>, ()>;

/// What every client call starts with on the JS thread: its promise, the way back, the
/// event loop held, the cancel flag and the progress callback.
struct Call {
    done: Deferred,
    js: Js,
    keep: KeepAlive,
    cancel: Cancel,
    progress: Option<Arc<Progress>>,
}

impl Call {
    fn start(
        env: &Env,
        on_progress: Option<ProgressFn<'_>>,
        token: Option<ClassInstance<'_, CancelToken>>,
    ) -> napi::Result<(Call, Promise)> {
        let (done, promise) = Deferred::new(env)?;
        let js = Js::of(env)?;
        let keep = KeepAlive::default();
        keep.set(env, true);
        let progress = on_progress.map(Progress::new).transpose()?;
        let call = Call {
            done,
            js,
            keep,
            cancel: cancel_of(token),
            progress,
        };
        Ok((call, promise))
    }

    /// Runs `work(js, progress, cancel)` on the runtime, then settles the promise with what
    /// it gives.
    fn spawn<T, Fut>(self, work: impl FnOnce(Js, Option<Arc<Progress>>, Cancel) -> Fut)
    where
        T: napi::bindgen_prelude::ToNapiValue + Send + 'static,
        Fut: Future<Output = AbioResult<T>> + Send + 'static,
    {
        let work = work(self.js.clone(), self.progress.clone(), self.cancel.clone());
        self.js.clone().spawn(async move {
            // `work`'s own clones are dropped here, before the last reference goes with
            // `finish` on the JS thread.
            let result = work.await;
            self.finish(result);
        });
    }

    /// Settles the promise on the JS thread (after any progress call already queued), and
    /// lets go of the event loop there.
    fn finish<T: napi::bindgen_prelude::ToNapiValue + Send + 'static>(self, result: AbioResult<T>) {
        let Call {
            done,
            js,
            keep,
            progress,
            ..
        } = self;
        js.post(move |env| {
            keep.set(env, false);
            done.settle(env, result);
            drop(progress);
        });
    }
}

/// `maxSize` from JS: negative means no limit.
fn limit(max_size: f64) -> u64 {
    if max_size < 0.0 {
        u64::MAX
    } else {
        max_size as u64
    }
}

/// A request as `lib/client.js` checked it (`request()`'s, and the request of a
/// `download()`).
#[napi(object, object_to_js = false)]
pub struct RequestOptions<'a> {
    /// An `http:` URL, WHATWG-normalised.
    pub url: String,
    /// The method, an HTTP token.
    pub method: String,
    /// Name, value, name, value, ...: names lower-case.
    pub headers: Vec<String>,
    /// The body, held (not copied) until the promise settles (or `file`).
    #[napi(ts_type = "string | ArrayBufferView")]
    pub body: Option<HeldBytes>,
    /// The path of a file streamed as the body instead.
    pub file: Option<String>,
    /// Bytes of the response body read (or written) at most; negative: no limit.
    pub max_size: f64,
    /// Follow redirects (else a 3xx is the answer).
    pub follow: bool,
    /// Undo `gzip`, `deflate` and `br` content codings (and send an `accept-encoding` for
    /// them unless `headers` has one).
    pub decompress: bool,
    /// `(done, total)` as body bytes arrive; `total` is -1 when unknown.
    #[napi(ts_type = "(done: number, total: number) => void")]
    pub on_progress: Option<ProgressFn<'a>>,
    /// Set from the call's `AbortSignal`.
    pub token: Option<ClassInstance<'a, CancelToken>>,
    /// Trust and client certificate for `https:` (the default context when absent).
    pub tls: Option<ClassInstance<'a, TlsClientContext>>,
}

impl RequestOptions<'_> {
    /// The checked request, and what its call needs on the JS thread.
    fn start(self, env: &Env) -> napi::Result<(Spec, Call, Promise, u64)> {
        let RequestOptions {
            url,
            method,
            headers,
            body,
            file,
            max_size,
            follow,
            decompress,
            on_progress,
            token,
            tls: _,
        } = self;
        let source = match (body, file) {
            (Some(b), _) => Upload::Bytes(b.0),
            (None, Some(f)) => Upload::File(PathBuf::from(f)),
            (None, None) => Upload::None,
        };
        let spec = sync_call(env, || {
            Spec::new(&url, &method, &headers, source, follow, decompress)
        })?;
        let (call, promise) = Call::start(env, on_progress, token)?;
        Ok((spec, call, promise, limit(max_size)))
    }
}

/// Sends a request to the `http:` or `https:` URL `url` and reads the whole response body (up to
/// `maxSize` bytes, decoded unless `decompress` is false) into an exact `ArrayBuffer`.
#[napi(ts_return_type = "Promise<ClientResponse>")]
pub fn request(env: Env, options: RequestOptions<'_>) -> napi::Result<Promise> {
    // Answered as given (WHATWG-normalised by lib/) unless a redirect moved it.
    let url = options.url.clone();
    let tls = client_of(&env, options.tls.as_deref())?;
    let (mut spec, call, promise, max) = options.start(&env)?;
    let pool = pool(&env, &call.js, &tls);
    call.spawn(move |js, progress, cancel| async move {
        let work = async {
            // Held while the request runs: its pool holds the context only weakly.
            let _tls = tls;
            let (res, final_url) = exchange(&pool, &mut spec).await?;
            let status = res.status().as_u16() as u32;
            let codings = decoding(&res, &spec)?;
            let headers = flat_headers(&res, codings.is_some());
            let url = if final_url == spec.url {
                url
            } else {
                final_url.to_string()
            };
            let progress = progress.as_ref().map(|p| (&js, p));
            let body = read_body(res, &spec.method, codings, max, &cancel, progress).await?;
            Ok(ClientResponse {
                status,
                headers,
                body: OutBytes(body),
                url,
            })
        };
        abortable(&cancel, work).await
    });
    Ok(promise)
}

/// `download()`'s request and the file it writes, as `lib/client.js` checked them.
#[napi(object, object_to_js = false)]
pub struct DownloadOptions<'a> {
    /// The request.
    pub request: RequestOptions<'a>,
    /// The file written.
    pub path: String,
    /// [`crate::write_options::WriteFlag`] bits (lib/client.js makes it atomic by default).
    pub flags: u32,
    /// The created file's mode; negative: the default.
    pub mode: i32,
}

/// Sends a request like [`request`] and streams a 2xx response's body (decoded unless
/// `decompress` is false) into the file `path`, never holding more than a few pieces of it
/// in memory; resolves with the bytes written.
/// A final status outside 2xx rejects with `ABIO_ERR_HTTP_STATUS` before the file is
/// touched; a failure midway (the server closing, an abort, `maxSize`) leaves no file and no
/// temporary file behind.
#[napi(ts_return_type = "Promise<number>")]
pub fn download(env: Env, options: DownloadOptions<'_>) -> napi::Result<Promise> {
    let DownloadOptions {
        request,
        path,
        flags,
        mode,
    } = options;
    let tls = client_of(&env, request.tls.as_deref())?;
    let (mut spec, call, promise, max) = request.start(&env)?;
    let opts = write_options(flags, mode);
    let pool = pool(&env, &call.js, &tls);
    call.spawn(move |js, progress, cancel| async move {
        let work = async {
            // Held while the request runs: its pool holds the context only weakly.
            let _tls = tls;
            // The body's reader watches `cancel` itself, and returns only once the file
            // writer has cleaned up: only the exchange is dropped on abort.
            let (res, final_url) = abortable(&cancel, exchange(&pool, &mut spec)).await?;
            let status = res.status().as_u16();
            if !res.status().is_success() {
                return Err(CoreError::HttpStatus {
                    status,
                    url: final_url.to_string(),
                }
                .into());
            }
            let codings = decoding(&res, &spec)?;
            // A compressed body's length says nothing of the bytes written.
            let wanted = body_length(&res, &spec.method).filter(|_| codings.is_none());
            if let Some(n) = wanted.filter(|&n| n > max) {
                return Err(CoreError::ResponseTooLarge { size: Some(n), max }.into());
            }
            let total = wanted.unwrap_or(Progress::UNKNOWN);
            let report = |done| {
                if let Some(p) = &progress {
                    p.report(&js, done, total);
                }
            };
            let path = PathBuf::from(path);
            let cancel = cancel.clone();
            let written = match codings {
                None => body_to_file(res.into_body(), path, opts, max, cancel, report).await,
                Some(c) => {
                    let body = Decoded::new(res.into_body(), &c);
                    body_to_file(body, path, opts, max, cancel, report).await
                }
            }
            .map_err(too_large)?;
            if let Some(p) = &progress {
                p.report(&js, written, written);
            }
            Ok(written as f64)
        };
        work.await
    });
    Ok(promise)
}
