//! permessage-deflate (RFC 7692): negotiating it in the handshake's
//! `Sec-WebSocket-Extensions` headers, and compressing and decompressing messages with
//! flate2 (the zlib-rs backend, raw deflate with a chosen window).
//!
//! Window sizes: zlib cannot deflate with an 8-bit raw window, but its back-references
//! never reach further than the window minus 262 bytes, so a stream deflated with a 9-bit
//! window (references of at most 250 bytes) is a valid stream for a peer that asked for an
//! 8-bit one. Chromium does the same. A peer's 8 is therefore accepted and compressed with
//! 9; inflating always uses at least 9 bits, which reads any 8-bit stream. (zlib-rs keeps
//! zlib's limit, `max_dist() = w_size - MIN_LOOKAHEAD`, in every strategy; its 9-bit output
//! at levels 1, 6 and 9 was checked to inflate with C zlib's 8-bit window.)

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::{Role, Violation};

/// The extension's name in `Sec-WebSocket-Extensions`.
pub const EXTENSION: &str = "permessage-deflate";

/// The 4 bytes a sync flush ends with, which RFC 7692 section 7.2.1 removes from a
/// message's payload and section 7.2.2 puts back before inflating.
const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The largest window (32 KiB), which a side uses when nothing was agreed.
const MAX_BITS: u8 = 15;
/// The smallest window RFC 7692 allows.
const MIN_BITS: u8 = 8;

/// What one side asks for or accepts, from the user's options.
///
/// As a server: `*_no_context_takeover` are added to every answer (a client's own request
/// for them is always honoured); the window sizes are the largest this end agrees to, 15
/// meaning "no limit of ours" (a client's smaller request is honoured). As a client: they
/// are what the offer asks for, and the limits a server's answer is checked against.
/// Window sizes are 8..=15 (others are brought into that range).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeflateOptions {
    /// The server resets its compression context after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after each message.
    pub client_no_context_takeover: bool,
    /// The base-2 logarithm of the server's largest LZ77 window (8..=15; default 15).
    pub server_max_window_bits: u8,
    /// The base-2 logarithm of the client's largest LZ77 window (8..=15; default 15).
    pub client_max_window_bits: u8,
}

impl Default for DeflateOptions {
    fn default() -> Self {
        DeflateOptions {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_BITS,
            client_max_window_bits: MAX_BITS,
        }
    }
}

/// What was agreed for a connection (both sides' parameters; window sizes 8..=15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Agreed {
    /// The server resets its compression context after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after each message.
    pub client_no_context_takeover: bool,
    /// The base-2 logarithm of the server's largest LZ77 window.
    pub server_max_window_bits: u8,
    /// The base-2 logarithm of the client's largest LZ77 window.
    pub client_max_window_bits: u8,
}

impl Default for Agreed {
    /// permessage-deflate with no parameters: context takeover and 32 KiB windows both ways.
    fn default() -> Self {
        Agreed {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_BITS,
            client_max_window_bits: MAX_BITS,
        }
    }
}

impl Agreed {
    /// The parameters of the side that sends for `role`: (no context takeover, window bits).
    fn of(&self, role: Role) -> (bool, u8) {
        match role {
            Role::Server => (self.server_no_context_takeover, self.server_max_window_bits),
            Role::Client => (self.client_no_context_takeover, self.client_max_window_bits),
        }
    }
}

fn clamp_bits(bits: u8) -> u8 {
    bits.clamp(MIN_BITS, MAX_BITS)
}

/// Window bits as zlib takes them: 8 is compressed and inflated with 9 (see the module's
/// documentation).
fn zlib_bits(bits: u8) -> u8 {
    bits.clamp(9, MAX_BITS)
}

/// The parameters of one permessage-deflate offer or answer, checked for RFC 7692 section 7's
/// syntax: no unknown or repeated parameter, values only where they belong, window sizes
/// 8..=15 written without leading zeros.
#[derive(Default)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: named without a value (allowed in an offer only).
    client_max_window_bits: Option<Option<u8>>,
}

/// Splits header values into the non-empty elements of their comma-separated lists.
fn elements<'a>(values: &'a [&'a str]) -> impl Iterator<Item = &'a str> + 'a {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
}

/// A token (RFC 7230 `tchar`s).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A window size: 8..=15 in decimal without leading zeros; a quoted string's content must
/// be one too (RFC 6455 section 9.1: after unescaping it is a token).
fn window_bits(value: &str) -> Option<u8> {
    let v = match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"')?.replace('\\', ""),
        None => value.to_owned(),
    };
    match v.as_bytes() {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

/// Reads one element of the list: `None` when it is not permessage-deflate;
/// `Some(Err(why))` when it is, with parameters that break RFC 7692 (`offer` tells which
/// rules apply: only an offer may name `client_max_window_bits` without a value).
fn read(element: &str, offer: bool) -> Option<Result<Params, &'static str>> {
    let mut parts = element.split(';').map(str::trim);
    let name = parts.next().unwrap_or("");
    if !name.eq_ignore_ascii_case(EXTENSION) {
        return None;
    }
    Some(params(parts, offer))
}

/// The parameters of [`read`]'s element.
fn params<'a>(parts: impl Iterator<Item = &'a str>, offer: bool) -> Result<Params, &'static str> {
    let mut p = Params::default();
    for part in parts {
        let (key, value) = match part.split_once('=') {
            Some((k, v)) => (k.trim_end(), Some(v.trim_start())),
            None => (part, None),
        };
        if !is_token(key) {
            return Err("a malformed permessage-deflate parameter");
        }
        let bits = || value.and_then(window_bits);
        if key.eq_ignore_ascii_case("server_no_context_takeover") {
            if p.server_no_context_takeover || value.is_some() {
                return Err("server_no_context_takeover repeated or with a value");
            }
            p.server_no_context_takeover = true;
        } else if key.eq_ignore_ascii_case("client_no_context_takeover") {
            if p.client_no_context_takeover || value.is_some() {
                return Err("client_no_context_takeover repeated or with a value");
            }
            p.client_no_context_takeover = true;
        } else if key.eq_ignore_ascii_case("server_max_window_bits") {
            if p.server_max_window_bits.is_some() {
                return Err("server_max_window_bits repeated");
            }
            p.server_max_window_bits =
                Some(bits().ok_or("server_max_window_bits without a value in 8..15")?);
        } else if key.eq_ignore_ascii_case("client_max_window_bits") {
            if p.client_max_window_bits.is_some() {
                return Err("client_max_window_bits repeated");
            }
            p.client_max_window_bits = Some(match value {
                None if offer => None,
                None => return Err("client_max_window_bits without a value"),
                Some(_) => Some(bits().ok_or("client_max_window_bits with a value not in 8..15")?),
            });
        } else {
            return Err("an unknown permessage-deflate parameter");
        }
    }
    Ok(p)
}

/// Server: picks the first permessage-deflate offer it can accept among every value of the
/// request's `Sec-WebSocket-Extensions` headers (`offers`), combined with `ours`; returns
/// the agreement and the value of the response's `Sec-WebSocket-Extensions`, e.g.
/// `permessage-deflate; server_no_context_takeover`. `None`: no offer to accept (then the
/// connection is made without compression, not refused).
///
/// RFC 7692 section 5: an offer with an unknown, repeated or invalid parameter is declined
/// and the next one is tried. Section 7.1, parameter by parameter (as the `ws` package's
/// `acceptAsServer`, except where said):
/// - `server_no_context_takeover`: in the answer when offered or when ours.
/// - `client_no_context_takeover`: in the answer when offered (echoed, as `ws` does) or when
///   ours; it is only a hint in an offer.
/// - `server_max_window_bits`: an offered value limits us (we answer with the smaller of it
///   and ours; `ws` declines an offer below its own setting instead); without one, ours is
///   answered when under 15.
/// - `client_max_window_bits`: only answered when offered (a client that does not name it
///   uses 15, whatever ours is: the offer is still accepted, where `ws` declines it); the
///   answer is the smaller of its value and ours, left out when that is a bare 15.
pub fn negotiate_server(offers: &[&str], ours: &DeflateOptions) -> Option<(Agreed, String)> {
    let p = elements(offers).find_map(|e| read(e, true).and_then(Result::ok))?;
    let ours_server = clamp_bits(ours.server_max_window_bits);
    let ours_client = clamp_bits(ours.client_max_window_bits);
    let agreed = Agreed {
        server_no_context_takeover: p.server_no_context_takeover || ours.server_no_context_takeover,
        client_no_context_takeover: p.client_no_context_takeover || ours.client_no_context_takeover,
        server_max_window_bits: p
            .server_max_window_bits
            .map_or(ours_server, |v| v.min(ours_server)),
        client_max_window_bits: match p.client_max_window_bits {
            None => MAX_BITS,
            Some(None) => ours_client,
            Some(Some(v)) => v.min(ours_client),
        },
    };
    let mut answer = String::from(EXTENSION);
    if agreed.server_no_context_takeover {
        answer.push_str("; server_no_context_takeover");
    }
    if agreed.client_no_context_takeover {
        answer.push_str("; client_no_context_takeover");
    }
    if p.server_max_window_bits.is_some() || agreed.server_max_window_bits < MAX_BITS {
        answer.push_str(&format!(
            "; server_max_window_bits={}",
            agreed.server_max_window_bits
        ));
    }
    if matches!(p.client_max_window_bits, Some(Some(_)))
        || p.client_max_window_bits.is_some() && agreed.client_max_window_bits < MAX_BITS
    {
        answer.push_str(&format!(
            "; client_max_window_bits={}",
            agreed.client_max_window_bits
        ));
    }
    Some((agreed, answer))
}

/// Client: the `Sec-WebSocket-Extensions` value to offer for `ours`, e.g.
/// `permessage-deflate; client_max_window_bits` (as Chromium and `ws` offer by default:
/// `client_max_window_bits` is always named, with a value only when ours is under 15, so
/// that a server may limit our window).
pub fn offer_client(ours: &DeflateOptions) -> String {
    let mut offer = String::from(EXTENSION);
    if ours.server_no_context_takeover {
        offer.push_str("; server_no_context_takeover");
    }
    if ours.client_no_context_takeover {
        offer.push_str("; client_no_context_takeover");
    }
    let server = clamp_bits(ours.server_max_window_bits);
    if server < MAX_BITS {
        offer.push_str(&format!("; server_max_window_bits={server}"));
    }
    let client = clamp_bits(ours.client_max_window_bits);
    if client < MAX_BITS {
        offer.push_str(&format!("; client_max_window_bits={client}"));
    } else {
        offer.push_str("; client_max_window_bits");
    }
    offer
}

/// Client: checks the server's answer (every value of its `Sec-WebSocket-Extensions`
/// headers) against what [`offer_client`] offered for `ours`. `Ok(None)`: the server did not
/// enable compression. `Err(why)`: the answer is invalid (an extension we did not offer,
/// permessage-deflate twice, an unknown, repeated or malformed parameter, a window size out
/// of 8..=15 or above what we offered), and the client must fail the handshake.
///
/// An answer that leaves out something we asked the server for (`server_no_context_takeover`,
/// `server_max_window_bits`) is taken as the server not doing it, which we can always read,
/// rather than refused (as `ws` does).
pub fn accept_client(
    answers: &[&str],
    ours: &DeflateOptions,
) -> Result<Option<Agreed>, &'static str> {
    let mut found = None;
    for e in elements(answers) {
        let p = read(e, false)
            .ok_or("the server answered with an extension that was not offered")??;
        if found.is_some() {
            return Err("the server answered with permessage-deflate more than once");
        }
        found = Some(p);
    }
    let Some(p) = found else {
        return Ok(None);
    };
    let ours_server = clamp_bits(ours.server_max_window_bits);
    let ours_client = clamp_bits(ours.client_max_window_bits);
    let server = p.server_max_window_bits.unwrap_or(MAX_BITS);
    if p.server_max_window_bits.is_some() && server > ours_server {
        return Err("the server answered with a server_max_window_bits above the offer's");
    }
    let client = match p.client_max_window_bits {
        Some(Some(v)) if v > ours_client => {
            return Err("the server answered with a client_max_window_bits above the offer's")
        }
        Some(Some(v)) => v,
        _ => ours_client,
    };
    Ok(Some(Agreed {
        server_no_context_takeover: p.server_no_context_takeover,
        client_no_context_takeover: p.client_no_context_takeover || ours.client_no_context_takeover,
        server_max_window_bits: server,
        client_max_window_bits: client,
    }))
}

/// Compresses the outgoing messages of one side (RFC 7692 section 7.2.1).
///
/// The level is zlib's 1 (`Compression::fast()`) by default, favouring the sender's CPU over
/// size (`ws` uses zlib's default, 6): on ~700-byte JSON messages with context takeover,
/// zlib-rs's level 1 (its "quick" strategy, fixed Huffman codes) ran ~4x faster than level 2
/// and ~7x faster than 6, its output ~20% larger than level 2's and ~50% larger than 6's.
/// [`Deflater::with_level`] chooses another.
pub struct Deflater {
    z: Compress,
    /// The context is reset after each message.
    reset: bool,
}

impl Deflater {
    /// A deflater for the messages `role` sends: a server compresses with
    /// `server_max_window_bits` and resets its context after each message when
    /// `server_no_context_takeover`, a client likewise with the client's parameters.
    pub fn new(agreed: &Agreed, role: Role) -> Deflater {
        Deflater::with_level(agreed, role, Compression::fast().level())
    }

    /// [`Deflater::new`] at zlib's compression `level` (0, none, to 9; above 9 is 9).
    pub fn with_level(agreed: &Agreed, role: Role, level: u32) -> Deflater {
        let (reset, bits) = agreed.of(role);
        let level = Compression::new(level.min(9));
        Deflater {
            z: Compress::new_with_window_bits(level, false, zlib_bits(bits)),
            reset,
        }
    }

    /// The compressed payload of one whole message: deflated with a sync flush, its trailing
    /// `00 00 ff ff` removed. The context is reset after it when no context takeover applies.
    pub fn compress(&mut self, data: &[u8]) -> Vec<u8> {
        self.compress_parts(&[data])
    }

    /// [`Deflater::compress`] of a message given as the concatenation of `parts`.
    pub fn compress_parts(&mut self, parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        self.compress_into(parts, &mut out);
        out
    }

    /// [`Deflater::compress_parts`], appending to `out`.
    pub fn compress_into(&mut self, parts: &[&[u8]], out: &mut Vec<u8>) {
        let start = out.len();
        let total: usize = parts.iter().map(|p| p.len()).sum();
        // Most messages shrink: room for a third, grown as needed.
        out.reserve(total / 3 + 64);
        for part in parts {
            let mut input = *part;
            while !input.is_empty() {
                if out.len() == out.capacity() {
                    out.reserve(out.capacity().max(64));
                }
                let before = self.z.total_in();
                self.z
                    .compress_vec(input, out, FlushCompress::None)
                    .expect("deflate of valid input");
                input = &input[(self.z.total_in() - before) as usize..];
            }
        }
        // The flush is complete when it leaves room unused; zlib asks for more than 6 bytes
        // of room so as not to repeat the flush marker.
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(64));
            }
            self.z
                .compress_vec(&[], out, FlushCompress::Sync)
                .expect("deflate flush");
            if out.len() < out.capacity() {
                break;
            }
        }
        if out.len() == start {
            // zlib skips a flush right after another one (an empty message with the context
            // taken over): the payload of an empty message is an empty stored block's first
            // byte, the rest being the trailer (RFC 7692 section 7.2.3.6).
            out.push(0x00);
        } else {
            debug_assert!(
                out[start..].ends_with(&TRAILER),
                "a sync flush ends with 00 00 ff ff"
            );
            out.truncate(out.len() - TRAILER.len());
        }
        if self.reset {
            self.z.reset();
        }
    }
}

/// Decompresses the incoming messages of one side (RFC 7692 section 7.2.2), as their payload
/// arrives, into a buffer that never grows past a limit.
///
/// Its window is the peer's agreed one (so a server that limited `client_max_window_bits`
/// holds that much per connection). A peer that reaches back further than it agreed is
/// refused with [`Violation::BadDeflate`] when the reference leaves what the inflater holds;
/// a reference into output of the same inflate call is still read (zlib's behaviour), so
/// whether such a broken stream is refused can depend on how its bytes arrive. With 15 bits
/// (the default) the window is deflate's longest distance and nothing depends on it.
pub struct Inflater {
    z: Decompress,
    /// The peer resets its context after each message: so do we.
    reset: bool,
    /// The message's stream ended with a block with BFINAL set: the rest of the message
    /// (the trailer at least) is ignored, and the next one starts a new stream.
    ended: bool,
}

impl Inflater {
    /// An inflater for the messages `role` receives: a server reads the client's (compressed
    /// with `client_max_window_bits`, context reset after each message when
    /// `client_no_context_takeover`), a client the server's.
    pub fn new(agreed: &Agreed, role: Role) -> Inflater {
        let peer = match role {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        let (reset, bits) = agreed.of(peer);
        Inflater {
            z: Decompress::new_with_window_bits(false, zlib_bits(bits)),
            reset,
            ended: false,
        }
    }

    /// Inflates `input`, the next bytes of a message's compressed payload, appending to
    /// `out`. `out` never holds more than `max` + 1 bytes and its capacity never passes
    /// that: [`Violation::TooBig`] as soon as the output passes `max`.
    /// [`Violation::BadDeflate`] when the stream is corrupt.
    pub fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>, max: u64) -> Result<(), Violation> {
        if self.ended {
            return Ok(());
        }
        self.run(input, out, max)
    }

    /// Ends a message whose compressed payload was all given to [`Inflater::inflate`]: feeds
    /// the removed `00 00 ff ff`, and resets the context when the peer does not take it over.
    pub fn finish(&mut self, out: &mut Vec<u8>, max: u64) -> Result<(), Violation> {
        if !self.ended {
            self.run(&TRAILER, out, max)?;
        }
        if self.ended || self.reset {
            self.z.reset(false);
        }
        self.ended = false;
        Ok(())
    }

    fn run(&mut self, mut input: &[u8], out: &mut Vec<u8>, max: u64) -> Result<(), Violation> {
        let too_big = Violation::TooBig { max };
        // Room for at most one byte over `max`: the byte that shows the message is too big.
        let cap = usize::try_from(max).unwrap_or(usize::MAX).saturating_add(1);
        loop {
            if out.len() == out.capacity() {
                if out.len() >= cap {
                    return Err(too_big);
                }
                // Doubling (from a guess at what this input makes), up to the limit.
                let want = out
                    .capacity()
                    .saturating_mul(2)
                    .max(out.len() + input.len().saturating_mul(4).max(256))
                    .min(cap);
                out.try_reserve_exact(want - out.len())
                    .map_err(|_| too_big.clone())?;
            }
            let (in_before, out_before) = (self.z.total_in(), self.z.total_out());
            let status = self
                .z
                .decompress_vec(input, out, FlushDecompress::None)
                .map_err(|_| Violation::BadDeflate)?;
            let used = (self.z.total_in() - in_before) as usize;
            let made = self.z.total_out() - out_before;
            input = &input[used..];
            if out.len() >= cap {
                return Err(too_big);
            }
            if status == Status::StreamEnd {
                // A block with BFINAL set (RFC 7692 section 7.2.3.4): all its output is out,
                // and what follows is not part of the stream (`ws` ignores it too).
                self.ended = true;
                return Ok(());
            }
            if out.len() < out.capacity() {
                // Room was left: everything given was read and inflated.
                if input.is_empty() {
                    return Ok(());
                }
                if used == 0 && made == 0 {
                    return Err(Violation::BadDeflate);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(snct: bool, cnct: bool, server: u8, client: u8) -> DeflateOptions {
        DeflateOptions {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: server,
            client_max_window_bits: client,
        }
    }

    fn agreed(snct: bool, cnct: bool, server: u8, client: u8) -> Agreed {
        Agreed {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: server,
            client_max_window_bits: client,
        }
    }

    /// Offers, our options, and the agreement and answer expected.
    type ServerCase = (
        Vec<&'static str>,
        DeflateOptions,
        Option<(Agreed, &'static str)>,
    );
    /// Answers, our options, and the agreement expected (`Err` for any refusal).
    type ClientCase = (
        Vec<&'static str>,
        DeflateOptions,
        Result<Option<Agreed>, ()>,
    );

    #[test]
    fn server_negotiation() {
        let d = DeflateOptions::default();
        let pmd = "permessage-deflate";
        #[rustfmt::skip]
        let cases: Vec<ServerCase> = vec![
            // Chromium's offer and `ws`'s default client offer (the same).
            (vec!["permessage-deflate; client_max_window_bits"], d.clone(), Some((Agreed::default(), pmd))),
            (vec!["permessage-deflate"], d.clone(), Some((Agreed::default(), pmd))),
            (vec!["Permessage-Deflate ;  Client_Max_Window_Bits "], d.clone(), Some((Agreed::default(), pmd))),
            (vec!["permessage-deflate; server_no_context_takeover"], d.clone(),
                Some((agreed(true, false, 15, 15), "permessage-deflate; server_no_context_takeover"))),
            (vec!["permessage-deflate; client_no_context_takeover; client_max_window_bits"], d.clone(),
                Some((agreed(false, true, 15, 15), "permessage-deflate; client_no_context_takeover"))),
            (vec!["permessage-deflate; server_max_window_bits=10"], d.clone(),
                Some((agreed(false, false, 10, 15), "permessage-deflate; server_max_window_bits=10"))),
            // 8 is accepted: compressed with 9, which never reaches back further than 250 bytes.
            (vec!["permessage-deflate; server_max_window_bits=8"], d.clone(),
                Some((agreed(false, false, 8, 15), "permessage-deflate; server_max_window_bits=8"))),
            (vec!["permessage-deflate; client_max_window_bits=10"], d.clone(),
                Some((agreed(false, false, 15, 10), "permessage-deflate; client_max_window_bits=10"))),
            (vec!["permessage-deflate; client_max_window_bits=\"12\""], d.clone(),
                Some((agreed(false, false, 15, 12), "permessage-deflate; client_max_window_bits=12"))),
            (vec!["permessage-deflate; client_max_window_bits=15"], d.clone(),
                Some((Agreed::default(), "permessage-deflate; client_max_window_bits=15"))),
            (vec!["permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9"],
                d.clone(), Some((agreed(true, true, 9, 9),
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9"))),
            // Invalid offers are declined.
            (vec!["permessage-deflate; server_max_window_bits=7"], d.clone(), None),
            (vec!["permessage-deflate; server_max_window_bits=16"], d.clone(), None),
            (vec!["permessage-deflate; server_max_window_bits=010"], d.clone(), None),
            (vec!["permessage-deflate; server_max_window_bits"], d.clone(), None),
            (vec!["permessage-deflate; server_max_window_bits=1 0"], d.clone(), None),
            (vec!["permessage-deflate; client_max_window_bits=7"], d.clone(), None),
            (vec!["permessage-deflate; client_max_window_bits=x"], d.clone(), None),
            (vec!["permessage-deflate; server_no_context_takeover; server_no_context_takeover"], d.clone(), None),
            (vec!["permessage-deflate; client_max_window_bits; client_max_window_bits=10"], d.clone(), None),
            (vec!["permessage-deflate; server_max_window_bits=10; server_max_window_bits=10"], d.clone(), None),
            (vec!["permessage-deflate; foo=1"], d.clone(), None),
            (vec!["permessage-deflate; foo"], d.clone(), None),
            (vec!["permessage-deflate; server_no_context_takeover=1"], d.clone(), None),
            (vec!["permessage-deflate; client_no_context_takeover=true"], d.clone(), None),
            (vec!["permessage-deflate;"], d.clone(), None),
            (vec!["x-webkit-deflate-frame"], d.clone(), None),
            (vec![], d.clone(), None),
            (vec![""], d.clone(), None),
            // The first acceptable offer, across a list and across headers.
            (vec!["permessage-deflate; foo=1, permessage-deflate; server_max_window_bits=12, permessage-deflate"],
                d.clone(), Some((agreed(false, false, 12, 15), "permessage-deflate; server_max_window_bits=12"))),
            (vec!["x-webkit-deflate-frame", "permessage-deflate; server_max_window_bits=16,, permessage-deflate; client_max_window_bits"],
                d.clone(), Some((Agreed::default(), pmd))),
            // Ours.
            (vec!["permessage-deflate; client_max_window_bits"], opts(true, false, 15, 15),
                Some((agreed(true, false, 15, 15), "permessage-deflate; server_no_context_takeover"))),
            (vec!["permessage-deflate; client_max_window_bits"], opts(false, true, 15, 15),
                Some((agreed(false, true, 15, 15), "permessage-deflate; client_no_context_takeover"))),
            (vec!["permessage-deflate; client_max_window_bits"], opts(false, false, 15, 10),
                Some((agreed(false, false, 15, 10), "permessage-deflate; client_max_window_bits=10"))),
            // A client that does not name client_max_window_bits uses 15, whatever ours.
            (vec!["permessage-deflate"], opts(false, false, 15, 10), Some((Agreed::default(), pmd))),
            (vec!["permessage-deflate; client_max_window_bits=9"], opts(false, false, 15, 10),
                Some((agreed(false, false, 15, 9), "permessage-deflate; client_max_window_bits=9"))),
            (vec!["permessage-deflate; client_max_window_bits=12"], opts(false, false, 15, 10),
                Some((agreed(false, false, 15, 10), "permessage-deflate; client_max_window_bits=10"))),
            (vec!["permessage-deflate"], opts(false, false, 12, 15),
                Some((agreed(false, false, 12, 15), "permessage-deflate; server_max_window_bits=12"))),
            (vec!["permessage-deflate; server_max_window_bits=10"], opts(false, false, 12, 15),
                Some((agreed(false, false, 10, 15), "permessage-deflate; server_max_window_bits=10"))),
            (vec!["permessage-deflate; server_max_window_bits=14"], opts(false, false, 12, 15),
                Some((agreed(false, false, 12, 15), "permessage-deflate; server_max_window_bits=12"))),
            // Out-of-range options are brought into 8..=15.
            (vec!["permessage-deflate"], opts(false, false, 3, 99), Some((agreed(false, false, 8, 15), "permessage-deflate; server_max_window_bits=8"))),
        ];
        for (offers, ours, want) in cases {
            let got = negotiate_server(&offers, &ours);
            let want = want.map(|(a, s)| (a, s.to_owned()));
            assert_eq!(got, want, "{offers:?} with {ours:?}");
        }
    }

    #[test]
    fn client_offer_and_acceptance() {
        let d = DeflateOptions::default();
        assert_eq!(
            offer_client(&d),
            "permessage-deflate; client_max_window_bits"
        );
        assert_eq!(
            offer_client(&opts(true, true, 10, 12)),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=12"
        );
        #[rustfmt::skip]
        let cases: Vec<ClientCase> = vec![
            (vec![], d.clone(), Ok(None)),
            (vec![""], d.clone(), Ok(None)),
            (vec!["permessage-deflate"], d.clone(), Ok(Some(Agreed::default()))),
            (vec!["permessage-deflate; server_no_context_takeover"], d.clone(), Ok(Some(agreed(true, false, 15, 15)))),
            (vec!["permessage-deflate; client_no_context_takeover"], d.clone(), Ok(Some(agreed(false, true, 15, 15)))),
            (vec!["permessage-deflate; client_max_window_bits=10"], d.clone(), Ok(Some(agreed(false, false, 15, 10)))),
            (vec!["permessage-deflate; server_max_window_bits=8"], d.clone(), Ok(Some(agreed(false, false, 8, 15)))),
            (vec!["permessage-deflate; client_max_window_bits=8"], d.clone(), Ok(Some(agreed(false, false, 15, 8)))),
            (vec!["permessage-deflate; client_max_window_bits"], d.clone(), Err(())),
            (vec!["permessage-deflate; server_max_window_bits=16"], d.clone(), Err(())),
            (vec!["permessage-deflate; server_max_window_bits=7"], d.clone(), Err(())),
            (vec!["permessage-deflate; client_max_window_bits=16"], d.clone(), Err(())),
            (vec!["permessage-deflate; foo"], d.clone(), Err(())),
            (vec!["permessage-deflate; server_no_context_takeover=1"], d.clone(), Err(())),
            (vec!["permessage-deflate; server_no_context_takeover; server_no_context_takeover"], d.clone(), Err(())),
            (vec!["x-webkit-deflate-frame"], d.clone(), Err(())),
            (vec!["permessage-deflate", "x-webkit-deflate-frame"], d.clone(), Err(())),
            (vec!["permessage-deflate", "permessage-deflate"], d.clone(), Err(())),
            (vec!["permessage-deflate, permessage-deflate"], d.clone(), Err(())),
            // Above what we offered.
            (vec!["permessage-deflate; server_max_window_bits=12"], opts(false, false, 10, 15), Err(())),
            (vec!["permessage-deflate; server_max_window_bits=9"], opts(false, false, 10, 15), Ok(Some(agreed(false, false, 9, 15)))),
            (vec!["permessage-deflate"], opts(false, false, 10, 15), Ok(Some(Agreed::default()))),
            (vec!["permessage-deflate; client_max_window_bits=12"], opts(false, false, 15, 10), Err(())),
            (vec!["permessage-deflate; client_max_window_bits=9"], opts(false, false, 15, 10), Ok(Some(agreed(false, false, 15, 9)))),
            (vec!["permessage-deflate"], opts(false, false, 15, 10), Ok(Some(agreed(false, false, 15, 10)))),
            // Our own promise not to take over context holds whatever the answer.
            (vec!["permessage-deflate"], opts(true, true, 15, 15), Ok(Some(agreed(false, true, 15, 15)))),
        ];
        for (answers, ours, want) in cases {
            let got = accept_client(&answers, &ours).map_err(|_| ());
            assert_eq!(got, want, "{answers:?} with {ours:?}");
        }
    }

    /// Whatever both ends' options, the server's answer to the client's offer is accepted
    /// by the client, and both end up with the same agreement.
    #[test]
    fn both_ends_agree() {
        let all: Vec<DeflateOptions> = [false, true]
            .into_iter()
            .flat_map(|s| [false, true].map(move |c| (s, c)))
            .flat_map(|(s, c)| {
                [8, 9, 12, 15].into_iter().flat_map(move |sb| {
                    [8, 9, 12, 15].into_iter().map(move |cb| opts(s, c, sb, cb))
                })
            })
            .collect();
        for client in &all {
            for server in &all {
                let offer = offer_client(client);
                let (on_server, answer) = negotiate_server(&[&offer], server).unwrap();
                let on_client = accept_client(&[&answer], client).unwrap().unwrap();
                assert_eq!(on_server, on_client, "{offer} / {answer}");
            }
        }
    }

    /// Messages through a [`Deflater`] and an [`Inflater`], `pieces` bytes at a time.
    fn round_trip(agreed: &Agreed, sender: Role, messages: &[Vec<u8>], pieces: usize) {
        let receiver = match sender {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        let mut d = Deflater::new(agreed, sender);
        let mut i = Inflater::new(agreed, receiver);
        for m in messages {
            let z = d.compress(m);
            let mut out = Vec::new();
            for piece in z.chunks(pieces.max(1)) {
                i.inflate(piece, &mut out, 1 << 24).unwrap();
            }
            i.finish(&mut out, 1 << 24).unwrap();
            assert!(out == *m, "{agreed:?} {sender:?}: {} bytes", m.len());
        }
    }

    fn sample(n: usize, seed: u32) -> Vec<u8> {
        let mut s = seed;
        let words = [
            "alpha ",
            "beta ",
            "gamma ",
            "{\"id\":",
            "], ",
            "\u{e9}t\u{e9} ",
        ];
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            if s.is_multiple_of(5) {
                v.push((s >> 16) as u8);
            } else {
                v.extend_from_slice(words[(s >> 16) as usize % words.len()].as_bytes());
            }
        }
        v.truncate(n);
        v
    }

    #[test]
    fn deflate_inflate_round_trips() {
        let messages: Vec<Vec<u8>> = (0..12)
            .map(|i| match i {
                0 | 5 => Vec::new(),
                3 => sample(3000, 7), // the same as message 2: context carries it
                _ => sample(40 * i * i + 1, 7),
            })
            .collect();
        for bits in 8..=15 {
            for (snct, cnct) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = agreed(snct, cnct, bits, bits);
                for role in [Role::Server, Role::Client] {
                    round_trip(&a, role, &messages, usize::MAX);
                    round_trip(&a, role, &messages, 5 + bits as usize);
                }
            }
        }
        // Context taken over shrinks a repeated message to almost nothing.
        let mut d = Deflater::new(&Agreed::default(), Role::Server);
        let m = sample(3000, 9);
        let first = d.compress(&m).len();
        let second = d.compress(&m).len();
        assert!(second < first / 4, "{first} then {second}");
        let mut d = Deflater::new(&agreed(true, false, 15, 15), Role::Server);
        assert_eq!(d.compress(&m).len(), d.compress(&m).len());
        // An empty message is one byte (RFC 7692 section 7.2.3.6).
        assert_eq!(d.compress(b""), [0x00]);
        // 1 MiB, and parts.
        let big = sample(1 << 20, 3);
        round_trip(
            &Agreed::default(),
            Role::Client,
            std::slice::from_ref(&big),
            1000,
        );
        let mut d = Deflater::new(&Agreed::default(), Role::Server);
        let z = d.compress_parts(&[&big[..10], &big[10..500_000], &[], &big[500_000..]]);
        let mut i = Inflater::new(&Agreed::default(), Role::Client);
        let mut out = Vec::new();
        i.inflate(&z, &mut out, 1 << 20).unwrap();
        i.finish(&mut out, 1 << 20).unwrap();
        assert!(out == big);
    }

    #[test]
    fn inflate_stops_at_the_limit() {
        let zeros = vec![0u8; 1 << 20];
        let z = Deflater::new(&Agreed::default(), Role::Client).compress(&zeros);
        // Level 1 (zlib-rs's quick strategy, fixed Huffman codes) makes 1 MiB of zeros ~10 KiB.
        assert!(z.len() < 16 * 1024, "{}", z.len());
        let mut i = Inflater::new(&Agreed::default(), Role::Server);
        let mut out = Vec::new();
        let max = 64 * 1024;
        assert_eq!(i.inflate(&z, &mut out, max), Err(Violation::TooBig { max }));
        assert!(out.capacity() as u64 <= max + 1, "{}", out.capacity());
        // Exactly at the limit is fine.
        let mut i = Inflater::new(&Agreed::default(), Role::Server);
        let mut out = Vec::new();
        i.inflate(&z, &mut out, 1 << 20).unwrap();
        i.finish(&mut out, 1 << 20).unwrap();
        assert_eq!(out.len(), 1 << 20);
        // Corrupt: a block of the reserved type 3.
        let mut i = Inflater::new(&Agreed::default(), Role::Server);
        assert_eq!(
            i.inflate(&[0xff, 0xff, 0xff], &mut Vec::new(), max),
            Err(Violation::BadDeflate)
        );
    }
}
