//! Reading WebSocket frames: [`Parser`] turns received bytes into [`Incoming`] messages and
//! control frames for either [`Role`], and refuses what breaks RFC 6455 (or RFC 7692, when
//! permessage-deflate was agreed) with a [`Violation`] (its close code to answer).

use super::deflate::{Agreed, Inflater};
use super::{apply_mask, code, valid_close_code, Opcode, MAX_CONTROL};

/// Which side of the connection a [`Parser`] reads for: a server reads masked client frames,
/// a client reads unmasked server frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Reads frames from clients.
    Server,
    /// Reads frames from a server.
    Client,
}

/// What a [`Parser`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A whole message: text (checked UTF-8) or binary.
    Message {
        /// A text message.
        text: bool,
        /// Its bytes, exactly (decompressed, when it came compressed).
        data: Vec<u8>,
    },
    /// A ping: answer with a pong of the same payload.
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// The peer's close frame: its code (`None` when it had none) and reason.
    Close {
        /// The code, if the frame had one.
        code: Option<u16>,
        /// The reason (UTF-8), possibly empty.
        reason: String,
    },
}

/// Why the connection must be closed: [`Violation::code`] is the close code to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A protocol error (1002), with what was wrong.
    Protocol(&'static str),
    /// A message over the limit (1009).
    TooBig {
        /// The limit.
        max: u64,
    },
    /// A text message or close reason that is not UTF-8 (1007).
    BadUtf8,
    /// A compressed message that is not a valid deflate stream (1007, as `ws` answers).
    BadDeflate,
}

impl Violation {
    /// The close code to answer with.
    pub fn code(&self) -> u16 {
        match self {
            Violation::Protocol(_) => code::PROTOCOL,
            Violation::TooBig { .. } => code::TOO_BIG,
            Violation::BadUtf8 | Violation::BadDeflate => code::INVALID_DATA,
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::Protocol(what) => write!(f, "WebSocket protocol error: {what}"),
            Violation::TooBig { max } => {
                write!(f, "A WebSocket message is over maxPayload ({max} bytes)")
            }
            Violation::BadUtf8 => f.write_str("A WebSocket text message is not valid UTF-8"),
            Violation::BadDeflate => {
                f.write_str("A compressed WebSocket message is not a valid deflate stream")
            }
        }
    }
}

/// The frame being read.
#[derive(Clone, Copy)]
struct Frame {
    opcode: Opcode,
    fin: bool,
    mask: Option<[u8; 4]>,
    /// Payload bytes still to come.
    left: u64,
    /// Payload bytes already read (the masking key's phase).
    read: usize,
}

/// The data message being assembled.
struct Message {
    text: bool,
    /// Its first frame had RSV1 set (permessage-deflate).
    compressed: bool,
    /// The message so far (decompressed).
    data: Vec<u8>,
    /// Payload bytes announced by its frames' headers so far (compressed, when it is).
    wire: u64,
    /// A text message is known to be UTF-8 up to here (what follows may be the start of a
    /// character cut by a fragment or a read).
    valid: usize,
}

/// The most bytes a message of at most `max` bytes takes on the wire: `max`, or for a
/// compressed one the most deflate can make of `max` incompressible bytes (zlib's
/// `deflateBound`: stored blocks' headers), so that no message within `maxPayload` is
/// refused for the peer's choice to compress it. What it inflates to is held to `max`.
fn wire_limit(max: u64, compressed: bool) -> u64 {
    match compressed {
        false => max,
        true => max.saturating_add((max >> 12) + (max >> 14) + (max >> 25) + 64),
    }
}

/// Turns received bytes into [`Incoming`]s. Feed it what arrives, in order; it consumes
/// whole frame headers and as much payload as there is, so a caller only keeps (at most) an
/// unfinished header between reads. A message is held until its last fragment, never more
/// than `max` bytes of it: a frame header that would take it over is refused at once, and a
/// compressed message is refused as soon as its decompressed bytes pass `max`. A text
/// message is checked as its bytes arrive, failing at the first byte that cannot be UTF-8.
pub struct Parser {
    role: Role,
    max: u64,
    frame: Option<Frame>,
    message: Option<Message>,
    /// permessage-deflate, when it was agreed.
    inflater: Option<Inflater>,
    /// The control frame being read (it may be split across reads).
    control: Vec<u8>,
    /// A close frame was read: nothing after it is read.
    closed: bool,
}

impl Parser {
    /// A parser for `role`, holding messages of at most `max` bytes, without extensions.
    pub fn new(role: Role, max: u64) -> Parser {
        Parser::with_deflate(role, max, None)
    }

    /// A parser for `role`, holding messages of at most `max` bytes (decompressed), that
    /// reads messages compressed as `agreed` when permessage-deflate was agreed.
    pub fn with_deflate(role: Role, max: u64, agreed: Option<Agreed>) -> Parser {
        Parser {
            role,
            max,
            frame: None,
            message: None,
            inflater: agreed.map(|a| Inflater::new(&a, role)),
            control: Vec::new(),
            closed: false,
        }
    }

    /// Parses `input`, pushing what completes onto `out`; returns how many bytes of `input`
    /// were consumed (the rest is an unfinished frame header: give it again with more).
    /// After an error the connection must be closed with [`Violation::code`].
    pub fn parse(&mut self, input: &[u8], out: &mut Vec<Incoming>) -> Result<usize, Violation> {
        let mut at = 0;
        while at < input.len() && !self.closed {
            let mut frame = match self.frame {
                Some(f) => f,
                None => match self.start(&input[at..])? {
                    Some((f, n)) => {
                        at += n;
                        f
                    }
                    None => break,
                },
            };
            let n = (frame.left.min((input.len() - at) as u64)) as usize;
            let chunk = &input[at..at + n];
            at += n;
            if frame.opcode.is_control() {
                let from = self.control.len();
                self.control.extend_from_slice(chunk);
                if let Some(key) = frame.mask {
                    apply_mask(&mut self.control[from..], key, frame.read);
                }
            } else {
                self.data(&frame, chunk)?;
            }
            frame.read += n;
            frame.left -= n as u64;
            if frame.left > 0 {
                self.frame = Some(frame);
                continue;
            }
            self.frame = None;
            self.finish(frame, out)?;
        }
        // A zero-length frame at the very end of the input is finished above; one whose
        // header was all that arrived is finished here.
        if let Some(frame) = self.frame.filter(|f| f.left == 0) {
            self.frame = None;
            self.finish(frame, out)?;
        }
        Ok(at)
    }

    /// Reads a frame header at the start of `b`: `None` when it is not all there yet.
    fn start(&mut self, b: &[u8]) -> Result<Option<(Frame, usize)>, Violation> {
        if b.len() < 2 {
            return Ok(None);
        }
        let (b0, b1) = (b[0], b[1]);
        let rsv1 = b0 & 0x40 != 0;
        if b0 & 0x30 != 0 || rsv1 && self.inflater.is_none() {
            return Err(Violation::Protocol(
                "reserved bits set without an extension",
            ));
        }
        let opcode = Opcode::of(b0 & 0x0f).ok_or(Violation::Protocol("unknown opcode"))?;
        if rsv1 && opcode.is_control() {
            return Err(Violation::Protocol("RSV1 set on a control frame"));
        }
        if rsv1 && opcode == Opcode::Continuation {
            return Err(Violation::Protocol("RSV1 set on a continuation frame"));
        }
        let fin = b0 & 0x80 != 0;
        let masked = b1 & 0x80 != 0;
        match (self.role, masked) {
            (Role::Server, false) => return Err(Violation::Protocol("unmasked client frame")),
            (Role::Client, true) => return Err(Violation::Protocol("masked server frame")),
            _ => {}
        }
        let (len, mut n) = match b1 & 0x7f {
            126 if b.len() < 4 => return Ok(None),
            126 => (u16::from_be_bytes([b[2], b[3]]) as u64, 4),
            127 if b.len() < 10 => return Ok(None),
            127 => {
                let len = u64::from_be_bytes(b[2..10].try_into().expect("8 bytes"));
                if len >> 63 != 0 {
                    return Err(Violation::Protocol("a frame length with its top bit set"));
                }
                (len, 10)
            }
            l => (l as u64, 2),
        };
        let mask = if masked {
            if b.len() < n + 4 {
                return Ok(None);
            }
            n += 4;
            Some(b[n - 4..n].try_into().expect("4 bytes"))
        } else {
            None
        };
        if opcode.is_control() {
            if !fin {
                return Err(Violation::Protocol("a fragmented control frame"));
            }
            if len > MAX_CONTROL as u64 {
                return Err(Violation::Protocol("a control frame over 125 bytes"));
            }
            self.control.clear();
        } else {
            match (opcode, &mut self.message) {
                (Opcode::Continuation, None) => {
                    return Err(Violation::Protocol(
                        "a continuation frame without a message",
                    ))
                }
                (Opcode::Continuation, Some(m)) => {
                    m.wire = m.wire.saturating_add(len);
                    if m.wire > wire_limit(self.max, m.compressed) {
                        return Err(Violation::TooBig { max: self.max });
                    }
                    // A compressed message grows as it is inflated.
                    if !m.compressed {
                        m.data
                            .try_reserve(len as usize)
                            .map_err(|_| Violation::TooBig { max: self.max })?;
                    }
                }
                (_, Some(_)) => {
                    return Err(Violation::Protocol("a new message inside a fragmented one"))
                }
                (op, None) => {
                    if len > wire_limit(self.max, rsv1) {
                        return Err(Violation::TooBig { max: self.max });
                    }
                    // Checked against `max` first: the allocation is what the limit allows.
                    // A compressed message's size is not known: it grows as it is inflated.
                    let mut data = Vec::new();
                    if !rsv1 {
                        data.try_reserve_exact(len as usize)
                            .map_err(|_| Violation::TooBig { max: self.max })?;
                    }
                    self.message = Some(Message {
                        text: op == Opcode::Text,
                        compressed: rsv1,
                        data,
                        wire: len,
                        valid: 0,
                    });
                }
            }
        }
        let frame = Frame {
            opcode,
            fin,
            mask,
            left: len,
            read: 0,
        };
        Ok(Some((frame, n)))
    }

    /// The capacity of the message being assembled (tests check what a message may hold).
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.message.as_ref().map_or(0, |m| m.data.capacity())
    }

    /// Adds `chunk`, the next payload bytes of data frame `frame`, to the message: unmasked,
    /// inflated when it is compressed, and checked when it is text.
    fn data(&mut self, frame: &Frame, chunk: &[u8]) -> Result<(), Violation> {
        if chunk.is_empty() {
            return Ok(());
        }
        let m = self.message.as_mut().expect("a data frame has a message");
        if m.compressed {
            let inflater = self
                .inflater
                .as_mut()
                .expect("compressed only with deflate");
            match frame.mask {
                None => inflater.inflate(chunk, &mut m.data, self.max)?,
                Some(key) => {
                    // Unmasked a piece at a time on the stack: the input is not ours to change.
                    let mut buf = [0u8; 8192];
                    let mut offset = frame.read;
                    for piece in chunk.chunks(buf.len()) {
                        let buf = &mut buf[..piece.len()];
                        buf.copy_from_slice(piece);
                        apply_mask(buf, key, offset);
                        inflater.inflate(buf, &mut m.data, self.max)?;
                        offset += piece.len();
                    }
                }
            }
        } else {
            let from = m.data.len();
            m.data.extend_from_slice(chunk);
            if let Some(key) = frame.mask {
                apply_mask(&mut m.data[from..], key, frame.read);
            }
        }
        if m.text {
            check_utf8(m)?;
        }
        Ok(())
    }

    /// A frame's payload is all read.
    fn finish(&mut self, frame: Frame, out: &mut Vec<Incoming>) -> Result<(), Violation> {
        match frame.opcode {
            Opcode::Ping => out.push(Incoming::Ping(std::mem::take(&mut self.control))),
            Opcode::Pong => out.push(Incoming::Pong(std::mem::take(&mut self.control))),
            Opcode::Close => {
                let p = std::mem::take(&mut self.control);
                let (code, reason) = match p.len() {
                    0 => (None, String::new()),
                    1 => return Err(Violation::Protocol("a close frame with a 1-byte payload")),
                    _ => {
                        let code = u16::from_be_bytes([p[0], p[1]]);
                        if !valid_close_code(code) {
                            return Err(Violation::Protocol("an invalid close code"));
                        }
                        let reason =
                            String::from_utf8(p[2..].to_vec()).map_err(|_| Violation::BadUtf8)?;
                        (Some(code), reason)
                    }
                };
                self.closed = true;
                out.push(Incoming::Close { code, reason });
            }
            _ if !frame.fin => {}
            _ => {
                let mut m = self.message.take().expect("a data frame has a message");
                if m.compressed {
                    let inflater = self
                        .inflater
                        .as_mut()
                        .expect("compressed only with deflate");
                    inflater.finish(&mut m.data, self.max)?;
                    if m.text {
                        check_utf8(&mut m)?;
                    }
                }
                // A character cut at the end is cut for good.
                if m.text && m.valid != m.data.len() {
                    return Err(Violation::BadUtf8);
                }
                out.push(Incoming::Message {
                    text: m.text,
                    data: m.data,
                });
            }
        }
        Ok(())
    }
}

/// Checks the bytes of text message `m` past what is known to be UTF-8: an invalid sequence
/// fails at once, an incomplete one at the end waits for more bytes.
fn check_utf8(m: &mut Message) -> Result<(), Violation> {
    match std::str::from_utf8(&m.data[m.valid..]) {
        Ok(_) => m.valid = m.data.len(),
        Err(e) if e.error_len().is_some() => return Err(Violation::BadUtf8),
        Err(e) => m.valid += e.valid_up_to(),
    }
    Ok(())
}
