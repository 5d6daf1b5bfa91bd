//! HTTP client rules that need no network: `http:` and `https:` URLs (parsing the normalised form the JS
//! layer hands over, resolving a `Location` against the current URL, both by the `url`
//! crate's WHATWG parser, as Node's `new URL` does) and the redirect rules
//! of the Fetch standard (section 4.4, "HTTP-redirect fetch"). `src/client/` follows them.

use std::fmt;

/// The redirects followed before a request fails (the Fetch standard's limit).
pub const MAX_REDIRECTS: u32 = 20;

/// An absolute `http:` or `https:` URL, split into what a request needs. The fragment is
/// dropped: it is never sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `https:` (TLS) rather than `http:`.
    pub secure: bool,
    /// The host as written in a URL: a lower-case name, an IPv4 address, or `[v6]`.
    pub host: String,
    /// The port (80, or 443 for `https:`, when the URL gives none).
    pub port: u16,
    /// The path and query, starting with `/`, percent-encoded as WHATWG URLs are.
    pub target: String,
}

/// Why a URL cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// A scheme other than `http:` and `https:` (the scheme, lower-case, without `:`).
    Scheme(String),
    /// Not a URL abio can request (the reason).
    Invalid(&'static str),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Scheme(s) => write!(
                f,
                "the scheme '{s}:' is not supported: only http: and https: URLs are supported"
            ),
            UrlError::Invalid(why) => f.write_str(why),
        }
    }
}

/// Why the `url` crate refused a URL, in the words of [`UrlError::Invalid`].
fn reason(e: url::ParseError) -> &'static str {
    use url::ParseError as P;
    match e {
        P::RelativeUrlWithoutBase | P::RelativeUrlWithCannotBeABaseBase => {
            "it is not an absolute URL"
        }
        P::EmptyHost => "an http: URL needs a host (http://host/)",
        P::InvalidPort => "the port is not a number from 0 to 65535",
        P::InvalidIpv6Address => "the IPv6 address is not valid",
        P::InvalidIpv4Address => "the IPv4 address is not valid",
        P::IdnaError | P::InvalidDomainCharacter => "the host is not valid",
        _ => "it is not a valid URL",
    }
}

impl Url {
    /// Parses an absolute `http:` or `https:` URL (`http://host[:port][/path][?query][#fragment]`) as a
    /// WHATWG URL parser (Node's `new URL`) does. User info (`user:pass@`) is refused, as
    /// `fetch` does.
    pub fn parse(s: &str) -> Result<Url, UrlError> {
        Url::from_whatwg(url::Url::parse(s).map_err(|e| UrlError::Invalid(reason(e)))?)
    }

    /// `location` (a `Location` header value) resolved against this URL, as a WHATWG URL
    /// parser does it (`\` is `/` in an http: URL, `http:path` is relative).
    pub fn join(&self, location: &str) -> Result<Url, UrlError> {
        let base = url::Url::parse(&self.to_string()).map_err(|e| UrlError::Invalid(reason(e)))?;
        Url::from_whatwg(
            base.join(location)
                .map_err(|e| UrlError::Invalid(reason(e)))?,
        )
    }

    /// The parts of a parsed URL a request needs: refused unless it is `http:` or `https:`,
    /// has a host and no credentials.
    fn from_whatwg(u: url::Url) -> Result<Url, UrlError> {
        let secure = match u.scheme() {
            "http" => false,
            "https" => true,
            other => return Err(UrlError::Scheme(other.to_string())),
        };
        if !u.username().is_empty() || u.password().is_some() {
            return Err(UrlError::Invalid(
                "credentials in the URL are not supported: send an authorization header",
            ));
        }
        let Some(host) = u.host_str().filter(|h| !h.is_empty()) else {
            return Err(UrlError::Invalid(
                "an http: URL needs a host (http://host/)",
            ));
        };
        let mut target = u.path().to_string();
        if let Some(q) = u.query() {
            target.push('?');
            target.push_str(q);
        }
        Ok(Url {
            secure,
            host: host.to_string(),
            port: u
                .port_or_known_default()
                .unwrap_or(if secure { 443 } else { 80 }),
            target,
        })
    }

    /// Whether `other` has the same origin (scheme, host, port): credentials may follow a
    /// redirect only then.
    pub fn same_origin(&self, other: &Url) -> bool {
        self.secure == other.secure && self.host == other.host && self.port == other.port
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.secure {
            "https"
        } else {
            "http"
        }
    }

    /// The `host[:port]` part (the port left out when it is the scheme's default), as a
    /// `Host` header says it.
    pub fn authority(&self) -> String {
        if self.port == if self.secure { 443 } else { 80 } {
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
        write!(f, "{}://{}{}", self.scheme(), self.authority(), self.target)
    }
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
        let s = url("https://h/x");
        assert_eq!((s.secure, s.port, s.authority()), (true, 443, "h".into()));
        assert_eq!(url("https://h:443/").to_string(), "https://h/");
        assert_eq!(url("https://h:80/").to_string(), "https://h:80/");
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
        // As Node's `new URL` (WHATWG) has them: extra slashes before the host are skipped,
        // hosts are normalised (IPv4 forms, IDNA to punycode), `%2e` segments are dots.
        assert_eq!(url("http:///x").to_string(), "http://x/");
        assert_eq!(url("http://0x7f.1/").to_string(), "http://127.0.0.1/");
        assert_eq!(url("http://ü.com/").host, "xn--tda.com");
        assert_eq!(url("http://h/a/%2e%2E/b").target, "/b");
        assert_eq!(url("http://h/a b/ü?x y#z").target, "/a%20b/%C3%BC?x%20y");
        assert!(matches!(
            Url::parse("http://u@h/"),
            Err(UrlError::Invalid(_))
        ));
        assert!(matches!(
            Url::parse("http://h h/"),
            Err(UrlError::Invalid(_))
        ));
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
        assert_eq!(j("https://h:81/"), "https://h:81/");
        assert!(!base.same_origin(&base.join("https://h:81/").unwrap()));
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
