//! HTTP rules that need no server: byte ranges (`Range`, RFC 9110 section 14), entity tags
//! and `If-None-Match` (section 13.1.2), `Last-Modified`/`If-Modified-Since` (13.1.3), and
//! the content type of a file from its extension. `src/http/` answers routes with them.

use std::borrow::Cow;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// A strong entity tag for one version of a file, from its inode, length and modification
/// time in nanoseconds (what nginx and Node's `send` use, with finer time).
pub fn file_etag(ino: u64, len: u64, mtime_ns: u128) -> String {
    format!("\"{ino:x}-{len:x}-{mtime_ns:x}\"")
}

/// `time` as an HTTP date (`Last-Modified`), whole seconds.
pub fn http_date(time: SystemTime) -> String {
    httpdate::fmt_http_date(time)
}

/// Whether `If-Modified-Since: header` lets a file modified at `modified` be answered 304:
/// the date is valid and not older than the modification (in whole seconds, as dates are).
/// The caller ignores it when `If-None-Match` is present (RFC 9110 13.1.3).
pub fn not_modified_since(header: &[u8], modified: SystemTime) -> bool {
    let Some(since) = std::str::from_utf8(header)
        .ok()
        .and_then(|h| httpdate::parse_http_date(h.trim()).ok())
    else {
        return false;
    };
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs()
    };
    secs(modified) <= secs(since)
}

/// Extensions whose media type abio keeps from before it used `mime_guess`, which answers
/// otherwise for them (`application/javascript` for `.mjs`, nothing for `.cjs`, `text/plain`
/// for `.map`, `text/xml` for `.xml`, `application/font-woff` and `application/font-sfnt`
/// for `.woff` and `.otf`): the types the WHATWG and IANA registries name today; and `.ts`
/// as the `mime-types` package (express, serve-static) and nginx answer, `video/mp2t`, not
/// `mime_guess`'s `video/vnd.dlna.mpeg-tts`. Checked before `mime_guess`,
/// case-insensitively.
const TYPE_OVERRIDES: [(&str, &str); 7] = [
    ("mjs", "text/javascript"),
    ("cjs", "text/javascript"),
    ("map", "application/json"),
    ("xml", "application/xml"),
    ("woff", "font/woff"),
    ("otf", "font/otf"),
    ("ts", "video/mp2t"),
];

/// The media type for `path`'s extension, as static file servers send it: [`TYPE_OVERRIDES`],
/// else what `mime_guess` knows, with `; charset=utf-8` for `text/*` types;
/// `application/octet-stream` for anything else.
pub fn content_type(path: &Path) -> Cow<'static, str> {
    let ty = path
        .extension()
        .and_then(|e| e.to_str())
        .and_then(|ext| {
            TYPE_OVERRIDES
                .iter()
                .find(|(e, _)| e.eq_ignore_ascii_case(ext))
                .map(|(_, t)| *t)
                .or_else(|| mime_guess::from_ext(ext).first_raw())
        })
        .unwrap_or("application/octet-stream");
    if ty.starts_with("text/") {
        Cow::Owned(format!("{ty}; charset=utf-8"))
    } else {
        Cow::Borrowed(ty)
    }
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

    /// Every extension of the table abio kept by hand before `mime_guess`, with its answer
    /// then: the overrides keep `.mjs`, `.cjs`, `.map`, `.xml`, `.woff` and `.otf`.
    #[test]
    fn content_types_of_the_old_table() {
        let utf8 = |t: &str| format!("{t}; charset=utf-8");
        let cases = [
            ("html htm HTML", utf8("text/html")),
            ("css", utf8("text/css")),
            ("js mjs cjs MJS", utf8("text/javascript")),
            ("json map", "application/json".into()),
            ("txt text log", utf8("text/plain")),
            ("md markdown", utf8("text/markdown")),
            ("csv", utf8("text/csv")),
            ("xml", "application/xml".into()),
            ("svg", "image/svg+xml".into()),
            ("png", "image/png".into()),
            ("jpg jpeg", "image/jpeg".into()),
            ("gif", "image/gif".into()),
            ("webp", "image/webp".into()),
            ("avif", "image/avif".into()),
            ("ico", "image/x-icon".into()),
            ("wasm", "application/wasm".into()),
            ("pdf", "application/pdf".into()),
            ("zip", "application/zip".into()),
            ("gz", "application/gzip".into()),
            ("tar", "application/x-tar".into()),
            ("mp4", "video/mp4".into()),
            ("webm", "video/webm".into()),
            ("mp3", "audio/mpeg".into()),
            ("wav", "audio/wav".into()),
            ("ogg", "audio/ogg".into()),
            ("woff", "font/woff".into()),
            ("woff2", "font/woff2".into()),
            ("ttf", "font/ttf".into()),
            ("otf OTF", "font/otf".into()),
            ("ts", "video/mp2t".into()),
            ("no-such-ext", "application/octet-stream".into()),
        ];
        for (exts, want) in cases {
            for ext in exts.split(' ') {
                let got = content_type(Path::new(&format!("dir/file.{ext}")));
                assert_eq!((ext, got.as_ref()), (ext, want.as_str()));
            }
        }
        // Beyond the old table, mime_guess's answers (text types in UTF-8).
        assert_eq!(content_type(Path::new("a.bmp")), "image/bmp");
        assert_eq!(
            content_type(Path::new("a.ics")),
            "text/calendar; charset=utf-8"
        );
    }

    #[test]
    fn file_rules() {
        assert_eq!(
            content_type(Path::new("/a/b/index.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("x.wasm")), "application/wasm");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
        assert_eq!(
            content_type(Path::new(".bashrc")),
            "application/octet-stream"
        );
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_500);
        let d = http_date(t);
        assert_eq!(d, "Tue, 14 Nov 2023 22:13:20 GMT");
        assert!(not_modified_since(d.as_bytes(), t));
        assert!(!not_modified_since(
            d.as_bytes(),
            t + Duration::from_secs(1)
        ));
        assert!(!not_modified_since(b"yesterday", t));
        assert_ne!(file_etag(1, 2, 3), file_etag(1, 2, 4));
    }
}
