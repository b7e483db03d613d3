//! What Hotline's tests and load runs share to drive real SIP peers: SIPp scenarios (a
//! carrier's caller, one who hangs up, a customer behind a carrier) and RTP pcaps for SIPp's
//! `play_pcap_audio` (G.711 silence or a tone, RFC 2833 keys). No IO beyond writing a file.

use std::path::Path;

/// Writes a pcap of one RTP stream (PCMU silence every 20 ms for `seconds`) with RFC 4733
/// key presses at the given times (ms): 100 ms each, the end packet sent three times.
pub fn dtmf_pcap(path: &Path, seconds: u32, keys: &[(u32, char)]) {
    audio_pcap(path, seconds, keys, None)
}

/// As [`dtmf_pcap`], with a tone of `freq` Hz instead of silence from `from_ms` on.
pub fn audio_pcap(path: &Path, seconds: u32, keys: &[(u32, char)], tone: Option<(u32, f64)>) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
    let mut seq: u16 = 1000;
    let ssrc: u32 = 0x1234_5678;
    let mut packet =
        |at_ms: u32, pt: u8, marker: bool, ts: u32, payload: &[u8], out: &mut Vec<u8>| {
            let mut rtp = vec![0x80, pt | if marker { 0x80 } else { 0 }];
            rtp.extend_from_slice(&seq.to_be_bytes());
            seq = seq.wrapping_add(1);
            rtp.extend_from_slice(&ts.to_be_bytes());
            rtp.extend_from_slice(&ssrc.to_be_bytes());
            rtp.extend_from_slice(payload);
            let udp_len = 8 + rtp.len();
            let ip_len = 20 + udp_len;
            let mut frame = vec![0u8; 12];
            frame.extend_from_slice(&[0x08, 0x00]);
            frame.extend_from_slice(&[
                0x45,
                0,
                (ip_len >> 8) as u8,
                ip_len as u8,
                0,
                0,
                0x40,
                0,
                64,
                17,
                0,
                0,
            ]);
            frame.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
            frame.extend_from_slice(&6000u16.to_be_bytes());
            frame.extend_from_slice(&6002u16.to_be_bytes());
            frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
            frame.extend_from_slice(&[0, 0]);
            frame.extend_from_slice(&rtp);
            out.extend_from_slice(&(at_ms / 1000).to_le_bytes());
            out.extend_from_slice(&((at_ms % 1000) * 1000).to_le_bytes());
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(&frame);
        };
    let silence = [0xffu8; 160];
    let mut t = 0;
    while t < seconds * 1000 {
        let ts = t * 8;
        match keys.iter().find(|(at, _)| t >= *at && t < at + 100) {
            Some(&(at, key)) => {
                let event = hotline_media::dtmf::event_of(key).expect("a key");
                let duration = ((t - at) / 20 + 1) * 160;
                let end = t + 20 >= at + 100;
                let flags = if end { 0x80 } else { 0 } | 10;
                let payload = [event, flags, (duration >> 8) as u8, duration as u8];
                let copies = if end { 3 } else { 1 };
                for _ in 0..copies {
                    packet(t, 101, t == at, at * 8, &payload, &mut out);
                }
            }
            None => match tone {
                Some((from, freq)) if t >= from => {
                    let samples: Vec<i16> = (0..160)
                        .map(|i| {
                            let n = f64::from(ts + i);
                            (8000.0 * (2.0 * std::f64::consts::PI * freq * n / 8000.0).sin()) as i16
                        })
                        .collect();
                    let mut payload = [0u8; 160];
                    hotline_media::g711::encode_ulaw(&samples, &mut payload);
                    packet(t, 0, false, ts, &payload, &mut out)
                }
                _ => packet(t, 0, false, ts, &silence, &mut out),
            },
        }
        t += 20;
    }
    std::fs::write(path, out).expect("pcap");
}

pub const SCENARIO: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<scenario name="caller with keys">
  <send retrans="500">
    <![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+74951234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:caller@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+74951234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:caller@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

]]>
  </send>
  <nop>
    <action>
      <exec play_pcap_audio="keys.pcap"/>
    </action>
  </nop>
  <recv request="BYE" timeout="80000"/>
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]>
  </send>
</scenario>
"#;

/// The caller of [`SCENARIO`] who hangs up after `[pause]` instead of waiting for Hotline.
pub fn hanging_up_caller(pause_ms: u32) -> String {
    let bye = format!(
        r#"  <pause milliseconds="{pause_ms}"/>
  <send retrans="500">
    <![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+74951234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: sip:caller@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

]]>
  </send>
  <recv response="200"/>
</scenario>
"#
    );
    let cut = SCENARIO
        .find("  <recv request=\"BYE\"")
        .expect("the scenario waits for BYE");
    format!("{}{bye}", &SCENARIO[..cut])
}

/// The caller of [`hanging_up_caller`] whose audio comes from SIPp's `rtp_stream` (the raw
/// G.711 µ-law file `tone.ulaw`, looped) instead of `play_pcap_audio`. For load runs:
/// pcap playback sends through a raw socket per call, and the kernel hands every UDP packet
/// of the host to each raw socket (hundreds at a load run's scale), which starves the host;
/// `rtp_stream` sends from ordinary UDP sockets. It sends no keys.
pub fn streaming_caller(pause_ms: u32) -> String {
    hanging_up_caller(pause_ms)
        .replace("m=audio [media_port]", "m=audio [rtpstream_audio_port]")
        .replace(
            r#"<exec play_pcap_audio="keys.pcap"/>"#,
            r#"<exec rtp_stream="tone.ulaw,-1,0"/>"#,
        )
}

/// Writes `seconds` of a `freq` Hz tone as raw G.711 µ-law (for [`streaming_caller`]).
pub fn tone_ulaw(path: &Path, seconds: u32, freq: f64) {
    let samples = seconds as usize * 8000;
    let linear: Vec<i16> = (0..samples)
        .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin()) as i16)
        .collect();
    let mut bytes = vec![0u8; samples];
    hotline_media::g711::encode_ulaw(&linear, &mut bytes);
    std::fs::write(path, bytes).expect("tone file");
}

/// The customer behind the carrier: answers, sends its audio (the pcap), hangs up after
/// `[pause]`.
pub const CUSTOMER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<scenario name="customer">
  <recv request="INVITE">
    <action>
      <ereg regexp="tag=([^;>]*)" search_in="hdr" header="From:" assign_to="all,ftag"/>
      <ereg regexp="&lt;([^>]*)>" search_in="hdr" header="From:" assign_to="all2,furi"/>
      <ereg regexp="&lt;([^>]*)>" search_in="hdr" header="Contact:" assign_to="all3,curi"/>
    </action>
  </recv>
  <send>
    <![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:customer@[local_ip]:[local_port]>
Content-Length: 0

]]>
  </send>
  <pause milliseconds="1000"/>
  <send retrans="500">
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:customer@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
]]>
  </send>
  <recv request="ACK"/>
  <nop>
    <action>
      <exec play_pcap_audio="keys.pcap"/>
    </action>
  </nop>
  <pause milliseconds="8000"/>
  <send retrans="500">
    <![CDATA[
BYE [$curi] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:customer@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
To: <[$furi]>;tag=[$ftag]
[last_Call-ID:]
CSeq: 2 BYE
Contact: <sip:customer@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]>
  </send>
  <recv response="200"/>
  <Reference variables="all,all2,all3"/>
</scenario>
"#;

/// A blocking HTTP/1.1 client for Hotline's JSON API, one connection per request (tests and
/// load runs, never the product).
pub mod mail;

pub mod http {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    /// One request with a JSON body; the status and the body (`""` when empty).
    pub fn request(
        port: u16,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> std::io::Result<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let body = body.unwrap_or("");
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        let status = out
            .get(9..12)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other("no HTTP status line"))?;
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// A GET whose answer is bytes (a file); the status and the body as sent.
    pub fn request_bytes(
        port: u16,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}Content-Length: 0\r\n\r\n"
        )?;
        let mut out = Vec::new();
        s.read_to_end(&mut out)?;
        let status = out
            .get(9..12)
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other("no HTTP status line"))?;
        let at = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(out.len(), |i| i + 4);
        Ok((status, out[at..].to_vec()))
    }
}

/// A WebSocket client just big enough for Hotline's live events: the upgrade with
/// `?access_token=`, then text frames (the server's frames are not masked).
pub mod ws {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    pub struct Client(TcpStream);

    impl Client {
        pub fn connect(port: u16, token: &str) -> std::io::Result<Client> {
            Client::connect_to(port, &format!("/api/v1/events?access_token={token}"))
        }

        /// Any WebSocket route of Hotline's (the chat widget's: `/api/v1/public/chat`).
        pub fn connect_to(port: u16, path: &str) -> std::io::Result<Client> {
            let mut s = TcpStream::connect(("127.0.0.1", port))?;
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )?;
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                s.read_exact(&mut byte)?;
                head.push(byte[0]);
            }
            if !head.starts_with(b"HTTP/1.1 101") {
                return Err(std::io::Error::other(format!(
                    "no WebSocket: {}",
                    String::from_utf8_lossy(&head)
                )));
            }
            Ok(Client(s))
        }

        /// Sends a text message (masked, as a client must).
        pub fn send(&mut self, text: &str) -> std::io::Result<()> {
            let payload = text.as_bytes();
            let mut frame = vec![0x81u8];
            match payload.len() {
                n if n < 126 => frame.push(0x80 | n as u8),
                n if n <= 0xffff => {
                    frame.push(0x80 | 126);
                    frame.extend_from_slice(&(n as u16).to_be_bytes());
                }
                n => {
                    frame.push(0x80 | 127);
                    frame.extend_from_slice(&(n as u64).to_be_bytes());
                }
            }
            let mask = [0x37u8, 0xfa, 0x21, 0x3d];
            frame.extend_from_slice(&mask);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            self.0.write_all(&frame)
        }

        /// The next text message, or `None` at `deadline` or when the server closes.
        pub fn next(&mut self, deadline: Instant) -> Option<String> {
            loop {
                let left = deadline.checked_duration_since(Instant::now())?;
                self.0
                    .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                    .ok()?;
                let mut h = [0u8; 2];
                self.0.read_exact(&mut h).ok()?;
                let mut len = u64::from(h[1] & 0x7f);
                if len == 126 {
                    let mut b = [0u8; 2];
                    self.0.read_exact(&mut b).ok()?;
                    len = u64::from(u16::from_be_bytes(b));
                } else if len == 127 {
                    let mut b = [0u8; 8];
                    self.0.read_exact(&mut b).ok()?;
                    len = u64::from_be_bytes(b);
                }
                let mut payload = vec![0u8; usize::try_from(len).ok()?];
                self.0.read_exact(&mut payload).ok()?;
                match h[0] & 0x0f {
                    1 => return String::from_utf8(payload).ok(),
                    8 => return None,
                    _ => {}
                }
            }
        }
    }
}

/// Writes a 16-bit 8 kHz mono WAV of a `freq` Hz tone lasting `seconds` (a phone's voice).
pub fn tone_wav(path: &Path, freq: f64, seconds: usize) {
    let samples: Vec<i16> = (0..8000 * seconds)
        .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin()) as i16)
        .collect();
    std::fs::write(path, hotline_media::wav::write_mono(8000, &samples)).expect("tone file");
}

/// Configuration files for baresip as an agent's phone (control over TCP, audio from a file,
/// nothing played), so every test starts one the same way.
pub mod baresip {
    use std::path::Path;

    /// Where Debian keeps baresip's modules.
    pub fn modules() -> Option<&'static str> {
        [
            "/usr/lib/baresip/modules",
            "/usr/lib/x86_64-linux-gnu/baresip/modules",
        ]
        .into_iter()
        .find(|p| Path::new(p).join("account.so").exists())
    }

    /// The `config` file: SIP on `sip`, the control socket on `ctrl`, `audio_source` (a WAV)
    /// as the microphone, sounds from `dir`.
    pub fn config(modules: &str, sip: u16, ctrl: u16, audio_source: &Path, dir: &Path) -> String {
        format!(
            "module_path {modules}\nsip_listen 127.0.0.1:{sip}\nnet_interface 127.0.0.1\n\
             audio_player aufile,/dev/null\naudio_source aufile,{}\nsnd_path {}\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl}\nmodule g711.so\nmodule aufile.so\nmodule sndfile.so\n\
             module_app account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\n",
            audio_source.display(),
            dir.display()
        )
    }

    /// The `accounts` file: extension `ext` registering to Hotline on 127.0.0.1:`server`,
    /// answering by itself when `auto`.
    pub fn account(ext: &str, server: u16, password: &str, auto: bool) -> String {
        format!(
            "<sip:{ext}@127.0.0.1:{server}>;auth_pass={password};regint=60;answermode={};audio_codecs=PCMA,PCMU\n",
            if auto { "auto" } else { "manual" }
        )
    }
}
