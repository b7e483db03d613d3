//! `cargo xtask media-bench [--calls 250,500,1000] [--seconds N] [--repeat N] [--no-rtpengine]
//! [--no-hotline] [--no-record] [--blocking-readers] [--in-phase]`: RTP relayed between the two
//! legs of N concurrent calls, through
//! Hotline's media engine (bridges recording both sides to stereo WAV) and through rtpengine
//! (userspace only), under the same load generator in the same run; with `--repeat`, each step
//! runs N times (Hotline and rtpengine taking turns) and a table of medians follows.
//!
//! The load generator is this binary again (`media-load`), a process of its own: it sends one
//! 172-byte PCMU packet every 20 ms on each leg of each call (2 × 50 packets/s per call, all
//! from two sockets, the stream told by its SSRC) and counts what comes back per stream.
//!
//! Each call sends at a phase of its own, the calls spread over the 20 ms period in
//! millisecond slots, as independent phones do. With `--in-phase` every call sends in the
//! same instant, as before 2026-11-25 (one burst of 2N packets every 20 ms, which an epoll
//! relay such as rtpengine takes in few, full wake-ups).
//!
//! Its two readers drain their sockets every millisecond and sleep between (a phone or NIC
//! that takes its packets in batches). With `--blocking-readers` each sleeps in `recv`
//! instead, as before 2026-11-25: then every datagram that finds its reader asleep wakes it,
//! and on loopback that wake-up (an IPI to the other vCPU when the reader sits there) runs on
//! the relay's CPU, inside its send. How many a run takes depends on where the scheduler puts
//! the reader threads, so the same relay measured 3.3–6.6 µs a packet from run to run, most
//! of it the generator's wake-ups and not the relay's work (docs/benchmarks.md, 2026-11-25).
//! The relay's CPU time (`/proc/PID/stat`, all threads) over the load window is divided by the
//! packets it relayed; each thread's share (user+system, by thread name) and the generator's
//! CPU go to stderr. The table also gives the share of both CPUs left idle over the window:
//! near zero, the relay and the generator were short of CPU, and an epoll relay's cost per
//! packet falls as it is starved (its waits return more events), so the figure measures the
//! scheduler as much as the relay.
//! Hotline runs inside this process (its media engine's relay threads, a runtime of two
//! workers for the sessions' tasks); nothing else runs in it during the window.
//!
//! Each run's recordings stay on disk until the whole command ends. On an ext4 without a
//! journal (this VM's root) every new inode is checked against the ones deleted in the last
//! minutes of its group, so deleting 2,000 recordings before the next run made that run's
//! files cost up to ~0.75 ms each to create, most of the recordings thread's time. For the
//! same reason, give `TMPDIR` a fresh directory (or wait a few minutes) between invocations.

use std::io::{BufRead, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hotline_media::sdp::{Codec, Direction, Negotiated};
use hotline_telephony::media::{Media, MediaConfig};

#[derive(Clone, Debug)]
struct Options {
    calls: Vec<usize>,
    seconds: u64,
    hotline: bool,
    rtpengine: bool,
    record: bool,
    /// Runs of each step; the medians close the table.
    repeat: usize,
    /// The generator's readers sleep in `recv` (woken by every datagram that finds them
    /// asleep) instead of draining their sockets every millisecond; see the module doc.
    blocking: bool,
    /// Every call sends in the same instant of the 20 ms period (one burst of 2N packets)
    /// instead of at a phase of its own; see the module doc.
    in_phase: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        calls: vec![250, 500, 1000],
        seconds: 10,
        hotline: true,
        rtpengine: true,
        record: true,
        repeat: 1,
        blocking: false,
        in_phase: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--calls" => {
                o.calls = it
                    .next()
                    .context("--calls N,N,...")?
                    .split(',')
                    .map(|n| n.trim().parse())
                    .collect::<Result<_, _>>()?
            }
            "--seconds" => o.seconds = it.next().context("--seconds N")?.parse()?,
            "--no-rtpengine" => o.rtpengine = false,
            "--no-hotline" => o.hotline = false,
            "--no-record" => o.record = false,
            "--blocking-readers" => o.blocking = true,
            "--in-phase" => o.in_phase = true,
            "--repeat" => o.repeat = it.next().context("--repeat N")?.parse::<usize>()?.max(1),
            other => bail!("unknown option {other}"),
        }
    }
    Ok(o)
}

fn cpu_of(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0.0;
    };
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// CPU seconds (user, system) of each thread of `pid`, by thread name, summed over threads
/// of one name.
fn threads_of(pid: u32) -> std::collections::BTreeMap<String, (f64, f64)> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let field = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
        let e = out.entry(name).or_insert((0.0, 0.0));
        e.0 += field(11);
        e.1 += field(12);
    }
    out
}

/// The threads that used CPU between two [`threads_of`], busiest first, as
/// `name user+sys s`.
fn thread_split(
    before: &std::collections::BTreeMap<String, (f64, f64)>,
    after: &std::collections::BTreeMap<String, (f64, f64)>,
) -> String {
    let mut used: Vec<(String, f64, f64)> = after
        .iter()
        .map(|(name, (u, s))| {
            let (u0, s0) = before.get(name).copied().unwrap_or((0.0, 0.0));
            (name.clone(), u - u0, s - s0)
        })
        .filter(|(_, u, s)| u + s > 0.0)
        .collect();
    used.sort_by(|a, b| (b.1 + b.2).total_cmp(&(a.1 + a.2)));
    used.iter()
        .map(|(name, u, s)| format!("{name} {u:.2}+{s:.2} s"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the generator measured.
#[derive(Debug, Default)]
struct Load {
    sent: u64,
    received: u64,
    lost_streams: u64,
    /// The share of both CPUs left idle over the load window (%): near 0, the relay and the
    /// generator were short of CPU and the figures measure the scheduler as much as the relay.
    idle: f64,
}

/// The generator's side of one run: it prints its two ports, reads the relay's 2N ports
/// (for each call: where leg A sends, where leg B sends), runs, prints `sent received lost_streams`.
pub fn load(args: &[String]) -> Result<()> {
    let calls: usize = args.first().context("media-load CALLS SECONDS")?.parse()?;
    let seconds: u64 = args.get(1).context("media-load CALLS SECONDS")?.parse()?;
    let blocking = args.get(2).is_some_and(|a| a == "blocking");
    let in_phase = args.get(3).is_some_and(|a| a == "in-phase");
    let a = UdpSocket::bind("127.0.0.1:0")?;
    let b = UdpSocket::bind("127.0.0.1:0")?;
    for s in [&a, &b] {
        socket2::SockRef::from(s).set_recv_buffer_size(8 << 20)?;
        socket2::SockRef::from(s).set_send_buffer_size(8 << 20)?;
    }
    println!("{} {}", a.local_addr()?.port(), b.local_addr()?.port());
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let ports: Vec<u16> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    if ports.len() != calls * 2 {
        bail!("expected {} ports, got {}", calls * 2, ports.len());
    }
    let received: Arc<Vec<AtomicU64>> =
        Arc::new((0..calls * 2).map(|_| AtomicU64::new(0)).collect());
    let done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for s in [a.try_clone()?, b.try_clone()?] {
        let received = received.clone();
        let done = done.clone();
        if blocking {
            s.set_read_timeout(Some(Duration::from_millis(200)))?;
        } else {
            s.set_nonblocking(true)?;
        }
        readers.push(std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let count = |buf: &[u8], n: usize| {
                if n >= 12 {
                    let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize;
                    if let Some(c) = received.get(ssrc) {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                }
            };
            loop {
                let finished = done.load(Ordering::Relaxed);
                if blocking {
                    if finished {
                        break;
                    }
                    if let Ok((n, _)) = s.recv_from(&mut buf) {
                        count(&buf, n);
                    }
                } else {
                    // Everything that arrived since the last look, then a millisecond's
                    // sleep: datagrams find no reader asleep on the socket to wake.
                    while let Ok((n, _)) = s.recv_from(&mut buf) {
                        count(&buf, n);
                    }
                    if finished {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }));
    }
    let targets: Vec<SocketAddr> = ports
        .iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
        .collect();
    let mut packet = [0xffu8; 172];
    packet[0] = 0x80;
    packet[1] = 0; // PCMU, no marker
    let start = Instant::now();
    let ticks = seconds * 50;
    let mut sent = 0u64;
    // Calls' phases: each call sends in one millisecond slot of the 20 ms period (all in
    // the first with `in-phase`), as independent phones do, each with a clock of its own.
    let slots: u64 = if in_phase { 1 } else { 20 };
    for tick in 0..ticks {
        let seq = (tick as u16).to_be_bytes();
        let ts = ((tick as u32) * 160).to_be_bytes();
        packet[2..4].copy_from_slice(&seq);
        packet[4..8].copy_from_slice(&ts);
        for slot in 0..slots {
            let due = start + Duration::from_millis(tick * 20 + slot);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let first = calls * slot as usize / slots as usize;
            let end = calls * (slot as usize + 1) / slots as usize;
            for call in first..end {
                for side in 0..2 {
                    // The stream's SSRC is where it should arrive: leg A's packets come out
                    // at B.
                    let stream = call * 2 + (1 - side);
                    packet[8..12].copy_from_slice(&(stream as u32).to_be_bytes());
                    let s = if side == 0 { &a } else { &b };
                    if s.send_to(&packet, targets[call * 2 + side]).is_ok() {
                        sent += 1;
                    }
                }
            }
        }
    }
    std::thread::sleep(Duration::from_millis(600));
    done.store(true, Ordering::Relaxed);
    for r in readers {
        let _ = r.join();
    }
    let got: u64 = received.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    // A stream lost something when it got fewer than it was sent (ticks).
    let lost_streams = received
        .iter()
        .filter(|c| c.load(Ordering::Relaxed) < ticks)
        .count();
    println!("{sent} {got} {lost_streams}");
    Ok(())
}

/// Runs the generator for `calls` calls against a relay set up by `setup` (given the
/// generator's two addresses, returns the relay's 2N ports), measuring the CPU of process
/// `pid` (its threads' split goes to stderr).
fn run_load(
    calls: usize,
    seconds: u64,
    (blocking, in_phase): (bool, bool),
    setup: &mut dyn FnMut(SocketAddr, SocketAddr) -> Result<Vec<u16>>,
    pid: u32,
) -> Result<(Load, f64)> {
    let cpu = || cpu_of(pid);
    let me = std::env::current_exe()?;
    let mut child = Command::new(me)
        .args([
            "media-load",
            &calls.to_string(),
            &seconds.to_string(),
            if blocking { "blocking" } else { "polled" },
            if in_phase { "in-phase" } else { "spread" },
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut out = std::io::BufReader::new(child.stdout.take().context("stdout")?);
    let mut line = String::new();
    out.read_line(&mut line)?;
    let p: Vec<u16> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let (ga, gb) = (
        SocketAddr::from(([127, 0, 0, 1], p[0])),
        SocketAddr::from(([127, 0, 0, 1], p[1])),
    );
    let ports = setup(ga, gb)?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let text: Vec<String> = ports.iter().map(u16::to_string).collect();
    writeln!(stdin, "{}", text.join(" "))?;
    drop(stdin);
    let threads0 = threads_of(pid);
    let machine0 = machine_idle();
    let generator0 = cpu_of(child.id());
    let cpu0 = cpu();
    line.clear();
    out.read_line(&mut line)?;
    let cpu1 = cpu();
    let generator = cpu_of(child.id()) - generator0;
    let machine = machine_idle();
    let threads1 = threads_of(pid);
    let idle = machine.0.saturating_sub(machine0.0) as f64 / 100.0;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let all = machine
        .1
        .saturating_duration_since(machine0.1)
        .as_secs_f64()
        * cpus;
    eprintln!(
        "  threads (user+system): {}; generator {generator:.2} s",
        thread_split(&threads0, &threads1)
    );
    let _ = child.wait();
    let f: Vec<u64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    Ok((
        Load {
            sent: f[0],
            received: f[1],
            lost_streams: f[2],
            idle: (100.0 * idle / all.max(1e-9)).min(100.0),
        },
        cpu1 - cpu0,
    ))
}

/// The machine's idle CPU time so far (idle and iowait of `/proc/stat`, in its 1/100 s
/// units), and when it was read. The idle field is kept exactly on a tickless kernel; the
/// busy fields are sampled by the tick, which misses short bursts of work, so the share is
/// idle time over wall time.
fn machine_idle() -> (u64, Instant) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(5)
        .filter_map(|v| v.parse().ok())
        .collect();
    let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
    (idle, Instant::now())
}

/// Prints a row; the µs of CPU per packet relayed.
fn report(name: &str, calls: usize, load: &Load, cpu: f64) -> f64 {
    let lost = load.sent.saturating_sub(load.received);
    println!(
        "| {name} | {calls} | {} | {} | {lost} ({:.3} %) | {} | {:.2} | {:.2} | {:.0} % |",
        load.sent,
        load.received,
        100.0 * lost as f64 / load.sent.max(1) as f64,
        load.lost_streams,
        cpu,
        cpu * 1e6 / load.received.max(1) as f64,
        load.idle
    );
    cpu * 1e6 / load.received.max(1) as f64
}

fn negotiated(remote: SocketAddr) -> Negotiated {
    Negotiated {
        codec: Codec::Pcmu,
        payload_type: 0,
        dtmf_payload_type: Some(101),
        ptime: 20,
        remote: Some(remote),
        // The generator sends no RTCP and has no RTCP ports: none is sent to it either.
        remote_rtcp: None,
        direction: Direction::SendRecv,
    }
}

fn bencode(fields: &[(&str, &str)]) -> String {
    let mut s = String::from("d");
    for (k, v) in fields {
        s.push_str(&format!("{}:{}{}:{}", k.len(), k, v.len(), v));
    }
    s.push('e');
    s
}

/// The m=audio port in the SDP of an ng answer.
fn sdp_port(answer: &str) -> Result<u16> {
    let at = answer.find("3:sdp").context("no sdp in the ng answer")? + 5;
    let rest = &answer[at..];
    let colon = rest.find(':').context("bad sdp length")?;
    let sdp = &rest[colon + 1..];
    let m = sdp.find("m=audio ").context("no m=audio")? + 8;
    let port: String = sdp[m..].chars().take_while(char::is_ascii_digit).collect();
    Ok(port.parse()?)
}

fn ng(socket: &UdpSocket, cookie: &str, fields: &[(&str, &str)]) -> Result<String> {
    let msg = format!("{cookie} {}", bencode(fields));
    socket.send(msg.as_bytes())?;
    let mut buf = vec![0u8; 65536];
    let n = socket.recv(&mut buf)?;
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    if !text.contains("2:ok") {
        bail!("rtpengine: {text}");
    }
    Ok(text)
}

fn sdp_for(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )
}

pub async fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let dir = std::env::temp_dir().join(format!("hotline-mediabench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!(
        "# RTP relayed between the legs of N calls, {} s per step, 50 packets/s per leg each way; the generator's calls {}; its readers {}",
        o.seconds,
        if o.in_phase {
            "all send in the same instant (--in-phase)"
        } else {
            "send at phases spread over the 20 ms"
        },
        if o.blocking {
            "sleep in recv (--blocking-readers)"
        } else {
            "drain their sockets every millisecond"
        }
    );
    println!("| relay | calls | packets sent | relayed back | lost | streams with loss | CPU s | µs CPU per packet | machine idle |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut medians = Vec::new();
    for &calls in &o.calls {
        let (mut hotline_us, mut rtpengine_us) = (Vec::new(), Vec::new());
        for run in 0..o.repeat {
            let recordings = dir.join(format!("recordings-{calls}-{run}"));
            step(
                &o,
                calls,
                &recordings,
                &dir,
                &mut hotline_us,
                &mut rtpengine_us,
            )?;
        }
        medians.push((calls, median(&mut hotline_us), median(&mut rtpengine_us)));
    }
    println!();
    println!(
        "| calls | runs | Hotline µs/packet (median) | rtpengine µs/packet (median) | ratio |"
    );
    println!("|---|---|---|---|---|");
    for (calls, h, r) in medians {
        let ratio = match (h, r) {
            (Some(h), Some(r)) => format!("{:.2}", h / r),
            _ => "-".into(),
        };
        let show = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
        println!(
            "| {calls} | {} | {} | {} | {ratio} |",
            o.repeat,
            show(h),
            show(r)
        );
    }
    // Every run's recordings go only now: deleted between runs, they made the next run's
    // files slow to create on an ext4 without a journal (each new inode is checked against
    // the ones deleted in the last minutes), a cost of the benchmark and not of calls.
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

/// One run of one step: Hotline, then rtpengine, under the same generator.
fn step(
    o: &Options,
    calls: usize,
    recordings: &std::path::Path,
    dir: &std::path::Path,
    hotline_us: &mut Vec<f64>,
    rtpengine_us: &mut Vec<f64>,
) -> Result<()> {
    if o.hotline {
        let (media_tx, media_rx) = std::sync::mpsc::channel::<(Media, tokio::runtime::Handle)>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let recordings = recordings.to_path_buf();
        let record = o.record;
        let rt_thread = std::thread::spawn(move || -> Result<()> {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let mut config = MediaConfig::new(20000..=39999, &recordings);
                config.recordings = record.then(|| recordings.clone());
                config.idle_timeout = Duration::from_secs(30);
                let media = Media::new(
                    config,
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                );
                media_tx.send((media.clone(), tokio::runtime::Handle::current()))?;
                let _ = stop_rx.await;
                media.shutdown().await;
                Ok(())
            })
        });
        let (media, handle) = media_rx.recv_timeout(Duration::from_secs(10))?;
        let mut bridges = Vec::new();
        let mut setup = |ga: SocketAddr, gb: SocketAddr| -> Result<Vec<u16>> {
            let mut ports = Vec::new();
            for _ in 0..calls {
                let pa = media.take_port().context("port")?;
                let pb = media.take_port().context("port")?;
                ports.push(pa.port);
                ports.push(pb.port);
                let _g = handle.enter();
                bridges.push(media.start_bridge(
                    (pa, negotiated(ga)),
                    (pb, negotiated(gb)),
                    "bench",
                ));
            }
            Ok(ports)
        };
        let me = std::process::id();
        // The generator is waited for on this thread; Hotline runs on its own runtime.
        let (load, cpu) = run_load(calls, o.seconds, (o.blocking, o.in_phase), &mut setup, me)?;
        for b in &bridges {
            b.stop();
        }
        let _ = stop_tx.send(());
        let _ = rt_thread.join();
        let what = if o.record {
            "Hotline (bridged, recorded)"
        } else {
            "Hotline (bridged)"
        };
        hotline_us.push(report(what, calls, &load, cpu));
    }
    if o.rtpengine {
        let ng_port = std::net::UdpSocket::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut engine = Command::new("rtpengine")
            .args([
                "--table=-1",
                "--interface=127.0.0.1",
                "--foreground",
                "--log-stderr",
            ])
            .args([
                "--log-level=3",
                "--num-threads=2",
                "--port-min=40000",
                "--port-max=59999",
            ])
            .arg(format!("--listen-ng=127.0.0.1:{ng_port}"))
            .arg(format!("--pidfile={}", dir.join("rtpengine.pid").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("rtpengine (apt-get install rtpengine-daemon)")?;
        std::thread::sleep(Duration::from_secs(1));
        let pid = engine.id();
        let control = UdpSocket::bind("127.0.0.1:0")?;
        control.connect(("127.0.0.1", ng_port))?;
        control.set_read_timeout(Some(Duration::from_secs(5)))?;
        let run_id = std::process::id();
        let mut setup = |ga: SocketAddr, gb: SocketAddr| -> Result<Vec<u16>> {
            let mut ports = Vec::new();
            let mut n = 0u64;
            for call in 0..calls {
                let id = format!("bench-{run_id}-{calls}-{call}");
                n += 1;
                let offer = ng(
                    &control,
                    &format!("o{run_id}x{n}"),
                    &[
                        ("command", "offer"),
                        ("call-id", &id),
                        ("from-tag", "a"),
                        ("sdp", &sdp_for(ga.port())),
                    ],
                )?;
                // Where leg B sends (rtpengine's port toward B).
                let toward_b = sdp_port(&offer)?;
                n += 1;
                let answer = ng(
                    &control,
                    &format!("a{run_id}x{n}"),
                    &[
                        ("command", "answer"),
                        ("call-id", &id),
                        ("from-tag", "a"),
                        ("to-tag", "b"),
                        ("sdp", &sdp_for(gb.port())),
                    ],
                )?;
                let toward_a = sdp_port(&answer)?;
                ports.push(toward_a);
                ports.push(toward_b);
            }
            Ok(ports)
        };
        let result = run_load(calls, o.seconds, (o.blocking, o.in_phase), &mut setup, pid);
        let _ = engine.kill();
        let _ = engine.wait();
        let (load, cpu) = result?;
        rtpengine_us.push(report("rtpengine 10.5 (userspace)", calls, &load, cpu));
    }
    Ok(())
}
