//! abio: move bytes between JavaScript memory, disk and network without copies.
//!
//! One module per area; see design.md section 1.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod body;
pub mod bytes;
pub mod cancel;
pub mod client;
pub mod error;
pub mod fs;
pub mod headers;
pub mod http;
pub mod net;
pub mod pack;
pub mod runtime;
pub mod tcp;
pub mod tls;
pub mod uv;
pub mod write_options;
pub mod ws;
