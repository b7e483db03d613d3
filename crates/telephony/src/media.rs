//! The media shell: RTP sockets from `--rtp-ports`, one task per media session driving the
//! sans-IO sessions of `hotline-media` (a bridge between a call's two legs, or Hotline's own end
//! of a call), recordings written to disk, prompts rendered by espeak-ng and cached.
//!
//! A session ends when told to (the call ended), when RTP stops for `idle_timeout`, or when
//! the service stops; its recording is closed with a correct header in every case.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotline_media::dtmf::DtmfEvent;
use hotline_media::mixer::{Mixer, Monitor};
use hotline_media::playback::Prompt;
use hotline_media::room::Room;
use hotline_media::sdp::{self, Codec, Direction, LocalMedia, Negotiated, SessionDescription};
use hotline_media::session::{Bridge, Endpoint, EndpointEvent, Leg, LegQuality};
use hotline_media::wav;
use hotline_sip::b2bua::{BodyFilter, CallRef, Side};
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, watch};

/// How the media engine runs.
#[derive(Clone, Debug)]
pub struct MediaConfig {
    /// RTP ports (even ones for RTP, each with the odd one above it for RTCP).
    pub ports: RangeInclusive<u16>,
    /// A session whose peers sent nothing for this long ends.
    pub idle_timeout: Duration,
    /// Where recordings go (bridged calls and test-line callers); `None` records nothing.
    pub recordings: Option<PathBuf>,
    /// Where rendered speech is cached.
    pub prompt_cache: PathBuf,
    /// The espeak-ng voice for speech (`ru`, `en`, ...).
    pub voice: String,
    /// Bridges relay on the io_uring relay threads when the kernel allows it (else, and
    /// when this is off, on the async runtime).
    pub io_uring: bool,
}

impl MediaConfig {
    pub fn new(ports: RangeInclusive<u16>, data_dir: &Path) -> MediaConfig {
        MediaConfig {
            ports,
            idle_timeout: Duration::from_secs(60),
            recordings: Some(data_dir.join("recordings")),
            prompt_cache: data_dir.join("prompts"),
            voice: "ru".into(),
            io_uring: true,
        }
    }
}

/// What the media engine tells the rest of Hotline.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaEvent {
    /// A key pressed on a call (`session` names it; `inband` when heard in the audio).
    Digit {
        session: u64,
        digit: char,
        inband: bool,
    },
    /// A recording was closed.
    Recorded {
        session: u64,
        path: PathBuf,
        duration_ms: u64,
        bytes: u64,
    },
    /// A leg left its session (it ended, or the peer was let go): how its audio went both
    /// ways. `caller`: the leg facing whoever called (a bridge's first leg), else the agent's
    /// or callee's.
    Quality {
        session: u64,
        caller: bool,
        quality: LegQuality,
    },
    /// A session ended; `idle` when its peers stopped sending.
    Ended { session: u64, idle: bool },
}

#[derive(Debug)]
enum Control {
    /// New offer/answer results for the bridge's two legs.
    Renegotiate([Negotiated; 2]),
    /// Play a phrase instead of whatever plays (an endpoint).
    Play(Vec<PlayItem>),
    StopPlayback,
    /// Music between prompts (`None`: silence).
    Music(Option<Prompt>),
    /// An endpoint becomes a bridge between its peer and the peer on `port` (an agent who
    /// answered); the conversation is recorded from here, apart from what came before.
    Connect(Port, Negotiated),
    /// The bridged peer goes on hold (kept); the endpoint's own peer hears music again.
    Hold,
    /// The peer on hold is bridged again.
    Resume,
    /// The bridged peer is let go (a transfer); the endpoint's own peer hears music again.
    Release,
    /// A third peer joins, mixed from here until one of them leaves: a consultation (the
    /// caller hears music, the bridged peer, held or not, and the third talk) or a
    /// supervisor on the call.
    Join(Port, Negotiated, Join),
    /// With a supervisor on the call: who hears them from now on.
    Monitor(Monitor),
    /// In a consultation: all three hear each other (`true`), or the caller waits with music
    /// again (`false`).
    Conference(bool),
    /// In a consultation: the third peer leaves and the caller is bridged with the agent again.
    DropThird,
    /// In a consultation: the agent leaves and the caller is bridged with the third peer (an
    /// attended transfer completed).
    DropAgent,
    Stop,
}

/// Whose leg of an endpoint's session it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegRole {
    /// The endpoint's own peer (whoever called, or was called first).
    Caller,
    /// The peer bridged to it (an agent, or an outside number).
    Callee,
    /// A third peer consulted (or in conference).
    Consulted,
    /// A supervisor's phone on the call.
    Supervisor,
}

/// One part of a phrase an endpoint plays.
#[derive(Debug, Clone)]
pub enum PlayItem {
    Prompt(Prompt),
    Pause(u32),
}

/// What an endpoint driven from outside (a flow) tells its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointNote {
    Digit(char),
    /// The phrase of the last `play` ended (not said for one stopped or replaced).
    PromptFinished,
    /// A recording of the session was closed: the part before a connect (the IVR), or the
    /// conversation after it (`conversation`).
    Recorded {
        path: PathBuf,
        duration_ms: u64,
        bytes: u64,
        conversation: bool,
    },
    /// A leg left the session (the caller's when it ends, an agent's when let go or when
    /// the session ends, a third's when it leaves): how its audio went both ways.
    Quality {
        role: LegRole,
        quality: LegQuality,
    },
    /// The session ended; `idle` when the peer stopped sending.
    Ended {
        idle: bool,
    },
}

/// Who decides what an endpoint plays.
pub enum Driver {
    App(App),
    /// A contact flow: digits and prompt ends go to it; it sends plays and music.
    Flow(mpsc::UnboundedSender<EndpointNote>),
}

struct Inner {
    config: MediaConfig,
    bind: IpAddr,
    advertise: IpAddr,
    free: Mutex<VecDeque<u16>>,
    events: broadcast::Sender<MediaEvent>,
    stop: watch::Sender<bool>,
    /// Every session task holds a clone; `shutdown` waits until all are gone.
    alive: Mutex<Option<mpsc::Sender<()>>>,
    done: tokio::sync::Mutex<mpsc::Receiver<()>>,
    prompts: Mutex<HashMap<(String, String), Prompt>>,
    music: std::sync::OnceLock<Prompt>,
    next_session: std::sync::atomic::AtomicU64,
    /// Bridge phases handed to the relay threads.
    on_relay_threads: std::sync::atomic::AtomicU64,
}

/// The media engine (cheap to clone).
#[derive(Clone)]
pub struct Media {
    inner: Arc<Inner>,
}

/// An RTP port taken from the pool (with the RTCP port above it), given back when dropped.
pub struct Port {
    pub port: u16,
    socket: Option<LegSocketsStd>,
    media: Media,
}

/// A leg's sockets: RTP on the even port, RTCP on the odd one above it (RFC 3550 §11).
pub(crate) struct LegSockets {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

/// The same off the runtime's reactor (while a relay thread has them).
pub(crate) struct LegSocketsStd {
    pub rtp: std::net::UdpSocket,
    pub rtcp: std::net::UdpSocket,
}

impl LegSockets {
    fn from_std(s: LegSocketsStd) -> std::io::Result<LegSockets> {
        Ok(LegSockets {
            rtp: UdpSocket::from_std(s.rtp)?,
            rtcp: UdpSocket::from_std(s.rtcp)?,
        })
    }

    fn into_std(self) -> std::io::Result<LegSocketsStd> {
        Ok(LegSocketsStd {
            rtp: self.rtp.into_std()?,
            rtcp: self.rtcp.into_std()?,
        })
    }
}

/// The wall clock as a 64-bit NTP timestamp (RTCP's sender reports and round trips).
pub(crate) fn ntp_now() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // 1900 to 1970: 70 years with 17 leap days.
    let secs = since.as_secs() + 2_208_988_800;
    let frac = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// Reads an RTCP datagram a leg's RTCP socket has waiting (the peer's reports).
fn take_rtcp(leg: &mut Leg, now: u64, from: SocketAddr, data: &[u8]) {
    if !leg.on_rtcp(now, ntp_now(), from, data) {
        tracing::debug!("RTCP from a stranger, or not RTCP: dropped");
    }
}

/// Sends a leg's RTCP report if one is due.
fn send_report(leg: &mut Leg, rtcp: &UdpSocket, now: u64, ntp: u64) {
    let mut out = [0u8; 256];
    if let Some((n, to)) = leg.rtcp_report(now, ntp, &mut out) {
        let _ = rtcp.try_send_to(&out[..n], to);
    }
}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port").field("port", &self.port).finish()
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        if let Ok(mut f) = self.media.inner.free.lock() {
            f.push_back(self.port);
        }
    }
}

impl Media {
    /// A media engine binding RTP on `bind` and putting `advertise` in SDP.
    pub fn new(config: MediaConfig, bind: IpAddr, advertise: IpAddr) -> Media {
        let first = *config.ports.start() + (*config.ports.start() & 1);
        let free: VecDeque<u16> = (first..*config.ports.end()).step_by(2).collect();
        let (events, _) = broadcast::channel(1024);
        let (stop, _) = watch::channel(false);
        let (alive, done) = mpsc::channel(1);
        Media {
            inner: Arc::new(Inner {
                config,
                bind,
                advertise,
                free: Mutex::new(free),
                events,
                stop,
                alive: Mutex::new(Some(alive)),
                done: tokio::sync::Mutex::new(done),
                prompts: Mutex::new(HashMap::new()),
                music: std::sync::OnceLock::new(),
                next_session: std::sync::atomic::AtomicU64::new(1),
                on_relay_threads: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    pub fn advertise(&self) -> IpAddr {
        self.inner.advertise
    }

    /// Events: digits, recordings, sessions ended.
    pub fn subscribe(&self) -> broadcast::Receiver<MediaEvent> {
        self.inner.events.subscribe()
    }

    /// Bridge phases relayed by the io_uring relay threads so far (the others ran on the
    /// async runtime).
    pub fn phases_on_relay_threads(&self) -> u64 {
        self.inner
            .on_relay_threads
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Port pairs (RTP and RTCP) free now.
    pub fn free_ports(&self) -> usize {
        self.inner.free.lock().map(|f| f.len()).unwrap_or(0)
    }

    /// Takes a free even port and binds it with the odd one above it for RTCP (a pair some
    /// other program holds either of is skipped).
    pub fn take_port(&self) -> Option<Port> {
        let tries = self.free_ports();
        let bind = |port: u16| {
            let socket = std::net::UdpSocket::bind(SocketAddr::new(self.inner.bind, port))?;
            socket.set_nonblocking(true)?;
            Ok::<_, std::io::Error>(socket)
        };
        for _ in 0..tries {
            let port = self.inner.free.lock().ok()?.pop_front()?;
            match bind(port).and_then(|rtp| Ok((rtp, bind(port + 1)?))) {
                Ok((rtp, rtcp)) => {
                    let s = socket2::SockRef::from(&rtp);
                    let _ = s.set_recv_buffer_size(256 * 1024);
                    return Some(Port {
                        port,
                        socket: Some(LegSocketsStd { rtp, rtcp }),
                        media: self.clone(),
                    });
                }
                Err(e) => {
                    tracing::warn!(port, error = %e, "RTP port busy, skipped");
                    if let Ok(mut f) = self.inner.free.lock() {
                        f.push_back(port);
                    }
                }
            }
        }
        tracing::warn!("no free RTP port");
        None
    }

    fn session_id(&self) -> u64 {
        self.inner
            .next_session
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    fn guard(&self) -> Option<mpsc::Sender<()>> {
        self.inner.alive.lock().ok()?.clone()
    }

    /// Stops every session (recordings closed) and waits for them.
    pub async fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
        if let Ok(mut a) = self.inner.alive.lock() {
            a.take();
        }
        let mut done = self.inner.done.lock().await;
        while done.recv().await.is_some() {}
    }

    /// Where the tenant's WAV prompts live (flows name them by file name).
    pub fn prompt_dir(&self) -> &Path {
        &self.inner.config.prompt_cache
    }

    /// A WAV prompt from the tenant's prompt folder (a bare file name; no paths).
    pub async fn file_prompt(&self, name: &str) -> Option<Prompt> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return None;
        }
        let path = self.prompt_dir().join(name);
        let bytes = tokio::fs::read(path).await.ok()?;
        let audio = wav::read(&bytes).ok()?;
        Some(Prompt::from_audio(&audio))
    }

    /// Music on hold when a flow names none: a soft arpeggio that loops without a seam.
    pub fn default_music(&self) -> Prompt {
        self.inner.music.get_or_init(default_music).clone()
    }

    /// Ringback as a caller hears it in Russia and most of Europe: 425 Hz, 1 s on, 4 s off.
    pub fn ringback(&self) -> Prompt {
        let mut out: Vec<i16> = (0..8000)
            .map(|i| {
                let t = i as f32 / 8000.0;
                // Faded over 10 ms at each end so the tone starts and stops without a click.
                let edge = (i.min(7999 - i) as f32 / 80.0).min(1.0);
                ((2.0 * std::f32::consts::PI * 425.0 * t).sin() * 4000.0 * edge) as i16
            })
            .collect();
        out.extend(std::iter::repeat_n(0, 4 * 8000));
        Prompt(out.into())
    }

    /// A prompt spoken by espeak-ng in the configured voice, rendered once and cached (in
    /// memory and as an 8 kHz WAV in the prompt cache).
    pub async fn speech(&self, text: &str) -> Option<Prompt> {
        let voice = self.inner.config.voice.clone();
        self.speech_in(&voice, text).await
    }

    pub async fn speech_in(&self, voice: &str, text: &str) -> Option<Prompt> {
        let key = (voice.to_string(), text.to_string());
        if let Some(p) = self.inner.prompts.lock().ok()?.get(&key) {
            return Some(p.clone());
        }
        use sha2::Digest;
        let hash = hex::encode(sha2::Sha256::digest(format!("{voice}\n{text}").as_bytes()));
        let file = self
            .inner
            .config
            .prompt_cache
            .join(format!("tts-{}.wav", &hash[..24]));
        let prompt = match tokio::fs::read(&file)
            .await
            .ok()
            .and_then(|b| wav::read(&b).ok())
        {
            Some(audio) => Prompt(audio.samples.into()),
            None => {
                let out = tokio::process::Command::new("espeak-ng")
                    .args(["-v", voice, "--stdout", text])
                    .stdin(std::process::Stdio::null())
                    .output()
                    .await;
                let out = match out {
                    Ok(o) if o.status.success() => o.stdout,
                    Ok(o) => {
                        tracing::warn!(status = %o.status, "espeak-ng failed");
                        return None;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "espeak-ng could not run (is it installed?)");
                        return None;
                    }
                };
                let audio = wav::read(&out).ok()?;
                let prompt = Prompt::from_audio(&audio);
                let _ = tokio::fs::create_dir_all(&self.inner.config.prompt_cache).await;
                let tmp = file.with_extension("tmp");
                if tokio::fs::write(&tmp, wav::write_mono(8000, prompt.samples()))
                    .await
                    .is_ok()
                {
                    let _ = tokio::fs::rename(&tmp, &file).await;
                }
                prompt
            }
        };
        self.inner.prompts.lock().ok()?.insert(key, prompt.clone());
        Some(prompt)
    }

    fn recording_path(&self, session: u64, tag: &str) -> Option<PathBuf> {
        let dir = self.inner.config.recordings.as_ref()?;
        if let Err(e) = std::fs::create_dir_all(dir) {
            tracing::warn!(error = %e, "recordings folder cannot be made");
            return None;
        }
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Some(dir.join(format!("{ms}-{tag}-{session}.wav")))
    }

    /// Starts a session task: its id, control channel and recording path; it holds a guard
    /// `shutdown` waits for.
    fn spawn<F, Fut>(&self, tag: &str, run: F) -> (u64, mpsc::Sender<Control>)
    where
        F: FnOnce(Media, u64, mpsc::Receiver<Control>, Option<PathBuf>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let session = self.session_id();
        let (control, rx) = mpsc::channel(8);
        let path = self.recording_path(session, tag);
        let guard = self.guard();
        let fut = run(self.clone(), session, rx, path);
        tokio::spawn(async move {
            let _guard = guard;
            fut.await;
        });
        (session, control)
    }

    /// Relays `a` and `b` (each a port facing that peer and what was agreed with it),
    /// recording both sides when recordings are on (`a` on the left).
    pub fn start_bridge(
        &self,
        a: (Port, Negotiated),
        b: (Port, Negotiated),
        tag: &str,
    ) -> BridgeHandle {
        let (session, control) = self.spawn(tag, move |media, session, rx, path| {
            run_bridge(media, session, a, b, rx, path)
        });
        BridgeHandle { session, control }
    }

    /// Hotline's own end of a call on `port`, driven by an app or a flow.
    pub fn start_endpoint(
        &self,
        port: Port,
        negotiated: Negotiated,
        driver: Driver,
        tag: &str,
    ) -> EndpointHandle {
        let (session, control) = self.spawn(tag, move |media, session, rx, path| {
            run_endpoint(media, session, port, negotiated, driver, rx, path)
        });
        EndpointHandle { session, control }
    }
}

/// Controls a running bridge.
#[derive(Clone)]
pub struct BridgeHandle {
    pub session: u64,
    control: mpsc::Sender<Control>,
}

impl BridgeHandle {
    pub fn renegotiate(&self, legs: [Negotiated; 2]) {
        let _ = self.control.try_send(Control::Renegotiate(legs));
    }

    pub fn stop(&self) {
        let _ = self.control.try_send(Control::Stop);
    }
}

/// Controls a running endpoint.
#[derive(Clone)]
pub struct EndpointHandle {
    pub session: u64,
    control: mpsc::Sender<Control>,
}

impl EndpointHandle {
    pub fn stop(&self) {
        let _ = self.control.try_send(Control::Stop);
    }

    /// Plays a phrase instead of whatever plays.
    pub async fn play(&self, items: Vec<PlayItem>) {
        let _ = self.control.send(Control::Play(items)).await;
    }

    pub async fn stop_playback(&self) {
        let _ = self.control.send(Control::StopPlayback).await;
    }

    pub async fn music(&self, music: Option<Prompt>) {
        let _ = self.control.send(Control::Music(music)).await;
    }

    /// Puts the bridged peer on hold (music to the caller meanwhile).
    pub async fn hold(&self) {
        let _ = self.control.send(Control::Hold).await;
    }

    pub async fn resume(&self) {
        let _ = self.control.send(Control::Resume).await;
    }

    /// Lets the bridged peer go (its port is freed); music to the caller meanwhile.
    pub async fn release(&self) {
        let _ = self.control.send(Control::Release).await;
    }

    /// Bridges the endpoint's peer with the peer on `port` (what was agreed with it in
    /// `negotiated`): playback stops, the recording so far is closed, the conversation is
    /// recorded on its own.
    pub async fn connect(&self, port: Port, negotiated: Negotiated) {
        let _ = self.control.send(Control::Connect(port, negotiated)).await;
    }

    /// A third peer (on `port`, agreed in `negotiated`) joins the bridged or held peer: they
    /// talk while the caller hears music; the recording goes on with the caller on the left
    /// and the others mixed on the right.
    pub async fn consult(&self, port: Port, negotiated: Negotiated) {
        let _ = self
            .control
            .send(Control::Join(port, negotiated, Join::Consult))
            .await;
    }

    /// In a consultation: the caller joins the two (`true`) or waits with music again.
    pub async fn conference(&self, on: bool) {
        let _ = self.control.send(Control::Conference(on)).await;
    }

    /// In a consultation: the third peer is let go; the caller and the agent talk again.
    pub async fn drop_third(&self) {
        let _ = self.control.send(Control::DropThird).await;
    }

    /// In a consultation: the agent is let go; the caller and the third peer talk.
    pub async fn drop_agent(&self) {
        let _ = self.control.send(Control::DropAgent).await;
    }

    /// A supervisor's phone (the peer on `port`) joins the call of the caller and the
    /// bridged agent in `mode`; [`EndpointHandle::drop_third`] lets them go again.
    pub async fn monitor(&self, port: Port, negotiated: Negotiated, mode: Monitor) {
        let _ = self
            .control
            .send(Control::Join(port, negotiated, Join::Monitor(mode)))
            .await;
    }

    /// With a supervisor on the call: changes who hears them.
    pub async fn monitor_mode(&self, mode: Monitor) {
        let _ = self.control.send(Control::Monitor(mode)).await;
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.control.is_closed()
    }
}

/// What Hotline does on a service call it answers itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum App {
    /// The test line: a greeting, then each key pressed read back ("you pressed 5"); the
    /// caller is recorded. For checking a trunk's or a phone's audio and DTMF.
    TestLine,
}

/// A recording being written: a header rewritten with the true sizes every few seconds and
/// at the end, so a file survives a crash readable. The session's task only fills `buf`;
/// the disk work is the recordings thread's ([`disk`]).
struct RecordingFile {
    id: u64,
    path: PathBuf,
    /// Stereo frames not yet handed over, as µ-law (two bytes a frame): the recordings
    /// thread decodes them to 16-bit as it writes.
    buf: Vec<u8>,
    closed: bool,
}

impl RecordingFile {
    fn create(path: PathBuf) -> Option<RecordingFile> {
        let id = disk::open(path.clone())?;
        Some(RecordingFile {
            id,
            path,
            buf: Vec::with_capacity(8000),
            closed: false,
        })
    }

    /// Hands what `buf` holds to the recordings thread.
    fn write_buf(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let capacity = self.buf.capacity();
        disk::write(
            self.id,
            std::mem::replace(&mut self.buf, Vec::with_capacity(capacity)),
        );
    }

    /// Closes the file (written out, header true, synced to disk); its path, duration and
    /// size, or `None` when it could not be written.
    async fn close(mut self) -> Option<(PathBuf, u64, u64)> {
        self.write_buf();
        self.closed = true;
        let data_bytes = disk::close(self.id).await?;
        // Stereo µ-law: two bytes a frame, 8 frames a millisecond.
        let duration_ms = data_bytes / 2 / 8;
        Some((
            std::mem::take(&mut self.path),
            duration_ms,
            data_bytes + wav::ULAW_HEADER as u64,
        ))
    }
}

impl Drop for RecordingFile {
    fn drop(&mut self) {
        if !self.closed {
            disk::forget(self.id);
        }
    }
}

/// The recordings thread: every recording's file work (create, write, header rewrites, the
/// final sync) happens here, in the order sessions asked for it. A session's task never
/// waits for the disk: a write held up by writeback, or a sync, on a runtime worker stalled
/// every task queued behind it (screen pops included) under load.
mod relay;

mod disk {
    use super::wav;
    use std::collections::HashMap;
    use std::io::Write;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::mpsc::{channel, Sender};
    use std::sync::OnceLock;

    enum Op {
        Open(u64, PathBuf),
        /// Stereo frames as µ-law, written as they are.
        Write(u64, Vec<u8>),
        /// Close and answer with the audio bytes written (`None`: the file failed).
        Close(u64, Option<tokio::sync::oneshot::Sender<Option<u64>>>),
    }

    struct Open {
        file: std::fs::File,
        data_bytes: u64,
        since_header: u64,
    }

    static NEXT: AtomicU64 = AtomicU64::new(1);
    static QUEUE: OnceLock<Sender<Op>> = OnceLock::new();

    fn send(op: Op) -> bool {
        let queue = QUEUE.get_or_init(|| {
            let (tx, rx) = channel::<Op>();
            let started = std::thread::Builder::new()
                .name("recordings".into())
                .spawn(move || {
                    let mut files: HashMap<u64, Open> = HashMap::new();
                    while let Ok(op) = rx.recv() {
                        run(&mut files, op);
                    }
                });
            if let Err(e) = started {
                tracing::error!(error = %e, "the recordings thread did not start");
            }
            tx
        });
        queue.send(op).is_ok()
    }

    fn run(files: &mut HashMap<u64, Open>, op: Op) {
        match op {
            Op::Open(id, path) => match std::fs::File::create(&path) {
                Ok(mut file) => {
                    if file.write_all(&wav::header_ulaw(8000, 2, 0)).is_ok() {
                        files.insert(
                            id,
                            Open {
                                file,
                                data_bytes: 0,
                                since_header: 0,
                            },
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "recording cannot be created"),
            },
            Op::Write(id, ulaw) => {
                let Some(o) = files.get_mut(&id) else { return };
                // One write a second of audio (the sessions hand it over that way).
                if o.file.write_all(&ulaw).is_ok() {
                    o.data_bytes += ulaw.len() as u64;
                    o.since_header += ulaw.len() as u64;
                }
                // Every ~5 s of audio the header gets the sizes so far.
                if o.since_header >= 8000 * 2 * 5 {
                    o.since_header = 0;
                    let _ = rewrite_header(o);
                }
            }
            Op::Close(id, reply) => {
                let written = files.remove(&id).map(|mut o| {
                    let _ = rewrite_header(&mut o);
                    let _ = o.file.sync_all();
                    o.data_bytes
                });
                if let Some(reply) = reply {
                    let _ = reply.send(written);
                }
            }
        }
    }

    /// Writes the sizes so far into the header in place (one `pwrite`; appends go on at
    /// the end).
    fn rewrite_header(o: &mut Open) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let size = o.data_bytes.min(u64::from(u32::MAX - 64)) as u32;
        o.file.write_all_at(&wav::header_ulaw(8000, 2, size), 0)
    }

    /// Starts a recording file; its id (`None` when the thread is gone).
    pub(super) fn open(path: PathBuf) -> Option<u64> {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        send(Op::Open(id, path)).then_some(id)
    }

    pub(super) fn write(id: u64, bytes: Vec<u8>) {
        send(Op::Write(id, bytes));
    }

    /// Closes a recording once what was handed before is written; the audio bytes it holds.
    pub(super) async fn close(id: u64) -> Option<u64> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if !send(Op::Close(id, Some(tx))) {
            return None;
        }
        rx.await.ok().flatten()
    }

    /// Closes a recording nobody waits for (its session was dropped).
    pub(super) fn forget(id: u64) {
        send(Op::Close(id, None));
    }
}

fn into_tokio(port: &mut Port) -> Option<LegSockets> {
    let s = port.socket.take()?;
    match LegSockets::from_std(s) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "RTP socket not usable");
            None
        }
    }
}

fn ms_since(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64
}

async fn run_bridge(
    media: Media,
    session: u64,
    mut a: (Port, Negotiated),
    mut b: (Port, Negotiated),
    mut control: mpsc::Receiver<Control>,
    path: Option<PathBuf>,
) {
    let (Some(sa), Some(sb)) = (into_tokio(&mut a.0), into_tokio(&mut b.0)) else {
        return;
    };
    let epoch = Instant::now();
    let mut bridge = Bridge::new(
        Leg::new(a.1, 0, crate::shard::random_seed()),
        Leg::new(b.1, 0, crate::shard::random_seed()),
    );
    let recording = path.and_then(RecordingFile::create);
    if recording.is_some() {
        bridge.record(0, 0);
    }
    let Relayed {
        exit,
        mut bridge,
        mut recording,
        ..
    } = relay(
        &media,
        session,
        [sa, sb],
        bridge,
        recording,
        &mut control,
        epoch,
    )
    .await;
    if let (Some(rec), Some(mut file)) = (bridge.recorder_mut(), recording.take()) {
        rec.finish_ulaw(&mut file.buf);
        if let Some((path, duration_ms, bytes)) = file.close().await {
            tracing::info!(session, duration_ms, bytes, "recording closed");
            let _ = media.inner.events.send(MediaEvent::Recorded {
                session,
                path,
                duration_ms,
                bytes,
            });
        }
    }
    for (i, leg) in bridge.legs.iter().enumerate() {
        let role = if i == 0 {
            LegRole::Caller
        } else {
            LegRole::Callee
        };
        leg_left(&media, session, None, role, leg);
    }
    let _ = media.inner.events.send(MediaEvent::Ended {
        session,
        idle: matches!(exit, Exit::Idle),
    });
}

/// A leg's figures when it leaves its session: logged, and told to the session's driver
/// (a flow's call) and everyone listening.
fn leg_left(
    media: &Media,
    session: u64,
    notes: Option<&mpsc::UnboundedSender<EndpointNote>>,
    role: LegRole,
    leg: &Leg,
) {
    let caller = role == LegRole::Caller;
    let q = leg.quality();
    tracing::info!(
        session,
        caller,
        received = q.packets_received,
        lost = q.packets_lost,
        jitter_ms = q.max_jitter_ms,
        reports_sent = q.reports_sent,
        peer_reports = q.remote.reports,
        peer_lost = q.remote.cumulative_lost,
        rtt_ms = q.remote.rtt_ms,
        "leg quality"
    );
    if let Some(notes) = notes {
        let _ = notes.send(EndpointNote::Quality { role, quality: q });
    }
    let _ = media.inner.events.send(MediaEvent::Quality {
        session,
        caller,
        quality: q,
    });
}

/// How a conversation (bridge or room) of an endpoint ended.
enum Talked {
    /// The agent was put on hold (kept).
    Held,
    /// The agent was let go.
    Released,
    Ended {
        idle: bool,
    },
}

/// Who hears whom while an agent (party 1) consults a third peer (party 2): the caller
/// (party 0) hears neither (music instead) and is heard by neither.
fn consultation() -> Mixer {
    let mut m = Mixer::conference(3);
    for j in 1..3 {
        m.set(0, j, false);
        m.set(j, 0, false);
    }
    m
}

/// How a third peer is in a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Join {
    /// A consultation (the caller waits with music), or a conference once asked.
    Consult,
    /// A supervisor listening, whispering to the agent or talking to both.
    Monitor(Monitor),
}

impl Join {
    /// Who hears whom as the third joins.
    fn mixer(self) -> Mixer {
        match self {
            Join::Consult => consultation(),
            Join::Monitor(mode) => Mixer::monitor(mode),
        }
    }
}

/// Why a phase of a session ended.
#[derive(Debug)]
enum Exit {
    /// Told to stop, or the service stops.
    Stop,
    /// The peers stopped sending.
    Idle,
    /// (Endpoint) bridge with a new peer.
    Connect(Port, Negotiated),
    /// (Endpoint) bridge again with the peer on hold.
    Resume,
    /// (Bridge) the second peer is put on hold: the first hears music; its leg is kept.
    Hold,
    /// (Bridge) the second peer is let go: the first hears music.
    Release,
    /// (Bridge, or endpoint with a peer on hold) a third peer joins: mix the three.
    Join(Port, Negotiated, Join),
    /// (Room) the third peer left: bridge the caller and the agent again.
    DropThird,
    /// (Room) the agent left: bridge the caller and the third peer.
    DropAgent,
}

/// What a bridge phase gives back: why it ended, its sockets (`None` when they could not be
/// taken back from a relay thread), the bridge and the recording (left open).
struct Relayed {
    exit: Exit,
    sockets: Option<[LegSockets; 2]>,
    bridge: Bridge,
    recording: Option<RecordingFile>,
}

/// Relays between the two sockets until told otherwise, the service stops, or both peers go
/// quiet; what is heard goes to `recording` (left open). The relaying itself happens on a
/// relay thread (`relay::pool`) when io_uring is usable, else here on the runtime.
async fn relay(
    media: &Media,
    session: u64,
    sockets: [LegSockets; 2],
    bridge: Bridge,
    recording: Option<RecordingFile>,
    control: &mut mpsc::Receiver<Control>,
    epoch: Instant,
) -> Relayed {
    let mut stop = media.inner.stop.subscribe();
    let pool = if media.inner.config.io_uring {
        relay::pool()
    } else {
        None
    };
    let Some(pool) = pool else {
        return relay_here(
            media, session, sockets, bridge, recording, control, &mut stop, epoch,
        )
        .await;
    };
    // Out of the runtime's reactor: nothing wakes it for these sockets while a relay thread
    // has them.
    let [a, b] = sockets;
    let (a, b) = match (a.into_std(), b.into_std()) {
        (Ok(a), Ok(b)) => (a, b),
        _ => {
            tracing::error!(
                session,
                "RTP sockets could not leave the runtime: the session ends"
            );
            return Relayed::lost(bridge, recording);
        }
    };
    let negotiated = [bridge.legs[0].negotiated, bridge.legs[1].negotiated];
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel();
    let job = relay::Job {
        session,
        sockets: [a, b],
        bridge,
        recording,
        epoch,
        idle_ms: media.inner.config.idle_timeout.as_millis() as u64,
        events: media.inner.events.clone(),
        done: done_tx,
    };
    let attached = match pool.start(job) {
        Ok(at) => {
            media
                .inner
                .on_relay_threads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            at
        }
        Err(job) => {
            let relay::Job {
                sockets,
                bridge,
                recording,
                ..
            } = *job;
            let Some(sockets) = back_to_runtime(session, sockets) else {
                return Relayed::lost(bridge, recording);
            };
            return relay_here(
                media, session, sockets, bridge, recording, control, &mut stop, epoch,
            )
            .await;
        }
    };
    let mut asked: Option<Exit> = None;
    let done = loop {
        tokio::select! {
            d = &mut done_rx => break d,
            c = control.recv(), if asked.is_none() => match c {
                Some(Control::Renegotiate(legs)) => pool.renegotiate(attached, legs),
                Some(Control::Hold) => asked = Some(Exit::Hold),
                Some(Control::Release) => asked = Some(Exit::Release),
                Some(Control::Join(port, negotiated, join)) => asked = Some(Exit::Join(port, negotiated, join)),
                // A bridge plays nothing of its own and is connected already.
                Some(Control::Play(_) | Control::StopPlayback | Control::Music(_) | Control::Connect(..) | Control::Resume
                    | Control::Conference(_) | Control::Monitor(_) | Control::DropThird | Control::DropAgent) => {}
                Some(Control::Stop) | None => asked = Some(Exit::Stop),
            },
            _ = stop.changed(), if asked.is_none() => asked = Some(Exit::Stop),
        }
        if asked.is_some() {
            pool.detach(attached);
        }
    };
    let Ok(done) = done else {
        // The relay thread is gone (it never is while the process runs).
        tracing::error!(session, "the relay thread dropped a session");
        let now = ms_since(epoch);
        let bridge = Bridge::new(
            Leg::new(negotiated[0], now, crate::shard::random_seed()),
            Leg::new(negotiated[1], now, crate::shard::random_seed()),
        );
        return Relayed::lost(bridge, None);
    };
    let relay::Done {
        idle,
        failed,
        sockets,
        bridge,
        recording,
    } = done;
    let Some(sockets) = back_to_runtime(session, sockets) else {
        return Relayed::lost(bridge, recording);
    };
    if failed && asked.is_none() {
        return relay_here(
            media, session, sockets, bridge, recording, control, &mut stop, epoch,
        )
        .await;
    }
    let exit = match asked {
        Some(exit) => exit,
        None if idle => Exit::Idle,
        None => Exit::Stop,
    };
    Relayed::ended(session, exit, sockets, bridge, recording)
}

impl Relayed {
    /// The sockets are gone: the session cannot go on.
    fn lost(bridge: Bridge, recording: Option<RecordingFile>) -> Relayed {
        Relayed {
            exit: Exit::Stop,
            sockets: None,
            bridge,
            recording,
        }
    }

    fn ended(
        session: u64,
        exit: Exit,
        sockets: [LegSockets; 2],
        bridge: Bridge,
        recording: Option<RecordingFile>,
    ) -> Relayed {
        let [fa, fb] = bridge.forwarded();
        tracing::info!(session, forwarded_a = fa, forwarded_b = fb, exit = ?exit, "bridge phase ended");
        Relayed {
            exit,
            sockets: Some(sockets),
            bridge,
            recording,
        }
    }
}

/// Tells everyone listening of the keys a bridge relayed (RFC 4733 events).
fn relayed_digits(
    events: &broadcast::Sender<MediaEvent>,
    session: u64,
    digits: &mut Vec<DtmfEvent>,
) {
    for d in digits.drain(..) {
        if let DtmfEvent::Digit { digit, .. } = d {
            tracing::info!(session, "digit relayed");
            let _ = events.send(MediaEvent::Digit {
                session,
                digit,
                inband: false,
            });
        }
    }
}

/// Sockets a relay thread gave back, on the runtime's reactor again.
fn back_to_runtime(session: u64, [a, b]: [LegSocketsStd; 2]) -> Option<[LegSockets; 2]> {
    match (LegSockets::from_std(a), LegSockets::from_std(b)) {
        (Ok(a), Ok(b)) => Some([a, b]),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(session, error = %e, "RTP sockets could not rejoin the runtime");
            None
        }
    }
}

/// The relay on the runtime: a task woken for every packet.
#[allow(clippy::too_many_arguments)]
async fn relay_here(
    media: &Media,
    session: u64,
    sockets: [LegSockets; 2],
    mut bridge: Bridge,
    mut recording: Option<RecordingFile>,
    control: &mut mpsc::Receiver<Control>,
    stop: &mut watch::Receiver<bool>,
    epoch: Instant,
) -> Relayed {
    let [a, b] = &sockets;
    let (sa, sb) = (&a.rtp, &b.rtp);
    let mut control_buf = [0u8; 1500];
    let idle = media.inner.config.idle_timeout.as_millis() as u64;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut buf_a = [0u8; 2048];
    let mut buf_b = [0u8; 2048];
    let mut digits: Vec<DtmfEvent> = Vec::with_capacity(8);
    let exit = loop {
        tokio::select! {
            r = rtcp_from([a, b], &mut control_buf) => if let Ok((i, n, from)) = r {
                take_rtcp(&mut bridge.legs[i & 1], ms_since(epoch), from, &control_buf[..n]);
            },
            r = sa.recv_from(&mut buf_a) => {
                if let Ok((n, from)) = r {
                    let now = ms_since(epoch);
                    if let Some(to) = bridge.relay(0, now, from, &mut buf_a[..n], &mut digits) {
                        let _ = sb.try_send_to(&buf_a[..n], to);
                    }
                }
            }
            r = sb.recv_from(&mut buf_b) => {
                if let Ok((n, from)) = r {
                    let now = ms_since(epoch);
                    if let Some(to) = bridge.relay(1, now, from, &mut buf_b[..n], &mut digits) {
                        let _ = sa.try_send_to(&buf_b[..n], to);
                    }
                }
            }
            c = control.recv() => match c {
                Some(Control::Renegotiate([na, nb])) => {
                    bridge.legs[0].renegotiate(na);
                    bridge.legs[1].renegotiate(nb);
                }
                Some(Control::Hold) => break Exit::Hold,
                Some(Control::Release) => break Exit::Release,
                Some(Control::Join(port, negotiated, join)) => break Exit::Join(port, negotiated, join),
                // A bridge plays nothing of its own and is connected already.
                Some(Control::Play(_) | Control::StopPlayback | Control::Music(_) | Control::Connect(..) | Control::Resume
                    | Control::Conference(_) | Control::Monitor(_) | Control::DropThird | Control::DropAgent) => {}
                Some(Control::Stop) | None => break Exit::Stop,
            },
            _ = tick.tick() => {
                let now = ms_since(epoch);
                if let (Some(rec), Some(file)) = (bridge.recorder_mut(), recording.as_mut()) {
                    rec.drain_ulaw(now, &mut file.buf);
                    file.write_buf();
                }
                let ntp = ntp_now();
                send_report(&mut bridge.legs[0], &a.rtcp, now, ntp);
                send_report(&mut bridge.legs[1], &b.rtcp, now, ntp);
                if bridge.legs.iter().all(|l| l.idle(now, idle)) {
                    break Exit::Idle;
                }
            }
            _ = stop.changed() => break Exit::Stop,
        }
        relayed_digits(&media.inner.events, session, &mut digits);
    };
    Relayed::ended(session, exit, sockets, bridge, recording)
}

/// Hotline's own end of a call; with a flow as driver it can be bridged to a second peer (an
/// agent), that peer put on hold or let go (music meanwhile), and bridged again. The part
/// before the first bridge is recorded on its own (the IVR); from the first bridge on, one
/// recording holds the conversation, holds and transfers included.
async fn run_endpoint(
    media: Media,
    session: u64,
    mut port: Port,
    negotiated: Negotiated,
    driver: Driver,
    mut control: mpsc::Receiver<Control>,
    path: Option<PathBuf>,
) {
    let Some(mut socket) = into_tokio(&mut port) else {
        if let Driver::Flow(notes) = &driver {
            let _ = notes.send(EndpointNote::Ended { idle: false });
        }
        return;
    };
    let epoch = Instant::now();
    let mut ep = Endpoint::new(
        Leg::new(negotiated, 0, crate::shard::random_seed()),
        0,
        crate::shard::random_seed(),
    );
    let mut recording = path.and_then(RecordingFile::create);
    if recording.is_some() {
        ep.record(0);
    }
    let (notes, pressed) = match driver {
        Driver::App(App::TestLine) => {
            let greeting = media
                .speech("Hotline. Тестовая линия. Нажмите любую клавишу.")
                .await;
            if let Some(g) = greeting {
                ep.player.play(g);
            }
            (None, media.speech("Вы нажали").await)
        }
        Driver::Flow(notes) => (Some(notes), None),
    };
    let recorded = |path: PathBuf, duration_ms: u64, bytes: u64, conversation: bool| {
        announce_recording(
            &media,
            session,
            notes.as_ref(),
            path,
            duration_ms,
            bytes,
            conversation,
        );
    };
    let mut conversation = false;
    // The second peer while it is on hold: its socket and leg.
    let mut parked: Option<(LegSockets, Leg, Port)> = None;
    let idle_end = loop {
        let exit = endpoint_phase(
            &media,
            session,
            &socket,
            &mut ep,
            &mut recording,
            &mut control,
            epoch,
            notes.as_ref(),
            pressed.as_ref(),
        )
        .await;
        // A third peer joining from hold goes straight into a room with the held one.
        let mut third: Option<(LegSockets, Leg, Port, Join)> = None;
        let (other, other_leg, other_port) = match exit {
            Exit::Connect(mut port, negotiated) => {
                let Some(other) = into_tokio(&mut port) else {
                    continue;
                };
                parked = None;
                (
                    other,
                    Leg::new(negotiated, ms_since(epoch), crate::shard::random_seed()),
                    port,
                )
            }
            Exit::Resume => match parked.take() {
                Some(p) => p,
                None => continue,
            },
            Exit::Join(mut port, negotiated, join) => {
                let (Some(p), Some(s)) = (parked.take(), into_tokio(&mut port)) else {
                    continue;
                };
                third = Some((
                    s,
                    Leg::new(negotiated, ms_since(epoch), crate::shard::random_seed()),
                    port,
                    join,
                ));
                p
            }
            Exit::Idle => break true,
            _ => break false,
        };
        let now = ms_since(epoch);
        let mut recorder = if conversation {
            ep.take_recorder()
        } else {
            // The first bridge: the IVR part is closed, the conversation's file opened.
            if let (Some(rec), Some(mut file)) = (ep.recorder_mut(), recording.take()) {
                rec.finish_ulaw(&mut file.buf);
                if let Some((path, duration_ms, bytes)) = file.close().await {
                    recorded(path, duration_ms, bytes, false);
                }
            }
            conversation = true;
            recording = media
                .recording_path(session, "conversation")
                .and_then(RecordingFile::create);
            recording
                .is_some()
                .then(|| hotline_media::recorder::Recorder::new(now))
        };
        let mut caller_leg = ep.into_leg();
        let (mut other, mut other_leg, mut other_port) = (other, other_leg, other_port);
        tracing::info!(session, "endpoint bridged to a second peer");
        // The conversation: a bridge of two, or a room of three while a third peer is in.
        let end: Talked = loop {
            if let Some((third_socket, third_leg, third_port, mut join)) = third.take() {
                let mut room = Room::new(
                    vec![caller_leg, other_leg, third_leg],
                    ms_since(epoch),
                    crate::shard::random_seed(),
                );
                room.set_mixer(join.mixer());
                if join == Join::Consult {
                    room.set_music(0, true);
                    room.player.set_music(Some(media.default_music()));
                }
                if let Some(r) = recorder.take() {
                    room.set_recorder(r);
                }
                tracing::info!(session, ?join, "a third peer joined");
                let exit = room_phase(
                    &media,
                    session,
                    [&socket, &other, &third_socket],
                    &mut room,
                    &mut join,
                    &mut recording,
                    &mut control,
                    epoch,
                )
                .await;
                recorder = room.take_recorder();
                let mut legs = room.into_legs().into_iter();
                let (Some(c), Some(a), Some(t)) = (legs.next(), legs.next(), legs.next()) else {
                    unreachable!("a room of three gives three legs back");
                };
                caller_leg = c;
                let left = |leg: &Leg, role| leg_left(&media, session, notes.as_ref(), role, leg);
                let third_role = match join {
                    Join::Consult => LegRole::Consulted,
                    Join::Monitor(_) => LegRole::Supervisor,
                };
                match exit {
                    Exit::DropThird => {
                        left(&t, third_role);
                        other_leg = a;
                    }
                    Exit::DropAgent => {
                        left(&a, LegRole::Callee);
                        (other, other_leg, other_port) = (third_socket, t, third_port);
                    }
                    Exit::Idle => {
                        left(&t, third_role);
                        other_leg = a;
                        break Talked::Ended { idle: true };
                    }
                    _ => {
                        left(&t, third_role);
                        other_leg = a;
                        break Talked::Ended { idle: false };
                    }
                }
                continue;
            }
            let mut bridge = Bridge::new(caller_leg, other_leg);
            if let Some(r) = recorder.take() {
                bridge.set_recorder(r, 0);
            }
            let relayed = relay(
                &media,
                session,
                [socket, other],
                bridge,
                recording.take(),
                &mut control,
                epoch,
            )
            .await;
            let (exit, mut bridge) = (relayed.exit, relayed.bridge);
            recording = relayed.recording;
            recorder = bridge.take_recorder();
            [caller_leg, other_leg] = bridge.into_legs();
            let Some([s, o]) = relayed.sockets else {
                // The sockets could not be taken back from the relay thread: the call's
                // media is gone; what was recorded is kept.
                tracing::error!(
                    session,
                    "RTP sockets lost after a bridge phase: the session ends"
                );
                let ending = EndpointEnd::new(&media, session, notes.as_ref(), conversation);
                ending
                    .close(recorder.as_mut(), recording.take(), false)
                    .await;
                return;
            };
            (socket, other) = (s, o);
            match exit {
                Exit::Join(mut port, negotiated, join) => {
                    if let Some(s) = into_tokio(&mut port) {
                        third = Some((
                            s,
                            Leg::new(negotiated, ms_since(epoch), crate::shard::random_seed()),
                            port,
                            join,
                        ));
                    }
                }
                Exit::Hold => break Talked::Held,
                Exit::Release => break Talked::Released,
                Exit::Idle => break Talked::Ended { idle: true },
                _ => break Talked::Ended { idle: false },
            }
        };
        ep = Endpoint::new(caller_leg, ms_since(epoch), crate::shard::random_seed());
        if let Some(r) = recorder {
            ep.set_recorder(r);
        }
        match end {
            // On hold: the peer is kept to come back (or for a third to join it).
            Talked::Held => parked = Some((other, other_leg, other_port)),
            Talked::Released => {
                leg_left(&media, session, notes.as_ref(), LegRole::Callee, &other_leg)
            }
            Talked::Ended { idle } => {
                leg_left(&media, session, notes.as_ref(), LegRole::Callee, &other_leg);
                break idle;
            }
        }
    };
    if let Some((_, leg, _)) = &parked {
        leg_left(&media, session, notes.as_ref(), LegRole::Callee, leg);
    }
    leg_left(&media, session, notes.as_ref(), LegRole::Caller, &ep.leg);
    let ending = EndpointEnd::new(&media, session, notes.as_ref(), conversation);
    ending
        .close(ep.recorder_mut(), recording.take(), idle_end)
        .await;
}

/// A recording of an endpoint's session closed: its driver (a flow's call) and everyone
/// listening are told.
fn announce_recording(
    media: &Media,
    session: u64,
    notes: Option<&mpsc::UnboundedSender<EndpointNote>>,
    path: PathBuf,
    duration_ms: u64,
    bytes: u64,
    conversation: bool,
) {
    if let Some(notes) = notes {
        let _ = notes.send(EndpointNote::Recorded {
            path: path.clone(),
            duration_ms,
            bytes,
            conversation,
        });
    }
    let _ = media.inner.events.send(MediaEvent::Recorded {
        session,
        path,
        duration_ms,
        bytes,
    });
}

/// How an endpoint's session ends.
struct EndpointEnd<'a> {
    media: &'a Media,
    session: u64,
    notes: Option<&'a mpsc::UnboundedSender<EndpointNote>>,
    /// The open recording is the conversation's (not the IVR part's).
    conversation: bool,
}

impl<'a> EndpointEnd<'a> {
    fn new(
        media: &'a Media,
        session: u64,
        notes: Option<&'a mpsc::UnboundedSender<EndpointNote>>,
        conversation: bool,
    ) -> Self {
        EndpointEnd {
            media,
            session,
            notes,
            conversation,
        }
    }

    /// Closes the recording (what was heard kept) and says the session ended.
    async fn close(
        self,
        recorder: Option<&mut hotline_media::recorder::Recorder>,
        recording: Option<RecordingFile>,
        idle: bool,
    ) {
        if let (Some(rec), Some(mut file)) = (recorder, recording) {
            rec.finish_ulaw(&mut file.buf);
            if let Some((path, duration_ms, bytes)) = file.close().await {
                announce_recording(
                    self.media,
                    self.session,
                    self.notes,
                    path,
                    duration_ms,
                    bytes,
                    self.conversation,
                );
            }
        }
        if let Some(notes) = self.notes {
            let _ = notes.send(EndpointNote::Ended { idle });
        }
        let _ = self.media.inner.events.send(MediaEvent::Ended {
            session: self.session,
            idle,
        });
    }
}

/// Mixes the caller, the agent and a third peer (consulted, or a supervisor: `join`) until
/// one of the two leaves, the caller goes quiet, or the session stops.
#[allow(clippy::too_many_arguments)]
async fn room_phase(
    media: &Media,
    session: u64,
    sockets: [&LegSockets; 3],
    room: &mut Room,
    join: &mut Join,
    recording: &mut Option<RecordingFile>,
    control: &mut mpsc::Receiver<Control>,
    epoch: Instant,
) -> Exit {
    let mut stop = media.inner.stop.subscribe();
    let idle = media.inner.config.idle_timeout.as_millis() as u64;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut bufs = [[0u8; 2048]; 3];
    let [b0, b1, b2] = &mut bufs;
    let mut control_buf = [0u8; 1500];
    let mut out = [0u8; 1500];
    let mut last_drain = 0u64;
    let exit = loop {
        tokio::select! {
            r = sockets[0].rtp.recv_from(b0) => if let Ok((n, from)) = r {
                room.receive(0, ms_since(epoch), from, &b0[..n]);
            },
            r = sockets[1].rtp.recv_from(b1) => if let Ok((n, from)) = r {
                room.receive(1, ms_since(epoch), from, &b1[..n]);
            },
            r = sockets[2].rtp.recv_from(b2) => if let Ok((n, from)) = r {
                room.receive(2, ms_since(epoch), from, &b2[..n]);
            },
            r = rtcp_from(sockets, &mut control_buf) => if let Ok((i, n, from)) = r {
                if let Some(leg) = room.leg_mut(i) {
                    take_rtcp(leg, ms_since(epoch), from, &control_buf[..n]);
                }
            },
            _ = tick.tick() => {
                let now = ms_since(epoch);
                while room.tick(now) {
                    for (i, socket) in sockets.iter().enumerate() {
                        if let Some((n, to)) = room.packet(i, &mut out) {
                            let _ = socket.rtp.try_send_to(&out[..n], to);
                        }
                    }
                }
                if now >= last_drain + 100 {
                    last_drain = now;
                    if let (Some(rec), Some(file)) = (room.recorder_mut(), recording.as_mut()) {
                        rec.drain_ulaw(now, &mut file.buf);
                        file.write_buf();
                    }
                    let ntp = ntp_now();
                    for (i, socket) in sockets.iter().enumerate() {
                        if let Some(leg) = room.leg_mut(i) {
                            send_report(leg, &socket.rtcp, now, ntp);
                        }
                    }
                    if room.party(0).is_some_and(|p| p.leg.idle(now, idle)) {
                        break Exit::Idle;
                    }
                }
            }
            c = control.recv() => match c {
                Some(Control::Conference(on)) if *join == Join::Consult => {
                    room.set_mixer(if on { Mixer::conference(3) } else { consultation() });
                    room.set_music(0, !on);
                    tracing::info!(session, conference = on, "room mixing changed");
                }
                Some(Control::Monitor(mode)) if matches!(join, Join::Monitor(_)) => {
                    *join = Join::Monitor(mode);
                    room.set_mixer(join.mixer());
                    tracing::info!(session, ?mode, "supervisor's mode changed");
                }
                Some(Control::Music(m)) => room.player.set_music(m),
                Some(Control::DropThird) => break Exit::DropThird,
                Some(Control::DropAgent) => break Exit::DropAgent,
                Some(Control::Join(..) | Control::Connect(..) | Control::Renegotiate(_) | Control::Play(_)
                    | Control::Conference(_) | Control::Monitor(_)
                    | Control::StopPlayback | Control::Hold | Control::Resume | Control::Release) => {}
                Some(Control::Stop) | None => break Exit::Stop,
            },
            _ = stop.changed() => break Exit::Stop,
        }
    };
    tracing::info!(session, exit = ?exit, "room phase ended");
    exit
}

/// The next RTCP datagram on any of a phase's legs: which leg, its length and source.
async fn rtcp_from<const N: usize>(
    sockets: [&LegSockets; N],
    buf: &mut [u8],
) -> std::io::Result<(usize, usize, SocketAddr)> {
    std::future::poll_fn(|cx| {
        for (i, s) in sockets.iter().enumerate() {
            let mut b = tokio::io::ReadBuf::new(buf);
            if let std::task::Poll::Ready(r) = s.rtcp.poll_recv_from(cx, &mut b) {
                let n = b.filled().len();
                return std::task::Poll::Ready(r.map(|from| (i, n, from)));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Hotline plays to the peer and listens, until told to bridge, to stop, or the peer goes
/// quiet.
#[allow(clippy::too_many_arguments)]
async fn endpoint_phase(
    media: &Media,
    session: u64,
    socket: &LegSockets,
    ep: &mut Endpoint,
    recording: &mut Option<RecordingFile>,
    control: &mut mpsc::Receiver<Control>,
    epoch: Instant,
    notes: Option<&mpsc::UnboundedSender<EndpointNote>>,
    pressed: Option<&Prompt>,
) -> Exit {
    let mut stop = media.inner.stop.subscribe();
    let idle = media.inner.config.idle_timeout.as_millis() as u64;
    let mut tick = tokio::time::interval(Duration::from_millis(u64::from(
        ep.leg.negotiated.ptime.clamp(10, 60),
    )));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut buf = [0u8; 2048];
    let mut control_buf = [0u8; 1500];
    let mut out = [0u8; 1500];
    let mut events: Vec<EndpointEvent> = Vec::with_capacity(8);
    let mut last_drain = 0u64;
    loop {
        tokio::select! {
            r = socket.rtp.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    ep.receive(ms_since(epoch), from, &buf[..n], &mut events);
                }
            }
            r = socket.rtcp.recv_from(&mut control_buf) => {
                if let Ok((n, from)) = r {
                    take_rtcp(&mut ep.leg, ms_since(epoch), from, &control_buf[..n]);
                }
            }
            _ = tick.tick() => {
                let now = ms_since(epoch);
                while let Some((n, to)) = ep.transmit(now, &mut out, &mut events) {
                    let _ = socket.rtp.try_send_to(&out[..n], to);
                }
                if now >= last_drain + 100 {
                    last_drain = now;
                    if let (Some(rec), Some(file)) = (ep.recorder_mut(), recording.as_mut()) {
                        rec.drain_ulaw(now, &mut file.buf);
                        file.write_buf();
                    }
                    send_report(&mut ep.leg, &socket.rtcp, now, ntp_now());
                    if ep.leg.idle(now, idle) {
                        return Exit::Idle;
                    }
                }
            }
            c = control.recv() => match c {
                Some(Control::Renegotiate([n, _])) => ep.leg.renegotiate(n),
                Some(Control::Play(items)) => {
                    ep.player.stop();
                    for item in items {
                        match item {
                            PlayItem::Prompt(p) => ep.player.play(p),
                            PlayItem::Pause(ms) => ep.player.pause(ms),
                        }
                    }
                    if !ep.player.is_playing() {
                        events.push(EndpointEvent::PromptFinished);
                    }
                }
                Some(Control::StopPlayback) => ep.player.stop(),
                Some(Control::Music(m)) => ep.player.set_music(m),
                Some(Control::Connect(port, negotiated)) => return Exit::Connect(port, negotiated),
                Some(Control::Resume) => return Exit::Resume,
                Some(Control::Join(port, negotiated, join)) => return Exit::Join(port, negotiated, join),
                Some(Control::Hold | Control::Release | Control::Conference(_) | Control::Monitor(_) | Control::DropThird
                    | Control::DropAgent) => {}
                Some(Control::Stop) | None => return Exit::Stop,
            },
            _ = stop.changed() => return Exit::Stop,
        }
        for e in events.drain(..) {
            match e {
                EndpointEvent::Digit { digit, inband } => {
                    tracing::info!(session, inband, "digit received");
                    let _ = media.inner.events.send(MediaEvent::Digit {
                        session,
                        digit,
                        inband,
                    });
                    if let Some(notes) = notes {
                        let _ = notes.send(EndpointNote::Digit(digit));
                        continue;
                    }
                    // The test line reads the key back: barge in on whatever was playing.
                    ep.player.stop();
                    let name = digit_name(digit);
                    if let (Some(p), Some(d)) = (pressed.cloned(), media.speech(name).await) {
                        ep.player.play_phrase([p, d]);
                    }
                }
                EndpointEvent::PromptFinished => {
                    if let Some(notes) = notes {
                        let _ = notes.send(EndpointNote::PromptFinished);
                    }
                }
            }
        }
    }
}

/// Eight notes of 500 ms (C major, up and down), each faded in and out so the loop and every
/// note join without a click; about -20 dBFS.
fn default_music() -> Prompt {
    const NOTES: [f32; 8] = [261.63, 329.63, 392.0, 523.25, 392.0, 329.63, 293.66, 246.94];
    let per = 4000usize;
    let mut out = Vec::with_capacity(per * NOTES.len());
    for f in NOTES {
        for i in 0..per {
            let t = i as f32 / 8000.0;
            let env = (std::f32::consts::PI * i as f32 / per as f32).sin().powi(2);
            let v = (2.0 * std::f32::consts::PI * f * t).sin() * 0.7
                + (2.0 * std::f32::consts::PI * 2.0 * f * t).sin() * 0.3;
            out.push((v * env * 3000.0) as i16);
        }
    }
    Prompt(out.into())
}

fn digit_name(d: char) -> &'static str {
    match d {
        '0' => "ноль",
        '1' => "один",
        '2' => "два",
        '3' => "три",
        '4' => "четыре",
        '5' => "пять",
        '6' => "шесть",
        '7' => "семь",
        '8' => "восемь",
        '9' => "девять",
        '*' => "звёздочка",
        '#' => "решётка",
        'A' => "A",
        'B' => "B",
        'C' => "C",
        _ => "D",
    }
}

/// Our side of a stream on `port` with the usual codecs.
pub fn local_media(address: IpAddr, port: u16, version: u64) -> LocalMedia {
    LocalMedia {
        address,
        port,
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        dtmf_payload_type: 101,
        ptime: 20,
        direction: Direction::SendRecv,
        session_id: version,
        session_version: version,
    }
}

/// A call whose media is anchored: its two ports and the offer/answer state.
struct Anchored {
    /// Ports facing A and B, until the bridge takes them.
    ports: [Option<Port>; 2],
    numbers: [u16; 2],
    /// The outstanding offer and the side it came from.
    offer: Option<(Side, SessionDescription)>,
    /// The side the last answer went to and that answer's origin version (an answer sent
    /// again on a 200 after a 183 is not a new offer).
    last_answer: Option<(Side, u64)>,
    bridge: Option<BridgeHandle>,
    version: u64,
}

fn index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::A => Side::B,
        Side::B => Side::A,
    }
}

/// Anchors the media of a shard's B2BUA calls: every SDP crossing is rewritten to Hotline's
/// ports, and a bridge relays between them once offer and answer are known.
#[derive(Clone)]
pub struct Anchor {
    media: Media,
    calls: Arc<Mutex<HashMap<CallRef, Anchored>>>,
}

impl Anchor {
    pub fn new(media: Media) -> Anchor {
        Anchor {
            media,
            calls: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The call ended: its bridge stops (recording closed) and its ports go back.
    pub fn end(&self, call: CallRef) {
        let gone = self.calls.lock().ok().and_then(|mut c| c.remove(&call));
        if let Some(b) = gone.and_then(|a| a.bridge) {
            b.stop();
        }
    }

    fn rewrite(&self, call: CallRef, toward: Side, body: &[u8]) -> Option<Vec<u8>> {
        let sdp = SessionDescription::parse(body).ok()?;
        sdp.audio()?;
        let mut calls = self.calls.lock().ok()?;
        if let std::collections::hash_map::Entry::Vacant(slot) = calls.entry(call) {
            let (pa, pb) = (self.media.take_port()?, self.media.take_port()?);
            slot.insert(Anchored {
                numbers: [pa.port, pb.port],
                ports: [Some(pa), Some(pb)],
                offer: None,
                last_answer: None,
                bridge: None,
                version: crate::shard::random_seed() >> 40,
            });
        }
        let c = calls.get_mut(&call)?;
        let from = other(toward);
        let is_answer = match &c.offer {
            Some((offerer, _)) => *offerer == toward,
            None => c.last_answer == Some((toward, sdp.session_version)),
        };
        if is_answer {
            if let Some((_, offer)) = c.offer.take() {
                c.agree(&self.media, &offer, &sdp, from);
            }
            c.last_answer = Some((toward, sdp.session_version));
            c.version += 1;
            let port = c.numbers[index(toward)];
            return sdp::anchor(&sdp, self.media.advertise(), port, c.version, c.version)
                .ok()
                .map(String::into_bytes);
        }
        c.version += 1;
        let port = c.numbers[index(toward)];
        let anchored = sdp::anchor(&sdp, self.media.advertise(), port, c.version, c.version);
        c.offer = Some((from, sdp));
        c.last_answer = None;
        anchored.ok().map(String::into_bytes)
    }
}

impl Anchored {
    /// An answer (from `answerer`) met its offer: the bridge starts, or takes the new terms.
    fn agree(
        &mut self,
        media: &Media,
        offer: &SessionDescription,
        answer: &SessionDescription,
        answerer: Side,
    ) {
        let Some(theirs) = sdp::agreement(answer, None) else {
            return;
        };
        let Some(offerer) = sdp::agreement(offer, Some(theirs.codec)) else {
            return;
        };
        let mut legs = [offerer, offerer];
        legs[index(answerer)] = theirs;
        if let Some(b) = &self.bridge {
            b.renegotiate(legs);
        } else if let (Some(pa), Some(pb)) = (self.ports[0].take(), self.ports[1].take()) {
            self.bridge = Some(media.start_bridge((pa, legs[0]), (pb, legs[1]), "call"));
        }
    }
}
impl BodyFilter for Anchor {
    fn filter(&mut self, call: CallRef, toward: Side, body: &[u8]) -> Option<Vec<u8>> {
        self.rewrite(call, toward, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Audio handed over in pieces (a second at a time from the relay threads, a tenth from
    /// the runtime's phases) is all on disk, in order, with a true header, once the
    /// recording is closed.
    #[tokio::test]
    async fn a_recording_handed_over_in_pieces_holds_them_all_when_closed() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("r.wav");
        let mut file = RecordingFile::create(path.clone()).expect("recordings thread");
        let mut want = Vec::new();
        for i in 0..95u32 {
            let piece: Vec<u8> = (0..1600u32).map(|j| ((i * 7 + j) % 251) as u8).collect();
            want.extend_from_slice(&piece);
            file.buf.extend_from_slice(&piece);
            file.write_buf();
        }
        let (closed, duration_ms, size) = file.close().await.expect("closed");
        assert_eq!(closed, path);
        assert_eq!(duration_ms, 9500);
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(
            &bytes[..wav::ULAW_HEADER],
            &wav::header_ulaw(8000, 2, want.len() as u32)
        );
        assert_eq!(&bytes[wav::ULAW_HEADER..], &want[..]);
    }
}
