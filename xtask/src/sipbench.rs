//! `cargo xtask sip-bench`: calls per second through the signalling path, Hotline's B2BUA next
//! to Kamailio (a stateful proxy, `-m 1024 -M 16`), by the same harness in the same run.
//!
//! For each rate, SIPp's UAC places `rate × seconds` calls (INVITE, 200, ACK, BYE, 200)
//! through the system under test to a SIPp UAS (`data/uas_answer.xml`). A rate counts when every call succeeded and
//! neither SIPp retransmitted anything. CPU per call is the system's user+system time
//! (`/proc/PID/stat`, every Kamailio process) over the calls placed.
//!
//! Hotline runs in this process (a runtime of its own on two worker threads, SQLite store,
//! a trunk for each SIPp and a DID); build with `--release`.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hotline_store::dialplan::NewSipTrunk;
use hotline_store::{ConnectOptions, NewTenant, Store};
use hotline_telephony::{SipConfig, SipService};

#[derive(Clone)]
struct Options {
    rates: Vec<u32>,
    seconds: u32,
    kamailio: bool,
    shards: usize,
    workers: usize,
    hotline: bool,
    kamailio_children: usize,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        rates: vec![500, 1000, 1500, 2000, 2500, 3000, 3500, 4000],
        seconds: 5,
        kamailio: true,
        shards: 2,
        workers: 2,
        hotline: true,
        kamailio_children: 2,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rates" => {
                o.rates = it
                    .next()
                    .context("--rates needs a list")?
                    .split(',')
                    .map(|r| r.parse().context("a rate is a number"))
                    .collect::<Result<_>>()?
            }
            "--seconds" => o.seconds = it.next().context("--seconds N")?.parse()?,
            "--no-kamailio" => o.kamailio = false,
            "--no-hotline" => o.hotline = false,
            "--kamailio-children" => {
                o.kamailio_children = it.next().context("--kamailio-children N")?.parse()?
            }
            "--shards" => o.shards = it.next().context("--shards N")?.parse()?,
            "--workers" => o.workers = it.next().context("--workers N")?.parse()?,
            other => bail!("unknown option {other}"),
        }
    }
    Ok(o)
}

/// The callee's scenario (`xtask/data/uas_answer.xml`): SIPp's built-in uas sends 180 then
/// 200, and Kamailio's worker processes may deliver them out of order.
fn uas_scenario() -> String {
    format!("{}/data/uas_answer.xml", env!("CARGO_MANIFEST_DIR"))
}

fn free_port(ip: &str) -> Result<u16> {
    Ok(std::net::UdpSocket::bind((ip, 0))?.local_addr()?.port())
}

/// User+system CPU of a process, seconds.
fn cpu_of(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the `(comm)`, which may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the stat line: 12 and 13 after the comm.
    (ticks(11) + ticks(12)) / 100.0
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// CPU of a process and all its children (Kamailio forks its workers).
fn cpu_of_tree(root: u32) -> f64 {
    let mut total = cpu_of(root);
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if parent_of(pid) == Some(root) {
                total += cpu_of(pid);
            }
        }
    }
    total
}

struct Step {
    rate: u32,
    calls: u64,
    ok: u64,
    failed: u64,
    retransmissions: u64,
    cpu_ms_per_call: f64,
}

/// The last line of a SIPp `-trace_stat` file as (column, value).
fn last_stats(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().context("empty stat file")?;
    let last = lines.next_back().context("no stat line")?;
    Ok(header
        .split(';')
        .map(str::to_string)
        .zip(last.split(';').map(str::to_string))
        .collect())
}

fn stat(stats: &[(String, String)], name: &str) -> u64 {
    stats
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

fn sipp(dir: &Path, args: &[String], stat_file: &Path) -> Result<Child> {
    Command::new("sipp")
        .args(args)
        .args([
            "-nostdin",
            "-trace_stat",
            "-fd",
            "1",
            "-stf",
            &stat_file.display().to_string(),
            "-timeout",
            "120s",
            "-trace_err",
            // SIPp's socket buffers default to 64 KB: at thousands of calls per second the
            // kernel then drops SIPp's own incoming messages (an ACK lost before a BYE fails
            // the call), which measures SIPp, not the system under test.
            "-buff_size",
            "4194304",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("sipp (apt-get install sip-tester)")
}

/// One rate through `target`: a UAS on 127.0.0.2:`uas_port`, the UAC on 127.0.0.1:`uac_port`.
fn step(
    dir: &Path,
    target: SocketAddr,
    uac_port: u16,
    uas_port: u16,
    rate: u32,
    seconds: u32,
    cpu: &dyn Fn() -> f64,
) -> Result<Step> {
    let calls = u64::from(rate) * u64::from(seconds);
    let uas_stat = dir.join(format!("uas-{rate}.csv"));
    let uac_stat = dir.join(format!("uac-{rate}.csv"));
    let mut uas = sipp(
        dir,
        &[
            "-sf".into(),
            uas_scenario(),
            "-i".into(),
            "127.0.0.2".into(),
            "-p".into(),
            uas_port.to_string(),
            "-m".into(),
            calls.to_string(),
        ],
        &uas_stat,
    )?;
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu();
    let mut uac = sipp(
        dir,
        &[
            "-sn".into(),
            "uac".into(),
            target.to_string(),
            "-s".into(),
            "5551000".into(),
            "-i".into(),
            "127.0.0.1".into(),
            "-p".into(),
            uac_port.to_string(),
            "-r".into(),
            rate.to_string(),
            "-m".into(),
            calls.to_string(),
            "-l".into(),
            (rate * 4).to_string(),
            // Each call holds 200 ms before the BYE: with none, the BYE follows the ACK at
            // once and a multi-process proxy may deliver it first, failing the call at the UAS.
            "-d".into(),
            "200".into(),
        ],
        &uac_stat,
    )?;
    // Bounded: a run that loses calls keeps SIPp waiting for them.
    let limit = std::time::Instant::now() + Duration::from_secs(u64::from(seconds) + 60);
    while uac.try_wait()?.is_none() {
        if std::time::Instant::now() > limit {
            let _ = uac.kill();
            let _ = uac.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let used = cpu() - before;
    // The UAS ends by itself after its last call; a lost call would keep it waiting.
    for _ in 0..100 {
        if uas.try_wait()?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = uas.kill();
    let _ = uas.wait();
    let c = last_stats(&uac_stat)?;
    let s = last_stats(&uas_stat)?;
    Ok(Step {
        rate,
        calls,
        ok: stat(&c, "SuccessfulCall(C)"),
        failed: stat(&c, "FailedCall(C)") + stat(&s, "FailedCall(C)"),
        retransmissions: stat(&c, "Retransmissions(C)") + stat(&s, "Retransmissions(C)"),
        cpu_ms_per_call: used * 1000.0 / calls.max(1) as f64,
    })
}

fn report(name: &str, steps: &[Step]) {
    println!("\n## {name}");
    println!("| calls/s | calls | ok | failed | retransmissions | CPU ms/call |");
    println!("|---|---|---|---|---|---|");
    for s in steps {
        println!(
            "| {} | {} | {} | {} | {} | {:.3} |",
            s.rate, s.calls, s.ok, s.failed, s.retransmissions, s.cpu_ms_per_call
        );
    }
    let best = steps
        .iter()
        .filter(|s| s.failed == 0 && s.retransmissions == 0 && s.ok == s.calls)
        .map(|s| s.rate)
        .max();
    match best {
        Some(r) => println!("{name}: highest clean rate {r} calls/s"),
        None => println!("{name}: no clean rate"),
    }
}

/// Runs rates upward until one is not clean (and one more, to show the knee).
fn sweep(dir: &Path, target: SocketAddr, o: &Options, cpu: &dyn Fn() -> f64) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let mut dirty = 0;
    for &rate in &o.rates {
        let s = step(dir, target, UAC_PORT, UAS_PORT, rate, o.seconds, cpu)?;
        eprintln!(
            "  {rate}/s: {} ok, {} failed, {} retransmissions, {:.3} ms CPU/call",
            s.ok, s.failed, s.retransmissions, s.cpu_ms_per_call
        );
        let clean = s.failed == 0 && s.retransmissions == 0 && s.ok == s.calls;
        steps.push(s);
        if !clean {
            dirty += 1;
            if dirty >= 2 {
                break;
            }
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    Ok(steps)
}

/// Fixed ports, so the trunks (peers by address) and Kamailio's config can name them.
const UAC_PORT: u16 = 15_061;
const UAS_PORT: u16 = 15_062;

fn kamailio_config(dir: &Path, port: u16, children: usize) -> Result<PathBuf> {
    // maxbuffer: Kamailio grows its UDP receive buffer up to this (the default, 256 KB,
    // overflows at these rates; Hotline asks for 8 MB, the kernel grants rmem_max).
    let cfg = format!(
        r#"#!KAMAILIO
debug=0
log_stderror=yes
memdbg=5
memlog=5
children={children}
maxbuffer=4194304
listen=udp:127.0.0.1:{port}
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    $du = "sip:127.0.0.2:{UAS_PORT}";
    if (!t_relay()) {{
        sl_reply_error();
    }}
}}
"#
    );
    let path = dir.join("kamailio.cfg");
    std::fs::write(&path, cfg)?;
    Ok(path)
}

async fn hotline_store(dir: &Path) -> Result<Store> {
    let store = Store::connect(
        &format!("sqlite://{}", dir.join("sipbench.db").display()),
        &ConnectOptions::default(),
    )
    .await?;
    store.migrate().await?;
    let t = store
        .create_tenant(&NewTenant {
            name: "Bench".into(),
            slug: "bench".into(),
            default_region: "RU".into(),
            timezone: "Europe/Moscow".into(),
        })
        .await?;
    for (name, host, port) in [
        ("carrier-in", "127.0.0.1", UAC_PORT),
        ("carrier-out", "127.0.0.2", UAS_PORT),
    ] {
        store
            .create_trunk(t.id, &NewSipTrunk::peer(name, host, port))
            .await?;
    }
    store
        .create_number(t.id, "5551000", "trunk", "carrier-out")
        .await?;
    Ok(store)
}

pub async fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let dir = std::env::temp_dir().join(format!("hotline-sipbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!(
        "# SIP calls/s, {} s per rate, SIPp uac -> system -> SIPp uas on loopback",
        o.seconds
    );

    if o.hotline {
        // Hotline on a runtime of its own (two workers, two shards).
        let store = hotline_store(&dir).await?;
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (shards, workers) = (o.shards, o.workers);
        let hotline = std::thread::spawn(move || -> Result<()> {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let mut config = SipConfig::new("127.0.0.1:0".parse()?);
                config.shards = shards;
                let sip = SipService::start(config, store).await?;
                addr_tx.send(sip.udp_addr())?;
                let _ = stop_rx.await;
                sip.stop().await;
                Ok(())
            })
        });
        let target = addr_rx.recv_timeout(Duration::from_secs(30))?;
        let me = std::process::id();
        let d = dir.clone();
        let opts = o.clone();
        let hotline_steps =
            tokio::task::spawn_blocking(move || sweep(&d, target, &opts, &|| cpu_of(me))).await??;
        let _ = stop_tx.send(());
        let _ = hotline.join();
        report("Hotline (B2BUA)", &hotline_steps);
    }

    if o.kamailio {
        let port = free_port("127.0.0.1")?;
        let cfg = kamailio_config(&dir, port, o.kamailio_children)?;
        // In a process group of its own: its workers are killed with it.
        let mut kam = Command::new("kamailio")
            .process_group(0)
            .args(["-DD", "-E", "-m", "1024", "-M", "16", "-f"])
            .arg(&cfg)
            .args(["-P", &dir.join("kamailio.pid").display().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("kamailio (apt-get install kamailio)")?;
        std::thread::sleep(Duration::from_secs(2));
        let kpid = kam.id();
        let target: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let d = dir.clone();
        let steps =
            tokio::task::spawn_blocking(move || sweep(&d, target, &o, &|| cpu_of_tree(kpid)))
                .await??;
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{kpid}")])
            .status();
        let _ = kam.wait();
        report("Kamailio 5.6 (stateful proxy, tm)", &steps);
    }
    println!(
        "\nSIPp's logs (errors of failed calls) are in {}",
        dir.display()
    );
    Ok(())
}
