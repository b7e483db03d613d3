//! Typed header values, decoded on demand from a [`Message`]: Via, From/To/Contact/Route
//! (name-addr), CSeq, Call-ID, Max-Forwards, Content-Type/Length, Expires, option tags, Allow,
//! authorization and challenges, Reason, Session-Expires.

use std::fmt;

use crate::message::Message;
use crate::name::{HeaderName, Method};
use crate::params::Params;
use crate::text::{is_lws, is_token, is_token_str, split_commas, trim_lws, Cursor};
use crate::uri::{parse_hostport, Host, Uri};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("malformed {0} header")]
    Malformed(&'static str),
    #[error("{0} header appears more than once")]
    Duplicate(&'static str),
}

type Result<T> = std::result::Result<T, HeaderError>;

/// Generic parameters after a header value: `*( SWS ";" SWS token [ SWS "=" SWS (token / host /
/// quoted-string) ] )`. Quoted values keep their quotes. Returns what follows them.
fn header_params<'a>(c: &mut Cursor<'a>, params: &mut Params) -> Option<()> {
    while c.eat_sep(b';') {
        let name = c.token()?;
        let value = if c.eat_sep(b'=') {
            if c.peek() == Some(b'"') {
                let start = c.pos;
                c.quoted()?;
                Some(c.s.get(start..c.pos)?)
            } else {
                // token, or host (IPv6 references included)
                let v = c.take_while(|b| is_token(b) || matches!(b, b'[' | b']' | b':'));
                if v.is_empty() {
                    return None;
                }
                Some(v)
            }
        } else {
            None
        };
        params.push(name, value);
    }
    Some(())
}

/// Removes the surrounding quotes of a quoted parameter value and its quoted pairs.
pub fn unquote(v: &str) -> String {
    let mut c = Cursor::new(v);
    match c.quoted() {
        Some(s) if c.at_end() => s,
        _ => v.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Via

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// Upper-case transport: UDP, TCP, TLS, SCTP, WS, WSS or any token.
    pub transport: String,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
}

/// The RFC 3261 magic cookie that starts every conformant branch.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

impl Via {
    pub fn parse_one(s: &str) -> Option<Via> {
        let mut c = Cursor::new(s);
        c.skip_lws();
        let proto = c.token()?;
        if !proto.eq_ignore_ascii_case("SIP") || !c.eat_sep(b'/') {
            return None;
        }
        c.token()?; // version: checked against the start line by the request check
        if !c.eat_sep(b'/') {
            return None;
        }
        let transport = c.token()?.to_ascii_uppercase();
        c.skip_lws();
        let host = c.take_while(|b| is_token(b) || matches!(b, b'[' | b']' | b':'));
        // `host SWS ":" SWS port` is allowed too.
        let hostport = if c.eat_sep(b':') {
            let port = c.take_while(|b| b.is_ascii_digit());
            format!("{host}:{port}")
        } else {
            host.to_string()
        };
        let (host, port) = parse_hostport(&hostport).ok()?;
        let mut params = Params::default();
        header_params(&mut c, &mut params)?;
        c.skip_lws();
        if !c.at_end() {
            return None;
        }
        if let Some(b) = params.get("branch") {
            b?;
        }
        Some(Via {
            transport,
            host,
            port,
            params,
        })
    }

    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch").flatten()
    }

    /// `rport` asked for (RFC 3581), with the value when a server filled it in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|v| v.parse().ok()))
    }

    pub fn received(&self) -> Option<&str> {
        self.params.get("received").flatten()
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

// ---------------------------------------------------------------------------------------------
// name-addr / addr-spec (From, To, Contact, Route, Record-Route, Refer-To, P-Asserted-Identity)

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    pub display: Option<String>,
    pub uri: Uri,
    pub params: Params,
}

impl NameAddr {
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Params::default(),
        }
    }

    pub fn parse(s: &str) -> Option<NameAddr> {
        let mut c = Cursor::new(s);
        c.skip_lws();
        let display;
        let uri_text;
        if c.peek() == Some(b'"') {
            display = Some(c.quoted()?);
            c.skip_lws();
            uri_text = angle(&mut c)?;
        } else if let Some(lt) = c.rest().find('<') {
            let words = trim_lws(c.rest().get(..lt)?);
            // display-name = *(token LWS): only tokens between the spaces.
            if !words.bytes().all(|b| is_token(b) || is_lws(b)) {
                return None;
            }
            display = (!words.is_empty()).then(|| {
                words
                    .split(|ch: char| ch.is_ascii() && is_lws(ch as u8))
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            c.pos += lt;
            uri_text = angle(&mut c)?;
        } else {
            display = None;
            // addr-spec: parameters after it belong to the header, and the URI holds no
            // `;`, `,`, `?` (RFC 3261 §20.10).
            let spec = c.take_while(|b| b != b';' && !is_lws(b));
            if spec.contains(',') || spec.contains('?') {
                return None;
            }
            uri_text = spec;
        }
        let uri = Uri::parse(uri_text).ok()?;
        let mut params = Params::default();
        header_params(&mut c, &mut params)?;
        c.skip_lws();
        c.at_end().then_some(NameAddr {
            display,
            uri,
            params,
        })
    }

    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag").flatten()
    }
}

/// `<uri>` with nothing but the URI between the brackets.
fn angle<'a>(c: &mut Cursor<'a>) -> Option<&'a str> {
    if !c.eat(b'<') {
        return None;
    }
    let rest = c.rest();
    let close = rest.find('>')?;
    let inner = rest.get(..close)?;
    if inner.is_empty() || inner.bytes().any(is_lws) {
        return None;
    }
    c.pos += close + 1;
    Some(inner)
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{} ", crate::text::quote(d))?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

// ---------------------------------------------------------------------------------------------
// CSeq, Contact

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    pub fn parse(s: &str) -> Option<CSeq> {
        let mut c = Cursor::new(s);
        c.skip_lws();
        let digits = c.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() || digits.len() > 10 {
            return None;
        }
        let seq: u64 = digits.parse().ok()?;
        // RFC 3261 §8.1.1.5: less than 2**31.
        if seq >= 1 << 31 {
            return None;
        }
        let before = c.pos;
        c.skip_lws();
        if c.pos == before {
            return None;
        }
        let method = c.token()?;
        c.skip_lws();
        c.at_end().then(|| CSeq {
            seq: seq as u32,
            method: Method::from_bytes(method.as_bytes()),
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contacts {
    /// `Contact: *` (unregister all).
    Star,
    List(Vec<NameAddr>),
}

impl NameAddr {
    /// The `expires` parameter of a Contact; values past 2**32-1 read as absent (RFC 4475 §3.1.2.4).
    pub fn expires(&self) -> Option<u32> {
        self.params
            .get("expires")
            .flatten()
            .and_then(|v| v.parse().ok())
    }

    /// The `q` parameter, 0–1000 (thousandths); absent reads as 1000.
    pub fn q(&self) -> Option<u16> {
        match self.params.get("q") {
            None => Some(1000),
            Some(v) => {
                let v = v?;
                let f: f32 = v.parse().ok()?;
                (0.0..=1.0)
                    .contains(&f)
                    .then(|| (f * 1000.0).round() as u16)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Media types, option tags, auth, reason

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaType {
    pub kind: String,
    pub subtype: String,
    pub params: Params,
}

impl MediaType {
    pub fn parse(s: &str) -> Option<MediaType> {
        let mut c = Cursor::new(s);
        c.skip_lws();
        let kind = c.token()?;
        if !c.eat_sep(b'/') {
            return None;
        }
        let subtype = c.token()?;
        let mut params = Params::default();
        header_params(&mut c, &mut params)?;
        c.skip_lws();
        c.at_end().then(|| MediaType {
            kind: kind.to_ascii_lowercase(),
            subtype: subtype.to_ascii_lowercase(),
            params,
        })
    }

    pub fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind == kind && self.subtype == subtype
    }

    /// Whether this media range (from Accept) admits `kind/subtype`.
    pub fn admits(&self, kind: &str, subtype: &str) -> bool {
        (self.kind == "*" || self.kind == kind) && (self.subtype == "*" || self.subtype == subtype)
    }
}

/// `Digest username="..", realm=".."` and the like: a scheme and its parameters, values decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthParams {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl AuthParams {
    pub fn parse(s: &str) -> Option<AuthParams> {
        let mut c = Cursor::new(s);
        c.skip_lws();
        let scheme = c.token()?.to_string();
        let mut params = Vec::new();
        c.skip_lws();
        if c.at_end() {
            return Some(AuthParams { scheme, params });
        }
        loop {
            let name = c.token()?.to_ascii_lowercase();
            if !c.eat_sep(b'=') {
                return None;
            }
            let value = if c.peek() == Some(b'"') {
                c.quoted()?
            } else {
                c.token()?.to_string()
            };
            params.push((name, value));
            if !c.eat_sep(b',') {
                break;
            }
        }
        c.skip_lws();
        c.at_end().then_some(AuthParams { scheme, params })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    pub protocol: String,
    pub cause: Option<u16>,
    pub text: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionExpires {
    pub interval: u32,
    /// `uac` or `uas`.
    pub refresher: Option<String>,
}

fn delta_seconds(s: &str) -> Option<u32> {
    let s = trim_lws(s);
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // RFC 3261 §20.19: too large reads as the largest, not as an error.
    Some(
        s.parse::<u64>()
            .map(|v| v.min(u64::from(u32::MAX)) as u32)
            .unwrap_or(u32::MAX),
    )
}

// ---------------------------------------------------------------------------------------------
// Accessors on Message

impl Message {
    fn single(&self, name: HeaderName, label: &'static str) -> Result<&str> {
        let mut all = self.all(&name);
        let first = all.next().ok_or(HeaderError::Missing(label))?;
        if all.next().is_some() {
            return Err(HeaderError::Duplicate(label));
        }
        first.value().ok_or(HeaderError::Malformed(label))
    }

    /// A single-valued header that may be absent, decoded by `f`.
    fn optional<T>(
        &self,
        name: HeaderName,
        label: &'static str,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.single(name, label) {
            Err(HeaderError::Missing(_)) => Ok(None),
            Err(e) => Err(e),
            Ok(v) => f(v).map(Some).ok_or(HeaderError::Malformed(label)),
        }
    }

    /// Every comma-separated element of every header of that name.
    pub fn list<'a>(&'a self, name: &HeaderName) -> Option<Vec<&'a str>> {
        let mut out = Vec::new();
        for h in self.all(name) {
            for part in split_commas(h.value()?)? {
                let part = trim_lws(part);
                if !part.is_empty() {
                    out.push(part);
                }
            }
        }
        Some(out)
    }

    fn list_of<T>(
        &self,
        name: HeaderName,
        label: &'static str,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for h in self.all(&name) {
            let v = h.value().ok_or(HeaderError::Malformed(label))?;
            for part in split_commas(v).ok_or(HeaderError::Malformed(label))? {
                out.push(f(part).ok_or(HeaderError::Malformed(label))?);
            }
        }
        Ok(out)
    }

    pub fn call_id(&self) -> Result<&str> {
        let v = self.single(HeaderName::CallId, "Call-ID")?;
        if v.is_empty() || v.bytes().any(|b| is_lws(b) || b.is_ascii_control()) {
            return Err(HeaderError::Malformed("Call-ID"));
        }
        Ok(v)
    }

    pub fn cseq(&self) -> Result<CSeq> {
        CSeq::parse(self.single(HeaderName::CSeq, "CSeq")?).ok_or(HeaderError::Malformed("CSeq"))
    }

    pub fn from_header(&self) -> Result<NameAddr> {
        NameAddr::parse(self.single(HeaderName::From, "From")?)
            .ok_or(HeaderError::Malformed("From"))
    }

    pub fn to_header(&self) -> Result<NameAddr> {
        NameAddr::parse(self.single(HeaderName::To, "To")?).ok_or(HeaderError::Malformed("To"))
    }

    pub fn vias(&self) -> Result<Vec<Via>> {
        let vias = self.list_of(HeaderName::Via, "Via", Via::parse_one)?;
        if vias.is_empty() {
            return Err(HeaderError::Missing("Via"));
        }
        Ok(vias)
    }

    /// The top Via only (cheaper than [`Message::vias`]).
    pub fn top_via(&self) -> Result<Via> {
        let h = self
            .header(&HeaderName::Via)
            .ok_or(HeaderError::Missing("Via"))?;
        let v = h.value().ok_or(HeaderError::Malformed("Via"))?;
        let first = split_commas(v)
            .and_then(|p| p.first().copied())
            .ok_or(HeaderError::Malformed("Via"))?;
        Via::parse_one(first).ok_or(HeaderError::Malformed("Via"))
    }

    /// Replaces the top Via value (the first value of the first Via line) by `via`.
    pub fn set_top_via(&mut self, via: &Via) {
        let Some(first) = self.remove_first(&HeaderName::Via) else {
            self.push_front(HeaderName::Via, via.to_string().into_bytes());
            return;
        };
        let rest: Vec<String> = first
            .value()
            .and_then(split_commas)
            .map(|parts| {
                parts
                    .iter()
                    .skip(1)
                    .map(|p| trim_lws(p).to_string())
                    .collect()
            })
            .unwrap_or_default();
        for r in rest.into_iter().rev() {
            self.push_front(HeaderName::Via, r.into_bytes());
        }
        self.push_front(HeaderName::Via, via.to_string().into_bytes());
    }

    /// RFC 3581 / RFC 3261 §18.2.1 for a request that arrived from `ip:port`: `received` when the
    /// sent-by differs from the source, `rport` filled in when the client asked for it.
    pub fn mark_received(&mut self, ip: std::net::IpAddr, port: u16) {
        let Ok(mut via) = self.top_via() else { return };
        let asked_rport = via.rport().is_some();
        let host_differs = match &via.host {
            Host::V4(a) => std::net::IpAddr::V4(*a) != ip,
            Host::V6(a) => std::net::IpAddr::V6(*a) != ip,
            Host::Domain(_) => true,
        };
        if !host_differs && !asked_rport {
            return;
        }
        via.params.set("received", Some(&ip.to_string()));
        if asked_rport {
            via.params.set("rport", Some(&port.to_string()));
        }
        self.set_top_via(&via);
    }

    /// `None` when absent.
    pub fn max_forwards(&self) -> Result<Option<u8>> {
        self.optional(HeaderName::MaxForwards, "Max-Forwards", |v| {
            if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            v.parse::<u8>().ok()
        })
    }

    pub fn contacts(&self) -> Result<Contacts> {
        let raw: Vec<&str> = self
            .list(&HeaderName::Contact)
            .ok_or(HeaderError::Malformed("Contact"))?;
        if raw.len() == 1 && raw[0] == "*" {
            return Ok(Contacts::Star);
        }
        raw.iter()
            .map(|p| NameAddr::parse(p).ok_or(HeaderError::Malformed("Contact")))
            .collect::<Result<Vec<_>>>()
            .map(Contacts::List)
    }

    pub fn routes(&self) -> Result<Vec<NameAddr>> {
        self.list_of(HeaderName::Route, "Route", NameAddr::parse)
    }

    pub fn record_routes(&self) -> Result<Vec<NameAddr>> {
        self.list_of(HeaderName::RecordRoute, "Record-Route", NameAddr::parse)
    }

    /// `None` when absent.
    pub fn content_type(&self) -> Result<Option<MediaType>> {
        self.optional(HeaderName::ContentType, "Content-Type", MediaType::parse)
    }

    pub fn accept(&self) -> Result<Vec<MediaType>> {
        self.list_of(HeaderName::Accept, "Accept", MediaType::parse)
    }

    /// `None` when absent.
    pub fn expires(&self) -> Result<Option<u32>> {
        self.optional(HeaderName::Expires, "Expires", delta_seconds)
    }

    pub fn min_expires(&self) -> Result<Option<u32>> {
        self.optional(HeaderName::MinExpires, "Min-Expires", delta_seconds)
    }

    /// Option tags of Supported / Require / Proxy-Require / Unsupported.
    pub fn option_tags(&self, name: HeaderName) -> Result<Vec<&str>> {
        let list = self
            .list(&name)
            .ok_or(HeaderError::Malformed("option-tag"))?;
        if list.iter().all(|t| is_token_str(t)) {
            Ok(list)
        } else {
            Err(HeaderError::Malformed("option-tag"))
        }
    }

    pub fn allow(&self) -> Result<Vec<Method>> {
        self.list_of(HeaderName::Allow, "Allow", |s| {
            let t = trim_lws(s);
            is_token_str(t).then(|| Method::from_bytes(t.as_bytes()))
        })
    }

    /// Authorization (or Proxy-Authorization) credentials, one per header line.
    pub fn authorization(&self, proxy: bool) -> Result<Vec<AuthParams>> {
        let name = if proxy {
            HeaderName::ProxyAuthorization
        } else {
            HeaderName::Authorization
        };
        self.auth_lines(name, "Authorization")
    }

    /// WWW-Authenticate (or Proxy-Authenticate) challenges, one per header line.
    pub fn challenges(&self, proxy: bool) -> Result<Vec<AuthParams>> {
        let name = if proxy {
            HeaderName::ProxyAuthenticate
        } else {
            HeaderName::WwwAuthenticate
        };
        self.auth_lines(name, "WWW-Authenticate")
    }

    fn auth_lines(&self, name: HeaderName, label: &'static str) -> Result<Vec<AuthParams>> {
        self.all(&name)
            .map(|h| {
                h.value()
                    .and_then(AuthParams::parse)
                    .ok_or(HeaderError::Malformed(label))
            })
            .collect()
    }

    pub fn reasons(&self) -> Result<Vec<Reason>> {
        self.list_of(HeaderName::Reason, "Reason", |s| {
            let mut c = Cursor::new(s);
            c.skip_lws();
            let protocol = c.token()?.to_string();
            let mut params = Params::default();
            header_params(&mut c, &mut params)?;
            c.skip_lws();
            if !c.at_end() {
                return None;
            }
            let cause = params.get("cause").flatten().and_then(|v| v.parse().ok());
            let text = params.get("text").flatten().map(unquote);
            Some(Reason {
                protocol,
                cause,
                text,
            })
        })
    }

    pub fn session_expires(&self) -> Result<Option<SessionExpires>> {
        self.optional(HeaderName::SessionExpires, "Session-Expires", |v| {
            let mut c = Cursor::new(v);
            c.skip_lws();
            let interval = delta_seconds(c.take_while(|b| b.is_ascii_digit()))?;
            let mut params = Params::default();
            header_params(&mut c, &mut params)?;
            let refresher = params
                .get("refresher")
                .flatten()
                .map(|r| r.to_ascii_lowercase());
            Some(SessionExpires {
                interval,
                refresher,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_forms() {
        let v = Via::parse_one("SIP  /   2.0  /\r\n UDP\r\n    192.0.2.2;branch=390skdjuw;rport")
            .expect("folded via");
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.branch(), Some("390skdjuw"));
        assert_eq!(v.rport(), Some(None));
        let v = Via::parse_one(
            "SIP/2.0/TCP [2001:db8::9:1]:5061;branch=z9hG4bKas;received=[2001:db8::9:255]",
        )
        .expect("v6");
        assert_eq!(v.port, Some(5061));
        assert_eq!(v.received(), Some("[2001:db8::9:255]"));
        assert!(Via::parse_one("SIP/2.0/UDP 192.0.2.15;;").is_none());
        assert!(Via::parse_one("SIP/2.0/UDP host;branch=").is_none());
        assert_eq!(
            Via::parse_one("SIP/2.0/udp h:5070;rport=5071")
                .unwrap()
                .to_string(),
            "SIP/2.0/UDP h:5070;rport=5071"
        );
    }

    #[test]
    fn received_and_rport() {
        let mut m = crate::parse_datagram(
            b"OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK1;rport, SIP/2.0/UDP p\r\nVia: SIP/2.0/UDP q\r\n\r\n",
        )
        .unwrap();
        m.mark_received("198.51.100.7".parse().unwrap(), 40211);
        let vias = m.vias().unwrap();
        assert_eq!(vias.len(), 3);
        assert_eq!(vias[0].received(), Some("198.51.100.7"));
        assert_eq!(vias[0].rport(), Some(Some(40211)));
        assert_eq!(vias[1].host, Host::Domain("p".into()));
        // Same host and no rport: untouched.
        let mut m = crate::parse_datagram(
            b"OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.7;branch=z9hG4bK1\r\n\r\n",
        )
        .unwrap();
        let before = m.to_bytes();
        m.mark_received("10.0.0.7".parse().unwrap(), 5060);
        assert_eq!(m.to_bytes(), before);
    }

    #[test]
    fn name_addrs() {
        let n = NameAddr::parse(
            "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8",
        )
        .unwrap();
        assert_eq!(n.display.as_deref(), Some("J Rosenberg \\\""));
        assert_eq!(n.tag(), Some("98asjd8"));
        let n =
            NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert_eq!(n.tag(), Some("1918181833n"));
        let n = NameAddr::parse("A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe").unwrap();
        assert_eq!(n.display.as_deref(), Some("A. Bell"));
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>").is_none());
        assert!(NameAddr::parse("\"Watson\" < sip:t.watson@example.org >").is_none());
        assert!(NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>").is_none());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_none());
        assert!(NameAddr::parse("<sip:joe@example.org>;;;;").is_none());
        assert!(NameAddr::parse("<http://www.example.com>;tag=3234233").is_some());
        let c = NameAddr::parse("<sip:u@h>;expires=280297596632815;q=0.5").unwrap();
        assert_eq!(c.expires(), None);
        assert_eq!(c.q(), Some(500));
    }

    #[test]
    fn scalars() {
        assert_eq!(
            CSeq::parse("0009\r\n  INVITE"),
            Some(CSeq {
                seq: 9,
                method: Method::Invite
            })
        );
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_none());
        assert!(CSeq::parse("2147483648 INVITE").is_none());
        assert!(CSeq::parse("1INVITE").is_none());
        assert_eq!(delta_seconds("10000000000000000000000"), Some(u32::MAX));
        let a = AuthParams::parse("Digest username=\"1001\", realm=\"hotline\",nonce=\"abc\", uri=\"sip:h\", response=\"00\", qop=auth, nc=00000001, cnonce=\"x\"").unwrap();
        assert_eq!(a.scheme, "Digest");
        assert_eq!(a.get("qop"), Some("auth"));
        assert_eq!(a.get("NC"), Some("00000001"));
        assert!(AuthParams::parse("NoOneKnowsThisScheme opaque-data=here").is_some());
        let m = MediaType::parse("multipart/mixed;boundary=7a9cbec02ceef655").unwrap();
        assert!(m.is("multipart", "mixed"));
        assert!(MediaType::parse("text/*").unwrap().admits("text", "plain"));
    }
}
