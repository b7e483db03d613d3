//! The relay workers: every bridge phase (two legs relayed to each other, the hot path of a
//! call once an agent talks) runs on one of a few threads, one per core, each with its own
//! io_uring (`hotline-uring`). A thread receives every datagram of its sessions without a
//! system call of its own, rewrites it in place with the session's `Bridge` (the sans-IO
//! core: latching, payload type, PCMU↔PCMA, digits, the recorder) and queues the send from
//! the same buffer; one `io_uring_enter` submits the sends and waits for more. One timer per
//! thread drains the recorders and checks for silence every 100 ms.
//!
//! A session's task hands its two sockets, bridge and recording over ([`Pool::start`]) and
//! gets them back ([`Done`]) when the phase ends: the task asked (hold, transfer, stop), both
//! peers went quiet, or the worker could not take the sockets (the task then relays itself).
//! Where io_uring cannot be used (an old kernel, a sandbox that forbids it), [`pool`] is
//! `None` and the tasks relay on the tokio runtime as before.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hotline_media::dtmf::DtmfEvent;
use hotline_media::sdp::Negotiated;
use hotline_media::session::Bridge;
use hotline_uring::{Event, Ring, SocketId, Waker};
use tokio::sync::{broadcast, oneshot};

use super::{MediaEvent, RecordingFile};

/// Provided buffers per worker: datagrams received and not yet sent on. At 50 packets a
/// second per leg a worker's sessions never hold more than a burst's worth.
const BUFFERS: u16 = 8192;
/// How often a worker drains recorders and checks for silence.
const TICK: Duration = Duration::from_millis(100);
/// Samples (stereo, interleaved) a recording gathers before they go to the recordings
/// thread: one second.
const WRITE_SAMPLES: usize = 16_000;

/// A bridge phase handed to a worker.
pub(super) struct Job {
    pub session: u64,
    pub sockets: [UdpSocket; 2],
    pub bridge: Bridge,
    pub recording: Option<RecordingFile>,
    pub epoch: Instant,
    pub idle_ms: u64,
    pub events: broadcast::Sender<MediaEvent>,
    pub done: oneshot::Sender<Done>,
}

/// A bridge phase given back.
pub(super) struct Done {
    /// Both peers went quiet.
    pub idle: bool,
    /// The worker could not relay (it could not take a socket): the task relays itself.
    pub failed: bool,
    pub sockets: [UdpSocket; 2],
    pub bridge: Bridge,
    pub recording: Option<RecordingFile>,
}

/// Names a job on its worker.
#[derive(Clone, Copy, Debug)]
pub(super) struct Attached {
    worker: usize,
    key: u64,
}

enum Command {
    Start(u64, Box<Job>),
    Renegotiate(u64, [Negotiated; 2]),
    Detach(u64),
}

struct Worker {
    commands: Sender<Command>,
    waker: Waker,
}

pub(super) struct Pool {
    workers: Vec<Worker>,
    next_worker: AtomicUsize,
    next_key: AtomicU64,
}

/// The process's relay workers, started on first use; `None` when io_uring is not usable
/// here (said once in the log).
pub(super) fn pool() -> Option<&'static Pool> {
    static POOL: OnceLock<Option<Pool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            let (ready_tx, ready_rx) = channel::<Option<Waker>>();
            let (commands, rx) = channel::<Command>();
            let started = std::thread::Builder::new()
                .name(format!("media-relay-{i}"))
                .spawn(move || {
                    let ring = match Ring::new(BUFFERS) {
                        Ok(ring) => ring,
                        Err(e) => {
                            tracing::warn!(error = %e, "io_uring is not usable here: bridges relay on the async runtime");
                            let _ = ready_tx.send(None);
                            return;
                        }
                    };
                    let _ = ready_tx.send(Some(ring.waker()));
                    run(ring, rx);
                });
            if let Err(e) = started {
                tracing::warn!(error = %e, "no relay thread: bridges relay on the async runtime");
                return None;
            }
            let waker = ready_rx.recv().ok().flatten()?;
            workers.push(Worker { commands, waker });
        }
        tracing::info!(threads = n, "media relay threads started (io_uring)");
        Some(Pool {
            workers,
            next_worker: AtomicUsize::new(0),
            next_key: AtomicU64::new(1),
        })
    })
    .as_ref()
}

impl Pool {
    /// Hands a bridge phase to the next worker; the job back if no worker takes it.
    pub(super) fn start(&self, job: Job) -> Result<Attached, Box<Job>> {
        let worker = self.next_worker.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let w = &self.workers[worker];
        match w.commands.send(Command::Start(key, Box::new(job))) {
            Ok(()) => {
                w.waker.wake();
                Ok(Attached { worker, key })
            }
            Err(e) => match e.0 {
                Command::Start(_, job) => Err(job),
                _ => unreachable!("the command sent was a start"),
            },
        }
    }

    pub(super) fn renegotiate(&self, at: Attached, legs: [Negotiated; 2]) {
        self.tell(at, Command::Renegotiate(at.key, legs));
    }

    /// Ends the phase: the job comes back through its `done`.
    pub(super) fn detach(&self, at: Attached) {
        self.tell(at, Command::Detach(at.key));
    }

    fn tell(&self, at: Attached, command: Command) {
        let w = &self.workers[at.worker];
        if w.commands.send(command).is_ok() {
            w.waker.wake();
        }
    }
}

struct Session {
    session: u64,
    bridge: Bridge,
    recording: Option<RecordingFile>,
    epoch: Instant,
    idle_ms: u64,
    events: broadcast::Sender<MediaEvent>,
    done: Option<oneshot::Sender<Done>>,
    ids: [Option<SocketId>; 2],
    back: [Option<UdpSocket>; 2],
    /// Being handed back: (idle, failed).
    leaving: Option<(bool, bool)>,
}

fn token(key: u64, side: usize) -> u64 {
    (key << 1) | side as u64
}

fn run(mut ring: Ring, commands: Receiver<Command>) {
    let mut sessions: HashMap<u64, Session> = HashMap::new();
    let mut digits: Vec<DtmfEvent> = Vec::with_capacity(8);
    let mut next_tick = Instant::now() + TICK;
    loop {
        let timeout = next_tick.saturating_duration_since(Instant::now());
        if let Err(e) = ring.wait(timeout) {
            tracing::error!(error = %e, "io_uring wait failed");
            std::thread::sleep(Duration::from_millis(10));
        }
        let now = Instant::now();
        while let Some(event) = ring.next_event() {
            match event {
                Event::Packet {
                    token,
                    from,
                    packet,
                    ..
                } => {
                    let side = (token & 1) as usize;
                    let Some(s) = sessions.get_mut(&(token >> 1)) else {
                        ring.release(packet);
                        continue;
                    };
                    let (Some(out), None) = (s.ids[1 - side], s.leaving) else {
                        ring.release(packet);
                        continue;
                    };
                    let at = now.saturating_duration_since(s.epoch).as_millis() as u64;
                    let data = ring.data(&packet);
                    let len = data.len();
                    match s.bridge.relay(side, at, from, data, &mut digits) {
                        Some(to) => {
                            if let Err(e) = ring.send(out, packet, len, to) {
                                tracing::error!(error = %e, "io_uring submit failed");
                            }
                        }
                        None => ring.release(packet),
                    }
                    super::relayed_digits(&s.events, s.session, &mut digits);
                }
                Event::Removed { token, socket } => {
                    let key = token >> 1;
                    if let Some(s) = sessions.get_mut(&key) {
                        s.back[(token & 1) as usize] = Some(socket);
                        finish_if_back(&mut sessions, key);
                    }
                }
                Event::Woken => {
                    while let Ok(command) = commands.try_recv() {
                        obey(&mut ring, &mut sessions, command);
                    }
                }
            }
        }
        if now >= next_tick {
            next_tick = now + TICK;
            let mut quiet = Vec::new();
            for (key, s) in sessions.iter_mut() {
                if s.leaving.is_some() {
                    continue;
                }
                let at = now.saturating_duration_since(s.epoch).as_millis() as u64;
                if let (Some(rec), Some(file)) = (s.bridge.recorder_mut(), s.recording.as_mut()) {
                    rec.drain(at, &mut file.buf);
                    if file.buf.len() >= WRITE_SAMPLES {
                        file.write_buf();
                    }
                }
                let gone = s.done.as_ref().is_none_or(|d| d.is_closed());
                if gone || s.bridge.legs.iter().all(|l| l.idle(at, s.idle_ms)) {
                    quiet.push((*key, !gone));
                }
            }
            for (key, idle) in quiet {
                leave(&mut ring, &mut sessions, key, idle, false);
            }
        }
    }
}

fn obey(ring: &mut Ring, sessions: &mut HashMap<u64, Session>, command: Command) {
    match command {
        Command::Start(key, job) => {
            let Job {
                session,
                sockets,
                bridge,
                recording,
                epoch,
                idle_ms,
                events,
                done,
            } = *job;
            let mut s = Session {
                session,
                bridge,
                recording,
                epoch,
                idle_ms,
                events,
                done: Some(done),
                ids: [None, None],
                back: [None, None],
                leaving: None,
            };
            let mut failed = false;
            for (side, socket) in sockets.into_iter().enumerate() {
                match ring.add(socket, token(key, side)) {
                    Ok(id) => s.ids[side] = Some(id),
                    Err((e, socket)) => {
                        tracing::warn!(session, error = %e, "the relay thread cannot take an RTP socket");
                        s.back[side] = Some(socket);
                        failed = true;
                    }
                }
            }
            sessions.insert(key, s);
            if failed {
                leave(ring, sessions, key, false, true);
            }
        }
        Command::Renegotiate(key, [a, b]) => {
            if let Some(s) = sessions.get_mut(&key) {
                s.bridge.legs[0].renegotiate(a);
                s.bridge.legs[1].renegotiate(b);
            }
        }
        Command::Detach(key) => leave(ring, sessions, key, false, false),
    }
}

/// Starts handing a session back: its sockets are taken out of the ring (they come back as
/// `Removed`, then the session is done).
fn leave(
    ring: &mut Ring,
    sessions: &mut HashMap<u64, Session>,
    key: u64,
    idle: bool,
    failed: bool,
) {
    let Some(s) = sessions.get_mut(&key) else {
        return;
    };
    if s.leaving.is_some() {
        return;
    }
    s.leaving = Some((idle, failed));
    for id in s.ids.iter().flatten() {
        if let Err(e) = ring.remove(*id) {
            tracing::error!(error = %e, "io_uring submit failed");
        }
    }
    finish_if_back(sessions, key);
}

fn finish_if_back(sessions: &mut HashMap<u64, Session>, key: u64) {
    let ready = sessions.get(&key).is_some_and(|s| {
        s.leaving.is_some() && s.back.iter().all(Option::is_some) && s.done.is_some()
    });
    if !ready {
        return;
    }
    let Some(mut s) = sessions.remove(&key) else {
        return;
    };
    let (idle, failed) = s.leaving.unwrap_or((false, false));
    let (Some(a), Some(b), Some(done)) = (s.back[0].take(), s.back[1].take(), s.done.take()) else {
        return;
    };
    // A task that is gone takes nothing back: the sockets close and the recording, dropped,
    // is closed by the recordings thread.
    let _ = done.send(Done {
        idle,
        failed,
        sockets: [a, b],
        bridge: s.bridge,
        recording: s.recording,
    });
}
