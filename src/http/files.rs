//! File bodies (design.md section 7). hyper 1 cannot `sendfile` (hyperium/hyper#3026), so
//! small files are kept in memory and revalidated by one `stat` per request: a changed
//! file (inode, size, modification or change time) is read again, once, and every
//! request after that is answered from memory like a bytes route (no read, no copy).
//! Larger files, and files over the server's cache budget, are read per request in
//! 256 KiB pieces as the client takes them. Files are never mapped: a file truncated
//! under a mapping kills the process with SIGBUS.

use std::borrow::Cow;
use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use abio_core::http as rules;
use abio_core::Cancel;
use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Response, StatusCode};

use super::answer::{answer, empty, Conditions, Content, Entity};
use crate::body::Body;
use crate::net::lock;
use crate::runtime::net as rt;

/// Files up to this size are kept in memory.
pub(crate) const CACHE_FILE_MAX: u64 = 8 << 20;
/// Bytes of files one server keeps in memory at most.
pub(crate) const CACHE_BUDGET: u64 = 256 << 20;

/// What one server may still keep in memory.
pub(crate) struct Budget(AtomicU64);

impl Budget {
    pub(crate) fn new() -> Arc<Budget> {
        Arc::new(Budget(AtomicU64::new(CACHE_BUDGET)))
    }

    fn take(&self, n: u64) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(n)
            })
            .is_ok()
    }

    fn give(&self, n: u64) {
        self.0.fetch_add(n, Ordering::AcqRel);
    }
}

/// Identifies one version of a file: any change to its bytes changes one of these.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Key {
    fn of(m: &Metadata) -> Key {
        let (dev, ino, mtime_ns, ctime_ns) = abio_core::fs::version_stamp(m);
        Key {
            dev,
            ino,
            len: m.len(),
            mtime_ns,
            ctime_ns,
        }
    }
}

/// The validators of one version of a file.
struct Version {
    key: Key,
    etag: HeaderValue,
    modified: SystemTime,
    modified_date: HeaderValue,
}

impl Version {
    fn of(m: &Metadata) -> Version {
        let key = Key::of(m);
        let nanos = key.mtime_ns.max(0) as u128;
        let modified = UNIX_EPOCH + Duration::from_nanos(nanos.min(u64::MAX as u128) as u64);
        let etag = rules::file_etag(key.ino, key.len, nanos);
        Version {
            key,
            etag: HeaderValue::from_str(&etag).expect("an etag is ASCII"),
            modified,
            modified_date: HeaderValue::from_str(&rules::http_date(modified))
                .expect("an HTTP date is ASCII"),
        }
    }
}

/// A file kept in memory, counted against its server's budget until dropped.
struct Cached {
    version: Version,
    body: Bytes,
    budget: Arc<Budget>,
}

impl Drop for Cached {
    fn drop(&mut self) {
        self.budget.give(self.body.len() as u64);
    }
}

/// A `{ file }` route: its path, the type of its extension, and the version of it in
/// memory, if any.
pub(crate) struct FileRoute {
    path: PathBuf,
    content_type: HeaderValue,
    cached: Mutex<Option<Arc<Cached>>>,
}

impl FileRoute {
    pub(crate) fn new(path: PathBuf) -> FileRoute {
        FileRoute {
            content_type: type_of(&path),
            path,
            cached: Mutex::new(None),
        }
    }
}

/// The status for a file that cannot be served.
fn failed(e: &io::Error) -> Response<Body> {
    empty(match e.kind() {
        io::ErrorKind::NotFound => StatusCode::NOT_FOUND,
        io::ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        _ if abio_core::error::errno_of(e) == Some(libc::ENOTDIR) => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    })
}

/// Opens `path` for reading, with its metadata; a directory or device is "not found".
fn open(path: &Path) -> io::Result<(File, Metadata)> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::ErrorKind::NotFound.into());
    }
    Ok((file, meta))
}

/// Opens `path` on the runtime's blocking pool.
async fn open_off_thread(path: PathBuf) -> io::Result<(File, Metadata)> {
    rt().spawn_blocking(move || open(&path))
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())))
}

/// How a file is answered: its type and the headers given with it.
pub(crate) struct Dress<'a> {
    pub content_type: Option<&'a HeaderValue>,
    pub headers: &'a [(HeaderName, HeaderValue)],
}

fn entity<'a>(v: &'a Version, ty: &'a HeaderValue, dress: &'a Dress) -> Entity<'a> {
    Entity {
        len: v.key.len,
        etag: &v.etag,
        modified: Some((v.modified, &v.modified_date)),
        content_type: dress.content_type.unwrap_or(ty),
        headers: dress.headers,
    }
}

fn type_of(path: &Path) -> HeaderValue {
    match rules::content_type(path) {
        Cow::Borrowed(t) => HeaderValue::from_static(t),
        // A `text/*` type with its charset: ASCII, so always a valid value.
        Cow::Owned(t) => {
            HeaderValue::try_from(t).unwrap_or(HeaderValue::from_static("application/octet-stream"))
        }
    }
}

/// Answers `c` for the file route `route`: from memory when the file is unchanged since it
/// was read, else read again (kept when small and within `budget`) or streamed.
pub(crate) async fn serve_route(
    route: &FileRoute,
    budget: &Arc<Budget>,
    c: &Conditions,
    dress: &Dress<'_>,
) -> Response<Body> {
    // One stat per request: microseconds on a local file, and no stale answers.
    let meta = match std::fs::metadata(&route.path) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return empty(StatusCode::NOT_FOUND),
        Err(e) => return failed(&e),
    };
    let key = Key::of(&meta);
    let hit = lock(&route.cached).clone().filter(|c| c.version.key == key);
    if let Some(hit) = hit {
        let e = entity(&hit.version, &route.content_type, dress);
        return answer(c, &e, Content::Bytes(hit.body.clone()));
    }
    let took = meta.len();
    if took <= CACHE_FILE_MAX && budget.take(took) {
        let path = route.path.clone();
        let read = rt()
            .spawn_blocking(move || {
                let (file, meta) = open(&path)?;
                // Changed since the stat: not kept (and never read past what was counted).
                if meta.len() != took {
                    return Ok(None);
                }
                let body = abio_core::fs::read_at(&file, 0, took, &Cancel::default(), &path)
                    .map_err(|e| io::Error::other(e.to_string()))?;
                Ok::<_, io::Error>((body.len() as u64 == took).then_some((meta, body)))
            })
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
        match read {
            Ok(Some((meta, body))) => {
                // Counted at exactly its size: its drop gives back what was taken.
                let cached = Arc::new(Cached {
                    version: Version::of(&meta),
                    body: Bytes::from(body),
                    budget: budget.clone(),
                });
                let e = entity(&cached.version, &route.content_type, dress);
                let r = answer(c, &e, Content::Bytes(cached.body.clone()));
                *lock(&route.cached) = Some(cached);
                return r;
            }
            Ok(None) => budget.give(took),
            Err(e) => {
                budget.give(took);
                return failed(&e);
            }
        }
    }
    serve_path(route.path.clone(), c, dress).await
}

/// Answers `c` with the file at `path`, opened now and read as the client takes it.
pub(crate) async fn serve_path(path: PathBuf, c: &Conditions, dress: &Dress<'_>) -> Response<Body> {
    let (file, meta) = match open_off_thread(path.clone()).await {
        Ok(v) => v,
        Err(e) => return failed(&e),
    };
    let (version, ty) = (Version::of(&meta), type_of(&path));
    let e = entity(&version, &ty, dress);
    answer(c, &e, Content::File(Arc::new(file), path))
}

/// A file as the body of a `fetch` answer with a status other than 200: the whole file,
/// no conditions. Its length and type are set unless `headers` set them.
pub(crate) async fn plain(path: PathBuf, status: StatusCode, dress: &Dress<'_>) -> Response<Body> {
    let (file, meta) = match open_off_thread(path.clone()).await {
        Ok(v) => v,
        Err(e) => return failed(&e),
    };
    let len = meta.len();
    let mut r = Response::new(Body::file(Arc::new(file), path.clone(), 0, len));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        hyper::header::CONTENT_TYPE,
        dress
            .content_type
            .cloned()
            .unwrap_or_else(|| type_of(&path)),
    );
    for (n, v) in dress.headers {
        h.insert(n.clone(), v.clone());
    }
    r
}
