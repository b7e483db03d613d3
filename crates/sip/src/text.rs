//! Byte-level helpers shared by every typed header: character classes from RFC 3261 §25.1, a
//! cursor that skips linear white space (folded lines included), quoted strings, `%` escapes.

/// Linear white space inside a header value. A folded line keeps its CRLF in the stored value,
/// and a CRLF there is always followed by SP or HT, so all four count as one class.
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// `token` characters (RFC 3261 §25.1).
pub(crate) fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

pub(crate) fn is_token_str(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token)
}

pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

pub(crate) fn trim_lws(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_lws(c as u8))
}

/// Whether every `%` in `s` starts a `%HH` escape.
pub(crate) fn escapes_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            match (b.get(i + 1), b.get(i + 2)) {
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
        } else {
            i += 1;
        }
    }
    true
}

/// Decodes `%HH` escapes; bytes that are not a valid escape stay as they are.
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (b.get(i + 1).and_then(hex), b.get(i + 2).and_then(hex)) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex(b: &u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Escapes every byte outside `keep` (and outside unreserved) as `%HH`.
pub fn escape(raw: &[u8], keep: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        if is_unreserved(b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    out
}

/// Quotes `s` as a `quoted-string`, escaping `"` and `\`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A cursor over one header value. Every method leaves the cursor unchanged when it fails.
#[derive(Clone, Copy)]
pub(crate) struct Cursor<'a> {
    pub(crate) s: &'a str,
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Cursor { s, pos: 0 }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    pub(crate) fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    pub(crate) fn skip_lws(&mut self) {
        while self.peek().is_some_and(is_lws) {
            self.pos += 1;
        }
    }

    /// Eats `b` after optional LWS; LWS after it is eaten too (SWS b SWS).
    pub(crate) fn eat_sep(&mut self, b: u8) -> bool {
        let save = self.pos;
        self.skip_lws();
        if self.peek() == Some(b) {
            self.pos += 1;
            self.skip_lws();
            true
        } else {
            self.pos = save;
            false
        }
    }

    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        // Only ASCII predicates are used, so both ends are char boundaries; `get` keeps it total.
        self.s.get(start..self.pos).unwrap_or("")
    }

    pub(crate) fn token(&mut self) -> Option<&'a str> {
        let t = self.take_while(is_token);
        (!t.is_empty()).then_some(t)
    }

    /// A `quoted-string` (the cursor on its opening quote), decoded: quoted pairs unescaped.
    pub(crate) fn quoted(&mut self) -> Option<String> {
        let save = self.pos;
        if !self.eat(b'"') {
            return None;
        }
        let mut out = Vec::new();
        let bytes = self.s.as_bytes();
        while let Some(&b) = bytes.get(self.pos) {
            match b {
                b'"' => {
                    self.pos += 1;
                    return String::from_utf8(out).ok();
                }
                b'\\' => match bytes.get(self.pos + 1) {
                    // quoted-pair excludes CR and LF.
                    Some(&n) if n != b'\r' && n != b'\n' && n < 0x80 => {
                        out.push(n);
                        self.pos += 2;
                    }
                    _ => break,
                },
                _ => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
        self.pos = save;
        None
    }
}

/// Splits a header value at commas that are outside quotes and angle brackets.
pub(crate) fn split_commas(s: &str) -> Option<Vec<&str>> {
    let b = s.as_bytes();
    let mut parts = Vec::new();
    let (mut start, mut i, mut in_quote, mut in_angle) = (0, 0, false, false);
    while i < b.len() {
        match b[i] {
            b'\\' if in_quote => i += 1,
            b'"' if !in_angle => in_quote = !in_quote,
            b'<' if !in_quote => in_angle = true,
            b'>' if !in_quote => in_angle = false,
            b',' if !in_quote && !in_angle => {
                parts.push(s.get(start..i)?);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if in_quote || in_angle {
        return None;
    }
    parts.push(s.get(start..)?);
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(unescape("%75se%72"), b"user");
        assert_eq!(unescape("null-%00-null"), b"null-\0-null");
        assert_eq!(unescape("%Z%45"), b"%ZE");
        assert!(escapes_ok("a%41b"));
        assert!(!escapes_ok("a%4"));
        assert_eq!(escape(b"I have spaces", b""), "I%20have%20spaces");
    }

    #[test]
    fn quoted_and_commas() {
        let mut c = Cursor::new(r#""J Rosenberg \\\"" <sip:x>"#);
        assert_eq!(c.quoted().as_deref(), Some(r#"J Rosenberg \""#));
        assert_eq!(
            split_commas(r#"<sip:a,b>, "x,y" <sip:c>,sip:d"#),
            Some(vec!["<sip:a,b>", r#" "x,y" <sip:c>"#, "sip:d"])
        );
        assert_eq!(split_commas(r#""open"#), None);
        assert_eq!(quote(r#"a"b"#), r#""a\"b""#);
    }
}
