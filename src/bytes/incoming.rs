//! JS memory coming in: `Data` values ([`DataIn`], lists of them), a turn's writes
//! ([`WriteList`], copied or held per part: [`Outgoing`]), a read's target buffer
//! ([`ReadTarget`]) and a body held past the call ([`HeldBytes`]).

use napi::bindgen_prelude::{
    Buffer, BufferSlice, FromNapiValue, TypeName, ValidateNapiValue, ValueType,
};
use napi::sys;
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

/// A small `Data` value copied at the call (a certificate or key in PEM): a string's UTF-8
/// bytes, or a copy of the view's bytes. Nothing is held past the call.
pub struct CopiedBytes(pub Vec<u8>);

impl FromNapiValue for CopiedBytes {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        // SAFETY: forwarded from our caller (JS thread, a live value of this call).
        Ok(CopiedBytes(
            match unsafe { DataIn::<BufferSlice<'_>>::from_napi_value(env, value) }? {
                DataIn::Text(s) => s.into_bytes(),
                DataIn::View(b) => b.to_vec(),
            },
        ))
    }
}

impl TypeName for CopiedBytes {
    fn type_name() -> &'static str {
        "Data"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ValidateNapiValue for CopiedBytes {}
