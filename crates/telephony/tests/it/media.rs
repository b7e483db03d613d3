//! Media with real peers: SIPp plays its G.711 and RFC 2833 pcaps to the test line and Hotline
//! hears the digit; baresip plays a 440 Hz file to the test line, is recorded, and hears the
//! spoken prompt; two baresip phones talk through Hotline (media anchored) and the stereo
//! recording holds each one's tone on its own channel, checked by frequency.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use hotline_media::inband::tone_share;
use hotline_media::wav;
use hotline_store::dialplan::NewSipTrunk;
use hotline_telephony::media::{MediaConfig, MediaEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::broadcast;

use crate::{free_port, require, world, World, PASSWORD};

/// The two channels of a stereo recording (caller, agent), checked to be a valid WAV.
pub fn stereo(path: &Path) -> (Vec<i16>, Vec<i16>) {
    let bytes = std::fs::read(path).expect("read");
    assert!(wav::read(&bytes).is_ok(), "a valid WAV");
    assert_eq!(&bytes[22..24], &2u16.to_le_bytes(), "stereo");
    assert_eq!(
        &bytes[20..22],
        &7u16.to_le_bytes(),
        "µ-law, as the line carried it"
    );
    (
        wav::stereo_channel(&bytes, 0).expect("left"),
        wav::stereo_channel(&bytes, 1).expect("right"),
    )
}

fn rms(samples: &[i16]) -> f64 {
    (samples.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / samples.len().max(1) as f64)
        .sqrt()
}

/// A Hotline with the media engine on, its files under the world's folder.
pub async fn media_world() -> (World, tempfile::TempDir) {
    media_world_with(true).await
}

/// The same, bridges relayed by the io_uring threads or (`io_uring` false) on the runtime.
pub async fn media_world_with(io_uring: bool) -> (World, tempfile::TempDir) {
    let files = tempfile::tempdir().expect("dir");
    let base = (free_port() & !1).min(65000);
    let config = MediaConfig {
        ports: base..=base + 40,
        idle_timeout: Duration::from_secs(5),
        recordings: Some(files.path().join("recordings")),
        prompt_cache: files.path().join("prompts"),
        voice: "ru".into(),
        io_uring,
    };
    let w = world(move |c| c.media = Some(config)).await;
    (w, files)
}

pub fn tone_file(dir: &Path, name: &str, freq: f64, seconds: usize) -> PathBuf {
    let path = dir.join(name);
    hotline_testkit::tone_wav(&path, freq, seconds);
    path
}

async fn next_event(
    rx: &mut broadcast::Receiver<MediaEvent>,
    what: &str,
    want: impl Fn(&MediaEvent) -> bool,
) -> MediaEvent {
    try_next_event(rx, want)
        .await
        .unwrap_or_else(|| panic!("no {what} within 40 s"))
}

async fn try_next_event(
    rx: &mut broadcast::Receiver<MediaEvent>,
    want: impl Fn(&MediaEvent) -> bool,
) -> Option<MediaEvent> {
    tokio::time::timeout(Duration::from_secs(40), async {
        loop {
            match rx.recv().await {
                Ok(e) if want(&e) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("media events closed: {e}"),
            }
        }
    })
    .await
    .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_pcap_digit_is_heard_by_the_test_line() {
    if require("sipp").is_none() || require("espeak-ng").is_none() {
        return;
    }
    let (w, files) = media_world().await;
    let media = w.sip.media().expect("media on").clone();
    let mut events = media.subscribe();
    let port = free_port();
    w.store
        .create_trunk(w.tenant, &NewSipTrunk::peer("carrier", "127.0.0.1", port))
        .await
        .expect("trunk");
    w.store
        .create_number(w.tenant, "5550100", "service", "test")
        .await
        .expect("number");
    w.sip.reload_plan().await.expect("plan");
    // uac_pcap reads pcap/… relative to where it runs.
    let run = files.path().join("sipp");
    std::fs::create_dir_all(&run).expect("dir");
    std::os::unix::fs::symlink("/usr/share/sip-tester", run.join("pcap")).expect("link");
    let child = sipp_carrier(&run, &["-sn", "uac_pcap"], &w, port, "5550100", 40);
    let digit = next_event(&mut events, "digit", |e| {
        matches!(e, MediaEvent::Digit { .. })
    })
    .await;
    assert_eq!(
        digit,
        MediaEvent::Digit {
            session: match digit {
                MediaEvent::Digit { session, .. } => session,
                _ => 0,
            },
            digit: '1',
            inband: false
        }
    );
    let out = tokio::time::timeout(Duration::from_secs(40), child.wait_with_output())
        .await
        .expect("sipp ends")
        .expect("sipp runs");
    assert!(
        out.status.success(),
        "sipp failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The caller (the pcap's speech) was recorded and the file closed when it hung up.
    let rec = next_event(&mut events, "recording", |e| {
        matches!(e, MediaEvent::Recorded { .. })
    })
    .await;
    let MediaEvent::Recorded {
        path,
        duration_ms,
        bytes,
        ..
    } = rec
    else {
        unreachable!()
    };
    assert!(duration_ms > 5_000, "{duration_ms} ms");
    assert_eq!(std::fs::metadata(&path).expect("file").len(), bytes);
    let audio = wav::read(&std::fs::read(&path).expect("read")).expect("a valid WAV");
    assert!(
        rms(&audio.samples) > 100.0,
        "the caller's audio is in the recording"
    );
    w.sip.stop().await;
}

/// SIPp as a carrier placing one call from 127.0.0.1:`port` to `number`, with its media on a
/// free port, run in `dir` (where its scenario and pcaps are), ending within `seconds`.
pub fn sipp_carrier(
    dir: &Path,
    scenario: &[&str],
    w: &World,
    port: u16,
    number: &str,
    seconds: u32,
) -> Child {
    let mp = free_port() & !1;
    Command::new("sipp")
        .args(scenario)
        .args([&w.addr().to_string(), "-s", number])
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-m", "1"])
        .args(["-mp", &mp.to_string(), "-nostdin", "-timeout"])
        .arg(format!("{seconds}s"))
        .args(["-timeout_error", "-trace_err"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("sipp starts")
}

/// baresip with a config folder: account `ext`, playing `source`, writing what it receives
/// to `snd_path`, controlled over TCP.
/// A TCP port on 127.0.0.1 free now, for a peer to listen on.
fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free TCP port")
}

pub struct Phone {
    child: Child,
    ctrl: u16,
    dir: tempfile::TempDir,
}

fn modules() -> &'static str {
    hotline_testkit::baresip::modules().expect("baresip modules folder")
}

pub fn phone(w: &World, ext: &str, source: &Path) -> Phone {
    phone_answering(w, ext, source, true)
}

/// A phone that answers by itself (`auto`) or rings until told to answer or hung up.
pub fn phone_answering(w: &World, ext: &str, source: &Path, auto: bool) -> Phone {
    let dir = tempfile::tempdir().expect("dir");
    // The control port is TCP: free for UDP says nothing of it.
    let (sip, ctrl) = (free_port(), free_tcp_port());
    std::fs::write(
        dir.path().join("config"),
        hotline_testkit::baresip::config(modules(), sip, ctrl, source, dir.path()),
    )
    .expect("config");
    std::fs::write(
        dir.path().join("accounts"),
        hotline_testkit::baresip::account(ext, w.addr().port(), PASSWORD, auto),
    )
    .expect("accounts");
    let child = Command::new("baresip")
        .arg("-f")
        .arg(dir.path())
        // A bound on its life should the test be killed (it is also killed on drop): long
        // enough for a test under load, where an offer's 20 s time-out and the IVR come first.
        .args(["-t", "150"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("baresip starts");
    Phone { child, ctrl, dir }
}

impl Phone {
    pub async fn command(&self, command: &str, params: &str) {
        let mut s = None;
        // baresip opens its control port once started; on a loaded machine (the whole test
        // command at once) that has taken more than 5 s.
        for _ in 0..150 {
            match tokio::net::TcpStream::connect(("127.0.0.1", self.ctrl)).await {
                Ok(c) => {
                    s = Some(c);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let Some(mut s) = s else {
            // Say which: the phone is gone, or it runs without its control port (a port
            // taken between choosing it and baresip binding it).
            let alive = self
                .child
                .id()
                .is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
            panic!(
                "baresip's control port {} never opened (baresip running: {alive})",
                self.ctrl
            );
        };
        let json = format!(r#"{{"command":"{command}","params":"{params}","token":"t"}}"#);
        s.write_all(format!("{}:{json},", json.len()).as_bytes())
            .await
            .expect("command sent");
        let mut buf = [0u8; 512];
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
    }

    /// What the phone received during its call (sndfile's `*-dec.wav`).
    pub fn heard(&self) -> Vec<i16> {
        let file = std::fs::read_dir(self.dir.path())
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .expect("baresip wrote what it received");
        let audio = wav::read(&std::fs::read(file).expect("read")).expect("WAV");
        hotline_media::resample::resample(&audio.samples, audio.rate, 8000)
    }

    /// Stops the phone and returns what it printed (for a failure's message).
    pub async fn log(mut self) -> String {
        let _ = self.child.start_kill();
        let out = self.child.wait_with_output().await.expect("baresip output");
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    pub async fn stop(mut self) -> Phone {
        let _ = self.child.kill().await;
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_plays_a_tone_to_the_test_line_and_hears_its_prompt() {
    if require("baresip").is_none() || require("espeak-ng").is_none() {
        return;
    }
    let (w, files) = media_world().await;
    let media = w.sip.media().expect("media on").clone();
    let mut events = media.subscribe();
    w.store
        .create_number(w.tenant, "5550100", "service", "test")
        .await
        .expect("number");
    w.sip.reload_plan().await.expect("plan");
    let tone = tone_file(files.path(), "440.wav", 440.0, 6);
    let p = phone(&w, "1001", &tone);
    w.wait_registered("1001", 1).await;
    p.command(
        "dial",
        &format!("sip:5550100@127.0.0.1:{}", w.addr().port()),
    )
    .await;
    // The call ends when baresip's file ends; the test line's recording closes then.
    let Some(rec) = try_next_event(&mut events, |e| matches!(e, MediaEvent::Recorded { .. })).await
    else {
        panic!("no recording within 40 s; baresip said:\n{}", p.log().await);
    };
    let MediaEvent::Recorded {
        path, duration_ms, ..
    } = rec
    else {
        unreachable!()
    };
    assert!(duration_ms >= 4_000, "{duration_ms} ms");
    // Left: the caller. A second in the middle is the tone.
    let (caller, ours) = stereo(&path);
    let mid = &caller[16000..24000];
    assert!(
        tone_share(mid, 440.0) > 0.8,
        "440 Hz share {}",
        tone_share(mid, 440.0)
    );
    // Right: what we played (the spoken greeting): speech, not the caller's tone.
    assert!(rms(&ours[..16000]) > 300.0, "the prompt was played");
    let p = p.stop().await;
    let heard = p.heard();
    let first = &heard[..heard.len().min(24000)];
    assert!(
        rms(first) > 300.0,
        "baresip heard the prompt (rms {})",
        rms(first)
    );
    assert!(
        tone_share(first, 440.0) < 0.05,
        "and not its own tone echoed"
    );
    w.sip.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_baresip_phones_bridged_and_recorded() {
    bridged_and_recorded(true).await;
}

/// Where io_uring cannot be used (or is turned off), the runtime relays: the same call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_baresip_phones_bridged_and_recorded_on_the_runtime() {
    bridged_and_recorded(false).await;
}

async fn bridged_and_recorded(io_uring: bool) {
    if require("baresip").is_none() {
        return;
    }
    let (w, files) = media_world_with(io_uring).await;
    let media = w.sip.media().expect("media on").clone();
    let mut events = media.subscribe();
    let caller_tone = tone_file(files.path(), "440.wav", 440.0, 6);
    let agent_tone = tone_file(files.path(), "1000.wav", 1000.0, 30);
    let caller = phone(&w, "1001", &caller_tone);
    let agent = phone(&w, "1002", &agent_tone);
    w.wait_registered("1001", 1).await;
    w.wait_registered("1002", 1).await;
    caller
        .command("dial", &format!("sip:1002@127.0.0.1:{}", w.addr().port()))
        .await;
    let Some(rec) = try_next_event(&mut events, |e| matches!(e, MediaEvent::Recorded { .. })).await
    else {
        panic!(
            "no recording within 40 s; the caller said:\n{}\nthe agent said:\n{}",
            caller.log().await,
            agent.log().await
        );
    };
    let MediaEvent::Recorded {
        path,
        duration_ms,
        bytes,
        ..
    } = rec
    else {
        unreachable!()
    };
    assert!(duration_ms >= 4_000, "{duration_ms} ms");
    assert_eq!(std::fs::metadata(&path).expect("file").len(), bytes);
    // Each leg's figures follow: all of its audio came (loopback), Hotline reported to each
    // phone, and each phone's own RTCP reports were read.
    for _ in 0..2 {
        let q = next_event(&mut events, "a leg's figures", |e| {
            matches!(e, MediaEvent::Quality { .. })
        })
        .await;
        let MediaEvent::Quality {
            caller, quality: q, ..
        } = q
        else {
            unreachable!()
        };
        assert!(q.packets_received > 150, "{caller}: {q:?}");
        assert_eq!(q.packets_lost, 0, "{caller}: {q:?}");
        assert!(q.reports_sent >= 1, "{caller}: {q:?}");
        // baresip reports every ~5 s; its first comes within the 6 s call.
        assert!(
            q.remote.reports >= 1,
            "{caller}: baresip's report read: {q:?}"
        );
    }
    let (left, right) = stereo(&path);
    let (l, r) = (&left[16000..24000], &right[16000..24000]);
    assert!(
        tone_share(l, 440.0) > 0.8,
        "caller's 440 Hz on the left: {}",
        tone_share(l, 440.0)
    );
    assert!(tone_share(l, 1000.0) < 0.01, "and not the agent's tone");
    assert!(
        tone_share(r, 1000.0) > 0.8,
        "agent's 1000 Hz on the right: {}",
        tone_share(r, 1000.0)
    );
    assert!(tone_share(r, 440.0) < 0.01, "and not the caller's tone");
    // Each phone heard the other's tone through Hotline.
    let caller = caller.stop().await;
    let agent = agent.stop().await;
    let (hc, ha) = (caller.heard(), agent.heard());
    assert!(
        tone_share(&hc[16000..24000], 1000.0) > 0.8,
        "caller heard the agent"
    );
    assert!(
        tone_share(&ha[16000..24000], 440.0) > 0.8,
        "agent heard the caller"
    );
    // The relay ran where it was meant to: a relay thread (this machine's kernel has
    // io_uring, `hotline-uring`'s own tests need it) or the runtime.
    assert_eq!(
        media.phases_on_relay_threads(),
        u64::from(io_uring),
        "bridge phases on the relay threads"
    );
    w.sip.stop().await;
}
