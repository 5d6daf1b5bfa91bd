//! Reads of files whose size `fstat` does not tell: pipes, FIFOs, character devices
//! (`/dev/zero` never ends) and `/proc`-like files that report 0 bytes. The buffer grows as
//! bytes arrive, and a default cap stops an endless file instead of reading until `ENOMEM`.

use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::path::Path;

use super::read::enomem;
use super::{io_err, read_into_at, CHUNK};
use crate::{Cancel, Error, Result};

/// Most bytes read from a file of unknown size when the caller gives no `maxSize`: Node's
/// `kIoMaxLength` (2 GiB - 1), where its `readFile` stops such files too. Regular files
/// of known size have no such cap.
pub const UNSIZED_MAX: u64 = (1 << 31) - 1;

/// First capacity of the growing buffer (`/proc` files are a few KiB; pipes bring 64 KiB).
const FIRST: usize = 64 << 10;

/// Reads a file of unknown size: from `position` with `pread` when given, else from the
/// file offset with `read` (first discarding `skip` bytes, which `pread` simply skips),
/// until end of file or `limit` bytes. Refuses more than `max` bytes (`None`:
/// [`UNSIZED_MAX`]) with [`Error::TooLarge`] as soon as one byte more has arrived, so an
/// endless file costs at most `max + 1` bytes of memory.
pub(super) fn read_unsized(
    file: &File,
    position: Option<u64>,
    skip: u64,
    limit: u64,
    max: Option<u64>,
    cancel: &Cancel,
    path: &Path,
) -> Result<Vec<u8>> {
    let cap = max.unwrap_or(UNSIZED_MAX);
    if position.is_none() && skip > 0 && !discard(file, skip, cancel, path)? {
        return Ok(Vec::new());
    }
    let start = position.map(|p| p.saturating_add(skip));
    // Never hold more than one byte over the cap: that byte proves the file too large.
    let most = limit.min(cap.saturating_add(1));
    let mut out: Vec<u8> = Vec::new();
    loop {
        let len = out.len() as u64;
        if len > cap {
            return Err(Error::TooLarge {
                path: path.to_path_buf(),
                size: len,
                max: cap,
                default_max: max.is_none(),
            });
        }
        if len == most {
            return Ok(out);
        }
        if out.len() == out.capacity() {
            let grown = (out.capacity().max(FIRST / 2) as u64).saturating_mul(2);
            let extra = usize::try_from(grown.min(most) - len).map_err(|_| enomem(path))?;
            out.try_reserve_exact(extra).map_err(|_| enomem(path))?;
        }
        let room = usize::try_from(most - len)
            .unwrap_or(usize::MAX)
            .min(out.capacity() - out.len())
            .min(CHUNK);
        let spare = &mut out.spare_capacity_mut()[..room];
        let n = match start {
            Some(p) => read_into_at(file, spare, p + len, cancel, path)?,
            None => read_some(file, spare, cancel, path)?,
        };
        // SAFETY: the read initialised the first `n` bytes of the spare capacity.
        unsafe { out.set_len(out.len() + n) };
        if n == 0 || (start.is_some() && n < room) {
            // End of file (a positioned read is short only there).
            return Ok(out);
        }
    }
}

/// Reads and drops `n` bytes from the file offset; false if the file ended first.
fn discard(file: &File, mut n: u64, cancel: &Cancel, path: &Path) -> Result<bool> {
    let mut scratch = vec![MaybeUninit::<u8>::uninit(); FIRST];
    while n > 0 {
        let want = usize::try_from(n).map_or(FIRST, |n| n.min(FIRST));
        match read_some(file, &mut scratch[..want], cancel, path)? {
            0 => return Ok(false),
            got => n -= got as u64,
        }
    }
    Ok(true)
}

/// One `read` from the file offset into `buf` (retried on `EINTR`); 0 only at end of file.
fn read_some(
    file: &File,
    buf: &mut [MaybeUninit<u8>],
    cancel: &Cancel,
    path: &Path,
) -> Result<usize> {
    loop {
        cancel.check()?;
        #[cfg(unix)]
        let r = {
            use std::os::unix::io::AsRawFd;
            // SAFETY: `buf` is writable memory owned by the caller for the duration of the
            // call; the kernel writes at most `buf.len()` bytes into it.
            let r = unsafe { libc::read(file.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if r < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(r as usize)
            }
        };
        #[cfg(windows)]
        let r = {
            use std::io::Read;
            buf.fill(MaybeUninit::new(0));
            // SAFETY: every byte of `buf` was just initialised.
            let buf = unsafe { &mut *(buf as *mut [MaybeUninit<u8>] as *mut [u8]) };
            (&mut &*file).read(buf)
        };
        match r {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e, "read", path)),
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn endless_files_stop_one_byte_over_the_cap() {
        let p = Path::new("/dev/zero");
        let f = File::open(p).unwrap();
        let c = Cancel::default();
        let e = read_unsized(&f, None, 0, u64::MAX, Some(100_000), &c, p).unwrap_err();
        assert!(matches!(
            e,
            Error::TooLarge {
                size: 100_001,
                max: 100_000,
                default_max: false,
                ..
            }
        ));
        let got = read_unsized(&f, Some(3), 5, 70_000, None, &c, p).unwrap();
        assert_eq!(got, vec![0; 70_000]);
        let got = read_unsized(&f, None, 100_000, 10, None, &c, p).unwrap();
        assert_eq!(got, vec![0; 10]);
    }

    #[test]
    fn proc_files_read_exactly() {
        let p = Path::new("/proc/version");
        let want = std::fs::read(p).unwrap();
        let c = Cancel::default();
        let f = File::open(p).unwrap();
        assert_eq!(
            read_unsized(&f, None, 0, u64::MAX, None, &c, p).unwrap(),
            want
        );
        let f = File::open(p).unwrap();
        assert_eq!(
            read_unsized(&f, Some(0), 2, 5, None, &c, p).unwrap(),
            &want[2..7]
        );
    }
}
