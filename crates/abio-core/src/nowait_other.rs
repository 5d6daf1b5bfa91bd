//! [`read_cached`] outside Linux: there is no `openat2(RESOLVE_CACHED)`, `statx` or
//! `preadv2(RWF_NOWAIT)` to tell that a read cannot block, so it always declines and every
//! read takes the normal (thread pool) path.

use std::path::Path;

use crate::fs::ReadOptions;

/// Always `None` here: the caller takes the normal path (see the Linux version).
pub fn read_cached<B: AsMut<[u8]>>(
    _path: &Path,
    _opts: &ReadOptions,
    _max_len: usize,
    _alloc: impl FnOnce(usize) -> Option<B>,
) -> Option<B> {
    None
}
