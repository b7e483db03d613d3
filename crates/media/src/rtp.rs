//! RTP (RFC 3550 §5): a packet read in place (no copy, no allocation), written into a buffer
//! the caller owns; sequence numbers extended to 64 bits across wrap-around; the receive
//! statistics a report block needs (RFC 3550 Appendix A.1, A.3, A.8).

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("shorter than an RTP header")]
    TooShort,
    #[error("not RTP version 2")]
    Version,
    #[error("header extension or CSRC list runs past the packet")]
    Truncated,
    #[error("padding longer than the payload")]
    Padding,
    #[error("the buffer is too small for the packet")]
    BufferTooSmall,
}

/// A parsed RTP packet, borrowing the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// CSRC count (the identifiers themselves are skipped).
    pub csrc_count: u8,
    /// The header extension's profile word and data, if any.
    pub extension: Option<(u16, &'a [u8])>,
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Reads a datagram. Never panics; RTCP packets sharing the port (payload types 72–76
    /// with the marker, RFC 5761) are the caller's to tell apart with [`is_rtcp`].
    pub fn parse(data: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        if data.len() < 12 {
            return Err(RtpError::TooShort);
        }
        let b0 = data[0];
        if b0 >> 6 != 2 {
            return Err(RtpError::Version);
        }
        let padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let csrc_count = b0 & 0x0f;
        let b1 = data[1];
        let mut at = 12 + 4 * usize::from(csrc_count);
        if data.len() < at {
            return Err(RtpError::Truncated);
        }
        let mut extension = None;
        if has_extension {
            let head = data.get(at..at + 4).ok_or(RtpError::Truncated)?;
            let profile = u16::from_be_bytes([head[0], head[1]]);
            let words = usize::from(u16::from_be_bytes([head[2], head[3]]));
            let body = data
                .get(at + 4..at + 4 + 4 * words)
                .ok_or(RtpError::Truncated)?;
            extension = Some((profile, body));
            at += 4 + 4 * words;
        }
        let mut end = data.len();
        if padding {
            let pad = usize::from(data[end - 1]);
            if pad == 0 || pad > end - at {
                return Err(RtpError::Padding);
            }
            end -= pad;
        }
        Ok(RtpPacket {
            marker: b1 & 0x80 != 0,
            payload_type: b1 & 0x7f,
            sequence: u16::from_be_bytes([data[2], data[3]]),
            timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
            csrc_count,
            extension,
            payload: &data[at..end],
        })
    }
}

/// Whether a datagram on an RTP port is RTCP (RFC 5761 §4: second byte 192–223).
pub fn is_rtcp(data: &[u8]) -> bool {
    data.len() >= 2 && data[0] >> 6 == 2 && (192..=223).contains(&data[1])
}

/// The fields of a packet to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

impl RtpHeader {
    /// Writes a 12-byte header and `payload` into `out`; returns the length written.
    pub fn write(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
        let len = 12 + payload.len();
        let out = out.get_mut(..len).ok_or(RtpError::BufferTooSmall)?;
        out[0] = 0x80;
        out[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7f);
        out[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        out[12..].copy_from_slice(payload);
        Ok(len)
    }
}

/// Whether sequence number `a` comes after `b`, modulo 2^16 (RFC 1982 serial arithmetic).
pub fn seq_after(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

/// Whether timestamp `a` comes after `b`, modulo 2^32.
pub fn ts_after(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

/// Sequence numbers this far ahead are a jump, not loss (RFC 3550 A.1 `MAX_DROPOUT`).
const MAX_DROPOUT: u16 = 3000;
/// This far behind is a late or duplicate packet; beyond, a restart (`MAX_MISORDER`).
const MAX_MISORDER: u16 = 100;
/// Packets in sequence before a new source counts as valid (`MIN_SEQUENTIAL`).
const MIN_SEQUENTIAL: u32 = 2;

/// What the statistics made of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// In order (possibly after a gap): its extended sequence number.
    InOrder(u64),
    /// Late or duplicated: older than the highest seen.
    Late(u64),
    /// A new source or a restarted one (SSRC change, or a sequence jump confirmed by a
    /// second packet): statistics started again.
    Restart,
    /// Not yet trusted (probation, or an unconfirmed jump).
    Probation,
}

/// Receive statistics for one source (RFC 3550 A.1 and A.8), in the units a report block uses.
#[derive(Clone, Debug, Default)]
pub struct ReceiveStats {
    ssrc: Option<u32>,
    max_seq: u16,
    /// Wraps of the sequence number, shifted (`cycles` in A.1).
    cycles: u64,
    base_seq: u64,
    bad_seq: Option<u16>,
    probation: u32,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Interarrival jitter in timestamp units ×16 (A.8's fixed point).
    jitter_q4: u64,
    transit: Option<i64>,
}

impl ReceiveStats {
    pub fn new() -> ReceiveStats {
        ReceiveStats::default()
    }

    pub fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    fn init(&mut self, ssrc: u32, seq: u16) {
        self.ssrc = Some(ssrc);
        self.max_seq = seq;
        self.cycles = 0;
        self.base_seq = u64::from(seq);
        self.bad_seq = None;
        self.received = 0;
        self.expected_prior = 0;
        self.received_prior = 0;
        self.jitter_q4 = 0;
        self.transit = None;
    }

    /// Takes one packet: its source, sequence number, RTP timestamp, and when it arrived in
    /// the same units as the timestamp (the sampling clock, e.g. 8 kHz for G.711).
    pub fn on_packet(&mut self, ssrc: u32, seq: u16, timestamp: u32, arrival: u32) -> Arrival {
        if self.ssrc != Some(ssrc) {
            self.init(ssrc, seq);
            self.probation = MIN_SEQUENTIAL - 1;
            self.max_seq = seq;
            return Arrival::Probation;
        }
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init(ssrc, seq);
                    self.count(timestamp, arrival);
                    return Arrival::Restart;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return Arrival::Probation;
        }
        let delta = seq.wrapping_sub(self.max_seq);
        if delta == 0 {
            // A duplicate of the newest packet.
            self.received += 1;
            return Arrival::Late(self.extended_max());
        }
        if delta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += 1 << 16;
            }
            self.max_seq = seq;
        } else if delta <= u16::MAX - MAX_MISORDER {
            // A big jump: trust it only when the next packet follows it.
            if self.bad_seq == Some(seq) {
                self.init(ssrc, seq);
                self.count(timestamp, arrival);
                return Arrival::Restart;
            }
            self.bad_seq = Some(seq.wrapping_add(1));
            return Arrival::Probation;
        } else {
            // Late or duplicate.
            self.received += 1;
            return Arrival::Late(self.extend(seq));
        }
        self.count(timestamp, arrival);
        Arrival::InOrder(self.cycles | u64::from(seq))
    }

    fn count(&mut self, timestamp: u32, arrival: u32) {
        self.received += 1;
        // A.8: D(i-1, i) from transit times, J += (|D| - J) / 16, kept ×16.
        let transit = i64::from(arrival.wrapping_sub(timestamp) as i32);
        if let Some(prev) = self.transit {
            let d = (transit - prev).unsigned_abs();
            self.jitter_q4 = self.jitter_q4 + d - ((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// The extended number of an older packet (the cycle it belongs to).
    fn extend(&self, seq: u16) -> u64 {
        let cycles = if seq > self.max_seq && self.cycles >= 1 << 16 {
            self.cycles - (1 << 16)
        } else {
            self.cycles
        };
        cycles | u64::from(seq)
    }

    /// Highest extended sequence number received.
    pub fn extended_max(&self) -> u64 {
        self.cycles | u64::from(self.max_seq)
    }

    pub fn expected(&self) -> u64 {
        if self.ssrc.is_none() || self.probation > 0 {
            return 0;
        }
        self.extended_max() + 1 - self.base_seq
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    /// Cumulative packets lost (may be negative with duplicates), clamped to 24 bits signed.
    pub fn cumulative_lost(&self) -> i32 {
        let lost = self.expected() as i64 - self.received as i64;
        lost.clamp(-0x80_0000, 0x7f_ffff) as i32
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        (self.jitter_q4 >> 4) as u32
    }

    /// The fraction lost since the last call, as an 8-bit fixed-point number (A.3), and marks
    /// the interval.
    pub fn fraction_lost(&mut self) -> u8 {
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost = expected_interval.saturating_sub(received_interval);
        if expected_interval == 0 || lost == 0 {
            0
        } else {
            ((lost << 8) / expected_interval).min(255) as u8
        }
    }
}
