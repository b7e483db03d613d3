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
/// Frames the recorder holds (about 4 s); a power of two, so a position's slot is a mask.
const CAPACITY: usize = 1 << 15;
const MASK: u64 = CAPACITY as u64 - 1;

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
        self.lay(track, now_ms, ssrc, timestamp, samples, |s| s);
    }

    /// Lays a G.711 payload on `track`, decoded by `table` (µ-law's or A-law's) as it is laid.
    pub fn on_g711(
        &mut self,
        track: usize,
        now_ms: u64,
        ssrc: u32,
        timestamp: u32,
        table: &[i16; 256],
        payload: &[u8],
    ) {
        self.lay(track, now_ms, ssrc, timestamp, payload, |b| {
            table[usize::from(b)]
        });
    }

    fn lay<T: Copy>(
        &mut self,
        track: usize,
        now_ms: u64,
        ssrc: u32,
        timestamp: u32,
        samples: &[T],
        linear: impl Fn(T) -> i16,
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
        // The samples that fit, laid in at most two runs (before and after the ring wraps).
        let first = at + skip as u64;
        let fit = (self.written + CAPACITY as u64).saturating_sub(first);
        let samples = &samples[skip..skip + (samples.len() - skip).min(fit as usize)];
        let start = (first & MASK) as usize;
        let run = samples.len().min(CAPACITY - start);
        for (slot, &s) in self.ring[start..start + run]
            .iter_mut()
            .zip(&samples[..run])
        {
            slot[side] = linear(s);
        }
        for (slot, &s) in self.ring.iter_mut().zip(&samples[run..]) {
            slot[side] = linear(s);
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
            let start = (self.written & MASK) as usize;
            let n = ((until - self.written) as usize).min(CAPACITY - start);
            let run = &mut self.ring[start..start + n];
            out.extend_from_slice(run.as_flattened());
            run.fill([0, 0]);
            self.written += n as u64;
        }
    }
}
