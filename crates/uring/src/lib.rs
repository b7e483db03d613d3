//! UDP through io_uring for many sockets on one thread.
//!
//! A [`Ring`] owns the sockets added to it. Each gets one multishot `recvmsg`: the kernel
//! takes a buffer from a ring of provided buffers for every datagram and posts a completion,
//! so receiving costs no system call of its own. A received [`Packet`] is read and rewritten
//! in place ([`Ring::data`]) and either sent on (from the same buffer, [`Ring::send`]) or
//! given back ([`Ring::release`]); the buffer returns to the kernel when the send completes.
//! Everything queued is submitted, and completions reaped, by one `io_uring_enter` in
//! [`Ring::wait`], which sleeps until a completion, a [`Waker`] or the timeout.
//!
//! Invariants:
//! - a buffer is in exactly one place: the kernel's ring, a [`Packet`] the caller holds, or a
//!   send in flight; a socket's file stays open until its receive has ended and its sends
//!   have completed (then [`Event::Removed`] gives it back);
//! - no datagram is lost to the ring: a multishot receive that ends for want of a buffer (the
//!   datagram waits in its socket) is armed again on the next [`Ring::wait`] unless the socket
//!   is being removed; one that ends in another error is counted and not armed again, so a
//!   broken socket cannot make the thread spin.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use io_uring::{cqueue, opcode, squeue, types, IoUring};

/// Bytes per provided buffer: the kernel's header (16), the source address (28), a datagram.
const BUFFER: usize = 2048;
/// Where one buffer starts after the last: a cache line beyond its size, so the first lines
/// of successive buffers (the header, the address and an RTP packet, all a relay touches)
/// fall in different cache sets instead of the few a power-of-two stride maps them to.
const STRIDE: usize = BUFFER + 64;
/// The size of a source or destination address as the kernel reads and writes it.
const NAME: usize = std::mem::size_of::<libc::sockaddr_in6>();
/// Where in a buffer the kernel writes the source address (after its 16-byte header); a
/// send from the buffer writes its destination there, on a cache line already touched.
/// (`struct io_uring_recvmsg_out`: four u32).
const NAME_AT: usize = 16;
const GROUP: u16 = 1;
/// Sockets a ring registers with the kernel (IORING_REGISTER_FILES), so no operation looks
/// its file up again; sockets beyond it are used by descriptor.
const FIXED_FILES: u32 = 16_384;

const KIND_RECV: u64 = 0;
const KIND_SEND: u64 = 1;
const KIND_CANCEL: u64 = 2;
const KIND_WAKE: u64 = 3;

fn user_data(kind: u64, slot: usize, buffer: u16) -> u64 {
    (kind << 62) | ((slot as u64) << 16) | u64::from(buffer)
}

fn kind_of(data: u64) -> u64 {
    data >> 62
}

fn slot_of(data: u64) -> usize {
    ((data >> 16) & 0x3fff_ffff_ffff) as usize
}

/// Where a socket sits in its ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SocketId(usize);

/// A received datagram: its bytes stay in the ring's buffer until sent or released.
#[derive(Debug)]
#[must_use = "a packet holds a buffer: send it or release it"]
pub struct Packet {
    buffer: u16,
    offset: u16,
    len: u16,
}

impl Packet {
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What a [`Ring::wait`] brought.
#[derive(Debug)]
pub enum Event {
    /// A datagram on the socket added with `token`.
    Packet {
        token: u64,
        socket: SocketId,
        from: SocketAddr,
        packet: Packet,
    },
    /// A socket asked to be removed is done with: it is given back.
    Removed { token: u64, socket: UdpSocket },
    /// A [`Waker`] was woken.
    Woken,
}

/// Wakes the ring's thread from another thread (an eventfd the ring reads).
#[derive(Clone, Debug)]
pub struct Waker {
    eventfd: Arc<File>,
}

impl Waker {
    pub fn wake(&self) {
        // An eventfd adds what is written; a full counter (never, at one per wake) only
        // means the ring is being woken already.
        let _ = (&*self.eventfd).write(&1u64.to_ne_bytes());
    }
}

/// Counters since the ring was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub received: u64,
    pub sent: u64,
    pub send_errors: u64,
    /// Datagrams the kernel had no buffer for (each ended a receive, armed again later).
    pub out_of_buffers: u64,
    /// Datagrams too long for a buffer, dropped.
    pub truncated: u64,
    /// Receives that ended in an error (not armed again).
    pub receive_errors: u64,
    /// Receives that ended in an error the network reported to a connected socket (its
    /// peer's port closed, its host unreachable): armed again.
    pub peer_errors: u64,
}

struct Slot {
    socket: UdpSocket,
    token: u64,
    /// The multishot receive is in the kernel.
    receiving: bool,
    removing: bool,
    /// Sends from this socket not yet completed.
    in_flight: u32,
    /// The peer the socket is connected to ([`Ring::connect`]).
    peer: Option<SocketAddr>,
}

/// How an operation names its socket.
enum Target {
    Fixed(types::Fixed),
    Fd(types::Fd),
}

/// Memory the kernel reads or writes; freed only when nothing in the kernel refers to it.
struct Shared {
    /// The provided-buffer ring's entries (16 bytes each, page aligned).
    ring: *mut u8,
    ring_layout: std::alloc::Layout,
    /// The buffers themselves.
    pool: Box<[u8]>,
    /// What multishot receives are told (only the name's length matters).
    recv_header: Box<libc::msghdr>,
    wake_buf: Box<[u8; 8]>,
}

/// Many UDP sockets on one io_uring. Not `Send`: it lives on the thread that made it.
pub struct Ring {
    ring: IoUring,
    shared: Shared,
    buffers: u16,
    /// The provided-buffer ring's tail as we have filled it.
    tail: u16,
    published: u16,
    slots: Vec<Option<Slot>>,
    free_slots: Vec<usize>,
    /// Receives to arm again at the next wait.
    rearm: Vec<usize>,
    /// Completions converted and not yet handed out.
    ready: VecDeque<Event>,
    /// The last wait's completions (kept for its allocation).
    reaped: Vec<(u64, i32, u32)>,
    /// Operations in the kernel (receives armed count once), for a clean teardown.
    outstanding: usize,
    wake_fd: Arc<File>,
    wake_armed: bool,
    /// Slots below this are registered files.
    fixed: usize,
    /// Being dropped: the wake read is not armed again.
    closing: bool,
    stats: Stats,
}

impl Ring {
    /// A ring with `buffers` provided buffers (a power of two, at most 32768).
    pub fn new(buffers: u16) -> io::Result<Ring> {
        Ring::with_registered_files(buffers, FIXED_FILES)
    }

    /// The same, registering at most `files` sockets with the kernel (the rest are used by
    /// descriptor).
    pub fn with_registered_files(buffers: u16, files: u32) -> io::Result<Ring> {
        if !buffers.is_power_of_two() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffers: a power of two",
            ));
        }
        let sq = u32::from(buffers).clamp(256, 4096);
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_cqsize(sq * 8)
            .build(sq)
            .or_else(|_| IoUring::builder().setup_cqsize(sq * 8).build(sq))?;
        let n = usize::from(buffers);
        let ring_layout = std::alloc::Layout::from_size_align(n * 16, 4096)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let ring_mem = alloc_zeroed(ring_layout)?;
        let mut shared = Shared {
            ring: ring_mem,
            ring_layout,
            pool: vec![0u8; n * STRIDE].into_boxed_slice(),
            recv_header: Box::new(zeroed_msghdr()),
            wake_buf: Box::new([0; 8]),
        };
        shared.recv_header.msg_namelen = NAME as u32;
        let wake_fd = Arc::new(eventfd()?);
        let mut r = Ring {
            ring,
            shared,
            buffers,
            tail: 0,
            published: 0,
            slots: Vec::new(),
            free_slots: Vec::new(),
            rearm: Vec::new(),
            ready: VecDeque::new(),
            reaped: Vec::new(),
            outstanding: 0,
            wake_fd,
            wake_armed: false,
            fixed: 0,
            closing: false,
            stats: Stats::default(),
        };
        for b in 0..buffers {
            r.give_back(b);
        }
        r.publish();
        r.register_buffers()?;
        // As many registered files as the kernel lets us have (at most the file limit).
        let mut table = files;
        while table >= 1 {
            if r.ring.submitter().register_files_sparse(table).is_ok() {
                r.fixed = table as usize;
                break;
            }
            table /= 2;
        }
        r.arm_wake()?;
        r.self_test()?;
        Ok(r)
    }

    /// One datagram through a socket of its own: a kernel that has io_uring but not all this
    /// ring uses (multishot recvmsg came in 6.0, sends with an address too) fails here, at
    /// creation, instead of leaving sockets deaf.
    fn self_test(&mut self) -> io::Result<()> {
        let unsupported = |what: &str| io::Error::new(io::ErrorKind::Unsupported, what.to_string());
        let probe = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        let to = probe.local_addr()?;
        let id = self.add(probe, u64::MAX).map_err(|(e, _)| e)?;
        let sender = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        sender.send_to(b"hotline", to)?;
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        let mut echoed = false;
        let mut back = None;
        while back.is_none() && std::time::Instant::now() < deadline {
            self.wait(Duration::from_millis(50))?;
            while let Some(event) = self.next_event() {
                match event {
                    Event::Packet { packet, from, .. } if !echoed => {
                        echoed = true;
                        let len = packet.len();
                        self.send(id, packet, len, from)?;
                        self.remove(id)?;
                    }
                    Event::Packet { packet, .. } => self.release(packet),
                    Event::Removed { socket, .. } => back = Some(socket),
                    Event::Woken => {}
                }
            }
        }
        if back.is_none() {
            return Err(unsupported(
                "io_uring: no datagram received by multishot recvmsg",
            ));
        }
        sender.set_read_timeout(Some(Duration::from_secs(1)))?;
        let mut got = [0u8; 16];
        match sender.recv(&mut got) {
            Ok(7) if &got[..7] == b"hotline" => {}
            _ => {
                return Err(unsupported(
                    "io_uring: a send with an address did not arrive",
                ))
            }
        }
        self.stats = Stats::default();
        Ok(())
    }

    #[allow(unsafe_code)]
    fn register_buffers(&mut self) -> io::Result<()> {
        // SAFETY: the ring memory is `buffers` entries, page aligned, owned by `self.shared`,
        // which outlives the registration (it is freed only after the ring is gone, and leaked
        // if operations are still in the kernel then).
        unsafe {
            self.ring.submitter().register_buf_ring_with_flags(
                self.shared.ring as u64,
                self.buffers,
                GROUP,
                0,
            )
        }
    }

    pub fn waker(&self) -> Waker {
        Waker {
            eventfd: self.wake_fd.clone(),
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Sockets the ring holds (removed ones until they are given back).
    pub fn sockets(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Takes `socket` in and starts receiving on it; its packets come with `token`. On
    /// failure the socket is given back with the error.
    pub fn add(
        &mut self,
        socket: UdpSocket,
        token: u64,
    ) -> Result<SocketId, (io::Error, UdpSocket)> {
        let slot = match self.free_slots.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        if slot < self.fixed {
            let fd = socket.as_raw_fd();
            if let Err(e) = self
                .ring
                .submitter()
                .register_files_update(slot as u32, &[fd])
            {
                self.free_slots.push(slot);
                return Err((e, socket));
            }
        }
        self.slots[slot] = Some(Slot {
            socket,
            token,
            receiving: false,
            removing: false,
            in_flight: 0,
            peer: None,
        });
        match self.arm_recv(slot) {
            Ok(()) => Ok(SocketId(slot)),
            Err(e) => {
                let taken = self.slots[slot].take();
                self.unregister(slot);
                self.free_slots.push(slot);
                match taken {
                    Some(s) => Err((e, s.socket)),
                    None => unreachable!("the slot was just filled"),
                }
            }
        }
    }

    /// Stops receiving on a socket; [`Event::Removed`] gives it back once the kernel is done
    /// with it. Packets already reported stay valid.
    pub fn remove(&mut self, id: SocketId) -> io::Result<()> {
        let Some(slot) = self.slots.get_mut(id.0).and_then(Option::as_mut) else {
            return Ok(());
        };
        if slot.removing {
            return Ok(());
        }
        slot.removing = true;
        if slot.receiving {
            let cancel = opcode::AsyncCancel::new(user_data(KIND_RECV, id.0, 0))
                .build()
                .user_data(user_data(KIND_CANCEL, id.0, 0));
            self.push(&cancel)?;
            self.outstanding += 1;
        }
        self.rearm.retain(|&s| s != id.0);
        self.maybe_removed(id.0);
        Ok(())
    }

    /// A socket the ring holds, for the odd datagram sent outside the ring (a plain system
    /// call, e.g. a report every few seconds); `None` once it is being removed.
    pub fn socket(&self, id: SocketId) -> Option<&UdpSocket> {
        self.slots
            .get(id.0)
            .and_then(Option::as_ref)
            .filter(|s| !s.removing)
            .map(|s| &s.socket)
    }

    /// Connects a socket to its one peer (`Some`), or lets it hear anyone again (`None`).
    /// While connected, the kernel delivers the socket only that peer's datagrams (others
    /// are dropped, or answered "port unreachable" when no other socket takes them), and a
    /// [`Ring::send`] to it goes without an address: the kernel keeps the route instead of
    /// looking it up for every datagram. A socket is given back by [`Event::Removed`]
    /// unconnected, as it was added.
    ///
    /// Only for a socket bound to a port it named: Linux lets a socket bound to port 0 (any
    /// port) give its port up when its connection is dissolved.
    pub fn connect(&mut self, id: SocketId, peer: Option<SocketAddr>) -> io::Result<()> {
        let Some(slot) = self.slots.get_mut(id.0).and_then(Option::as_mut) else {
            return Ok(());
        };
        if slot.peer == peer || slot.removing {
            return Ok(());
        }
        match peer {
            Some(to) => slot.socket.connect(to)?,
            None => disconnect(&slot.socket)?,
        }
        slot.peer = peer;
        Ok(())
    }

    /// The bytes of a packet, to read and rewrite in place.
    pub fn data(&mut self, packet: &Packet) -> &mut [u8] {
        let start = usize::from(packet.buffer) * STRIDE + usize::from(packet.offset);
        &mut self.shared.pool[start..start + usize::from(packet.len)]
    }

    /// Sends the first `len` bytes of `packet` (as rewritten) from `socket` to `to`; the
    /// buffer goes back to the kernel when the send completes.
    pub fn send(
        &mut self,
        socket: SocketId,
        packet: Packet,
        len: usize,
        to: SocketAddr,
    ) -> io::Result<()> {
        let (target, connected) = match self.slots.get(socket.0).and_then(Option::as_ref) {
            Some(slot) if !slot.removing => (self.target(socket.0, slot), slot.peer == Some(to)),
            _ => {
                self.release(packet);
                return Ok(());
            }
        };
        let b = usize::from(packet.buffer) * STRIDE;
        let start = b + usize::from(packet.offset);
        let len = len.min(usize::from(packet.len));
        let data = self.shared.pool[start..start + len].as_ptr();
        let send = match target {
            Target::Fixed(f) => opcode::Send::new(f, data, len as u32),
            Target::Fd(f) => opcode::Send::new(f, data, len as u32),
        };
        let entry = if connected {
            send.build()
        } else {
            // A send with its destination (sendto): no msghdr or iovec for the kernel to copy
            // in. The destination goes where the kernel wrote the source (the payload starts
            // after it), on a cache line the receive already touched.
            let slot: &mut [u8; NAME] = (&mut self.shared.pool[b + NAME_AT..b + NAME_AT + NAME])
                .try_into()
                .expect("a name's slot in the buffer");
            let name_len = write_name(slot, to);
            let name: *const libc::sockaddr = slot.as_ptr().cast();
            send.dest_addr(name).dest_addr_len(name_len).build()
        }
        .user_data(user_data(KIND_SEND, socket.0, packet.buffer));
        if let Err(e) = self.push(&entry) {
            self.give_back(packet.buffer);
            return Err(e);
        }
        self.outstanding += 1;
        if let Some(s) = self.slots.get_mut(socket.0).and_then(Option::as_mut) {
            s.in_flight += 1;
        }
        Ok(())
    }

    /// Gives a packet's buffer back without sending it.
    pub fn release(&mut self, packet: Packet) {
        self.give_back(packet.buffer);
    }

    /// Submits what is queued and waits up to `timeout` for something to happen; then
    /// [`Ring::next_event`] hands out what did.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        self.wait_for(1, timeout)
    }

    /// The same, sleeping until `completions` operations completed or `timeout` passed
    /// (a busy thread gathers a batch per wake-up instead of waking for every datagram).
    /// Any count may be asked for (`usize::MAX`: until the timeout, unless the completion
    /// queue fills first).
    pub fn wait_for(&mut self, completions: usize, timeout: Duration) -> io::Result<()> {
        while let Some(&slot) = self.rearm.last() {
            // Left on the list if arming fails, to be tried at the next wait.
            self.arm_recv(slot)?;
            self.rearm.pop();
        }
        if !self.wake_armed && !self.closing {
            self.arm_wake()?;
        }
        self.publish();
        // The kernel reads the count as an `int` and takes the smaller of it and the
        // completion queue's size, so a count past `i32::MAX` reads as negative there and
        // the wait returns at once, whatever its timeout: ask for at most the queue's size.
        let most = self.ring.params().cq_entries() as usize;
        let wait = if self.ready.is_empty() {
            completions.min(most)
        } else {
            0
        };
        let ts = types::Timespec::from(timeout);
        let args = types::SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(wait, &args) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                ) => {}
            Err(e) => return Err(e),
        }
        self.reap();
        Ok(())
    }

    /// The next thing that happened, from the last [`Ring::wait`].
    pub fn next_event(&mut self) -> Option<Event> {
        self.ready.pop_front()
    }

    fn reap(&mut self) {
        let mut done = std::mem::take(&mut self.reaped);
        done.clear();
        done.extend(
            self.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for &(data, result, flags) in &done {
            match kind_of(data) {
                KIND_RECV => self.received(slot_of(data), result, flags),
                KIND_SEND => {
                    self.outstanding -= 1;
                    self.give_back(data as u16);
                    if result < 0 {
                        self.stats.send_errors += 1;
                    } else {
                        self.stats.sent += 1;
                    }
                    let slot = slot_of(data);
                    if let Some(s) = self.slots.get_mut(slot).and_then(Option::as_mut) {
                        s.in_flight -= 1;
                    }
                    self.maybe_removed(slot);
                }
                KIND_CANCEL => self.outstanding -= 1,
                _ => {
                    self.outstanding -= 1;
                    self.wake_armed = false;
                    self.ready.push_back(Event::Woken);
                }
            }
        }
        self.reaped = done;
    }

    fn received(&mut self, slot: usize, result: i32, flags: u32) {
        let more = cqueue::more(flags);
        let buffer = cqueue::buffer_select(flags);
        if !more {
            self.outstanding -= 1;
            // Out of buffers, or ended with data: receive again. Any other error would end
            // the same way every time (a kernel without multishot recvmsg, a dead socket):
            // the socket stays quiet instead of spinning. A cancelled one was asked for.
            let again = result >= 0 || result == -libc::ENOBUFS || reported_by_the_network(result);
            let cancelled = result == -libc::ECANCELED;
            if let Some(s) = self.slots.get_mut(slot).and_then(Option::as_mut) {
                s.receiving = false;
                if !s.removing && again {
                    self.rearm.push(slot);
                }
            }
            if result == -libc::ENOBUFS {
                self.stats.out_of_buffers += 1;
            } else if reported_by_the_network(result) {
                self.stats.peer_errors += 1;
            } else if !again && !cancelled {
                self.stats.receive_errors += 1;
            }
        }
        if let Some(b) = buffer {
            if result > 0 {
                self.deliver(slot, b, result as usize);
            } else {
                self.give_back(b);
            }
        }
        if !more {
            self.maybe_removed(slot);
        }
    }

    fn deliver(&mut self, slot: usize, buffer: u16, used: usize) {
        let Some(s) = self.slots.get(slot).and_then(Option::as_ref) else {
            self.give_back(buffer);
            return;
        };
        let (token, removing) = (s.token, s.removing);
        let start = usize::from(buffer) * STRIDE;
        let bytes = &self.shared.pool[start..start + used.min(BUFFER)];
        let parsed = types::RecvMsgOut::parse(bytes, &self.shared.recv_header).ok();
        let Some(out) = parsed else {
            self.give_back(buffer);
            return;
        };
        if out.is_payload_truncated() {
            self.stats.truncated += 1;
            self.give_back(buffer);
            return;
        }
        let from = read_name(out.name_data());
        let payload = out.payload_data();
        let offset = payload.as_ptr() as usize - bytes.as_ptr() as usize;
        let len = payload.len();
        match from {
            Some(from) if !removing => {
                self.stats.received += 1;
                self.ready.push_back(Event::Packet {
                    token,
                    socket: SocketId(slot),
                    from,
                    packet: Packet {
                        buffer,
                        offset: offset as u16,
                        len: len as u16,
                    },
                });
            }
            _ => self.give_back(buffer),
        }
    }

    fn maybe_removed(&mut self, slot: usize) {
        let done = self
            .slots
            .get(slot)
            .and_then(Option::as_ref)
            .is_some_and(|s| s.removing && !s.receiving && s.in_flight == 0);
        if done {
            if let Some(s) = self.slots[slot].take() {
                if s.peer.is_some() {
                    // AF_UNSPEC always dissolves a UDP socket's connection.
                    let _ = disconnect(&s.socket);
                }
                self.unregister(slot);
                self.free_slots.push(slot);
                self.ready.push_back(Event::Removed {
                    token: s.token,
                    socket: s.socket,
                });
            }
        }
    }

    fn arm_recv(&mut self, slot: usize) -> io::Result<()> {
        let Some(s) = self.slots.get(slot).and_then(Option::as_ref) else {
            return Ok(());
        };
        if s.receiving || s.removing {
            return Ok(());
        }
        let header: *const libc::msghdr = &*self.shared.recv_header;
        let entry = match self.target(slot, s) {
            Target::Fixed(f) => opcode::RecvMsgMulti::new(f, header, GROUP).build(),
            Target::Fd(f) => opcode::RecvMsgMulti::new(f, header, GROUP).build(),
        }
        .user_data(user_data(KIND_RECV, slot, 0));
        self.push(&entry)?;
        self.outstanding += 1;
        if let Some(s) = self.slots.get_mut(slot).and_then(Option::as_mut) {
            s.receiving = true;
        }
        Ok(())
    }

    fn target(&self, slot: usize, s: &Slot) -> Target {
        if slot < self.fixed {
            Target::Fixed(types::Fixed(slot as u32))
        } else {
            Target::Fd(types::Fd(s.socket.as_raw_fd()))
        }
    }

    /// Lets go of a slot's registered file (else the kernel keeps the socket open).
    fn unregister(&mut self, slot: usize) {
        if slot < self.fixed {
            let _ = self
                .ring
                .submitter()
                .register_files_update(slot as u32, &[-1]);
        }
    }

    fn arm_wake(&mut self) -> io::Result<()> {
        let entry = opcode::Read::new(
            types::Fd(self.wake_fd.as_raw_fd()),
            self.shared.wake_buf.as_mut_ptr(),
            8,
        )
        .build()
        .user_data(user_data(KIND_WAKE, 0, 0));
        self.push(&entry)?;
        self.wake_armed = true;
        self.outstanding += 1;
        Ok(())
    }

    #[allow(unsafe_code)]
    fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every entry built here points only into `self.shared` (the buffers and
            // the send addresses written in them, the receive header, the wake buffer), which
            // lives until the ring is gone and is not moved: boxed slices keep their addresses.
            let pushed = unsafe { self.ring.submission().push(entry).is_ok() };
            if pushed {
                return Ok(());
            }
            self.publish();
            self.ring.submit()?;
        }
    }

    fn give_back(&mut self, buffer: u16) {
        let mask = self.buffers - 1;
        let at = usize::from(self.tail & mask) * 16;
        let addr = self.shared.pool[usize::from(buffer) * STRIDE..].as_ptr() as u64;
        let entry = ring_entry(&mut self.shared, at);
        entry[0..8].copy_from_slice(&addr.to_ne_bytes());
        entry[8..12].copy_from_slice(&(BUFFER as u32).to_ne_bytes());
        entry[12..14].copy_from_slice(&buffer.to_ne_bytes());
        self.tail = self.tail.wrapping_add(1);
    }

    #[allow(unsafe_code)]
    fn publish(&mut self) {
        if self.published == self.tail {
            return;
        }
        self.published = self.tail;
        // SAFETY: the tail is the u16 at offset 14 of the ring's first entry (struct
        // io_uring_buf_ring); the ring memory is 4096-aligned so the u16 is aligned, and the
        // kernel reads it with acquire semantics, which this release store pairs with.
        let tail = unsafe { &*(self.shared.ring.add(14) as *const AtomicU16) };
        tail.store(self.tail, Ordering::Release);
    }
}

/// One 16-byte entry of the provided-buffer ring, to fill (the tail field at offset 14 of
/// entry 0 is never written through this: entry 0's bytes 14..16 are its `resv`, which is
/// the tail, and `give_back` writes only bytes 0..14).
#[allow(unsafe_code)]
fn ring_entry(shared: &mut Shared, at: usize) -> &mut [u8] {
    // SAFETY: `at` is below `buffers * 16` (masked index times 16); the memory is owned by
    // `shared` and only the ring's thread writes it; the kernel reads entries only between
    // the head and the published tail, and this entry is beyond the published tail.
    unsafe { std::slice::from_raw_parts_mut(shared.ring.add(at), 14) }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Cancel everything and wait (a little) for the kernel to let go of our memory.
        self.closing = true;
        let ids: Vec<usize> = (0..self.slots.len()).collect();
        for id in ids {
            let _ = self.remove(SocketId(id));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while self.outstanding > 0 && std::time::Instant::now() < deadline {
            // The wake read is the one operation never cancelled: wake it so it completes.
            if self.wake_armed {
                self.waker().wake();
            }
            if self.wait(Duration::from_millis(50)).is_err() {
                break;
            }
            self.ready.clear();
        }
        if self.outstanding > 0 {
            // Something may still write into the buffers after we return: keep the memory.
            let pool = std::mem::take(&mut self.shared.pool);
            Box::leak(pool);
            self.shared.ring = std::ptr::null_mut();
        }
    }
}

impl Drop for Shared {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        if !self.ring.is_null() {
            // SAFETY: allocated in `alloc_zeroed` with this layout; the io_uring that
            // registered it is closed (its field drops before `shared`'s) or had nothing
            // left in flight.
            unsafe { std::alloc::dealloc(self.ring, self.ring_layout) };
        }
    }
}

#[allow(unsafe_code)]
fn alloc_zeroed(layout: std::alloc::Layout) -> io::Result<*mut u8> {
    // SAFETY: the layout has a non-zero size (at least one 16-byte entry).
    let p = unsafe { std::alloc::alloc_zeroed(layout) };
    if p.is_null() {
        Err(io::Error::from(io::ErrorKind::OutOfMemory))
    } else {
        Ok(p)
    }
}

#[allow(unsafe_code)]
fn zeroed_msghdr() -> libc::msghdr {
    // SAFETY: msghdr is a plain C struct of pointers and integers; all zeroes is its empty
    // value (no name, no iovecs, no control data).
    unsafe { std::mem::zeroed() }
}

#[allow(unsafe_code)]
fn eventfd() -> io::Result<File> {
    // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor we own.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// An error a connected socket reports once for an ICMP message about what it sent (the
/// peer's port closed, its host unreachable): the socket itself is fine, and the error is
/// cleared by being reported, so receiving goes on.
fn reported_by_the_network(result: i32) -> bool {
    matches!(
        result.wrapping_neg(),
        libc::ECONNREFUSED
            | libc::EHOSTUNREACH
            | libc::ENETUNREACH
            | libc::EHOSTDOWN
            | libc::ENETDOWN
            | libc::EMSGSIZE
            | libc::EPROTO
            | libc::ENOPROTOOPT
            | libc::EOPNOTSUPP
    )
}

/// Dissolves a UDP socket's connection: connect() to an address of family AF_UNSPEC.
#[allow(unsafe_code)]
fn disconnect(socket: &UdpSocket) -> io::Result<()> {
    // SAFETY: an all-zero sockaddr is a plain C struct whose family is AF_UNSPEC (0); connect
    // only reads `size_of::<sockaddr>()` bytes of it, and the descriptor is the socket's own.
    let rc = unsafe {
        let unspec: libc::sockaddr = std::mem::zeroed();
        libc::connect(
            socket.as_raw_fd(),
            &unspec,
            std::mem::size_of::<libc::sockaddr>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A socket address as `struct sockaddr_in`/`sockaddr_in6` bytes; their length.
fn write_name(out: &mut [u8; NAME], to: SocketAddr) -> u32 {
    out.fill(0);
    match to {
        SocketAddr::V4(a) => {
            out[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            out[2..4].copy_from_slice(&a.port().to_be_bytes());
            out[4..8].copy_from_slice(&a.ip().octets());
            std::mem::size_of::<libc::sockaddr_in>() as u32
        }
        SocketAddr::V6(a) => {
            out[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
            out[2..4].copy_from_slice(&a.port().to_be_bytes());
            out[4..8].copy_from_slice(&a.flowinfo().to_be_bytes());
            out[8..24].copy_from_slice(&a.ip().octets());
            out[24..28].copy_from_slice(&a.scope_id().to_ne_bytes());
            NAME as u32
        }
    }
}

/// The address the kernel wrote; `None` for a family that is not IP.
fn read_name(name: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes(name.get(0..2)?.try_into().ok()?);
    let port = u16::from_be_bytes(name.get(2..4)?.try_into().ok()?);
    if family == libc::AF_INET as u16 {
        let ip: [u8; 4] = name.get(4..8)?.try_into().ok()?;
        Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
    } else if family == libc::AF_INET6 as u16 {
        let flow = u32::from_be_bytes(name.get(4..8)?.try_into().ok()?);
        let ip: [u8; 16] = name.get(8..24)?.try_into().ok()?;
        let scope = u32::from_ne_bytes(name.get(24..28)?.try_into().ok()?);
        let v6 = SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope);
        // A v4-mapped source on a dual-stack socket is the v4 peer it is.
        match v6.ip().to_ipv4_mapped() {
            Some(v4) => Some(SocketAddr::new(IpAddr::V4(v4), port)),
            None => Some(SocketAddr::V6(v6)),
        }
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in [
            "127.0.0.1:40000".parse::<SocketAddr>().unwrap(),
            "[::1]:5004".parse().unwrap(),
            "[fe80::1%3]:9".parse().unwrap(),
        ] {
            let mut b = [0u8; NAME];
            let n = write_name(&mut b, a);
            assert_eq!(read_name(&b[..n as usize]), Some(a));
        }
        assert_eq!(read_name(&[1, 0]), None);
        assert_eq!(read_name(&[]), None);
    }

    #[test]
    fn user_data_keeps_its_parts() {
        let d = user_data(KIND_SEND, 123_456, 4095);
        assert_eq!(kind_of(d), KIND_SEND);
        assert_eq!(slot_of(d), 123_456);
        assert_eq!(d as u16, 4095);
    }
}
