//! HTTP client rules that need no network: `http:` URLs (parsing the normalised form the JS
//! layer hands over, resolving a `Location` against the current URL) and the redirect rules
//! of the Fetch standard (section 4.4, "HTTP-redirect fetch"). `src/client.rs` follows them.

use std::fmt;

/// The redirects followed before a request fails (the Fetch standard's limit).
pub const MAX_REDIRECTS: u32 = 20;

/// An absolute `http:` URL, split into what a request needs. The fragment is dropped: it is
/// never sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// The host as written in a URL: a lower-case name, an IPv4 address, or `[v6]`.
    pub host: String,
    /// The port (80 when the URL gives none).
    pub port: u16,
    /// The path and query, starting with `/`, percent-encoded as WHATWG URLs are.
    pub target: String,
}

/// Why a URL cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// A scheme other than `http:` (the scheme, lower-case, without `:`).
    Scheme(String),
    /// Not a URL abio can request (the reason).
    Invalid(&'static str),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Scheme(s) => write!(
                f,
                "the scheme '{s}:' is not supported: only http: URLs are supported in this version"
            ),
            UrlError::Invalid(why) => f.write_str(why),
        }
    }
}

/// Bytes of a path or query that a WHATWG URL percent-encodes (C0 controls, space,
/// non-ASCII, and the few delimiters that may not appear raw).
fn needs_escape(b: u8, in_query: bool) -> bool {
    b <= 0x20
        || b >= 0x7f
        || matches!(b, b'"' | b'<' | b'>')
        || (!in_query && matches!(b, b'`' | b'{' | b'}'))
        || (in_query && b == b'\'')
}

fn escape(s: &str, in_query: bool, out: &mut String) {
    for &b in s.as_bytes() {
        if needs_escape(b, in_query) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
}

/// RFC 3986 section 5.2.4: removes `.` and `..` segments from an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        let dot = matches!(*seg, "." | "%2e" | "%2E");
        let dotdot = matches!(
            seg.to_ascii_lowercase().as_str(),
            ".." | ".%2e" | "%2e." | "%2e%2e"
        );
        if dotdot {
            out.pop();
            if i == last {
                out.push("");
            }
        } else if dot {
            if i == last {
                out.push("");
            }
        } else {
            out.push(seg);
        }
    }
    let mut s = String::with_capacity(path.len());
    for seg in out {
        s.push('/');
        s.push_str(seg);
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

/// Splits `s` at its first `#` (the fragment is dropped) and then at its first `?`.
fn path_and_query(s: &str) -> (&str, Option<&str>) {
    let s = s.split_once('#').map_or(s, |(a, _)| a);
    match s.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (s, None),
    }
}

fn target_of(path: &str, query: Option<&str>) -> String {
    let mut t = String::with_capacity(path.len() + query.map_or(0, |q| q.len() + 1));
    escape(&remove_dot_segments(path), false, &mut t);
    if let Some(q) = query {
        t.push('?');
        escape(q, true, &mut t);
    }
    t
}

/// The scheme of `s` (RFC 3986: a letter, then letters, digits, `+`, `-`, `.`, then `:`),
/// lower-cased, and the rest after the `:`.
fn scheme_of(s: &str) -> Option<(String, &str)> {
    let (scheme, rest) = s.split_once(':')?;
    let mut bytes = scheme.bytes();
    let first = bytes.next()?;
    if !first.is_ascii_alphabetic()
        || !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    Some((scheme.to_ascii_lowercase(), rest))
}

impl Url {
    /// Parses an absolute `http:` URL (`http://host[:port][/path][?query][#fragment]`).
    /// User info (`user:pass@`) is refused, as `fetch` does.
    pub fn parse(s: &str) -> Result<Url, UrlError> {
        let s = clean(s);
        let Some((scheme, rest)) = scheme_of(&s) else {
            return Err(UrlError::Invalid("it is not an absolute URL"));
        };
        if scheme != "http" {
            return Err(UrlError::Scheme(scheme));
        }
        let Some(rest) = rest.strip_prefix("//") else {
            return Err(UrlError::Invalid(
                "an http: URL needs a host (http://host/)",
            ));
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') {
            return Err(UrlError::Invalid(
                "credentials in the URL are not supported: send an authorization header",
            ));
        }
        let (host, port) = split_port(authority)?;
        let (path, query) = path_and_query(tail);
        let path = if path.is_empty() { "/" } else { path };
        Ok(Url {
            host,
            port,
            target: target_of(path, query),
        })
    }

    /// `location` (a `Location` header value) resolved against this URL (RFC 3986 section
    /// 5.2, the way WHATWG URLs treat a special scheme: `\` is `/`).
    pub fn join(&self, location: &str) -> Result<Url, UrlError> {
        let loc = clean(location);
        if let Some((scheme, rest)) = scheme_of(&loc) {
            if scheme != "http" {
                return Err(UrlError::Scheme(scheme));
            }
            if rest.starts_with("//") {
                return Url::parse(&loc);
            }
            // `http:path` with an http: base is relative (WHATWG special-scheme rule).
            return self.join(rest);
        }
        if loc.starts_with("//") {
            return Url::parse(&format!("http:{loc}"));
        }
        let (path, query) = path_and_query(&loc);
        let mut next = self.clone();
        if path.is_empty() {
            if let Some(q) = query {
                let base = self
                    .target
                    .split_once('?')
                    .map_or(&*self.target, |(p, _)| p);
                next.target = target_of(base, Some(q));
            }
            // A fragment only (or nothing): the same resource.
            return Ok(next);
        }
        let merged;
        let path = if path.starts_with('/') {
            path
        } else {
            let base = self
                .target
                .split_once('?')
                .map_or(&*self.target, |(p, _)| p);
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            merged = format!("{dir}{path}");
            &merged
        };
        next.target = target_of(path, query);
        Ok(next)
    }

    /// Whether `other` has the same origin (scheme, host, port): credentials may follow a
    /// redirect only then.
    pub fn same_origin(&self, other: &Url) -> bool {
        self.host == other.host && self.port == other.port
    }

    /// The `host[:port]` part (the port left out when it is 80), as a `Host` header says it.
    pub fn authority(&self) -> String {
        if self.port == 80 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The host to connect to: without the brackets of an IPv6 address.
    pub fn connect_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }
}

impl fmt::Display for Url {
    /// The URL as WHATWG serialises it (`http://host[:port]/path?query`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.target)
    }
}

/// `s` without leading and trailing C0 controls and spaces, and without tabs and newlines
/// (what a WHATWG URL parser strips); `\` becomes `/` before the query.
fn clean(s: &str) -> String {
    let trimmed = s.trim_matches(|c: char| c <= ' ');
    let mut out = String::with_capacity(trimmed.len());
    let mut in_query = false;
    for c in trimmed.chars() {
        match c {
            '\t' | '\n' | '\r' => {}
            '?' | '#' => {
                in_query = true;
                out.push(c);
            }
            '\\' if !in_query => out.push('/'),
            c => out.push(c),
        }
    }
    out
}

/// `host[:port]` -> (lower-case host, port).
fn split_port(authority: &str) -> Result<(String, u16), UrlError> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((inside, after)) = v6.split_once(']') else {
            return Err(UrlError::Invalid("the IPv6 address is not closed with ']'"));
        };
        if inside.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(UrlError::Invalid("the IPv6 address is not valid"));
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or(UrlError::Invalid("the host is not valid"))?,
            ),
        };
        (format!("[{}]", inside.to_ascii_lowercase()), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::Invalid(
            "an http: URL needs a host (http://host/)",
        ));
    }
    let ok =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'[' | b']' | b':');
    if !host.bytes().all(ok) {
        return Err(UrlError::Invalid(
            "the host has characters this version does not accept (non-ASCII names must be punycode)",
        ));
    }
    let port = match port {
        None | Some("") => 80,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => p
            .parse::<u16>()
            .map_err(|_| UrlError::Invalid("the port is over 65535"))?,
        Some(_) => return Err(UrlError::Invalid("the port is not a number")),
    };
    Ok((host, port))
}

/// What a redirect does to the request (Fetch standard, 4.4 HTTP-redirect fetch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redirect {
    /// 307, 308, and 301/302 of a method other than `POST`, 303 of `GET`/`HEAD`: the same
    /// method, and the same body.
    Keep,
    /// 301/302 after `POST`, 303 after anything but `GET`/`HEAD`: `GET` without a body, and
    /// without the headers that describe a body ([`BODY_HEADERS`]).
    ToGet,
}

/// The headers dropped with the body when a redirect turns a request into `GET` (the
/// Fetch standard's request-body-header names).
pub const BODY_HEADERS: [&str; 4] = [
    "content-encoding",
    "content-language",
    "content-location",
    "content-type",
];

/// The headers dropped when a redirect leaves the origin: credentials (`authorization`,
/// `cookie`, `proxy-authorization`, as undici does) and a `host` the caller set.
pub const CREDENTIAL_HEADERS: [&str; 4] =
    ["authorization", "cookie", "proxy-authorization", "host"];

/// How to follow a response of `status` to a request of `method`, or `None` when it is not a
/// redirect that is followed (a 300, 304, or not 3xx).
pub fn redirect(status: u16, method: &str) -> Option<Redirect> {
    match status {
        301 | 302 if method == "POST" => Some(Redirect::ToGet),
        303 if method != "GET" && method != "HEAD" => Some(Redirect::ToGet),
        301 | 302 | 303 | 307 | 308 => Some(Redirect::Keep),
        _ => None,
    }
}

/// Whether a response of `status` to `method` has no body whatever its headers say (RFC
/// 9110 section 6.4.1: `HEAD`, 1xx, 204, 304).
pub fn bodiless(status: u16, method: &str) -> bool {
    method == "HEAD" || (100..200).contains(&status) || status == 204 || status == 304
}

/// Whether `s` is an HTTP token (RFC 9110 section 5.6.2): a method or header name.
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn parses_http_urls() {
        let u = url("http://Example.COM:8080/a/b?x=1#frag");
        assert_eq!(u.host, "example.com");
        assert_eq!(u.port, 8080);
        assert_eq!(u.target, "/a/b?x=1");
        assert_eq!(u.to_string(), "http://example.com:8080/a/b?x=1");
        assert_eq!(url("http://h").target, "/");
        assert_eq!(url("http://h:80/").to_string(), "http://h/");
        assert_eq!(url("http://h?q").target, "/?q");
        let v6 = url("http://[::1]:9/x");
        assert_eq!(
            (v6.host.as_str(), v6.connect_host(), v6.port),
            ("[::1]", "::1", 9)
        );
        assert_eq!(url("http://h/a b/ü").target, "/a%20b/%C3%BC");
        assert_eq!(url("http://h/a/./b/../c").target, "/a/c");
        assert_eq!(
            Url::parse("https://h/"),
            Err(UrlError::Scheme("https".into()))
        );
        assert!(matches!(Url::parse("ftp://h/"), Err(UrlError::Scheme(_))));
        assert!(matches!(Url::parse("/x"), Err(UrlError::Invalid(_))));
        assert!(matches!(
            Url::parse("http://u:p@h/"),
            Err(UrlError::Invalid(_))
        ));
        assert!(matches!(
            Url::parse("http://h:99999/"),
            Err(UrlError::Invalid(_))
        ));
        assert!(matches!(
            Url::parse("http://h:x/"),
            Err(UrlError::Invalid(_))
        ));
        assert!(matches!(Url::parse("http:///x"), Err(UrlError::Invalid(_))));
        assert!(matches!(
            Url::parse("http://[::1/"),
            Err(UrlError::Invalid(_))
        ));
    }

    #[test]
    fn joins_locations() {
        let base = url("http://h:81/a/b/c?q=1");
        let j = |l: &str| base.join(l).unwrap().to_string();
        assert_eq!(j("d"), "http://h:81/a/b/d");
        assert_eq!(j("./d"), "http://h:81/a/b/d");
        assert_eq!(j("../d"), "http://h:81/a/d");
        assert_eq!(j("../../../../d"), "http://h:81/d");
        assert_eq!(j("/d?x"), "http://h:81/d?x");
        assert_eq!(j("?y"), "http://h:81/a/b/c?y");
        assert_eq!(j("#f"), "http://h:81/a/b/c?q=1");
        assert_eq!(j(""), "http://h:81/a/b/c?q=1");
        assert_eq!(j("//other/x"), "http://other/x");
        assert_eq!(j("HTTP://other:82"), "http://other:82/");
        assert_eq!(j("http:d"), "http://h:81/a/b/d");
        assert_eq!(j("\\d\\e"), "http://h:81/d/e");
        assert_eq!(j("  /sp ace\n"), "http://h:81/sp%20ace");
        assert_eq!(j(".."), "http://h:81/a/");
        assert_eq!(
            base.join("https://h/"),
            Err(UrlError::Scheme("https".into()))
        );
        assert!(matches!(base.join("mailto:x@y"), Err(UrlError::Scheme(_))));
        assert!(base.same_origin(&base.join("/x").unwrap()));
        assert!(!base.same_origin(&base.join("http://h:82/").unwrap()));
        assert!(!base.same_origin(&base.join("http://g:81/").unwrap()));
    }

    #[test]
    fn redirect_rules_follow_fetch() {
        use Redirect::*;
        assert_eq!(redirect(301, "POST"), Some(ToGet));
        assert_eq!(redirect(302, "POST"), Some(ToGet));
        assert_eq!(redirect(301, "PUT"), Some(Keep));
        assert_eq!(redirect(302, "GET"), Some(Keep));
        assert_eq!(redirect(303, "PUT"), Some(ToGet));
        assert_eq!(redirect(303, "POST"), Some(ToGet));
        assert_eq!(redirect(303, "HEAD"), Some(Keep));
        assert_eq!(redirect(303, "GET"), Some(Keep));
        assert_eq!(redirect(307, "POST"), Some(Keep));
        assert_eq!(redirect(308, "DELETE"), Some(Keep));
        assert_eq!(redirect(300, "GET"), None);
        assert_eq!(redirect(304, "GET"), None);
        assert_eq!(redirect(200, "GET"), None);
    }

    #[test]
    fn bodiless_and_tokens() {
        assert!(bodiless(200, "HEAD"));
        assert!(bodiless(204, "GET"));
        assert!(bodiless(304, "GET"));
        assert!(!bodiless(200, "GET"));
        assert!(is_token("GET"));
        assert!(is_token("x-custom_1.2"));
        assert!(!is_token(""));
        assert!(!is_token("GE T"));
        assert!(!is_token("a:b"));
    }
}
