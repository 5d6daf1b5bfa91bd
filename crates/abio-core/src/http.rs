//! HTTP rules that need no server: byte ranges (`Range`, RFC 9110 section 14), entity tags
//! and `If-None-Match` (section 13.1.2). `src/http.rs` answers routes with them.

/// How to answer a `Range` header for a body of `len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    /// No usable range (absent, malformed, or several ranges): the whole body, 200.
    Full,
    /// Bytes `start..=end`: 206 with `content-range: bytes start-end/len`.
    Part {
        /// First byte.
        start: u64,
        /// Last byte, inclusive.
        end: u64,
    },
    /// A range that starts past the end: 416 with `content-range: bytes */len`.
    Unsatisfiable,
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Reads a `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`) against a body of `len`
/// bytes. Several ranges are answered with the whole body (allowed by RFC 9110).
pub fn range(header: &[u8], len: u64) -> Range {
    let Ok(h) = std::str::from_utf8(header) else {
        return Range::Full;
    };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Range::Full;
    };
    if spec.contains(',') {
        return Range::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Full;
    };
    match (a.trim(), b.trim()) {
        ("", suffix) => match number(suffix) {
            Some(0) => Range::Unsatisfiable,
            Some(_) if len == 0 => Range::Unsatisfiable,
            Some(n) => Range::Part {
                start: len - n.min(len),
                end: len - 1,
            },
            None => Range::Full,
        },
        (first, last) => {
            let Some(start) = number(first) else {
                return Range::Full;
            };
            let end = match last {
                "" => u64::MAX,
                l => match number(l) {
                    Some(e) if e >= start => e,
                    _ => return Range::Full,
                },
            };
            if start >= len {
                Range::Unsatisfiable
            } else {
                Range::Part {
                    start,
                    end: end.min(len - 1),
                }
            }
        }
    }
}

/// A strong entity tag for `body`: its length and CRC32C, quoted.
pub fn etag(body: &[u8]) -> String {
    format!("\"{:x}-{:08x}\"", body.len(), crc32c::crc32c(body))
}

/// Whether an `If-None-Match` header matches `etag` (weak comparison, as the RFC asks for
/// this header): `*`, or any listed tag equal to it once `W/` is set aside.
pub fn none_match(header: &[u8], etag: &str) -> bool {
    let Ok(h) = std::str::from_utf8(header) else {
        return false;
    };
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let want = bare(etag);
    h.split(',').any(|t| t.trim() == "*" || bare(t) == want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(range(b"bytes=0-3", 10), Range::Part { start: 0, end: 3 });
        assert_eq!(range(b"bytes=5-", 10), Range::Part { start: 5, end: 9 });
        assert_eq!(range(b"bytes=5-100", 10), Range::Part { start: 5, end: 9 });
        assert_eq!(range(b"bytes=-3", 10), Range::Part { start: 7, end: 9 });
        assert_eq!(range(b"bytes=-30", 10), Range::Part { start: 0, end: 9 });
        assert_eq!(range(b"bytes=10-", 10), Range::Unsatisfiable);
        assert_eq!(range(b"bytes=-0", 10), Range::Unsatisfiable);
        assert_eq!(range(b"bytes=0-0", 0), Range::Unsatisfiable);
        assert_eq!(range(b"bytes=3-1", 10), Range::Full);
        assert_eq!(range(b"bytes=0-1,4-5", 10), Range::Full);
        assert_eq!(range(b"items=0-1", 10), Range::Full);
        assert_eq!(range(b"bytes=x-1", 10), Range::Full);
        assert_eq!(range(b"bytes=+1-2", 10), Range::Full);
    }

    #[test]
    fn etags() {
        let t = etag(b"ABC");
        assert!(t.starts_with("\"3-") && t.ends_with('"'));
        assert!(none_match(t.as_bytes(), &t));
        assert!(none_match(format!("\"x\", W/{t}").as_bytes(), &t));
        assert!(none_match(b"*", &t));
        assert!(!none_match(b"\"3-00000000\"", &t));
        assert_ne!(etag(b"ABC"), etag(b"ABD"));
    }
}
