//! Bytes going out to JS: exact `ArrayBuffer`s ([`OutBytes`], [`BatchOut`], [`MappedFile`],
//! [`NewArrayBuffer`]), a `Buffer` ([`OutBuffer`]) and an unpack's [`Layout`].

use abio_core::fs::{Arena, Mapping, Piece};
use napi::bindgen_prelude::{Buffer, ToNapiValue, TypeName, ValueType};
use napi::{sys, Env};

/// Results up to this size are copied into a V8-allocated `ArrayBuffer`; larger ones are
/// handed over as external memory. Measured here (`readFileSync` in a loop, µs per call,
/// copied vs external): 4 KiB 10 vs 12-15, 64 KiB 25-32 vs 66-87, 256 KiB 80-85 vs 215-585,
/// 1 MiB 265-330 vs 800-2400. V8 recycles its own buffers at once, while external ones
/// wait for finalizers, so every external read faults in fresh pages. The copy runs on
/// the JS thread, so the threshold stays where it costs at most tens of microseconds;
/// above it, zero-copy also keeps peak memory at one copy (a 1 GiB read costs 1 GiB).
pub const COPY_THRESHOLD: usize = 256 << 10;

/// Bytes for JS: become an `ArrayBuffer` whose `byteLength` is exactly `len()`.
pub struct OutBytes(pub Vec<u8>);

impl ToNapiValue for OutBytes {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let bytes = val.0;
        if bytes.len() > COPY_THRESHOLD {
            // Zero-copy: V8 takes the allocation and frees it in a finalizer.
            let ab = napi::bindgen_prelude::ArrayBuffer::from_data(&Env::from_raw(env), bytes)?;
            // SAFETY: forwarded from our caller's contract (JS thread, live env).
            return unsafe { ToNapiValue::to_napi_value(env, ab) };
        }
        // SAFETY: forwarded from our caller's contract (JS thread, live env).
        unsafe { copy_to_arraybuffer(env, &bytes) }
    }
}

/// A new V8-allocated `ArrayBuffer` holding a copy of `bytes`.
///
/// # Safety
/// On the JS thread of `env`.
unsafe fn copy_to_arraybuffer(env: sys::napi_env, bytes: &[u8]) -> napi::Result<sys::napi_value> {
    let mut data = std::ptr::null_mut();
    let mut out = std::ptr::null_mut();
    // SAFETY: JS thread (caller's contract); napi allocates `bytes.len()` writable bytes at
    // `data`, which we fill completely before the value is visible to JS.
    unsafe {
        napi::check_status!(sys::napi_create_arraybuffer(
            env,
            bytes.len(),
            &mut data,
            &mut out
        ))?;
        if !bytes.is_empty() {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), data.cast::<u8>(), bytes.len());
        }
    }
    Ok(out)
}

impl TypeName for OutBytes {
    fn type_name() -> &'static str {
        "ArrayBuffer"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

/// The files of a batch read, to become one `ArrayBuffer` each, in order: small ones are
/// copied out of the workers' arenas into V8's heap, large ones handed over like
/// [`OutBytes`].
pub struct BatchOut {
    arenas: Vec<Arena>,
    pieces: Vec<(usize, Piece)>,
}

impl BatchOut {
    /// `pieces[i]` is (index into `arenas` of the worker that read it, the bytes).
    pub fn new(arenas: Vec<Arena>, pieces: Vec<(usize, Piece)>) -> Self {
        BatchOut { arenas, pieces }
    }
}

impl ToNapiValue for BatchOut {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let mut array = std::ptr::null_mut();
        // SAFETY: JS thread (task completion); every value is set into `array` right away.
        unsafe {
            napi::check_status!(sys::napi_create_array_with_length(
                env,
                val.pieces.len(),
                &mut array
            ))?;
            for (i, (worker, piece)) in val.pieces.into_iter().enumerate() {
                let value = match piece {
                    Piece::Owned(bytes) => OutBytes::to_napi_value(env, OutBytes(bytes))?,
                    small => copy_to_arraybuffer(env, val.arenas[worker].bytes(&small))?,
                };
                napi::check_status!(sys::napi_set_element(env, array, i as u32, value))?;
            }
        }
        Ok(array)
    }
}

impl TypeName for BatchOut {
    fn type_name() -> &'static str {
        "ArrayBuffer[]"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

/// A packed buffer for JS: a `Buffer` of exactly these bytes, handed over without a copy
/// (copied into V8's heap when small, as [`OutBytes`]).
pub struct OutBuffer(pub Vec<u8>);

impl ToNapiValue for OutBuffer {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let bytes = val.0;
        if bytes.len() > COPY_THRESHOLD {
            // SAFETY: forwarded from our caller's contract (JS thread, live env).
            return unsafe { Buffer::to_napi_value(env, Buffer::from(bytes)) };
        }
        let mut data = std::ptr::null_mut();
        let mut out = std::ptr::null_mut();
        // SAFETY: JS thread; napi copies `bytes.len()` bytes from a live slice.
        napi::check_status!(unsafe {
            sys::napi_create_buffer_copy(
                env,
                bytes.len(),
                bytes.as_ptr().cast(),
                &mut data,
                &mut out,
            )
        })?;
        Ok(out)
    }
}

impl TypeName for OutBuffer {
    fn type_name() -> &'static str {
        "Buffer"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

/// What `unpack` hands the JS layer: `{ layout, names }`, where `layout` holds
/// `[kind, offset, length]` per part, filled in place in V8 memory — a `Uint32Array` when
/// the pack is under 4 GiB (half the memory to fault in and read), else a `Float64Array`
/// (exact up to 2^53) — and `names` the names of a record (else `null`).
pub struct Layout {
    buffer: NewArrayBuffer,
    count: usize,
    wide: bool,
    names: Option<Vec<String>>,
}

impl Layout {
    /// Room for `count` parts of a pack of `total` bytes (the caller checked that `count`
    /// is bounded by its input).
    pub fn new(env: &Env, count: usize, total: u64, named: bool) -> napi::Result<Self> {
        let wide = total > u32::MAX as u64;
        Ok(Layout {
            buffer: NewArrayBuffer::new(env, count * if wide { 24 } else { 12 })?,
            count,
            wide,
            names: named.then(|| Vec::with_capacity(count)),
        })
    }

    /// Records part `i` (parts come in order, each once; offsets and lengths are at most
    /// the `total` given to `new`).
    pub fn set(&mut self, i: usize, kind: u8, offset: u64, length: u64, name: &str) {
        if self.wide {
            let at = &mut self.buffer.as_mut()[i * 24..i * 24 + 24];
            at[..8].copy_from_slice(&(kind as f64).to_ne_bytes());
            at[8..16].copy_from_slice(&(offset as f64).to_ne_bytes());
            at[16..].copy_from_slice(&(length as f64).to_ne_bytes());
        } else {
            let at = &mut self.buffer.as_mut()[i * 12..i * 12 + 12];
            at[..4].copy_from_slice(&(kind as u32).to_ne_bytes());
            at[4..8].copy_from_slice(&(offset as u32).to_ne_bytes());
            at[8..].copy_from_slice(&(length as u32).to_ne_bytes());
        }
        if let Some(names) = self.names.as_mut() {
            names.push(name.to_string());
        }
    }
}

impl ToNapiValue for Layout {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let mut obj = std::ptr::null_mut();
        let mut typed = std::ptr::null_mut();
        // SAFETY: JS thread (caller's contract); every value is created and attached here.
        unsafe {
            let ab = NewArrayBuffer::to_napi_value(env, val.buffer)?;
            let kind = if val.wide {
                sys::TypedarrayType::float64_array
            } else {
                sys::TypedarrayType::uint32_array
            };
            napi::check_status!(sys::napi_create_typedarray(
                env,
                kind,
                val.count * 3,
                ab,
                0,
                &mut typed
            ))?;
            napi::check_status!(sys::napi_create_object(env, &mut obj))?;
            napi::check_status!(sys::napi_set_named_property(
                env,
                obj,
                c"layout".as_ptr(),
                typed
            ))?;
            let names = match val.names {
                Some(n) => Vec::<String>::to_napi_value(env, n)?,
                None => {
                    let mut null = std::ptr::null_mut();
                    napi::check_status!(sys::napi_get_null(env, &mut null))?;
                    null
                }
            };
            napi::check_status!(sys::napi_set_named_property(
                env,
                obj,
                c"names".as_ptr(),
                names
            ))?;
        }
        Ok(obj)
    }
}

impl TypeName for Layout {
    fn type_name() -> &'static str {
        "object"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

/// A privately mapped file for JS: an `ArrayBuffer` over the mapping, unmapped by its
/// finalizer when the `ArrayBuffer` is garbage-collected.
pub struct MappedFile(pub Mapping);

impl ToNapiValue for MappedFile {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        if val.0.is_empty() {
            // SAFETY: forwarded from our caller's contract.
            return unsafe { copy_to_arraybuffer(env, &[]) };
        }
        let (ptr, len) = (val.0.as_ptr(), val.0.len());
        // SAFETY: `ptr` is valid for `len` bytes for as long as the `Mapping` lives, and the
        // `Mapping` moves into the finalizer, which drops (unmaps) it after V8 lets go.
        let ab = unsafe {
            napi::bindgen_prelude::ArrayBuffer::from_external(
                &Env::from_raw(env),
                ptr,
                len,
                val.0,
                |_, m| drop(m),
            )
        }?;
        // SAFETY: forwarded from our caller's contract.
        unsafe { ToNapiValue::to_napi_value(env, ab) }
    }
}

impl TypeName for MappedFile {
    fn type_name() -> &'static str {
        "ArrayBuffer"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

/// A new V8-allocated `ArrayBuffer` of `len` bytes, to be filled in place on the JS thread
/// before it is returned to JS.
pub struct NewArrayBuffer {
    value: sys::napi_value,
    data: *mut u8,
    len: usize,
}

impl NewArrayBuffer {
    /// Allocates `len` bytes in V8's heap (zero-filled by V8).
    pub fn new(env: &Env, len: usize) -> napi::Result<Self> {
        let mut data = std::ptr::null_mut();
        let mut value = std::ptr::null_mut();
        // SAFETY: JS thread (the caller holds the call's `Env`); out-pointers are valid.
        napi::check_status!(unsafe {
            sys::napi_create_arraybuffer(env.raw(), len, &mut data, &mut value)
        })?;
        Ok(NewArrayBuffer {
            value,
            data: data.cast(),
            len,
        })
    }
}

impl AsMut<[u8]> for NewArrayBuffer {
    fn as_mut(&mut self) -> &mut [u8] {
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: V8 allocated `len` bytes at `data`, kept alive by `value` while this
        // handle scope lives; nothing else touches them before JS sees the buffer.
        unsafe { std::slice::from_raw_parts_mut(self.data, self.len) }
    }
}

impl ToNapiValue for NewArrayBuffer {
    unsafe fn to_napi_value(_env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        Ok(val.value)
    }
}

impl TypeName for NewArrayBuffer {
    fn type_name() -> &'static str {
        "ArrayBuffer"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}
