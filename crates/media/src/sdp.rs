//! SDP (RFC 4566) as far as voice needs it, and the offer/answer model (RFC 3264).
//!
//! We speak PCMU (0), PCMA (8) and telephone-event (RFC 4733) at 8 kHz. An answer takes the
//! first codec of the offer that we support (the offerer's preference), telephone-event if it
//! was offered, and the mirror of the offered direction (sendonly ↔ recvonly, inactive stays).
//! Hold is `sendonly`/`inactive`, or the old `c=0.0.0.0` (RFC 2543).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SdpError {
    #[error("SDP line {0} is malformed")]
    Malformed(usize),
    #[error("SDP has no audio stream")]
    NoAudio,
    #[error("SDP offers no codec we support (PCMU, PCMA)")]
    NoCommonCodec,
    #[error("SDP has no connection address for the audio stream")]
    NoConnection,
}

/// G.711 in one of its two laws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    /// The static payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    fn from_name(name: &str) -> Option<Codec> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }
}

/// The direction attribute of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The answer's direction for an offered one (RFC 3264 §6.1).
    pub fn mirror(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// One `a=rtpmap` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpMap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
}

/// One `m=` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaDescription {
    pub media: String,
    pub port: u16,
    pub protocol: String,
    /// Format tokens as they came (payload types for RTP/AVP).
    pub formats: Vec<String>,
    pub connection: Option<IpAddr>,
    pub rtpmaps: Vec<RtpMap>,
    pub ptime: Option<u32>,
    pub direction: Option<Direction>,
    /// Other attribute lines, kept in order without the `a=`.
    pub attributes: Vec<String>,
}

/// A session description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionDescription {
    pub origin_user: String,
    pub session_id: u64,
    pub session_version: u64,
    pub origin_address: String,
    pub session_name: String,
    pub connection: Option<IpAddr>,
    pub direction: Option<Direction>,
    pub media: Vec<MediaDescription>,
}

fn parse_connection(value: &str) -> Option<IpAddr> {
    // c=IN IP4 192.0.2.1[/ttl]
    let mut parts = value.split_ascii_whitespace();
    if parts.next()? != "IN" {
        return None;
    }
    let _family = parts.next()?;
    let addr = parts.next()?;
    addr.split('/').next()?.parse().ok()
}

fn parse_direction(attr: &str) -> Option<Direction> {
    match attr {
        "sendrecv" => Some(Direction::SendRecv),
        "sendonly" => Some(Direction::SendOnly),
        "recvonly" => Some(Direction::RecvOnly),
        "inactive" => Some(Direction::Inactive),
        _ => None,
    }
}

impl SessionDescription {
    /// Reads an SDP body. Unknown lines are skipped; a line we need that does not parse is an
    /// error naming its number.
    pub fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
        let text = String::from_utf8_lossy(body);
        let mut sdp = SessionDescription {
            origin_user: "-".into(),
            session_id: 0,
            session_version: 0,
            origin_address: "0.0.0.0".into(),
            session_name: "-".into(),
            connection: None,
            direction: None,
            media: Vec::new(),
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            let number = n + 1;
            let Some((kind, value)) = line.split_once('=') else {
                if line.trim().is_empty() {
                    continue;
                }
                return Err(SdpError::Malformed(number));
            };
            match (kind, sdp.media.last_mut()) {
                ("o", _) => {
                    let p: Vec<&str> = value.split_ascii_whitespace().collect();
                    if p.len() < 6 {
                        return Err(SdpError::Malformed(number));
                    }
                    sdp.origin_user = p[0].into();
                    sdp.session_id = p[1].parse().unwrap_or(0);
                    sdp.session_version = p[2].parse().unwrap_or(0);
                    sdp.origin_address = p[5].into();
                }
                ("s", _) => sdp.session_name = value.into(),
                ("c", m) => {
                    let addr = parse_connection(value).ok_or(SdpError::Malformed(number))?;
                    match m {
                        Some(m) => m.connection = Some(addr),
                        None => sdp.connection = Some(addr),
                    }
                }
                ("m", _) => {
                    let mut p = value.split_ascii_whitespace();
                    let media = p.next().ok_or(SdpError::Malformed(number))?;
                    let port = p.next().ok_or(SdpError::Malformed(number))?;
                    // m=audio 49170/2 RTP/AVP 0: the port count is not used for audio.
                    let port: u16 = port
                        .split('/')
                        .next()
                        .and_then(|p| p.parse().ok())
                        .ok_or(SdpError::Malformed(number))?;
                    let protocol = p.next().ok_or(SdpError::Malformed(number))?;
                    sdp.media.push(MediaDescription {
                        media: media.into(),
                        port,
                        protocol: protocol.into(),
                        formats: p.map(String::from).collect(),
                        connection: None,
                        rtpmaps: Vec::new(),
                        ptime: None,
                        direction: None,
                        attributes: Vec::new(),
                    });
                }
                ("a", m) => {
                    if let Some(d) = parse_direction(value) {
                        match m {
                            Some(m) => m.direction = Some(d),
                            None => sdp.direction = Some(d),
                        }
                        continue;
                    }
                    let Some(m) = m else { continue };
                    if let Some(rest) = value.strip_prefix("rtpmap:") {
                        let (pt, enc) = rest.split_once(' ').ok_or(SdpError::Malformed(number))?;
                        let mut e = enc.trim().split('/');
                        let encoding = e.next().unwrap_or_default().to_string();
                        let clock_rate = e.next().and_then(|r| r.parse().ok()).unwrap_or(8000);
                        m.rtpmaps.push(RtpMap {
                            payload_type: pt
                                .trim()
                                .parse()
                                .map_err(|_| SdpError::Malformed(number))?,
                            encoding,
                            clock_rate,
                        });
                    } else if let Some(p) = value.strip_prefix("ptime:") {
                        m.ptime = p.trim().parse().ok();
                    } else {
                        m.attributes.push(value.into());
                    }
                }
                _ => {}
            }
        }
        Ok(sdp)
    }

    /// The first audio stream.
    pub fn audio(&self) -> Option<&MediaDescription> {
        self.media.iter().find(|m| m.media == "audio")
    }

    /// The direction of a stream, with the session-level default and the old hold form.
    pub fn direction_of(&self, m: &MediaDescription) -> Direction {
        let d = m.direction.or(self.direction).unwrap_or_default();
        let addr = m.connection.or(self.connection);
        if addr == Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)) {
            // RFC 2543 hold: nothing is sent to us.
            return match d {
                Direction::SendRecv | Direction::SendOnly => Direction::SendOnly,
                _ => Direction::Inactive,
            };
        }
        d
    }

    /// Prints the description with CRLF line ends.
    pub fn print(&self) -> String {
        let mut s = String::with_capacity(256);
        let family = |a: &IpAddr| if a.is_ipv4() { "IP4" } else { "IP6" };
        let _ = write!(
            s,
            "v=0\r\no={} {} {} IN {} {}\r\ns={}\r\n",
            self.origin_user,
            self.session_id,
            self.session_version,
            if self.origin_address.contains(':') {
                "IP6"
            } else {
                "IP4"
            },
            self.origin_address,
            self.session_name
        );
        if let Some(c) = &self.connection {
            let _ = write!(s, "c=IN {} {}\r\n", family(c), c);
        }
        s.push_str("t=0 0\r\n");
        if let Some(d) = self.direction {
            let _ = write!(s, "a={}\r\n", d.as_str());
        }
        for m in &self.media {
            let _ = write!(s, "m={} {} {}", m.media, m.port, m.protocol);
            for f in &m.formats {
                let _ = write!(s, " {f}");
            }
            s.push_str("\r\n");
            if let Some(c) = &m.connection {
                let _ = write!(s, "c=IN {} {}\r\n", family(c), c);
            }
            for r in &m.rtpmaps {
                let _ = write!(
                    s,
                    "a=rtpmap:{} {}/{}\r\n",
                    r.payload_type, r.encoding, r.clock_rate
                );
            }
            for a in &m.attributes {
                let _ = write!(s, "a={a}\r\n");
            }
            if let Some(p) = m.ptime {
                let _ = write!(s, "a=ptime:{p}\r\n");
            }
            if let Some(d) = m.direction {
                let _ = write!(s, "a={}\r\n", d.as_str());
            }
        }
        s
    }
}

/// What one side of a call agreed on for its audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    /// The payload type used for the codec (static: 0 or 8).
    pub payload_type: u8,
    /// The telephone-event payload type, when both sides have it.
    pub dtmf_payload_type: Option<u8>,
    pub ptime: u32,
    /// Where the peer wants its RTP (before latching), `None` when it declined or holds
    /// with 0.0.0.0.
    pub remote: Option<SocketAddr>,
    /// Where the peer wants its RTCP (before latching): `a=rtcp` (RFC 3605), else the port
    /// above its RTP port (RFC 3550 §11).
    pub remote_rtcp: Option<SocketAddr>,
    /// Our direction toward this peer.
    pub direction: Direction,
}

/// Our side of a stream: where we receive and what we offer, in preference order.
#[derive(Clone, Debug)]
pub struct LocalMedia {
    pub address: IpAddr,
    pub port: u16,
    pub codecs: Vec<Codec>,
    pub dtmf_payload_type: u8,
    pub ptime: u32,
    pub direction: Direction,
    pub session_id: u64,
    pub session_version: u64,
}

fn codec_of(m: &MediaDescription, format: &str) -> Option<(Codec, u8)> {
    let pt: u8 = format.parse().ok()?;
    match m.rtpmaps.iter().find(|r| r.payload_type == pt) {
        Some(r) if r.clock_rate == 8000 => Codec::from_name(&r.encoding).map(|c| (c, pt)),
        Some(_) => None,
        None => match pt {
            0 => Some((Codec::Pcmu, 0)),
            8 => Some((Codec::Pcma, 8)),
            _ => None,
        },
    }
}

fn dtmf_of(m: &MediaDescription) -> Option<u8> {
    m.rtpmaps
        .iter()
        .find(|r| r.encoding.eq_ignore_ascii_case("telephone-event") && r.clock_rate == 8000)
        .map(|r| r.payload_type)
        .filter(|pt| m.formats.iter().any(|f| f.parse() == Ok(*pt)))
}

fn description(local: &LocalMedia, formats: Vec<(u8, String)>, direction: Direction) -> String {
    let mut rtpmaps = Vec::new();
    let mut tokens = Vec::new();
    let mut attributes = Vec::new();
    for (pt, name) in formats {
        tokens.push(pt.to_string());
        rtpmaps.push(RtpMap {
            payload_type: pt,
            encoding: name.clone(),
            clock_rate: 8000,
        });
        if name == "telephone-event" {
            attributes.push(format!("fmtp:{pt} 0-16"));
        }
    }
    SessionDescription {
        origin_user: "hotline".into(),
        session_id: local.session_id,
        session_version: local.session_version,
        origin_address: local.address.to_string(),
        session_name: "hotline".into(),
        connection: Some(local.address),
        direction: None,
        media: vec![MediaDescription {
            media: "audio".into(),
            port: local.port,
            protocol: "RTP/AVP".into(),
            formats: tokens,
            connection: None,
            rtpmaps,
            ptime: Some(local.ptime),
            direction: Some(direction),
            attributes,
        }],
    }
    .print()
}

/// Our offer.
pub fn offer(local: &LocalMedia) -> String {
    let mut formats: Vec<(u8, String)> = local
        .codecs
        .iter()
        .map(|c| (c.payload_type(), c.name().to_string()))
        .collect();
    formats.push((local.dtmf_payload_type, "telephone-event".into()));
    description(local, formats, local.direction)
}

fn remote_of(sdp: &SessionDescription, m: &MediaDescription) -> Option<SocketAddr> {
    let addr = m.connection.or(sdp.connection)?;
    if m.port == 0 || addr.is_unspecified() {
        return None;
    }
    Some(SocketAddr::new(addr, m.port))
}

/// Where a peer wants its RTCP: the address of its `a=rtcp` (RFC 3605; the RTP address's
/// host when it names none), else the port above its RTP port. `None` while it receives no
/// RTP either (declined, or held with 0.0.0.0).
fn rtcp_of(m: &MediaDescription, remote: Option<SocketAddr>) -> Option<SocketAddr> {
    let remote = remote?;
    let named = m.attributes.iter().find_map(|a| {
        let mut p = a.strip_prefix("rtcp:")?.split_ascii_whitespace();
        let port: u16 = p.next()?.parse().ok().filter(|p| *p != 0)?;
        let host = match (p.next(), p.next(), p.next()) {
            (Some("IN"), Some(_), Some(a)) => a.parse().unwrap_or(remote.ip()),
            _ => remote.ip(),
        };
        Some(SocketAddr::new(host, port))
    });
    named.or_else(|| {
        let port = remote.port().checked_add(1)?;
        Some(SocketAddr::new(remote.ip(), port))
    })
}

/// The first format of a stream that is a codec `wanted` accepts, with its payload type.
fn first_codec(m: &MediaDescription, wanted: impl Fn(Codec) -> bool) -> Option<(Codec, u8)> {
    m.formats
        .iter()
        .filter_map(|f| codec_of(m, f))
        .find(|(c, _)| wanted(*c))
}

/// What was agreed with the peer that wrote `sdp` (an offer or an answer someone else
/// negotiated, as a B2BUA sees them): `codec` if given (the answer's choice), else the first
/// codec it lists that we have; our direction toward it is the mirror of its own.
pub fn agreement(sdp: &SessionDescription, codec: Option<Codec>) -> Option<Negotiated> {
    let m = sdp.audio()?;
    let (codec, payload_type) = first_codec(m, |c| codec.is_none_or(|w| w == c))?;
    Some(Negotiated {
        codec,
        payload_type,
        dtmf_payload_type: dtmf_of(m),
        ptime: m.ptime.unwrap_or(20).clamp(10, 60),
        remote: remote_of(sdp, m),
        remote_rtcp: rtcp_of(m, remote_of(sdp, m)),
        direction: sdp.direction_of(m).mirror(),
    })
}

/// Answers an offer: what was agreed and the answer's body.
pub fn answer(offer: &[u8], local: &LocalMedia) -> Result<(Negotiated, String), SdpError> {
    let sdp = SessionDescription::parse(offer)?;
    let m = sdp.audio().ok_or(SdpError::NoAudio)?;
    if m.connection.or(sdp.connection).is_none() {
        return Err(SdpError::NoConnection);
    }
    let (codec, pt) =
        first_codec(m, |c| local.codecs.contains(&c)).ok_or(SdpError::NoCommonCodec)?;
    let dtmf = dtmf_of(m);
    let offered = sdp.direction_of(m);
    let direction = match (offered.mirror(), local.direction) {
        (d, Direction::SendRecv) => d,
        (Direction::SendRecv, ours) => ours,
        (Direction::SendOnly, Direction::SendOnly) => Direction::SendOnly,
        (Direction::RecvOnly, Direction::RecvOnly) => Direction::RecvOnly,
        _ => Direction::Inactive,
    };
    let mut formats = vec![(pt, codec.name().to_string())];
    if let Some(d) = dtmf {
        formats.push((d, "telephone-event".into()));
    }
    let ptime = m.ptime.unwrap_or(20).clamp(10, 60);
    let body = description(
        &LocalMedia {
            ptime,
            ..local.clone()
        },
        formats,
        direction,
    );
    Ok((
        Negotiated {
            codec,
            payload_type: pt,
            dtmf_payload_type: dtmf,
            ptime,
            remote: remote_of(&sdp, m),
            remote_rtcp: rtcp_of(m, remote_of(&sdp, m)),
            direction,
        },
        body,
    ))
}

/// Reads the answer to our offer.
pub fn accept_answer(answer: &[u8], local: &LocalMedia) -> Result<Negotiated, SdpError> {
    let sdp = SessionDescription::parse(answer)?;
    let m = sdp.audio().ok_or(SdpError::NoAudio)?;
    if m.port == 0 {
        return Err(SdpError::NoCommonCodec);
    }
    let (codec, pt) =
        first_codec(m, |c| local.codecs.contains(&c)).ok_or(SdpError::NoCommonCodec)?;
    let theirs = sdp.direction_of(m);
    Ok(Negotiated {
        codec,
        payload_type: pt,
        dtmf_payload_type: dtmf_of(m),
        ptime: m.ptime.unwrap_or(20).clamp(10, 60),
        remote: remote_of(&sdp, m),
        remote_rtcp: rtcp_of(m, remote_of(&sdp, m)),
        direction: theirs.mirror(),
    })
}

/// A copy of `sdp` with the audio stream moved to `address:port` and its codecs cut to the
/// ones we can relay, for anchoring a call's media in Hotline; the origin becomes ours.
pub fn anchor(
    sdp: &SessionDescription,
    address: IpAddr,
    port: u16,
    session_id: u64,
    session_version: u64,
) -> Result<String, SdpError> {
    let mut sdp = sdp.clone();
    let had_hold = sdp.audio().map(|m| sdp.direction_of(m));
    let m = sdp
        .media
        .iter_mut()
        .find(|m| m.media == "audio")
        .ok_or(SdpError::NoAudio)?;
    let keep: Vec<String> = m
        .formats
        .iter()
        .filter(|f| {
            codec_of(m, f).is_some() || dtmf_of(m).map(|d| d.to_string()) == Some((*f).clone())
        })
        .cloned()
        .collect();
    if !keep.iter().any(|f| codec_of(m, f).is_some()) && m.port != 0 {
        return Err(SdpError::NoCommonCodec);
    }
    m.rtpmaps
        .retain(|r| keep.contains(&r.payload_type.to_string()));
    m.attributes.retain(|a| {
        a.strip_prefix("fmtp:")
            .and_then(|r| r.split(' ').next())
            .is_none_or(|pt| keep.iter().any(|k| k == pt))
            && !a.starts_with("rtcp:")
            // Hotline takes RTCP on the port above RTP, never on the RTP port itself.
            && a != "rtcp-mux"
            && !a.starts_with("candidate")
            && !a.starts_with("ice-")
    });
    m.formats = keep;
    if m.port != 0 {
        m.port = port;
    }
    m.connection = None;
    // The old 0.0.0.0 hold becomes an explicit direction, since the address is now ours.
    if let Some(d) = had_hold {
        if m.direction.is_some() || d != Direction::SendRecv {
            m.direction = Some(d);
        }
    }
    sdp.connection = Some(address);
    sdp.origin_user = "hotline".into();
    sdp.origin_address = address.to_string();
    sdp.session_id = session_id;
    sdp.session_version = session_version;
    Ok(sdp.print())
}
