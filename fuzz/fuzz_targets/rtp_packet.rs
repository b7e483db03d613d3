//! RTP and RTCP reading never panics; what parses as RTP writes back to the same header and
//! payload, and the receive statistics take any sequence of packets.
#![no_main]
use hotline_media::rtcp::Report;
use hotline_media::rtp::{ReceiveStats, RtpHeader, RtpPacket};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Report::parse_compound(data);
    let mut stats = ReceiveStats::new();
    for chunk in data.chunks(24) {
        let Ok(p) = RtpPacket::parse(chunk) else {
            continue;
        };
        stats.on_packet(p.ssrc, p.sequence, p.timestamp, p.timestamp.wrapping_add(7));
        let header = RtpHeader {
            marker: p.marker,
            payload_type: p.payload_type,
            sequence: p.sequence,
            timestamp: p.timestamp,
            ssrc: p.ssrc,
        };
        let mut out = [0u8; 64];
        let n = header.write(p.payload, &mut out).expect("fits");
        let again = RtpPacket::parse(&out[..n]).expect("what we write parses");
        assert_eq!(again.payload, p.payload);
        assert_eq!((again.sequence, again.timestamp, again.ssrc), (p.sequence, p.timestamp, p.ssrc));
    }
    let _ = (stats.expected(), stats.cumulative_lost(), stats.fraction_lost(), stats.jitter());
});
