//! Small reads completed on the calling (JS) thread when, and only when, that cannot block.
//!
//! An async read that goes to a pool thread and back costs two thread wake-ups (30-45 µs
//! each on these VMs), several times the syscalls themselves. When the file's name and
//! bytes are already in the kernel's caches, [`read_cached`] does the whole read in ~6
//! non-blocking syscalls instead, and declines (returns `None`) at the first sign that
//! anything might wait:
//!
//! 1. `openat2(O_PATH, RESOLVE_CACHED)`: resolves the path from the dentry cache only
//!    (`EAGAIN` if a lookup would need I/O) and, being `O_PATH`, never calls the
//!    filesystem's `open`.
//! 2. `statx(AT_STATX_DONT_SYNC)` on that descriptor: a regular file, not fs-verity
//!    (whose `open` reads from disk), on a mount whose filesystem keeps `open` and cached
//!    reads in memory (ext4, xfs, btrfs, tmpfs, …; never NFS, FUSE or other network or
//!    userspace filesystems, whose `open` may wait on a server). The mount is named by its
//!    unique, never reused id (`STATX_MNT_ID_UNIQUE`) and its filesystem read from memory
//!    with `statmount` (both Linux 6.8+; older kernels always take the normal path), so a
//!    cached answer can never describe a different mount.
//! 3. Reopen through `/proc/self/fd` with `O_NOATIME` (so the read cannot wait on a
//!    journal to update the access time; `EPERM` for files of other users declines).
//! 4. `preadv2(RWF_NOWAIT)`: returns `EAGAIN` instead of waiting for any page not cached.
//!
//! Only reads up to a caller-chosen size take this path, so the JS thread never copies
//! more than a few microseconds' worth.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::Mutex;

use crate::fs::ReadOptions;

/// Superblock magic numbers of filesystems whose `open` of a regular file for reading and
/// whose reads of cached pages never wait on I/O or another process: ext2/3/4, xfs, btrfs,
/// tmpfs, ramfs, f2fs.
const LOCAL_FILESYSTEMS: &[u64] = &[
    0xEF53,
    0x5846_5342,
    0x9123_683E,
    0x0102_1994,
    0x8584_58F6,
    0xF2F5_2010,
];

/// `statmount(2)`: the same number on every architecture (syscalls from 424 on share one
/// table); the libc crate does not name it for x86_64 yet.
const SYS_STATMOUNT: libc::c_long = 457;
const STATMOUNT_SB_BASIC: u64 = 1;

/// `struct mnt_id_req` of `statmount(2)`.
#[repr(C)]
struct MntIdReq {
    size: u32,
    spare: u32,
    mnt_id: u64,
    param: u64,
}

/// The head of `struct statmount` (the kernel writes no further than `size` says).
#[repr(C)]
#[derive(Default)]
struct StatMount {
    size: u32,
    mnt_opts: u32,
    mask: u64,
    sb_dev_major: u32,
    sb_dev_minor: u32,
    sb_magic: u64,
    rest: [u64; 30],
}

/// Whether the mount with this unique id holds a filesystem of [`LOCAL_FILESYSTEMS`]. Read
/// once per mount (from the superblock in memory: no filesystem callback) and cached:
/// unique mount ids are never reused.
fn mount_is_local(unique_id: u64) -> bool {
    static MOUNTS: Mutex<Option<HashMap<u64, bool>>> = Mutex::new(None);
    let Ok(mut mounts) = MOUNTS.lock() else {
        return false;
    };
    let mounts = mounts.get_or_insert_with(HashMap::new);
    if let Some(&local) = mounts.get(&unique_id) {
        return local;
    }
    let req = MntIdReq {
        size: std::mem::size_of::<MntIdReq>() as u32,
        spare: 0,
        mnt_id: unique_id,
        param: STATMOUNT_SB_BASIC,
    };
    let mut out = StatMount::default();
    // SAFETY: `req` is a valid `mnt_id_req`; `out` is writable for the size passed.
    let r = unsafe {
        libc::syscall(
            SYS_STATMOUNT,
            &req as *const MntIdReq,
            &mut out as *mut StatMount,
            std::mem::size_of::<StatMount>(),
            0,
        )
    };
    let local =
        r == 0 && out.mask & STATMOUNT_SB_BASIC != 0 && LOCAL_FILESYSTEMS.contains(&out.sb_magic);
    mounts.insert(unique_id, local);
    local
}

fn fd(raw: libc::c_int) -> Option<OwnedFd> {
    // SAFETY: `raw` was just returned by a successful open and is owned by no one else.
    (raw >= 0).then(|| unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Reads the bytes `opts` selects from `path` into a buffer from `alloc(len)` if the read can
/// complete without blocking and returns at most `max_len` bytes; `None` otherwise (then
/// nothing was allocated, or the buffer may be dropped, and the caller takes the normal
/// path, which also reports any error).
pub fn read_cached<B: AsMut<[u8]>>(
    path: &Path,
    opts: &ReadOptions,
    max_len: usize,
    alloc: impl FnOnce(usize) -> Option<B>,
) -> Option<B> {
    let cpath = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: `open_how` is plain integers; all-zero is valid (and required for fields
    // this libc does not name).
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_CACHED;
    // SAFETY: `cpath` is NUL-terminated and `how` is a valid `open_how` of the size passed.
    let raw = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            cpath.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    let opath = fd(raw as libc::c_int)?;

    // SAFETY: a zeroed `statx` is a valid out-parameter.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `opath` is open; the empty path with AT_EMPTY_PATH names it; `stx` is writable.
    // The raw syscall (as for openat2 and statmount): the C library's `statx` wrapper is only
    // in glibc >= 2.28 and musl >= 1.2.5, and a missing symbol would stop the addon loading.
    let r = unsafe {
        libc::syscall(
            libc::SYS_statx,
            opath.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_STATX_DONT_SYNC,
            libc::STATX_TYPE | libc::STATX_SIZE | libc::STATX_MNT_ID_UNIQUE,
            &mut stx as *mut libc::statx,
        )
    };
    let regular = u32::from(stx.stx_mode) & libc::S_IFMT == libc::S_IFREG;
    let verity = stx.stx_attributes & libc::STATX_ATTR_VERITY as u64 != 0;
    if r != 0 || !regular || verity || stx.stx_mask & libc::STATX_MNT_ID_UNIQUE == 0 {
        return None;
    }
    if !mount_is_local(stx.stx_mnt_id) {
        return None;
    }

    let size = stx.stx_size;
    let mut want = size.saturating_sub(opts.offset);
    if let Some(l) = opts.length {
        want = want.min(l);
    }
    if want > max_len as u64 || opts.max_size.is_some_and(|m| want > m) {
        return None;
    }

    let proc_path = CString::new(format!("/proc/self/fd/{}", opath.as_raw_fd())).ok()?;
    // SAFETY: a NUL-terminated path; the flags ask for a read-only descriptor.
    let raw = unsafe {
        libc::open(
            proc_path.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOATIME,
        )
    };
    let file = fd(raw)?;

    let mut buf = alloc(want as usize)?;
    let bytes = buf.as_mut();
    if bytes.is_empty() {
        return Some(buf);
    }
    let iov = libc::iovec {
        iov_base: bytes.as_mut_ptr().cast(),
        iov_len: bytes.len(),
    };
    // SAFETY: `iov` describes `bytes`, writable for its whole length; one iovec. The raw
    // syscall, as `statx` above (the wrapper needs glibc >= 2.26). Its offset comes in two
    // halves, low and high 32 bits (a 64-bit kernel takes all of it from the low one).
    let n = unsafe {
        libc::syscall(
            libc::SYS_preadv2,
            file.as_raw_fd(),
            &iov as *const libc::iovec,
            1,
            opts.offset as libc::c_ulong,
            (opts.offset >> 32) as libc::c_ulong,
            libc::RWF_NOWAIT,
        )
    };
    // Short (file shrank, or only part cached) or EAGAIN: the normal path reads it.
    (n >= 0 && n as usize == bytes.len()).then_some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_cached_file_and_declines_what_it_must() {
        let dir = std::env::temp_dir().join(format!("abio-nowait-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("small");
        std::fs::write(&p, b"0123456789").unwrap();
        let _ = std::fs::read(&p); // cached
        let all = ReadOptions::default();
        let got = read_cached(&p, &all, 1024, |n| Some(vec![0u8; n]));
        // Where the kernel has statmount (6.8+) and the temp dir is on a local filesystem,
        // the fast path must take the read; elsewhere it rightly declines.
        if expect_fast_path(&dir) {
            assert!(
                got.is_some(),
                "a cached file on a local filesystem was declined"
            );
        }
        if let Some(got) = got {
            assert_eq!(got, b"0123456789");
            let part = ReadOptions {
                offset: 2,
                length: Some(3),
                max_size: None,
            };
            assert_eq!(
                read_cached(&p, &part, 1024, |n| Some(vec![0u8; n])).unwrap(),
                b"234"
            );
            // Too big for the caller's limit, or over maxSize: declined.
            assert!(read_cached(&p, &all, 4, |n| Some(vec![0u8; n])).is_none());
            let capped = ReadOptions {
                max_size: Some(5),
                ..Default::default()
            };
            assert!(read_cached(&p, &capped, 1024, |n| Some(vec![0u8; n])).is_none());
        }
        assert!(read_cached(&dir.join("missing"), &all, 1024, |n| Some(vec![0u8; n])).is_none());
        assert!(read_cached(&dir, &all, 1024, |n| Some(vec![0u8; n])).is_none());
        assert!(
            read_cached(Path::new("/proc/self/status"), &all, 1 << 20, |n| Some(
                vec![0u8; n]
            ))
            .is_none()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn expect_fast_path(dir: &Path) -> bool {
        let c = CString::new(dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: a zeroed statfs is a valid out-parameter; `c` is NUL-terminated.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a NUL-terminated path and `st` a live out-parameter for the call.
        let local = unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0
            && LOCAL_FILESYSTEMS.contains(&(st.f_type as u64));
        let req = MntIdReq {
            size: 24,
            spare: 0,
            mnt_id: 0,
            param: 0,
        };
        // SAFETY: a probe with an invalid id: ENOSYS where statmount is missing, else ENOENT/EINVAL.
        let r = unsafe {
            libc::syscall(
                SYS_STATMOUNT,
                &req as *const MntIdReq,
                std::ptr::null_mut::<u8>(),
                0,
                0,
            )
        };
        let has_statmount =
            r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS);
        local && has_statmount
    }
}
