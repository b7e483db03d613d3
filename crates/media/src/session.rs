//! Media sessions: a call's legs as Hotline sees them.
//!
//! - [`Leg`]: one RTP peer: what was negotiated, where to send (latched to where its packets
//!   really come from: symmetric RTP, RFC 4961, for phones behind NAT), receive statistics and
//!   RFC 4733 digits.
//! - [`Bridge`]: two legs relayed to each other in place (transcoding PCMU↔PCMA when they
//!   differ), optionally recorded.
//! - [`Endpoint`]: one leg that Hotline itself talks to: prompts and music out, digits
//!   (RFC 4733 or in-band) and recording in.
//!
//! Nothing here allocates per packet: packets are rewritten in the caller's buffer, decoded
//! audio goes through a stack buffer, and events go to a caller's `Vec` that is reused.

use std::net::SocketAddr;

use crate::dtmf::{DtmfEvent, DtmfReceiver, DtmfSender};
use crate::g711;
use crate::inband::{ToneDetector, ToneEvent};
use crate::playback::Player;
use crate::recorder::{Law, Recorder};
use crate::rtcp::{RemoteView, Reporter};
use crate::rtp::{is_rtcp, Arrival, ReceiveStats, RtpHeader, RtpPacket};
use crate::sdp::{Codec, Negotiated};

/// A latched address is given up for another source only after this much silence from it.
pub const RELATCH_AFTER_MS: u64 = 2000;
/// Samples per packet at most (60 ms at 8 kHz).
const MAX_SAMPLES: usize = 480;

/// One RTP peer.
#[derive(Debug)]
pub struct Leg {
    pub negotiated: Negotiated,
    latched: Option<SocketAddr>,
    last_from_latched_ms: u64,
    last_packet_ms: u64,
    pub stats: ReceiveStats,
    dtmf: DtmfReceiver,
    pub packets: u64,
    pub bytes: u64,
    /// RTCP with this peer: our reports to it, what its reports say.
    pub rtcp: Reporter,
    /// Received and lost under the peer's earlier sources (statistics restart with a new
    /// SSRC), for the leg's totals.
    earlier_received: u64,
    earlier_lost: u64,
}

/// How a leg went: what Hotline measured of the peer's audio, and what the peer's RTCP
/// reports said of Hotline's (RFC 3550 §6.4), for the call's record.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LegQuality {
    /// Audio packets received from the peer (all its sources).
    pub packets_received: u64,
    /// Audio packets the peer sent that never came (by sequence numbers).
    pub packets_lost: u64,
    /// Interarrival jitter of the peer's audio now, and the worst at any report, ms.
    pub jitter_ms: f32,
    pub max_jitter_ms: f32,
    /// RTCP reports sent to the peer.
    pub reports_sent: u32,
    /// What the peer reported of Hotline's audio (nothing when it sends no RTCP).
    pub remote: RemoteView,
}

/// What a packet was.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Audio in the negotiated codec; its payload is `data[start..start + len]` (after CSRCs
    /// and the header extension, without padding).
    Audio {
        ssrc: u32,
        timestamp: u32,
        start: usize,
        len: usize,
    },
    /// A telephone-event packet (digits, if any, were appended to the events).
    Dtmf { ssrc: u32, timestamp: u32 },
    /// RTCP (on the RTP port, RFC 5761) or something that is not RTP: dropped.
    Other,
}

impl Leg {
    /// `seed` picks the leg's RTCP identity and report timing.
    pub fn new(negotiated: Negotiated, now_ms: u64, seed: u64) -> Leg {
        Leg {
            negotiated,
            latched: None,
            last_from_latched_ms: now_ms,
            last_packet_ms: now_ms,
            stats: ReceiveStats::new(),
            dtmf: DtmfReceiver::new(),
            packets: 0,
            bytes: 0,
            rtcp: Reporter::new(now_ms, seed),
            earlier_received: 0,
            earlier_lost: 0,
        }
    }

    /// An RTCP datagram from the peer (on the RTCP port); `ntp` is the wall clock now.
    /// Returns whether it was taken (RTCP from another host than the peer's is not).
    pub fn on_rtcp(&mut self, now_ms: u64, ntp: u64, from: SocketAddr, data: &[u8]) -> bool {
        let peer = self.latched.or(self.negotiated.remote).map(|a| a.ip());
        self.rtcp.on_packet(now_ms, ntp, from, peer, data)
    }

    /// If a report to the peer is due, writes it into `out`: its length and where it goes
    /// (none while the peer's RTCP address is unknown).
    pub fn rtcp_report(
        &mut self,
        now_ms: u64,
        ntp: u64,
        out: &mut [u8],
    ) -> Option<(usize, SocketAddr)> {
        let n = self.rtcp.report(now_ms, ntp, &mut self.stats, out)?;
        let to = self.rtcp.destination(self.negotiated.remote_rtcp)?;
        Some((n, to))
    }

    /// The leg's figures so far.
    pub fn quality(&self) -> LegQuality {
        let jitter_ms = if self.stats.ssrc().is_some() {
            self.stats.jitter() as f32 / 8.0
        } else {
            0.0
        };
        LegQuality {
            packets_received: self.earlier_received + self.stats.received(),
            packets_lost: self.earlier_lost + self.stats.cumulative_lost().max(0) as u64,
            jitter_ms,
            max_jitter_ms: self.rtcp.max_jitter_ms.max(jitter_ms),
            reports_sent: self.rtcp.reports_sent,
            remote: self.rtcp.remote,
        }
    }

    /// Where packets for this peer go: where its packets come from, else what its SDP said.
    pub fn destination(&self) -> Option<SocketAddr> {
        if !self.negotiated.direction.sends() {
            return None;
        }
        self.latched.or(self.negotiated.remote)
    }

    /// The source this leg is held to at `now_ms`: the latched address while it is heard
    /// within [`RELATCH_AFTER_MS`]. Until then no other source is taken, so a shell may have
    /// the kernel drop other sources' datagrams (a connected socket).
    pub fn held_by(&self, now_ms: u64) -> Option<SocketAddr> {
        self.latched
            .filter(|_| now_ms.saturating_sub(self.last_from_latched_ms) < RELATCH_AFTER_MS)
    }

    /// A new offer/answer (re-INVITE: hold, resume, codec change). The latch is kept.
    pub fn renegotiate(&mut self, negotiated: Negotiated) {
        self.negotiated = negotiated;
    }

    /// Whether nothing came for `timeout_ms` (the peer is gone).
    pub fn idle(&self, now_ms: u64, timeout_ms: u64) -> bool {
        now_ms.saturating_sub(self.last_packet_ms) >= timeout_ms
    }

    /// Reads one datagram from `from`.
    pub fn receive(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        data: &[u8],
        digits: &mut Vec<DtmfEvent>,
    ) -> Received {
        if is_rtcp(data) {
            return Received::Other;
        }
        let Ok(p) = RtpPacket::parse(data) else {
            return Received::Other;
        };
        match self.latched {
            Some(l) if l == from => self.last_from_latched_ms = now_ms,
            Some(_) if now_ms.saturating_sub(self.last_from_latched_ms) < RELATCH_AFTER_MS => {
                // Another source while the latched one is alive: not our peer.
                return Received::Other;
            }
            _ => {
                self.latched = Some(from);
                self.last_from_latched_ms = now_ms;
            }
        }
        self.last_packet_ms = now_ms;
        self.packets += 1;
        self.bytes += data.len() as u64;
        let arrival = (now_ms as u32).wrapping_mul(8);
        if Some(p.payload_type) == self.negotiated.dtmf_payload_type {
            self.dtmf
                .on_packet(now_ms, p.ssrc, p.timestamp, p.payload, digits);
            return Received::Dtmf {
                ssrc: p.ssrc,
                timestamp: p.timestamp,
            };
        }
        if p.payload_type != self.negotiated.payload_type {
            return Received::Other;
        }
        if self.stats.ssrc().is_some_and(|s| s != p.ssrc) {
            self.earlier_received += self.stats.received();
            self.earlier_lost += self.stats.cumulative_lost().max(0) as u64;
        }
        // Statistics only: late and duplicated audio is still relayed (the far end's jitter
        // buffer sorts it), and the recorder places it by timestamp.
        let _: Arrival = self
            .stats
            .on_packet(p.ssrc, p.sequence, p.timestamp, arrival);
        Received::Audio {
            ssrc: p.ssrc,
            timestamp: p.timestamp,
            start: p.payload.as_ptr() as usize - data.as_ptr() as usize,
            len: p.payload.len(),
        }
    }

    /// Ends a digit whose end packets were lost.
    pub fn tick(&mut self, now_ms: u64, digits: &mut Vec<DtmfEvent>) {
        self.dtmf.on_tick(now_ms, digits);
    }
}

/// How a codec's payload is recorded.
fn law(codec: Codec) -> Law {
    match codec {
        Codec::Pcmu => Law::Ulaw,
        Codec::Pcma => Law::Alaw,
    }
}

/// Decodes a G.711 payload into `out`; returns the samples written.
pub fn decode(codec: Codec, payload: &[u8], out: &mut [i16]) -> usize {
    match codec {
        Codec::Pcmu => g711::decode_ulaw(payload, out),
        Codec::Pcma => g711::decode_alaw(payload, out),
    }
}

/// Encodes samples into `out`; returns the bytes written.
pub fn encode(codec: Codec, samples: &[i16], out: &mut [u8]) -> usize {
    match codec {
        Codec::Pcmu => g711::encode_ulaw(samples, out),
        Codec::Pcma => g711::encode_alaw(samples, out),
    }
}

/// Two legs relayed to each other, media anchored in Hotline.
#[derive(Debug)]
pub struct Bridge {
    pub legs: [Leg; 2],
    recorder: Option<Recorder>,
    /// Which leg is the caller (the left channel of the recording).
    caller: usize,
    forwarded: [u64; 2],
}

impl Bridge {
    pub fn new(a: Leg, b: Leg) -> Bridge {
        Bridge {
            legs: [a, b],
            recorder: None,
            caller: 0,
            forwarded: [0, 0],
        }
    }

    /// Starts recording: leg `caller`'s audio on the left, the other's on the right.
    pub fn record(&mut self, now_ms: u64, caller: usize) {
        self.recorder = Some(Recorder::new(now_ms));
        self.caller = caller & 1;
    }

    pub fn recorder_mut(&mut self) -> Option<&mut Recorder> {
        self.recorder.as_mut()
    }

    /// Takes the recorder (a recording that goes on in another session state, e.g. music on
    /// hold between two bridges).
    pub fn take_recorder(&mut self) -> Option<Recorder> {
        self.recorder.take()
    }

    /// Records with a recorder already running: leg `caller` on the left.
    pub fn set_recorder(&mut self, recorder: Recorder, caller: usize) {
        self.recorder = Some(recorder);
        self.caller = caller & 1;
    }

    /// The legs, for an endpoint that takes the call back (latching and statistics kept).
    pub fn into_legs(self) -> [Leg; 2] {
        self.legs
    }

    /// Packets forwarded from each leg.
    pub fn forwarded(&self) -> [u64; 2] {
        self.forwarded
    }

    /// A packet of `len` bytes in `buf` came to leg `side` from `from`. Returns where to send
    /// `buf[..len]` (rewritten in place for the other leg) from the other leg's socket, if
    /// anywhere.
    pub fn relay(
        &mut self,
        side: usize,
        now_ms: u64,
        from: SocketAddr,
        buf: &mut [u8],
        digits: &mut Vec<DtmfEvent>,
    ) -> Option<SocketAddr> {
        let side = side & 1;
        let other = 1 - side;
        let received = self.legs[side].receive(now_ms, from, buf, digits);
        let (src, dst) = (self.legs[side].negotiated, self.legs[other].negotiated);
        if !src.direction.receives() {
            return None;
        }
        let destination = self.legs[other].destination()?;
        match received {
            Received::Other => None,
            Received::Dtmf { ssrc, timestamp } => {
                let pt = dst.dtmf_payload_type?;
                buf[1] = (buf[1] & 0x80) | (pt & 0x7f);
                self.forwarded[side] += 1;
                self.legs[other].rtcp.on_sent(
                    now_ms,
                    ssrc,
                    timestamp,
                    buf.len().saturating_sub(12),
                );
                Some(destination)
            }
            Received::Audio {
                ssrc,
                timestamp,
                start,
                len,
            } => {
                if let Some(rec) = self.recorder.as_mut() {
                    let payload = &buf[start..start + len.min(MAX_SAMPLES)];
                    let track = if side == self.caller { 0 } else { 1 };
                    rec.on_g711(track, now_ms, ssrc, timestamp, law(src.codec), payload);
                }
                if src.codec != dst.codec {
                    let payload = &mut buf[start..start + len];
                    match dst.codec {
                        Codec::Pcma => g711::ulaw_to_alaw_in_place(payload),
                        Codec::Pcmu => g711::alaw_to_ulaw_in_place(payload),
                    }
                }
                buf[1] = (buf[1] & 0x80) | (dst.payload_type & 0x7f);
                self.forwarded[side] += 1;
                self.legs[other].rtcp.on_sent(now_ms, ssrc, timestamp, len);
                Some(destination)
            }
        }
    }
}

/// Something an endpoint heard or did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointEvent {
    /// A key pressed, from RFC 4733 packets or heard in the audio.
    Digit { digit: char, inband: bool },
    /// The queued prompts finished playing.
    PromptFinished,
}

/// One leg Hotline talks to itself: it sends a packet every ptime (prompts, music or
/// silence, and digits it is asked to send) and hears digits and audio.
#[derive(Debug)]
pub struct Endpoint {
    pub leg: Leg,
    pub player: Player,
    detector: Option<ToneDetector>,
    recorder: Option<Recorder>,
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    next_send_ms: u64,
    sender: Option<DtmfSender>,
    pending_digits: Vec<char>,
    digits: Vec<DtmfEvent>,
    tones: Vec<ToneEvent>,
}

impl Endpoint {
    /// `seed` picks the SSRC, first sequence number and timestamp (RFC 3550 wants them random).
    pub fn new(leg: Leg, now_ms: u64, seed: u64) -> Endpoint {
        // In-band detection only where the peer does not send RFC 4733.
        let detector = leg
            .negotiated
            .dtmf_payload_type
            .is_none()
            .then(ToneDetector::new);
        Endpoint {
            leg,
            player: Player::new(),
            detector,
            recorder: None,
            ssrc: (seed >> 32) as u32 | 1,
            sequence: seed as u16,
            timestamp: (seed >> 16) as u32,
            next_send_ms: now_ms,
            sender: None,
            pending_digits: Vec::new(),
            digits: Vec::with_capacity(4),
            tones: Vec::with_capacity(4),
        }
    }

    /// The leg, for a bridge that takes the call over (latching and statistics kept).
    pub fn into_leg(self) -> Leg {
        self.leg
    }

    /// Always listens for in-band tones as well (a trunk known to send tones in the audio).
    pub fn detect_inband(&mut self) {
        if self.detector.is_none() {
            self.detector = Some(ToneDetector::new());
        }
    }

    /// Records what the peer says (left channel; the right one carries what we play).
    pub fn record(&mut self, now_ms: u64) {
        self.recorder = Some(Recorder::new(now_ms));
    }

    pub fn recorder_mut(&mut self) -> Option<&mut Recorder> {
        self.recorder.as_mut()
    }

    pub fn take_recorder(&mut self) -> Option<Recorder> {
        self.recorder.take()
    }

    /// Records with a recorder already running (what the peer says on the left, what we
    /// play on the right).
    pub fn set_recorder(&mut self, recorder: Recorder) {
        self.recorder = Some(recorder);
    }

    /// Queues digits to send as RFC 4733 events (100 ms each, 50 ms apart).
    pub fn send_digits(&mut self, digits: &str) {
        self.pending_digits.extend(digits.chars().rev());
    }

    /// A datagram from the peer.
    pub fn receive(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        data: &[u8],
        out: &mut Vec<EndpointEvent>,
    ) {
        self.digits.clear();
        let r = self.leg.receive(now_ms, from, data, &mut self.digits);
        for d in &self.digits {
            if let DtmfEvent::Digit { digit, .. } = d {
                out.push(EndpointEvent::Digit {
                    digit: *digit,
                    inband: false,
                });
            }
        }
        if let Received::Audio {
            ssrc,
            timestamp,
            start,
            len,
        } = r
        {
            let mut pcm = [0i16; MAX_SAMPLES];
            let n = decode(
                self.leg.negotiated.codec,
                &data[start..start + len.min(MAX_SAMPLES)],
                &mut pcm,
            );
            if let Some(rec) = self.recorder.as_mut() {
                rec.on_audio(0, now_ms, ssrc, timestamp, &pcm[..n]);
            }
            if let Some(det) = self.detector.as_mut() {
                self.tones.clear();
                det.feed(&pcm[..n], &mut self.tones);
                for t in &self.tones {
                    if let ToneEvent::Digit { digit, .. } = t {
                        out.push(EndpointEvent::Digit {
                            digit: *digit,
                            inband: true,
                        });
                    }
                }
            }
        }
    }

    /// When [`Endpoint::transmit`] wants to be called next.
    pub fn next_send_ms(&self) -> u64 {
        self.next_send_ms
    }

    /// If a packet is due by `now_ms`, writes it into `buf` and returns its length and where it
    /// goes. Call until it returns `None` (it catches up after a late wake-up).
    pub fn transmit(
        &mut self,
        now_ms: u64,
        buf: &mut [u8],
        out: &mut Vec<EndpointEvent>,
    ) -> Option<(usize, SocketAddr)> {
        if now_ms < self.next_send_ms {
            return None;
        }
        let ptime = self.leg.negotiated.ptime.clamp(10, 60);
        let samples = (ptime * 8) as usize;
        self.next_send_ms += u64::from(ptime);
        self.digits.clear();
        self.leg.tick(now_ms, &mut self.digits);
        // Digits first: while one is being sent, no audio packets go (RFC 4733 §2.5.1.1).
        if self.sender.is_none() {
            if let (Some(d), Some(_)) = (
                self.pending_digits.pop(),
                self.leg.negotiated.dtmf_payload_type,
            ) {
                self.sender = DtmfSender::new(d, self.timestamp, 100, ptime, 8000);
            }
        }
        let mut pcm = [0i16; MAX_SAMPLES];
        let filled = self.player.fill(&mut pcm[..samples]);
        if filled.finished {
            out.push(EndpointEvent::PromptFinished);
        }
        if let Some(rec) = self.recorder.as_mut() {
            rec.on_audio(1, now_ms, self.ssrc, self.timestamp, &pcm[..samples]);
        }
        let destination = self.leg.destination()?;
        self.sequence = self.sequence.wrapping_add(1);
        if let Some(sender) = self.sender.as_mut() {
            if let Some(p) = sender.next_packet() {
                let header = RtpHeader {
                    marker: p.marker,
                    payload_type: self.leg.negotiated.dtmf_payload_type.unwrap_or(101),
                    sequence: self.sequence,
                    timestamp: p.timestamp,
                    ssrc: self.ssrc,
                };
                let n = header.write(&p.payload, buf).ok()?;
                self.leg
                    .rtcp
                    .on_sent(now_ms, self.ssrc, p.timestamp, p.payload.len());
                return Some((n, destination));
            }
            // The event is over: media resumes after it (plus a 50 ms gap).
            self.timestamp = self.timestamp.wrapping_add(sender.total() + 400);
            self.sender = None;
        }
        let mut payload = [0u8; MAX_SAMPLES];
        let n = encode(self.leg.negotiated.codec, &pcm[..samples], &mut payload);
        let header = RtpHeader {
            marker: false,
            payload_type: self.leg.negotiated.payload_type,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
        };
        self.leg.rtcp.on_sent(now_ms, self.ssrc, self.timestamp, n);
        self.timestamp = self.timestamp.wrapping_add(samples as u32);
        let len = header.write(&payload[..n], buf).ok()?;
        Some((len, destination))
    }
}
