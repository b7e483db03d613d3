//! The transaction layer (RFC 3261 §17 with the RFC 6026 Accepted states), sans-IO.
//!
//! Inputs: [`Transactions::handle_request`] / [`Transactions::handle_response`] (a checked
//! message and where it came from), [`Transactions::send_request`], [`Transactions::respond`],
//! [`Transactions::cancel`], [`Transactions::handle_timeout`]. Outputs: bytes to send
//! ([`Transactions::poll_transmit`]), events for the transaction user
//! ([`Transactions::poll_event`]), and the next deadline ([`Transactions::poll_timeout`]).
//! Time is milliseconds on any monotonic scale the caller chooses. Transactions are reached by
//! handle ([`ClientId`], [`ServerId`]), never by reference.
//!
//! Beyond the RFC's four machines, the server INVITE transaction also retransmits a 2xx until
//! the ACK arrives (the UAS core's duty in §13.3.1.4, done here so every user gets it right):
//! an ACK is matched to it by Call-ID, CSeq number and From tag.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;

use bytes::Bytes;

use crate::headers::MAGIC_COOKIE;
use crate::message::{Message, StartLine};
use crate::name::{HeaderName, Method};

pub type Time = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// Where a message came from or goes to. `connection` names a stream the shell keeps open
/// (a response goes back on the connection its request came on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    pub transport: Transport,
    pub addr: SocketAddr,
    pub connection: Option<u64>,
}

/// RFC 3261 §17.1.1.1 timer values, in ms.
#[derive(Clone, Copy, Debug)]
pub struct Timers {
    pub t1: Time,
    pub t2: Time,
    pub t4: Time,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: 500,
            t2: 4_000,
            t4: 5_000,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(pub u64);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub to: Peer,
    pub bytes: Bytes,
}

#[derive(Clone, Debug)]
pub enum TxEvent {
    /// A new request (not ACK, not a retransmission): answer it with [`Transactions::respond`].
    Request {
        server: ServerId,
        request: Message,
        from: Peer,
    },
    /// An ACK that is not part of a non-2xx INVITE transaction: the ACK of a 2xx. `server` is
    /// the INVITE transaction it stopped retransmitting, if any still waited.
    Ack {
        server: Option<ServerId>,
        request: Message,
        from: Peer,
    },
    /// A CANCEL matched this INVITE, which had no final answer yet; the CANCEL itself was
    /// answered 200. The user answers the INVITE 487.
    Cancelled {
        invite: ServerId,
    },
    /// A response to a request of ours: provisional or final; every 2xx of an INVITE
    /// (retransmissions too) so the user can ACK each.
    Response {
        client: ClientId,
        response: Message,
        from: Peer,
    },
    /// No final response came in time (Timer B or F): act as on a 408.
    Timeout {
        client: ClientId,
    },
    /// A final answer of ours was never acknowledged (Timer H, or a 2xx not ACKed in 64*T1).
    AckTimeout {
        server: ServerId,
    },
    /// The transaction ended; its handle is no longer valid.
    ClientDone {
        client: ClientId,
    },
    ServerDone {
        server: ServerId,
    },
    /// A response that matches no transaction (a 2xx retransmitted after ours ended, say).
    StrayResponse {
        response: Message,
        from: Peer,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("no such transaction")]
    Unknown,
    #[error("the transaction cannot send that now")]
    State,
    #[error("the message lacks what a transaction needs: {0}")]
    Message(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientState {
    Calling,
    Trying,
    Proceeding,
    Accepted,
    Completed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerState {
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    /// A, E, G, and the 2xx retransmission.
    Retransmit,
    /// B, F, H, L (and M on the client).
    Timeout,
    /// D, I, J, K: how long a finished transaction absorbs retransmissions.
    Linger,
}

struct Client {
    request: Message,
    bytes: Bytes,
    to: Peer,
    invite: bool,
    key: (String, Method),
    state: ClientState,
    interval: Time,
    /// Armed deadline per [`TimerKind`] (indexed by its discriminant).
    deadlines: [Option<Time>; 3],
    ack: Option<Bytes>,
    cancel_wanted: bool,
}

struct Server {
    invite: bool,
    key: String,
    /// Call-ID, CSeq number, From tag: how the ACK of a 2xx is recognised.
    ack_key: Option<(String, u32, String)>,
    from: Peer,
    state: ServerState,
    last_response: Option<Bytes>,
    interval: Time,
    /// Armed deadline per [`TimerKind`] (indexed by its discriminant).
    deadlines: [Option<Time>; 3],
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TxRef {
    Client(ClientId),
    Server(ServerId),
}

#[derive(Default)]
pub struct Transactions {
    timers_cfg: Timers,
    next_id: u64,
    rng: u64,
    clients: HashMap<ClientId, Client>,
    client_keys: HashMap<(String, Method), ClientId>,
    servers: HashMap<ServerId, Server>,
    server_keys: HashMap<String, ServerId>,
    ack_keys: HashMap<(String, u32, String), ServerId>,
    heap: BinaryHeap<Reverse<(Time, TxRef, TimerKind)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TxEvent>,
}

/// Method as a transaction key: an ACK belongs to the INVITE's server transaction.
fn key_method(m: &Method) -> &str {
    match m {
        Method::Ack => "INVITE",
        other => other.as_str(),
    }
}

impl Transactions {
    /// `seed` feeds the generator of branches and tags: the shell draws it at random.
    pub fn new(timers: Timers, seed: u64) -> Transactions {
        Transactions {
            timers_cfg: timers,
            rng: seed,
            ..Transactions::default()
        }
    }

    pub fn timers(&self) -> Timers {
        self.timers_cfg
    }

    fn next_random(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A fresh Via branch (with the RFC 3261 magic cookie).
    pub fn new_branch(&mut self) -> String {
        format!("{MAGIC_COOKIE}{:016x}", self.next_random())
    }

    /// A top Via for a request of ours sent from `sent_by` (`host:port`), with a fresh branch
    /// and `rport` (RFC 3581) asked for.
    pub fn via(&mut self, transport: Transport, sent_by: &str) -> Vec<u8> {
        format!(
            "SIP/2.0/{} {sent_by};branch={};rport",
            transport.as_str(),
            self.new_branch()
        )
        .into_bytes()
    }

    /// A fresh tag or Call-ID part.
    pub fn new_tag(&mut self) -> String {
        format!("{:012x}", self.next_random() >> 16)
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }

    /// The earliest deadline of any transaction.
    pub fn poll_timeout(&mut self) -> Option<Time> {
        while let Some(Reverse((at, tx, kind))) = self.heap.peek().copied() {
            if self.deadline(tx, kind) == Some(at) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    pub fn server_count(&self) -> usize {
        self.servers.len()
    }

    fn deadlines_mut(&mut self, tx: TxRef) -> Option<&mut [Option<Time>; 3]> {
        match tx {
            TxRef::Client(id) => self.clients.get_mut(&id).map(|c| &mut c.deadlines),
            TxRef::Server(id) => self.servers.get_mut(&id).map(|s| &mut s.deadlines),
        }
    }

    fn deadline(&self, tx: TxRef, kind: TimerKind) -> Option<Time> {
        let deadlines = match tx {
            TxRef::Client(id) => &self.clients.get(&id)?.deadlines,
            TxRef::Server(id) => &self.servers.get(&id)?.deadlines,
        };
        deadlines[kind as usize]
    }

    fn set_timer(&mut self, tx: TxRef, kind: TimerKind, at: Time) {
        if let Some(d) = self.deadlines_mut(tx) {
            d[kind as usize] = Some(at);
            self.heap.push(Reverse((at, tx, kind)));
        }
    }

    /// Disarms a timer; its heap entry is skipped when it comes up.
    fn clear_timer(&mut self, tx: TxRef, kind: TimerKind) {
        if let Some(d) = self.deadlines_mut(tx) {
            d[kind as usize] = None;
        }
    }

    /// A final answer settled the transaction: no more retransmissions, no timeout.
    fn settle(&mut self, tx: TxRef) {
        self.clear_timer(tx, TimerKind::Retransmit);
        self.clear_timer(tx, TimerKind::Timeout);
    }

    // -----------------------------------------------------------------------------------------
    // Client side

    /// Sends a request in a new client transaction. The request carries its own top Via with a
    /// branch from [`Transactions::new_branch`].
    pub fn send_request(
        &mut self,
        now: Time,
        request: Message,
        to: Peer,
    ) -> Result<ClientId, TxError> {
        let method = request
            .method()
            .cloned()
            .ok_or(TxError::Message("not a request"))?;
        if method == Method::Ack {
            return Err(TxError::Message(
                "an ACK is sent with transmit, not in a transaction",
            ));
        }
        let branch = request
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_string))
            .filter(|b| b.starts_with(MAGIC_COOKIE) && b.len() > MAGIC_COOKIE.len())
            .ok_or(TxError::Message("top Via with an RFC 3261 branch"))?;
        let key = (branch, method.clone());
        if self.client_keys.contains_key(&key) {
            return Err(TxError::Message("a transaction with this branch exists"));
        }
        self.next_id += 1;
        let id = ClientId(self.next_id);
        let invite = method == Method::Invite;
        let bytes = request.to_bytes();
        let t1 = self.timers_cfg.t1;
        self.clients.insert(
            id,
            Client {
                request,
                bytes: bytes.clone(),
                to,
                invite,
                key: key.clone(),
                state: if invite {
                    ClientState::Calling
                } else {
                    ClientState::Trying
                },
                interval: t1,
                deadlines: [None; 3],
                ack: None,
                cancel_wanted: false,
            },
        );
        self.client_keys.insert(key, id);
        self.transmits.push_back(Transmit { to, bytes });
        let tx = TxRef::Client(id);
        if !to.transport.reliable() {
            self.set_timer(tx, TimerKind::Retransmit, now + t1);
        }
        self.set_timer(tx, TimerKind::Timeout, now + 64 * t1);
        Ok(id)
    }

    /// Sends bytes outside any transaction (the ACK of a 2xx, a stateless answer).
    pub fn transmit(&mut self, to: Peer, message: &Message) {
        self.transmits.push_back(Transmit {
            to,
            bytes: message.to_bytes(),
        });
    }

    /// Cancels an INVITE of ours (RFC 3261 §9.1): the CANCEL goes out once a provisional
    /// response has come (at once if one has), never after a final one.
    pub fn cancel(&mut self, now: Time, invite: ClientId) -> Result<(), TxError> {
        let c = self.clients.get_mut(&invite).ok_or(TxError::Unknown)?;
        if !c.invite {
            return Err(TxError::State);
        }
        match c.state {
            ClientState::Calling => {
                c.cancel_wanted = true;
                Ok(())
            }
            ClientState::Proceeding => {
                c.cancel_wanted = false;
                let (cancel, to) = (cancel_for(&c.request), c.to);
                self.send_request(now, cancel, to).map(|_| ())
            }
            _ => Err(TxError::State),
        }
    }

    /// A response from the network (already through [`crate::check_response`]).
    pub fn handle_response(&mut self, now: Time, response: Message, from: Peer) {
        let Some(code) = response.status() else {
            return;
        };
        let key = response
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_string))
            .zip(response.cseq().ok().map(|c| c.method));
        let Some(&id) = key.as_ref().and_then(|k| self.client_keys.get(k)) else {
            self.events
                .push_back(TxEvent::StrayResponse { response, from });
            return;
        };
        let tx = TxRef::Client(id);
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        let reliable = c.to.transport.reliable();
        let t = self.timers_cfg;
        match (c.invite, c.state, code) {
            // Provisional.
            (true, ClientState::Calling | ClientState::Proceeding, 100..=199) => {
                let first = c.state == ClientState::Calling;
                c.state = ClientState::Proceeding;
                let cancel = (first && c.cancel_wanted).then(|| (cancel_for(&c.request), c.to));
                self.clear_timer(tx, TimerKind::Retransmit);
                self.events.push_back(TxEvent::Response {
                    client: id,
                    response,
                    from,
                });
                if let Some((cancel, to)) = cancel {
                    if let Some(c) = self.clients.get_mut(&id) {
                        c.cancel_wanted = false;
                    }
                    let _ = self.send_request(now, cancel, to);
                }
            }
            (false, ClientState::Trying | ClientState::Proceeding, 100..=199) => {
                c.state = ClientState::Proceeding;
                self.events.push_back(TxEvent::Response {
                    client: id,
                    response,
                    from,
                });
            }
            // 2xx to an INVITE: Accepted (RFC 6026); every 2xx goes up, the user ACKs.
            (
                true,
                ClientState::Calling | ClientState::Proceeding | ClientState::Accepted,
                200..=299,
            ) => {
                if c.state != ClientState::Accepted {
                    c.state = ClientState::Accepted;
                    self.settle(tx);
                    self.set_timer(tx, TimerKind::Linger, now + 64 * t.t1);
                }
                self.events.push_back(TxEvent::Response {
                    client: id,
                    response,
                    from,
                });
            }
            // Non-2xx final to an INVITE: the transaction ACKs it, and again for each repeat.
            (true, ClientState::Calling | ClientState::Proceeding, 300..=699) => {
                let ack = ack_for(&c.request, &response).to_bytes();
                c.ack = Some(ack.clone());
                c.state = ClientState::Completed;
                let to = c.to;
                self.transmits.push_back(Transmit { to, bytes: ack });
                self.settle(tx);
                self.set_timer(
                    tx,
                    TimerKind::Linger,
                    now + if reliable { 0 } else { 32_000 },
                );
                self.events.push_back(TxEvent::Response {
                    client: id,
                    response,
                    from,
                });
            }
            (true, ClientState::Completed, 300..=699) => {
                if let Some(ack) = c.ack.clone() {
                    let to = c.to;
                    self.transmits.push_back(Transmit { to, bytes: ack });
                }
            }
            (false, ClientState::Trying | ClientState::Proceeding, 200..=699) => {
                c.state = ClientState::Completed;
                self.settle(tx);
                self.set_timer(tx, TimerKind::Linger, now + if reliable { 0 } else { t.t4 });
                self.events.push_back(TxEvent::Response {
                    client: id,
                    response,
                    from,
                });
            }
            // Anything else is a retransmission or out of order: absorbed.
            _ => {}
        }
    }

    fn end_client(&mut self, id: ClientId) {
        if let Some(c) = self.clients.remove(&id) {
            self.client_keys.remove(&c.key);
            self.events.push_back(TxEvent::ClientDone { client: id });
        }
    }

    // -----------------------------------------------------------------------------------------
    // Server side

    /// A request from the network (already through [`crate::check_request`]).
    pub fn handle_request(&mut self, now: Time, request: Message, from: Peer) {
        let Some(method) = request.method().cloned() else {
            return;
        };
        let Some(key) = server_key(&request, key_method(&method)) else {
            return;
        };
        if method == Method::Ack {
            if let Some(&id) = self.server_keys.get(&key) {
                // The ACK of our non-2xx answer.
                let reliable = from.transport.reliable();
                let state = self.servers.get(&id).map(|s| (s.invite, s.state));
                if state == Some((true, ServerState::Completed)) {
                    if let Some(s) = self.servers.get_mut(&id) {
                        s.state = ServerState::Confirmed;
                    }
                    let tx = TxRef::Server(id);
                    self.settle(tx);
                    let t4 = self.timers_cfg.t4;
                    self.set_timer(tx, TimerKind::Linger, now + if reliable { 0 } else { t4 });
                }
                if state.is_some_and(|(_, st)| st != ServerState::Accepted) {
                    return;
                }
            }
            // The ACK of a 2xx: a transaction of its own, for the user.
            let server = ack_key(&request).and_then(|k| self.ack_keys.remove(&k));
            if let Some(id) = server {
                let tx = TxRef::Server(id);
                self.settle(tx);
                if let Some(s) = self.servers.get_mut(&id) {
                    s.ack_key = None;
                }
            }
            self.events.push_back(TxEvent::Ack {
                server,
                request,
                from,
            });
            return;
        }
        if let Some(&id) = self.server_keys.get(&key) {
            // A retransmission: the last answer again, nothing for the user.
            if let Some(s) = self.servers.get(&id) {
                if let Some(last) = s.last_response.clone() {
                    let to = s.from;
                    self.transmits.push_back(Transmit { to, bytes: last });
                }
            }
            return;
        }
        self.next_id += 1;
        let id = ServerId(self.next_id);
        let invite = method == Method::Invite;
        self.servers.insert(
            id,
            Server {
                invite,
                key: key.clone(),
                ack_key: None,
                from,
                state: if invite {
                    ServerState::Proceeding
                } else {
                    ServerState::Trying
                },
                last_response: None,
                interval: self.timers_cfg.t1,
                deadlines: [None; 3],
            },
        );
        self.server_keys.insert(key, id);
        if method == Method::Cancel {
            self.handle_cancel(now, id, &request);
            return;
        }
        if invite {
            // §17.2.1: a 100 at once, so the client stops retransmitting.
            let trying = crate::response::response_to(&request, 100, None, None);
            let _ = self.respond(now, id, &trying);
        }
        self.events.push_back(TxEvent::Request {
            server: id,
            request,
            from,
        });
    }

    fn handle_cancel(&mut self, now: Time, cancel: ServerId, request: &Message) {
        let invite = server_key(request, "INVITE").and_then(|k| self.server_keys.get(&k).copied());
        let pending = invite.filter(|i| {
            self.servers
                .get(i)
                .is_some_and(|s| s.state == ServerState::Proceeding)
        });
        let code = if invite.is_some() { 200 } else { 481 };
        let answer = crate::response::response_to(request, code, None, Some("cancel"));
        let _ = self.respond(now, cancel, &answer);
        if let Some(invite) = pending {
            self.events.push_back(TxEvent::Cancelled { invite });
        }
    }

    /// Sends a response in a server transaction.
    pub fn respond(
        &mut self,
        now: Time,
        server: ServerId,
        response: &Message,
    ) -> Result<(), TxError> {
        let code = response
            .status()
            .ok_or(TxError::Message("not a response"))?;
        let t = self.timers_cfg;
        let s = self.servers.get_mut(&server).ok_or(TxError::Unknown)?;
        let reliable = s.from.transport.reliable();
        let tx = TxRef::Server(server);
        let bytes = response.to_bytes();
        match (s.invite, s.state, code) {
            (_, ServerState::Trying | ServerState::Proceeding, 100..=199) => {
                s.state = ServerState::Proceeding;
                s.last_response = Some(bytes.clone());
            }
            (true, ServerState::Proceeding, 200..=299) => {
                s.state = ServerState::Accepted;
                s.last_response = Some(bytes.clone());
                s.interval = t.t1;
                // A 2xx carries the Call-ID, CSeq and From of its INVITE, so of its ACK too.
                let key = ack_key(response);
                s.ack_key = key.clone();
                if let Some(k) = key {
                    self.ack_keys.insert(k, server);
                }
                if !reliable {
                    self.set_timer(tx, TimerKind::Retransmit, now + t.t1);
                }
                self.set_timer(tx, TimerKind::Timeout, now + 64 * t.t1);
                self.set_timer(tx, TimerKind::Linger, now + 64 * t.t1);
            }
            (true, ServerState::Proceeding, 300..=699) => {
                s.state = ServerState::Completed;
                s.last_response = Some(bytes.clone());
                s.interval = t.t1;
                if !reliable {
                    self.set_timer(tx, TimerKind::Retransmit, now + t.t1);
                }
                self.set_timer(tx, TimerKind::Timeout, now + 64 * t.t1);
            }
            (false, ServerState::Trying | ServerState::Proceeding, 200..=699) => {
                s.state = ServerState::Completed;
                s.last_response = Some(bytes.clone());
                self.set_timer(
                    tx,
                    TimerKind::Linger,
                    now + if reliable { 0 } else { 64 * t.t1 },
                );
            }
            _ => return Err(TxError::State),
        }
        let to = self
            .servers
            .get(&server)
            .map(|s| s.from)
            .ok_or(TxError::Unknown)?;
        self.transmits.push_back(Transmit { to, bytes });
        Ok(())
    }

    fn end_server(&mut self, id: ServerId) {
        if let Some(s) = self.servers.remove(&id) {
            self.server_keys.remove(&s.key);
            if let Some(k) = s.ack_key {
                self.ack_keys.remove(&k);
            }
            self.events.push_back(TxEvent::ServerDone { server: id });
        }
    }

    // -----------------------------------------------------------------------------------------
    // Timers

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        while let Some(Reverse((at, tx, kind))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            if self.deadline(tx, kind) != Some(at) {
                continue;
            }
            self.clear_timer(tx, kind);
            match tx {
                TxRef::Client(id) => self.client_timer(now, id, kind),
                TxRef::Server(id) => self.server_timer(now, id, kind),
            }
        }
    }

    fn client_timer(&mut self, now: Time, id: ClientId, kind: TimerKind) {
        let t = self.timers_cfg;
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        match kind {
            TimerKind::Retransmit => {
                let resend = matches!(
                    c.state,
                    ClientState::Calling | ClientState::Trying | ClientState::Proceeding
                );
                if !resend {
                    return;
                }
                // A: doubling; E: doubling up to T2, and T2 once a provisional came.
                c.interval = if c.invite {
                    c.interval * 2
                } else if c.state == ClientState::Proceeding {
                    t.t2
                } else {
                    (c.interval * 2).min(t.t2)
                };
                let (to, bytes, next) = (c.to, c.bytes.clone(), now + c.interval);
                self.transmits.push_back(Transmit { to, bytes });
                self.set_timer(TxRef::Client(id), TimerKind::Retransmit, next);
            }
            TimerKind::Timeout => {
                self.events.push_back(TxEvent::Timeout { client: id });
                self.end_client(id);
            }
            TimerKind::Linger => self.end_client(id),
        }
    }

    fn server_timer(&mut self, now: Time, id: ServerId, kind: TimerKind) {
        let t = self.timers_cfg;
        let Some(s) = self.servers.get_mut(&id) else {
            return;
        };
        match kind {
            TimerKind::Retransmit => {
                let waiting_ack = match s.state {
                    ServerState::Completed => true,
                    ServerState::Accepted => s.ack_key.is_some(),
                    _ => false,
                };
                if !waiting_ack {
                    return;
                }
                s.interval = (s.interval * 2).min(t.t2);
                let next = now + s.interval;
                if let Some(bytes) = s.last_response.clone() {
                    let to = s.from;
                    self.transmits.push_back(Transmit { to, bytes });
                }
                self.set_timer(TxRef::Server(id), TimerKind::Retransmit, next);
            }
            TimerKind::Timeout => {
                // H (no ACK for a non-2xx) or the 2xx never ACKed.
                let unacked = match s.state {
                    ServerState::Completed => true,
                    ServerState::Accepted => s.ack_key.is_some(),
                    _ => false,
                };
                if unacked {
                    self.events.push_back(TxEvent::AckTimeout { server: id });
                }
                if s.state == ServerState::Completed {
                    self.end_server(id);
                }
            }
            TimerKind::Linger => self.end_server(id),
        }
    }
}

/// The key a server transaction is found by: the RFC 3261 branch with the sent-by and method,
/// or for RFC 2543 peers (no magic cookie) the request's identifying fields (§17.2.3).
fn server_key(request: &Message, method: &str) -> Option<String> {
    let via = request.top_via().ok()?;
    let sent_by = format!("{}:{}", via.host, via.port.unwrap_or(5060));
    match via.branch() {
        Some(b) if b.starts_with(MAGIC_COOKIE) => Some(format!("{b}|{sent_by}|{method}")),
        _ => {
            let StartLine::Request { uri, .. } = &request.start else {
                return None;
            };
            let from_tag = request.from_header().ok()?.tag().unwrap_or("").to_string();
            // An ACK's To tag is the one we added: RFC 2543 matching leaves it out.
            let to_tag = if method == "INVITE" {
                String::new()
            } else {
                request.to_header().ok()?.tag().unwrap_or("").to_string()
            };
            let cseq = request.cseq().ok()?.seq;
            Some(format!(
                "2543|{}|{from_tag}|{to_tag}|{}|{cseq}|{sent_by}|{method}",
                String::from_utf8_lossy(uri),
                request.call_id().ok()?
            ))
        }
    }
}

fn ack_key(ack: &Message) -> Option<(String, u32, String)> {
    Some((
        ack.call_id().ok()?.to_string(),
        ack.cseq().ok()?.seq,
        ack.from_header().ok()?.tag().unwrap_or("").to_string(),
    ))
}

/// The CANCEL of an INVITE (RFC 3261 §9.1): same Request-URI, Call-ID, From, To, CSeq number,
/// the top Via only, the Routes.
pub fn cancel_for(invite: &Message) -> Message {
    let mut c = Message::request(Method::Cancel, "");
    // The Request-URI byte for byte: the CANCEL must match the INVITE's exactly.
    if let (StartLine::Request { uri, .. }, StartLine::Request { uri: own, .. }) =
        (&invite.start, &mut c.start)
    {
        *own = uri.clone();
    }
    if let Some(via) = invite.header(&HeaderName::Via) {
        // The top Via value only (a line may hold several).
        let first = via
            .value()
            .and_then(|v| {
                crate::text::split_commas(v).and_then(|p| p.first().map(|s| s.trim().to_string()))
            })
            .unwrap_or_default();
        c.push(HeaderName::Via, first.into_bytes());
    }
    c.push(HeaderName::MaxForwards, &b"70"[..]);
    c.copy_from(invite, &HeaderName::From);
    c.copy_from(invite, &HeaderName::To);
    c.copy_from(invite, &HeaderName::CallId);
    let seq = invite.cseq().map(|c| c.seq).unwrap_or(0);
    c.push(HeaderName::CSeq, format!("{seq} CANCEL").into_bytes());
    c.copy_from(invite, &HeaderName::Route);
    c
}

/// The ACK of a non-2xx answer to an INVITE (RFC 3261 §17.1.1.3): like the CANCEL, with the To
/// of the response.
pub fn ack_for(invite: &Message, response: &Message) -> Message {
    let mut ack = cancel_for(invite);
    if let StartLine::Request { method, .. } = &mut ack.start {
        *method = Method::Ack;
    }
    let seq = invite.cseq().map(|c| c.seq).unwrap_or(0);
    ack.set(HeaderName::CSeq, format!("{seq} ACK").into_bytes());
    ack.remove(&HeaderName::To);
    ack.copy_from(response, &HeaderName::To);
    ack
}
