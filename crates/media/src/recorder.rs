//! A call's recording: two tracks (caller left, agent right) laid on one time line.
//!
//! Each track places a packet's samples by its RTP timestamp relative to the first packet of
//! its source, anchored to the arrival time of that packet, so reordered and jittered packets
//! land where they belong and lost ones leave silence. A new SSRC, or a timestamp that strays
//! more than [`RESYNC_MS`] from arrival time (a sender's jump, or its clock drifting), anchors
//! the track anew. Samples leave the recorder [`DELAY_MS`] behind real time, the room
//! reordering needs; a packet later than that loses only its late part.

/// How long samples wait for late packets before they are written.
pub const DELAY_MS: u64 = 200;
/// How far a timestamp may stray from arrival time before the track is anchored again.
pub const RESYNC_MS: u64 = 1000;
const RATE: u64 = 8;
const CAPACITY: usize = 8000 * 4;

#[derive(Clone, Copy, Debug, Default)]
struct Track {
    /// (SSRC, timestamp, position in samples) of the anchor packet.
    anchor: Option<(u32, u32, u64)>,
    late_samples: u64,
}

/// Interleaves two tracks into stereo frames.
#[derive(Debug)]
pub struct Recorder {
    start_ms: u64,
    tracks: [Track; 2],
    /// Frames not yet written, indexed by position modulo the capacity.
    ring: Vec<[i16; 2]>,
    /// Every frame before this position has been written.
    written: u64,
    /// The furthest position any packet reached.
    furthest: u64,
}

/// Left: the caller (or the customer's side).
pub const CALLER: usize = 0;
/// Right: the agent.
pub const AGENT: usize = 1;

impl Recorder {
    /// A recording that starts (position 0) at `start_ms`.
    pub fn new(start_ms: u64) -> Recorder {
        Recorder {
            start_ms,
            tracks: [Track::default(); 2],
            ring: vec![[0, 0]; CAPACITY],
            written: 0,
            furthest: 0,
        }
    }

    /// Samples dropped on a track because they came after they were written out.
    pub fn late_samples(&self, track: usize) -> u64 {
        self.tracks[track & 1].late_samples
    }

    /// Lays the decoded samples of one packet on `track`.
    pub fn on_audio(
        &mut self,
        track: usize,
        now_ms: u64,
        ssrc: u32,
        timestamp: u32,
        samples: &[i16],
    ) {
        let arrival = now_ms.saturating_sub(self.start_ms) * RATE;
        let t = &mut self.tracks[track & 1];
        let placed = match t.anchor {
            Some((s, ts, pos)) if s == ssrc => {
                let delta = i64::from(timestamp.wrapping_sub(ts) as i32);
                let at = pos as i64 + delta;
                if at < 0 || (at - arrival as i64).unsigned_abs() > RESYNC_MS * RATE {
                    None
                } else {
                    Some(at as u64)
                }
            }
            _ => None,
        };
        let at = match placed {
            Some(at) => at,
            None => {
                // A new anchor: this packet's samples end at its arrival.
                let at = arrival
                    .saturating_sub(samples.len() as u64)
                    .max(self.written);
                t.anchor = Some((ssrc, timestamp, at));
                at
            }
        };
        let end = at + samples.len() as u64;
        // Whatever would overrun the ring is written out first (a burst far ahead of time).
        let mut skip = 0usize;
        if at < self.written {
            skip = (self.written - at).min(samples.len() as u64) as usize;
            t.late_samples += skip as u64;
        }
        let side = track & 1;
        for (i, &s) in samples.iter().enumerate().skip(skip) {
            let pos = at + i as u64;
            if pos >= self.written + CAPACITY as u64 {
                break;
            }
            self.ring[(pos % CAPACITY as u64) as usize][side] = s;
        }
        self.furthest = self.furthest.max(end.min(self.written + CAPACITY as u64));
    }

    /// Appends interleaved frames (left, right) that are due by `now_ms` to `out`.
    pub fn drain(&mut self, now_ms: u64, out: &mut Vec<i16>) {
        let due = (now_ms.saturating_sub(self.start_ms + DELAY_MS)) * RATE;
        let due = due.min(self.written + CAPACITY as u64);
        self.emit(due, out);
    }

    /// Appends every frame up to the furthest packet (the call ended).
    pub fn finish(&mut self, out: &mut Vec<i16>) {
        let end = self.furthest;
        self.emit(end, out);
    }

    fn emit(&mut self, until: u64, out: &mut Vec<i16>) {
        while self.written < until {
            let slot = &mut self.ring[(self.written % CAPACITY as u64) as usize];
            out.extend_from_slice(slot);
            *slot = [0, 0];
            self.written += 1;
        }
    }
}
