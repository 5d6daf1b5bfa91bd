//! WebSocket framing (RFC 6455), both roles, no I/O: frame headers to send, masking, the
//! handshake's accept key, close payloads, and [`Parser`] (in `parse.rs`), which turns
//! received bytes into messages and control frames and refuses whatever breaks the protocol
//! with the close code to answer. permessage-deflate (RFC 7692, in `deflate.rs`): the
//! handshake's negotiation, [`Deflater`] for what is sent, and the parser inflates what
//! arrives; the compression itself is flate2's (the zlib-rs backend, raw deflate with the
//! agreed window).
//!
//! Why not tungstenite or fastwebsockets (both measured equally fast here): abio sends a
//! message as a 2-14 byte header plus the caller's memory in one `writev`, never copying
//! the payload into a library's write buffer, and `broadcast` frames a message once and
//! hands the same bytes to every connection. The receive side enforces `maxPayload` on the
//! whole message from each frame's header, before buffering it (fastwebsockets caps frames
//! only), and on a compressed message's inflated bytes as they come out, so a small message
//! that inflates to gigabytes is refused having held no more than the limit; a text message
//! is checked as UTF-8 as its bytes arrive and refused at the first invalid one. This codec
//! is small enough to read top to bottom, and proptest and cargo-fuzz run against it.

mod deflate;
mod parse;
pub use deflate::{
    accept_client, negotiate_server, offer_client, Agreed, DeflateOptions, Deflater, Inflater,
    EXTENSION,
};
pub use parse::{Incoming, Parser, Role, Violation};

/// Longest frame header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEADER: usize = 14;
/// Longest payload of a control frame (close, ping, pong).
pub const MAX_CONTROL: usize = 125;

/// Frame opcodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Opcode {
    /// A later fragment of a message.
    Continuation = 0,
    /// A text message (UTF-8).
    Text = 1,
    /// A binary message.
    Binary = 2,
    /// The closing handshake.
    Close = 8,
    /// A ping, answered by a pong with the same payload.
    Ping = 9,
    /// A pong.
    Pong = 10,
}

impl Opcode {
    fn of(b: u8) -> Option<Opcode> {
        Some(match b {
            0 => Opcode::Continuation,
            1 => Opcode::Text,
            2 => Opcode::Binary,
            8 => Opcode::Close,
            9 => Opcode::Ping,
            10 => Opcode::Pong,
            _ => return None,
        })
    }

    fn is_control(self) -> bool {
        self as u8 >= 8
    }
}

/// Writes the header of a final frame of `len` payload bytes into `out`; returns its length.
/// `mask` is the client's masking key (client frames are masked, server frames are not).
pub fn header(
    opcode: Opcode,
    len: u64,
    mask: Option<[u8; 4]>,
    out: &mut [u8; MAX_HEADER],
) -> usize {
    header_with(opcode, len, mask, false, out)
}

/// [`header`], with RSV1 set when `rsv1`: the first (or only) frame of a message compressed
/// with permessage-deflate.
pub fn header_with(
    opcode: Opcode,
    len: u64,
    mask: Option<[u8; 4]>,
    rsv1: bool,
    out: &mut [u8; MAX_HEADER],
) -> usize {
    out[0] = 0x80 | if rsv1 { 0x40 } else { 0 } | opcode as u8;
    let m = if mask.is_some() { 0x80 } else { 0 };
    let mut n = if len < 126 {
        out[1] = m | len as u8;
        2
    } else if len <= u16::MAX as u64 {
        out[1] = m | 126;
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        out[1] = m | 127;
        out[2..10].copy_from_slice(&len.to_be_bytes());
        10
    };
    if let Some(key) = mask {
        out[n..n + 4].copy_from_slice(&key);
        n += 4;
    }
    n
}

/// XORs `data` with `key`, as if `data` started `offset` bytes into a frame's payload.
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let k = [0, 1, 2, 3].map(|i| key[(offset + i) % 4]);
    let wide = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes(c.try_into().expect("8 bytes")) ^ wide;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    // The tail starts at a multiple of 8 bytes from the start: the key phase is unchanged.
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= k[i % 4];
    }
}

/// The `Sec-WebSocket-Accept` answer to a `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    let mut h = sha1_smol::Sha1::new();
    h.update(key);
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64(&h.digest().bytes())
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Whether `code` may be sent in a close frame (RFC 6455 section 7.4, and the IANA
/// registry's 1012-1014, as `ws` accepts): 1004-1006 and 1015 are for reporting only.
pub fn valid_close_code(code: u16) -> bool {
    (1000..=1014).contains(&code) && !(1004..=1006).contains(&code) || (3000..=4999).contains(&code)
}

/// The payload of a close frame: the code, then the reason cut to fit 125 bytes at a
/// character boundary.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_CONTROL - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut p = Vec::with_capacity(2 + end);
    p.extend_from_slice(&code.to_be_bytes());
    p.extend_from_slice(&reason.as_bytes()[..end]);
    p
}

/// Close codes with a meaning of their own.
pub mod code {
    /// The purpose of the connection was fulfilled.
    pub const NORMAL: u16 = 1000;
    /// The endpoint is going away (a server shutting down).
    pub const GOING_AWAY: u16 = 1001;
    /// A protocol error.
    pub const PROTOCOL: u16 = 1002;
    /// No code was in the close frame (reported, never sent).
    pub const NO_STATUS: u16 = 1005;
    /// The connection closed without a close frame (reported, never sent).
    pub const ABNORMAL: u16 = 1006;
    /// A text message that is not UTF-8, or a compressed one that does not inflate.
    pub const INVALID_DATA: u16 = 1007;
    /// A message over the size limit.
    pub const TOO_BIG: u16 = 1009;
}

/// Masking keys for client frames: unpredictable (from the OS's random source, 4 KiB at a
/// time), as RFC 6455 section 10.3 asks, so that a page cannot steer what intermediaries see.
pub struct Masks {
    pool: Vec<u8>,
    at: usize,
}

impl Default for Masks {
    fn default() -> Self {
        Masks {
            pool: vec![0; 4096],
            at: 4096,
        }
    }
}

impl Masks {
    /// The next key.
    pub fn next_key(&mut self) -> [u8; 4] {
        if self.at + 4 > self.pool.len() {
            fill_random(&mut self.pool);
            self.at = 0;
        }
        let k = self.pool[self.at..self.at + 4].try_into().expect("4 bytes");
        self.at += 4;
        k
    }
}

/// Fills `buf` from the OS's random source (the `getrandom` crate: the `getrandom` syscall,
/// `getentropy`, `ProcessPrng`, ... per platform). There is no weaker fallback: a masking key
/// must be unpredictable (RFC 6455 section 10.3), so a system without a random source
/// cannot make one, and this panics (a panic in a call is reported as `ABIO_ERR_INTERNAL`).
pub fn fill_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the OS's random source works");
}

#[cfg(test)]
mod tests;
