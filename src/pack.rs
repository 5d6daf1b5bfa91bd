//! Packing: the bindings of `abio_core::pack` (the format's one implementation).
//!
//! `lib/pack.js` hands over the parts as views plus one kind code per part (and the names
//! of a record); `unpack` hands back only the layout (kind, offset, length per part) and
//! the JS layer makes the views: a view made in JS costs a fraction of one made through
//! Node-API (measured ~19M/s against 5-6M/s).

use std::path::{Path, PathBuf};

use abio_core::fs::{self as core_fs, Mapping, WriteOptions};
use abio_core::pack::{self, Kind, PackOptions, Part};
use abio_core::Cancel;
use napi::bindgen_prelude::{AsyncTask, Buffer, BufferSlice, ClassInstance};
use napi::Env;
use napi_derive::napi;

use crate::bytes::{BorrowedList, HeldList, Layout, OutBuffer};
use crate::cancel::{cancel_of, CancelToken};
use crate::error::{sync_call, AbioError, AbioResult};
use crate::runtime::{job, spread, Job};
use crate::write_options::write_options;

/// The parts of a call as the core sees them.
fn parts<'a>(
    views: &'a [&'a [u8]],
    kinds: &[u8],
    names: &'a Option<Vec<String>>,
) -> AbioResult<Vec<Part<'a>>> {
    if kinds.len() != views.len() || names.as_ref().is_some_and(|n| n.len() != views.len()) {
        return Err(AbioError::InvalidArg(
            "parts, kinds and names differ in length".into(),
        ));
    }
    views
        .iter()
        .zip(kinds)
        .enumerate()
        .map(|(i, (bytes, &code))| {
            let kind = Kind::from_code(code)
                .ok_or_else(|| AbioError::InvalidArg(format!("unknown kind code {code}")))?;
            let name = names.as_ref().map_or("", |n| n[i].as_str());
            Ok(Part { kind, name, bytes })
        })
        .collect()
}

fn options(align: u32, checksum: bool, names: &Option<Vec<String>>) -> PackOptions {
    PackOptions {
        align,
        checksum,
        named: names.is_some(),
    }
}

/// Packs of this size and more checksum and copy their parts on several threads: one core
/// moves ~3.5 GB/s into fresh huge pages and checksums ~6 GB/s; smaller packs are not
/// worth a thread start (~50-100 µs).
const SPREAD_MIN: usize = 8 << 20;

fn spread_for(total: usize) -> abio_core::fs::Spread<'static> {
    if total >= SPREAD_MIN {
        &spread
    } else {
        &|n, f| (0..n).for_each(f)
    }
}

/// The pack format's kind codes: the JS type name of each, in code order. `lib/pack.js`
/// checks its own table against this when it loads, so the two cannot drift apart.
#[napi]
pub fn pack_kinds() -> Vec<&'static str> {
    Kind::ALL.iter().map(|k| k.js_name()).collect()
}

/// Packs `parts` (views, borrowed for the call) into a new `Buffer`: header, directory,
/// names, then each part at an `align`ed offset, with a CRC32C per part if `checksum`.
#[napi(ts_return_type = "Buffer")]
pub fn pack(
    env: Env,
    #[napi(ts_arg_type = "ArrayBufferView[]")] parts: BorrowedList,
    #[napi(ts_arg_type = "Uint8Array")] kinds: BufferSlice,
    names: Option<Vec<String>>,
    align: u32,
    checksum: bool,
) -> napi::Result<OutBuffer> {
    sync_call(&env, || {
        let views = parts.slices();
        let parts = self::parts(&views, &kinds, &names)?;
        let opts = options(align, checksum, &names);
        let plan = pack::plan(&parts, &opts)?;
        let total = usize::try_from(plan.total)
            .map_err(|_| AbioError::InvalidArg("pack too large".into()))?;
        let mut out = core_fs::alloc(total).map_err(|e| abio_core::Error::io(e, "pack", None))?;
        pack::pack_into_uninit(
            &mut out.spare_capacity_mut()[..total],
            &parts,
            &opts,
            spread_for(total),
        )?;
        // SAFETY: `pack_into_uninit` wrote every byte of `out[..total]`.
        unsafe { out.set_len(total) };
        Ok(OutBuffer(out))
    })
}

/// The number of bytes `pack` would make of these parts.
#[napi]
pub fn packed_size(
    env: Env,
    #[napi(ts_arg_type = "ArrayBufferView[]")] parts: BorrowedList,
    #[napi(ts_arg_type = "Uint8Array")] kinds: BufferSlice,
    names: Option<Vec<String>>,
    align: u32,
) -> napi::Result<f64> {
    sync_call(&env, || {
        let views = parts.slices();
        let parts = self::parts(&views, &kinds, &names)?;
        Ok(pack::plan(&parts, &options(align, false, &names))?.total as f64)
    })
}

/// Packs `parts` into `target` (borrowed); returns the packed length.
#[napi]
pub fn pack_into(
    env: Env,
    #[napi(ts_arg_type = "ArrayBufferView")] mut target: BufferSlice,
    #[napi(ts_arg_type = "ArrayBufferView[]")] parts: BorrowedList,
    #[napi(ts_arg_type = "Uint8Array")] kinds: BufferSlice,
    names: Option<Vec<String>>,
    align: u32,
    checksum: bool,
) -> napi::Result<f64> {
    sync_call(&env, || {
        let views = parts.slices();
        let (t_start, t_len) = (target.as_ptr() as usize, target.len());
        if views.iter().any(|v| {
            let start = v.as_ptr() as usize;
            !v.is_empty() && t_len > 0 && start < t_start + t_len && t_start < start + v.len()
        }) {
            return Err(AbioError::InvalidArg(
                "a part shares memory with the target: pack it from a copy".into(),
            ));
        }
        let parts = self::parts(&views, &kinds, &names)?;
        let opts = options(align, checksum, &names);
        let need = pack::plan(&parts, &opts)?.total;
        if need > t_len as u64 {
            return Err(AbioError::OutOfRange(format!(
                "The target holds {t_len} bytes, the pack needs {need}"
            )));
        }
        let out = core_fs::as_uninit(&mut target);
        let total = out.len();
        Ok(pack::pack_into_uninit(out, &parts, &opts, spread_for(total))? as f64)
    })
}

/// Checks `packed` (borrowed) and returns its layout for `lib/pack.js` to make views from:
/// `[kind, offset, length]` per part, written straight into V8 memory, and the names of a
/// record. Part checksums are verified on several threads for large packs.
#[napi(ts_return_type = "{ layout: Uint32Array | Float64Array; names: string[] | null }")]
pub fn unpack(
    env: Env,
    #[napi(ts_arg_type = "ArrayBufferView")] packed: BufferSlice,
    verify: bool,
) -> napi::Result<Layout> {
    sync_call(&env, || {
        let header = pack::parse_header(&packed, verify)?;
        // Bounded by the input: parse_header checked that the directory fits in it.
        let mut layout =
            Layout::new(&env, header.count, header.total, header.named).map_err(|_| {
                abio_core::Error::io(abio_core::error::errno_error(libc::ENOMEM), "unpack", None)
            })?;
        pack::parse_entries(&packed, &header, |i, kind, name, offset, length| {
            layout.set(i, kind as u8, offset, length, name)
        })?;
        if verify {
            pack::verify_parts(&packed, &header, spread_for(packed.len()))?;
        }
        Ok(layout)
    })
}

/// How `savePacked` packs and writes, as `lib/pack.js` checked it. An object, unlike
/// `writeFile`'s flags and mode: a pack is written for its bytes, not a call per message,
/// and its numbers are too many to keep apart by position.
#[napi(object, object_to_js = false)]
pub struct SaveOptions {
    /// Each part's offset is a multiple of this (a power of two from 8 to 4096).
    pub align: u32,
    /// A CRC32C per part.
    pub checksum: bool,
    /// [`crate::write_options::WriteFlag`] bits, as `writeFile`'s.
    pub flags: u32,
    /// A created file's mode; negative: the default.
    pub mode: i32,
}

/// Writes the pack of `parts` to `path` with one `writev` (header, each part, zero padding),
/// never building the packed buffer: the parts are held, not copied, until the promise
/// settles.
#[napi(ts_return_type = "Promise<number>")]
pub fn save_packed(
    path: String,
    #[napi(ts_arg_type = "ArrayBufferView[]")] parts: HeldList,
    #[napi(ts_arg_type = "Uint8Array")] kinds: Buffer,
    names: Option<Vec<String>>,
    save: SaveOptions,
    cancel: Option<ClassInstance<CancelToken>>,
) -> AsyncTask<Job<SaveArgs, f64>> {
    let SaveOptions {
        align,
        checksum,
        flags,
        mode,
    } = save;
    let (write, cancel) = (write_options(flags, mode), cancel_of(cancel));
    job(
        SaveArgs {
            path: PathBuf::from(path),
            parts,
            kinds,
            names,
        },
        move |a| {
            let views = a.parts.slices();
            let parts = self::parts(&views, &a.kinds, &a.names)?;
            let opts = options(align, checksum, &a.names);
            let plan = pack::plan(&parts, &opts)?;
            let crcs = match checksum {
                true => pack::checksums(&parts, spread_for(plan.total as usize)),
                false => Vec::new(),
            };
            let head = pack::header(&parts, &opts, &plan, &crcs);
            Ok(write_pieces(&a.path, &head, &parts, &plan, &write, &cancel)? as f64)
        },
    )
}

/// The inputs `savePacked` holds until it settles.
pub struct SaveArgs {
    path: PathBuf,
    parts: HeldList,
    kinds: Buffer,
    names: Option<Vec<String>>,
}

/// The iovecs of a pack: header, then each part preceded by its zero padding.
fn write_pieces(
    path: &Path,
    head: &[u8],
    parts: &[Part],
    plan: &pack::Plan,
    write: &WriteOptions,
    cancel: &Cancel,
) -> abio_core::Result<u64> {
    let mut pieces: Vec<&[u8]> = Vec::with_capacity(parts.len() * 2 + 1);
    pieces.push(head);
    let mut end = head.len() as u64;
    for (p, &at) in parts.iter().zip(&plan.offsets) {
        pieces.push(&pack::ZEROS[..(at - end) as usize]);
        pieces.push(p.bytes);
        end = at + p.bytes.len() as u64;
    }
    core_fs::write_file(path, &pieces, write, cancel)
}

/// Maps `path` privately for `loadPacked({ mmap: true })`: resolves with an `ArrayBuffer`
/// over the mapping, unmapped when it is garbage-collected.
#[napi(ts_return_type = "Promise<ArrayBuffer>")]
pub fn map_file(path: String) -> AsyncTask<Job<PathBuf, MappedFile>> {
    job(PathBuf::from(path), |path| {
        Ok(MappedFile(Mapping::open(path)?))
    })
}

pub use crate::bytes::MappedFile;
