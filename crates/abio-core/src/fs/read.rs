//! Reading files: whole files ([`read_file`], [`read_file_spread`] over several threads,
//! [`read_file_into`] caller memory), positioned reads under a `FileHandle` ([`read_at`],
//! [`read_into_at`], [`pread`]), many small files into one [`Arena`], and the buffers
//! they read into ([`alloc`], huge pages for large ones).

use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
#[cfg(unix)]
use std::os::unix::io::AsRawFd;
use std::path::Path;

use crate::error::errno_error;
use crate::{Cancel, Error, Result};

#[cfg(unix)]
use super::cvt;
use super::unsized_read::read_unsized;
use super::{io_err, open, OpenFlags, ReadOptions, CHUNK, HUGE_PAGE_THRESHOLD};

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

pub(super) fn enomem(path: &Path) -> Error {
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
pub(super) const SPREAD_CHUNK: usize = 16 << 20;

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
    pub(super) blocks: Vec<Block>,
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
pub(super) struct Block {
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
