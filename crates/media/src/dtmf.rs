//! RFC 4733 telephone-events: DTMF digits carried in RTP (§2.3), received and sent.
//!
//! One event is a run of packets with the same RTP timestamp (the event's start); its duration
//! grows with each packet and the last three carry the end bit (§2.5.1.4). The receiver reports
//! a digit once, at the first packet it sees of an event — start packets may be lost, end
//! packets are sent three times — and its end once, with the longest duration seen.

/// The events 0–15: `0`–`9`, `*`, `#`, `A`–`D` (RFC 4733 §3.2).
pub const DIGITS: &[u8; 16] = b"0123456789*#ABCD";

/// The digit of an event code, if it is one.
pub fn digit_of(event: u8) -> Option<char> {
    DIGITS.get(usize::from(event)).map(|&d| char::from(d))
}

/// The event code of a digit (`0`–`9`, `*`, `#`, `A`–`D`, lower case accepted).
pub fn event_of(digit: char) -> Option<u8> {
    let d = digit.to_ascii_uppercase();
    DIGITS
        .iter()
        .position(|&c| char::from(c) == d)
        .map(|p| p as u8)
}

/// One telephone-event payload (4 bytes, §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventPayload {
    pub event: u8,
    pub end: bool,
    /// Power level in -dBm0 (0–63).
    pub volume: u8,
    /// Duration so far, in RTP timestamp units.
    pub duration: u16,
}

impl EventPayload {
    /// Reads a payload; `None` when it is shorter than 4 bytes. Extra bytes (more events in a
    /// redundant block, which we do not negotiate) are ignored.
    pub fn parse(data: &[u8]) -> Option<EventPayload> {
        let b = data.get(..4)?;
        Some(EventPayload {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3f,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3f),
            d[0],
            d[1],
        ]
    }
}

/// What the receiver saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtmfEvent {
    /// A key went down (reported once per event, whichever packet of it came first).
    Digit { digit: char, timestamp: u32 },
    /// It came up: the longest duration seen, in timestamp units.
    End {
        digit: char,
        timestamp: u32,
        duration: u32,
    },
}

#[derive(Clone, Copy, Debug)]
struct Current {
    ssrc: u32,
    timestamp: u32,
    event: u8,
    duration: u32,
    ended: bool,
}

/// Receives telephone-event packets of one stream.
///
/// An event is identified by (SSRC, timestamp): duplicates and the redundant end packets of a
/// reported event are dropped; a packet of a new timestamp starts a new event (ending the
/// previous one if its end packets were all lost). Durations past 0xFFFF (long events, §2.5.1.3)
/// are summed across the segments that share the event code and follow each other.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    current: Option<Current>,
    /// Recent ended events, to drop late copies of their end packets.
    ended: [Option<(u32, u32)>; 4],
    ended_next: usize,
    /// Time of the last packet, to end an event whose end packets were all lost.
    last_packet_ms: u64,
}

/// An event not updated for this long is ended (the sender's end packets were lost).
pub const END_TIMEOUT_MS: u64 = 800;
/// How far back (in timestamp units, 5 s at 8 kHz) a packet counts as reordered, not a jump.
const REORDER_WINDOW: u32 = 40_000;

impl DtmfReceiver {
    pub fn new() -> DtmfReceiver {
        DtmfReceiver::default()
    }

    fn seen_ended(&self, ssrc: u32, timestamp: u32) -> bool {
        self.ended.contains(&Some((ssrc, timestamp)))
    }

    fn remember_ended(&mut self, ssrc: u32, timestamp: u32) {
        self.ended[self.ended_next] = Some((ssrc, timestamp));
        self.ended_next = (self.ended_next + 1) % self.ended.len();
    }

    fn finish(&mut self, out: &mut Vec<DtmfEvent>) {
        if let Some(c) = self.current.take() {
            if !c.ended {
                out.push(DtmfEvent::End {
                    digit: digit_of(c.event).unwrap_or('?'),
                    timestamp: c.timestamp,
                    duration: c.duration,
                });
            }
            self.remember_ended(c.ssrc, c.timestamp);
        }
    }

    /// Feeds one telephone-event packet (its RTP SSRC and timestamp, its payload) received at
    /// `now_ms`; what it means is appended to `out`. Events outside 0–15 are ignored.
    pub fn on_packet(
        &mut self,
        now_ms: u64,
        ssrc: u32,
        timestamp: u32,
        payload: &[u8],
        out: &mut Vec<DtmfEvent>,
    ) {
        let Some(p) = EventPayload::parse(payload) else {
            return;
        };
        let Some(digit) = digit_of(p.event) else {
            return;
        };
        self.last_packet_ms = now_ms;
        let duration = u32::from(p.duration);
        match self.current {
            Some(ref mut c) if c.ssrc == ssrc && c.timestamp == timestamp => {
                if c.event != p.event {
                    return;
                }
                c.duration = c.duration.max(duration);
                if p.end && !c.ended {
                    c.ended = true;
                    out.push(DtmfEvent::End {
                        digit,
                        timestamp,
                        duration: c.duration,
                    });
                }
            }
            Some(c)
                if c.ssrc == ssrc
                    && c.event == p.event
                    && !c.ended
                    && timestamp.wrapping_sub(c.timestamp) == c.duration
                    && c.duration >= 0xffff =>
            {
                // A long event goes on in a new segment (§2.5.1.3): same key, not a new press.
                let base = c.duration;
                self.current = Some(Current {
                    ssrc,
                    timestamp,
                    event: p.event,
                    duration: base + duration,
                    ended: p.end,
                });
                if p.end {
                    out.push(DtmfEvent::End {
                        digit,
                        timestamp,
                        duration: base + duration,
                    });
                }
            }
            _ => {
                if self.seen_ended(ssrc, timestamp) {
                    return;
                }
                // A packet of an event shortly before the current one (reordered): drop it.
                // Further back than that is a jump of the sender's clock: a new event.
                if let Some(c) = self.current {
                    let behind = c.timestamp.wrapping_sub(timestamp);
                    if c.ssrc == ssrc && behind != 0 && behind < REORDER_WINDOW {
                        return;
                    }
                }
                self.finish(out);
                self.current = Some(Current {
                    ssrc,
                    timestamp,
                    event: p.event,
                    duration,
                    ended: p.end,
                });
                out.push(DtmfEvent::Digit { digit, timestamp });
                if p.end {
                    out.push(DtmfEvent::End {
                        digit,
                        timestamp,
                        duration,
                    });
                }
            }
        }
    }

    /// Ends an event whose end packets never came ([`END_TIMEOUT_MS`] without a packet).
    pub fn on_tick(&mut self, now_ms: u64, out: &mut Vec<DtmfEvent>) {
        if let Some(c) = self.current {
            if !c.ended && now_ms.saturating_sub(self.last_packet_ms) >= END_TIMEOUT_MS {
                self.finish(out);
            }
        }
    }
}

/// One packet to send: the RTP marker bit, the timestamp (the event's start) and the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventPacket {
    pub marker: bool,
    pub timestamp: u32,
    pub payload: [u8; 4],
}

/// Sends one digit as RFC 4733 packets, one per packet time (ptime), the end packet three times.
#[derive(Clone, Debug)]
pub struct DtmfSender {
    event: u8,
    timestamp: u32,
    /// Total duration in timestamp units.
    total: u32,
    step: u32,
    sent: u32,
    end_copies: u8,
    volume: u8,
}

impl DtmfSender {
    /// A digit starting at RTP `timestamp`, lasting `duration_ms`, at `clock_rate`, one packet
    /// every `ptime_ms`. `None` for a character that is not a DTMF key.
    pub fn new(
        digit: char,
        timestamp: u32,
        duration_ms: u32,
        ptime_ms: u32,
        clock_rate: u32,
    ) -> Option<DtmfSender> {
        let event = event_of(digit)?;
        let per_ms = clock_rate / 1000;
        let step = (ptime_ms.max(10) * per_ms).max(1);
        // Durations above 0xFFFF would need segments; keys are pressed for well under 8 s.
        let total = (duration_ms.max(ptime_ms) * per_ms).min(0xffff);
        Some(DtmfSender {
            event,
            timestamp,
            total,
            step,
            sent: 0,
            end_copies: 0,
            volume: 10,
        })
    }

    /// The timestamp units the event covers (the next media packet's timestamp is this much
    /// later than the event's start).
    pub fn total(&self) -> u32 {
        self.total
    }

    /// The next packet, one per call at each packet time; `None` when done.
    pub fn next_packet(&mut self) -> Option<EventPacket> {
        if self.end_copies >= 3 {
            return None;
        }
        let first = self.sent == 0;
        self.sent = (self.sent + self.step).min(self.total);
        let end = self.sent >= self.total;
        if end {
            self.end_copies += 1;
        }
        let payload = EventPayload {
            event: self.event,
            end,
            volume: self.volume,
            duration: self.sent as u16,
        };
        Some(EventPacket {
            marker: first,
            timestamp: self.timestamp,
            payload: payload.to_bytes(),
        })
    }
}
