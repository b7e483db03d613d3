//! `cargo xtask voice-load`: the voice path under load, end to end, against the release binary.
//!
//! `hotline serve --demo` runs as a process of its own (SQLite, SIP and RTP on 127.0.0.1).
//! Over the API the run adds a queue without wrap-up, a flow on 8801 (a short greeting, then
//! the queue), a carrier trunk and `--agents` agents, and makes them available. A phone farm
//! (`phones.rs`) registers every agent's phone with digest and answers their calls, RTP
//! echoed; SIPp is the carrier: `--rate` new calls per second for `--seconds`, each sending a
//! 440 Hz tone with `rtp_stream` (not `play_pcap_audio`: its raw socket per call gets a copy
//! of every UDP packet on the host, which starved the machine at this scale) and hanging up
//! `--talk` + 3 seconds after the answer. A supervisor's WebSocket receives every screen pop;
//! its latency is the arrival time minus the pop's `offered_at` (one clock, one machine). At
//! the end the store is read: every interaction closed, every recording on disk, and every
//! tenth recording listened to for the caller's tone.
//!
//! `--generators-nice N` runs the load generators (SIPp and the phone farm's threads) at that
//! CPU niceness (19: the lowest), so that on one machine they yield the CPUs to Hotline and to
//! the WebSocket client that times the pops, standing in for generators on a host of their
//! own. By default they run at Hotline's priority.
//!
//! Build first: `cargo build --release -p hotline`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::emailload::PASSWORD;

struct Options {
    rate: u32,
    seconds: u32,
    agents: u32,
    talk: u32,
    generators_nice: u32,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        rate: 50,
        seconds: 300,
        agents: 450,
        talk: 8,
        generators_nice: 0,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || -> Result<u32> {
            Ok(it
                .next()
                .with_context(|| format!("{a} needs a number"))?
                .parse()?)
        };
        match a.as_str() {
            "--rate" => o.rate = value()?,
            "--seconds" => o.seconds = value()?,
            "--agents" => o.agents = value()?,
            "--talk" => o.talk = value()?,
            "--generators-nice" => o.generators_nice = value()?.min(19),
            other => bail!("unknown option {other}"),
        }
    }
    Ok(o)
}

pub(crate) fn free_port() -> Result<u16> {
    Ok(std::net::UdpSocket::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

pub(crate) fn api(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<Value> {
    let body = body.map(|b| b.to_string());
    let (status, text) =
        hotline_testkit::http::request(port, method, path, token, body.as_deref())?;
    if !(200..300).contains(&status) {
        bail!("{method} {path}: {status} {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// User+system CPU seconds of a process.
pub(crate) fn cpu_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, s)| s).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The machine's CPU time so far: (busy, total) in ticks, all cores (`/proc/stat`).
fn machine_cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: f64 = ticks.iter().sum();
    // idle and iowait
    let idle = ticks.get(3).copied().unwrap_or(0.0) + ticks.get(4).copied().unwrap_or(0.0);
    (total - idle, total)
}

pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sipp(dir: &Path, args: &[String], log: &str, nice: u32) -> Result<Child> {
    let out = std::fs::File::create(dir.join(format!("{log}.out")))?;
    Command::new("nice")
        .args(["-n", &nice.to_string(), "sipp"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("sipp (Debian's sip-tester) must be installed")
}

/// A count from SIPp's final statistics screen ("Successful call", "Failed call").
fn sipp_count(dir: &Path, log: &str, what: &str) -> u64 {
    let text = std::fs::read_to_string(dir.join(format!("{log}.out"))).unwrap_or_default();
    text.lines()
        .rev()
        .find(|l| l.trim_start().starts_with(what))
        .and_then(|l| l.rsplit('|').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether a recording's left channel (the caller) carries the carrier's 440 Hz.
fn caller_heard(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let Some(left) = hotline_media::wav::stereo_channel(&bytes, 0) else {
        return false;
    };
    // The middle of the recording (up to a second): a call the caller left soon after it was
    // answered has a short conversation.
    let half = (left.len() / 4).min(4_000);
    let mid = left.len() / 2;
    half >= 400 && hotline_media::inband::tone_share(&left[mid - half..mid + half], 440.0) > 0.5
}

/// Hotline's own timing of the screen pops (offer to the WebSocket write), from its metrics:
/// how many, and the upper bound of the bucket that holds the 99th percentile (ms).
fn server_pops(http: u16) -> Option<(u64, f64)> {
    let (_, text) = hotline_testkit::http::request(http, "GET", "/metrics", None, None).ok()?;
    let count: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("hotline_screen_pop_seconds_count "))?
        .trim()
        .parse()
        .ok()?;
    let wanted = (count as f64 * 0.99).ceil() as u64;
    let p99 = text.lines().find_map(|l| {
        let rest = l.strip_prefix("hotline_screen_pop_seconds_bucket{le=\"")?;
        let (le, n) = rest.split_once("\"} ")?;
        let n: u64 = n.trim().parse().ok()?;
        (n >= wanted).then(|| le.parse::<f64>().unwrap_or(f64::INFINITY) * 1000.0)
    })?;
    Some((count, p99))
}

pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub async fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let root = crate::workspace_root();
    let binary = root.join("target/release/hotline");
    if !binary.exists() {
        bail!("build the binary first: cargo build --release -p hotline");
    }
    let dir = tempfile::tempdir()?;
    let work: PathBuf = dir.path().to_path_buf();
    let (http, sip, carrier) = (free_port()?, free_port()?, free_port()?);
    let (server, admin) =
        crate::emailload::start(&binary, &work, (http, sip, "20000-29999"), None)?;
    let pid = server.0.id();
    let a = Some(admin.as_str());

    // The centre under load.
    let queue = api(
        http,
        "POST",
        "/api/v1/queues",
        a,
        Some(json!({"name": "Load", "channels": ["voice"], "wrap_up_seconds": 0})),
    )?;
    let queue_id = queue["id"].as_i64().context("queue id")?;
    let flow = "flow: load\nstart: hi\nnodes:\n  hi:\n    play: \"Здравствуйте!\"\n    next: q\n  q:\n    queue: Load\n";
    api(
        http,
        "PUT",
        "/api/v1/flows/load",
        a,
        Some(json!({ "source": flow })),
    )?;
    api(
        http,
        "POST",
        "/api/v1/sip/numbers",
        a,
        Some(json!({"number": "8801", "kind": "flow", "target": "load"})),
    )?;
    api(
        http,
        "POST",
        "/api/v1/sip/trunks",
        a,
        Some(json!({"name": "carrier", "host": "127.0.0.1", "port": carrier})),
    )?;
    let mut extensions = Vec::new();
    let mut agent_ids = Vec::new();
    for i in 0..o.agents {
        let ext = format!("{}", 3000 + i);
        let user = api(
            http,
            "POST",
            "/api/v1/users",
            a,
            Some(
                json!({"username": format!("load{i}"), "display_name": format!("Load {i}"), "role": "agent", "password": PASSWORD}),
            ),
        )?;
        let agent = api(
            http,
            "POST",
            "/api/v1/agents",
            a,
            Some(json!({"user_id": user["id"], "extension": ext, "sip_password": PASSWORD})),
        )?;
        agent_ids.push(agent["id"].as_i64().context("agent id")?);
        extensions.push(ext);
    }
    // Telephony rereads agents and the dial plan every 5 s.
    std::thread::sleep(Duration::from_secs(6));

    // The agents' phones: registered with digest, then answering whatever comes. Phones name
    // their tenant by the domain of their address (its slug is the realm).
    let me = api(http, "GET", "/api/v1/auth/me", a, None)?;
    let realm = me["tenant"]["slug"].as_str().context("tenant slug")?;
    let farm = crate::phones::start(
        format!("127.0.0.1:{sip}").parse()?,
        realm,
        &extensions,
        PASSWORD,
        o.generators_nice,
    )?;
    for id in &agent_ids {
        api(
            http,
            "PUT",
            &format!("/api/v1/agents/{id}/presence"),
            a,
            Some(json!({"presence": "available"})),
        )?;
    }

    // Screen pops, timed on arrival.
    let pops: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::new()));
    let mut ws = hotline_testkit::ws::Client::connect(http, &admin)?;
    let seen = pops.clone();
    let listen_until = Instant::now() + Duration::from_secs(u64::from(o.seconds + o.talk + 90));
    std::thread::spawn(move || {
        while let Some(text) = ws.next(listen_until) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            let Ok(m) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if m["kind"] == "contact.offered" {
                if let Some(at) = m["data"]["offered_at"].as_u64() {
                    if let Ok(mut p) = seen.lock() {
                        p.push(now.saturating_sub(at));
                    }
                }
            }
        }
    });

    // The carrier.
    let calls = o.rate * o.seconds;
    let pause = (o.talk + 3) * 1000;
    std::fs::write(
        work.join("caller.xml"),
        hotline_testkit::streaming_caller(pause),
    )?;
    hotline_testkit::tone_ulaw(&work.join("tone.ulaw"), 2, 440.0);
    let started = time::OffsetDateTime::now_utc();
    let cpu_before = cpu_of(pid);
    let machine_before = machine_cpu();
    let t0 = Instant::now();
    let mut carrier_sipp = sipp(
        &work,
        &[
            "-sf".into(),
            "caller.xml".into(),
            format!("127.0.0.1:{sip}"),
            "-s".into(),
            "8801".into(),
            "-i".into(),
            "127.0.0.1".into(),
            "-p".into(),
            carrier.to_string(),
            "-mp".into(),
            (free_port()? & !1).to_string(),
            "-r".into(),
            o.rate.to_string(),
            "-m".into(),
            calls.to_string(),
            "-l".into(),
            (o.rate * (o.talk + 10) * 2).to_string(),
            "-nostdin".into(),
            "-timeout".into(),
            format!("{}s", o.seconds + o.talk + 120),
        ],
        "carrier",
        o.generators_nice,
    )?;
    let status = carrier_sipp.wait()?;
    let wall = t0.elapsed();
    let cpu = cpu_of(pid) - cpu_before;
    let machine_after = machine_cpu();
    let machine_busy = 100.0 * (machine_after.0 - machine_before.0)
        / (machine_after.1 - machine_before.1).max(1.0);
    let ok = sipp_count(&work, "carrier", "Successful call");
    let failed = sipp_count(&work, "carrier", "Failed call");
    // Calls close and recordings are written right after the last hang-up.
    std::thread::sleep(Duration::from_secs(10));

    let store = hotline_store::Store::connect(
        &format!("sqlite://{}", work.join("hotline.db").display()),
        &hotline_store::ConnectOptions::default(),
    )
    .await?;
    let tenant = store
        .list_tenants()
        .await?
        .first()
        .map(|t| t.id)
        .context("the demo tenant")?;
    let mut filter = hotline_store::InteractionFilter {
        queue_id: Some(queue_id),
        from: Some(started),
        limit: 500,
        ..Default::default()
    };
    let (mut stored, mut closed, mut recorded, mut with_agent) = (0u64, 0u64, 0u64, 0u64);
    let (mut sampled, mut heard) = (0u64, 0u64);
    loop {
        let page = store.list_interactions(tenant, &filter).await?;
        if page.items.is_empty() {
            break;
        }
        for i in &page.items {
            stored += 1;
            if i.state == hotline_model::InteractionState::Closed {
                closed += 1;
            }
            if i.agent_id.is_some() {
                with_agent += 1;
            }
            if let Some(path) = i.recording_ref.as_deref().filter(|p| Path::new(p).exists()) {
                recorded += 1;
                // Every tenth recording is listened to: the caller's tone on the left.
                if recorded % 10 == 1 {
                    sampled += 1;
                    if caller_heard(Path::new(path)) {
                        heard += 1;
                    }
                }
            }
        }
        filter.offset += page.items.len() as i64;
    }
    let server = server_pops(http);
    let mut pops = pops.lock().map(|p| p.clone()).unwrap_or_default();
    pops.sort_unstable();
    println!(
        "## Voice path under load ({})",
        time::OffsetDateTime::now_utc().date()
    );
    println!();
    println!(
        "`cargo xtask voice-load --rate {} --seconds {} --agents {} --talk {} --generators-nice {}` (SIPp exit {status})",
        o.rate, o.seconds, o.agents, o.talk, o.generators_nice
    );
    println!();
    println!("| what | value |");
    println!("|---|---|");
    println!(
        "| calls placed by the carrier | {calls} in {:.0} s |",
        wall.as_secs_f64()
    );
    println!("| successful / failed (SIPp) | {ok} / {failed} |");
    println!(
        "| interactions stored / closed / with an agent | {stored} / {closed} / {with_agent} |"
    );
    println!(
        "| recordings on disk | {recorded} ({heard} of {sampled} listened to hold the caller's 440 Hz) |"
    );
    println!(
        "| INVITEs answered by the agents' phones | {} |",
        farm.answered.load(std::sync::atomic::Ordering::Relaxed)
    );
    println!(
        "| screen pops | {} (p50 {} ms, p99 {} ms, max {} ms) |",
        pops.len(),
        percentile(&pops, 0.5),
        percentile(&pops, 0.99),
        pops.last().copied().unwrap_or(0)
    );
    if let Some((n, p99)) = server {
        println!("| screen pops as Hotline timed them (offer to WebSocket write) | {n} (p99 ≤ {p99} ms) |");
    }
    println!(
        "| the machine's CPUs busy (Hotline, SIPp, the phone farm, the kernel) | {machine_busy:.0} % |"
    );
    println!(
        "| Hotline CPU | {cpu:.1} s over {:.0} s = {:.0} % of one core |",
        wall.as_secs_f64(),
        100.0 * cpu / wall.as_secs_f64().max(1.0)
    );
    println!();
    println!("files: {}", work.display());
    // Keep the files for a look when something failed.
    if failed > 0 || closed < calls as u64 {
        let kept = dir.keep();
        println!("kept for inspection: {}", kept.display());
    }
    store.close().await;
    Ok(())
}
