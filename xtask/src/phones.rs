//! A farm of agents' phones for the voice load run, on one UDP socket: each extension
//! registers with digest (hotline-sip's client side), then every INVITE Hotline places is
//! answered at once with PCMU toward one RTP socket that echoes what it gets; BYE and
//! OPTIONS get 200. (SIPp cannot do this: its `[authentication]` does not take per-user
//! injected credentials in 3.6.)

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hotline_sip::response::response_to;
use hotline_sip::{parse_datagram, HeaderName, Message, Method};

pub struct Farm {
    stop: Arc<AtomicBool>,
    pub answered: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Farm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn register(
    socket: &UdpSocket,
    server: SocketAddr,
    realm: &str,
    ext: &str,
    password: &str,
) -> Result<()> {
    let local = socket.local_addr()?;
    let uri = format!("sip:{server}");
    let build = |seq: u32, auth: Option<(HeaderName, String)>| {
        let mut m = Message::request(Method::Register, &uri);
        m.push(
            HeaderName::Via,
            format!("SIP/2.0/UDP {local};branch=z9hG4bK-{ext}-{seq};rport").into_bytes(),
        )
        .push(HeaderName::MaxForwards, &b"70"[..])
        .push(
            HeaderName::From,
            format!("<sip:{ext}@{realm}>;tag=farm{ext}").into_bytes(),
        )
        .push(HeaderName::To, format!("<sip:{ext}@{realm}>").into_bytes())
        .push(
            HeaderName::CallId,
            format!("farm-{ext}@{local}").into_bytes(),
        )
        .push(HeaderName::CSeq, format!("{seq} REGISTER").into_bytes())
        .push(
            HeaderName::Contact,
            format!("<sip:{ext}@{local}>").into_bytes(),
        )
        .push(HeaderName::Expires, &b"3600"[..]);
        if let Some((name, value)) = auth {
            m.push(name, value.into_bytes());
        }
        m
    };
    let exchange = |m: &Message| -> Result<Message> {
        socket.send_to(&m.to_bytes(), server)?;
        let mut buf = [0u8; 4096];
        loop {
            let (n, _) = socket
                .recv_from(&mut buf)
                .context("no answer to REGISTER")?;
            if let Ok(r) = parse_datagram(&buf[..n]) {
                if r.status().is_some_and(|c| c >= 200) {
                    return Ok(r);
                }
            }
        }
    };
    let first = exchange(&build(1, None))?;
    if first.status() == Some(200) {
        return Ok(());
    }
    let auth = hotline_sip::digest::answer_challenge(
        &first,
        "REGISTER",
        &uri,
        ext,
        password,
        &format!("farm{ext}"),
    )
    .context("a digest challenge")?;
    let second = exchange(&build(2, Some(auth)))?;
    if second.status() != Some(200) {
        bail!("{ext} not registered: {:?}", second.status());
    }
    Ok(())
}

/// Registers every extension, then answers calls until dropped.
pub fn start(
    server: SocketAddr,
    realm: &str,
    extensions: &[String],
    password: &str,
    nice: u32,
) -> Result<Farm> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    for ext in extensions {
        register(&socket, server, realm, ext, password)?;
    }
    let rtp = UdpSocket::bind("127.0.0.1:0")?;
    let rtp_port = rtp.local_addr()?.port();
    rtp.set_read_timeout(Some(Duration::from_millis(200)))?;
    socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    let s = stop.clone();
    threads.push(std::thread::spawn(move || {
        renice_this_thread(nice);
        let mut buf = [0u8; 2048];
        while !s.load(Ordering::Relaxed) {
            if let Ok((n, from)) = rtp.recv_from(&mut buf) {
                let _ = rtp.send_to(&buf[..n], from);
            }
        }
    }));
    let s = stop.clone();
    let count = answered.clone();
    threads.push(std::thread::spawn(move || {
        renice_this_thread(nice);
        let mut buf = [0u8; 8192];
        let local = socket.local_addr().map(|a| a.to_string()).unwrap_or_default();
        while !s.load(Ordering::Relaxed) {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let Ok(m) = parse_datagram(&buf[..n]) else {
                continue;
            };
            let answer = match m.method() {
                Some(Method::Invite) => {
                    // The same tag for a retransmitted INVITE: one dialog.
                    let tag = format!("f{:x}", fxhash(m.call_id().unwrap_or_default()));
                    let mut r = response_to(&m, 200, None, Some(&tag));
                    r.push(HeaderName::Contact, format!("<sip:agent@{local}>").into_bytes());
                    let sdp = format!(
                        "v=0\r\no=farm 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
                    );
                    r.set_body("application/sdp", sdp.into_bytes());
                    count.fetch_add(1, Ordering::Relaxed);
                    Some(r)
                }
                Some(Method::Ack) | None => None,
                Some(_) => Some(response_to(&m, 200, None, None)),
            };
            if let Some(r) = answer {
                let _ = socket.send_to(&r.to_bytes(), from);
            }
        }
    }));
    Ok(Farm {
        stop,
        answered,
        threads,
    })
}

/// Gives the calling thread (Linux: a task of its own) niceness `nice` with renice(1).
fn renice_this_thread(nice: u32) {
    if nice == 0 {
        return;
    }
    let tid = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let done = tid.is_some_and(|tid| {
        std::process::Command::new("renice")
            .args(["-n", &nice.to_string(), "-p", &tid])
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !done {
        eprintln!("the phone farm's thread could not be reniced; it runs at normal priority");
    }
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
