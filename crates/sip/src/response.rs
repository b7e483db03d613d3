//! Responses built from the request they answer (RFC 3261 §8.2.6): Via, From, To, Call-ID and
//! CSeq copied as received, a To tag added when the response needs one.

use bytes::{BufMut, BytesMut};

use crate::message::Message;
use crate::name::HeaderName;

/// A response to `request`. `to_tag` is added to To unless it already has a tag or the
/// response is 100 Trying.
pub fn response_to(
    request: &Message,
    code: u16,
    reason: Option<&str>,
    to_tag: Option<&str>,
) -> Message {
    let mut r = Message::response(code, reason);
    r.copy_from(request, &HeaderName::Via);
    r.copy_from(request, &HeaderName::From);
    match (request.header(&HeaderName::To), to_tag) {
        (Some(to), Some(tag))
            if code > 100 && request.to_header().is_ok_and(|t| t.tag().is_none()) =>
        {
            let mut v = BytesMut::with_capacity(to.value_bytes().len() + tag.len() + 5);
            v.put_slice(to.value_bytes());
            v.put_slice(b";tag=");
            v.put_slice(tag.as_bytes());
            r.push(HeaderName::To, v.freeze());
        }
        _ => {
            r.copy_from(request, &HeaderName::To);
        }
    }
    r.copy_from(request, &HeaderName::CallId);
    r.copy_from(request, &HeaderName::CSeq);
    if code == 100 {
        r.copy_from(request, &HeaderName::Timestamp);
    }
    r
}
