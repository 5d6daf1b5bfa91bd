//! Writing files: [`write_file`] (whole files from parts, in place or atomically),
//! [`FileSink`] (a file written piece by piece, as a body arrives) and [`write_parts`]
//! (positioned writes of several parts under a `FileHandle`), with the mode, `fdatasync`
//! and directory-sync rules they share.

use std::fs::{File, OpenOptions};
use std::io;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
#[cfg(unix)]
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::errno_error;
use crate::{Cancel, Error, Result};

#[cfg(unix)]
use super::cvt;
use super::temp::{create_temp, publish, resolve_target, temp_path};
#[cfg(target_os = "linux")]
use super::IOV_MAX;
use super::{io_err, set_mode, WriteOptions, CHUNK};

pub(super) fn open_write(path: &Path, opts: &WriteOptions, exclusive: bool) -> Result<File> {
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
