//! The temporary file of an atomic write: where it goes (the real file behind a symlink,
//! found by the kernel), how it is made (unnamed `O_TMPFILE` where the filesystem has it)
//! and how it replaces the target (named and renamed over it in one step a `SIGKILL` of
//! the process cannot split).

use std::ffi::OsString;
use std::fs::File;
#[cfg(target_os = "linux")]
use std::fs::OpenOptions;
use std::io;
#[cfg(target_os = "linux")]
use std::os::unix::{fs::OpenOptionsExt, io::AsRawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(target_os = "linux")]
use super::io_err;
use super::write::open_write;
use super::WriteOptions;
use crate::Result as CoreResult;

/// The file an atomic write through `path` replaces, and its metadata if it exists.
///
/// A symlink is followed by the kernel, not in user space: the link is opened (`O_PATH` on
/// Linux, which needs no permission on the file itself) and the real path read back from
/// the descriptor (`/proc/self/fd`). So the kernel's rules for following links apply as
/// for a plain write: with `fs.protected_symlinks`, a link in a sticky world-writable
/// directory (`/tmp`) owned by another user fails with `EACCES`, even for root, instead of
/// redirecting the write. A dangling link (`ENOENT`) is replaced itself, as before.
/// Without `/proc`, and outside Linux (where no such rule exists), the path is resolved
/// with `realpath`.
pub(super) fn resolve_target(path: &Path) -> CoreResult<(PathBuf, Option<std::fs::Metadata>)> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {}
        _ => return Ok((path.to_path_buf(), std::fs::metadata(path).ok())),
    }
    #[cfg(target_os = "linux")]
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(path);
    #[cfg(target_os = "linux")]
    match opened {
        Ok(f) => {
            let meta = f.metadata().map_err(|e| io_err(e, "fstat", path))?;
            let real = std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd()))
                .or_else(|_| std::fs::canonicalize(path))
                .map_err(|e| io_err(e, "realpath", path))?;
            // Removed since it was opened (the name then ends in " (deleted)"): the link
            // dangles now, and is replaced itself.
            use std::os::unix::fs::MetadataExt;
            if f.metadata().is_ok_and(|m| m.nlink() == 0) {
                return Ok((path.to_path_buf(), None));
            }
            Ok((real, Some(meta)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((path.to_path_buf(), None)),
        Err(e) => Err(io_err(e, "open", path)),
    }
    #[cfg(not(target_os = "linux"))]
    match std::fs::canonicalize(path) {
        Ok(real) => {
            let meta = std::fs::metadata(&real).ok();
            Ok((real, meta))
        }
        Err(_) => Ok((path.to_path_buf(), None)),
    }
}

/// A fresh name beside `target` for its temporary file (hidden, ending in `.abio-tmp`).
pub(super) fn temp_path(target: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut name = OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(format!(".{:x}.{n:x}{nanos:x}.abio-tmp", std::process::id()));
    target.with_file_name(name)
}

/// The file an atomic write fills: an unnamed one (`O_TMPFILE`) where the filesystem has
/// them, so that a process killed mid-write leaves nothing behind, else `tmp` created
/// exclusively. Returns whether the file is named.
pub(super) fn create_temp(dir: &Path, tmp: &Path, opts: &WriteOptions) -> CoreResult<(File, bool)> {
    #[cfg(target_os = "linux")]
    {
        let mut o = OpenOptions::new();
        o.write(true)
            .mode(opts.mode.unwrap_or(0o666))
            .custom_flags(libc::O_TMPFILE);
        let mut r = o.open(dir);
        if opts.mkdirs && matches!(&r, Err(e) if e.kind() == io::ErrorKind::NotFound) {
            std::fs::create_dir_all(dir).map_err(|e| io_err(e, "mkdir", dir))?;
            r = o.open(dir);
        }
        match r {
            Ok(f) => return Ok((f, false)),
            // No O_TMPFILE on this filesystem (or kernel): use a named file.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
                ) => {}
            Err(e) => return Err(io_err(e, "open", tmp)),
        }
    }
    // No O_TMPFILE outside Linux: always the named file.
    #[cfg(not(target_os = "linux"))]
    let _ = dir;
    open_write(tmp, opts, true).map(|f| (f, true))
}

/// Why [`publish`] failed: the error, its syscall, and whether `tmp` exists by then (and
/// must be removed).
#[cfg_attr(
    not(target_os = "linux"),
    allow(
        dead_code,
        reason = "only Linux has unnamed temporary files to publish"
    )
)]
pub(super) struct PublishError {
    pub err: io::Error,
    pub syscall: &'static str,
    pub linked: bool,
}

/// Gives the unnamed (`O_TMPFILE`) `file` the name `target`: directly if there is no such
/// file yet, else the name `tmp` renamed over `target`.
///
/// Between the two steps the file has a name, and a process killed there (`SIGKILL`, a
/// few times in a hundred kills of a process doing nothing but atomic writes, on ext4,
/// where the `linkat` waits on the journal) leaves it behind. So both steps run in a
/// helper process that shares this one's memory and descriptors and exists only for them
/// (`clone(CLONE_VM | CLONE_VFORK)`, as `posix_spawn` starts a child, with every signal
/// blocked): a signal that kills this process does not stop the helper, which finishes
/// the rename and exits (a moment after this process, at worst). If the helper cannot be
/// started (seccomp, a pid limit) the steps run here. The helper costs ~35 µs per
/// replace here (a 4 KiB atomic overwrite on tmpfs: 56 µs instead of 21), next to the
/// `fdatasync` of every atomic write (milliseconds on disks).
#[cfg(target_os = "linux")]
pub(super) fn publish(file: &File, tmp: &Path, target: &Path) -> Result<(), PublishError> {
    use std::os::unix::ffi::OsStrExt;
    let cstr = |p: &[u8]| {
        std::ffi::CString::new(p).map_err(|e| PublishError {
            err: e.into(),
            syscall: "link",
            linked: false,
        })
    };
    let proc_path = cstr(format!("/proc/self/fd/{}", file.as_raw_fd()).as_bytes())?;
    let tmp_c = cstr(tmp.as_os_str().as_bytes())?;
    let target_c = cstr(target.as_os_str().as_bytes())?;
    // A new file needs no temporary name at all: linked straight to the target, in one
    // step (EEXIST when the target exists: then the helper renames over it).
    // SAFETY: NUL-terminated paths that outlive the call.
    let direct = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            proc_path.as_ptr(),
            libc::AT_FDCWD,
            target_c.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if direct == 0 {
        return Ok(());
    }
    let mut steps = Steps {
        fd: file.as_raw_fd(),
        proc_path: proc_path.as_ptr(),
        tmp: tmp_c.as_ptr(),
        target: target_c.as_ptr(),
        done: 0,
        errno: 0,
    };
    if !in_helper(&mut steps) {
        run_steps((&mut steps as *mut Steps).cast());
    }
    match (steps.done, steps.errno) {
        (2, _) => Ok(()),
        (done, errno) => Err(PublishError {
            // A helper killed from outside reports no errno.
            err: if errno == 0 {
                io::ErrorKind::Interrupted.into()
            } else {
                io::Error::from_raw_os_error(errno)
            },
            syscall: if done == 0 { "link" } else { "rename" },
            linked: done == 1,
        }),
    }
}

/// What the helper of [`publish`] does, and how far it got.
#[cfg(target_os = "linux")]
#[repr(C)]
struct Steps {
    fd: libc::c_int,
    proc_path: *const libc::c_char,
    tmp: *const libc::c_char,
    target: *const libc::c_char,
    /// 0: nothing done; 1: linked as `tmp`; 2: renamed over `target`.
    done: libc::c_int,
    /// The failing step's errno.
    errno: libc::c_int,
}

/// Runs [`run_steps`] in a `CLONE_VM | CLONE_VFORK` helper process; false if none could be
/// started (then nothing was done).
#[cfg(target_os = "linux")]
fn in_helper(steps: &mut Steps) -> bool {
    const STACK: usize = 64 << 10;
    let mut stack = vec![0u8; STACK];
    let top = (stack.as_mut_ptr() as usize + STACK) & !15;
    // SAFETY: sigset_t is plain data that sigfillset initialises; the masks are this
    // thread's and restored below.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to the sets above.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // The helper runs while this thread sleeps: on this thread's CPU it needs no wake-up of
    // another one (an inter-processor interrupt, tens of µs on VMs). It inherits the mask.
    // SAFETY: cpu_set_t is plain data; the affinity calls read and write only the sets.
    let mut was: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: sched_getcpu takes nothing; the affinity calls get this thread's id (0) and the
    // sets above, of `size` bytes; the old affinity is restored below.
    let pinned = unsafe {
        let cpu = libc::sched_getcpu();
        let mut here: libc::cpu_set_t = std::mem::zeroed();
        cpu >= 0 && libc::sched_getaffinity(0, size, &mut was) == 0 && {
            libc::CPU_SET(cpu as usize, &mut here);
            libc::sched_setaffinity(0, size, &here) == 0
        }
    };
    // SAFETY: the helper runs `run_steps` on its own stack (`stack`, alive until it exits:
    // CLONE_VFORK suspends this thread until then) with `steps`, which outlives it for the
    // same reason. It only makes syscalls through libc's wrappers (errno lands in this
    // thread's TLS, unused while suspended), allocates nothing and takes no lock. No exit
    // signal: it is reaped below with __WCLONE, unseen by SIGCHLD handlers.
    let pid = unsafe {
        libc::clone(
            run_steps,
            top as *mut libc::c_void,
            libc::CLONE_VM
                | libc::CLONE_VFORK
                | libc::CLONE_FILES
                | libc::CLONE_FS
                | libc::CLONE_SIGHAND
                | libc::CLONE_SYSVSEM
                | libc::CLONE_IO,
            (steps as *mut Steps).cast(),
        )
    };
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    if pinned {
        // SAFETY: restores the affinity saved above.
        unsafe { libc::sched_setaffinity(0, size, &was) };
    }
    if pid <= 0 {
        return false;
    }
    let mut status = 0;
    // SAFETY: reaps the helper just started (a clone child: __WCLONE).
    while unsafe { libc::waitpid(pid, &mut status, libc::__WCLONE) } < 0
        && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
    {}
    drop(stack);
    true
}

/// The helper's body: `linkat` the descriptor's file to `tmp` (through `/proc/self/fd`, or
/// with `AT_EMPTY_PATH`, which needs CAP_DAC_READ_SEARCH, without `/proc`), then `rename`
/// it over `target`. Records progress in the `Steps` that `arg` points at.
#[cfg(target_os = "linux")]
extern "C" fn run_steps(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Steps` of `publish`, alive and not otherwise touched until
    // this returns (the caller is suspended or is this very thread).
    let s = unsafe { &mut *arg.cast::<Steps>() };
    // SAFETY: NUL-terminated paths owned by `publish`; the empty path with AT_EMPTY_PATH
    // names `s.fd`, an open descriptor shared with the caller (CLONE_FILES).
    unsafe {
        let linked = libc::linkat(
            libc::AT_FDCWD,
            s.proc_path,
            libc::AT_FDCWD,
            s.tmp,
            libc::AT_SYMLINK_FOLLOW,
        ) == 0
            || libc::linkat(
                s.fd,
                c"".as_ptr(),
                libc::AT_FDCWD,
                s.tmp,
                libc::AT_EMPTY_PATH,
            ) == 0;
        if !linked {
            s.errno = *libc::__errno_location();
            return 0;
        }
        s.done = 1;
        if libc::rename(s.tmp, s.target) != 0 {
            s.errno = *libc::__errno_location();
            return 0;
        }
        s.done = 2;
    }
    0
}

#[cfg(not(target_os = "linux"))]
pub(super) fn publish(_file: &File, _tmp: &Path, _target: &Path) -> Result<(), PublishError> {
    unreachable!("unnamed temporary files exist only on Linux")
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn publish_names_new_files_and_replaces_old_ones() {
        let d = std::env::temp_dir().join(format!("abio-publish-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let target = d.join("t");
        for (round, data) in [b"new".as_slice(), b"replaced"].into_iter().enumerate() {
            let opts = WriteOptions::default();
            let tmp = temp_path(&target);
            let (mut f, named) = create_temp(&d, &tmp, &opts).unwrap();
            if named {
                // No O_TMPFILE in this temporary directory: nothing to publish.
                drop(f);
                std::fs::remove_dir_all(&d).unwrap();
                return;
            }
            f.write_all(data).unwrap();
            assert!(publish(&f, &tmp, &target).is_ok(), "round {round}");
            assert_eq!(std::fs::read(&target).unwrap(), data);
            assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        }
        let link = d.join("l");
        std::os::unix::fs::symlink("t", &link).unwrap();
        let (real, meta) = resolve_target(&link).unwrap();
        assert_eq!(real, std::fs::canonicalize(&target).unwrap());
        assert!(meta.unwrap().is_file());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
