//! JS memory in and out: the only module that converts JS byte values.
//!
//! In: `Data` is a string (encoded as UTF-8) or any `ArrayBufferView` (`Buffer`, every
//! TypedArray, `DataView`); `lib/` wraps bare `ArrayBuffer`s and `SharedArrayBuffer`s in a
//! `Uint8Array` first (Node 20's Node-API cannot see a bare `SharedArrayBuffer`). A view
//! is never copied: sync calls borrow it for the call ([`BorrowedList`]), async calls hold a
//! reference to it until their promise settles ([`HeldList`]).
//!
//! Out: [`OutBytes`] becomes an `ArrayBuffer` of exactly the bytes, handed over without
//! a copy, or copied into V8's heap when small (cheaper than an external buffer);
//! [`OutBuffer`] the same as a `Buffer` (packs); [`BatchOut`] one `ArrayBuffer` per file
//! of a batch; [`NewArrayBuffer`] V8 memory filled in place on the JS thread (cached reads,
//! [`Layout`] of an unpack); [`MappedFile`] an `ArrayBuffer` over a private mapping.

use abio_core::fs::{Arena, Mapping, Piece};
use napi::bindgen_prelude::{
    Buffer, BufferSlice, FromNapiValue, ToNapiValue, TypeName, ValidateNapiValue, ValueType,
};
use napi::{sys, Env};
use napi_derive::napi;

/// One `Data` value: a view of JS memory, or a string's UTF-8 bytes.
pub enum DataIn<V> {
    /// A view (borrowed or held, by `V`), never copied.
    View(V),
    /// A string, encoded to UTF-8 (lone surrogates become U+FFFD, as `Buffer.from`).
    Text(String),
}

impl<V: AsRef<[u8]>> DataIn<V> {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            DataIn::View(v) => v.as_ref(),
            DataIn::Text(s) => s.as_bytes(),
        }
    }
}

fn type_of(env: sys::napi_env, value: sys::napi_value) -> napi::Result<sys::napi_valuetype> {
    let mut t = 0;
    // SAFETY: `env` and `value` come straight from napi for this call.
    napi::check_status!(unsafe { sys::napi_typeof(env, value, &mut t) })?;
    Ok(t)
}

impl<V: FromNapiValue> FromNapiValue for DataIn<V> {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        if type_of(env, value)? == sys::ValueType::napi_string {
            // SAFETY: forwarded from our caller's contract; the value is a string.
            Ok(DataIn::Text(unsafe {
                String::from_napi_value(env, value)
            }?))
        } else {
            // SAFETY: forwarded; `napi_get_buffer_info` accepts any ArrayBufferView and
            // fails cleanly on anything else.
            Ok(DataIn::View(unsafe { V::from_napi_value(env, value) }?))
        }
    }
}

/// `Data | Data[]`: parts written in order (with `writev`, never concatenated).
pub struct DataList<V>(pub Vec<DataIn<V>>);

/// Borrowed parts of a sync call.
pub type BorrowedList<'a> = DataList<BufferSlice<'a>>;
/// Held parts of an async call.
pub type HeldList = DataList<Buffer>;

impl<V: AsRef<[u8]>> DataList<V> {
    /// Each part's bytes, in order.
    pub fn slices(&self) -> Vec<&[u8]> {
        self.0.iter().map(DataIn::as_bytes).collect()
    }
}

/// The values of `Data | Data[]`: the array's elements, or the one value.
///
/// # Safety
/// `env`/`value` come from napi for the current call (JS thread).
unsafe fn items(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Vec<sys::napi_value>> {
    let mut is_array = false;
    // SAFETY: caller's contract.
    napi::check_status!(unsafe { sys::napi_is_array(env, value, &mut is_array) })?;
    if !is_array {
        return Ok(vec![value]);
    }
    let mut len = 0;
    // SAFETY: `value` is an array.
    napi::check_status!(unsafe { sys::napi_get_array_length(env, value, &mut len) })?;
    let mut out = Vec::with_capacity(len as usize);
    for i in 0..len {
        let mut item = std::ptr::null_mut();
        // SAFETY: `i` < the array's length; `item` receives a value of this scope.
        napi::check_status!(unsafe { sys::napi_get_element(env, value, i, &mut item) })?;
        out.push(item);
    }
    Ok(out)
}

impl<V: FromNapiValue> FromNapiValue for DataList<V> {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        // SAFETY: forwarded from our caller; every item is a live value of this call.
        unsafe {
            items(env, value)?
                .into_iter()
                .map(|item| DataIn::from_napi_value(env, item))
                .collect::<napi::Result<_>>()
                .map(DataList)
        }
    }
}

/// Parts of an outgoing write up to this size are copied when handed over rather than held:
/// a copy of a few KiB costs less than the napi reference that holds a view (made at the
/// call, deleted on the JS thread later), and small writes of one call become one buffer.
/// `lib/ws.js` reads it from the binding: it copies payloads this small into a scratch area
/// it reuses once they are handed over, which is safe only because they are copied here.
#[napi]
pub const COPY_IN: u32 = 16 << 10;

/// One piece of an outgoing write.
pub enum SendPiece {
    /// Copied at the call (small parts, strings, a frame header).
    Owned(Vec<u8>),
    /// Held JS memory (large views), released when the write settles.
    Held(Buffer),
}

impl AsRef<[u8]> for SendPiece {
    fn as_ref(&self) -> &[u8] {
        match self {
            SendPiece::Owned(v) => v,
            SendPiece::Held(b) => b,
        }
    }
}

/// One write's `Data | Data[]`, after a `head`-byte header (a frame's length): when all of
/// it is small it is copied into `first` (one buffer, one iovec, one allocation); otherwise
/// small parts are copied and large views held, never concatenated.
pub struct Outgoing {
    /// The header (zero until [`Outgoing::head_mut`] fills it), then the data when it is
    /// all small.
    pub first: Vec<u8>,
    /// The other pieces, in order (none when all is in `first`).
    pub rest: Vec<SendPiece>,
    /// Bytes of data, the header not included.
    pub len: usize,
    /// The write was one string (a WebSocket sends it as a text message).
    pub text: bool,
    head: usize,
}

impl Outgoing {
    /// The header bytes, to fill once `len` is known.
    pub fn head_mut(&mut self) -> &mut [u8] {
        &mut self.first[..self.head]
    }

    /// Bytes in all, the header included.
    pub fn total(&self) -> usize {
        self.head + self.len
    }

    /// From the views and strings of one call: `first` gets the header, and the bytes too
    /// when they fit [`COPY_IN`]; `hold(i)` makes a held `Buffer` of part `i` otherwise.
    fn build(
        head: usize,
        parts: &mut [DataIn<BufferSlice<'_>>],
        mut hold: impl FnMut(usize) -> napi::Result<Buffer>,
    ) -> napi::Result<Self> {
        let len = parts.iter().map(|p| p.as_bytes().len()).sum::<usize>();
        let small = head + len <= COPY_IN as usize;
        let text = matches!(parts, [DataIn::Text(_)]);
        let mut first = Vec::with_capacity(if small { head + len } else { head });
        first.resize(head, 0);
        let mut rest = Vec::new();
        for (i, part) in parts.iter_mut().enumerate() {
            match part {
                part if small => first.extend_from_slice(part.as_bytes()),
                // A string's UTF-8 is our own copy already: moved, there is no JS memory to hold.
                DataIn::Text(s) => rest.push(SendPiece::Owned(std::mem::take(s).into_bytes())),
                DataIn::View(v) if v.len() <= COPY_IN as usize => {
                    rest.push(SendPiece::Owned(v.to_vec()))
                }
                DataIn::View(_) => rest.push(SendPiece::Held(hold(i)?)),
            }
        }
        Ok(Outgoing {
            first,
            rest,
            len,
            text,
            head,
        })
    }

    /// The bytes after the header, in order: `first`'s tail, then the other pieces, each
    /// as `bytes::Bytes` (held JS memory stays held, not copied).
    pub fn into_pieces(self) -> (Vec<u8>, Vec<bytes::Bytes>) {
        let rest = self
            .rest
            .into_iter()
            .map(|p| match p {
                SendPiece::Owned(v) => bytes::Bytes::from(v),
                SendPiece::Held(b) => bytes::Bytes::from_owner(b),
            })
            .collect();
        (self.first, rest)
    }

    /// One write from `value` (`Data`, or `Data[]` sent as one).
    ///
    /// # Safety
    /// JS thread; `env`/`value` are live values of the current call.
    pub unsafe fn from_js(
        env: sys::napi_env,
        value: sys::napi_value,
        head: usize,
    ) -> napi::Result<Self> {
        // SAFETY: the caller's contract. A `BufferSlice` only borrows the view for this
        // call; what outlives it is copied or becomes a held `Buffer`.
        unsafe {
            let mut is_array = false;
            napi::check_status!(sys::napi_is_array(env, value, &mut is_array))?;
            if !is_array {
                // One part (the common case): no list to allocate.
                let mut part = DataIn::<BufferSlice<'_>>::from_napi_value(env, value)?;
                let parts = std::slice::from_mut(&mut part);
                return Self::build(head, parts, |_| Buffer::from_napi_value(env, value));
            }
            let values = items(env, value)?;
            let mut parts = values
                .iter()
                .map(|&v| DataIn::<BufferSlice<'_>>::from_napi_value(env, v))
                .collect::<napi::Result<Vec<_>>>()?;
            Self::build(head, &mut parts, |i| {
                Buffer::from_napi_value(env, values[i])
            })
        }
    }
}

/// The writes a socket's JS layer gathered in one microtask turn: an array whose every
/// element is one write (`Data`, or `Data[]` sent as one). Read with [`WriteList::parse`]
/// during the call that received it.
pub struct WriteList {
    env: sys::napi_env,
    value: sys::napi_value,
}

impl WriteList {
    /// Each write, after a `head`-byte header; a write that cannot be read (a value of
    /// the wrong type) is its own `Err`, in its place.
    pub fn parse(&self, head: usize) -> napi::Result<Vec<napi::Result<Outgoing>>> {
        // SAFETY: `env`/`value` came with this call (see the type's doc), on the JS thread.
        unsafe {
            Ok(items(self.env, self.value)?
                .into_iter()
                .map(|v| Outgoing::from_js(self.env, v, head))
                .collect())
        }
    }
}

impl FromNapiValue for WriteList {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        Ok(WriteList { env, value })
    }
}

impl TypeName for WriteList {
    fn type_name() -> &'static str {
        "Array<Data | Data[]>"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ValidateNapiValue for WriteList {}

impl<V> TypeName for DataList<V> {
    fn type_name() -> &'static str {
        "Data | Data[]"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl<V> ValidateNapiValue for DataList<V> {}

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

/// A JS view to be filled in place (`readFileInto`, `FileHandle.readInto`), held until
/// the call settles.
pub struct ReadTarget(Buffer);

impl ReadTarget {
    /// The view's memory, to be written by a worker.
    ///
    /// The caller promised (see the typings) not to touch the view until the promise
    /// settles, the same contract as `fs.promises.read`.
    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl FromNapiValue for ReadTarget {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        // SAFETY: forwarded from our caller.
        Ok(ReadTarget(unsafe { Buffer::from_napi_value(env, value) }?))
    }
}

impl TypeName for ReadTarget {
    fn type_name() -> &'static str {
        "ArrayBufferView"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ValidateNapiValue for ReadTarget {}

impl<V> TypeName for DataIn<V> {
    fn type_name() -> &'static str {
        "Data"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl<V> ValidateNapiValue for DataIn<V> {}

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

/// A body kept past the call (an HTTP route's): a string's UTF-8 bytes, or a view of JS
/// memory held (not copied) for as long as the returned `bytes::Bytes` (and its clones)
/// live; the JS reference is released when the last one is dropped, on any thread.
pub struct HeldBytes(pub bytes::Bytes);

impl FromNapiValue for HeldBytes {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        // SAFETY: forwarded from our caller (JS thread, a live value of this call).
        Ok(HeldBytes(
            match unsafe { DataIn::<Buffer>::from_napi_value(env, value) }? {
                DataIn::Text(s) => bytes::Bytes::from(s),
                DataIn::View(b) => bytes::Bytes::from_owner(b),
            },
        ))
    }
}

impl TypeName for HeldBytes {
    fn type_name() -> &'static str {
        "Data"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ValidateNapiValue for HeldBytes {}

/// A JS string as header bytes: Latin-1, as Node writes header values; `None` when a
/// character is above U+00FF.
pub fn latin1_bytes(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

/// Header bytes as a JS string: Latin-1, as Node reads header values.
pub fn latin1_string(b: &[u8]) -> String {
    b.iter().map(|&b| b as char).collect()
}
