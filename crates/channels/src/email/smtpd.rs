//! The embedded SMTP listener's protocol, sans-IO: bytes in, replies and received mail out.
//!
//! RFC 5321 as a final destination for the company's mailboxes: EHLO/HELO, MAIL (with
//! `SIZE=`, `BODY=`, `SMTPUTF8`), RCPT (only addresses the listener serves: 550 for others),
//! DATA (dot-unstuffed, at most the size limit: 552), RSET, NOOP, VRFY (252), QUIT; other
//! commands 502, commands out of order 503, bad syntax 501, lines too long 500. A mail read to
//! its end is handed out as [`Event::Mail`]; its "250" is given only by [`Session::stored`],
//! after the shell stored it (or "451" by [`Session::failed`]), so nothing acknowledged is lost.
//! Never panics on any input (property test, fuzz target `smtp_session`).

/// What the shell is told to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Send this reply (one or more CRLF-terminated lines).
    Reply(String),
    /// A mail was received: store it, then call [`Session::stored`] or [`Session::failed`].
    Mail {
        from: String,
        to: Vec<String>,
        data: Vec<u8>,
    },
    /// Close the connection (after the replies before it are sent).
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before EHLO/HELO.
    Fresh,
    /// Greeted, no transaction.
    Ready,
    /// MAIL given.
    Mail,
    /// Reading DATA.
    Data,
    /// A mail was handed out; waiting for the shell.
    Storing,
    Closed,
}

/// Longest command line (RFC 5321 4.5.3.1.4 says 512 with CRLF; extensions make it longer).
const MAX_COMMAND: usize = 2048;
/// Longest text line in DATA that is kept as a line (RFC: 1000); longer lines are refused.
const MAX_TEXT_LINE: usize = 64 * 1024;
const MAX_RECIPIENTS: usize = 100;

/// One SMTP connection's state.
pub struct Session {
    hostname: String,
    max_size: usize,
    accepts: Box<dyn Fn(&str) -> bool + Send>,
    state: State,
    buf: Vec<u8>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
    too_big: bool,
    bad_commands: u32,
}

fn reply(code: u16, text: &str) -> Event {
    Event::Reply(format!("{code} {text}\r\n"))
}

/// The address inside `<...>` after `FROM:`/`TO:` (`""` for the null reverse path), and the
/// parameters after it.
fn path_and_params(arg: &str, keyword: &str) -> Option<(String, Vec<String>)> {
    let rest = arg.get(..keyword.len())?;
    if !rest.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    let mut addr = &rest[..end];
    // A source route (`<@a,@b:user@host>`) is dropped (RFC 5321 4.1.2).
    if addr.starts_with('@') {
        addr = addr.split_once(':').map_or("", |(_, a)| a);
    }
    if addr.len() > 320 || addr.chars().any(|c| c.is_control() || c == ' ') {
        return None;
    }
    let params = rest[end + 1..]
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Some((addr.to_string(), params))
}

impl Session {
    /// A session for mail to addresses `accepts` says yes to, at most `max_size` bytes each.
    pub fn new(
        hostname: &str,
        max_size: usize,
        accepts: impl Fn(&str) -> bool + Send + 'static,
    ) -> Session {
        Session {
            hostname: hostname.to_string(),
            max_size,
            accepts: Box::new(accepts),
            state: State::Fresh,
            buf: Vec::new(),
            from: String::new(),
            to: Vec::new(),
            data: Vec::new(),
            too_big: false,
            bad_commands: 0,
        }
    }

    /// What the server says first.
    pub fn greeting(&self) -> Event {
        reply(220, &format!("{} ESMTP Hotline", self.hostname))
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The shell stored the mail handed out: it is acknowledged.
    pub fn stored(&mut self) -> Vec<Event> {
        self.answer_mail(reply(250, "2.0.0 OK: stored"))
    }

    /// The shell could not store the mail: the client keeps it and tries again later.
    pub fn failed(&mut self) -> Vec<Event> {
        self.answer_mail(reply(451, "4.3.0 not stored now; try again later"))
    }

    /// The answer to the mail being stored, then to the commands pipelined behind it.
    fn answer_mail(&mut self, answer: Event) -> Vec<Event> {
        if self.state != State::Storing {
            return Vec::new();
        }
        self.reset();
        let mut out = vec![answer];
        out.extend(self.feed(&[]));
        out
    }

    fn reset(&mut self) {
        self.state = State::Ready;
        self.from.clear();
        self.to.clear();
        self.data.clear();
        self.too_big = false;
    }

    /// Bytes from the client; what to do about them.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        if self.state == State::Closed {
            return out;
        }
        self.buf.extend_from_slice(bytes);
        loop {
            if matches!(self.state, State::Storing | State::Closed) {
                break;
            }
            let Some(pos) = self.buf.iter().position(|&b| b == b'\n') else {
                let limit = if self.state == State::Data {
                    MAX_TEXT_LINE
                } else {
                    MAX_COMMAND
                };
                if self.buf.len() > limit {
                    out.push(reply(500, "5.5.2 line too long"));
                    out.push(Event::Close);
                    self.state = State::Closed;
                    self.buf.clear();
                }
                break;
            };
            let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if self.state == State::Data {
                if let Some(e) = self.data_line(&line) {
                    out.push(e);
                }
            } else {
                out.extend(self.command(&line));
            }
        }
        out
    }

    fn data_line(&mut self, line: &[u8]) -> Option<Event> {
        if line == b"." {
            if self.too_big {
                self.reset();
                return Some(reply(552, "5.3.4 message too big"));
            }
            self.state = State::Storing;
            return Some(Event::Mail {
                from: std::mem::take(&mut self.from),
                to: std::mem::take(&mut self.to),
                data: std::mem::take(&mut self.data),
            });
        }
        // RFC 5321 4.5.2: a leading dot was doubled by the sender.
        let line = line.strip_prefix(b".").unwrap_or(line);
        if self.data.len() + line.len() + 2 > self.max_size {
            self.too_big = true;
            self.data.clear();
        }
        if !self.too_big {
            self.data.extend_from_slice(line);
            self.data.extend_from_slice(b"\r\n");
        }
        None
    }

    fn command(&mut self, line: &[u8]) -> Vec<Event> {
        let Ok(text) = std::str::from_utf8(line) else {
            return self.bad(reply(500, "5.5.2 not a command"));
        };
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        let arg = arg.trim();
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" if arg.is_empty() => vec![reply(501, "5.5.4 name yourself")],
            "EHLO" => {
                self.reset();
                vec![Event::Reply(format!(
                    "250-{} greets {}\r\n250-PIPELINING\r\n250-SIZE {}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n",
                    self.hostname,
                    arg.chars().take(64).collect::<String>(),
                    self.max_size
                ))]
            }
            "HELO" => {
                self.reset();
                vec![reply(250, &self.hostname.clone())]
            }
            "MAIL" => self.mail(arg),
            "RCPT" => self.rcpt(arg),
            "DATA" => match self.state {
                State::Mail if !self.to.is_empty() => {
                    self.state = State::Data;
                    vec![reply(354, "end with <CRLF>.<CRLF>")]
                }
                State::Mail => vec![reply(554, "5.5.1 no valid recipients")],
                _ => vec![reply(503, "5.5.1 MAIL first")],
            },
            "RSET" => {
                if self.state != State::Fresh {
                    self.reset();
                }
                vec![reply(250, "2.0.0 OK")]
            }
            "NOOP" => vec![reply(250, "2.0.0 OK")],
            "VRFY" => vec![reply(252, "2.5.0 send some mail, we will see")],
            "QUIT" => {
                self.state = State::Closed;
                vec![reply(221, "2.0.0 bye"), Event::Close]
            }
            "STARTTLS" | "AUTH" | "BDAT" | "ETRN" | "EXPN" | "TURN" => {
                vec![reply(502, "5.5.1 not offered here")]
            }
            _ => self.bad(reply(500, "5.5.2 unknown command")),
        }
    }

    /// Counts a bad command; after 10 the client is let go.
    fn bad(&mut self, r: Event) -> Vec<Event> {
        self.bad_commands += 1;
        if self.bad_commands >= 10 {
            self.state = State::Closed;
            return vec![reply(421, "4.7.0 too many errors"), Event::Close];
        }
        vec![r]
    }

    fn mail(&mut self, arg: &str) -> Vec<Event> {
        match self.state {
            State::Fresh => return vec![reply(503, "5.5.1 EHLO first")],
            State::Mail => return vec![reply(503, "5.5.1 nested MAIL")],
            _ => {}
        }
        let Some((from, params)) = path_and_params(arg, "FROM:") else {
            return self.bad(reply(501, "5.5.4 MAIL FROM:<address>"));
        };
        for p in &params {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            match k.to_ascii_uppercase().as_str() {
                "SIZE" => match v.parse::<usize>() {
                    Ok(n) if n > self.max_size => {
                        return vec![reply(552, "5.3.4 message too big")];
                    }
                    Ok(_) => {}
                    Err(_) => return vec![reply(501, "5.5.4 SIZE=number")],
                },
                "BODY" | "SMTPUTF8" => {}
                _ => return vec![reply(555, "5.5.4 parameter not recognised")],
            }
        }
        self.from = from;
        self.state = State::Mail;
        vec![reply(250, "2.1.0 OK")]
    }

    fn rcpt(&mut self, arg: &str) -> Vec<Event> {
        if self.state != State::Mail {
            return vec![reply(503, "5.5.1 MAIL first")];
        }
        let Some((to, _)) = path_and_params(arg, "TO:") else {
            return self.bad(reply(501, "5.5.4 RCPT TO:<address>"));
        };
        let Ok(to) = hotline_model::email::normalize_email(&to) else {
            return vec![reply(501, "5.1.3 not an address")];
        };
        if !(self.accepts)(&to) {
            return vec![reply(550, "5.1.1 no such mailbox here")];
        }
        if self.to.len() >= MAX_RECIPIENTS {
            return vec![reply(452, "4.5.3 too many recipients")];
        }
        if !self.to.contains(&to) {
            self.to.push(to);
        }
        vec![reply(250, "2.1.5 OK")]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::new("mx.bank.test", 1000, |a| {
            a == "support@bank.test" || a == "sales@bank.test"
        })
    }

    fn replies(events: &[Event]) -> Vec<u16> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Reply(r) => r
                    .lines()
                    .last()
                    .and_then(|l| l.get(..3))
                    .and_then(|c| c.parse().ok()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_mail_is_received_and_acknowledged_only_once_stored() {
        let mut s = session();
        assert!(matches!(s.greeting(), Event::Reply(r) if r.starts_with("220 mx.bank.test")));
        let e = s
            .feed(b"EHLO client.example\r\nMAIL FROM:<ivan@example.ru> SIZE=100 BODY=8BITMIME\r\n");
        assert_eq!(replies(&e), vec![250, 250]);
        let e = s.feed(b"RCPT TO:<Support@Bank.test>\r\nRCPT TO:<nobody@bank.test>\r\nRCPT TO:<sales@bank.test>\r\nDATA\r\n");
        assert_eq!(replies(&e), vec![250, 550, 250, 354]);
        // Split across reads; a dot-stuffed line; pipelined QUIT after the end.
        let mut e = s.feed(b"Subject: hi\r\n\r\n..leading dot\r\nline");
        e.extend(s.feed(b" two\r\n.\r\nQUIT\r\n"));
        let mail = e.iter().find_map(|e| match e {
            Event::Mail { from, to, data } => Some((from.clone(), to.clone(), data.clone())),
            _ => None,
        });
        let (from, to, data) = mail.expect("a mail");
        assert_eq!(from, "ivan@example.ru");
        assert_eq!(to, vec!["support@bank.test", "sales@bank.test"]);
        assert_eq!(data, b"Subject: hi\r\n\r\n.leading dot\r\nline two\r\n");
        assert!(replies(&e).is_empty(), "no 250 before it is stored: {e:?}");
        let e = s.stored();
        assert_eq!(replies(&e), vec![250, 221]);
        assert!(e.contains(&Event::Close));
        assert!(s.is_closed());
    }

    #[test]
    fn a_failure_to_store_is_a_temporary_refusal_and_the_session_goes_on() {
        let mut s = session();
        s.feed(b"HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<support@bank.test>\r\nDATA\r\nbody\r\n.\r\n");
        assert_eq!(replies(&s.failed()), vec![451]);
        let e = s.feed(b"MAIL FROM:<a@b.c>\r\n");
        assert_eq!(replies(&e), vec![250]);
    }

    #[test]
    fn out_of_order_bad_and_too_big_are_refused_clearly() {
        let mut s = session();
        assert_eq!(replies(&s.feed(b"MAIL FROM:<a@b.c>\r\n")), vec![503]);
        assert_eq!(replies(&s.feed(b"EHLO\r\n")), vec![501]);
        assert_eq!(
            replies(&s.feed(b"EHLO x\r\nDATA\r\nRCPT TO:<support@bank.test>\r\n")),
            vec![250, 503, 503]
        );
        assert_eq!(replies(&s.feed(b"MAIL FROM:a@b.c\r\n")), vec![501]);
        assert_eq!(
            replies(&s.feed(b"MAIL FROM:<a@b.c> SIZE=5000\r\n")),
            vec![552]
        );
        assert_eq!(replies(&s.feed(b"MAIL FROM:<a@b.c> X=1\r\n")), vec![555]);
        assert_eq!(
            replies(&s.feed(b"MAIL FROM:<a@b.c>\r\nDATA\r\n")),
            vec![250, 554]
        );
        assert_eq!(
            replies(&s.feed(b"RCPT TO:<support@bank.test>\r\nDATA\r\n")),
            vec![250, 354]
        );
        let big = vec![b'x'; 600];
        let mut e = s.feed(&big);
        e.extend(s.feed(b"\r\n"));
        e.extend(s.feed(&big));
        e.extend(s.feed(b"\r\n.\r\n"));
        assert_eq!(replies(&e), vec![552]);
        assert!(!e.iter().any(|e| matches!(e, Event::Mail { .. })));
        assert_eq!(
            replies(&s.feed(b"STARTTLS\r\nVRFY x\r\nNOOP\r\nRSET\r\n")),
            vec![502, 252, 250, 250]
        );
        // A line without end longer than a command may be: refused and closed.
        let e = s.feed(&vec![b'A'; 5000]);
        assert_eq!(replies(&e), vec![500]);
        assert!(s.is_closed());
    }

    #[test]
    fn ten_bad_commands_end_the_session() {
        let mut s = session();
        let e = s.feed(&b"FOO\r\n".repeat(12));
        assert_eq!(replies(&e).last(), Some(&421));
        assert!(s.is_closed());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(chunks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), 0..20)) {
            let mut s = session();
            for c in &chunks {
                for e in s.feed(c) {
                    if let Event::Mail { .. } = e {
                        let _ = s.stored();
                    }
                }
            }
        }
    }
}
