//! The file engine: whole-file reads and writes, atomic replacement, and the positioned
//! I/O under `FileHandle`. Plain `std` and `libc`, no napi, so `cargo test` covers it.
//!
//! Every function does all of its syscalls on the calling thread: one trip to a worker
//! per JS call is what makes abio faster than `fs.promises`, which makes 4-5.
//!
//! One file per concern: the options and opening here; writing in [`write`] (with the
//! temporary file of an atomic write in `temp`), reading in [`read`] (files of
//! unknown size in `unsized_read`), memory maps in [`mmap`].

#[cfg(unix)]
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::mem::MaybeUninit;
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;
#[cfg(unix)]
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

mod unsized_read;
pub use unsized_read::UNSIZED_MAX;
mod temp;
mod write;
pub use write::{write_file, write_parts, FileSink};
mod read;
pub use read::{
    alloc, open_read, pread, read_at, read_file, read_file_into, read_file_spread, read_into_at,
    Arena, Piece, Spread, SPREAD_MIN,
};
mod mmap;
pub use mmap::Mapping;

/// Largest number of bytes one read or write syscall is asked to move, so that a
/// cancellation is seen within a few milliseconds even for multi-GiB transfers.
pub const CHUNK: usize = 64 << 20;

/// Buffers from this size on are advised to use transparent huge pages: page faults
/// cap a fresh 256 MiB buffer at 1.4-2 GB/s with 4 KiB pages, 5-6 GB/s with 2 MiB ones.
pub const HUGE_PAGE_THRESHOLD: usize = 4 << 20;

/// Most iovecs one `writev` accepts on Linux (`IOV_MAX`).
#[cfg(target_os = "linux")]
const IOV_MAX: usize = 1024;

/// How `write_file` writes.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// Append to the file (`O_APPEND`) instead of replacing its contents.
    pub append: bool,
    /// Write a temporary file beside the target, flush it and rename it over the target:
    /// readers see the old or the new contents, never a mix.
    pub atomic: bool,
    /// `fdatasync` before returning (and `fsync` the directory after an atomic rename).
    pub durable: bool,
    /// Mode for a new file (the umask applies); `None` is `0o666`. An atomic replace keeps
    /// the old file's mode unless this is given.
    pub mode: Option<u32>,
    /// Create missing parent directories.
    pub mkdirs: bool,
}

/// Which bytes `read_file` returns.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// First byte to read.
    pub offset: u64,
    /// Most bytes to read; `None` reads to the end.
    pub length: Option<u64>,
    /// Refuse (before allocating) to return more than this many bytes.
    pub max_size: Option<u64>,
}

/// The `flags` of `open()`, as Node spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenFlags {
    /// `r`: read; the file must exist.
    Read,
    /// `r+`: read and write; the file must exist.
    ReadWrite,
    /// `w`: write; created or truncated.
    Write,
    /// `w+`: read and write; created or truncated.
    WriteRead,
    /// `a`: append; created if missing.
    Append,
    /// `a+`: read and append; created if missing.
    AppendRead,
    /// `wx`: write; created, failing with `EEXIST` if it exists.
    WriteExclusive,
}

impl OpenFlags {
    /// Parses Node's flag string; `None` for flags abio does not offer.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "r" => OpenFlags::Read,
            "r+" => OpenFlags::ReadWrite,
            "w" => OpenFlags::Write,
            "w+" => OpenFlags::WriteRead,
            "a" => OpenFlags::Append,
            "a+" => OpenFlags::AppendRead,
            "wx" => OpenFlags::WriteExclusive,
            _ => return None,
        })
    }

    fn options(self) -> OpenOptions {
        let mut o = OpenOptions::new();
        match self {
            OpenFlags::Read => o.read(true),
            OpenFlags::ReadWrite => o.read(true).write(true),
            OpenFlags::Write => o.write(true).create(true).truncate(true),
            OpenFlags::WriteRead => o.read(true).write(true).create(true).truncate(true),
            OpenFlags::Append => o.append(true).create(true),
            OpenFlags::AppendRead => o.read(true).append(true).create(true),
            OpenFlags::WriteExclusive => o.write(true).create_new(true),
        };
        o
    }
}

fn io_err(e: io::Error, syscall: &'static str, path: &Path) -> Error {
    Error::io(e, syscall, Some(path))
}

#[cfg(unix)]
fn cvt(r: libc::ssize_t) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Sets the mode a created file gets (the umask applies). Windows has no modes: ignored,
/// as Node does there (a file's permissions come from its directory).
fn set_mode(o: &mut OpenOptions, mode: u32) -> &mut OpenOptions {
    #[cfg(unix)]
    o.mode(mode);
    #[cfg(windows)]
    let _ = mode;
    o
}

/// Opens `path` as `open()` does (`O_CLOEXEC` always; `mode` for created files).
pub fn open(path: &Path, flags: OpenFlags, mode: u32) -> Result<File> {
    set_mode(&mut flags.options(), mode)
        .open(path)
        .map_err(|e| io_err(e, "open", path))
}

/// The number JS sees as a file handle's `fd`: the descriptor on Unix, the `HANDLE`'s value
/// on Windows (Node shows a C runtime descriptor there; abio has none).
pub fn fd_number(file: &File) -> i32 {
    #[cfg(unix)]
    {
        file.as_raw_fd()
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::AsRawHandle;
        file.as_raw_handle() as usize as i32
    }
}

/// Closes `file`, reporting the error `close(2)` gives (`EINTR` is not one: the descriptor
/// is gone then). Windows' `CloseHandle` fails only for invalid handles: a plain drop.
pub fn close(file: File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::io::IntoRawFd;
        let fd = file.into_raw_fd();
        // SAFETY: `fd` was just released by its only owner; closing it once.
        if unsafe { libc::close(fd) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
        Ok(())
    }
    #[cfg(windows)]
    {
        drop(file);
        Ok(())
    }
}

/// What identifies one version of a file, for caches: device, inode, modification and
/// change times in nanoseconds. Windows (stable std) has no device or file index, nor a
/// change time: zeros, and the modification time twice.
pub fn version_stamp(m: &std::fs::Metadata) -> (u64, u64, i128, i128) {
    let ns = |s: i64, n: i64| s as i128 * 1_000_000_000 + n as i128;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (
            m.dev(),
            m.ino(),
            ns(m.mtime(), m.mtime_nsec()),
            ns(m.ctime(), m.ctime_nsec()),
        )
    }
    #[cfg(windows)]
    {
        let mtime = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| ns(d.as_secs() as i64, d.subsec_nanos() as i64));
        (0, 0, mtime, mtime)
    }
}

/// Views initialised bytes as possibly-uninitialised ones, to read into them.
pub fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and writing only initialised
    // bytes (which is all `read_into_at` does) keeps every byte initialised.
    unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast(), buf.len()) }
}

/// A path from raw bytes (file names need not be UTF-8 on Unix).
#[cfg(unix)]
pub fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(OsString::from_vec(bytes))
}

/// A path from raw bytes: UTF-8 on Windows (as Node reads a `Buffer` path there).
#[cfg(windows)]
pub fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::read::SPREAD_CHUNK;
    use super::*;
    use crate::Cancel;
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A fresh directory, removed when dropped.
    struct TempDir(PathBuf);

    impl std::ops::Deref for TempDir {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir() -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let d = std::env::temp_dir().join(format!(
            "abio-core-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    fn no_temp_files(d: &Path) -> bool {
        std::fs::read_dir(d).unwrap().all(|e| {
            !e.unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".abio-tmp")
        })
    }

    #[test]
    fn writes_parts_in_order_and_reads_back() {
        let d = dir();
        let p = d.join("a.bin");
        let n = write_file(
            &p,
            &[b"hello", b"", b" ", b"world"],
            &WriteOptions::default(),
            &Cancel::default(),
        )
        .unwrap();
        assert_eq!(n, 11);
        let got = read_file(&p, &ReadOptions::default(), &Cancel::default()).unwrap();
        assert_eq!(got, b"hello world");
        assert_eq!(got.capacity(), got.len());
    }

    #[test]
    fn sink_in_pieces_commits_or_leaves_nothing() {
        let d = dir();
        let p = d.join("s.bin");
        let none = Cancel::default();
        for atomic in [true, false] {
            let opts = WriteOptions {
                atomic,
                ..Default::default()
            };
            // Dropped midway: no file, no temporary file.
            let mut sink = FileSink::create(&p, &opts).unwrap();
            sink.write(&[b"part"], &none).unwrap();
            drop(sink);
            assert!(!p.exists(), "atomic {atomic}");
            assert!(no_temp_files(&d));
            // Committed over an older, longer file: exactly the pieces.
            std::fs::write(&p, vec![1u8; 100]).unwrap();
            let mut sink = FileSink::create(&p, &opts).unwrap();
            sink.write(&[b"ab", b"c"], &none).unwrap();
            sink.write(&[b"def"], &none).unwrap();
            assert_eq!(sink.written(), 6);
            if atomic {
                // Readers still see the old file until the commit.
                assert_eq!(std::fs::read(&p).unwrap().len(), 100);
            }
            assert_eq!(sink.commit().unwrap(), 6);
            assert_eq!(std::fs::read(&p).unwrap(), b"abcdef");
            // Dropped midway over an existing file: atomic keeps the old one whole.
            let mut sink = FileSink::create(&p, &opts).unwrap();
            sink.write(&[b"X"], &none).unwrap();
            drop(sink);
            let expect: &[u8] = if atomic { b"abcdef" } else { b"Xbcdef" };
            assert_eq!(std::fs::read(&p).unwrap(), expect);
            assert!(no_temp_files(&d));
            std::fs::remove_file(&p).unwrap();
        }
    }

    #[test]
    fn overwrite_with_shorter_data_cuts_the_tail() {
        let d = dir();
        let p = d.join("a.bin");
        std::fs::write(&p, vec![9u8; 10_000]).unwrap();
        write_file(&p, &[b"abc"], &WriteOptions::default(), &Cancel::default()).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"abc");
    }

    #[test]
    fn many_parts_beyond_iov_max() {
        let d = dir();
        let p = d.join("many.bin");
        let bytes: Vec<[u8; 3]> = (0..3000u32).map(|i| [i as u8, (i >> 8) as u8, 7]).collect();
        let parts: Vec<&[u8]> = bytes.iter().map(|b| &b[..]).collect();
        let n = write_file(&p, &parts, &WriteOptions::default(), &Cancel::default()).unwrap();
        assert_eq!(n, 9000);
        assert_eq!(std::fs::read(&p).unwrap(), bytes.concat());
    }

    #[test]
    fn append_and_mkdirs() {
        let d = dir();
        let p = d.join("x/y/z.txt");
        let opts = WriteOptions {
            mkdirs: true,
            append: true,
            ..Default::default()
        };
        write_file(&p, &[b"1"], &opts, &Cancel::default()).unwrap();
        write_file(&p, &[b"2"], &opts, &Cancel::default()).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"12");
        let e = write_file(
            &d.join("no/such.txt"),
            &[b"1"],
            &WriteOptions::default(),
            &Cancel::default(),
        )
        .unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENOENT));
    }

    #[cfg(unix)]
    #[test]
    fn atomic_keeps_mode_and_leaves_no_temp() {
        let d = dir();
        let p = d.join("a.json");
        std::fs::write(&p, b"old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let opts = WriteOptions {
            atomic: true,
            durable: true,
            ..Default::default()
        };
        write_file(&p, &[b"new contents"], &opts, &Cancel::default()).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new contents");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        assert!(no_temp_files(&d));
    }

    #[test]
    fn atomic_failure_keeps_old_file() {
        let d = dir();
        let p = d.join("a.bin");
        std::fs::write(&p, b"old").unwrap();
        let cancel = Cancel::new();
        cancel.cancel();
        let big = vec![1u8; 1 << 20];
        let opts = WriteOptions {
            atomic: true,
            ..Default::default()
        };
        // Cancelled before start.
        assert!(matches!(
            write_file(&p, &[&big], &opts, &cancel),
            Err(Error::Aborted)
        ));
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert!(no_temp_files(&d));
        // A directory as target.
        let e = write_file(&d, &[b"x"], &opts, &Cancel::default()).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EISDIR));
    }

    #[test]
    fn read_ranges_and_limits() {
        let d = dir();
        let p = d.join("r.bin");
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        std::fs::write(&p, &data).unwrap();
        let c = Cancel::default();
        let r = |offset, length, max_size| {
            read_file(
                &p,
                &ReadOptions {
                    offset,
                    length,
                    max_size,
                },
                &c,
            )
        };
        assert_eq!(r(100, Some(50), None).unwrap(), &data[100..150]);
        assert_eq!(r(9_990, Some(50), None).unwrap(), &data[9_990..]);
        assert!(r(20_000, None, None).unwrap().is_empty());
        assert_eq!(r(0, None, Some(10_000)).unwrap(), data);
        assert!(matches!(
            r(0, None, Some(9_999)),
            Err(Error::TooLarge { size: 10_000, .. })
        ));
        // The limit applies to what would be returned.
        assert_eq!(r(5_000, None, Some(5_000)).unwrap(), &data[5_000..]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_files_of_unknown_size() {
        let got = read_file(
            Path::new("/proc/self/status"),
            &ReadOptions::default(),
            &Cancel::default(),
        )
        .unwrap();
        assert!(got.starts_with(b"Name:"));
        let e = read_file(
            Path::new("/proc/self/status"),
            &ReadOptions {
                max_size: Some(10),
                ..Default::default()
            },
            &Cancel::default(),
        )
        .unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }));
    }

    #[test]
    fn errors_carry_syscall_and_path() {
        let d = dir();
        match read_file(
            &d.join("missing"),
            &ReadOptions::default(),
            &Cancel::default(),
        ) {
            Err(Error::Io {
                syscall,
                path,
                source,
            }) => {
                assert_eq!(syscall, "open");
                assert_eq!(path.unwrap(), d.join("missing"));
                assert_eq!(crate::error::errno_of(&source), Some(libc::ENOENT));
            }
            other => panic!("unexpected {other:?}"),
        }
        let e = read_file(&d, &ReadOptions::default(), &Cancel::default()).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EISDIR));
    }

    #[test]
    fn handle_reads_are_short_only_at_eof() {
        let d = dir();
        let p = d.join("h.bin");
        std::fs::write(&p, b"0123456789").unwrap();
        let f = open(&p, OpenFlags::Read, 0).unwrap();
        let c = Cancel::default();
        assert_eq!(read_at(&f, 2, 3, &c, &p).unwrap(), b"234");
        assert_eq!(read_at(&f, 8, 1 << 40, &c, &p).unwrap(), b"89");
        assert!(read_at(&f, 20, 5, &c, &p).unwrap().is_empty());
        let mut buf = [0u8; 4];
        assert_eq!(read_into_at(&f, as_uninit(&mut buf), 7, &c, &p).unwrap(), 3);
        assert_eq!(&buf[..3], b"789");
    }

    #[test]
    fn arena_packs_small_files_and_owns_large_ones() {
        let d = dir();
        let c = Cancel::default();
        let mut arena = Arena::default();
        let mut expected = Vec::new();
        let mut pieces = Vec::new();
        // ~3 blocks of 40 KiB files, one file over Arena::SMALL, and a /proc file.
        for i in 0..150usize {
            let len = if i == 70 {
                Arena::SMALL + 1
            } else {
                40_000 + i
            };
            let data: Vec<u8> = (0..len).map(|j| (i * 31 + j) as u8).collect();
            let p = d.join(format!("f{i}"));
            std::fs::write(&p, &data).unwrap();
            pieces.push(arena.read_file(&p, &ReadOptions::default(), &c).unwrap());
            expected.push(data);
        }
        assert!(matches!(pieces[70], Piece::Owned(_)));
        assert!(arena.blocks.len() >= 3);
        for (piece, want) in pieces.iter().zip(&expected) {
            assert_eq!(arena.bytes(piece), &want[..]);
        }
        #[cfg(target_os = "linux")]
        {
            let status = arena
                .read_file(Path::new("/proc/self/status"), &ReadOptions::default(), &c)
                .unwrap();
            assert!(arena.bytes(&status).starts_with(b"Name:"));
        }
        let e = arena.read_file(&d.join("missing"), &ReadOptions::default(), &c);
        assert!(matches!(
            e,
            Err(Error::Io {
                syscall: "open",
                ..
            })
        ));
    }

    #[test]
    fn spread_reads_match_plain_reads() {
        let d = dir();
        let p = d.join("big.bin");
        let len = SPREAD_MIN as usize + 5 * SPREAD_CHUNK / 2 + 123;
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let c = Cancel::default();
        // Chunks on real threads, in reverse order.
        let threads: Spread = &|n, f| {
            std::thread::scope(|s| {
                for i in (0..n).rev() {
                    s.spawn(move || f(i));
                }
            })
        };
        let got = read_file_spread(&p, &ReadOptions::default(), &c, threads).unwrap();
        assert!(got == data, "spread read differs");
        let part = ReadOptions {
            offset: 7,
            length: Some(SPREAD_MIN + 1),
            max_size: None,
        };
        let got = read_file_spread(&p, &part, &c, threads).unwrap();
        assert!(got[..] == data[7..7 + SPREAD_MIN as usize + 1]);
        let cancelled = Cancel::new();
        cancelled.cancel();
        assert!(matches!(
            read_file_spread(&p, &ReadOptions::default(), &cancelled, threads),
            Err(Error::Aborted)
        ));
    }

    #[test]
    fn open_flags() {
        assert_eq!(OpenFlags::parse("a+"), Some(OpenFlags::AppendRead));
        assert_eq!(OpenFlags::parse("rs"), None);
        let d = dir();
        let p = d.join("x");
        open(&p, OpenFlags::WriteExclusive, 0o600).unwrap();
        let e = open(&p, OpenFlags::WriteExclusive, 0o600).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EEXIST));
    }
}
