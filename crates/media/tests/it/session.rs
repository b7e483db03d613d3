//! Two endpoints talking through a bridge in virtual time over a lossy, reordering network:
//! latching behind NAT, PCMU↔PCMA transcoding, digits relayed, both sides recorded.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use hotline_media::dtmf::DtmfEvent;
use hotline_media::playback::Prompt;
use hotline_media::sdp::{Codec, Direction, Negotiated};
use hotline_media::session::{Bridge, Endpoint, EndpointEvent, Leg};

use hotline_media::inband::tone_share;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn negotiated(codec: Codec, remote: &str) -> Negotiated {
    Negotiated {
        codec,
        payload_type: codec.payload_type(),
        dtmf_payload_type: Some(101),
        ptime: 20,
        remote: Some(addr(remote)),
        remote_rtcp: None,
        direction: Direction::SendRecv,
    }
}

fn tone(freq: f64, seconds: usize) -> Prompt {
    Prompt(Arc::from(
        (0..8000 * seconds)
            .map(|i| {
                (9000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin()) as i16
            })
            .collect::<Vec<_>>(),
    ))
}

struct Net {
    seed: u64,
    /// (deliver at, order) → (to, from, bytes)
    queue: BTreeMap<(u64, u64), (SocketAddr, SocketAddr, Vec<u8>)>,
    order: u64,
    loss_percent: u64,
}

impl Net {
    fn rand(&mut self) -> u64 {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.seed >> 33
    }
    fn send(&mut self, now: u64, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        if self.rand() % 100 < self.loss_percent {
            return;
        }
        // 5–45 ms of delay: packets overtake each other.
        let at = now + 5 + self.rand() % 40;
        self.order += 1;
        self.queue
            .insert((at, self.order), (to, from, bytes.to_vec()));
    }
}

#[test]
fn bridged_call_through_loss_and_nat() {
    // X (a phone behind NAT: it says 10.0.0.5:4000 in SDP, its packets come from 203.0.113.9:6100)
    // talks PCMU; Y (a trunk) talks PCMA; Hotline's ports are :20000 (toward X) and :20002.
    let x_sdp = "10.0.0.5:4000";
    let x_real = addr("203.0.113.9:6100");
    let y = addr("198.51.100.7:8000");
    let (h_a, h_b) = (addr("127.0.0.1:20000"), addr("127.0.0.1:20002"));

    let mut ex = Endpoint::new(
        Leg::new(negotiated(Codec::Pcmu, "127.0.0.1:20000"), 0, 1),
        0,
        0x1234_5678_9abc,
    );
    let mut ey = Endpoint::new(
        Leg::new(negotiated(Codec::Pcma, "127.0.0.1:20002"), 0, 2),
        0,
        0x9999_1111_2222,
    );
    let mut bridge = Bridge::new(
        Leg::new(negotiated(Codec::Pcmu, x_sdp), 0, 3),
        Leg::new(negotiated(Codec::Pcma, &y.to_string()), 0, 9),
    );
    bridge.record(0, 0);
    ex.player.set_music(Some(tone(697.0, 1)));
    ey.player.set_music(Some(tone(1209.0, 1)));
    ex.record(0);
    ey.record(0);
    ex.send_digits("5#");

    let mut net = Net {
        seed: 42,
        queue: BTreeMap::new(),
        order: 0,
        loss_percent: 2,
    };
    let mut buf = [0u8; 1500];
    let mut events = Vec::new();
    let mut heard_y = Vec::new();
    let mut digits = Vec::<DtmfEvent>::new();
    let mut recording = Vec::new();
    let (mut x_rec, mut y_rec) = (Vec::new(), Vec::new());
    let mut to_sdp_address = Vec::new();
    for now in 0..3000u64 {
        while let Some((n, to)) = ex.transmit(now, &mut buf, &mut events) {
            net.send(now, x_real, to, &buf[..n]);
        }
        while let Some((n, to)) = ey.transmit(now, &mut buf, &mut events) {
            net.send(now, y, to, &buf[..n]);
        }
        while let Some(entry) = net.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (to, from, bytes) = entry.remove();
            if to == h_a || to == h_b {
                let side = usize::from(to == h_b);
                let out_from = if side == 0 { h_b } else { h_a };
                buf[..bytes.len()].copy_from_slice(&bytes);
                if let Some(dest) =
                    bridge.relay(side, now, from, &mut buf[..bytes.len()], &mut digits)
                {
                    net.send(now, out_from, dest, &buf[..bytes.len()]);
                }
            } else if to == x_real {
                ex.receive(now, from, &bytes, &mut events);
            } else if to == y {
                ey.receive(now, from, &bytes, &mut heard_y);
            } else {
                assert_eq!(to, addr(x_sdp), "a packet went to {to}");
                to_sdp_address.push(now);
            }
        }
        if now % 100 == 0 {
            bridge.recorder_mut().unwrap().drain(now, &mut recording);
            ex.recorder_mut().unwrap().drain(now, &mut x_rec);
            ey.recorder_mut().unwrap().drain(now, &mut y_rec);
        }
    }
    bridge.recorder_mut().unwrap().finish(&mut recording);

    // Y got both digits exactly once, over RFC 4733 through the bridge.
    let got: String = heard_y
        .iter()
        .filter_map(|e| match e {
            EndpointEvent::Digit {
                digit,
                inband: false,
            } => Some(*digit),
            _ => None,
        })
        .collect();
    assert_eq!(got, "5#");
    // The bridge saw them too (for the IVR or the timeline).
    assert_eq!(
        digits
            .iter()
            .filter(|d| matches!(d, DtmfEvent::Digit { .. }))
            .count(),
        2
    );
    // Packets to X went to its SDP address only until X's first packet came (within the
    // network's 45 ms), then to where X's packets come from; both directions flowed.
    assert!(
        to_sdp_address.iter().all(|&t| t < 100),
        "{to_sdp_address:?}"
    );
    let [fx, fy] = bridge.forwarded();
    assert!(fx > 120 && fy > 120, "{fx} {fy}");
    assert!(
        bridge.legs[0].stats.cumulative_lost() > 0,
        "the network lost packets"
    );

    // The recording: X's tone on the left, Y's on the right, despite loss and reordering.
    let left: Vec<i16> = recording.iter().step_by(2).copied().collect();
    let right: Vec<i16> = recording.iter().skip(1).step_by(2).copied().collect();
    assert!(left.len() > 8000 * 2, "{}", left.len());
    let mid = &left[8000..16000];
    assert!(tone_share(mid, 697.0) > 0.8, "{}", tone_share(mid, 697.0));
    assert!(tone_share(mid, 1209.0) < 0.01);
    let mid = &right[8000..16000];
    assert!(tone_share(mid, 1209.0) > 0.8, "{}", tone_share(mid, 1209.0));
    assert!(tone_share(mid, 697.0) < 0.01);

    // What Y heard (its recorder's left channel) is X's tone, transcoded from PCMU to PCMA.
    let y_left: Vec<i16> = y_rec.iter().step_by(2).copied().collect();
    assert!(tone_share(&y_left[8000..16000], 697.0) > 0.8);

    // When X goes quiet, its leg goes idle.
    assert!(!bridge.legs[0].idle(3000, 5000));
    assert!(bridge.legs[0].idle(8001, 5000));
}

#[test]
fn a_stranger_cannot_take_over_a_live_leg() {
    let mut leg = Leg::new(negotiated(Codec::Pcmu, "10.0.0.1:4000"), 0, 4);
    let mut d = Vec::new();
    let pkt = |seq: u16| {
        let mut b = [0u8; 172];
        let h = hotline_media::rtp::RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc: 5,
        };
        h.write(&[0xff; 160], &mut b).unwrap();
        b
    };
    let phone = addr("10.0.0.1:4000");
    let stranger = addr("192.0.2.66:1234");
    assert_eq!(leg.destination(), Some(phone));
    assert_eq!(leg.held_by(0), None, "nothing heard: held by nobody");
    leg.receive(0, phone, &pkt(1), &mut d);
    assert_eq!(leg.held_by(0), Some(phone));
    assert_eq!(
        leg.receive(20, stranger, &pkt(2), &mut d),
        hotline_media::session::Received::Other
    );
    assert_eq!(leg.destination(), Some(phone));
    // Held while the phone is heard within RELATCH_AFTER_MS, and no longer after.
    let relatch = hotline_media::session::RELATCH_AFTER_MS;
    assert_eq!(leg.held_by(relatch - 1), Some(phone));
    assert_eq!(leg.held_by(relatch), None);
    // After the phone has been silent for long enough, the new source is the phone (it moved).
    leg.receive(3000, stranger, &pkt(3), &mut d);
    assert_eq!(leg.destination(), Some(stranger));
    assert_eq!(leg.held_by(3000), Some(stranger));
    // On hold (we must not send), there is no destination.
    let mut held = negotiated(Codec::Pcmu, "10.0.0.1:4000");
    held.direction = Direction::RecvOnly;
    leg.renegotiate(held);
    assert_eq!(leg.destination(), None);
}

#[test]
fn endpoint_hears_inband_digits_when_no_telephone_event() {
    let mut n = negotiated(Codec::Pcma, "127.0.0.1:9");
    n.dtmf_payload_type = None;
    let mut ep = Endpoint::new(Leg::new(n, 0, 5), 0, 7);
    let (lo, hi) = hotline_media::inband::frequencies('7').unwrap();
    let mut events = Vec::new();
    let mut buf = [0u8; 200];
    for k in 0..20u32 {
        let samples: Vec<i16> = (0..160)
            .map(|i| {
                let t = f64::from(k * 160 + i) / 8000.0;
                if k < 8 {
                    (5000.0 * (2.0 * std::f64::consts::PI * lo * t).sin()
                        + 5000.0 * (2.0 * std::f64::consts::PI * hi * t).sin())
                        as i16
                } else {
                    0
                }
            })
            .collect();
        let mut payload = [0u8; 160];
        hotline_media::g711::encode_alaw(&samples, &mut payload);
        let h = hotline_media::rtp::RtpHeader {
            marker: false,
            payload_type: 8,
            sequence: k as u16,
            timestamp: k * 160,
            ssrc: 9,
        };
        let len = h.write(&payload, &mut buf).unwrap();
        ep.receive(
            u64::from(k) * 20,
            addr("127.0.0.1:9"),
            &buf[..len],
            &mut events,
        );
    }
    assert_eq!(
        events,
        vec![EndpointEvent::Digit {
            digit: '7',
            inband: true
        }]
    );
    // A prompt ends with PromptFinished, once.
    ep.player.play(Prompt(Arc::from(vec![1i16; 200])));
    let mut out = Vec::new();
    for now in 0..100 {
        while ep.transmit(now, &mut buf, &mut out).is_some() {}
    }
    assert_eq!(out, vec![EndpointEvent::PromptFinished]);
}
