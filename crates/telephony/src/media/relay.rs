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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hotline_media::dtmf::DtmfEvent;
use hotline_media::sdp::Negotiated;
use hotline_media::session::Bridge;
use hotline_uring::{Event, Ring, SocketId, Waker};
use tokio::sync::{broadcast, oneshot};

use super::{LegSocketsStd, MediaEvent, RecordingFile};

/// Provided buffers per worker (8 MiB): datagrams received and not yet sent on. A busy
/// worker holds at most about a millisecond's worth (200 at 200,000 packets a second; fewer
/// once a wait ends at [`BATCH_COMPLETIONS`]); when a stall uses them all, datagrams wait in
/// their sockets until buffers come back.
const BUFFERS: u16 = 4096;
/// How long a busy worker lets packets gather before it wakes: the most a packet waits
/// beyond its arrival, for a wake-up per batch instead of one per packet. The window starts
/// when the last one ended, so a thread that needs longer than this to handle a batch does
/// not sleep at all.
const BATCH: Duration = Duration::from_millis(1);
/// A busy worker's wait also ends once this many operations completed (the sends it just
/// submitted and the datagrams that came): the kernel then receives at most about this many
/// per wake-up, so a batch's buffers, sockets and sessions are still in cache when its
/// packets are relayed and sent. Waiting for the whole window instead gathered hundreds at
/// 2,000 calls and cost ~10 % more a packet there; 32 cost more at 1,000 calls (fewer packets
/// per wake-up). Measured in docs/benchmarks.md (2026-11-25).
const BATCH_COMPLETIONS: usize = 128;
/// Packets a second a relay thread is given before sessions go to the next one: 2,000
/// calls. Chosen when the batched wait did not wait (docs/benchmarks.md, 2026-11-24 night:
/// packed, a thread cost 9–25 % less per packet at 2,000 calls). Since the fix
/// (2026-11-25) one thread carrying 2,000 calls uses ~90 % of a core here with the
/// benchmark's polled readers and costs the same per packet as 1,000/1,000, so packing no
/// longer pays there; [`BUSY_LIMIT`] keeps calls that arrive over time from filling a
/// thread past 75 % of a core.
const PACKETS_PER_THREAD: u64 = 200_000;
/// A thread that spent more than this share of a core (per mille) on its last second takes
/// no new sessions while another has room.
const BUSY_LIMIT: u64 = 750;
/// How often a worker drains recorders and checks for silence.
const TICK: Duration = Duration::from_millis(100);
/// Bytes (stereo µ-law, two a frame) a recording gathers before they go to the recordings
/// thread: one second.
const WRITE_BYTES: usize = 16_000;

/// A bridge phase handed to a worker.
pub(super) struct Job {
    pub session: u64,
    pub sockets: [LegSocketsStd; 2],
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
    pub sockets: [LegSocketsStd; 2],
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
    /// Packets a second its sessions are expected to bring (from their ptimes).
    load: Arc<AtomicU64>,
    /// The share of a core (per mille) the thread spent on its last second.
    busy: Arc<AtomicU64>,
}

pub(super) struct Pool {
    workers: Vec<Worker>,
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
            let load = Arc::new(AtomicU64::new(0));
            let committed = load.clone();
            let busy = Arc::new(AtomicU64::new(0));
            let measured = busy.clone();
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
                    run(ring, rx, committed, measured);
                });
            if let Err(e) = started {
                tracing::warn!(error = %e, "no relay thread: bridges relay on the async runtime");
                return None;
            }
            let waker = ready_rx.recv().ok().flatten()?;
            workers.push(Worker {
                commands,
                waker,
                load,
                busy,
            });
        }
        tracing::info!(threads = n, "media relay threads started (io_uring)");
        Some(Pool {
            workers,
            next_key: AtomicU64::new(1),
        })
    })
    .as_ref()
}

impl Pool {
    /// Hands a bridge phase to a worker; the job back if no worker takes it.
    ///
    /// Sessions are packed: the first worker with room under [`PACKETS_PER_THREAD`] and not
    /// busier than [`BUSY_LIMIT`] takes it, else the least loaded (see the constant for what
    /// packing was measured to gain); the limits keep a thread within what it can carry,
    /// and the next thread takes the rest.
    pub(super) fn start(&self, job: Job) -> Result<Attached, Box<Job>> {
        let rate = packets_per_second(&job.bridge);
        let loads: Vec<(u64, u64)> = self
            .workers
            .iter()
            .map(|w| {
                (
                    w.load.load(Ordering::Relaxed),
                    w.busy.load(Ordering::Relaxed),
                )
            })
            .collect();
        let worker = choose(&loads, rate);
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let w = &self.workers[worker];
        w.load.fetch_add(rate, Ordering::Relaxed);
        match w.commands.send(Command::Start(key, Box::new(job))) {
            Ok(()) => {
                w.waker.wake();
                Ok(Attached { worker, key })
            }
            Err(e) => match e.0 {
                Command::Start(_, job) => {
                    w.load.fetch_sub(rate, Ordering::Relaxed);
                    Err(job)
                }
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
    /// The pool's name for it (commands use it).
    key: u64,
    /// Packets a second counted in the worker's load.
    rate: u64,
    session: u64,
    bridge: Bridge,
    recording: Option<RecordingFile>,
    epoch: Instant,
    idle_ms: u64,
    events: broadcast::Sender<MediaEvent>,
    done: oneshot::Sender<Done>,
    /// The ring's names for its sockets, by [`token`]'s kind: RTP of leg 0 and 1, then RTCP.
    ids: [Option<SocketId>; 4],
    back: [Option<UdpSocket>; 4],
    /// Being handed back: (idle, failed).
    leaving: Option<(bool, bool)>,
}

/// A worker's sessions in slots (a packet's token names its slot, leg and port), found by
/// key for commands.
#[derive(Default)]
struct Sessions {
    slots: Vec<Option<Session>>,
    free: Vec<usize>,
    by_key: HashMap<u64, usize>,
    /// The worker's committed packets a second, given back as sessions leave.
    load: Arc<AtomicU64>,
}

impl Sessions {
    fn insert(&mut self, s: Session) -> usize {
        let key = s.key;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(s);
                slot
            }
            None => {
                self.slots.push(Some(s));
                self.slots.len() - 1
            }
        };
        self.by_key.insert(key, slot);
        slot
    }

    fn slot(&self, key: u64) -> Option<usize> {
        self.by_key.get(&key).copied()
    }

    fn get(&self, slot: usize) -> Option<&Session> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    fn get_mut(&mut self, slot: usize) -> Option<&mut Session> {
        self.slots.get_mut(slot).and_then(Option::as_mut)
    }

    fn remove(&mut self, slot: usize) -> Option<Session> {
        let s = self.slots.get_mut(slot)?.take()?;
        self.by_key.remove(&s.key);
        self.load.fetch_sub(s.rate, Ordering::Relaxed);
        self.free.push(slot);
        Some(s)
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut Session)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| s.as_mut().map(|s| (i, s)))
    }
}

/// A socket's token: its session's slot, and its kind (bit 0: the leg, bit 1: RTCP).
fn token(slot: usize, kind: usize) -> u64 {
    ((slot as u64) << 2) | kind as u64
}

/// The kind of the RTCP socket of leg `side`.
const RTCP: usize = 2;

/// The worker for a session of `rate` packets a second, given each worker's load (packets a
/// second committed, per mille of a core used): the first with room under both limits, else
/// the least loaded.
fn choose(loads: &[(u64, u64)], rate: u64) -> usize {
    loads
        .iter()
        .position(|&(l, busy)| l + rate <= PACKETS_PER_THREAD && busy <= BUSY_LIMIT)
        .or_else(|| (0..loads.len()).min_by_key(|&i| loads[i].0))
        .unwrap_or(0)
}

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// What a bridge is expected to bring: a packet per ptime from each leg.
fn packets_per_second(bridge: &Bridge) -> u64 {
    bridge
        .legs
        .iter()
        .map(|l| 1000 / u64::from(l.negotiated.ptime.clamp(10, 120)))
        .sum()
}

fn run(mut ring: Ring, commands: Receiver<Command>, load: Arc<AtomicU64>, share: Arc<AtomicU64>) {
    let mut sessions = Sessions {
        load,
        ..Sessions::default()
    };
    let mut digits: Vec<DtmfEvent> = Vec::with_capacity(8);
    let mut next_tick = Instant::now() + TICK;
    // Where the current second of the thread's own CPU time began.
    let mut second = (Instant::now(), thread_cpu());
    // Whether the last wake-up brought packets: then the next sleep gathers a batch.
    let mut busy = false;
    // When the last wait ended. A batch's window runs from there, not from the end of its
    // handling: a thread whose last batch took longer than BATCH to handle goes straight on
    // with what came meanwhile instead of adding a sleep to a full core.
    let mut now = Instant::now();
    loop {
        let waited = if busy {
            let until = next_tick.min(now + BATCH);
            ring.wait_for(
                BATCH_COMPLETIONS,
                until.saturating_duration_since(Instant::now()),
            )
        } else {
            ring.wait(next_tick.saturating_duration_since(Instant::now()))
        };
        busy = false;
        if let Err(e) = waited {
            tracing::error!(error = %e, "io_uring wait failed");
            std::thread::sleep(Duration::from_millis(10));
        }
        now = Instant::now();
        while let Some(event) = ring.next_event() {
            match event {
                Event::Packet {
                    token,
                    from,
                    packet,
                    ..
                } => {
                    busy = true;
                    let kind = (token & 3) as usize;
                    let side = kind & 1;
                    let Some(s) = sessions.get_mut((token >> 2) as usize) else {
                        ring.release(packet);
                        continue;
                    };
                    let at = now.saturating_duration_since(s.epoch).as_millis() as u64;
                    if kind & RTCP != 0 {
                        // The peer's report: read, never relayed (each leg's RTCP ends here).
                        super::take_rtcp(&mut s.bridge.legs[side], at, from, ring.data(&packet));
                        ring.release(packet);
                        continue;
                    }
                    let (Some(out), None) = (s.ids[1 - side], s.leaving) else {
                        ring.release(packet);
                        continue;
                    };
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
                    let slot = (token >> 2) as usize;
                    if let Some(s) = sessions.get_mut(slot) {
                        s.back[(token & 3) as usize] = Some(socket);
                        finish_if_back(&mut sessions, slot);
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
            let wall = now.saturating_duration_since(second.0);
            if wall >= Duration::from_secs(1) {
                let cpu = thread_cpu();
                let used = cpu.saturating_sub(second.1);
                let permille = (used.as_micros() * 1000 / wall.as_micros().max(1)) as u64;
                share.store(permille, Ordering::Relaxed);
                second = (now, cpu);
            }
            let ntp = super::ntp_now();
            let mut quiet = Vec::new();
            for (slot, s) in sessions.iter_mut() {
                if s.leaving.is_some() {
                    continue;
                }
                let at = now.saturating_duration_since(s.epoch).as_millis() as u64;
                for side in 0..2 {
                    report(&ring, s, side, at, ntp);
                    hold(&mut ring, s, side, at);
                }
                if let (Some(rec), Some(file)) = (s.bridge.recorder_mut(), s.recording.as_mut()) {
                    rec.drain_ulaw(at, &mut file.buf);
                    if file.buf.len() >= WRITE_BYTES {
                        file.write_buf();
                    }
                }
                let gone = s.done.is_closed();
                if gone || s.bridge.legs.iter().all(|l| l.idle(at, s.idle_ms)) {
                    quiet.push((slot, !gone));
                }
            }
            for (slot, idle) in quiet {
                leave(&mut ring, &mut sessions, slot, idle, false);
            }
        }
    }
}

/// Connects leg `side`'s RTP socket to the source its leg is held to, or lets the socket hear
/// anyone again once the leg would take another source before the next tick (its source
/// silent for [`hotline_media::session::RELATCH_AFTER_MS`]: a phone behind NAT whose mapping
/// changed). Connected, the kernel drops strangers' datagrams before they cost anything, and
/// sends to the peer go without an address: the route lookup (~3 % of a relay thread's
/// samples at 1,000 calls) leaves the profile, though the benchmark's CPU per packet did not
/// move beyond its noise (docs/benchmarks.md).
fn hold(ring: &mut Ring, s: &Session, side: usize, at: u64) {
    let Some(id) = s.ids[side] else {
        return;
    };
    let held = s.bridge.legs[side].held_by(at + TICK.as_millis() as u64);
    if let Err(e) = ring.connect(id, held) {
        tracing::debug!(session = s.session, error = %e, "an RTP socket could not be connected to its peer");
    }
}

/// Sends leg `side`'s RTCP report if one is due: a plain system call on its RTCP socket (one
/// datagram every few seconds; not worth a ring buffer).
fn report(ring: &Ring, s: &mut Session, side: usize, at: u64, ntp: u64) {
    let mut out = [0u8; 256];
    let Some((n, to)) = s.bridge.legs[side].rtcp_report(at, ntp, &mut out) else {
        return;
    };
    if let Some(socket) = s.ids[RTCP + side].and_then(|id| ring.socket(id)) {
        let _ = socket.send_to(&out[..n], to);
    }
}

fn obey(ring: &mut Ring, sessions: &mut Sessions, command: Command) {
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
            let s = Session {
                key,
                rate: packets_per_second(&bridge),
                session,
                bridge,
                recording,
                epoch,
                idle_ms,
                events,
                done,
                ids: [None; 4],
                back: [None, None, None, None],
                leaving: None,
            };
            let slot = sessions.insert(s);
            let mut failed = false;
            let [a, b] = sockets;
            for (kind, socket) in [a.rtp, b.rtp, a.rtcp, b.rtcp].into_iter().enumerate() {
                let added = ring.add(socket, token(slot, kind));
                let Some(s) = sessions.get_mut(slot) else {
                    continue;
                };
                match added {
                    Ok(id) => s.ids[kind] = Some(id),
                    Err((e, socket)) => {
                        tracing::warn!(session, error = %e, "the relay thread cannot take an RTP socket");
                        s.back[kind] = Some(socket);
                        failed = true;
                    }
                }
            }
            if failed {
                leave(ring, sessions, slot, false, true);
            }
        }
        Command::Renegotiate(key, [a, b]) => {
            if let Some(s) = sessions.slot(key).and_then(|slot| sessions.get_mut(slot)) {
                s.bridge.legs[0].renegotiate(a);
                s.bridge.legs[1].renegotiate(b);
            }
        }
        Command::Detach(key) => {
            if let Some(slot) = sessions.slot(key) {
                leave(ring, sessions, slot, false, false);
            }
        }
    }
}

/// Starts handing a session back: its sockets are taken out of the ring (they come back as
/// `Removed`, then the session is done).
fn leave(ring: &mut Ring, sessions: &mut Sessions, slot: usize, idle: bool, failed: bool) {
    let Some(s) = sessions.get_mut(slot) else {
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
    finish_if_back(sessions, slot);
}

fn finish_if_back(sessions: &mut Sessions, slot: usize) {
    let ready = sessions
        .get(slot)
        .is_some_and(|s| s.leaving.is_some() && s.back.iter().all(Option::is_some));
    if !ready {
        return;
    }
    let Some(Session {
        leaving: Some((idle, failed)),
        back: [Some(a), Some(b), Some(ca), Some(cb)],
        done,
        bridge,
        recording,
        ..
    }) = sessions.remove(slot)
    else {
        return;
    };
    // A task that is gone takes nothing back: the sockets close and the recording, dropped,
    // is closed by the recordings thread.
    let _ = done.send(Done {
        idle,
        failed,
        sockets: [
            LegSocketsStd { rtp: a, rtcp: ca },
            LegSocketsStd { rtp: b, rtcp: cb },
        ],
        bridge,
        recording,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_fill_one_thread_before_the_next_and_then_the_least_loaded() {
        let full = PACKETS_PER_THREAD;
        assert_eq!(choose(&[(0, 0), (0, 0)], 100), 0);
        assert_eq!(choose(&[(full - 100, 500), (0, 0)], 100), 0);
        assert_eq!(choose(&[(full - 99, 500), (0, 0)], 100), 1);
        assert_eq!(choose(&[(full, 500), (full + 5, 500)], 100), 0);
        assert_eq!(choose(&[(full + 7, 500), (full + 5, 500)], 100), 1);
        assert_eq!(choose(&[], 100), 0);
    }

    #[test]
    fn a_thread_busier_than_the_limit_takes_no_new_session_while_another_has_room() {
        let full = PACKETS_PER_THREAD;
        assert_eq!(choose(&[(1000, BUSY_LIMIT), (0, 0)], 100), 0);
        assert_eq!(choose(&[(1000, BUSY_LIMIT + 1), (0, 0)], 100), 1);
        assert_eq!(choose(&[(1000, 990), (full, 100), (5000, 10)], 100), 2);
        // None with room: the least loaded by packets, however busy.
        assert_eq!(choose(&[(1000, 990), (2000, 990)], 100), 0);
    }

    /// The measure the limit is checked against: this thread's own CPU time, which grows by
    /// what the thread spends (however long a busy machine makes that take) and not by the
    /// time it sleeps.
    #[test]
    fn thread_cpu_time_grows_with_work_done_on_this_thread() {
        let before = thread_cpu();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut x = 0u64;
        while thread_cpu().saturating_sub(before) < Duration::from_millis(20) {
            assert!(Instant::now() < deadline, "20 ms of work never showed");
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        let before = thread_cpu();
        std::thread::sleep(Duration::from_millis(50));
        let slept = thread_cpu().saturating_sub(before);
        assert!(slept < Duration::from_millis(10), "{slept:?} while asleep");
    }
}
