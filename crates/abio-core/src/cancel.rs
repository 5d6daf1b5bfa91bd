//! Cooperative cancellation shared between the JS thread and a worker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cancellation flag: set once from any thread, polled by long operations between
/// syscalls. `Cancel::default()` can never be cancelled and costs nothing to poll.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Option<Arc<AtomicBool>>);

impl Cancel {
    /// A flag that [`Cancel::cancel`] can set.
    pub fn new() -> Self {
        Cancel(Some(Arc::new(AtomicBool::new(false))))
    }

    /// Requests cancellation; operations polling this flag stop at their next check.
    pub fn cancel(&self) {
        if let Some(flag) = &self.0 {
            flag.store(true, Ordering::Release);
        }
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.load(Ordering::Acquire))
    }

    /// `Err(Error::Aborted)` once cancellation was requested.
    pub fn check(&self) -> crate::Result<()> {
        if self.is_cancelled() {
            Err(crate::Error::Aborted)
        } else {
            Ok(())
        }
    }
}
