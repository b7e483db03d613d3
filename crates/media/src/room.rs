//! A call of three or more parties mixed by Hotline: an agent consulting a specialist while
//! the caller waits with music, and the three of them in conference.
//!
//! Each party's audio is decoded into a short queue of its own (a jitter buffer of a few
//! frames: consumption starts once [`PREBUFFER`] samples are there and starts over when it
//! runs dry; more than [`MAX_QUEUED`] and the oldest are dropped, so delay stays bounded).
//! Every 20 ms [`Room::tick`] takes one frame from each queue, and each party gets the sum of
//! the parties the [`Mixer`] says it hears (never itself), plus the music when it is set to
//! hear music; [`Room::packet`] then writes that party's RTP packet in its own codec, from its
//! own SSRC, sequence and timestamp. A recording, when there is one, gets party 0 (the
//! caller) on the left and, mixed on the right, every other party somebody hears: a
//! supervisor who only listens is not in it; one who whispers to the agent or joins is.

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::dtmf::DtmfEvent;
use crate::mixer::Mixer;
use crate::playback::Player;
use crate::recorder::Recorder;
use crate::rtp::RtpHeader;
use crate::session::{decode, encode, Leg, Received};

/// Samples in one mixed frame (20 ms at 8 kHz).
pub const FRAME: usize = 160;
/// A party's audio is taken once this much is queued (40 ms).
pub const PREBUFFER: usize = 2 * FRAME;
/// At most this much of a party's audio waits (120 ms); older samples are dropped.
pub const MAX_QUEUED: usize = 6 * FRAME;
const FRAME_MS: u64 = 20;
/// The recorder's source for the mixed track (any constant: the recorder anchors on it).
const MIX_SSRC: u32 = 0x6d69_7821;

/// One party of a room.
#[derive(Debug)]
pub struct Party {
    pub leg: Leg,
    queue: VecDeque<i16>,
    /// Whether the queue is being consumed (else it fills up to the prebuffer first).
    flowing: bool,
    /// Hears the room's music on top of what the mixer gives it.
    music: bool,
    input: [i16; FRAME],
    output: [i16; FRAME],
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
}

/// Three or more legs mixed every 20 ms.
#[derive(Debug)]
pub struct Room {
    parties: Vec<Party>,
    mixer: Mixer,
    /// The music parties set to hear music get (`Player::set_music`).
    pub player: Player,
    recorder: Option<Recorder>,
    recorder_timestamp: u32,
    next_tick_ms: u64,
    digits: Vec<DtmfEvent>,
}

impl Room {
    /// A room of `legs` (party `i` is `legs[i]`; party 0 is the caller) where everyone hears
    /// everyone. `seed` picks each party's SSRC, first sequence number and timestamp.
    pub fn new(legs: Vec<Leg>, now_ms: u64, seed: u64) -> Room {
        let n = legs.len();
        let parties = legs
            .into_iter()
            .enumerate()
            .map(|(i, leg)| {
                let s = seed.rotate_left(17 * i as u32 + 5)
                    ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                Party {
                    leg,
                    queue: VecDeque::with_capacity(MAX_QUEUED + FRAME * 3),
                    flowing: false,
                    music: false,
                    input: [0; FRAME],
                    output: [0; FRAME],
                    ssrc: (s >> 32) as u32 | 1,
                    sequence: s as u16,
                    timestamp: (s >> 16) as u32,
                }
            })
            .collect();
        Room {
            parties,
            mixer: Mixer::conference(n),
            player: Player::new(),
            recorder: None,
            recorder_timestamp: 0,
            next_tick_ms: now_ms,
            digits: Vec::with_capacity(4),
        }
    }

    pub fn len(&self) -> usize {
        self.parties.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parties.is_empty()
    }

    pub fn party(&self, i: usize) -> Option<&Party> {
        self.parties.get(i)
    }

    /// Who hears whom from now on.
    /// Party `i`'s leg (its RTCP, its figures).
    pub fn leg_mut(&mut self, i: usize) -> Option<&mut Leg> {
        self.parties.get_mut(i).map(|p| &mut p.leg)
    }

    pub fn set_mixer(&mut self, mixer: Mixer) {
        self.mixer = mixer;
    }

    pub fn mixer(&self) -> &Mixer {
        &self.mixer
    }

    /// Whether party `i` hears the music (on top of what the mixer gives it).
    pub fn set_music(&mut self, i: usize, on: bool) {
        if let Some(p) = self.parties.get_mut(i) {
            p.music = on;
        }
    }

    /// Records with a recorder already running: the caller (party 0) on the left, the
    /// others mixed on the right.
    pub fn set_recorder(&mut self, recorder: Recorder) {
        self.recorder = Some(recorder);
    }

    pub fn recorder_mut(&mut self) -> Option<&mut Recorder> {
        self.recorder.as_mut()
    }

    pub fn take_recorder(&mut self) -> Option<Recorder> {
        self.recorder.take()
    }

    /// The legs back (latching and statistics kept), in party order.
    pub fn into_legs(self) -> Vec<Leg> {
        self.parties.into_iter().map(|p| p.leg).collect()
    }

    /// A datagram for party `i` from `from`. Digits are not passed on in a room.
    pub fn receive(&mut self, i: usize, now_ms: u64, from: SocketAddr, data: &[u8]) {
        let Some(p) = self.parties.get_mut(i) else {
            return;
        };
        self.digits.clear();
        if let Received::Audio { start, len, .. } =
            p.leg.receive(now_ms, from, data, &mut self.digits)
        {
            if !p.leg.negotiated.direction.receives() {
                return;
            }
            let mut pcm = [0i16; 480];
            let n = decode(
                p.leg.negotiated.codec,
                &data[start..start + len.min(480)],
                &mut pcm,
            );
            p.queue.extend(&pcm[..n]);
            let excess = p.queue.len().saturating_sub(MAX_QUEUED);
            if excess > 0 {
                p.queue.drain(..excess);
            }
        }
    }

    /// When [`Room::tick`] is due next.
    pub fn next_tick_ms(&self) -> u64 {
        self.next_tick_ms
    }

    /// Mixes one frame if one is due by `now_ms`; then [`Room::packet`] gives each party's
    /// packet. Call until it returns `false` (it catches up after a late wake-up).
    pub fn tick(&mut self, now_ms: u64) -> bool {
        if now_ms < self.next_tick_ms {
            return false;
        }
        self.next_tick_ms += FRAME_MS;
        for p in &mut self.parties {
            p.leg.tick(now_ms, &mut self.digits);
            if !p.flowing && p.queue.len() >= PREBUFFER {
                p.flowing = true;
            }
            p.input = [0; FRAME];
            if p.flowing {
                let n = p.queue.len().min(FRAME);
                for (dst, src) in p.input.iter_mut().zip(p.queue.drain(..n)) {
                    *dst = src;
                }
                if n < FRAME {
                    // Ran dry: wait for a prebuffer again rather than stutter frame by frame.
                    p.flowing = false;
                }
            }
        }
        let mut music = [0i16; FRAME];
        if self.parties.iter().any(|p| p.music) {
            self.player.fill(&mut music);
        }
        let n = self.parties.len();
        for i in 0..n {
            let mut acc = [0i32; FRAME];
            for j in 0..n {
                if self.mixer.hears(i, j) {
                    for (a, s) in acc.iter_mut().zip(self.parties[j].input.iter()) {
                        *a += i32::from(*s);
                    }
                }
            }
            let with_music = self.parties[i].music;
            let out = &mut self.parties[i].output;
            for (k, o) in out.iter_mut().enumerate() {
                let v = acc[k] + if with_music { i32::from(music[k]) } else { 0 };
                *o = v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
            }
        }
        if let Some(rec) = self.recorder.as_mut() {
            let mut others = [0i32; FRAME];
            for j in 1..n {
                if !(0..n).any(|i| self.mixer.hears(i, j)) {
                    continue;
                }
                for (o, s) in others.iter_mut().zip(self.parties[j].input.iter()) {
                    *o += i32::from(*s);
                }
            }
            let others = others.map(|v| v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16);
            let ts = self.recorder_timestamp;
            if let Some(caller) = self.parties.first() {
                rec.on_audio(0, now_ms, MIX_SSRC, ts, &caller.input);
            }
            rec.on_audio(1, now_ms, MIX_SSRC, ts, &others);
            self.recorder_timestamp = ts.wrapping_add(FRAME as u32);
        }
        true
    }

    /// Party `i`'s packet of the frame just mixed, written into `buf`, and where it goes
    /// (none while the party's peer asked not to receive: on hold).
    pub fn packet(&mut self, i: usize, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let p = self.parties.get_mut(i)?;
        let destination = p.leg.destination()?;
        let mut payload = [0u8; FRAME];
        let n = encode(p.leg.negotiated.codec, &p.output, &mut payload);
        p.sequence = p.sequence.wrapping_add(1);
        let header = RtpHeader {
            marker: false,
            payload_type: p.leg.negotiated.payload_type,
            sequence: p.sequence,
            timestamp: p.timestamp,
            ssrc: p.ssrc,
        };
        // The frame was mixed at the tick before this one was scheduled.
        let now_ms = self.next_tick_ms.saturating_sub(FRAME_MS);
        p.leg.rtcp.on_sent(now_ms, p.ssrc, p.timestamp, n);
        p.timestamp = p.timestamp.wrapping_add(FRAME as u32);
        let len = header.write(&payload[..n], buf).ok()?;
        Some((len, destination))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mixer::Mixer;
    use crate::playback::Prompt;
    use crate::rtp::RtpPacket;
    use crate::sdp::{Codec, Direction, Negotiated};

    fn negotiated(codec: Codec, port: u16) -> Negotiated {
        Negotiated {
            codec,
            payload_type: if codec == Codec::Pcmu { 0 } else { 8 },
            dtmf_payload_type: Some(101),
            remote: Some(SocketAddr::from(([127, 0, 0, 1], port))),
            remote_rtcp: Some(SocketAddr::from(([127, 0, 0, 1], port + 1))),
            ptime: 20,
            direction: Direction::SendRecv,
        }
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// A packet of `FRAME` samples of the constant `level` in `codec`.
    fn packet(codec: Codec, seq: u16, level: i16) -> Vec<u8> {
        let pcm = [level; FRAME];
        let mut payload = [0u8; FRAME];
        let n = encode(codec, &pcm, &mut payload);
        let mut buf = [0u8; 400];
        let header = RtpHeader {
            marker: false,
            payload_type: if codec == Codec::Pcmu { 0 } else { 8 },
            sequence: seq,
            timestamp: u32::from(seq) * FRAME as u32,
            ssrc: 7,
        };
        let len = header.write(&payload[..n], &mut buf).expect("fits");
        buf[..len].to_vec()
    }

    /// The level party `i` hears in the frame just mixed (decoded from its packet).
    fn heard(room: &mut Room, i: usize) -> i16 {
        let mut buf = [0u8; 400];
        let (n, _) = room.packet(i, &mut buf).expect("a packet");
        let p = RtpPacket::parse(&buf[..n]).expect("RTP");
        let codec = room.party(i).expect("party").leg.negotiated.codec;
        let mut pcm = [0i16; FRAME];
        decode(codec, p.payload, &mut pcm);
        pcm[FRAME / 2]
    }

    fn room() -> Room {
        let legs = vec![
            Leg::new(negotiated(Codec::Pcmu, 4000), 0, 1),
            Leg::new(negotiated(Codec::Pcma, 4002), 0, 2),
            Leg::new(negotiated(Codec::Pcmu, 4004), 0, 3),
        ];
        Room::new(legs, 0, 42)
    }

    /// Each of the three says its level for three frames (the prebuffer and one more).
    fn speak(room: &mut Room, levels: [i16; 3], first_seq: u16) {
        for k in 0..3u16 {
            for (i, level) in levels.iter().enumerate() {
                let codec = room.party(i).expect("party").leg.negotiated.codec;
                room.receive(
                    i,
                    0,
                    addr(4000 + 2 * i as u16),
                    &packet(codec, first_seq + k, *level),
                );
            }
        }
    }

    fn close(a: i16, b: i16) -> bool {
        (i32::from(a) - i32::from(b)).abs() <= i32::from(b).abs() / 16 + 16
    }

    #[test]
    fn in_conference_each_hears_the_sum_of_the_others_in_its_own_codec() {
        let mut r = room();
        speak(&mut r, [1000, 2000, 4000], 1);
        assert!(r.tick(0));
        assert!(close(heard(&mut r, 0), 6000), "{}", heard(&mut r, 0));
        assert!(close(heard(&mut r, 1), 5000));
        assert!(close(heard(&mut r, 2), 3000));
        assert!(!r.tick(10), "one frame per 20 ms");
        assert!(r.tick(20));
    }

    #[test]
    fn in_a_consultation_the_caller_hears_only_music_and_the_others_each_other() {
        let mut r = room();
        let mut m = Mixer::conference(3);
        for j in 1..3 {
            m.set(0, j, false);
            m.set(j, 0, false);
        }
        r.set_mixer(m);
        r.set_music(0, true);
        let music = Prompt(vec![3000i16; 800].into());
        r.player.set_music(Some(music));
        speak(&mut r, [1000, 2000, 4000], 1);
        assert!(r.tick(0));
        assert!(close(heard(&mut r, 0), 3000), "music: {}", heard(&mut r, 0));
        assert!(close(heard(&mut r, 1), 4000));
        assert!(close(heard(&mut r, 2), 2000));
    }

    #[test]
    fn a_party_is_taken_after_its_prebuffer_and_delay_stays_bounded() {
        let mut r = room();
        // One frame only: not enough to start.
        r.receive(1, 0, addr(4002), &packet(Codec::Pcma, 1, 2000));
        assert!(r.tick(0));
        assert_eq!(heard(&mut r, 0), 0);
        // A burst far beyond the bound: the oldest are dropped.
        for seq in 2..40 {
            r.receive(1, 0, addr(4002), &packet(Codec::Pcma, seq, 2000));
        }
        assert!(r.party(1).expect("party").queue.len() <= MAX_QUEUED);
        assert!(r.tick(20));
        assert!(close(heard(&mut r, 0), 2000));
    }

    #[test]
    fn the_recording_has_the_caller_left_and_the_others_right() {
        let mut r = room();
        r.set_recorder(Recorder::new(0));
        speak(&mut r, [1000, 2000, 4000], 1);
        for t in 0..20u64 {
            r.tick(t * 20);
            speak(&mut r, [1000, 2000, 4000], 10 + 3 * t as u16);
        }
        let mut out = Vec::new();
        r.recorder_mut().expect("recorder").finish(&mut out);
        let frames: Vec<&[i16]> = out.chunks_exact(2).collect();
        let middle = frames[frames.len() / 2];
        assert!(close(middle[0], 1000), "{middle:?}");
        assert!(close(middle[1], 6000), "{middle:?}");
    }

    #[test]
    fn a_supervisor_listens_whispers_or_barges_and_is_recorded_only_when_heard() {
        use crate::mixer::Monitor;
        // What the caller, the agent and the supervisor hear in each mode, and the right track.
        for (mode, hear, right) in [
            (Monitor::Listen, [2000, 1000, 3000], 2000),
            (Monitor::Whisper, [2000, 5000, 3000], 6000),
            (Monitor::Barge, [6000, 5000, 3000], 6000),
        ] {
            let mut r = room();
            r.set_mixer(Mixer::monitor(mode));
            r.set_recorder(Recorder::new(0));
            speak(&mut r, [1000, 2000, 4000], 1);
            for t in 0..20u64 {
                r.tick(t * 20);
                if t == 10 {
                    for (i, level) in hear.iter().enumerate() {
                        let got = heard(&mut r, i);
                        assert!(close(got, *level), "{mode:?}: party {i} heard {got}");
                    }
                }
                speak(&mut r, [1000, 2000, 4000], 10 + 3 * t as u16);
            }
            let mut out = Vec::new();
            r.recorder_mut().expect("recorder").finish(&mut out);
            let frames: Vec<&[i16]> = out.chunks_exact(2).collect();
            let middle = frames[frames.len() / 2];
            assert!(close(middle[0], 1000), "{mode:?}: {middle:?}");
            assert!(close(middle[1], right), "{mode:?}: {middle:?}");
        }
    }

    #[test]
    fn a_party_on_hold_is_sent_nothing() {
        let mut r = room();
        let mut n = negotiated(Codec::Pcmu, 4004);
        n.direction = Direction::RecvOnly;
        let mut legs = r.into_legs();
        legs[2].renegotiate(n);
        r = Room::new(legs, 0, 1);
        assert!(r.tick(0));
        let mut buf = [0u8; 400];
        assert!(r.packet(2, &mut buf).is_none());
        assert!(r.packet(0, &mut buf).is_some());
    }
}
