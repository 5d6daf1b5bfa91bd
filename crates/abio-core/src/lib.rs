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
#[cfg(target_os = "linux")]
pub mod net;
#[cfg(target_os = "linux")]
pub mod nowait;
pub mod pack;
#[cfg(target_os = "linux")]
pub mod ws;

pub use cancel::Cancel;
pub use error::{Error, Result};
