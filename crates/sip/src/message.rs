//! A SIP message: start line, headers in their order, body. Parsed messages keep every header
//! line's bytes, so a message printed without changes is the message received; typed values are
//! decoded on demand (`headers.rs`).

use bytes::{BufMut, Bytes, BytesMut};

use crate::name::{HeaderName, Method};

/// What the parser found wrong but could still frame; the request check answers it with 400
/// (or drops a response), since the headers needed to answer are there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Defect {
    /// A header line without a colon or with a name that is not a token.
    MalformedHeader,
    /// Content-Length is not a number, is negative, or is too large.
    BadContentLength,
    /// Content-Length says more bytes than the datagram holds.
    TruncatedBody,
    /// Content-Length missing on a stream transport.
    MissingContentLength,
    /// The request line is not `Method SP Request-URI SP SIP-Version`.
    MalformedRequestLine,
}

impl Defect {
    pub fn reason(self) -> &'static str {
        match self {
            Defect::MalformedHeader => "Malformed Header",
            Defect::BadContentLength => "Bad Content-Length",
            Defect::TruncatedBody => "Content-Length Exceeds Message",
            Defect::MissingContentLength => "Missing Content-Length",
            Defect::MalformedRequestLine => "Malformed Request-Line",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    Request {
        method: Method,
        /// The Request-URI as written; decode it with [`Message::request_uri`].
        uri: Bytes,
        version: Bytes,
    },
    Response {
        version: Bytes,
        code: u16,
        reason: Bytes,
    },
}

/// One header line. `raw` is the line as received (name, colon, value, folding), printed as it
/// is while the header is unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: HeaderName,
    value: Bytes,
    raw: Option<Bytes>,
}

impl Header {
    pub fn new(name: HeaderName, value: impl Into<Bytes>) -> Header {
        Header {
            name,
            value: value.into(),
            raw: None,
        }
    }

    pub(crate) fn parsed(name: HeaderName, value: Bytes, raw: Bytes) -> Header {
        Header {
            name,
            value,
            raw: Some(raw),
        }
    }

    /// The value as written, without the leading and trailing white space; folding kept.
    pub fn value_bytes(&self) -> &Bytes {
        &self.value
    }

    /// The value as text; a value that is not UTF-8 reads as `None`.
    pub fn value(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }

    /// The bytes this header prints as.
    fn write(&self, out: &mut BytesMut) {
        match &self.raw {
            Some(raw) => out.put_slice(raw),
            None => {
                out.put_slice(self.name.as_str().as_bytes());
                out.put_slice(b": ");
                out.put_slice(&self.value);
            }
        }
        out.put_slice(b"\r\n");
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    headers: Vec<Header>,
    body: Bytes,
    defect: Option<Defect>,
}

impl Message {
    pub(crate) fn from_parts(
        start: StartLine,
        headers: Vec<Header>,
        body: Bytes,
        defect: Option<Defect>,
    ) -> Message {
        Message {
            start,
            headers,
            body,
            defect,
        }
    }

    /// A new request with no headers.
    pub fn request(method: Method, uri: &str) -> Message {
        Message {
            start: StartLine::Request {
                method,
                uri: Bytes::copy_from_slice(uri.as_bytes()),
                version: Bytes::from_static(b"SIP/2.0"),
            },
            headers: Vec::new(),
            body: Bytes::new(),
            defect: None,
        }
    }

    /// A new response with no headers; the reason phrase defaults to the standard one.
    pub fn response(code: u16, reason: Option<&str>) -> Message {
        let reason = reason.unwrap_or_else(|| crate::status::reason_phrase(code));
        Message {
            start: StartLine::Response {
                version: Bytes::from_static(b"SIP/2.0"),
                code,
                reason: Bytes::copy_from_slice(reason.as_bytes()),
            },
            headers: Vec::new(),
            body: Bytes::new(),
            defect: None,
        }
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI as written, when it is text (`None` for a response).
    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => std::str::from_utf8(uri).ok(),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// A response's reason phrase as sent.
    pub fn reason_phrase(&self) -> Option<&str> {
        match &self.start {
            StartLine::Response { reason, .. } => std::str::from_utf8(reason).ok(),
            StartLine::Request { .. } => None,
        }
    }

    pub fn defect(&self) -> Option<Defect> {
        self.defect
    }

    pub fn body(&self) -> &Bytes {
        &self.body
    }

    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// The first header of that name.
    pub fn header(&self, name: &HeaderName) -> Option<&Header> {
        self.headers.iter().find(|h| h.name.same(name))
    }

    /// The first value of that name as text.
    pub fn value(&self, name: &HeaderName) -> Option<&str> {
        self.header(name).and_then(Header::value)
    }

    pub fn all<'a>(&'a self, name: &HeaderName) -> impl Iterator<Item = &'a Header> + 'a {
        let name = name.clone();
        self.headers.iter().filter(move |h| h.name.same(&name))
    }

    pub fn count(&self, name: &HeaderName) -> usize {
        self.all(name).count()
    }

    /// Appends a header.
    pub fn push(&mut self, name: HeaderName, value: impl Into<Bytes>) -> &mut Self {
        self.headers.push(Header::new(name, value));
        self
    }

    /// Inserts a header before all others (a new top Via).
    pub fn push_front(&mut self, name: HeaderName, value: impl Into<Bytes>) -> &mut Self {
        self.headers.insert(0, Header::new(name, value));
        self
    }

    /// Replaces every header of that name by one, in the place of the first.
    pub fn set(&mut self, name: HeaderName, value: impl Into<Bytes>) -> &mut Self {
        let mut header = Some(Header::new(name.clone(), value));
        self.headers.retain_mut(|h| {
            if !h.name.same(&name) {
                return true;
            }
            // The first keeps its place with the new value; the others go.
            match header.take() {
                Some(new) => {
                    *h = new;
                    true
                }
                None => false,
            }
        });
        if let Some(new) = header {
            self.headers.push(new);
        }
        self
    }

    pub fn remove(&mut self, name: &HeaderName) -> &mut Self {
        self.headers.retain(|h| !h.name.same(name));
        self
    }

    /// Removes the first header of that name and returns it.
    pub fn remove_first(&mut self, name: &HeaderName) -> Option<Header> {
        let at = self.headers.iter().position(|h| h.name.same(name))?;
        Some(self.headers.remove(at))
    }

    /// Copies every header of that name from `other`, in order.
    pub fn copy_from(&mut self, other: &Message, name: &HeaderName) -> &mut Self {
        self.headers.extend(other.all(name).cloned());
        self
    }

    /// Sets the body and its Content-Type (Content-Length is written when printed).
    pub fn set_body(&mut self, content_type: &str, body: impl Into<Bytes>) -> &mut Self {
        self.body = body.into();
        if self.body.is_empty() {
            self.remove(&HeaderName::ContentType);
        } else {
            self.set(
                HeaderName::ContentType,
                Bytes::copy_from_slice(content_type.as_bytes()),
            );
        }
        self
    }

    /// The message as bytes for the wire. Unchanged headers print as received; Content-Length
    /// always tells the true body length.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(256 + self.body.len() + self.headers.len() * 48);
        match &self.start {
            StartLine::Request {
                method,
                uri,
                version,
            } => {
                out.put_slice(method.as_str().as_bytes());
                out.put_u8(b' ');
                out.put_slice(uri);
                out.put_u8(b' ');
                out.put_slice(version);
            }
            StartLine::Response {
                version,
                code,
                reason,
            } => {
                out.put_slice(version);
                out.put_u8(b' ');
                let mut digits = [b'0'; 3];
                let c = (*code).min(999);
                digits[0] += (c / 100) as u8;
                digits[1] += (c / 10 % 10) as u8;
                digits[2] += (c % 10) as u8;
                out.put_slice(&digits);
                out.put_u8(b' ');
                out.put_slice(reason);
            }
        }
        out.put_slice(b"\r\n");
        let mut length_written = false;
        for h in &self.headers {
            if h.name == HeaderName::ContentLength {
                if length_written {
                    continue;
                }
                length_written = true;
                let true_length = std::str::from_utf8(&h.value)
                    .ok()
                    .and_then(|v| v.parse::<usize>().ok())
                    == Some(self.body.len());
                if h.raw.is_some() && true_length {
                    h.write(&mut out);
                } else {
                    write_length(&mut out, self.body.len());
                }
            } else {
                h.write(&mut out);
            }
        }
        if !length_written {
            write_length(&mut out, self.body.len());
        }
        out.put_slice(b"\r\n");
        out.put_slice(&self.body);
        out.freeze()
    }
}

fn write_length(out: &mut BytesMut, len: usize) {
    out.put_slice(b"Content-Length: ");
    out.put_slice(len.to_string().as_bytes());
    out.put_slice(b"\r\n");
}

impl std::fmt::Display for Message {
    /// For traces: the wire form, lossy where it is not UTF-8. Logs must redact it first.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}
