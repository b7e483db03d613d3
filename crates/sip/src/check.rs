//! The checks a UAS makes before a request reaches a transaction user (RFC 3261 §8.2, §16.3 and
//! RFC 4475): syntax of the headers every response needs, version, URI scheme, method, required
//! extensions, body type. A failed check names the answer to send.

use crate::headers::{HeaderError, MAGIC_COOKIE};
use crate::message::{Message, StartLine};
use crate::name::{HeaderName, Method};
use crate::uri::Uri;

/// What this UAS implements; the defaults are Hotline's.
#[derive(Clone, Debug)]
pub struct Capabilities {
    /// Methods answered (405 with Allow for other known methods, 501 for unknown ones).
    pub allow: Vec<Method>,
    /// Option tags this UAS supports (420 with Unsupported for any other in Require).
    pub supported: Vec<String>,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            allow: vec![
                Method::Invite,
                Method::Ack,
                Method::Bye,
                Method::Cancel,
                Method::Options,
                Method::Register,
                Method::Update,
                Method::Info,
                Method::Refer,
            ],
            supported: vec!["timer".to_string()],
        }
    }
}

impl Capabilities {
    pub fn allow_header(&self) -> String {
        self.allow
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn supported_header(&self) -> String {
        self.supported.join(", ")
    }
}

/// A request that must be answered with an error: the status, a reason phrase, extra headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub code: u16,
    pub reason: String,
    pub headers: Vec<(HeaderName, String)>,
}

impl Rejection {
    fn new(code: u16, reason: impl Into<String>) -> Rejection {
        Rejection {
            code,
            reason: reason.into(),
            headers: Vec::new(),
        }
    }

    fn with(mut self, name: HeaderName, value: String) -> Rejection {
        self.headers.push((name, value));
        self
    }

    /// The response to `request` carrying this rejection.
    pub fn response(&self, request: &Message, to_tag: Option<&str>) -> Message {
        let mut r = crate::response::response_to(request, self.code, Some(&self.reason), to_tag);
        for (n, v) in &self.headers {
            r.push(n.clone(), v.clone().into_bytes());
        }
        r
    }
}

fn bad(e: HeaderError) -> Rejection {
    Rejection::new(400, format!("Bad Request ({e})"))
}

/// Checks a request. `Ok` means it may go on to the transaction layer and its user.
pub fn check_request(msg: &Message, caps: &Capabilities) -> Result<(), Rejection> {
    let StartLine::Request {
        method,
        uri,
        version,
    } = &msg.start
    else {
        return Err(Rejection::new(400, "Not a request"));
    };
    // The headers an answer is built from come first: without them nothing else can be said.
    let via = msg.vias().map_err(bad)?;
    msg.call_id().map_err(bad)?;
    let cseq = msg.cseq().map_err(bad)?;
    msg.from_header().map_err(bad)?;
    msg.to_header().map_err(bad)?;
    if let Some(d) = msg.defect() {
        return Err(Rejection::new(400, d.reason()));
    }
    if !version.eq_ignore_ascii_case(b"SIP/2.0") {
        return Err(Rejection::new(505, "Version Not Supported"));
    }
    for name in msg
        .headers()
        .iter()
        .map(|h| &h.name)
        .filter(|n| n.is_single())
    {
        if msg.count(name) > 1 {
            return Err(bad(HeaderError::Duplicate("single-valued")));
        }
    }
    if &cseq.method != method {
        return Err(Rejection::new(400, "CSeq Method Does Not Match"));
    }
    if via.first().and_then(|v| v.branch()) == Some(MAGIC_COOKIE) {
        return Err(Rejection::new(400, "Bad Branch"));
    }
    msg.max_forwards().map_err(bad)?;
    let content_type = msg.content_type().map_err(bad)?;
    msg.expires().map_err(bad)?;
    if msg.header(&HeaderName::Contact).is_some() {
        msg.contacts().map_err(bad)?;
    }

    // §8.2.1 method inspection.
    if !caps.allow.contains(method) {
        return Err(match method {
            Method::Other(_) => Rejection::new(501, "Not Implemented"),
            _ => Rejection::new(405, "Method Not Allowed"),
        }
        .with(HeaderName::Allow, caps.allow_header()));
    }

    // §8.2.2 header inspection: the Request-URI.
    let uri = std::str::from_utf8(uri).map_err(|_| Rejection::new(400, "Bad Request-URI"))?;
    match Uri::parse(uri) {
        Err(_) => return Err(Rejection::new(400, "Bad Request-URI")),
        Ok(Uri::Other { .. }) => return Err(Rejection::new(416, "Unsupported URI Scheme")),
        Ok(Uri::Sip(u)) if !u.headers.is_empty() => {
            return Err(Rejection::new(400, "Headers In Request-URI"))
        }
        Ok(Uri::Sip(_)) => {}
    }

    // §8.2.2.3 Require (never for ACK and CANCEL).
    if !matches!(method, Method::Ack | Method::Cancel) {
        let required = msg.option_tags(HeaderName::Require).map_err(bad)?;
        let unsupported: Vec<&str> = required
            .into_iter()
            .filter(|t| !caps.supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .collect();
        if !unsupported.is_empty() {
            return Err(Rejection::new(420, "Bad Extension")
                .with(HeaderName::Unsupported, unsupported.join(", ")));
        }
    }

    // §8.2.3 content processing.
    if !msg.body().is_empty() {
        if let Some(enc) = msg.value(&HeaderName::ContentEncoding) {
            if !enc.trim().eq_ignore_ascii_case("identity") {
                return Err(Rejection::new(415, "Unsupported Media Type")
                    .with(HeaderName::AcceptEncoding, "identity".into()));
            }
        }
        let accepted = accepted_bodies(method);
        if !accepted.is_empty() {
            let Some(ct) = &content_type else {
                return Err(Rejection::new(400, "Body Without Content-Type"));
            };
            if !accepted.iter().any(|(k, s)| ct.is(k, s)) {
                let list = accepted
                    .iter()
                    .map(|(k, s)| format!("{k}/{s}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(
                    Rejection::new(415, "Unsupported Media Type").with(HeaderName::Accept, list)
                );
            }
        }
    }
    // An INVITE is answered with SDP: an Accept without it cannot be satisfied.
    if *method == Method::Invite && msg.header(&HeaderName::Accept).is_some() {
        let accept = msg.accept().map_err(bad)?;
        if !accept.is_empty() && !accept.iter().any(|m| m.admits("application", "sdp")) {
            return Err(Rejection::new(406, "Not Acceptable")
                .with(HeaderName::Accept, "application/sdp".into()));
        }
    }
    Ok(())
}

/// Body types this UAS reads per method; empty means the body is not looked at.
fn accepted_bodies(method: &Method) -> &'static [(&'static str, &'static str)] {
    match method {
        Method::Invite | Method::Ack | Method::Update | Method::Prack => &[("application", "sdp")],
        Method::Info => &[("application", "dtmf-relay"), ("application", "dtmf")],
        _ => &[],
    }
}

/// Checks a response well enough to match it to a transaction; a failed one is dropped.
pub fn check_response(msg: &Message) -> Result<(), HeaderError> {
    if msg.is_request() {
        return Err(HeaderError::Malformed("status line"));
    }
    if msg.defect().is_some() {
        return Err(HeaderError::Malformed("framing"));
    }
    msg.top_via()?;
    msg.call_id()?;
    msg.cseq()?;
    msg.from_header()?;
    msg.to_header()?;
    Ok(())
}
