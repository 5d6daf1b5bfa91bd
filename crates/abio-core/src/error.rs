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

    /// The errno of an [`Error::Io`] or [`Error::Net`].
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } | Error::Net { source, .. } => source.raw_os_error(),
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
            Error::BadFormat(m) | Error::Checksum(m) => f.write_str(m),
            Error::FrameTooLarge { len, max } => {
                write!(f, "A frame of {len} bytes is over the limit of {max}")
            }
        }
    }
}

impl std::error::Error for Error {}
