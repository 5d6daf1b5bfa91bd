//! [`Mapping`]: a whole file mapped privately into memory (`loadPacked(path, { mmap: true })`);
//! on Windows a copy read into memory instead.

#[cfg(unix)]
use std::os::unix::io::AsRawFd;
use std::path::Path;

#[cfg(windows)]
use crate::Cancel;
#[cfg(unix)]
use crate::Error;
use crate::Result;

#[cfg(unix)]
use super::read::enomem;
#[cfg(unix)]
use super::{io_err, open_read};
#[cfg(windows)]
use super::{read_file, ReadOptions};

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
