//! Pure-Rust core of abio: everything that can be exercised without Node.
//!
//! The napi crate at the workspace root is a thin skin over this one: it converts JS
//! values to slices, calls into here, and turns [`Error`] into JS errors.
#![deny(missing_docs)]

pub mod cancel;
pub mod client;
pub mod error;
pub mod frame;
pub mod fs;
pub mod http;
pub mod net;
#[cfg(target_os = "linux")]
pub mod nowait;
/// Elsewhere there is no way to know that a read cannot block: every read takes the pool.
#[cfg(not(target_os = "linux"))]
#[path = "nowait_other.rs"]
pub mod nowait;
pub mod pack;
pub mod tls;
pub mod ws;

pub use cancel::Cancel;
pub use error::{Error, Result};
