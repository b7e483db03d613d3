//! RTCP sender and receiver reports (RFC 3550 §6.4): written into a caller's buffer, read from
//! compound packets (other packet types are skipped).

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
