//! Legs the shard places itself toward agents' phones (a queued caller offered to an agent):
//! the INVITE with Hotline's own offer, its answers, CANCEL while it rings, BYE either way,
//! and in-dialog requests from the phone. The call task that asked for the leg hears what
//! happens as [`LegNote`]s; it owns the media.
//!
//! A leg's Call-ID starts `hl<shard>-`, so every answer and request of it comes back to the
//! shard that placed it, the same shard that holds the caller's own dialog.

use std::net::SocketAddr;

use hotline_media::sdp::{Direction, LocalMedia};
use hotline_sip::dialog::{Dialog, DialogState};
use hotline_sip::response::response_to;
use hotline_sip::transaction::{ClientId, Peer, Transport};
use hotline_sip::{HeaderName, Message, Method};
use tokio::sync::mpsc;

use super::Shard;

/// What call tasks ask of the shard that owns their call.
#[derive(Debug)]
pub enum ShardCommand {
    /// Ring a phone registered for an extension.
    Ring(RingRequest),
    /// Stop ringing (CANCEL) or hang up (BYE) a leg placed by `Ring`.
    Drop { leg: u64 },
    /// Hang up a call Hotline answered itself (BYE to the caller) now.
    HangUp { call_id: String },
    /// Tell the phone that sent REFER on `leg` how its transfer went (RFC 3515 NOTIFY with a
    /// sipfrag of `code`; the subscription ends with it).
    ReferOutcome { leg: u64, code: u16 },
    /// Take over the far leg of the phone-to-phone call a Replaces names (an agent's phone
    /// consulted someone through Hotline and now puts its caller through to them).
    Adopt(AdoptRequest),
}

impl ShardCommand {
    /// The leg a command is about (None for one about a whole call).
    pub fn leg(&self) -> Option<u64> {
        match self {
            ShardCommand::Ring(r) => Some(r.leg),
            ShardCommand::Adopt(r) => Some(r.leg),
            ShardCommand::Drop { leg } | ShardCommand::ReferOutcome { leg, .. } => Some(*leg),
            ShardCommand::HangUp { .. } => None,
        }
    }
}

/// Take over the B leg of the B2BUA call whose A dialog `replaces` names, as leg `leg`:
/// that call's A leg (the consulting phone) is hung up, its media bridge stopped, and the B
/// leg is offered `local` in a re-INVITE. Its answer comes as [`LegNote::Answered`], a
/// failure as [`LegNote::Failed`] (481 when there is no such call); afterwards it is a
/// leg like a rung one. Sent to the shard that holds that call (by the Replaces' Call-ID).
#[derive(Debug)]
pub struct AdoptRequest {
    pub leg: u64,
    pub replaces: hotline_sip::refer::Replaces,
    pub local: LocalMedia,
    pub notes: mpsc::UnboundedSender<(u64, LegNote)>,
}

/// Ring the phone(s) registered for `extension` with our SDP offer.
#[derive(Debug)]
pub struct RingRequest {
    /// Chosen by the caller; names the leg in `Drop`.
    pub leg: u64,
    pub tenant_id: i64,
    pub callee: Callee,
    /// Shown on the phone: the customer's number and name when known.
    pub caller_number: String,
    pub caller_name: Option<String>,
    /// Our side of the media: the offer is made from it, later offers answered from it.
    pub local: LocalMedia,
    pub notes: mpsc::UnboundedSender<(u64, LegNote)>,
}

/// Whom a leg rings.
#[derive(Debug, Clone)]
pub enum Callee {
    /// The phone(s) registered for an agent's extension.
    Extension(String),
    /// A number out through the tenant's trunk for it (outbound routes).
    Number(String),
}

/// What happened to a leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegNote {
    /// The phone rings (the first 180/183).
    Ringing,
    /// The phone answered with this SDP.
    Answered { sdp: Vec<u8> },
    /// The leg failed before an answer: the SIP code (480 when no phone is registered, 408
    /// when nothing answered in time, 487 after our CANCEL).
    Failed { code: u16 },
    /// The phone hung up.
    HungUp,
    /// The phone put the call on hold (`true`) or took it off (`false`).
    Hold(bool),
    /// The phone asks to transfer the call (REFER) to `target` (the Refer-To's user part),
    /// blind, or attended when it names the dialog of its consultation (`replaces`, RFC
    /// 3891); answer with [`ShardCommand::ReferOutcome`].
    Refer {
        target: String,
        replaces: Option<hotline_sip::refer::Replaces>,
    },
}

pub(super) struct OutLeg {
    leg: u64,
    invite: Message,
    client: Option<ClientId>,
    dialog: Option<Dialog>,
    peer: Peer,
    local: String,
    media: LocalMedia,
    held: bool,
    notes: mpsc::UnboundedSender<(u64, LegNote)>,
    /// The trunk's credentials, for one answer to its challenge.
    credentials: Option<hotline_sip::b2bua::Credentials>,
    challenged: bool,
    /// A drop came before any final answer: a 2xx that still arrives is ACKed and hung up.
    dropped: bool,
    ringing_said: bool,
    /// A re-INVITE of ours (the offer of an adopted leg) waits for its answer.
    reoffer: bool,
}

/// Our INVITE's Allow and SDP offer (from `local`).
fn with_offer(invite: &mut Message, local: &LocalMedia) {
    invite.push(
        HeaderName::Allow,
        &b"INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO"[..],
    );
    invite.set_body(
        "application/sdp",
        hotline_media::sdp::offer(local).into_bytes(),
    );
}

/// Characters a display name cannot carry inside quotes.
fn display(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '"' | '\\' | '\r' | '\n'))
        .take(64)
        .collect()
}

fn user_part(number: &str) -> String {
    let n: String = number
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_'))
        .take(32)
        .collect();
    if n.is_empty() {
        "anonymous".into()
    } else {
        n
    }
}

impl Shard {
    pub(super) fn on_command(&mut self, command: ShardCommand) {
        match command {
            ShardCommand::Ring(r) => self.ring(r),
            ShardCommand::Drop { leg } => self.drop_leg(leg),
            ShardCommand::HangUp { call_id } => self.hang_up_local(&call_id, "hung up by Hotline"),
            ShardCommand::ReferOutcome { leg, code } => self.refer_outcome(leg, code),
            ShardCommand::Adopt(r) => self.adopt(r),
        }
    }

    fn adopt(&mut self, r: AdoptRequest) {
        let now = self.now();
        let x = &r.replaces;
        let taken = self
            .b2b
            .hand_over_b(&mut self.tx, now, &x.call_id, &x.to_tag, &x.from_tag);
        let Some(mut b) = taken else {
            tracing::info!(
                leg = r.leg,
                "a transfer names no call of this shard to take over"
            );
            self.shared.leg_left(r.leg);
            let _ = r.notes.send((r.leg, LegNote::Failed { code: 481 }));
            return;
        };
        // The consultation's media bridge stops with the call's `Ended` event, handled right
        // after this command like every B2BUA event.
        let mut invite = b.dialog.request(Method::Invite);
        invite.push_front(HeaderName::Via, self.tx.via(b.peer.transport, &b.local));
        with_offer(&mut invite, &r.local);
        let call_id = b.dialog.call_id.clone();
        let client = match self.tx.send_request(now, invite.clone(), b.peer) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "an adopted leg's offer could not be sent");
                None
            }
        };
        tracing::info!(
            leg = r.leg,
            call = b.call.0,
            "a consultation's far leg taken over"
        );
        if let Some(c) = client {
            self.leg_clients.insert(c, call_id.clone());
        }
        self.leg_calls.insert(r.leg, call_id.clone());
        self.out_legs.insert(
            call_id.clone(),
            OutLeg {
                leg: r.leg,
                invite,
                client,
                dialog: Some(b.dialog),
                peer: b.peer,
                local: b.local,
                media: r.local,
                held: false,
                notes: r.notes,
                dropped: false,
                ringing_said: true,
                credentials: None,
                challenged: false,
                reoffer: true,
            },
        );
        if client.is_none() {
            if let Some(l) = self.out_legs.get(&call_id) {
                let _ = l.notes.send((l.leg, LegNote::Failed { code: 500 }));
            }
            self.bye_leg(&call_id);
        }
    }

    fn ring(&mut self, r: RingRequest) {
        let Some((uri, transport, addr, credentials)) = self.callee_target(&r) else {
            let _ = r.notes.send((r.leg, LegNote::Failed { code: 480 }));
            return;
        };
        let peer = Peer {
            transport,
            addr,
            connection: None,
        };
        let local = self.local_for(addr);
        let call_id = format!(
            "hl{}-{}{}",
            self.index,
            self.tx.new_tag(),
            self.tx.new_tag()
        );
        let tag = self.tx.new_tag();
        let caller_user = match (&r.callee, &credentials) {
            // A carrier sees the tenant's account, not the agent's extension.
            (Callee::Number(_), Some(c)) => c.username.clone(),
            _ => r.caller_number.clone(),
        };
        let from = match r.caller_name.as_deref().map(display) {
            Some(name) if !name.is_empty() => format!(
                "\"{name}\" <sip:{}@{local}>;tag={tag}",
                user_part(&caller_user)
            ),
            _ => format!("<sip:{}@{local}>;tag={tag}", user_part(&caller_user)),
        };
        let contact = match transport {
            Transport::Udp => format!("<sip:hotline@{local}>"),
            Transport::Tcp => format!("<sip:hotline@{local};transport=tcp>"),
        };
        let mut invite = Message::request(Method::Invite, &uri);
        invite
            .push(HeaderName::Via, self.tx.via(transport, &local))
            .push(HeaderName::MaxForwards, &b"70"[..])
            .push(HeaderName::From, from.into_bytes())
            .push(HeaderName::To, format!("<{uri}>").into_bytes())
            .push(HeaderName::CallId, call_id.clone().into_bytes())
            .push(HeaderName::CSeq, &b"1 INVITE"[..])
            .push(HeaderName::Contact, contact.into_bytes());
        with_offer(&mut invite, &r.local);
        let now = self.now();
        let client = match self.tx.send_request(now, invite.clone(), peer) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "an agent's leg could not be sent");
                let _ = r.notes.send((r.leg, LegNote::Failed { code: 500 }));
                return;
            }
        };
        tracing::info!(leg = r.leg, "ringing an agent's phone");
        self.leg_clients.insert(client, call_id.clone());
        self.leg_calls.insert(r.leg, call_id.clone());
        self.out_legs.insert(
            call_id,
            OutLeg {
                leg: r.leg,
                invite,
                client: Some(client),
                dialog: None,
                peer,
                local,
                media: r.local,
                held: false,
                notes: r.notes,
                dropped: false,
                ringing_said: false,
                credentials,
                challenged: false,
                reoffer: false,
            },
        );
    }

    /// Where a leg goes: the request URI, transport and address, and credentials for a
    /// trunk's challenge.
    #[allow(clippy::type_complexity)]
    fn callee_target(
        &mut self,
        r: &RingRequest,
    ) -> Option<(
        String,
        Transport,
        SocketAddr,
        Option<hotline_sip::b2bua::Credentials>,
    )> {
        match &r.callee {
            Callee::Extension(ext) => {
                let found = self
                    .registered_phone(r.tenant_id, ext)
                    .map(|(contact, peer)| {
                        let uri = hotline_sip::NameAddr::parse(&contact)
                            .map(|na| na.uri.to_string())
                            .unwrap_or(contact);
                        (uri, peer.transport, peer.addr, None)
                    });
                if found.is_none() {
                    tracing::info!(leg = r.leg, "no phone registered for the agent");
                }
                found
            }
            Callee::Number(number) => {
                self.refresh_plan();
                let plan = self.plan.clone();
                let Some((trunk, number)) = plan.route_out(r.tenant_id, number) else {
                    tracing::info!(leg = r.leg, "no outbound route for a number");
                    return None;
                };
                let t = plan.trunks.get(trunk)?;
                let host = match t.addr.ip() {
                    std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                    std::net::IpAddr::V4(ip) => ip.to_string(),
                };
                let mut uri = format!("sip:{}@{host}:{}", user_part(&number), t.addr.port());
                if t.transport == Transport::Tcp {
                    uri.push_str(";transport=tcp");
                }
                Some((uri, t.transport, t.addr, t.credentials.clone()))
            }
        }
    }

    /// Answers a trunk's 401/407 to a leg's INVITE once, with its credentials.
    fn answer_challenge(&mut self, call_id: &str, response: &Message) -> bool {
        let now = self.now();
        let Some(l) = self.out_legs.get_mut(call_id) else {
            return false;
        };
        let Some(creds) = l.credentials.clone().filter(|_| !l.challenged) else {
            return false;
        };
        let uri = l.invite.request_uri().unwrap_or_default().to_string();
        let cnonce = format!("{:016x}", crate::shard::random_seed());
        let Some((name, value)) = hotline_sip::digest::answer_challenge(
            response,
            "INVITE",
            &uri,
            &creds.username,
            &creds.password,
            &cnonce,
        ) else {
            return false;
        };
        let mut again = l.invite.clone();
        let seq = l.invite.cseq().map(|c| c.seq).unwrap_or(1) + 1;
        again.set(HeaderName::CSeq, format!("{seq} INVITE").into_bytes());
        again.remove_first(&HeaderName::Via);
        again.push_front(HeaderName::Via, self.tx.via(l.peer.transport, &l.local));
        again.push(name, value.into_bytes());
        let Ok(client) = self.tx.send_request(now, again.clone(), l.peer) else {
            return false;
        };
        l.challenged = true;
        l.invite = again;
        if let Some(old) = l.client.replace(client) {
            self.leg_clients.remove(&old);
        }
        self.leg_clients.insert(client, call_id.to_string());
        true
    }

    /// An answer to a leg's INVITE (`true` when it was one).
    pub(super) fn leg_response(&mut self, client: ClientId, response: &Message) -> bool {
        let Some(call_id) = self.leg_clients.get(&client).cloned() else {
            return false;
        };
        let code = response.status().unwrap_or(0);
        if matches!(code, 401 | 407)
            && self.out_legs.get(&call_id).is_some_and(|l| !l.dropped)
            && self.answer_challenge(&call_id, response)
        {
            return true;
        }
        let Some(leg) = self.out_legs.get_mut(&call_id) else {
            return true;
        };
        match code {
            101..=199 if !leg.ringing_said && !leg.dropped => {
                leg.ringing_said = true;
                let _ = leg.notes.send((leg.leg, LegNote::Ringing));
            }
            200..=299 => {
                let seq = leg.invite.cseq().map(|c| c.seq).unwrap_or(1);
                if leg.reoffer {
                    // The answer to an adopted leg's re-INVITE (retransmissions are ACKed
                    // below, told once).
                    leg.reoffer = false;
                    if let Some(d) = leg.dialog.as_mut() {
                        d.on_response(&Method::Invite, seq, code, 0);
                    }
                    if !leg.dropped {
                        let _ = leg.notes.send((
                            leg.leg,
                            LegNote::Answered {
                                sdp: response.body().to_vec(),
                            },
                        ));
                    }
                } else if leg.dialog.is_none() {
                    match Dialog::uac(&leg.invite, response) {
                        Ok(d) => leg.dialog = Some(d),
                        Err(e) => {
                            tracing::warn!(error = %e, "an agent's phone answered unreadably");
                            return true;
                        }
                    }
                    if !leg.dropped {
                        tracing::info!(leg = leg.leg, "an agent's phone answered");
                        let _ = leg.notes.send((
                            leg.leg,
                            LegNote::Answered {
                                sdp: response.body().to_vec(),
                            },
                        ));
                    }
                }
                // Every 2xx (retransmissions too) gets its ACK.
                if let Some(d) = &leg.dialog {
                    let mut ack = d.ack(seq);
                    ack.push_front(HeaderName::Via, self.tx.via(leg.peer.transport, &leg.local));
                    let peer = leg.peer;
                    self.tx.transmit(peer, &ack);
                }
                if self.out_legs.get(&call_id).is_some_and(|l| l.dropped) {
                    // Answered as we gave up on it: hung up at once.
                    self.bye_leg(&call_id);
                }
            }
            300.. if leg.dialog.is_some() => {
                // An adopted leg refused our offer: it is given up (BYE).
                leg.reoffer = false;
                let seq = leg.invite.cseq().map(|c| c.seq).unwrap_or(1);
                if let Some(d) = leg.dialog.as_mut() {
                    d.on_response(&Method::Invite, seq, code, 0);
                }
                tracing::info!(leg = leg.leg, code, "an adopted leg refused our offer");
                let _ = leg.notes.send((leg.leg, LegNote::Failed { code }));
                self.bye_leg(&call_id);
            }
            300.. => {
                let gone = self.remove_leg(&call_id);
                if let Some(l) = gone {
                    if !l.dropped || code != 487 {
                        tracing::info!(leg = l.leg, code, "an agent's phone did not take the call");
                    }
                    let _ = l.notes.send((l.leg, LegNote::Failed { code }));
                }
            }
            _ => {}
        }
        true
    }

    /// The INVITE of a leg had no final answer in time.
    pub(super) fn leg_timeout(&mut self, client: ClientId) -> bool {
        let Some(call_id) = self.leg_clients.remove(&client) else {
            return false;
        };
        if let Some(l) = self.out_legs.get(&call_id) {
            if l.dialog.is_none() {
                if let Some(l) = self.remove_leg(&call_id) {
                    let _ = l.notes.send((l.leg, LegNote::Failed { code: 408 }));
                }
            } else if l.reoffer {
                let _ = l.notes.send((l.leg, LegNote::Failed { code: 408 }));
                self.bye_leg(&call_id);
            }
        }
        true
    }

    pub(super) fn leg_client_done(&mut self, client: ClientId) -> bool {
        let Some(call_id) = self.leg_clients.remove(&client) else {
            return false;
        };
        if let Some(l) = self.out_legs.get_mut(&call_id) {
            if l.client == Some(client) {
                l.client = None;
            }
        }
        true
    }

    fn remove_leg(&mut self, call_id: &str) -> Option<OutLeg> {
        let l = self.out_legs.remove(call_id)?;
        self.leg_calls.remove(&l.leg);
        self.shared.leg_left(l.leg);
        if let Some(c) = l.client {
            self.leg_clients.remove(&c);
        }
        Some(l)
    }

    fn drop_leg(&mut self, leg: u64) {
        let Some(call_id) = self.leg_calls.get(&leg).cloned() else {
            return;
        };
        let answered = self
            .out_legs
            .get(&call_id)
            .is_some_and(|l| l.dialog.is_some());
        if answered {
            self.bye_leg(&call_id);
            return;
        }
        let now = self.now();
        if let Some(l) = self.out_legs.get_mut(&call_id) {
            l.dropped = true;
            if let Some(c) = l.client {
                if let Err(e) = self.tx.cancel(now, c) {
                    tracing::debug!(error = %e, "CANCEL not sent");
                }
            }
        }
    }

    /// Sends BYE on an answered leg and forgets it.
    fn bye_leg(&mut self, call_id: &str) {
        let Some(mut l) = self.remove_leg(call_id) else {
            return;
        };
        let Some(d) = l.dialog.as_mut() else {
            return;
        };
        if d.state == DialogState::Terminated {
            return;
        }
        let mut bye = d.request(Method::Bye);
        bye.push_front(HeaderName::Via, self.tx.via(l.peer.transport, &l.local));
        let now = self.now();
        if let Err(e) = self.tx.send_request(now, bye, l.peer) {
            tracing::debug!(error = %e, "BYE not sent");
        }
        tracing::info!(leg = l.leg, "agent's leg hung up");
    }

    pub(super) fn is_leg(&self, call_id: &str) -> bool {
        self.out_legs.contains_key(call_id)
    }

    /// An in-dialog request from a phone on a leg we placed.
    pub(super) fn leg_request(&mut self, request: &Message, tag: &str) -> Message {
        let answer = self.leg_request_inner(request, tag);
        // The dialog takes the next INVITE only once it knows this one was answered.
        let id = request.call_id().unwrap_or_default();
        if let (Some(d), Ok(cseq), Some(code)) = (
            self.out_legs.get_mut(id).and_then(|l| l.dialog.as_mut()),
            request.cseq(),
            answer.status(),
        ) {
            d.answered(cseq.seq, code);
        }
        answer
    }

    fn leg_request_inner(&mut self, request: &Message, tag: &str) -> Message {
        let id = request.call_id().unwrap_or_default().to_string();
        let Some(l) = self.out_legs.get_mut(&id) else {
            return response_to(request, 481, None, Some(tag));
        };
        let Some(d) = l.dialog.as_mut() else {
            // Requests inside an early dialog are not expected from a phone.
            return response_to(request, 481, None, Some(tag));
        };
        if let Err(refusal) = d.on_request(request) {
            return refusal.response(request);
        }
        match request.method() {
            Some(Method::Bye) => {
                let _ = l.notes.send((l.leg, LegNote::HungUp));
                tracing::info!(leg = l.leg, "the agent hung up");
                self.remove_leg(&id);
                response_to(request, 200, None, None)
            }
            Some(Method::Invite) | Some(Method::Update) => {
                // The media stays anchored at our port whatever the phone changes; its
                // direction tells hold from resume.
                let mut r = response_to(request, 200, None, None);
                r.push(HeaderName::Contact, d.local_contact.clone().into_bytes());
                if !request.body().is_empty() {
                    l.media.session_version += 1;
                    match hotline_media::sdp::answer(request.body(), &l.media) {
                        Ok((agreed, answer)) => {
                            let hold =
                                agreed.direction != Direction::SendRecv || agreed.remote.is_none();
                            if hold != l.held {
                                l.held = hold;
                                let _ = l.notes.send((l.leg, LegNote::Hold(hold)));
                            }
                            r.set_body("application/sdp", answer.into_bytes());
                        }
                        Err(e) => {
                            let mut r = response_to(request, 488, None, None);
                            r.push(
                                HeaderName::Warning,
                                format!("304 hotline \"{e}\"").into_bytes(),
                            );
                            return r;
                        }
                    }
                }
                r
            }
            Some(Method::Refer) => {
                let refer_to = request
                    .value(&HeaderName::ReferTo)
                    .and_then(hotline_sip::refer::ReferTo::parse);
                match refer_to {
                    Some(to) => {
                        let attended = to.replaces.is_some();
                        tracing::info!(
                            leg = l.leg,
                            attended,
                            "the agent's phone asks for a transfer"
                        );
                        let note = LegNote::Refer {
                            target: to.user,
                            replaces: to.replaces,
                        };
                        let _ = l.notes.send((l.leg, note));
                        response_to(request, 202, None, None)
                    }
                    None => response_to(request, 400, Some("Refer-To Unusable"), None),
                }
            }
            _ => response_to(request, 200, None, None),
        }
    }

    fn refer_outcome(&mut self, leg: u64, code: u16) {
        let Some(call_id) = self.leg_calls.get(&leg).cloned() else {
            return;
        };
        let Some(l) = self.out_legs.get_mut(&call_id) else {
            return;
        };
        let Some(d) = l.dialog.as_mut() else {
            return;
        };
        let reason = hotline_sip::status::reason_phrase(code);
        let mut notify = d.request(Method::Notify);
        notify
            .push_front(HeaderName::Via, self.tx.via(l.peer.transport, &l.local))
            .push(HeaderName::Event, &b"refer"[..])
            .push(
                HeaderName::Other(bytes::Bytes::from_static(b"Subscription-State")),
                &b"terminated;reason=noresource"[..],
            );
        notify.set_body(
            "message/sipfrag;version=2.0",
            format!("SIP/2.0 {code} {reason}\r\n").into_bytes(),
        );
        let peer = l.peer;
        let now = self.now();
        if let Err(e) = self.tx.send_request(now, notify, peer) {
            tracing::debug!(error = %e, "NOTIFY not sent");
        }
    }
}
