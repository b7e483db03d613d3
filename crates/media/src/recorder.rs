//! A call's recording: two tracks (caller left, agent right) laid on one time line.
//!
//! Each track places a packet's samples by its RTP timestamp relative to the first packet of
//! its source, anchored to the arrival time of that packet, so reordered and jittered packets
//! land where they belong and lost ones leave silence. A new SSRC, or a timestamp that strays
//! more than [`RESYNC_MS`] from arrival time (a sender's jump, or its clock drifting), anchors
//! the track anew. Samples leave the recorder [`DELAY_MS`] behind real time, the room
//! reordering needs; a packet later than that loses only its late part.
//!
//! The tracks are kept as G.711 µ-law, one byte a sample, each in its own ring: a relayed
//! µ-law packet is copied as it came (an A-law one through the transcoding table), so the hot
//! path writes 160 bytes a packet, not 640 of interleaved 16-bit frames. Linear audio (what
//! Hotline plays, a room's mix) is encoded as it is laid: the recording holds what the phone
//! line carried. [`Recorder::drain`] decodes and interleaves into 16-bit stereo.

use crate::g711;

/// How long samples wait for late packets before they are written.
pub const DELAY_MS: u64 = 200;
/// How far a timestamp may stray from arrival time before the track is anchored again.
pub const RESYNC_MS: u64 = 1000;
const RATE: u64 = 8;
/// Frames the recorder holds (about 4 s); a power of two, so a position's slot is a mask.
const CAPACITY: usize = 1 << 15;
const MASK: u64 = CAPACITY as u64 - 1;
/// µ-law's code for 0.
const SILENCE: u8 = 0xff;

/// How a G.711 payload becomes µ-law for the rings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Law {
    /// µ-law: copied as it is.
    Ulaw,
    /// A-law: transcoded by table.
    Alaw,
}

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
    /// Each track's samples not yet written (µ-law), indexed by position modulo the capacity.
    rings: [Box<[u8]>; 2],
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
            rings: [
                vec![SILENCE; CAPACITY].into_boxed_slice(),
                vec![SILENCE; CAPACITY].into_boxed_slice(),
            ],
            written: 0,
            furthest: 0,
        }
    }

    /// Samples dropped on a track because they came after they were written out.
    pub fn late_samples(&self, track: usize) -> u64 {
        self.tracks[track & 1].late_samples
    }

    /// Lays one packet's linear samples on `track` (encoded to µ-law).
    pub fn on_audio(
        &mut self,
        track: usize,
        now_ms: u64,
        ssrc: u32,
        timestamp: u32,
        samples: &[i16],
    ) {
        self.lay(track, now_ms, ssrc, timestamp, samples, |run, from| {
            for (slot, &s) in run.iter_mut().zip(from) {
                *slot = g711::linear_to_ulaw(s);
            }
        });
    }

    /// Lays a G.711 payload on `track`.
    pub fn on_g711(
        &mut self,
        track: usize,
        now_ms: u64,
        ssrc: u32,
        timestamp: u32,
        law: Law,
        payload: &[u8],
    ) {
        match law {
            Law::Ulaw => self.lay(track, now_ms, ssrc, timestamp, payload, |run, from| {
                run.copy_from_slice(from)
            }),
            Law::Alaw => self.lay(track, now_ms, ssrc, timestamp, payload, |run, from| {
                for (slot, &b) in run.iter_mut().zip(from) {
                    *slot = g711::alaw_to_ulaw(b);
                }
            }),
        }
    }

    fn lay<T: Copy>(
        &mut self,
        track: usize,
        now_ms: u64,
        ssrc: u32,
        timestamp: u32,
        samples: &[T],
        put: impl Fn(&mut [u8], &[T]),
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
        // The samples that fit, laid in at most two runs (before and after the ring wraps).
        let first = at + skip as u64;
        let fit = (self.written + CAPACITY as u64).saturating_sub(first);
        let samples = &samples[skip..skip + (samples.len() - skip).min(fit as usize)];
        let start = (first & MASK) as usize;
        let run = samples.len().min(CAPACITY - start);
        let ring = &mut self.rings[track & 1];
        put(&mut ring[start..start + run], &samples[..run]);
        put(&mut ring[..samples.len() - run], &samples[run..]);
        self.furthest = self.furthest.max(end.min(self.written + CAPACITY as u64));
    }

    /// Appends the stereo frames (left, right) due by `now_ms` to `out`, as 16-bit samples.
    pub fn drain(&mut self, now_ms: u64, out: &mut Vec<i16>) {
        let due = self.due(now_ms);
        self.emit(due, out, g711::ulaw_to_linear);
    }

    /// The same as µ-law bytes (two a frame): half the memory traffic, for a writer that
    /// decodes on its own thread.
    pub fn drain_ulaw(&mut self, now_ms: u64, out: &mut Vec<u8>) {
        let due = self.due(now_ms);
        self.emit(due, out, |b| b);
    }

    /// Appends every frame up to the furthest packet (the call ended).
    pub fn finish(&mut self, out: &mut Vec<i16>) {
        let end = self.furthest;
        self.emit(end, out, g711::ulaw_to_linear);
    }

    pub fn finish_ulaw(&mut self, out: &mut Vec<u8>) {
        let end = self.furthest;
        self.emit(end, out, |b| b);
    }

    fn due(&self, now_ms: u64) -> u64 {
        let due = (now_ms.saturating_sub(self.start_ms + DELAY_MS)) * RATE;
        due.min(self.written + CAPACITY as u64)
    }

    fn emit<T: Copy + Default>(&mut self, until: u64, out: &mut Vec<T>, sample: impl Fn(u8) -> T) {
        while self.written < until {
            let start = (self.written & MASK) as usize;
            let n = ((until - self.written) as usize).min(CAPACITY - start);
            let [left, right] = &mut self.rings;
            let (left, right) = (&mut left[start..start + n], &mut right[start..start + n]);
            let at = out.len();
            out.resize(at + 2 * n, T::default());
            for ((frame, l), r) in out[at..]
                .chunks_exact_mut(2)
                .zip(left.iter())
                .zip(right.iter())
            {
                frame[0] = sample(*l);
                frame[1] = sample(*r);
            }
            left.fill(SILENCE);
            right.fill(SILENCE);
            self.written += n as u64;
        }
    }
}
