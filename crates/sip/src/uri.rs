//! URIs: `sip:`/`sips:` decoded in full (user, password, host, port, parameters, headers), any
//! other scheme kept opaque so a request can be answered 416 instead of 400.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::params::Params;
use crate::text::{escapes_ok, is_unreserved, unescape};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed URI: {0}")]
pub struct UriError(pub &'static str);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Uri {
    Sip(SipUri),
    /// Any other scheme (`tel:`, `http:`, `isbn:`...), as written.
    Other {
        scheme: String,
        opaque: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Domain(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipUri {
    pub secure: bool,
    /// The user part as written (escapes kept); [`SipUri::user_unescaped`] decodes it.
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
    /// `?name=value&...`, escapes kept.
    pub headers: Vec<(String, String)>,
}

impl Uri {
    pub fn parse(s: &str) -> Result<Uri, UriError> {
        let colon = s.find(':').ok_or(UriError("no scheme"))?;
        let (scheme, rest) = (&s[..colon], &s[colon + 1..]);
        let mut sb = scheme.bytes();
        if !sb.next().is_some_and(|b| b.is_ascii_alphabetic())
            || !sb.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return Err(UriError("bad scheme"));
        }
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            return SipUri::parse_rest(scheme.eq_ignore_ascii_case("sips"), rest).map(Uri::Sip);
        }
        if rest.is_empty()
            || rest
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'<' || b == b'>')
        {
            return Err(UriError("bad opaque part"));
        }
        Ok(Uri::Other {
            scheme: scheme.to_string(),
            opaque: rest.to_string(),
        })
    }

    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            Uri::Other { .. } => None,
        }
    }
}

/// `s` split at the first `sep`, the second part absent when there is none.
fn split_opt(s: &str, sep: char) -> (&str, Option<&str>) {
    match s.split_once(sep) {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    }
}

fn user_char(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'%' | b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/'
        )
}

fn password_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'%' | b'&' | b'=' | b'+' | b'$' | b',')
}

fn param_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'%' | b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

fn header_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'%' | b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

impl Host {
    pub fn parse(s: &str) -> Result<Host, UriError> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or(UriError("unclosed IPv6 reference"))?;
            return inner
                .parse()
                .map(Host::V6)
                .map_err(|_| UriError("bad IPv6 address"));
        }
        if s.is_empty() {
            return Err(UriError("empty host"));
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return s
                .parse()
                .map(Host::V4)
                .map_err(|_| UriError("bad IPv4 address"));
        }
        let labels_ok = s.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
        if !labels_ok {
            return Err(UriError("bad host name"));
        }
        Ok(Host::Domain(s.to_string()))
    }

    /// Host names compare case-insensitively, addresses by value.
    pub fn same(&self, other: &Host) -> bool {
        match (self, other) {
            (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
            _ => self == other,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// `host [":" port]` (the `hostport` of a URI, the `sent-by` of a Via once LWS is gone).
pub(crate) fn parse_hostport(s: &str) -> Result<(Host, Option<u16>), UriError> {
    let (host, port) = if s.starts_with('[') {
        let close = s.find(']').ok_or(UriError("unclosed IPv6 reference"))?;
        let (h, rest) = s.split_at(close + 1);
        match rest.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if rest.is_empty() => (h, None),
            None => return Err(UriError("junk after IPv6 reference")),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => Some(
            p.parse::<u16>()
                .map_err(|_| UriError("port out of range"))?,
        ),
        Some(_) => return Err(UriError("bad port")),
        None => None,
    };
    Ok((Host::parse(host)?, port))
}

impl SipUri {
    fn parse_rest(secure: bool, rest: &str) -> Result<SipUri, UriError> {
        // '@' appears in the userinfo only: parameters and headers cannot hold it unescaped.
        let (userinfo, after) = match rest.find('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        if after.contains('@') {
            return Err(UriError("more than one @"));
        }
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = split_opt(ui, ':');
                if u.is_empty() || !u.bytes().all(user_char) || !escapes_ok(u) {
                    return Err(UriError("bad user part"));
                }
                if let Some(p) = p {
                    if !p.bytes().all(password_char) || !escapes_ok(p) {
                        return Err(UriError("bad password"));
                    }
                }
                (Some(u.to_string()), p.map(str::to_string))
            }
        };
        let (before_headers, headers) = split_opt(after, '?');
        let mut parts = before_headers.split(';');
        let (host, port) = parse_hostport(parts.next().unwrap_or(""))?;
        let mut params = Params::default();
        for p in parts {
            let (name, value) = split_opt(p, '=');
            if name.is_empty() || !name.bytes().all(param_char) || !escapes_ok(name) {
                return Err(UriError("bad parameter"));
            }
            if let Some(v) = value {
                if v.is_empty() || !v.bytes().all(param_char) || !escapes_ok(v) {
                    return Err(UriError("bad parameter value"));
                }
            }
            params.push(name, value);
        }
        let mut hs = Vec::new();
        if let Some(h) = headers {
            for pair in h.split('&') {
                let (n, v) = pair.split_once('=').ok_or(UriError("bad header"))?;
                if n.is_empty()
                    || !n.bytes().all(header_char)
                    || !v.bytes().all(header_char)
                    || !escapes_ok(n)
                    || !escapes_ok(v)
                {
                    return Err(UriError("bad header"));
                }
                hs.push((n.to_string(), v.to_string()));
            }
        }
        Ok(SipUri {
            secure,
            user,
            password,
            host,
            port,
            params,
            headers: hs,
        })
    }

    /// A plain `sip:user@host[:port]`.
    pub fn new(user: Option<&str>, host: Host, port: Option<u16>) -> SipUri {
        SipUri {
            secure: false,
            user: user.map(|u| crate::text::escape(u.as_bytes(), b"&=+$,;?/")),
            password: None,
            host,
            port,
            params: Params::default(),
            headers: Vec::new(),
        }
    }

    /// The user part with `%` escapes decoded (`None` when there is no user part).
    pub fn user_unescaped(&self) -> Option<Vec<u8>> {
        self.user.as_deref().map(unescape)
    }

    /// The user part as text, when it decodes to UTF-8.
    pub fn user_text(&self) -> Option<String> {
        self.user_unescaped()
            .and_then(|u| String::from_utf8(u).ok())
    }

    pub fn transport(&self) -> Option<&str> {
        self.params.get("transport").flatten()
    }

    /// RFC 3261 §19.1.4 equivalence: escapes decoded, host case-insensitive, the parameters
    /// `user`, `ttl`, `method`, `maddr` and `transport` must agree when either has them, other
    /// parameters only when both have them; headers must agree.
    pub fn equivalent(&self, other: &SipUri) -> bool {
        if self.secure != other.secure
            || self.user_unescaped() != other.user_unescaped()
            || self.password.as_deref().map(unescape) != other.password.as_deref().map(unescape)
            || !self.host.same(&other.host)
            || self.port != other.port
        {
            return false;
        }
        let norm = |v: Option<&str>| v.map(|v| unescape(v).to_ascii_lowercase());
        for special in ["user", "ttl", "method", "maddr", "transport"] {
            if norm(self.params.get(special).flatten()) != norm(other.params.get(special).flatten())
                || self.params.has(special) != other.params.has(special)
            {
                return false;
            }
        }
        for p in self.params.iter() {
            if other.params.has(&p.name)
                && norm(p.value.as_deref()) != norm(other.params.get(&p.name).flatten())
            {
                return false;
            }
        }
        let mut a: Vec<_> = self
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), unescape(v)))
            .collect();
        let mut b: Vec<_> = other
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), unescape(v)))
            .collect();
        a.sort();
        b.sort();
        a == b
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        for p in self.params.iter() {
            write!(f, ";{}", p.name)?;
            if let Some(v) = &p.value {
                write!(f, "={v}")?;
            }
        }
        for (i, (n, v)) in self.headers.iter().enumerate() {
            write!(f, "{}{n}={v}", if i == 0 { '?' } else { '&' })?;
        }
        Ok(())
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => write!(f, "{u}"),
            Uri::Other { scheme, opaque } => write!(f, "{scheme}:{opaque}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri {
        match Uri::parse(s) {
            Ok(Uri::Sip(u)) => u,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn sip_uris() {
        let u = sip("sip:sips%3Auser%40example.com@example.net");
        assert_eq!(
            u.user_unescaped().as_deref(),
            Some(&b"sips:user@example.com"[..])
        );
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user.as_deref(), Some("user;par=u%40example.net"));
        let u = sip("sips:alice:secret@[2001:db8::10]:5061;transport=tcp;lr?Subject=hi&X=1");
        assert!(u.secure);
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.host, Host::V6("2001:db8::10".parse().unwrap()));
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.transport(), Some("tcp"));
        assert!(u.params.has("lr"));
        assert_eq!(u.headers.len(), 2);
        assert_eq!(
            u.to_string(),
            "sips:alice:secret@[2001:db8::10]:5061;transport=tcp;lr?Subject=hi&X=1"
        );
        let u = sip("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
        assert_eq!(
            u.password.as_deref(),
            Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        );
        assert!(matches!(
            Uri::parse("nobodyKnowsThisScheme:totallyopaquecontent"),
            Ok(Uri::Other { .. })
        ));
        assert!(matches!(
            Uri::parse("soap.beep://192.0.2.103:3002"),
            Ok(Uri::Other { .. })
        ));
    }

    #[test]
    fn bad_uris() {
        for bad in [
            "sip:",
            "sip:user@",
            "sip:a@b@c",
            "sip:host:99999",
            "sip:host:x",
            "sip:[::1",
            "sip:ho st",
            "sip:host;=x",
            "sip:%zz@host",
            "1sip:x",
            "sip:host?noequals",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn equivalence() {
        assert!(sip("sip:%61lice@atlanta.com;transport=TCP")
            .equivalent(&sip("sip:alice@AtLanTa.CoM;Transport=tcp")));
        assert!(!sip("sip:alice@atlanta.com").equivalent(&sip("sip:ALICE@atlanta.com")));
        assert!(!sip("sip:bob@biloxi.com").equivalent(&sip("sip:bob@biloxi.com:5060")));
        assert!(!sip("sip:bob@biloxi.com;transport=udp").equivalent(&sip("sip:bob@biloxi.com")));
        assert!(sip("sip:carol@chicago.com;security=on").equivalent(&sip("sip:carol@chicago.com")));
        assert!(!sip("sip:carol@chicago.com;security=on")
            .equivalent(&sip("sip:carol@chicago.com;security=off")));
    }
}
