//! Header names (long and compact forms, case-insensitive) and request methods.

use bytes::Bytes;

macro_rules! header_names {
    ($( $variant:ident => $long:literal $(, $compact:literal)? ;)*) => {
        /// A header field name. Known names are recognised in either form and any case; the rest
        /// keep their bytes as written.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum HeaderName {
            $( $variant, )*
            /// An extension header, as written.
            Other(Bytes),
        }

        impl HeaderName {
            /// Recognises a name as written on the wire.
            pub fn from_bytes(raw: &[u8]) -> HeaderName {
                $(
                    if raw.eq_ignore_ascii_case($long.as_bytes()) $( || raw.eq_ignore_ascii_case($compact.as_bytes()) )? {
                        return HeaderName::$variant;
                    }
                )*
                HeaderName::Other(Bytes::copy_from_slice(raw))
            }

            /// The canonical long form.
            pub fn as_str(&self) -> &str {
                match self {
                    $( HeaderName::$variant => $long, )*
                    HeaderName::Other(b) => std::str::from_utf8(b).unwrap_or("X-Invalid"),
                }
            }
        }
    };
}

header_names! {
    Via => "Via", "v";
    From => "From", "f";
    To => "To", "t";
    CallId => "Call-ID", "i";
    CSeq => "CSeq";
    MaxForwards => "Max-Forwards";
    Contact => "Contact", "m";
    Route => "Route";
    RecordRoute => "Record-Route";
    ContentType => "Content-Type", "c";
    ContentLength => "Content-Length", "l";
    ContentEncoding => "Content-Encoding", "e";
    Expires => "Expires";
    MinExpires => "Min-Expires";
    Allow => "Allow";
    Supported => "Supported", "k";
    Require => "Require";
    ProxyRequire => "Proxy-Require";
    Unsupported => "Unsupported";
    Authorization => "Authorization";
    WwwAuthenticate => "WWW-Authenticate";
    ProxyAuthenticate => "Proxy-Authenticate";
    ProxyAuthorization => "Proxy-Authorization";
    AuthenticationInfo => "Authentication-Info";
    Reason => "Reason";
    Accept => "Accept";
    AcceptEncoding => "Accept-Encoding";
    Date => "Date";
    UserAgent => "User-Agent";
    Server => "Server";
    Subject => "Subject", "s";
    Event => "Event", "o";
    AllowEvents => "Allow-Events", "u";
    ReferTo => "Refer-To", "r";
    ReferredBy => "Referred-By", "b";
    RetryAfter => "Retry-After";
    SessionExpires => "Session-Expires", "x";
    MinSe => "Min-SE";
    Warning => "Warning";
    Timestamp => "Timestamp";
    PAssertedIdentity => "P-Asserted-Identity";
    Diversion => "Diversion";
    Replaces => "Replaces";
}

impl HeaderName {
    /// Headers that may appear once only (RFC 3261 §7.3.1: the rest are lists or may repeat).
    pub fn is_single(&self) -> bool {
        matches!(
            self,
            HeaderName::From
                | HeaderName::To
                | HeaderName::CallId
                | HeaderName::CSeq
                | HeaderName::MaxForwards
                | HeaderName::ContentType
                | HeaderName::ContentLength
                | HeaderName::Expires
                | HeaderName::MinExpires
                | HeaderName::SessionExpires
                | HeaderName::MinSe
        )
    }

    /// Whether `self` names the same header as `other` (extension names compare case-insensitively).
    pub fn same(&self, other: &HeaderName) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            _ => self == other,
        }
    }
}

/// A request method. Methods are case-sensitive tokens; any token is a method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Update,
    Info,
    Prack,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
    /// Any other token, as written.
    Other(Bytes),
}

impl Method {
    pub fn from_bytes(raw: &[u8]) -> Method {
        match raw {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"OPTIONS" => Method::Options,
            b"REGISTER" => Method::Register,
            b"UPDATE" => Method::Update,
            b"INFO" => Method::Info,
            b"PRACK" => Method::Prack,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"REFER" => Method::Refer,
            b"MESSAGE" => Method::Message,
            b"PUBLISH" => Method::Publish,
            other => Method::Other(Bytes::copy_from_slice(other)),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Update => "UPDATE",
            Method::Info => "INFO",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other(b) => std::str::from_utf8(b).unwrap_or("INVALID"),
        }
    }

    pub fn is_token(&self) -> bool {
        match self {
            Method::Other(b) => !b.is_empty() && b.iter().all(|&c| crate::text::is_token(c)),
            _ => true,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            HeaderName::from_bytes(b"MaX-fOrWaRdS"),
            HeaderName::MaxForwards
        );
        assert_eq!(HeaderName::from_bytes(b"i"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"L"), HeaderName::ContentLength);
        assert_eq!(HeaderName::from_bytes(b"X-Foo").as_str(), "X-Foo");
        assert!(HeaderName::from_bytes(b"x-foo").same(&HeaderName::from_bytes(b"X-FOO")));
        assert_eq!(
            Method::from_bytes(b"invite"),
            Method::Other(Bytes::from_static(b"invite"))
        );
        assert_eq!(Method::from_bytes(b"INVITE").as_str(), "INVITE");
    }
}
