//! Masks personal data in free text before it reaches a log.
//!
//! Phone numbers (a run of at least 9 digits, or `+` and at least 7, with the usual separators
//! between them) become `[phone]`; e-mail addresses become `[email]`. A date such as 2026-11-22
//! has 8 digits and stays readable. The rule errs towards masking: a long numeric id is masked too.

use std::borrow::Cow;

pub const PHONE_MASK: &str = "[phone]";
pub const EMAIL_MASK: &str = "[email]";

pub fn redact(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|b| b == b'@' || b.is_ascii_digit()) {
        return Cow::Borrowed(text);
    }
    // Two passes: e-mail addresses first (their local part may be all digits), then phones.
    let emails = mask_pass(text, |chars, i| {
        email_at(chars, i).map(|end| (local_part_len(chars, i), end, EMAIL_MASK))
    });
    let phones = mask_pass(&emails, |chars, i| {
        phone_at(chars, i).map(|end| (0, end, PHONE_MASK))
    });
    if phones == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(phones)
    }
}

/// Copies `text`, replacing each match. `find(chars, i)` returns how many already-copied
/// characters belong to the match, the index just past it, and the mask.
fn mask_pass(
    text: &str,
    find: impl Fn(&[char], usize) -> Option<(usize, usize, &'static str)>,
) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if let Some((back, end, mask)) = find(&chars, i) {
            for _ in 0..back {
                out.pop();
            }
            out.push_str(mask);
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

fn is_local_char(c: char) -> bool {
    c.is_alphanumeric() || "._%+-".contains(c)
}

fn is_domain_char(c: char) -> bool {
    c.is_alphanumeric() || c == '.' || c == '-'
}

/// Number of local-part characters just before `at` (which holds '@').
fn local_part_len(chars: &[char], at: usize) -> usize {
    chars[..at]
        .iter()
        .rev()
        .take_while(|c| is_local_char(**c))
        .count()
}

/// If `chars[at]` is the '@' of an address, the index just past its domain.
fn email_at(chars: &[char], at: usize) -> Option<usize> {
    if chars[at] != '@' || local_part_len(chars, at) == 0 {
        return None;
    }
    let mut end = at + 1;
    while end < chars.len() && is_domain_char(chars[end]) {
        end += 1;
    }
    // Trailing dots are punctuation of the sentence, not of the domain.
    while end > at + 1 && chars[end - 1] == '.' {
        end -= 1;
    }
    let domain = &chars[at + 1..end];
    let has_dot = domain.contains(&'.');
    (has_dot && domain.first().is_some_and(|c| c.is_alphanumeric())).then_some(end)
}

/// If a phone-like run starts at `start`, the index just past it.
fn phone_at(chars: &[char], start: usize) -> Option<usize> {
    let plus = chars[start] == '+';
    if !plus && !chars[start].is_ascii_digit() {
        return None;
    }
    if start > 0 && chars[start - 1].is_ascii_digit() {
        return None;
    }
    let mut digits = 0;
    let mut end = start + usize::from(plus);
    let mut last_digit_end = end;
    while end < chars.len() {
        let c = chars[end];
        if c.is_ascii_digit() {
            digits += 1;
            end += 1;
            last_digit_end = end;
        } else if " -().\u{a0}".contains(c) && end + 1 < chars.len() {
            end += 1;
        } else {
            break;
        }
    }
    let enough = digits >= 9 || (plus && digits >= 7);
    enough.then_some(last_digit_end)
}

#[cfg(test)]
mod tests {
    use super::redact;

    fn check(input: &str, expected: &str) {
        assert_eq!(redact(input), expected, "input {input:?}");
    }

    #[test]
    fn masks_phones_and_emails() {
        check("caller +79165550102 arrived", "caller [phone] arrived");
        check("from 8 (916) 555-01-02.", "from [phone].");
        check("sip:+79165550102@10.0.0.1", "sip:[email]");
        check("sip:+79165550102@host", "sip:[phone]@host");
        check("mail Ivan.Petrov@example.ru, ok", "mail [email], ok");
        check("to оля@пример.рф.", "to [email].");
        check("a=ivan@mail.ru b=79165550102", "a=[email] b=[phone]");
    }

    #[test]
    fn leaves_ordinary_text() {
        check(
            "2026-11-22T20:26:00.123Z tenant 1 queue 2 ext 1001",
            "2026-11-22T20:26:00.123Z tenant 1 queue 2 ext 1001",
        );
        check("user@localhost said hi", "user@localhost said hi");
        check("1.5 ms, 200 OK", "1.5 ms, 200 OK");
    }
}
