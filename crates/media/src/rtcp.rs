//! RTCP (RFC 3550 §6): sender and receiver reports written into a caller's buffer and read
//! from compound packets (other packet types are skipped), SDES CNAME, and [`Reporter`]: one
//! leg's reports to its peer and what the peer's reports said.

use std::net::SocketAddr;

use crate::rtp::ReceiveStats;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    #[error("not an RTCP packet")]
    NotRtcp,
    #[error("a packet's length runs past the datagram")]
    Truncated,
    #[error("the buffer is too small for the report")]
    BufferTooSmall,
}

/// One reception report block (§6.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportBlock {
    pub ssrc: u32,
    pub fraction_lost: u8,
    /// 24-bit signed.
    pub cumulative_lost: i32,
    pub extended_max: u32,
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR from that source (0: none yet).
    pub last_sr: u32,
    /// Since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    /// The block for a source from its statistics (marks the loss interval).
    pub fn from_stats(
        stats: &mut ReceiveStats,
        last_sr: u32,
        delay_since_last_sr: u32,
    ) -> Option<ReportBlock> {
        let ssrc = stats.ssrc()?;
        Some(ReportBlock {
            ssrc,
            fraction_lost: stats.fraction_lost(),
            cumulative_lost: stats.cumulative_lost(),
            extended_max: stats.extended_max() as u32,
            jitter: stats.jitter(),
            last_sr,
            delay_since_last_sr,
        })
    }

    fn write(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        let lost = (self.cumulative_lost as u32) & 0x00ff_ffff;
        out[4] = self.fraction_lost;
        out[5..8].copy_from_slice(&lost.to_be_bytes()[1..]);
        out[8..12].copy_from_slice(&self.extended_max.to_be_bytes());
        out[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        out[16..20].copy_from_slice(&self.last_sr.to_be_bytes());
        out[20..24].copy_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }

    fn read(b: &[u8]) -> ReportBlock {
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        // Sign-extend the 24-bit count.
        let lost = ((u32::from_be_bytes([0, b[5], b[6], b[7]]) << 8) as i32) >> 8;
        ReportBlock {
            ssrc: word(0),
            fraction_lost: b[4],
            cumulative_lost: lost,
            extended_max: word(8),
            jitter: word(12),
            last_sr: word(16),
            delay_since_last_sr: word(20),
        }
    }
}

/// The sender half of an SR (§6.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderInfo {
    /// NTP timestamp, 32.32 fixed point.
    pub ntp: u64,
    pub rtp_timestamp: u32,
    pub packets: u32,
    pub octets: u32,
}

/// A sender or receiver report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub ssrc: u32,
    pub sender: Option<SenderInfo>,
    pub blocks: Vec<ReportBlock>,
}

impl Report {
    /// Writes an SR (with sender info) or an RR; at most 31 blocks. Returns the length.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RtcpError> {
        let blocks = &self.blocks[..self.blocks.len().min(31)];
        let sender_len = if self.sender.is_some() { 20 } else { 0 };
        let len = 8 + sender_len + 24 * blocks.len();
        let out = out.get_mut(..len).ok_or(RtcpError::BufferTooSmall)?;
        out[0] = 0x80 | blocks.len() as u8;
        out[1] = if self.sender.is_some() { 200 } else { 201 };
        out[2..4].copy_from_slice(&((len / 4 - 1) as u16).to_be_bytes());
        out[4..8].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut at = 8;
        if let Some(s) = &self.sender {
            out[8..16].copy_from_slice(&s.ntp.to_be_bytes());
            out[16..20].copy_from_slice(&s.rtp_timestamp.to_be_bytes());
            out[20..24].copy_from_slice(&s.packets.to_be_bytes());
            out[24..28].copy_from_slice(&s.octets.to_be_bytes());
            at = 28;
        }
        for b in blocks {
            b.write(&mut out[at..at + 24]);
            at += 24;
        }
        Ok(len)
    }

    /// The SRs and RRs of a compound packet, in order; other types are skipped.
    pub fn parse_compound(data: &[u8]) -> Result<Vec<Report>, RtcpError> {
        if !crate::rtp::is_rtcp(data) {
            return Err(RtcpError::NotRtcp);
        }
        let mut reports = Vec::new();
        let mut rest = data;
        while rest.len() >= 4 {
            if rest[0] >> 6 != 2 {
                return Err(RtcpError::NotRtcp);
            }
            let count = usize::from(rest[0] & 0x1f);
            let kind = rest[1];
            let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
            let packet = rest.get(..len).ok_or(RtcpError::Truncated)?;
            let sender_len = match kind {
                200 => 20,
                201 => 0,
                _ => {
                    rest = &rest[len..];
                    continue;
                }
            };
            if packet.len() < 8 + sender_len + 24 * count {
                return Err(RtcpError::Truncated);
            }
            let word = |i: usize| {
                u32::from_be_bytes([packet[i], packet[i + 1], packet[i + 2], packet[i + 3]])
            };
            let sender = (kind == 200).then(|| SenderInfo {
                ntp: (u64::from(word(8)) << 32) | u64::from(word(12)),
                rtp_timestamp: word(16),
                packets: word(20),
                octets: word(24),
            });
            let first = 8 + sender_len;
            let blocks = (0..count)
                .map(|i| ReportBlock::read(&packet[first + 24 * i..first + 24 * (i + 1)]))
                .collect();
            reports.push(Report {
                ssrc: word(4),
                sender,
                blocks,
            });
            rest = &rest[len..];
        }
        if !rest.is_empty() {
            return Err(RtcpError::Truncated);
        }
        Ok(reports)
    }
}

/// Writes an SDES packet with one chunk: `ssrc`'s CNAME (§6.5.1). Returns the length.
pub fn write_cname(ssrc: u32, cname: &[u8], out: &mut [u8]) -> Result<usize, RtcpError> {
    let cname = &cname[..cname.len().min(255)];
    // SSRC, CNAME item (type, length, text), the END item, padded to a 32-bit boundary.
    let chunk = (4 + 2 + cname.len() + 1).div_ceil(4) * 4;
    let len = 4 + chunk;
    let out = out.get_mut(..len).ok_or(RtcpError::BufferTooSmall)?;
    out.fill(0);
    out[0] = 0x81;
    out[1] = 202;
    out[2..4].copy_from_slice(&((len / 4 - 1) as u16).to_be_bytes());
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    out[8] = 1;
    out[9] = cname.len() as u8;
    out[10..10 + cname.len()].copy_from_slice(cname);
    Ok(len)
}

/// The middle 32 bits of an NTP timestamp (what LSR and RTT arithmetic use, §6.4.1).
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// RTCP's interval is at least 5 s (§6.2); the first report may come after half of it.
pub const INTERVAL_MS: u64 = 5000;

/// What a peer's reports said of the stream Hotline sends it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RemoteView {
    /// Reports (SR or RR) that carried a block about our stream.
    pub reports: u32,
    /// The last report's fraction lost, 0–1.
    pub fraction_lost: f32,
    /// The worst fraction lost any report gave.
    pub max_fraction_lost: f32,
    /// Packets the peer counted lost since it began (may be negative with duplicates).
    pub cumulative_lost: i32,
    /// Interarrival jitter the peer measured, in ms (8 kHz clock).
    pub jitter_ms: f32,
    pub max_jitter_ms: f32,
    /// Round trip from the last report that echoed one of our SRs (§6.4.1), ms.
    pub rtt_ms: Option<u32>,
    pub max_rtt_ms: Option<u32>,
}

/// What Hotline sent toward a peer, for sender reports.
#[derive(Clone, Copy, Debug, Default)]
struct Sent {
    ssrc: Option<u32>,
    packets: u32,
    octets: u32,
    /// RTP timestamp of the newest packet and when it went (ms), to give the SR a timestamp
    /// for "now".
    timestamp: u32,
    at_ms: u64,
    /// Something went since the last report (then it is an SR).
    since_report: bool,
}

/// One leg's RTCP (RFC 3550 §6), sans-IO: reports written to the peer every ~5 s (an SR
/// while Hotline sends it audio, else an RR; each with the peer's reception block and a
/// CNAME), the peer's reports read (loss, jitter and round trip of what Hotline sends), and
/// the peer's RTCP address latched (symmetric RTCP, RFC 4961).
///
/// Time is given twice: `now_ms` on the caller's monotonic clock, and `ntp` (64-bit NTP
/// wall clock) for what goes on the wire.
#[derive(Clone, Debug)]
pub struct Reporter {
    latched: Option<SocketAddr>,
    next_ms: u64,
    rng: u64,
    /// Our SSRC while we send nothing of our own (a receiver's reports need one).
    own_ssrc: u32,
    cname: [u8; 16],
    sent: Sent,
    /// The peer's last SR: the middle of its NTP time, and when it came (ms).
    peer_sr: Option<(u32, u64)>,
    pub remote: RemoteView,
    pub reports_sent: u32,
    /// RTCP datagrams that did not parse or came from an address not the peer's.
    pub rejected: u32,
    /// The worst jitter we measured of the peer's stream at a report, ms.
    pub max_jitter_ms: f32,
}

impl Reporter {
    /// `seed` picks our SSRC, CNAME and the intervals' randomness.
    pub fn new(now_ms: u64, seed: u64) -> Reporter {
        let mut r = Reporter {
            latched: None,
            next_ms: now_ms,
            rng: seed | 1,
            own_ssrc: 0,
            cname: [0; 16],
            sent: Sent::default(),
            peer_sr: None,
            remote: RemoteView::default(),
            reports_sent: 0,
            rejected: 0,
            max_jitter_ms: 0.0,
        };
        r.own_ssrc = r.random() as u32 | 1;
        // RFC 7022: a random CNAME per session (nothing about the host leaks).
        let id = r.random();
        for (i, c) in r.cname.iter_mut().enumerate() {
            *c = b"0123456789abcdef"[((id >> (4 * i)) & 0xf) as usize];
        }
        r.next_ms = now_ms + r.interval(INTERVAL_MS / 2);
        r
    }

    fn random(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `base` randomized over [0.5, 1.5] and divided by e − 3/2 (§6.3.1, §6.3.5).
    fn interval(&mut self, base: u64) -> u64 {
        let factor = 500 + self.random() % 1001;
        base * factor * 10_000 / 1000 / 12_183
    }

    /// Where reports go: where the peer's RTCP comes from, else what its SDP said.
    pub fn destination(&self, negotiated: Option<SocketAddr>) -> Option<SocketAddr> {
        self.latched.or(negotiated)
    }

    /// The SSRC our reports go out under: the stream we send, else our own.
    pub fn ssrc(&self) -> u32 {
        self.sent.ssrc.unwrap_or(self.own_ssrc)
    }

    /// A packet went to the peer: `ssrc`'s, `timestamp`, `payload` octets.
    #[inline]
    pub fn on_sent(&mut self, now_ms: u64, ssrc: u32, timestamp: u32, payload: usize) {
        if self.sent.ssrc != Some(ssrc) {
            // A new source: an SR's counts start again (§6.4.1).
            self.sent = Sent {
                ssrc: Some(ssrc),
                ..Sent::default()
            };
        }
        let s = &mut self.sent;
        s.packets = s.packets.wrapping_add(1);
        s.octets = s.octets.wrapping_add(payload as u32);
        s.timestamp = timestamp;
        s.at_ms = now_ms;
        s.since_report = true;
    }

    /// An RTCP datagram from `from`; `peer_ip` is the address the peer's RTP is known at
    /// (latched or from its SDP), if any: RTCP from another host is not the peer's.
    /// Returns whether it was taken.
    pub fn on_packet(
        &mut self,
        now_ms: u64,
        ntp: u64,
        from: SocketAddr,
        peer_ip: Option<std::net::IpAddr>,
        data: &[u8],
    ) -> bool {
        if peer_ip.is_some_and(|ip| ip != from.ip()) {
            self.rejected += 1;
            return false;
        }
        let Ok(reports) = Report::parse_compound(data) else {
            self.rejected += 1;
            return false;
        };
        self.latched = Some(from);
        let ours = [self.sent.ssrc, Some(self.own_ssrc)];
        for r in &reports {
            if let Some(s) = &r.sender {
                self.peer_sr = Some((ntp_middle(s.ntp), now_ms));
            }
            for b in r.blocks.iter().filter(|b| ours.contains(&Some(b.ssrc))) {
                let v = &mut self.remote;
                v.reports += 1;
                v.fraction_lost = f32::from(b.fraction_lost) / 256.0;
                v.max_fraction_lost = v.max_fraction_lost.max(v.fraction_lost);
                v.cumulative_lost = b.cumulative_lost;
                v.jitter_ms = b.jitter as f32 / 8.0;
                v.max_jitter_ms = v.max_jitter_ms.max(v.jitter_ms);
                if b.last_sr != 0 {
                    // A − LSR − DLSR, in 1/65536 s; a negative or absurd one (clock trouble
                    // at the peer) is not kept.
                    let rtt = ntp_middle(ntp)
                        .wrapping_sub(b.last_sr)
                        .wrapping_sub(b.delay_since_last_sr);
                    if rtt < 60 << 16 {
                        let ms = ((u64::from(rtt) * 1000 + 32_768) / 65_536) as u32;
                        v.rtt_ms = Some(ms);
                        v.max_rtt_ms = Some(v.max_rtt_ms.map_or(ms, |m| m.max(ms)));
                    }
                }
            }
        }
        true
    }

    /// If a report is due by `now_ms`, writes it (SR or RR, then SDES) into `out` and returns
    /// its length; the caller sends it to [`Reporter::destination`]. `stats` is the peer's
    /// stream as received (its loss interval is marked).
    pub fn report(
        &mut self,
        now_ms: u64,
        ntp: u64,
        stats: &mut ReceiveStats,
        out: &mut [u8],
    ) -> Option<usize> {
        if now_ms < self.next_ms {
            return None;
        }
        self.next_ms = now_ms + self.interval(INTERVAL_MS);
        let (last_sr, delay) = match self.peer_sr {
            Some((lsr, at)) => (lsr, ((now_ms.saturating_sub(at)) * 65536 / 1000) as u32),
            None => (0, 0),
        };
        let block = ReportBlock::from_stats(stats, last_sr, delay);
        if stats.ssrc().is_some() {
            self.max_jitter_ms = self.max_jitter_ms.max(stats.jitter() as f32 / 8.0);
        }
        let s = self.sent;
        let sender = s.since_report.then(|| SenderInfo {
            ntp,
            // The stream's clock now: the last packet's timestamp moved on by the time since.
            rtp_timestamp: s
                .timestamp
                .wrapping_add((now_ms.saturating_sub(s.at_ms) * 8) as u32),
            packets: s.packets,
            octets: s.octets,
        });
        self.sent.since_report = false;
        let report = Report {
            ssrc: self.ssrc(),
            sender,
            blocks: block.into_iter().collect(),
        };
        let n = report.write(out).ok()?;
        let m = write_cname(report.ssrc, &self.cname, &mut out[n..]).ok()?;
        self.reports_sent += 1;
        Some(n + m)
    }
}
