//! Files: whole-file reads and writes, batches, and `FileHandle`.
//!
//! A thin skin over [`abio_core::fs`]: arguments arrive checked and normalised by
//! `lib/fs.js` (options flattened into numbers, bare `ArrayBuffer`s wrapped in views),
//! bytes come through `src/bytes/`, errors leave through `error.rs`, and async work runs
//! through `runtime.rs`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use abio_core::fs::{self as core, Arena, OpenFlags, ReadOptions};
use abio_core::{Cancel, Error as CoreError};
use napi::bindgen_prelude::{AsyncTask, ClassInstance, ToNapiValue, TypeName};
use napi::Env;
use napi_derive::napi;

use crate::bytes::{BatchOut, BorrowedList, HeldList, NewArrayBuffer, OutBytes, ReadTarget};
use crate::cancel::{cancel_of, CancelToken};
use crate::error::{guard, sync_call, AbioError, AbioResult};
use crate::runtime::{job, parallel_map, spread, Job, FILES_PER_THREAD};
use crate::write_options::write_options;

/// A JS number that `lib/` checked to be a safe integer; negative means "not given".
fn opt_u64(n: f64) -> Option<u64> {
    (n >= 0.0).then_some(n as u64)
}

fn read_options(offset: f64, length: f64, max_size: f64) -> ReadOptions {
    ReadOptions {
        offset: opt_u64(offset).unwrap_or(0),
        length: opt_u64(length),
        max_size: opt_u64(max_size),
    }
}

/// Writes `data` (one part or many, in order, with `writev`) to `path`; returns the bytes
/// written. The views are borrowed for the call. `flags`: `WriteFlag` bits (positional,
/// not an options object: a call over a small file takes ~6 µs here, and reading an object's
/// properties through Node-API added ~0.1-0.2 µs, 2-3%); `mode` < 0 means the default.
#[napi]
pub fn write_file_sync(
    env: Env,
    path: String,
    #[napi(ts_arg_type = "string | ArrayBufferView | Array<string | ArrayBufferView>")]
    data: BorrowedList,
    flags: u32,
    mode: i32,
) -> napi::Result<f64> {
    let opts = write_options(flags, mode);
    sync_call(&env, || {
        Ok(core::write_file(Path::new(&path), &data.slices(), &opts, &Cancel::default())? as f64)
    })
}

/// Async `writeFileSync`: the views are held, not copied, until the promise settles.
#[napi(ts_return_type = "Promise<number>")]
pub fn write_file(
    path: String,
    #[napi(ts_arg_type = "string | ArrayBufferView | Array<string | ArrayBufferView>")]
    data: HeldList,
    flags: u32,
    mode: i32,
    cancel: Option<ClassInstance<CancelToken>>,
) -> AsyncTask<Job<(PathBuf, HeldList), f64>> {
    let (opts, cancel) = (write_options(flags, mode), cancel_of(cancel));
    job((PathBuf::from(path), data), move |(path, data)| {
        Ok(core::write_file(path, &data.slices(), &opts, &cancel)? as f64)
    })
}

/// Reads `path` (or `length` bytes from `offset`) into an exact-size `ArrayBuffer`;
/// refuses with `ABIO_ERR_FILE_TOO_LARGE` before allocating more than `maxSize`.
/// Negative numbers mean "not given".
#[napi(ts_return_type = "ArrayBuffer")]
pub fn read_file_sync(
    env: Env,
    path: String,
    offset: f64,
    length: f64,
    max_size: f64,
) -> napi::Result<OutBytes> {
    let opts = read_options(offset, length, max_size);
    sync_call(&env, || {
        let (path, cancel) = (Path::new(&path), Cancel::default());
        Ok(OutBytes(core::read_file_spread(
            path, &opts, &cancel, &spread,
        )?))
    })
}

/// Largest read [`read_file_cached`] does on the JS thread: copying 64 KiB of cached pages
/// takes a few microseconds, less than one thread wake-up.
const CACHED_READ_MAX: usize = 64 << 10;

/// `readFile`'s first attempt, on the JS thread: the file's bytes if it is small and they
/// can be read without blocking (see `abio_core::nowait`), else `null` (then `lib/`
/// calls `readFile`, which also reports any error).
#[napi(ts_return_type = "ArrayBuffer | null")]
pub fn read_file_cached(
    env: Env,
    path: String,
    offset: f64,
    length: f64,
    max_size: f64,
) -> Option<NewArrayBuffer> {
    let opts = read_options(offset, length, max_size);
    // A panic here only loses the shortcut: the pool path then runs (and reports).
    guard(|| {
        Ok(abio_core::nowait::read_cached(
            Path::new(&path),
            &opts,
            CACHED_READ_MAX,
            |len| NewArrayBuffer::new(&env, len).ok(),
        ))
    })
    .ok()
    .flatten()
}

/// Async `readFileSync`, in one trip to the thread pool.
#[napi(ts_return_type = "Promise<ArrayBuffer>")]
pub fn read_file(
    path: String,
    offset: f64,
    length: f64,
    max_size: f64,
    cancel: Option<ClassInstance<CancelToken>>,
) -> AsyncTask<Job<PathBuf, OutBytes>> {
    let (opts, cancel) = (read_options(offset, length, max_size), cancel_of(cancel));
    job(PathBuf::from(path), move |path| {
        Ok(OutBytes(core::read_file_spread(
            path, &opts, &cancel, &spread,
        )?))
    })
}

/// Reads `path` from `position` into `target` (held until the promise settles) until it is
/// full or the file ends; resolves with the number of bytes read.
#[napi(ts_return_type = "Promise<number>")]
pub fn read_file_into(
    path: String,
    #[napi(ts_arg_type = "ArrayBufferView")] target: ReadTarget,
    position: f64,
    cancel: Option<ClassInstance<CancelToken>>,
) -> AsyncTask<Job<(PathBuf, ReadTarget), f64>> {
    let (position, cancel) = (opt_u64(position).unwrap_or(0), cancel_of(cancel));
    job((PathBuf::from(path), target), move |(path, target)| {
        let buf = core::as_uninit(target.as_mut_bytes());
        Ok(core::read_file_into(path, buf, position, &cancel)? as f64)
    })
}

/// The paths and data of a `writeFiles` call.
pub type Batch = (Vec<String>, Vec<HeldList>);

/// The first failure in input order, once every entry has run.
fn first_error<T>(results: Vec<abio_core::Result<T>>) -> AbioResult<Vec<T>> {
    results
        .into_iter()
        .collect::<abio_core::Result<Vec<T>>>()
        .map_err(AbioError::from)
}

/// Writes many files in one call, on a few threads (bounded open descriptors). Every
/// entry runs; if any failed, rejects with the first failure in input order. `data[i]`
/// is held until the promise settles.
#[napi(ts_return_type = "Promise<number[]>")]
pub fn write_files(
    paths: Vec<String>,
    #[napi(ts_arg_type = "Array<string | ArrayBufferView | Array<string | ArrayBufferView>>")] data: Vec<HeldList>,
    flags: u32,
    mode: i32,
    cancel: Option<ClassInstance<CancelToken>>,
) -> AsyncTask<Job<Batch, Vec<f64>>> {
    let (opts, cancel) = (write_options(flags, mode), cancel_of(cancel));
    job((paths, data), move |(paths, data)| {
        if paths.len() != data.len() {
            return Err(AbioError::InvalidArg(
                "paths and data differ in length".into(),
            ));
        }
        let (results, _) = parallel_map(
            paths.len(),
            FILES_PER_THREAD,
            || (),
            |_, _, i| {
                core::write_file(Path::new(&paths[i]), &data[i].slices(), &opts, &cancel)
                    .map(|n| n as f64)
            },
        );
        first_error(results)
    })
}

/// Reads many files in one call, on a few threads (bounded open descriptors); resolves
/// with one exact `ArrayBuffer` per path, in order. Every entry runs; if any failed,
/// rejects with the first failure in input order.
#[napi(ts_return_type = "Promise<ArrayBuffer[]>")]
pub fn read_files(
    paths: Vec<String>,
    offset: f64,
    length: f64,
    max_size: f64,
    cancel: Option<ClassInstance<CancelToken>>,
) -> AsyncTask<Job<Vec<String>, BatchOut>> {
    let (opts, cancel) = (read_options(offset, length, max_size), cancel_of(cancel));
    job(paths, move |paths| {
        let (results, arenas) = parallel_map(
            paths.len(),
            FILES_PER_THREAD,
            Arena::default,
            |arena, worker, i| {
                arena
                    .read_file(Path::new(&paths[i]), &opts, &cancel)
                    .map(|piece| (worker, piece))
            },
        );
        Ok(BatchOut::new(arenas, first_error(results)?))
    })
}

/// Opens `path` with Node's `flags` (`r`, `r+`, `w`, `w+`, `a`, `a+`, `wx`) and `mode`
/// for a created file.
#[napi(ts_return_type = "Promise<FileHandle>")]
pub fn open(path: String, flags: String, mode: u32) -> AsyncTask<Job<PathBuf, FileHandle>> {
    job(PathBuf::from(path), move |path| {
        let flags = OpenFlags::parse(&flags)
            .ok_or_else(|| AbioError::InvalidArg(format!("unknown flags '{flags}'")))?;
        let file = core::open(path, flags, mode)?;
        Ok(FileHandle {
            file: Mutex::new(Some(Arc::new(file))),
            path: std::mem::take(path),
        })
    })
}

/// An open file. Operations in flight keep the descriptor open; `close()` releases the
/// handle's own claim, and the descriptor is closed when the last operation ends. A handle
/// garbage-collected while open is closed then.
#[napi]
pub struct FileHandle {
    file: Mutex<Option<Arc<File>>>,
    path: PathBuf,
}

/// The inputs an operation on a handle keeps until it settles.
pub struct HandleOp<D> {
    file: Arc<File>,
    path: PathBuf,
    data: D,
}

type HandleJob<D, T> = Job<Option<HandleOp<D>>, T>;

impl FileHandle {
    /// Runs `f` on the handle's file off the JS thread, with `data` held until the promise
    /// settles; rejects with `ABIO_ERR_CLOSED` once the handle is closed.
    fn run<D, T>(
        &self,
        data: D,
        f: fn(&mut HandleOp<D>) -> AbioResult<T>,
    ) -> AsyncTask<HandleJob<D, T>>
    where
        D: Send + 'static,
        T: ToNapiValue + TypeName + Send + 'static,
    {
        let file = self.file.lock().ok().and_then(|f| f.clone());
        let op = file.map(|file| HandleOp {
            file,
            path: self.path.clone(),
            data,
        });
        job(op, move |op| match op {
            Some(op) => f(op),
            None => Err(CoreError::Closed("file handle").into()),
        })
    }
}

#[napi]
impl FileHandle {
    /// The file descriptor, or -1 once closed.
    #[napi(getter)]
    pub fn fd(&self) -> i32 {
        match self.file.lock() {
            Ok(f) => f.as_ref().map_or(-1, |f| core::fd_number(f)),
            Err(_) => -1,
        }
    }

    /// Reads up to `length` bytes at `position` into a new exact-size `ArrayBuffer`
    /// (short only at end of file; never allocates more than the file holds).
    #[napi(ts_return_type = "Promise<ArrayBuffer>")]
    pub fn read(&self, position: f64, length: f64) -> AsyncTask<HandleJob<(u64, u64), OutBytes>> {
        let args = (opt_u64(position).unwrap_or(0), opt_u64(length).unwrap_or(0));
        self.run(args, |op| {
            let (pos, len) = op.data;
            Ok(OutBytes(core::read_at(
                &op.file,
                pos,
                len,
                &Cancel::default(),
                &op.path,
            )?))
        })
    }

    /// Fills `target` (held until the promise settles) from `position`; resolves with the
    /// bytes read (fewer only at end of file).
    #[napi(ts_return_type = "Promise<number>")]
    pub fn read_into(
        &self,
        #[napi(ts_arg_type = "ArrayBufferView")] target: ReadTarget,
        position: f64,
    ) -> AsyncTask<HandleJob<(ReadTarget, u64), f64>> {
        self.run((target, opt_u64(position).unwrap_or(0)), |op| {
            let pos = op.data.1;
            let buf = core::as_uninit(op.data.0.as_mut_bytes());
            Ok(core::read_into_at(&op.file, buf, pos, &Cancel::default(), &op.path)? as f64)
        })
    }

    /// Writes `parts` in order with `writev` (held until the promise settles) at `position`,
    /// or at the file offset when `position` < 0; resolves with the bytes written.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn writev(
        &self,
        #[napi(ts_arg_type = "Array<string | ArrayBufferView>")] parts: HeldList,
        position: f64,
    ) -> AsyncTask<HandleJob<(HeldList, Option<u64>), f64>> {
        self.run((parts, opt_u64(position)), |op| {
            let (parts, pos) = &op.data;
            let n = core::write_parts(
                &op.file,
                &parts.slices(),
                *pos,
                &Cancel::default(),
                &op.path,
            )?;
            Ok(n as f64)
        })
    }

    /// The file's size in bytes (`fstat`).
    #[napi(ts_return_type = "Promise<number>")]
    pub fn size(&self) -> AsyncTask<HandleJob<(), f64>> {
        self.run((), |op| {
            let meta = op.file.metadata().map_err(|e| io(e, "fstat", &op.path))?;
            Ok(meta.len() as f64)
        })
    }

    /// Cuts or extends the file to `length` bytes (`ftruncate`).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn truncate(&self, length: f64) -> AsyncTask<HandleJob<u64, ()>> {
        self.run(opt_u64(length).unwrap_or(0), |op| {
            op.file
                .set_len(op.data)
                .map_err(|e| io(e, "ftruncate", &op.path))
        })
    }

    /// Flushes data and metadata to the device (`fsync`).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn sync(&self) -> AsyncTask<HandleJob<(), ()>> {
        self.run((), |op| {
            op.file.sync_all().map_err(|e| io(e, "fsync", &op.path))
        })
    }

    /// Closes the handle; idempotent. Resolves once the descriptor is closed, or, while
    /// other operations are in flight, once the handle's claim is released (they close it
    /// when they end).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self) -> AsyncTask<Job<Option<Arc<File>>, ()>> {
        let file = self.file.lock().ok().and_then(|mut f| f.take());
        job(file, |file| {
            if let Some(file) = file.take() {
                if let Ok(file) = Arc::try_unwrap(file) {
                    core::close(file).map_err(|e| CoreError::io(e, "close", None))?;
                }
            }
            Ok(())
        })
    }
}

fn io(e: std::io::Error, syscall: &'static str, path: &Path) -> AbioError {
    CoreError::io(e, syscall, Some(path)).into()
}
