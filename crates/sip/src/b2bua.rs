//! The back-to-back user agent core, sans-IO: pairs an inbound call leg (A, which we answer as
//! UAS) with an outbound one (B, which we place as UAC) and carries signalling between them.
//!
//! The shell decides where a call goes ([`B2bua::start`] with a [`Target`]) and feeds every
//! transaction event through [`B2bua::handle`]; what is not about a call comes back to it.
//! The core owns no transactions: it drives the caller's [`Transactions`].
//!
//! What it does, by the RFCs:
//! - provisional answers with a tag make early dialogs on both legs and are relayed (180/183
//!   with their SDP); the 2xx confirms both; every final answer reaches A once;
//! - B's 2xx is ACKed at once when A's INVITE carried the offer, or when A's ACK arrives
//!   (carrying A's answer) for a late offer; a 2xx retransmitted after that gets the same ACK;
//! - CANCEL from A (or BYE in A's early dialog, §15.1.2) answers A 487 and cancels B; a 2xx
//!   from B that crosses the CANCEL is ACKed and then ended with BYE;
//! - in-dialog requests (re-INVITE, UPDATE, INFO, OPTIONS, MESSAGE, NOTIFY, REFER) are relayed
//!   to the other leg and their answers relayed back; each leg's [`Dialog`] refuses glare (491)
//!   and out-of-order CSeqs (500) on its own;
//! - BYE on one leg is answered 200 and sent on the other;
//! - trunk credentials answer a 401/407 from B once;
//! - session timers (RFC 4028) pass end to end: refreshes are relayed (and refresh both legs);
//!   a session not refreshed in time is ended on both legs. A caller asking for a timer that B
//!   ignores is told to refresh itself (`refresher=uac`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use crate::dialog::{Dialog, DialogState, ResponseOutcome};
use crate::message::Message;
use crate::name::{HeaderName, Method};
use crate::response::response_to;
use crate::transaction::{ClientId, Peer, ServerId, Time, Transactions, Transport, TxEvent};

/// The shortest session interval we accept (RFC 4028 §5: at least 90 s).
pub const MIN_SE: u32 = 90;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallRef(pub u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    A,
    B,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Where the B leg goes.
#[derive(Clone, Debug)]
pub struct Target {
    /// The Request-URI (and To) of B's INVITE.
    pub uri: String,
    /// Where B's requests are sent.
    pub peer: Peer,
    /// `host:port` at which that peer reaches us (Via, Contact).
    pub local: String,
    /// B's From without a tag; by default A's From.
    pub from: Option<String>,
    /// The Call-ID of the B leg (the shell picks it so B's messages come back to this core).
    pub call_id: String,
    /// Answers a digest challenge from B once.
    pub credentials: Option<Credentials>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallEvent {
    /// B sent a provisional answer (180/183) and it went to A.
    Progress { call: CallRef, code: u16 },
    /// B answered and A has the 2xx.
    Answered { call: CallRef },
    /// The call is over: `code` is the final answer A got if it was never answered, 200 when
    /// an answered call was hung up; `by` the side that ended it (None: we did).
    Ended {
        call: CallRef,
        code: u16,
        by: Option<Side>,
    },
}

/// A call's B leg taken out of it by [`B2bua::hand_over_b`].
#[derive(Debug)]
pub struct HandedOver {
    /// The call it was part of (ended now).
    pub call: CallRef,
    pub dialog: Dialog,
    /// Where its requests go.
    pub peer: Peer,
    /// `host:port` we send its requests from (Via).
    pub local: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Calling,
    Early,
    Answered,
}

struct Leg {
    dialog: Option<Dialog>,
    peer: Peer,
    call_id: String,
    local_tag: String,
    /// `host:port` we send this leg's requests from (Via).
    local: String,
    contact: String,
    /// The last ACK sent on this leg, for a retransmitted 2xx.
    last_ack: Option<Message>,
}

struct Call {
    state: State,
    a_invite: Message,
    a_server: ServerId,
    a_final: bool,
    b_client: Option<ClientId>,
    a: Leg,
    b: Leg,
    /// A leg waiting for the ACK of the other side before it is ACKed: (leg, CSeq).
    deferred_ack: Option<(Side, u32)>,
    session_check: Option<Time>,
}

impl Call {
    /// Our answer to A's INVITE carrying B's `response`; A's dialog is made with the first
    /// (our CSeq space starting at `local_seq`).
    fn relay_to_a(&mut self, local_seq: u32, code: u16, response: &Message) -> Message {
        if self.a.dialog.is_none() {
            self.a.dialog = Dialog::uas(
                &self.a_invite,
                &self.a.local_tag,
                &self.a.contact,
                local_seq,
            )
            .ok();
        }
        let mut r = response_to(
            &self.a_invite,
            code,
            response.reason_phrase(),
            Some(&self.a.local_tag),
        );
        r.push(HeaderName::Contact, self.a.contact.clone().into_bytes());
        carry(&mut r, response);
        r
    }

    fn leg(&self, side: Side) -> &Leg {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    fn leg_mut(&mut self, side: Side) -> &mut Leg {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }
}

enum ServerRole {
    /// A's INVITE that made the call.
    Invite(CallRef),
    /// An in-dialog request from `side`, relayed to the other.
    Relayed { side: Side, request: Message },
}

struct OutboundInvite {
    call: CallRef,
    request: Message,
    target: Target,
    authenticated: bool,
}

/// A's new INVITE, as the transaction layer handed it over.
#[derive(Clone, Debug)]
pub struct Caller {
    pub server: ServerId,
    pub invite: Message,
    pub from: Peer,
    /// `host:port` at which A reached us (our Contact on A's leg).
    pub local: String,
}

enum ClientRole {
    /// B's INVITE (kept for the ACK, the CANCEL and an authenticated retry).
    Invite(Box<OutboundInvite>),
    /// A request sent on leg `side`, answering `server` when it has answered.
    Relayed {
        call: CallRef,
        side: Side,
        server: Option<ServerId>,
        method: Method,
        seq: u32,
        had_body: bool,
    },
    /// A BYE of ours; its answer does not matter.
    Bye,
}

/// Headers carried from a request or answer on one leg to its copy on the other.
const CARRIED: &[&str] = &[
    "Session-Expires",
    "Min-SE",
    "Require",
    "Supported",
    "Reason",
    "Event",
    "Subscription-State",
    "Refer-To",
    "Content-Disposition",
    "Info-Package",
    "Recv-Info",
    "Allow",
    "Allow-Events",
    "Accept",
];

fn carry(to: &mut Message, from: &Message) {
    for name in CARRIED {
        let name = HeaderName::from_bytes(name.as_bytes());
        to.copy_from(from, &name);
    }
    carry_body(to, from);
}

/// Copies `from`'s body (if any) with its content type.
fn carry_body(to: &mut Message, from: &Message) {
    if !from.body().is_empty() {
        let ct = from
            .value(&HeaderName::ContentType)
            .unwrap_or("application/sdp")
            .to_string();
        to.set_body(&ct, from.body().clone());
    }
}

fn contact_value(local: &str, transport: Transport) -> String {
    match transport {
        Transport::Udp => format!("<sip:{local}>"),
        Transport::Tcp => format!("<sip:{local};transport=tcp>"),
    }
}

fn dialog_key(call_id: &str, local_tag: &str) -> (String, String) {
    (call_id.to_string(), local_tag.to_string())
}

fn to_tag(m: &Message) -> Option<String> {
    m.to_header().ok()?.tag().map(str::to_string)
}

fn from_tag(m: &Message) -> Option<String> {
    m.from_header().ok()?.tag().map(str::to_string)
}

/// Rewrites the session descriptions that cross the B2BUA: the shell anchors a call's media
/// in Hotline here (its own address and ports in place of each peer's).
pub trait BodyFilter: Send {
    /// `body` goes to the `toward` leg of `call` (from the other leg); the returned body is
    /// sent instead. `None` sends it unchanged.
    fn filter(&mut self, call: CallRef, toward: Side, body: &[u8]) -> Option<Vec<u8>>;
}

/// Passes `m`'s body (already carried) through the filter, if there is one.
fn filter_body(
    filter: &mut Option<Box<dyn BodyFilter>>,
    call: CallRef,
    toward: Side,
    m: &mut Message,
) {
    let Some(f) = filter.as_mut() else { return };
    if m.body().is_empty() {
        return;
    }
    if let Some(body) = f.filter(call, toward, m.body()) {
        let ct = m
            .value(&HeaderName::ContentType)
            .unwrap_or("application/sdp")
            .to_string();
        m.set_body(&ct, body);
    }
}

#[derive(Default)]
pub struct B2bua {
    filter: Option<Box<dyn BodyFilter>>,
    next: u64,
    rng: u64,
    calls: HashMap<CallRef, Call>,
    servers: HashMap<ServerId, ServerRole>,
    clients: HashMap<ClientId, ClientRole>,
    dialogs: HashMap<(String, String), (CallRef, Side)>,
    timers: BinaryHeap<Reverse<(Time, CallRef)>>,
    events: VecDeque<CallEvent>,
}

impl B2bua {
    pub fn new(seed: u64) -> B2bua {
        B2bua {
            rng: seed,
            ..B2bua::default()
        }
    }

    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Rewrites every session description that crosses (see [`BodyFilter`]).
    pub fn set_filter(&mut self, filter: Box<dyn BodyFilter>) {
        self.filter = Some(filter);
    }

    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Places the B leg for A's new INVITE (already through the transaction layer as
    /// `server`). `a_local` is the `host:port` A reached us at. Answers A itself when the
    /// INVITE cannot go on (483, 422), returning None.
    pub fn start(
        &mut self,
        tx: &mut Transactions,
        now: Time,
        caller: Caller,
        target: Target,
    ) -> Option<CallRef> {
        let Caller {
            server,
            invite,
            from,
            local: a_local,
        } = caller;
        let a_tag = tx.new_tag();
        let refuse = |tx: &mut Transactions, code: u16, extra: Option<(HeaderName, String)>| {
            let mut r = response_to(&invite, code, None, Some(&a_tag));
            if let Some((name, value)) = extra {
                r.push(name, value.into_bytes());
            }
            let _ = tx.respond(now, server, &r);
        };
        let max_forwards = invite.max_forwards().ok().flatten().unwrap_or(70);
        if max_forwards == 0 {
            refuse(tx, 483, None);
            return None;
        }
        if let Ok(Some(se)) = invite.session_expires() {
            if se.interval < MIN_SE {
                refuse(tx, 422, Some((HeaderName::MinSe, MIN_SE.to_string())));
                return None;
            }
        }
        let b_tag = tx.new_tag();
        let from_value = match &target.from {
            Some(f) => format!("{f};tag={b_tag}"),
            None => {
                let mut f = match invite.from_header() {
                    Ok(f) => f,
                    Err(_) => {
                        refuse(tx, 400, None);
                        return None;
                    }
                };
                f.params.set("tag", Some(&b_tag));
                f.to_string()
            }
        };
        let b_contact = contact_value(&target.local, target.peer.transport);
        let mut b = Message::request(Method::Invite, &target.uri);
        b.push(
            HeaderName::Via,
            tx.via(target.peer.transport, &target.local),
        )
        .push(
            HeaderName::MaxForwards,
            (max_forwards - 1).to_string().into_bytes(),
        )
        .push(HeaderName::From, from_value.into_bytes())
        .push(HeaderName::To, format!("<{}>", target.uri).into_bytes())
        .push(HeaderName::CallId, target.call_id.clone().into_bytes())
        .push(HeaderName::CSeq, &b"1 INVITE"[..])
        .push(HeaderName::Contact, b_contact.clone().into_bytes());
        b.copy_from(&invite, &HeaderName::PAssertedIdentity);
        carry(&mut b, &invite);
        let call = CallRef(self.next + 1);
        filter_body(&mut self.filter, call, Side::B, &mut b);
        let Ok(client) = tx.send_request(now, b.clone(), target.peer) else {
            refuse(tx, 500, None);
            return None;
        };
        self.next += 1;
        let a_call_id = invite.call_id().unwrap_or("").to_string();
        self.dialogs
            .insert(dialog_key(&a_call_id, &a_tag), (call, Side::A));
        self.dialogs
            .insert(dialog_key(&target.call_id, &b_tag), (call, Side::B));
        self.servers.insert(server, ServerRole::Invite(call));
        self.clients.insert(
            client,
            ClientRole::Invite(Box::new(OutboundInvite {
                call,
                request: b,
                target: target.clone(),
                authenticated: false,
            })),
        );
        self.calls.insert(
            call,
            Call {
                state: State::Calling,
                a_invite: invite,
                a_server: server,
                a_final: false,
                b_client: Some(client),
                a: Leg {
                    dialog: None,
                    peer: from,
                    call_id: a_call_id,
                    local_tag: a_tag,
                    contact: contact_value(&a_local, from.transport),
                    local: a_local,
                    last_ack: None,
                },
                b: Leg {
                    dialog: None,
                    peer: target.peer,
                    call_id: target.call_id,
                    local_tag: b_tag,
                    local: target.local.clone(),
                    contact: b_contact,
                    last_ack: None,
                },
                deferred_ack: None,
                session_check: None,
            },
        );
        Some(call)
    }

    /// Ends a call from our side (an agent or supervisor hung up, a session expired): BYE on
    /// confirmed legs, 480 to an unanswered A and CANCEL to B.
    pub fn hangup(&mut self, tx: &mut Transactions, now: Time, call: CallRef) {
        self.finish(tx, now, call, None, 480);
    }

    /// Ends an answered call's A leg (BYE) and hands its B leg over to the shell, which
    /// carries it on in another call (an attended transfer: the phone on A consulted the
    /// party on B and now puts its other caller through to them, RFC 5589 §7). The call is
    /// the one whose A dialog has Call-ID `call_id`, our tag `local_tag` and A's tag
    /// `remote_tag` (a Replaces' call-id, to-tag and from-tag as A sent them). None, and
    /// nothing changes, unless both legs of that call are confirmed. The call ends for the
    /// core ([`CallEvent::Ended`], by us); B's dialog is no longer the core's.
    pub fn hand_over_b(
        &mut self,
        tx: &mut Transactions,
        now: Time,
        call_id: &str,
        local_tag: &str,
        remote_tag: &str,
    ) -> Option<HandedOver> {
        let &(call, side) = self.dialogs.get(&dialog_key(call_id, local_tag))?;
        let c = self.calls.get(&call)?;
        let confirmed = |d: &Option<Dialog>| {
            d.as_ref()
                .is_some_and(|d| d.state == DialogState::Confirmed)
        };
        let a_matches =
            c.a.dialog
                .as_ref()
                .is_some_and(|d| d.remote_tag == remote_tag);
        if side != Side::A
            || c.state != State::Answered
            || !a_matches
            || !confirmed(&c.a.dialog)
            || !confirmed(&c.b.dialog)
        {
            return None;
        }
        self.send_bye(tx, now, call, Side::A);
        let c = self.calls.remove(&call)?;
        self.dialogs
            .remove(&dialog_key(&c.a.call_id, &c.a.local_tag));
        self.dialogs
            .remove(&dialog_key(&c.b.call_id, &c.b.local_tag));
        self.events.push_back(CallEvent::Ended {
            call,
            code: 200,
            by: None,
        });
        Some(HandedOver {
            call,
            dialog: c.b.dialog?,
            peer: c.b.peer,
            local: c.b.local,
        })
    }

    /// Feeds one transaction event; returns it when it is not about a call.
    pub fn handle(&mut self, tx: &mut Transactions, now: Time, event: TxEvent) -> Option<TxEvent> {
        match event {
            TxEvent::Request {
                server,
                request,
                from,
            } => {
                let Some(tag) = to_tag(&request) else {
                    return Some(TxEvent::Request {
                        server,
                        request,
                        from,
                    });
                };
                let key = dialog_key(request.call_id().unwrap_or(""), &tag);
                match self.dialogs.get(&key).copied() {
                    Some((call, side)) => {
                        self.in_dialog(tx, now, call, side, server, request);
                        None
                    }
                    None => Some(TxEvent::Request {
                        server,
                        request,
                        from,
                    }),
                }
            }
            TxEvent::Ack {
                server,
                request,
                from,
            } => {
                let key =
                    to_tag(&request).map(|tag| dialog_key(request.call_id().unwrap_or(""), &tag));
                match key.and_then(|k| self.dialogs.get(&k).copied()) {
                    Some((call, side)) => {
                        self.on_ack(tx, call, side, &request);
                        None
                    }
                    None => Some(TxEvent::Ack {
                        server,
                        request,
                        from,
                    }),
                }
            }
            TxEvent::Cancelled { invite } => match self.servers.get(&invite) {
                Some(ServerRole::Invite(call)) => {
                    let call = *call;
                    self.finish(tx, now, call, Some(Side::A), 487);
                    None
                }
                Some(ServerRole::Relayed { request, .. }) => {
                    let r = response_to(request, 487, None, None);
                    let _ = tx.respond(now, invite, &r);
                    None
                }
                None => Some(TxEvent::Cancelled { invite }),
            },
            TxEvent::Response {
                client,
                response,
                from,
            } => {
                if !self.clients.contains_key(&client) {
                    return Some(TxEvent::Response {
                        client,
                        response,
                        from,
                    });
                }
                self.on_response(tx, now, client, response);
                None
            }
            TxEvent::Timeout { client } => {
                if !self.clients.contains_key(&client) {
                    return Some(TxEvent::Timeout { client });
                }
                let request = match self.clients.get(&client) {
                    Some(ClientRole::Invite(o)) => Some(o.request.clone()),
                    _ => None,
                };
                // Act as on a 408 (§8.1.3.1).
                let mut timeout = Message::response(408, None);
                if let Some(r) = request {
                    timeout = response_to(&r, 408, None, None);
                }
                self.on_response(tx, now, client, timeout);
                None
            }
            TxEvent::AckTimeout { server } => match self.servers.get(&server) {
                Some(ServerRole::Invite(call)) => {
                    // §13.3.1.4: a 2xx never ACKed ends the session.
                    let call = *call;
                    self.finish(tx, now, call, None, 408);
                    None
                }
                Some(_) => None,
                None => Some(TxEvent::AckTimeout { server }),
            },
            TxEvent::ClientDone { client } => match self.clients.remove(&client) {
                Some(_) => None,
                None => Some(TxEvent::ClientDone { client }),
            },
            TxEvent::ServerDone { server } => match self.servers.remove(&server) {
                Some(_) => None,
                None => Some(TxEvent::ServerDone { server }),
            },
            TxEvent::StrayResponse { response, from } => {
                // A 2xx to B's INVITE after its transaction ended: our ACK was lost.
                let key = from_tag(&response)
                    .map(|tag| dialog_key(response.call_id().unwrap_or(""), &tag));
                let found = key.and_then(|k| self.dialogs.get(&k).copied());
                match found {
                    Some((call, side)) => {
                        if let Some(leg) = self.calls.get(&call).map(|c| c.leg(side)) {
                            if let Some(ack) = &leg.last_ack {
                                tx.transmit(leg.peer, ack);
                            }
                        }
                        None
                    }
                    None => Some(TxEvent::StrayResponse { response, from }),
                }
            }
        }
    }

    fn send_on(
        &mut self,
        tx: &mut Transactions,
        now: Time,
        call: CallRef,
        side: Side,
        method: Method,
        carrying: Option<&Message>,
    ) -> Option<(ClientId, u32)> {
        let c = self.calls.get_mut(&call)?;
        let leg = c.leg_mut(side);
        let peer = leg.peer;
        let dialog = leg.dialog.as_mut()?;
        let mut m = dialog.request(method);
        if let Some(from) = carrying {
            carry(&mut m, from);
            filter_body(&mut self.filter, call, side, &mut m);
        }
        m.push_front(HeaderName::Via, tx.via(peer.transport, &leg.local));
        let seq = dialog.local_seq;
        let id = tx.send_request(now, m, peer).ok()?;
        Some((id, seq))
    }

    fn send_bye(&mut self, tx: &mut Transactions, now: Time, call: CallRef, side: Side) {
        let confirmed = self
            .calls
            .get(&call)
            .and_then(|c| c.leg(side).dialog.as_ref())
            .is_some_and(|d| d.state == DialogState::Confirmed);
        if confirmed {
            if let Some((id, _)) = self.send_on(tx, now, call, side, Method::Bye, None) {
                self.clients.insert(id, ClientRole::Bye);
            }
        }
    }

    /// Ends the call: `by` is the side whose request ended it (its BYE or CANCEL is answered
    /// by the caller), `code` what an unanswered A hears.
    fn finish(
        &mut self,
        tx: &mut Transactions,
        now: Time,
        call: CallRef,
        by: Option<Side>,
        code: u16,
    ) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let answered = c.state == State::Answered;
        if !c.a_final {
            let r = response_to(&c.a_invite, code, None, Some(&c.a.local_tag));
            let _ = tx.respond(now, c.a_server, &r);
        }
        if !answered {
            if let Some(b) = c.b_client {
                let _ = tx.cancel(now, b);
            }
        }
        for side in [Side::A, Side::B] {
            if Some(side) != by {
                self.send_bye(tx, now, call, side);
            }
        }
        self.remove(call);
        self.events.push_back(CallEvent::Ended {
            call,
            code: if answered { 200 } else { code },
            by,
        });
    }

    fn remove(&mut self, call: CallRef) {
        if let Some(c) = self.calls.remove(&call) {
            self.dialogs
                .remove(&dialog_key(&c.a.call_id, &c.a.local_tag));
            self.dialogs
                .remove(&dialog_key(&c.b.call_id, &c.b.local_tag));
        }
    }

    fn in_dialog(
        &mut self,
        tx: &mut Transactions,
        now: Time,
        call: CallRef,
        side: Side,
        server: ServerId,
        request: Message,
    ) {
        let answer = |tx: &mut Transactions, code: u16, retry: Option<u32>| {
            let mut r = response_to(&request, code, None, None);
            if let Some(s) = retry {
                r.push(HeaderName::RetryAfter, s.to_string().into_bytes());
            }
            let _ = tx.respond(now, server, &r);
        };
        let Some(c) = self.calls.get_mut(&call) else {
            answer(tx, 481, None);
            return;
        };
        let Some(dialog) = c.leg_mut(side).dialog.as_mut() else {
            answer(tx, 481, None);
            return;
        };
        if !dialog.matches_request(&request) {
            answer(tx, 481, None);
            return;
        }
        if let Err(refusal) = dialog.on_request(&request) {
            answer(tx, refusal.code, refusal.retry_after);
            return;
        }
        let method = request.method().cloned().unwrap_or(Method::Bye);
        if method == Method::Bye {
            answer(tx, 200, None);
            let code = if c.state == State::Answered { 200 } else { 487 };
            // §15.1.2: a BYE in an early dialog ends the INVITE with 487.
            self.finish(tx, now, call, Some(side), code);
            return;
        }
        let other = side.other();
        let other_ready = c
            .leg(other)
            .dialog
            .as_ref()
            .is_some_and(|d| d.state != DialogState::Terminated);
        if !other_ready {
            answer(tx, 481, None);
            return;
        }
        let Some((client, seq)) =
            self.send_on(tx, now, call, other, method.clone(), Some(&request))
        else {
            answer(tx, 500, None);
            return;
        };
        self.clients.insert(
            client,
            ClientRole::Relayed {
                call,
                side: other,
                server: Some(server),
                method,
                seq,
                had_body: !request.body().is_empty(),
            },
        );
        self.servers
            .insert(server, ServerRole::Relayed { side, request });
    }

    fn on_ack(&mut self, tx: &mut Transactions, call: CallRef, side: Side, ack: &Message) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some((leg, seq)) = c.deferred_ack else {
            return;
        };
        if leg != side.other() {
            return;
        }
        c.deferred_ack = None;
        let filter = &mut self.filter;
        Self::send_ack(tx, c.leg_mut(leg), seq, |a| {
            carry_body(a, ack);
            filter_body(filter, call, leg, a);
        });
    }

    /// ACKs a 2xx on `leg`; `body` adds what the ACK carries (a late offer's answer).
    fn send_ack(tx: &mut Transactions, leg: &mut Leg, seq: u32, body: impl FnOnce(&mut Message)) {
        let Some(dialog) = &leg.dialog else {
            return;
        };
        let mut ack = dialog.ack(seq);
        ack.push_front(HeaderName::Via, tx.via(leg.peer.transport, &leg.local));
        body(&mut ack);
        tx.transmit(leg.peer, &ack);
        leg.last_ack = Some(ack);
    }

    fn on_response(
        &mut self,
        tx: &mut Transactions,
        now: Time,
        client: ClientId,
        response: Message,
    ) {
        let code = response.status().unwrap_or(500);
        match self.clients.get(&client) {
            Some(ClientRole::Invite(_)) => {
                // Taken out while it is worked on (no copy of the INVITE per answer), put back
                // unless an authenticated retry took its place.
                let Some(ClientRole::Invite(o)) = self.clients.remove(&client) else {
                    return;
                };
                if self.on_invite_response(tx, now, &o, response, code) {
                    self.clients.insert(client, ClientRole::Invite(o));
                }
            }
            Some(ClientRole::Relayed {
                call,
                side,
                server,
                method,
                seq,
                had_body,
            }) => {
                if code < 200 {
                    return;
                }
                let (call, side, server, method, seq, had_body) =
                    (*call, *side, *server, method.clone(), *seq, *had_body);
                let jitter = self.random();
                let Some(c) = self.calls.get_mut(&call) else {
                    return;
                };
                let mut outcome = ResponseOutcome::Fine;
                if let Some(d) = c.leg_mut(side).dialog.as_mut() {
                    outcome = d.on_response(&method, seq, code, jitter);
                }
                let refresh =
                    (200..300).contains(&code) && matches!(method, Method::Invite | Method::Update);
                if refresh {
                    for s in [Side::A, Side::B] {
                        if let Some(d) = c.leg_mut(s).dialog.as_mut() {
                            d.refreshed(now);
                        }
                    }
                }
                if method == Method::Invite && (200..300).contains(&code) {
                    if had_body {
                        Self::send_ack(tx, c.leg_mut(side), seq, |_| {});
                    } else {
                        c.deferred_ack = Some((side, seq));
                    }
                }
                if let Some(server) = server {
                    if let Some(ServerRole::Relayed {
                        request,
                        side: from_side,
                        ..
                    }) = self.servers.get(&server)
                    {
                        let from_side = *from_side;
                        let mut r = response_to(request, code, response.reason_phrase(), None);
                        carry(&mut r, &response);
                        filter_body(&mut self.filter, call, from_side, &mut r);
                        if refresh {
                            r.push(
                                HeaderName::Contact,
                                c.leg(from_side).contact.clone().into_bytes(),
                            );
                        }
                        let req_seq = request.cseq().map(|c| c.seq).unwrap_or(0);
                        if let Some(d) = c.leg_mut(from_side).dialog.as_mut() {
                            d.answered(req_seq, code);
                        }
                        let _ = tx.respond(now, server, &r);
                    }
                }
                self.schedule_session(call);
                if outcome == ResponseOutcome::Terminated {
                    self.finish(tx, now, call, None, 408);
                }
            }
            Some(ClientRole::Bye) | None => {}
        }
    }

    /// B's answer to our INVITE `o`; false when `o` was replaced (an authenticated retry).
    fn on_invite_response(
        &mut self,
        tx: &mut Transactions,
        now: Time,
        o: &OutboundInvite,
        response: Message,
        code: u16,
    ) -> bool {
        let (call, request, target) = (o.call, &o.request, &o.target);
        let Some(c) = self.calls.get_mut(&call) else {
            // The call is gone (A cancelled): a crossing 2xx is ACKed and ended.
            if (200..300).contains(&code) {
                self.end_stray_fork(tx, now, request, &response, target);
            }
            return true;
        };
        match code {
            100 => {}
            101..=199 => {
                if to_tag(&response).is_none() {
                    return true;
                }
                if c.b.dialog.is_none() {
                    c.b.dialog = Dialog::uac(request, &response).ok();
                }
                if c.a_final {
                    return true;
                }
                let mut r = c.relay_to_a((self.rng as u32) & 0xffff, code, &response);
                filter_body(&mut self.filter, call, Side::A, &mut r);
                let _ = tx.respond(now, c.a_server, &r);
                c.state = State::Early;
                if code == 180 || code == 183 {
                    self.events.push_back(CallEvent::Progress { call, code });
                }
            }
            200..=299 => {
                let tag = to_tag(&response);
                let same_fork =
                    c.b.dialog
                        .as_ref()
                        .is_none_or(|d| Some(&d.remote_tag) == tag.as_ref());
                if c.state == State::Answered || !same_fork {
                    if same_fork {
                        // A retransmitted 2xx: the same ACK again.
                        if let Some(ack) = &c.b.last_ack {
                            tx.transmit(c.b.peer, ack);
                        }
                    } else {
                        // A second fork answered: ACK it and end it.
                        self.end_stray_fork(tx, now, request, &response, target);
                    }
                    return true;
                }
                match c.b.dialog.as_mut() {
                    Some(d) => d.on_invite_response(&response),
                    None => c.b.dialog = Dialog::uac(request, &response).ok(),
                }
                if let Some(d) = c.b.dialog.as_mut() {
                    d.apply_session(&response, now);
                }
                let seq = request.cseq().map(|c| c.seq).unwrap_or(1);
                if c.a_invite.body().is_empty() {
                    c.deferred_ack = Some((Side::B, seq));
                } else {
                    Self::send_ack(tx, &mut c.b, seq, |_| {});
                }
                let mut r = c.relay_to_a((self.rng as u32) & 0xffff, code, &response);
                filter_body(&mut self.filter, call, Side::A, &mut r);
                if response.session_expires().ok().flatten().is_none() {
                    // B runs no timer; a caller that asked for one refreshes it itself.
                    let asked = c.a_invite.session_expires().ok().flatten();
                    let supports = c
                        .a_invite
                        .option_tags(HeaderName::Supported)
                        .is_ok_and(|t| t.iter().any(|t| t.eq_ignore_ascii_case("timer")));
                    if let (Some(se), true) = (asked, supports) {
                        r.set(
                            HeaderName::SessionExpires,
                            format!("{};refresher=uac", se.interval).into_bytes(),
                        );
                        r.push(HeaderName::Require, &b"timer"[..]);
                    }
                }
                let a_seq = c.a_invite.cseq().map(|c| c.seq).unwrap_or(1);
                if let Some(d) = c.a.dialog.as_mut() {
                    d.answered(a_seq, code);
                    d.apply_session(&r, now);
                }
                let _ = tx.respond(now, c.a_server, &r);
                c.a_final = true;
                c.state = State::Answered;
                c.b_client = None;
                self.events.push_back(CallEvent::Answered { call });
                self.schedule_session(call);
            }
            _ => {
                if (code == 401 || code == 407) && !o.authenticated {
                    if let Some(creds) = &target.credentials {
                        if self
                            .retry_authenticated(tx, now, call, request, &response, target, creds)
                        {
                            return false;
                        }
                    }
                }
                let Some(c) = self.calls.get_mut(&call) else {
                    return true;
                };
                if let Some(d) = c.b.dialog.as_mut() {
                    d.on_invite_response(&response);
                }
                // What A hears: B's answer, except what only concerns our hop (its
                // challenge, its redirections).
                let relay = match code {
                    401 | 407 => 403,
                    300..=399 => 480,
                    _ => code,
                };
                c.b_client = None;
                if !c.a_final {
                    let mut r = response_to(&c.a_invite, relay, None, Some(&c.a.local_tag));
                    if relay == code {
                        r.copy_from(&response, &HeaderName::RetryAfter);
                        r.copy_from(&response, &HeaderName::Reason);
                    }
                    let _ = tx.respond(now, c.a_server, &r);
                    c.a_final = true;
                }
                self.remove(call);
                self.events.push_back(CallEvent::Ended {
                    call,
                    code: relay,
                    by: Some(Side::B),
                });
            }
        }
        true
    }

    fn end_stray_fork(
        &mut self,
        tx: &mut Transactions,
        now: Time,
        request: &Message,
        response: &Message,
        target: &Target,
    ) {
        let Ok(mut d) = Dialog::uac(request, response) else {
            return;
        };
        let mut ack = d.ack(request.cseq().map(|c| c.seq).unwrap_or(1));
        ack.push_front(
            HeaderName::Via,
            tx.via(target.peer.transport, &target.local),
        );
        tx.transmit(target.peer, &ack);
        let mut bye = d.request(Method::Bye);
        bye.push_front(
            HeaderName::Via,
            tx.via(target.peer.transport, &target.local),
        );
        if let Ok(id) = tx.send_request(now, bye, target.peer) {
            self.clients.insert(id, ClientRole::Bye);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn retry_authenticated(
        &mut self,
        tx: &mut Transactions,
        now: Time,
        call: CallRef,
        request: &Message,
        response: &Message,
        target: &Target,
        creds: &Credentials,
    ) -> bool {
        let cnonce = format!("{:016x}", self.random());
        let Some((name, value)) = crate::digest::answer_challenge(
            response,
            "INVITE",
            &target.uri,
            &creds.username,
            &creds.password,
            &cnonce,
        ) else {
            return false;
        };
        let mut again = request.clone();
        let seq = request.cseq().map(|c| c.seq).unwrap_or(1) + 1;
        again.set(HeaderName::CSeq, format!("{seq} INVITE").into_bytes());
        again.remove_first(&HeaderName::Via);
        again.push_front(
            HeaderName::Via,
            tx.via(target.peer.transport, &target.local),
        );
        again.push(name, value.into_bytes());
        let Ok(id) = tx.send_request(now, again.clone(), target.peer) else {
            return false;
        };
        self.clients.insert(
            id,
            ClientRole::Invite(Box::new(OutboundInvite {
                call,
                request: again,
                target: target.clone(),
                authenticated: true,
            })),
        );
        if let Some(c) = self.calls.get_mut(&call) {
            c.b_client = Some(id);
        }
        true
    }

    fn schedule_session(&mut self, call: CallRef) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let at = [&c.a, &c.b]
            .iter()
            .filter_map(|l| l.dialog.as_ref()?.session.map(|s| s.expiry()))
            .min();
        c.session_check = at;
        if let Some(at) = at {
            self.timers.push(Reverse((at, call)));
        }
    }

    pub fn poll_timeout(&mut self) -> Option<Time> {
        while let Some(Reverse((at, call))) = self.timers.peek().copied() {
            if self.calls.get(&call).and_then(|c| c.session_check) == Some(at) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// Ends the calls whose session was not refreshed in time (RFC 4028 §10).
    pub fn handle_timeout(&mut self, tx: &mut Transactions, now: Time) {
        while let Some(Reverse((at, call))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            if self.calls.get(&call).and_then(|c| c.session_check) == Some(at) {
                self.finish(tx, now, call, None, 408);
            }
        }
    }
}
