//! The file engine: whole-file reads and writes, atomic replacement, and the positioned
//! I/O under `FileHandle`. Plain `std` and `libc`, no napi, so `cargo test` covers it.
//!
//! Every function does all of its syscalls on the calling thread: one trip to a worker
//! per JS call is what makes abio faster than `fs.promises`, which makes 4-5.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::mem::MaybeUninit;
#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
#[cfg(unix)]
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::errno_error;
use crate::{Cancel, Error, Result};

#[path = "fs_unsized.rs"]
mod unsized_read;
use unsized_read::read_unsized;
pub use unsized_read::UNSIZED_MAX;
#[path = "fs_temp.rs"]
mod temp;
use temp::{create_temp, publish, resolve_target, temp_path};

/// Largest number of bytes one read or write syscall is asked to move, so that a
/// cancellation is seen within a few milliseconds even for multi-GiB transfers.
pub const CHUNK: usize = 64 << 20;

/// Buffers from this size on are advised to use transparent huge pages: page faults
/// cap a fresh 256 MiB buffer at 1.4-2 GB/s with 4 KiB pages, 5-6 GB/s with 2 MiB ones.
pub const HUGE_PAGE_THRESHOLD: usize = 4 << 20;

/// Most iovecs one `writev` accepts on Linux (`IOV_MAX`).
#[cfg(target_os = "linux")]
const IOV_MAX: usize = 1024;

/// How `write_file` writes.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// Append to the file (`O_APPEND`) instead of replacing its contents.
    pub append: bool,
    /// Write a temporary file beside the target, flush it and rename it over the target:
    /// readers see the old or the new contents, never a mix.
    pub atomic: bool,
    /// `fdatasync` before returning (and `fsync` the directory after an atomic rename).
    pub durable: bool,
    /// Mode for a new file (the umask applies); `None` is `0o666`. An atomic replace keeps
    /// the old file's mode unless this is given.
    pub mode: Option<u32>,
    /// Create missing parent directories.
    pub mkdirs: bool,
}

/// Which bytes `read_file` returns.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// First byte to read.
    pub offset: u64,
    /// Most bytes to read; `None` reads to the end.
    pub length: Option<u64>,
    /// Refuse (before allocating) to return more than this many bytes.
    pub max_size: Option<u64>,
}

/// The `flags` of `open()`, as Node spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenFlags {
    /// `r`: read; the file must exist.
    Read,
    /// `r+`: read and write; the file must exist.
    ReadWrite,
    /// `w`: write; created or truncated.
    Write,
    /// `w+`: read and write; created or truncated.
    WriteRead,
    /// `a`: append; created if missing.
    Append,
    /// `a+`: read and append; created if missing.
    AppendRead,
    /// `wx`: write; created, failing with `EEXIST` if it exists.
    WriteExclusive,
}

impl OpenFlags {
    /// Parses Node's flag string; `None` for flags abio does not offer.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "r" => OpenFlags::Read,
            "r+" => OpenFlags::ReadWrite,
            "w" => OpenFlags::Write,
            "w+" => OpenFlags::WriteRead,
            "a" => OpenFlags::Append,
            "a+" => OpenFlags::AppendRead,
            "wx" => OpenFlags::WriteExclusive,
            _ => return None,
        })
    }

    fn options(self) -> OpenOptions {
        let mut o = OpenOptions::new();
        match self {
            OpenFlags::Read => o.read(true),
            OpenFlags::ReadWrite => o.read(true).write(true),
            OpenFlags::Write => o.write(true).create(true).truncate(true),
            OpenFlags::WriteRead => o.read(true).write(true).create(true).truncate(true),
            OpenFlags::Append => o.append(true).create(true),
            OpenFlags::AppendRead => o.read(true).append(true).create(true),
            OpenFlags::WriteExclusive => o.write(true).create_new(true),
        };
        o
    }
}

fn io_err(e: io::Error, syscall: &'static str, path: &Path) -> Error {
    Error::io(e, syscall, Some(path))
}

#[cfg(unix)]
fn cvt(r: libc::ssize_t) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Sets the mode a created file gets (the umask applies). Windows has no modes: ignored,
/// as Node does there (a file's permissions come from its directory).
fn set_mode(o: &mut OpenOptions, mode: u32) -> &mut OpenOptions {
    #[cfg(unix)]
    o.mode(mode);
    #[cfg(windows)]
    let _ = mode;
    o
}

/// Opens `path` as `open()` does (`O_CLOEXEC` always; `mode` for created files).
pub fn open(path: &Path, flags: OpenFlags, mode: u32) -> Result<File> {
    set_mode(&mut flags.options(), mode)
        .open(path)
        .map_err(|e| io_err(e, "open", path))
}

fn open_write(path: &Path, opts: &WriteOptions, exclusive: bool) -> Result<File> {
    let mut o = OpenOptions::new();
    set_mode(o.write(true), opts.mode.unwrap_or(0o666));
    if exclusive {
        o.create_new(true);
    } else {
        // No O_TRUNC: truncating an existing file frees its blocks only for the write to
        // allocate them again (~150-200 µs for 4 KiB here). We overwrite in place and
        // cut the tail afterwards if the file was longer.
        o.create(true).append(opts.append);
    }
    match o.open(path) {
        Err(e) if opts.mkdirs && e.kind() == io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| io_err(e, "mkdir", dir))?;
            }
            o.open(path).map_err(|e| io_err(e, "open", path))
        }
        r => r.map_err(|e| io_err(e, "open", path)),
    }
}

/// Writes `parts` in order to `path` and returns the number of bytes written.
///
/// Short writes are continued until every byte is written or a syscall fails: the caller
/// never gets a silent short file. On failure an atomic write removes its temporary file
/// and leaves the old file untouched; a file the write created is removed.
pub fn write_file(
    path: &Path,
    parts: &[&[u8]],
    opts: &WriteOptions,
    cancel: &Cancel,
) -> Result<u64> {
    cancel.check()?;
    let mut sink = FileSink::create(path, opts)?;
    sink.write(parts, cancel)?;
    if opts.atomic {
        // The last moment to leave the old file as it was.
        cancel.check()?;
    }
    sink.commit()
}

/// `fdatasync` when `durable`. A FIFO, pipe or character device has nothing to flush to a
/// device (`fdatasync` fails there with `EINVAL`): not an error.
fn sync_if_durable(file: &File, durable: bool, path: &Path) -> Result<()> {
    if !durable {
        return Ok(());
    }
    match file.sync_data() {
        Err(e)
            if e.raw_os_error() == Some(libc::EINVAL)
                && file.metadata().is_ok_and(|m| !m.is_file()) =>
        {
            Ok(())
        }
        r => r.map_err(|e| io_err(e, "fdatasync", path)),
    }
}

/// A file written piece by piece, as a body arrives from the network: [`FileSink::create`],
/// [`FileSink::write`] as often as needed, [`FileSink::commit`]. With `atomic` the pieces go
/// to a temporary file in the same directory that `commit` flushes and renames over the
/// target: readers see the old or the new file, never a mix.
///
/// Dropped without `commit` (a failed transfer), it leaves nothing behind where it can: the
/// temporary file of an atomic write is removed (an `O_TMPFILE` one never had a name), and
/// so is a file it created; a file it was overwriting in place keeps what was written,
/// which is what `atomic: false` asks for.
pub struct FileSink {
    file: File,
    /// The caller's path: errors name it, not the temporary file.
    path: PathBuf,
    written: u64,
    how: Sink,
    durable: bool,
    /// Set once committed: nothing to clean up.
    done: bool,
}

enum Sink {
    /// Into `tmp`, renamed over `target` on commit; `named` is false for an `O_TMPFILE`.
    Atomic {
        target: PathBuf,
        tmp: PathBuf,
        named: bool,
    },
    /// In place from offset 0; a longer old file is cut on commit.
    Replace { created: bool, old_len: u64 },
    /// At the end (`O_APPEND`).
    Append,
}

impl FileSink {
    /// Opens the file (or the temporary file) `write` fills.
    pub fn create(path: &Path, opts: &WriteOptions) -> Result<FileSink> {
        let how = if opts.atomic {
            return Self::atomic(path, opts);
        } else if opts.append {
            (open_write(path, opts, false)?, Sink::Append)
        } else {
            // As write_file: a new file is created exclusively; an existing one is
            // overwritten in place and cut afterwards (no O_TRUNC stall).
            match open_write(path, opts, true) {
                Ok(f) => (
                    f,
                    Sink::Replace {
                        created: true,
                        old_len: 0,
                    },
                ),
                Err(e) if e.errno() == Some(libc::EEXIST) => {
                    let f = open_write(path, opts, false)?;
                    let meta = f.metadata().map_err(|e| io_err(e, "fstat", path))?;
                    // A FIFO, pipe or device has no tail to cut.
                    let old_len = if meta.is_file() { meta.len() } else { 0 };
                    (
                        f,
                        Sink::Replace {
                            created: false,
                            old_len,
                        },
                    )
                }
                Err(e) => return Err(e),
            }
        };
        Ok(Self::new(how.0, path, how.1, opts))
    }

    fn new(file: File, path: &Path, how: Sink, opts: &WriteOptions) -> FileSink {
        FileSink {
            file,
            path: path.to_path_buf(),
            written: 0,
            how,
            durable: opts.durable,
            done: false,
        }
    }

    fn atomic(path: &Path, opts: &WriteOptions) -> Result<FileSink> {
        // Replace what the path points at, as a plain write would, not a symlink itself
        // (the kernel follows the link: see `resolve_target`).
        let (target, old) = resolve_target(path)?;
        let old_mode = match old {
            Some(m) if m.is_dir() => {
                return Err(io_err(errno_error(libc::EISDIR), "open", path));
            }
            Some(m) => file_mode(&m),
            None => None,
        };
        let tmp = temp_path(&target);
        // Errors name the caller's path: the temporary file is ours, not theirs.
        let theirs = |e: Error| match e {
            Error::Io {
                source, syscall, ..
            } => io_err(source, syscall, path),
            e => e,
        };
        let (file, named) = create_temp(dir_of(&target), &tmp, opts).map_err(theirs)?;
        // From here on, dropping the sink removes a named temporary file.
        let sink = Self::new(file, path, Sink::Atomic { target, tmp, named }, opts);
        if let (None, Some(mode)) = (opts.mode, old_mode) {
            set_file_mode(&sink.file, mode).map_err(|e| io_err(e, "fchmod", path))?;
        }
        Ok(sink)
    }

    /// Writes every byte of `parts` after what was written before; returns their length.
    ///
    /// Writes are sequential (`writev`, from the file offset of a descriptor opened for this
    /// sink alone), not positioned: a FIFO, a pipe (`/dev/stdout`) or a character device
    /// cannot seek, and `pwritev` fails there with `ESPIPE`.
    pub fn write(&mut self, parts: &[&[u8]], cancel: &Cancel) -> Result<u64> {
        let n = write_parts(&self.file, parts, None, cancel, &self.path)?;
        self.written += n;
        Ok(n)
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Finishes the file: cuts an overwritten file's old tail, or flushes and renames the
    /// temporary file over the target (and syncs the directory when `durable`). Returns
    /// the bytes written.
    pub fn commit(mut self) -> Result<u64> {
        let path = self.path.as_path();
        match &mut self.how {
            Sink::Atomic { target, tmp, named } => {
                self.file
                    .sync_data()
                    .map_err(|e| io_err(e, "fdatasync", path))?;
                if *named {
                    std::fs::rename(&*tmp, &*target).map_err(|e| io_err(e, "rename", path))?;
                } else {
                    publish(&self.file, tmp, target).map_err(|e| {
                        *named = e.linked;
                        io_err(e.err, e.syscall, path)
                    })?;
                }
                self.done = true;
                if self.durable {
                    let dir = dir_of(target);
                    sync_dir(dir).map_err(|e| io_err(e, "fsync", dir))?;
                }
            }
            Sink::Replace { old_len, .. } => {
                if *old_len > self.written {
                    self.file
                        .set_len(self.written)
                        .map_err(|e| io_err(e, "ftruncate", path))?;
                }
                self.done = true;
                sync_if_durable(&self.file, self.durable, path)?;
            }
            Sink::Append => {
                self.done = true;
                sync_if_durable(&self.file, self.durable, path)?;
            }
        }
        Ok(self.written)
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        match &self.how {
            Sink::Atomic {
                tmp, named: true, ..
            } => {
                let _ = std::fs::remove_file(tmp);
            }
            Sink::Replace { created: true, .. } => {
                let _ = std::fs::remove_file(&self.path);
            }
            _ => {}
        }
    }
}

/// The permission bits of a file, which an atomic replace gives the new file; `None` on
/// Windows, which has no modes.
fn file_mode(m: &std::fs::Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        Some(m.permissions().mode() & 0o7777)
    }
    #[cfg(windows)]
    {
        let _ = m;
        None
    }
}

#[cfg(unix)]
fn set_file_mode(file: &File, mode: u32) -> io::Result<()> {
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(windows)]
fn set_file_mode(_file: &File, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Flushes a directory's entries (a rename into it) to the device.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).and_then(|d| d.sync_all())
}

/// Windows cannot open a directory as a `File` to flush it (and NTFS journals the rename
/// itself): nothing to do.
#[cfg(windows)]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

fn dir_of(target: &Path) -> &Path {
    match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Writes every byte of `parts` with `writev`/`pwritev` (at `position`, or at the file
/// offset when `None`), continuing after short writes and `EINTR`. Returns the total.
#[cfg(target_os = "linux")]
pub fn write_parts(
    file: &File,
    parts: &[&[u8]],
    position: Option<u64>,
    cancel: &Cancel,
    path: &Path,
) -> Result<u64> {
    let fd = file.as_raw_fd();
    let mut idx = 0; // first part not yet fully written
    let mut skip = 0; // bytes of parts[idx] already written
    let mut written: u64 = 0;
    let mut iov: Vec<libc::iovec> = Vec::with_capacity(parts.len().min(IOV_MAX));
    loop {
        while idx < parts.len() && skip == parts[idx].len() {
            idx += 1;
            skip = 0;
        }
        if idx == parts.len() {
            return Ok(written);
        }
        cancel.check()?;
        iov.clear();
        let mut batch = 0usize;
        for (i, part) in parts[idx..].iter().enumerate() {
            if iov.len() == IOV_MAX || batch >= CHUNK {
                break;
            }
            let part = if i == 0 { &part[skip..] } else { part };
            let len = part.len().min(CHUNK - batch);
            if len == 0 {
                continue;
            }
            iov.push(libc::iovec {
                iov_base: part.as_ptr() as *mut libc::c_void,
                iov_len: len,
            });
            batch += len;
        }
        // SAFETY: every iovec points into a live `&[u8]` of `parts` for at least `iov_len`
        // bytes; the kernel only reads them. `iov.len()` <= IOV_MAX fits a c_int.
        let r = unsafe {
            match position {
                Some(p) => libc::pwritev(
                    fd,
                    iov.as_ptr(),
                    iov.len() as libc::c_int,
                    (p + written) as libc::off_t,
                ),
                None => libc::writev(fd, iov.as_ptr(), iov.len() as libc::c_int),
            }
        };
        let mut n = match cvt(r) {
            Ok(0) => {
                return Err(io_err(io::ErrorKind::WriteZero.into(), "write", path));
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e, "write", path)),
        };
        written += n as u64;
        while n > 0 {
            let left = parts[idx].len() - skip;
            if n < left {
                skip += n;
                n = 0;
            } else {
                n -= left;
                idx += 1;
                skip = 0;
            }
        }
    }
}

/// Writes every byte of `parts` (at `position`, or at the file offset when `None`),
/// continuing after short writes and `EINTR`. Returns the total. Outside Linux the parts go
/// out one write each: `pwritev` exists on macOS only from 11 (a missing symbol would stop
/// the addon loading on older systems) and Windows has no vectored file writes.
#[cfg(not(target_os = "linux"))]
pub fn write_parts(
    file: &File,
    parts: &[&[u8]],
    position: Option<u64>,
    cancel: &Cancel,
    path: &Path,
) -> Result<u64> {
    use std::io::Write;
    let mut written: u64 = 0;
    for part in parts {
        let mut done = 0;
        while done < part.len() {
            cancel.check()?;
            let piece = &part[done..(done + CHUNK).min(part.len())];
            let r = match position {
                Some(p) => pwrite(file, piece, p + written),
                None => (&mut &*file).write(piece),
            };
            match r {
                Ok(0) => return Err(io_err(io::ErrorKind::WriteZero.into(), "write", path)),
                Ok(n) => {
                    done += n;
                    written += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(e, "write", path)),
            }
        }
    }
    Ok(written)
}

/// One positioned write (`pwrite`; on Windows a write at an offset, which also moves the
/// file position).
#[cfg(not(target_os = "linux"))]
fn pwrite(file: &File, buf: &[u8], position: u64) -> io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_at(file, buf, position)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_write(file, buf, position)
    }
}

/// One positioned read (`pread`; on Windows a read at an offset, which also moves the file
/// position).
pub fn pread(file: &File, buf: &mut [u8], position: u64) -> io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, position)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_read(file, buf, position)
    }
}

/// A `Vec` with room for `len` bytes (length 0), or `ENOMEM` instead of an abort.
/// Large buffers are advised onto transparent huge pages before their first fault.
pub fn alloc(len: usize) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| errno_error(libc::ENOMEM))?;
    if len >= HUGE_PAGE_THRESHOLD {
        advise_huge(v.as_mut_ptr(), len);
    }
    Ok(v)
}

#[cfg(target_os = "linux")]
fn advise_huge(ptr: *mut u8, len: usize) {
    const PAGE: usize = 4096;
    let start = (ptr as usize).div_ceil(PAGE) * PAGE;
    let end = (ptr as usize + len) / PAGE * PAGE;
    if end > start {
        // SAFETY: [start, end) lies inside the allocation just reserved and is page
        // aligned; MADV_HUGEPAGE only changes how future faults are served, never the
        // contents, and failure (e.g. THP disabled) is harmless.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

/// No `MADV_HUGEPAGE` outside Linux: no hint.
#[cfg(not(target_os = "linux"))]
fn advise_huge(_ptr: *mut u8, _len: usize) {}

/// Fills `buf` from `file` at `position` with `pread`, stopping early only at end of file.
/// Returns the number of bytes read.
#[cfg(unix)]
pub fn read_into_at(
    file: &File,
    buf: &mut [MaybeUninit<u8>],
    position: u64,
    cancel: &Cancel,
    path: &Path,
) -> Result<usize> {
    let fd = file.as_raw_fd();
    let mut done = 0;
    while done < buf.len() {
        cancel.check()?;
        let want = (buf.len() - done).min(CHUNK);
        // SAFETY: `buf[done..done + want]` is writable memory owned by the caller for the
        // duration of the call; the kernel writes at most `want` bytes into it.
        let r = unsafe {
            libc::pread(
                fd,
                buf.as_mut_ptr().add(done).cast(),
                want,
                (position + done as u64) as libc::off_t,
            )
        };
        match cvt(r) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e, "read", path)),
        }
    }
    Ok(done)
}

/// Fills `buf` from `file` at `position`, stopping early only at end of file. Returns the
/// number of bytes read. Windows reads only into initialised memory (`seek_read` takes a
/// `&mut [u8]`): each piece is zeroed first.
#[cfg(windows)]
pub fn read_into_at(
    file: &File,
    buf: &mut [MaybeUninit<u8>],
    position: u64,
    cancel: &Cancel,
    path: &Path,
) -> Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        cancel.check()?;
        let want = (buf.len() - done).min(CHUNK);
        let piece = &mut buf[done..done + want];
        piece.fill(MaybeUninit::new(0));
        // SAFETY: every byte of `piece` was just initialised.
        let piece = unsafe { &mut *(piece as *mut [MaybeUninit<u8>] as *mut [u8]) };
        match pread(file, piece, position + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e, "read", path)),
        }
    }
    Ok(done)
}

/// Reads up to `length` bytes at `position` into a new exact-size `Vec` (short only at
/// end of file). For regular files the allocation is capped at what the file holds; a
/// file of unknown size (a device, `/proc`) grows the buffer as bytes arrive and refuses
/// more than [`UNSIZED_MAX`] bytes with [`Error::TooLarge`].
pub fn read_at(
    file: &File,
    position: u64,
    length: u64,
    cancel: &Cancel,
    path: &Path,
) -> Result<Vec<u8>> {
    let meta = file.metadata().map_err(|e| io_err(e, "fstat", path))?;
    if meta.is_file() && meta.len() > 0 {
        let cap = length.min(meta.len().saturating_sub(position));
        read_len(file, position, cap, cancel, path)
    } else {
        read_unsized(file, Some(position), 0, length, None, cancel, path)
    }
}

/// Reads `len` bytes at `position` into a new `Vec` of that capacity (shorter only at end
/// of file), or `ENOMEM` if it cannot be allocated.
fn read_len(file: &File, position: u64, len: u64, cancel: &Cancel, path: &Path) -> Result<Vec<u8>> {
    let len = usize::try_from(len).map_err(|_| enomem(path))?;
    let mut buf = alloc(len).map_err(|e| io_err(e, "read", path))?;
    let n = read_into_at(
        file,
        &mut buf.spare_capacity_mut()[..len],
        position,
        cancel,
        path,
    )?;
    // SAFETY: `read_into_at` initialised the first `n` bytes of the spare capacity.
    unsafe { buf.set_len(n) };
    Ok(buf)
}

fn enomem(path: &Path) -> Error {
    io_err(errno_error(libc::ENOMEM), "read", path)
}

/// Opens a file for reading.
pub fn open_read(path: &Path) -> Result<File> {
    open(path, OpenFlags::Read, 0)
}

/// Reads a whole file (or the part `opts` selects) into an exact-size `Vec`.
///
/// Regular files are sized by `fstat` and read straight into one allocation; other files
/// (pipes, devices, `/proc`) are read until end of stream. `max_size` is checked before the
/// allocation for sized files and while reading for the others, which without `max_size`
/// stop at [`UNSIZED_MAX`] bytes (`/dev/zero` never ends).
pub fn read_file(path: &Path, opts: &ReadOptions, cancel: &Cancel) -> Result<Vec<u8>> {
    read_file_spread(path, opts, cancel, &|n, f| (0..n).for_each(f))
}

/// Runs `f(i)` for every `i` in `0..n`, on as many threads as the caller sees fit.
pub type Spread<'a> = &'a (dyn Fn(usize, &(dyn Fn(usize) + Sync)) + Sync);

/// Reads of at least this size are split into [`SPREAD_CHUNK`] pieces read at once through
/// a [`Spread`]: copying from the page cache into fresh memory is bound by page faults and
/// one core's copy speed (1.4 GB/s measured here for 256 MiB; 2.8 GB/s on two threads).
pub const SPREAD_MIN: u64 = 32 << 20;
const SPREAD_CHUNK: usize = 16 << 20;

/// [`read_file`], with large reads split across threads by `spread`.
pub fn read_file_spread(
    path: &Path,
    opts: &ReadOptions,
    cancel: &Cancel,
    spread: Spread,
) -> Result<Vec<u8>> {
    match open_sized(path, opts, cancel)? {
        (file, Some(want)) if want >= SPREAD_MIN => {
            read_len_spread(&file, opts.offset, want, cancel, path, spread)
        }
        (file, Some(want)) => read_len(&file, opts.offset, want, cancel, path),
        (file, None) => read_stream(&file, path, opts, cancel),
    }
}

fn read_len_spread(
    file: &File,
    position: u64,
    len: u64,
    cancel: &Cancel,
    path: &Path,
    spread: Spread,
) -> Result<Vec<u8>> {
    let len = usize::try_from(len).map_err(|_| enomem(path))?;
    let mut buf = alloc(len).map_err(|e| io_err(e, "read", path))?;
    let base = buf.as_mut_ptr() as usize;
    let chunks = len.div_ceil(SPREAD_CHUNK);
    let got: Vec<std::sync::Mutex<Option<Result<usize>>>> =
        (0..chunks).map(|_| std::sync::Mutex::new(None)).collect();
    spread(chunks, &|k| {
        let start = k * SPREAD_CHUNK;
        let n = SPREAD_CHUNK.min(len - start);
        // SAFETY: chunk `k` is bytes [start, start + n) of `buf`'s capacity, disjoint from
        // every other chunk, and `buf` outlives `spread`.
        let chunk =
            unsafe { std::slice::from_raw_parts_mut((base + start) as *mut MaybeUninit<u8>, n) };
        let r = read_into_at(file, chunk, position + start as u64, cancel, path);
        if let Ok(mut slot) = got[k].lock() {
            *slot = Some(r);
        }
    });
    // The bytes are contiguous up to the first short chunk (the file shrank meanwhile).
    let mut total = 0;
    for (k, slot) in got.into_iter().enumerate() {
        let read = slot.into_inner().ok().flatten().unwrap_or(Ok(0))?;
        total += read;
        if read < SPREAD_CHUNK.min(len - k * SPREAD_CHUNK) {
            break;
        }
    }
    // SAFETY: the first `total` bytes were initialised by the reads above.
    unsafe { buf.set_len(total) };
    Ok(buf)
}

/// Opens `path` for reading and says how many bytes `opts` selects: `None` for files whose
/// size `fstat` does not tell (pipes, `/proc`), to be read as a stream.
fn open_sized(path: &Path, opts: &ReadOptions, cancel: &Cancel) -> Result<(File, Option<u64>)> {
    cancel.check()?;
    let file = open_read(path)?;
    let meta = file.metadata().map_err(|e| io_err(e, "fstat", path))?;
    if !(meta.is_file() && meta.len() > 0) {
        return Ok((file, None));
    }
    let mut want = meta.len().saturating_sub(opts.offset);
    if let Some(l) = opts.length {
        want = want.min(l);
    }
    check_max(path, want, opts)?;
    Ok((file, Some(want)))
}

/// Where a batch read puts small files: shared 2 MiB blocks, aligned to and advised onto
/// huge pages, instead of one allocation each. Fresh 4 KiB allocations cost a page fault
/// apiece (profiled here: a third of a 4 KiB file's read); a block costs one fault per
/// few hundred files.
#[derive(Default)]
pub struct Arena {
    blocks: Vec<Block>,
}

/// A file's bytes from [`Arena::read_file`].
pub enum Piece {
    /// `len` bytes at `start` of the arena's block `block`.
    InArena {
        /// Index of the block.
        block: usize,
        /// First byte.
        start: usize,
        /// Length.
        len: usize,
    },
    /// A file too large for the arena (or of unknown size), in its own allocation.
    Owned(Vec<u8>),
}

impl Arena {
    /// Files up to this size go into blocks.
    pub const SMALL: usize = 64 << 10;

    /// The bytes of `piece`, read into this arena.
    pub fn bytes<'a>(&'a self, piece: &'a Piece) -> &'a [u8] {
        match piece {
            Piece::InArena { block, start, len } => {
                &self.blocks[*block].filled()[*start..*start + *len]
            }
            Piece::Owned(v) => v,
        }
    }

    /// `read_file`, with small files read into the arena.
    pub fn read_file(&mut self, path: &Path, opts: &ReadOptions, cancel: &Cancel) -> Result<Piece> {
        let (file, want) = match open_sized(path, opts, cancel)? {
            (file, Some(want)) if want <= Self::SMALL as u64 => (file, want as usize),
            (file, Some(want)) => {
                return read_len(&file, opts.offset, want, cancel, path).map(Piece::Owned)
            }
            (file, None) => return read_stream(&file, path, opts, cancel).map(Piece::Owned),
        };
        if self
            .blocks
            .last()
            .is_none_or(|b| Block::SIZE - b.len < want)
        {
            self.blocks
                .push(Block::new().map_err(|e| io_err(e, "read", path))?);
        }
        let block = self.blocks.len() - 1;
        let buf = &mut self.blocks[block];
        let start = buf.len;
        let n = read_into_at(&file, &mut buf.spare()[..want], opts.offset, cancel, path)?;
        buf.len += n;
        Ok(Piece::InArena {
            block,
            start,
            len: n,
        })
    }
}

/// One 2 MiB arena block, 2 MiB-aligned so that it can be one huge page.
struct Block {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: a `Block` owns its allocation exclusively, like a `Vec<u8>`.
unsafe impl Send for Block {}

impl Block {
    const SIZE: usize = 2 << 20;
    const LAYOUT: std::alloc::Layout =
        match std::alloc::Layout::from_size_align(Self::SIZE, Self::SIZE) {
            Ok(l) => l,
            Err(_) => panic!("valid layout"),
        };

    fn new() -> io::Result<Self> {
        // SAFETY: `LAYOUT` has a non-zero size.
        let ptr = unsafe { std::alloc::alloc(Self::LAYOUT) };
        let ptr = std::ptr::NonNull::new(ptr).ok_or_else(|| errno_error(libc::ENOMEM))?;
        advise_huge(ptr.as_ptr(), Self::SIZE);
        Ok(Block { ptr, len: 0 })
    }

    fn filled(&self) -> &[u8] {
        // SAFETY: the first `len` bytes were initialised by reads (see `read_file`).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    fn spare(&mut self) -> &mut [MaybeUninit<u8>] {
        // SAFETY: bytes `len..SIZE` of the allocation are ours to write.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.ptr.as_ptr().add(self.len).cast(),
                Self::SIZE - self.len,
            )
        }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this very layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), Self::LAYOUT) }
    }
}

fn check_max(path: &Path, size: u64, opts: &ReadOptions) -> Result<()> {
    match opts.max_size {
        Some(max) if size > max => Err(Error::TooLarge {
            path: path.to_path_buf(),
            size,
            max,
            default_max: false,
        }),
        _ => Ok(()),
    }
}

/// Reads a file of unknown size as `opts` selects (sequentially: pipes cannot seek).
fn read_stream(file: &File, path: &Path, opts: &ReadOptions, cancel: &Cancel) -> Result<Vec<u8>> {
    let limit = opts.length.unwrap_or(u64::MAX);
    read_unsized(file, None, opts.offset, limit, opts.max_size, cancel, path)
}

/// Reads `path` from `position` into `target` until it is full or the file ends;
/// returns the number of bytes read.
pub fn read_file_into(
    path: &Path,
    target: &mut [MaybeUninit<u8>],
    position: u64,
    cancel: &Cancel,
) -> Result<usize> {
    cancel.check()?;
    let file = open_read(path)?;
    read_into_at(&file, target, position, cancel, path)
}

/// A whole file mapped privately (copy-on-write) into memory, for `loadPacked(path, {
/// mmap: true })`: no read, pages come from the page cache as they are touched, and
/// writes to the memory stay private. If another process truncates the file while it is
/// mapped, touching the lost pages raises SIGBUS and kills the process (as with
/// `Bun.mmap`): opt-in only, and documented.
#[cfg(unix)]
pub struct Mapping {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone, like a `Vec<u8>`.
unsafe impl Send for Mapping {}

#[cfg(unix)]
impl Mapping {
    /// Maps `path` whole; an empty file gives an empty mapping.
    pub fn open(path: &Path) -> Result<Mapping> {
        let file = open_read(path)?;
        let len = file.metadata().map_err(|e| io_err(e, "fstat", path))?.len();
        let len = usize::try_from(len).map_err(|_| enomem(path))?;
        if len == 0 {
            return Ok(Mapping {
                ptr: std::ptr::NonNull::dangling(),
                len: 0,
            });
        }
        // SAFETY: a fresh private mapping of an open file; the kernel picks the address.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::last_os("mmap", Some(path)));
        }
        let ptr = std::ptr::NonNull::new(ptr.cast()).ok_or_else(|| enomem(path))?;
        Ok(Mapping { ptr, len })
    }

    /// The mapped bytes' address (dangling when empty).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The mapped length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the file was empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(unix)]
impl Drop for Mapping {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: unmapping exactly the range `open` mapped, once.
            unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
        }
    }
}

/// On Windows a "mapping" is a copy: the whole file read into memory (the same bytes, and
/// writes stay private as with `MAP_PRIVATE`; no SIGBUS-like risk either).
#[cfg(windows)]
pub struct Mapping {
    bytes: Vec<u8>,
    /// `bytes`' address, taken mutably once: JS writes through it.
    ptr: *mut u8,
}

#[cfg(windows)]
impl Mapping {
    /// Reads `path` whole; an empty file gives an empty buffer.
    pub fn open(path: &Path) -> Result<Mapping> {
        let mut bytes = read_file(path, &ReadOptions::default(), &Cancel::default())?;
        let ptr = bytes.as_mut_ptr();
        Ok(Mapping { bytes, ptr })
    }

    /// The bytes' address (dangling when empty).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// The length.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the file was empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// The number JS sees as a file handle's `fd`: the descriptor on Unix, the `HANDLE`'s value
/// on Windows (Node shows a C runtime descriptor there; abio has none).
pub fn fd_number(file: &File) -> i32 {
    #[cfg(unix)]
    {
        file.as_raw_fd()
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::AsRawHandle;
        file.as_raw_handle() as usize as i32
    }
}

/// Closes `file`, reporting the error `close(2)` gives (`EINTR` is not one: the descriptor
/// is gone then). Windows' `CloseHandle` fails only for invalid handles: a plain drop.
pub fn close(file: File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::io::IntoRawFd;
        let fd = file.into_raw_fd();
        // SAFETY: `fd` was just released by its only owner; closing it once.
        if unsafe { libc::close(fd) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
        Ok(())
    }
    #[cfg(windows)]
    {
        drop(file);
        Ok(())
    }
}

/// What identifies one version of a file, for caches: device, inode, modification and
/// change times in nanoseconds. Windows (stable std) has no device or file index, nor a
/// change time: zeros, and the modification time twice.
pub fn version_stamp(m: &std::fs::Metadata) -> (u64, u64, i128, i128) {
    let ns = |s: i64, n: i64| s as i128 * 1_000_000_000 + n as i128;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (
            m.dev(),
            m.ino(),
            ns(m.mtime(), m.mtime_nsec()),
            ns(m.ctime(), m.ctime_nsec()),
        )
    }
    #[cfg(windows)]
    {
        let mtime = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| ns(d.as_secs() as i64, d.subsec_nanos() as i64));
        (0, 0, mtime, mtime)
    }
}

/// Views initialised bytes as possibly-uninitialised ones, to read into them.
pub fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and writing only initialised
    // bytes (which is all `read_into_at` does) keeps every byte initialised.
    unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast(), buf.len()) }
}

/// A path from raw bytes (file names need not be UTF-8 on Unix).
#[cfg(unix)]
pub fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(OsString::from_vec(bytes))
}

/// A path from raw bytes: UTF-8 on Windows (as Node reads a `Buffer` path there).
#[cfg(windows)]
pub fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A fresh directory, removed when dropped.
    struct TempDir(PathBuf);

    impl std::ops::Deref for TempDir {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir() -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let d = std::env::temp_dir().join(format!(
            "abio-core-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    fn no_temp_files(d: &Path) -> bool {
        std::fs::read_dir(d).unwrap().all(|e| {
            !e.unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".abio-tmp")
        })
    }

    #[test]
    fn writes_parts_in_order_and_reads_back() {
        let d = dir();
        let p = d.join("a.bin");
        let n = write_file(
            &p,
            &[b"hello", b"", b" ", b"world"],
            &WriteOptions::default(),
            &Cancel::default(),
        )
        .unwrap();
        assert_eq!(n, 11);
        let got = read_file(&p, &ReadOptions::default(), &Cancel::default()).unwrap();
        assert_eq!(got, b"hello world");
        assert_eq!(got.capacity(), got.len());
    }

    #[test]
    fn sink_in_pieces_commits_or_leaves_nothing() {
        let d = dir();
        let p = d.join("s.bin");
        let none = Cancel::default();
        for atomic in [true, false] {
            let opts = WriteOptions {
                atomic,
                ..Default::default()
            };
            // Dropped midway: no file, no temporary file.
            let mut sink = FileSink::create(&p, &opts).unwrap();
            sink.write(&[b"part"], &none).unwrap();
            drop(sink);
            assert!(!p.exists(), "atomic {atomic}");
            assert!(no_temp_files(&d));
            // Committed over an older, longer file: exactly the pieces.
            std::fs::write(&p, vec![1u8; 100]).unwrap();
            let mut sink = FileSink::create(&p, &opts).unwrap();
            sink.write(&[b"ab", b"c"], &none).unwrap();
            sink.write(&[b"def"], &none).unwrap();
            assert_eq!(sink.written(), 6);
            if atomic {
                // Readers still see the old file until the commit.
                assert_eq!(std::fs::read(&p).unwrap().len(), 100);
            }
            assert_eq!(sink.commit().unwrap(), 6);
            assert_eq!(std::fs::read(&p).unwrap(), b"abcdef");
            // Dropped midway over an existing file: atomic keeps the old one whole.
            let mut sink = FileSink::create(&p, &opts).unwrap();
            sink.write(&[b"X"], &none).unwrap();
            drop(sink);
            let expect: &[u8] = if atomic { b"abcdef" } else { b"Xbcdef" };
            assert_eq!(std::fs::read(&p).unwrap(), expect);
            assert!(no_temp_files(&d));
            std::fs::remove_file(&p).unwrap();
        }
    }

    #[test]
    fn overwrite_with_shorter_data_cuts_the_tail() {
        let d = dir();
        let p = d.join("a.bin");
        std::fs::write(&p, vec![9u8; 10_000]).unwrap();
        write_file(&p, &[b"abc"], &WriteOptions::default(), &Cancel::default()).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"abc");
    }

    #[test]
    fn many_parts_beyond_iov_max() {
        let d = dir();
        let p = d.join("many.bin");
        let bytes: Vec<[u8; 3]> = (0..3000u32).map(|i| [i as u8, (i >> 8) as u8, 7]).collect();
        let parts: Vec<&[u8]> = bytes.iter().map(|b| &b[..]).collect();
        let n = write_file(&p, &parts, &WriteOptions::default(), &Cancel::default()).unwrap();
        assert_eq!(n, 9000);
        assert_eq!(std::fs::read(&p).unwrap(), bytes.concat());
    }

    #[test]
    fn append_and_mkdirs() {
        let d = dir();
        let p = d.join("x/y/z.txt");
        let opts = WriteOptions {
            mkdirs: true,
            append: true,
            ..Default::default()
        };
        write_file(&p, &[b"1"], &opts, &Cancel::default()).unwrap();
        write_file(&p, &[b"2"], &opts, &Cancel::default()).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"12");
        let e = write_file(
            &d.join("no/such.txt"),
            &[b"1"],
            &WriteOptions::default(),
            &Cancel::default(),
        )
        .unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENOENT));
    }

    #[cfg(unix)]
    #[test]
    fn atomic_keeps_mode_and_leaves_no_temp() {
        let d = dir();
        let p = d.join("a.json");
        std::fs::write(&p, b"old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let opts = WriteOptions {
            atomic: true,
            durable: true,
            ..Default::default()
        };
        write_file(&p, &[b"new contents"], &opts, &Cancel::default()).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new contents");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        assert!(no_temp_files(&d));
    }

    #[test]
    fn atomic_failure_keeps_old_file() {
        let d = dir();
        let p = d.join("a.bin");
        std::fs::write(&p, b"old").unwrap();
        let cancel = Cancel::new();
        cancel.cancel();
        let big = vec![1u8; 1 << 20];
        let opts = WriteOptions {
            atomic: true,
            ..Default::default()
        };
        // Cancelled before start.
        assert!(matches!(
            write_file(&p, &[&big], &opts, &cancel),
            Err(Error::Aborted)
        ));
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert!(no_temp_files(&d));
        // A directory as target.
        let e = write_file(&d, &[b"x"], &opts, &Cancel::default()).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EISDIR));
    }

    #[test]
    fn read_ranges_and_limits() {
        let d = dir();
        let p = d.join("r.bin");
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        std::fs::write(&p, &data).unwrap();
        let c = Cancel::default();
        let r = |offset, length, max_size| {
            read_file(
                &p,
                &ReadOptions {
                    offset,
                    length,
                    max_size,
                },
                &c,
            )
        };
        assert_eq!(r(100, Some(50), None).unwrap(), &data[100..150]);
        assert_eq!(r(9_990, Some(50), None).unwrap(), &data[9_990..]);
        assert!(r(20_000, None, None).unwrap().is_empty());
        assert_eq!(r(0, None, Some(10_000)).unwrap(), data);
        assert!(matches!(
            r(0, None, Some(9_999)),
            Err(Error::TooLarge { size: 10_000, .. })
        ));
        // The limit applies to what would be returned.
        assert_eq!(r(5_000, None, Some(5_000)).unwrap(), &data[5_000..]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_files_of_unknown_size() {
        let got = read_file(
            Path::new("/proc/self/status"),
            &ReadOptions::default(),
            &Cancel::default(),
        )
        .unwrap();
        assert!(got.starts_with(b"Name:"));
        let e = read_file(
            Path::new("/proc/self/status"),
            &ReadOptions {
                max_size: Some(10),
                ..Default::default()
            },
            &Cancel::default(),
        )
        .unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }));
    }

    #[test]
    fn errors_carry_syscall_and_path() {
        let d = dir();
        match read_file(
            &d.join("missing"),
            &ReadOptions::default(),
            &Cancel::default(),
        ) {
            Err(Error::Io {
                syscall,
                path,
                source,
            }) => {
                assert_eq!(syscall, "open");
                assert_eq!(path.unwrap(), d.join("missing"));
                assert_eq!(crate::error::errno_of(&source), Some(libc::ENOENT));
            }
            other => panic!("unexpected {other:?}"),
        }
        let e = read_file(&d, &ReadOptions::default(), &Cancel::default()).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EISDIR));
    }

    #[test]
    fn handle_reads_are_short_only_at_eof() {
        let d = dir();
        let p = d.join("h.bin");
        std::fs::write(&p, b"0123456789").unwrap();
        let f = open(&p, OpenFlags::Read, 0).unwrap();
        let c = Cancel::default();
        assert_eq!(read_at(&f, 2, 3, &c, &p).unwrap(), b"234");
        assert_eq!(read_at(&f, 8, 1 << 40, &c, &p).unwrap(), b"89");
        assert!(read_at(&f, 20, 5, &c, &p).unwrap().is_empty());
        let mut buf = [0u8; 4];
        assert_eq!(read_into_at(&f, as_uninit(&mut buf), 7, &c, &p).unwrap(), 3);
        assert_eq!(&buf[..3], b"789");
    }

    #[test]
    fn arena_packs_small_files_and_owns_large_ones() {
        let d = dir();
        let c = Cancel::default();
        let mut arena = Arena::default();
        let mut expected = Vec::new();
        let mut pieces = Vec::new();
        // ~3 blocks of 40 KiB files, one file over Arena::SMALL, and a /proc file.
        for i in 0..150usize {
            let len = if i == 70 {
                Arena::SMALL + 1
            } else {
                40_000 + i
            };
            let data: Vec<u8> = (0..len).map(|j| (i * 31 + j) as u8).collect();
            let p = d.join(format!("f{i}"));
            std::fs::write(&p, &data).unwrap();
            pieces.push(arena.read_file(&p, &ReadOptions::default(), &c).unwrap());
            expected.push(data);
        }
        assert!(matches!(pieces[70], Piece::Owned(_)));
        assert!(arena.blocks.len() >= 3);
        for (piece, want) in pieces.iter().zip(&expected) {
            assert_eq!(arena.bytes(piece), &want[..]);
        }
        #[cfg(target_os = "linux")]
        {
            let status = arena
                .read_file(Path::new("/proc/self/status"), &ReadOptions::default(), &c)
                .unwrap();
            assert!(arena.bytes(&status).starts_with(b"Name:"));
        }
        let e = arena.read_file(&d.join("missing"), &ReadOptions::default(), &c);
        assert!(matches!(
            e,
            Err(Error::Io {
                syscall: "open",
                ..
            })
        ));
    }

    #[test]
    fn spread_reads_match_plain_reads() {
        let d = dir();
        let p = d.join("big.bin");
        let len = SPREAD_MIN as usize + 5 * SPREAD_CHUNK / 2 + 123;
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let c = Cancel::default();
        // Chunks on real threads, in reverse order.
        let threads: Spread = &|n, f| {
            std::thread::scope(|s| {
                for i in (0..n).rev() {
                    s.spawn(move || f(i));
                }
            })
        };
        let got = read_file_spread(&p, &ReadOptions::default(), &c, threads).unwrap();
        assert!(got == data, "spread read differs");
        let part = ReadOptions {
            offset: 7,
            length: Some(SPREAD_MIN + 1),
            max_size: None,
        };
        let got = read_file_spread(&p, &part, &c, threads).unwrap();
        assert!(got[..] == data[7..7 + SPREAD_MIN as usize + 1]);
        let cancelled = Cancel::new();
        cancelled.cancel();
        assert!(matches!(
            read_file_spread(&p, &ReadOptions::default(), &cancelled, threads),
            Err(Error::Aborted)
        ));
    }

    #[test]
    fn open_flags() {
        assert_eq!(OpenFlags::parse("a+"), Some(OpenFlags::AppendRead));
        assert_eq!(OpenFlags::parse("rs"), None);
        let d = dir();
        let p = d.join("x");
        open(&p, OpenFlags::WriteExclusive, 0o600).unwrap();
        let e = open(&p, OpenFlags::WriteExclusive, 0o600).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EEXIST));
    }
}
