//! What a REFER asks for (RFC 3515): the Refer-To target, and for an attended transfer the
//! dialog it replaces (RFC 3891), carried as an escaped `Replaces` header inside the
//! Refer-To URI: `<sip:1002@pbx?Replaces=abc%40host%3Bto-tag%3D7%3Bfrom-tag%3D9>`.

use crate::headers::NameAddr;
use crate::text::unescape;

/// The dialog a Replaces names (RFC 3891 §6.1), as the REFER's sender sees it: `to_tag` is
/// the tag of the far end of that dialog, `from_tag` the sender's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replaces {
    pub call_id: String,
    pub to_tag: String,
    pub from_tag: String,
    /// Replace only a dialog still ringing.
    pub early_only: bool,
}

impl Replaces {
    /// Parses a Replaces value (`callid;to-tag=x;from-tag=y[;early-only]`). Both tags are
    /// required; parameters are matched case-insensitively, unknown ones are ignored.
    pub fn parse(value: &str) -> Option<Replaces> {
        let mut parts = value.split(';');
        let call_id = parts.next()?.trim();
        if call_id.is_empty() || call_id.bytes().any(|b| b.is_ascii_whitespace()) {
            return None;
        }
        let (mut to_tag, mut from_tag, mut early_only) = (None, None, false);
        for p in parts {
            let (name, value) = match p.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (p.trim(), None),
            };
            match (name.to_ascii_lowercase().as_str(), value) {
                ("to-tag", Some(v)) if !v.is_empty() => to_tag = Some(v.to_string()),
                ("from-tag", Some(v)) if !v.is_empty() => from_tag = Some(v.to_string()),
                ("early-only", None) => early_only = true,
                _ => {}
            }
        }
        Some(Replaces {
            call_id: call_id.to_string(),
            to_tag: to_tag?,
            from_tag: from_tag?,
            early_only,
        })
    }
}

/// A Refer-To value, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferTo {
    /// The target's user part (an extension or number), escapes decoded.
    pub user: String,
    /// The dialog an attended transfer replaces.
    pub replaces: Option<Replaces>,
}

impl ReferTo {
    /// Decodes a Refer-To header value. None when it is not a SIP URI with a user part, or
    /// when it carries a Replaces that does not parse (an attended transfer that cannot be
    /// done must not turn into a blind one).
    pub fn parse(value: &str) -> Option<ReferTo> {
        let na = NameAddr::parse(value)?;
        let sip = na.uri.as_sip()?;
        let user = sip.user_text().filter(|u| !u.is_empty())?;
        let replaces = match sip
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("replaces"))
        {
            Some((_, v)) => {
                let v = String::from_utf8(unescape(v)).ok()?;
                Some(Replaces::parse(&v)?)
            }
            None => None,
        };
        Some(ReferTo { user, replaces })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blind_and_attended_targets() {
        let blind = ReferTo::parse("<sip:1002@127.0.0.1:5060>").expect("blind");
        assert_eq!(blind.user, "1002");
        assert_eq!(blind.replaces, None);
        // As linphone sends it.
        let attended = ReferTo::parse(
            "<sip:1002@127.0.0.1:5060?Replaces=Kx9Vb%40host%3Bto-tag%3Dabc%3Bfrom-tag%3DXyZ>",
        )
        .expect("attended");
        assert_eq!(attended.user, "1002");
        assert_eq!(
            attended.replaces,
            Some(Replaces {
                call_id: "Kx9Vb@host".into(),
                to_tag: "abc".into(),
                from_tag: "XyZ".into(),
                early_only: false,
            })
        );
        let early = ReferTo::parse(
            "\"Bob\" <sip:%31002@h?Replaces=c1%3BFrom-Tag%3Df%3Bto-tag%3Dt%3Bearly-only&Foo=x>",
        )
        .expect("early");
        assert_eq!(early.user, "1002");
        assert!(early.replaces.expect("replaces").early_only);
    }

    #[test]
    fn unusable_targets_are_refused() {
        for bad in [
            "<tel:+74951234567>",
            "<sip:127.0.0.1>",
            "<sip:1002@h?Replaces=only-a-call-id>",
            "<sip:1002@h?Replaces=c%3Bto-tag%3Dt>",
            "<sip:1002@h?Replaces=%3Bto-tag%3Dt%3Bfrom-tag%3Df>",
            "<sip:1002@h?Replaces=a%20b%3Bto-tag%3Dt%3Bfrom-tag%3Df>",
            "<sip:1002@h?Replaces=c%3Bto-tag%3D%3Bfrom-tag%3Df>",
            "<sip:1002@h?Replaces=%FF%3Bto-tag%3Dt%3Bfrom-tag%3Df>",
            "",
        ] {
            assert_eq!(ReferTo::parse(bad), None, "{bad}");
        }
    }
}
