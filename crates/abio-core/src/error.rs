//! The failures of abio's core, structured so the binding can shape them like Node's errors.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Result with the core [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// A failure, with what a Node-style error object needs (`syscall`, `path`).
#[derive(Debug)]
pub enum Error {
    /// An OS call failed.
    Io {
        /// The OS error; `raw_os_error()` is the errno.
        source: io::Error,
        /// The system call's name as Node spells it (`open`, `read`, `write`, …).
        syscall: &'static str,
        /// The path involved, when there is one.
        path: Option<PathBuf>,
    },
    /// More bytes would be returned than the caller's `maxSize` allows.
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The size found (or a lower bound, for files of unknown size).
        size: u64,
        /// The limit given.
        max: u64,
    },
    /// The operation was cancelled through its [`crate::Cancel`].
    Aborted,
    /// The handle was closed.
    Closed,
    /// Bytes that should be a pack (or a frame) break a rule of docs/FORMAT.md.
    BadFormat(String),
    /// A checksum does not match: the bytes were corrupted.
    Checksum(String),
    /// A frame longer than the reader's (or the format's) limit.
    FrameTooLarge {
        /// The length announced or asked for.
        len: u64,
        /// The limit.
        max: u64,
    },
}

impl Error {
    /// An [`Error::Io`] from the calling thread's `errno`.
    pub fn last_os(syscall: &'static str, path: Option<&std::path::Path>) -> Self {
        Error::io(io::Error::last_os_error(), syscall, path)
    }

    /// An [`Error::Io`] from `source`.
    pub fn io(source: io::Error, syscall: &'static str, path: Option<&std::path::Path>) -> Self {
        Error::Io {
            source,
            syscall,
            path: path.map(|p| p.to_path_buf()),
        }
    }

    /// The errno of an [`Error::Io`].
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io {
                source,
                syscall,
                path,
            } => {
                write!(f, "{source}, {syscall}")?;
                if let Some(p) = path {
                    write!(f, " '{}'", p.display())?;
                }
                Ok(())
            }
            Error::TooLarge { path, size, max } => write!(
                f,
                "File '{}' is {size} bytes, over maxSize {max}",
                path.display()
            ),
            Error::Aborted => f.write_str("The operation was aborted"),
            Error::Closed => f.write_str("The file handle is closed"),
            Error::BadFormat(m) | Error::Checksum(m) => f.write_str(m),
            Error::FrameTooLarge { len, max } => {
                write!(f, "A frame of {len} bytes is over the limit of {max}")
            }
        }
    }
}

impl std::error::Error for Error {}
