//! Cooperative cancellation shared between the JS thread and a worker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

type Hook = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Inner {
    flag: AtomicBool,
    hooks: Mutex<Vec<Hook>>,
}

/// A cancellation flag: set once from any thread, polled by long operations between
/// syscalls, or waited for through [`Cancel::on_cancel`]. `Cancel::default()` can never
/// be cancelled and costs nothing to poll.
#[derive(Clone, Default)]
pub struct Cancel(Option<Arc<Inner>>);

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cancel({})", self.is_cancelled())
    }
}

impl Cancel {
    /// A flag that [`Cancel::cancel`] can set.
    pub fn new() -> Self {
        Cancel(Some(Arc::default()))
    }

    /// Requests cancellation; operations polling this flag stop at their next check, and
    /// the hooks given to [`Cancel::on_cancel`] run (on this thread).
    pub fn cancel(&self) {
        if let Some(inner) = &self.0 {
            inner.flag.store(true, Ordering::Release);
            let hooks = std::mem::take(&mut *inner.hooks.lock().unwrap_or_else(|e| e.into_inner()));
            hooks.into_iter().for_each(|hook| hook());
        }
    }

    /// Runs `hook` once cancellation is requested: now if it already was, never for a
    /// flag that cannot be cancelled. For waking an operation that waits on something else.
    pub fn on_cancel(&self, hook: impl FnOnce() + Send + 'static) {
        let Some(inner) = &self.0 else { return };
        let mut hooks = inner.hooks.lock().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock: `cancel` sets the flag before taking the hooks.
        if inner.flag.load(Ordering::Acquire) {
            drop(hooks);
            hook();
        } else {
            hooks.push(Box::new(hook));
        }
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|inner| inner.flag.load(Ordering::Acquire))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn hooks_run_once_on_cancel_or_at_once_after_it() {
        let runs = Arc::new(AtomicUsize::new(0));
        let c = Cancel::new();
        let r = runs.clone();
        c.on_cancel(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        c.cancel();
        c.cancel();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let r = runs.clone();
        c.on_cancel(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        // A flag that cannot be cancelled never runs its hooks.
        Cancel::default().on_cancel(|| panic!("never"));
    }
}
