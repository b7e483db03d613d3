//! Framing: bytes to [`Message`]. Datagrams carry one message each (bytes after the body are
//! ignored, RFC 3261 §18.3); streams are cut by Content-Length. The parser is lenient where a
//! message can still be answered (it records a [`Defect`] and the request check answers 400) and
//! never panics: every index below is checked.

use bytes::{Buf, Bytes, BytesMut};
use memchr::memchr;

use crate::message::{Defect, Header, Message, StartLine};
use crate::name::{HeaderName, Method};
use crate::text::is_token;

/// Largest message accepted, on any transport (a UDP datagram is smaller anyway).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Most header lines in one message; more is an attack, not a phone.
pub const MAX_HEADERS: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty message")]
    Empty,
    #[error("the header section does not end")]
    Incomplete,
    #[error("the start line is neither a request nor a status line")]
    BadStartLine,
    #[error("message larger than {MAX_MESSAGE} bytes")]
    TooLarge,
    #[error("more than {MAX_HEADERS} header lines")]
    TooManyHeaders,
}

/// Parses one datagram.
pub fn parse_datagram(data: &[u8]) -> Result<Message, ParseError> {
    parse_bytes(Bytes::copy_from_slice(data), false).map(|(m, _)| m)
}

/// Parses one message from owned bytes. With `stream`, Content-Length is required and the
/// number of bytes used is returned beside the message; `Incomplete` means "wait for more".
pub fn parse_bytes(buf: Bytes, stream: bool) -> Result<(Message, usize), ParseError> {
    let data: &[u8] = &buf;
    if data.len() > MAX_MESSAGE && !stream {
        return Err(ParseError::TooLarge);
    }
    // RFC 3261 §7.5: CRLFs before the start line are ignored.
    let mut pos = 0;
    while matches!(data.get(pos), Some(b'\r' | b'\n')) {
        pos += 1;
    }
    if pos >= data.len() {
        return Err(if stream {
            ParseError::Incomplete
        } else {
            ParseError::Empty
        });
    }
    let (start_end, next) = line_end(data, pos).ok_or_else(|| incomplete(data, stream))?;
    let mut defect = None;
    let start = parse_start_line(&buf, pos, start_end, &mut defect)?;
    pos = next;

    let mut headers: Vec<Header> = Vec::with_capacity(16);
    let mut content_length: Option<Result<usize, ()>> = None;
    loop {
        let (end, next) = line_end(data, pos).ok_or_else(|| incomplete(data, stream))?;
        if end == pos {
            pos = next;
            break;
        }
        // Folding: continuation lines start with SP or HT and belong to this header.
        let mut value_end = end;
        let mut after = next;
        while matches!(data.get(after), Some(b' ' | b'\t')) {
            let (e, n) = line_end(data, after).ok_or_else(|| incomplete(data, stream))?;
            value_end = e;
            after = n;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(ParseError::TooManyHeaders);
        }
        match split_header(data, pos, value_end) {
            Some((name_end, value_start, value_stop)) => {
                let name = HeaderName::from_bytes(&data[pos..name_end]);
                if name == HeaderName::ContentLength {
                    let parsed = parse_length(&data[value_start..value_stop]);
                    content_length = match content_length {
                        // Two lengths: a conflict unless they agree; the check rejects the duplicate.
                        Some(Ok(prev)) if parsed == Ok(prev) => Some(Ok(prev)),
                        Some(_) => Some(Err(())),
                        None => Some(parsed),
                    };
                }
                headers.push(Header::parsed(
                    name,
                    buf.slice(value_start..value_stop),
                    buf.slice(pos..value_end),
                ));
            }
            None => {
                defect.get_or_insert(Defect::MalformedHeader);
                // Kept as an extension header so the line still prints as received.
                headers.push(Header::parsed(
                    HeaderName::Other(Bytes::from_static(b"X-Malformed")),
                    buf.slice(pos..value_end),
                    buf.slice(pos..value_end),
                ));
            }
        }
        pos = after;
        if pos > MAX_MESSAGE {
            return Err(ParseError::TooLarge);
        }
    }

    let available = data.len() - pos;
    let body_len = match content_length {
        Some(Ok(n)) if n <= MAX_MESSAGE => {
            if n > available {
                if stream {
                    return Err(ParseError::Incomplete);
                }
                defect.get_or_insert(Defect::TruncatedBody);
                available
            } else {
                n
            }
        }
        Some(_) => {
            // On a stream nothing after this can be framed: the caller answers and closes.
            defect.get_or_insert(Defect::BadContentLength);
            available
        }
        None if stream => {
            defect.get_or_insert(Defect::MissingContentLength);
            0
        }
        None => available,
    };
    if pos + body_len > MAX_MESSAGE {
        return Err(ParseError::TooLarge);
    }
    let body = buf.slice(pos..pos + body_len);
    Ok((
        Message::from_parts(start, headers, body, defect),
        pos + body_len,
    ))
}

fn incomplete(data: &[u8], stream: bool) -> ParseError {
    if stream && data.len() > MAX_MESSAGE {
        ParseError::TooLarge
    } else {
        ParseError::Incomplete
    }
}

/// The end of the line starting at `from` (before CRLF or a bare LF) and where the next starts.
fn line_end(data: &[u8], from: usize) -> Option<(usize, usize)> {
    let rest = data.get(from..)?;
    let lf = memchr(b'\n', rest)? + from;
    let end = if lf > from && data.get(lf - 1) == Some(&b'\r') {
        lf - 1
    } else {
        lf
    };
    Some((end, lf + 1))
}

/// `name SWS ":" SWS value` within `[from, to)`: returns (name end, value start, value end).
fn split_header(data: &[u8], from: usize, to: usize) -> Option<(usize, usize, usize)> {
    let line = data.get(from..to)?;
    let colon = memchr(b':', line)?;
    let mut name_end = colon;
    while name_end > 0 && matches!(line[name_end - 1], b' ' | b'\t') {
        name_end -= 1;
    }
    if name_end == 0 || !line[..name_end].iter().all(|&b| is_token(b)) {
        return None;
    }
    let mut vs = colon + 1;
    while vs < line.len() && crate::text::is_lws(line[vs]) {
        vs += 1;
    }
    let mut ve = line.len();
    while ve > vs && crate::text::is_lws(line[ve - 1]) {
        ve -= 1;
    }
    Some((from + name_end, from + vs, from + ve))
}

fn parse_length(v: &[u8]) -> Result<usize, ()> {
    if v.is_empty() || v.len() > 9 || !v.iter().all(u8::is_ascii_digit) {
        return Err(());
    }
    Ok(v.iter()
        .fold(0usize, |n, &d| n * 10 + usize::from(d - b'0')))
}

fn parse_start_line(
    buf: &Bytes,
    from: usize,
    to: usize,
    defect: &mut Option<Defect>,
) -> Result<StartLine, ParseError> {
    let line = buf.get(from..to).ok_or(ParseError::BadStartLine)?;
    if line.starts_with(b"SIP/") {
        // SIP-Version SP Status-Code SP Reason-Phrase (the reason may be empty, its SP too).
        let sp = memchr(b' ', line).ok_or(ParseError::BadStartLine)?;
        let rest = &line[sp + 1..];
        let code = rest.get(..3).ok_or(ParseError::BadStartLine)?;
        if !code.iter().all(u8::is_ascii_digit) || !matches!(rest.get(3), None | Some(b' ')) {
            return Err(ParseError::BadStartLine);
        }
        let code = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
        if !(100..=699).contains(&code) {
            return Err(ParseError::BadStartLine);
        }
        let reason_start = (from + sp + 1 + 4).min(to);
        return Ok(StartLine::Response {
            version: buf.slice(from..from + sp),
            code,
            reason: buf.slice(reason_start..to),
        });
    }
    // Method SP Request-URI SP SIP-Version, single spaces, no spaces inside.
    let first = memchr(b' ', line).ok_or(ParseError::BadStartLine)?;
    let last = memchr::memrchr(b' ', line).ok_or(ParseError::BadStartLine)?;
    let method = &line[..first];
    if method.is_empty() || !method.iter().all(|&b| is_token(b)) {
        return Err(ParseError::BadStartLine);
    }
    if last <= first {
        return Err(ParseError::BadStartLine);
    }
    let uri = &line[first + 1..last];
    let version = &line[last + 1..];
    if uri.is_empty()
        || version.is_empty()
        || uri.iter().any(|&b| b == b' ' || b == b'\t')
        || !version.iter().all(|&b| b.is_ascii_graphic())
    {
        defect.get_or_insert(Defect::MalformedRequestLine);
    }
    Ok(StartLine::Request {
        method: Method::from_bytes(method),
        uri: buf.slice(from + first + 1..from + last),
        version: buf.slice(from + last + 1..to),
    })
}

/// Frames messages out of a byte stream (TCP): feed bytes, take whole messages.
#[derive(Default)]
pub struct StreamParser {
    buf: BytesMut,
}

/// What a stream yields.
#[derive(Debug)]
pub enum StreamItem {
    Message(Message),
    /// A CRLF CRLF keep-alive ping (RFC 5626 §3.5.1); answer it with one CRLF.
    Ping,
}

impl StreamParser {
    pub fn new() -> StreamParser {
        StreamParser::default()
    }

    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message, `Ok(None)` when more bytes are needed. An error means the stream
    /// cannot be framed any more: close it.
    pub fn next_item(&mut self) -> Result<Option<StreamItem>, ParseError> {
        let crlfs = self
            .buf
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        if crlfs > 0 {
            let ping = self.buf.starts_with(b"\r\n\r\n");
            self.buf.advance(if ping { 4 } else { crlfs.min(2) });
            if ping {
                return Ok(Some(StreamItem::Ping));
            }
            if crlfs >= 2 {
                return self.next_item();
            }
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        let Some((header_end, length)) = frame(&self.buf) else {
            return if self.buf.len() > MAX_MESSAGE {
                Err(ParseError::TooLarge)
            } else {
                Ok(None)
            };
        };
        let total = header_end + length.unwrap_or(0);
        if total > MAX_MESSAGE {
            return Err(ParseError::TooLarge);
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let bytes = self.buf.split_to(total).freeze();
        let (message, _) = parse_bytes(bytes, true)?;
        if length.is_none() && message.header(&HeaderName::ContentLength).is_some() {
            // Answerable, but nothing after it can be framed.
            self.buf.clear();
        }
        Ok(Some(StreamItem::Message(message)))
    }
}

/// Where the header section of the message at the start of `data` ends (after the empty line),
/// and its Content-Length (`None`: missing or unreadable). `None` while the section is incomplete.
fn frame(data: &[u8]) -> Option<(usize, Option<usize>)> {
    let mut pos = 0;
    let mut length = None;
    let mut seen = false;
    loop {
        let (end, next) = line_end(data, pos)?;
        if end == pos {
            return Some((next, length));
        }
        if pos > 0 {
            if let Some((name_end, vs, ve)) = split_header(data, pos, end) {
                if HeaderName::from_bytes(&data[pos..name_end]) == HeaderName::ContentLength {
                    let parsed = parse_length(&data[vs..ve]).ok();
                    length = if seen && parsed != length {
                        None
                    } else {
                        parsed
                    };
                    seen = true;
                }
            }
        }
        pos = next;
    }
}
