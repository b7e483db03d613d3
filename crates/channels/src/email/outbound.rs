//! An outgoing mail: a reply threaded under what it answers (In-Reply-To the customer's last
//! message, References the whole chain, the ticket in the subject), or an automatic
//! acknowledgement marked `Auto-Submitted: auto-replied` (RFC 3834) so that well-behaved
//! responders do not answer it. No IO: the result is the bytes and the envelope to send.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

use super::inbound::ticket_tag;

#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub from_addr: String,
    pub from_name: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    /// HTML alternative; the agent's rich text, already sanitised.
    pub html: Option<String>,
    pub interaction_id: i64,
    /// The message answered (the customer's newest), without brackets.
    pub in_reply_to: Option<String>,
    /// The chain so far, oldest first, without brackets.
    pub references: Vec<String>,
    /// This mail's own id, without brackets.
    pub message_id: String,
    pub auto_submitted: bool,
    pub attachments: Vec<(String, String, Vec<u8>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("invalid address {0:?}")]
    Address(String),
    #[error("the mail cannot be built: {0}")]
    Build(String),
}

/// `Re: ` once, and the ticket tag once.
pub fn reply_subject(subject: &str, interaction_id: i64) -> String {
    let tag = ticket_tag(interaction_id);
    let mut s = subject.trim().to_string();
    let lower = s.to_lowercase();
    if !(lower.starts_with("re:") || lower.starts_with("на:")) {
        s = format!("Re: {s}");
    }
    if !s.contains(&tag) {
        s = format!("{s} {tag}");
    }
    s
}

/// A new Message-ID under the sender's domain.
pub fn new_message_id(from_addr: &str, interaction_id: i64) -> String {
    let mut r = [0u8; 8];
    let _ = getrandom::fill(&mut r);
    let domain = from_addr
        .rsplit_once('@')
        .map_or("hotline.invalid", |(_, d)| d);
    format!("hl-{interaction_id}-{}@{domain}", hex::encode(r))
}

pub fn compose(d: &Draft) -> Result<lettre::Message, ComposeError> {
    let from: Mailbox = format!("{} <{}>", quote_name(&d.from_name), d.from_addr)
        .parse()
        .or_else(|_| d.from_addr.parse())
        .map_err(|_| ComposeError::Address(d.from_addr.clone()))?;
    let mut b = lettre::Message::builder()
        .from(from)
        .subject(d.subject.clone())
        .message_id(Some(format!("<{}>", d.message_id)))
        .date_now();
    for to in &d.to {
        let mb: Mailbox = to.parse().map_err(|_| ComposeError::Address(to.clone()))?;
        b = b.to(mb);
    }
    if let Some(irt) = &d.in_reply_to {
        b = b.in_reply_to(format!("<{irt}>"));
    }
    if !d.references.is_empty() {
        let refs: Vec<String> = d.references.iter().map(|r| format!("<{r}>")).collect();
        b = b.references(refs.join(" "));
    }
    if d.auto_submitted {
        b = b
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-replied".into(),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
                "All".into(),
            ));
    }
    let text = SinglePart::plain(d.text.clone());
    let body = match &d.html {
        Some(h) => MultiPart::alternative()
            .singlepart(text)
            .singlepart(SinglePart::html(h.clone())),
        None => MultiPart::mixed().singlepart(text),
    };
    let message = if d.attachments.is_empty() {
        match &d.html {
            Some(_) => b.multipart(body),
            None => b.singlepart(SinglePart::plain(d.text.clone())),
        }
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for (name, ctype, bytes) in &d.attachments {
            let ct = ContentType::parse(ctype)
                .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("valid"));
            mixed = mixed.singlepart(Attachment::new(name.clone()).body(bytes.clone(), ct));
        }
        b.multipart(mixed)
    };
    message.map_err(|e| ComposeError::Build(e.to_string()))
}

fn quote_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .collect();
    format!("\"{clean}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_threads_and_parses_back() {
        let d = Draft {
            from_addr: "support@example.test".into(),
            from_name: "Поддержка".into(),
            to: vec!["ivan@example.ru".into()],
            subject: reply_subject("Проблема с заказом", 42),
            text: "Здравствуйте!\n\n> цитата".into(),
            html: None,
            interaction_id: 42,
            in_reply_to: Some("c2@example.ru".into()),
            references: vec!["c1@example.ru".into(), "c2@example.ru".into()],
            message_id: new_message_id("support@example.test", 42),
            auto_submitted: true,
            attachments: vec![("счёт.pdf".into(), "application/pdf".into(), vec![1, 2, 3])],
        };
        let bytes = compose(&d).unwrap().formatted();
        let m = super::super::inbound::parse(&bytes);
        assert_eq!(m.subject, "Re: Проблема с заказом [#42]");
        assert_eq!(m.ticket, Some(42));
        assert_eq!(m.replies_to, vec!["c2@example.ru", "c1@example.ru"]);
        assert_eq!(m.message_id.as_deref(), Some(d.message_id.as_str()));
        assert_eq!(m.auto, Some("auto-submitted"));
        assert_eq!(m.from_name, "Поддержка");
        assert!(m.body_text.contains("Здравствуйте"));
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].name, "счёт.pdf");
        assert_eq!(m.attachments[0].bytes, vec![1, 2, 3]);
        assert_eq!(reply_subject("RE: x [#42]", 42), "RE: x [#42]");
    }
}
