//! What every network area shares (TCP sockets, the HTTP server and client, WebSockets):
//! dialing ([`dial`]) and the lock helper their shared state uses.

use std::sync::{Mutex, MutexGuard};

pub mod dial;

/// Locks `m`, also after a panic elsewhere poisoned it (the data stays consistent: every
/// critical section here is a few field updates).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
