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
        /// The limit given, or [`crate::fs::UNSIZED_MAX`].
        max: u64,
        /// True when the caller gave no limit: `max` is the default cap for files of
        /// unknown size, and `size` a lower bound.
        default_max: bool,
    },
    /// The operation was cancelled through its [`crate::Cancel`].
    Aborted,
    /// The handle (`"file handle"`, `"socket"`, `"server"`) was closed, or ended for writing.
    Closed(&'static str),
    /// The peer ended the stream before a whole read (`readExactly`, a frame) arrived.
    Ended {
        /// Bytes of the read that arrived.
        got: u64,
        /// Bytes the read needed.
        wanted: u64,
    },
    /// The connection closed in the middle of an HTTP body.
    BodyCut {
        /// Bytes of the body that arrived.
        got: u64,
        /// The body's announced length (`content-length`); `None` for a chunked body.
        wanted: Option<u64>,
    },
    /// A network call failed: like [`Error::Io`], with the address involved (Node's
    /// `address` and `port` properties).
    Net {
        /// The OS error; `raw_os_error()` is the errno.
        source: io::Error,
        /// `connect`, `listen`, `read`, `write`, …
        syscall: &'static str,
        /// The address (an IP, or a Unix socket path), when there is one.
        address: Option<String>,
        /// The port, for TCP.
        port: Option<u16>,
    },
    /// A host name did not resolve (Node's `getaddrinfo ENOTFOUND`).
    NotFound {
        /// The name looked up.
        host: String,
    },
    /// An HTTP request body is longer than `maxBodySize`.
    BodyTooLarge {
        /// The limit.
        max: u64,
    },
    /// A timeout expired (a connect's `timeout`).
    Timeout {
        /// What timed out (`connect`).
        what: &'static str,
        /// The limit, in milliseconds.
        ms: u64,
    },
    /// An HTTP response body is longer than the caller's `maxSize`.
    ResponseTooLarge {
        /// The size the server announced (`content-length`), or `None` when the limit was
        /// found while reading.
        size: Option<u64>,
        /// The limit.
        max: u64,
    },
    /// More than [`crate::client::MAX_REDIRECTS`] redirects.
    TooManyRedirects {
        /// The URL of the last redirect.
        url: String,
        /// The limit.
        max: u32,
    },
    /// A redirect to a URL that cannot be followed (another scheme, a bad `Location`).
    BadRedirect {
        /// The `Location` header.
        location: String,
        /// Why.
        reason: String,
    },
    /// A download got a final status outside 2xx (nothing was written).
    HttpStatus {
        /// The status.
        status: u16,
        /// The URL that answered.
        url: String,
    },
    /// A WebSocket server did not accept the upgrade.
    WsHandshake {
        /// The HTTP status it answered (0 when the answer was not HTTP).
        status: u16,
        /// What was wrong.
        reason: String,
    },
    /// Bytes that should be a pack (or a frame) break a rule of docs/FORMAT.md.
    BadFormat(String),
    /// The peer's HTTP/1.x is malformed (a response head that is not HTTP, a bad chunk size
    /// line in a chunked body): what was wrong.
    HttpParse(String),
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

    /// An [`Error::Net`] from `source`.
    pub fn net(source: io::Error, syscall: &'static str) -> Self {
        Error::Net {
            source,
            syscall,
            address: None,
            port: None,
        }
    }

    /// The errno of an [`Error::Io`] or [`Error::Net`] (see [`errno_of`]).
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } | Error::Net { source, .. } => errno_of(source),
            _ => None,
        }
    }
}

/// The errno an OS error stands for, in `libc`'s numbering (`libc::ENOENT`, …), on every
/// platform: on Unix its `raw_os_error()`; on Windows, whose OS errors are Win32 and
/// Winsock codes, the errno libuv translates it to (or the one [`errno_error`] made it
/// from, or one told by its [`io::ErrorKind`]). `None` when there is none.
pub fn errno_of(e: &io::Error) -> Option<i32> {
    #[cfg(unix)]
    {
        e.raw_os_error()
    }
    #[cfg(windows)]
    {
        windows::errno_of(e)
    }
}

/// An OS error for `errno` (`libc::EISDIR`, …), for failures abio finds itself;
/// [`errno_of`] gives `errno` back. On Unix simply `from_raw_os_error`; on Windows, where a
/// raw OS error is a Win32 code, the errno rides inside the error, with a matching kind.
pub fn errno_error(errno: i32) -> io::Error {
    #[cfg(unix)]
    {
        io::Error::from_raw_os_error(errno)
    }
    #[cfg(windows)]
    {
        windows::errno_error(errno)
    }
}

/// Windows: Win32 and Winsock codes to errno values, as libuv's `uv_translate_sys_error`.
#[cfg(windows)]
mod windows {
    use std::fmt;
    use std::io::{self, ErrorKind};

    /// An errno carried inside an `io::Error` (see [`super::errno_error`]).
    #[derive(Debug)]
    struct Errno(i32);

    impl fmt::Display for Errno {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} (errno {})", io::Error::from(kind(self.0)), self.0)
        }
    }

    impl std::error::Error for Errno {}

    pub fn errno_error(errno: i32) -> io::Error {
        io::Error::new(kind(errno), Errno(errno))
    }

    pub fn errno_of(e: &io::Error) -> Option<i32> {
        if let Some(Errno(n)) = e.get_ref().and_then(|r| r.downcast_ref::<Errno>()) {
            return Some(*n);
        }
        e.raw_os_error()
            .and_then(from_code)
            .or_else(|| from_kind(e.kind()))
    }

    /// The kind an errno gets, so that checks by kind (`WouldBlock`, …) see it.
    fn kind(errno: i32) -> ErrorKind {
        match errno {
            libc::ENOENT => ErrorKind::NotFound,
            libc::EACCES | libc::EPERM => ErrorKind::PermissionDenied,
            libc::EEXIST => ErrorKind::AlreadyExists,
            libc::EAGAIN | libc::EWOULDBLOCK => ErrorKind::WouldBlock,
            libc::EINTR => ErrorKind::Interrupted,
            libc::ECONNREFUSED => ErrorKind::ConnectionRefused,
            libc::ECONNRESET => ErrorKind::ConnectionReset,
            libc::ECONNABORTED => ErrorKind::ConnectionAborted,
            libc::ENOTCONN => ErrorKind::NotConnected,
            libc::EADDRINUSE => ErrorKind::AddrInUse,
            libc::EADDRNOTAVAIL => ErrorKind::AddrNotAvailable,
            libc::EPIPE => ErrorKind::BrokenPipe,
            libc::EINVAL => ErrorKind::InvalidInput,
            libc::ETIMEDOUT => ErrorKind::TimedOut,
            libc::ENOMEM => ErrorKind::OutOfMemory,
            libc::EISDIR => ErrorKind::IsADirectory,
            libc::ENOTDIR => ErrorKind::NotADirectory,
            libc::ENOTSUP => ErrorKind::Unsupported,
            _ => ErrorKind::Other,
        }
    }

    /// The errno of an error that has only a kind.
    fn from_kind(kind: ErrorKind) -> Option<i32> {
        Some(match kind {
            ErrorKind::NotFound => libc::ENOENT,
            ErrorKind::PermissionDenied => libc::EACCES,
            ErrorKind::AlreadyExists => libc::EEXIST,
            ErrorKind::WouldBlock => libc::EAGAIN,
            ErrorKind::Interrupted => libc::EINTR,
            ErrorKind::ConnectionRefused => libc::ECONNREFUSED,
            ErrorKind::ConnectionReset => libc::ECONNRESET,
            ErrorKind::ConnectionAborted => libc::ECONNABORTED,
            ErrorKind::NotConnected => libc::ENOTCONN,
            ErrorKind::AddrInUse => libc::EADDRINUSE,
            ErrorKind::AddrNotAvailable => libc::EADDRNOTAVAIL,
            ErrorKind::BrokenPipe => libc::EPIPE,
            ErrorKind::InvalidInput => libc::EINVAL,
            ErrorKind::TimedOut => libc::ETIMEDOUT,
            ErrorKind::OutOfMemory => libc::ENOMEM,
            ErrorKind::IsADirectory => libc::EISDIR,
            ErrorKind::NotADirectory => libc::ENOTDIR,
            ErrorKind::DirectoryNotEmpty => libc::ENOTEMPTY,
            ErrorKind::Unsupported => libc::ENOTSUP,
            _ => return None,
        })
    }

    /// A Win32 (`ERROR_*`) or Winsock (`WSAE*`) code's errno, as libuv maps it.
    fn from_code(code: i32) -> Option<i32> {
        Some(match code {
            1 => libc::EISDIR, // ERROR_INVALID_FUNCTION (reading a directory)
            2 | 3 | 15 | 123 | 126 | 161 | 267 => libc::ENOENT,
            4 | 10024 => libc::EMFILE,
            5 | 1314 => libc::EPERM, // ERROR_ACCESS_DENIED, as Node reports it
            6 | 10009 => libc::EBADF,
            8 | 14 => libc::ENOMEM,
            17 => libc::EXDEV,
            19 => libc::EROFS,
            32 | 33 | 231 => libc::EBUSY,
            39 | 112 => libc::ENOSPC,
            50 | 10045 => libc::ENOTSUP,
            64 | 10052 | 10054 => libc::ECONNRESET,
            80 | 183 => libc::EEXIST,
            87 | 122 | 10022 => libc::EINVAL,
            109 | 232 | 10058 => libc::EPIPE,
            121 | 10060 => libc::ETIMEDOUT,
            145 => libc::ENOTEMPTY,
            206 | 10063 => libc::ENAMETOOLONG,
            740 | 998 | 10013 => libc::EACCES,
            995 | 10004 => libc::ECANCELED,
            1225 | 10061 => libc::ECONNREFUSED,
            1227 | 10048 => libc::EADDRINUSE,
            1231 | 10051 => libc::ENETUNREACH,
            1232 | 10065 => libc::EHOSTUNREACH,
            1236 | 10053 => libc::ECONNABORTED,
            1921 => libc::ELOOP,
            2250 | 10057 => libc::ENOTCONN,
            10014 => libc::EFAULT,
            10035 => libc::EAGAIN,
            10036 => libc::EINPROGRESS,
            10037 => libc::EALREADY,
            10038 => libc::ENOTSOCK,
            10039 => libc::EDESTADDRREQ,
            10040 => libc::EMSGSIZE,
            10041 => libc::EPROTOTYPE,
            10042 => libc::ENOPROTOOPT,
            10043 => libc::EPROTONOSUPPORT,
            10047 => libc::EAFNOSUPPORT,
            10049 => libc::EADDRNOTAVAIL,
            10050 => libc::ENETDOWN,
            10055 => libc::ENOBUFS,
            10056 => libc::EISCONN,
            _ => return None,
        })
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
            Error::TooLarge {
                path,
                max,
                default_max: true,
                ..
            } => write!(
                f,
                "File '{}' has no known size and is over {max} bytes, the most read \
                 without maxSize",
                path.display()
            ),
            Error::TooLarge {
                path, size, max, ..
            } => write!(
                f,
                "File '{}' is {size} bytes, over maxSize {max}",
                path.display()
            ),
            Error::Aborted => f.write_str("The operation was aborted"),
            Error::Closed(what) => write!(f, "The {what} is closed"),
            Error::Ended { got, wanted } => {
                write!(f, "The peer ended the stream after {got} of {wanted} bytes")
            }
            Error::BodyCut {
                got,
                wanted: Some(wanted),
            } => write!(
                f,
                "The connection closed after {got} of the body's {wanted} bytes"
            ),
            Error::BodyCut { got, wanted: None } => write!(
                f,
                "The connection closed after {got} bytes of a chunked body, before its end"
            ),
            Error::Net {
                source,
                syscall,
                address,
                port,
            } => {
                write!(f, "{syscall} {source}")?;
                match (address, port) {
                    (Some(a), Some(p)) => write!(f, " {a}:{p}"),
                    (Some(a), None) => write!(f, " {a}"),
                    _ => Ok(()),
                }
            }
            Error::NotFound { host } => write!(f, "getaddrinfo ENOTFOUND {host}"),
            Error::BodyTooLarge { max } => {
                write!(f, "The request body is over maxBodySize ({max} bytes)")
            }
            Error::Timeout { what, ms } => write!(f, "{what} timed out after {ms} ms"),
            Error::ResponseTooLarge { size: Some(n), max } => write!(
                f,
                "The response body of {n} bytes is over maxSize ({max} bytes)"
            ),
            Error::ResponseTooLarge { size: None, max } => {
                write!(f, "The response body is over maxSize ({max} bytes)")
            }
            Error::TooManyRedirects { url, max } => {
                write!(f, "More than {max} redirects (the last to {url})")
            }
            Error::BadRedirect { location, reason } => {
                write!(f, "Cannot follow the redirect to {location:?}: {reason}")
            }
            Error::HttpStatus { status, url } => {
                write!(f, "The server answered {status} for {url}")
            }
            Error::WsHandshake { status, reason } => {
                write!(
                    f,
                    "The WebSocket handshake failed (status {status}): {reason}"
                )
            }
            Error::BadFormat(m) | Error::Checksum(m) | Error::HttpParse(m) => f.write_str(m),
            Error::FrameTooLarge { len, max } => {
                write!(f, "A frame of {len} bytes is over the limit of {max}")
            }
        }
    }
}

impl std::error::Error for Error {}
