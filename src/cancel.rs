//! The `AbortSignal` bridge shared by every area: `lib/` listens to the signal and sets a
//! [`CancelToken`]; the operation (a file call, a connect, a request) sees its
//! [`abio_core::Cancel`] at its next check.

use abio_core::Cancel;
use napi::bindgen_prelude::ClassInstance;
use napi_derive::napi;

/// A cancellation flag that `lib/` sets from an `AbortSignal`'s `abort` event; the
/// operation stops at its next check (between syscalls of at most 64 MiB).
#[napi]
pub struct CancelToken(Cancel);

#[napi]
impl CancelToken {
    /// A new, unset flag.
    #[napi(constructor)]
    #[allow(
        clippy::new_without_default,
        reason = "JS makes tokens with `new`; Rust never needs a default one"
    )]
    pub fn new() -> Self {
        CancelToken(Cancel::new())
    }

    /// Sets the flag.
    #[napi]
    pub fn cancel(&self) {
        self.0.cancel();
    }
}

/// The flag behind an optional token.
pub fn cancel_of(token: Option<ClassInstance<CancelToken>>) -> Cancel {
    token.map(|t| t.0.clone()).unwrap_or_default()
}
