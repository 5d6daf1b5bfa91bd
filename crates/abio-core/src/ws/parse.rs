//! Reading WebSocket frames: [`Parser`] turns received bytes into [`Incoming`] messages and
//! control frames for either [`Role`], and refuses what breaks RFC 6455 with a
//! [`Violation`] (its close code to answer).

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
        /// Its bytes, exactly.
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
}

impl Violation {
    /// The close code to answer with.
    pub fn code(&self) -> u16 {
        match self {
            Violation::Protocol(_) => code::PROTOCOL,
            Violation::TooBig { .. } => code::TOO_BIG,
            Violation::BadUtf8 => code::INVALID_DATA,
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

/// Turns received bytes into [`Incoming`]s. Feed it what arrives, in order; it consumes
/// whole frame headers and as much payload as there is, so a caller only keeps (at most) an
/// unfinished header between reads. A message is held until its last fragment, never more
/// than `max` bytes of it: a frame header that would take it over is refused at once.
pub struct Parser {
    role: Role,
    max: u64,
    frame: Option<Frame>,
    /// The data message being assembled: text?, bytes.
    message: Option<(bool, Vec<u8>)>,
    /// The control frame being read (it may be split across reads).
    control: Vec<u8>,
    /// A close frame was read: nothing after it is read.
    closed: bool,
}

impl Parser {
    /// A parser for `role`, holding messages of at most `max` bytes.
    pub fn new(role: Role, max: u64) -> Parser {
        Parser {
            role,
            max,
            frame: None,
            message: None,
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
            let sink = if frame.opcode.is_control() {
                &mut self.control
            } else {
                &mut self.message.as_mut().expect("a data frame has a message").1
            };
            let from = sink.len();
            sink.extend_from_slice(chunk);
            if let Some(key) = frame.mask {
                apply_mask(&mut sink[from..], key, frame.read);
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
        if b0 & 0x70 != 0 {
            return Err(Violation::Protocol(
                "reserved bits set without an extension",
            ));
        }
        let opcode = Opcode::of(b0 & 0x0f).ok_or(Violation::Protocol("unknown opcode"))?;
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
                (Opcode::Continuation, Some((_, m))) => {
                    if m.len() as u64 + len > self.max {
                        return Err(Violation::TooBig { max: self.max });
                    }
                    m.try_reserve(len as usize)
                        .map_err(|_| Violation::TooBig { max: self.max })?;
                }
                (_, Some(_)) => {
                    return Err(Violation::Protocol("a new message inside a fragmented one"))
                }
                (op, None) => {
                    if len > self.max {
                        return Err(Violation::TooBig { max: self.max });
                    }
                    // Checked against `max` first: the allocation is what the limit allows.
                    let mut m = Vec::new();
                    m.try_reserve_exact(len as usize)
                        .map_err(|_| Violation::TooBig { max: self.max })?;
                    self.message = Some((op == Opcode::Text, m));
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
                let (text, data) = self.message.take().expect("a data frame has a message");
                if text && std::str::from_utf8(&data).is_err() {
                    return Err(Violation::BadUtf8);
                }
                out.push(Incoming::Message { text, data });
            }
        }
        Ok(())
    }
}
