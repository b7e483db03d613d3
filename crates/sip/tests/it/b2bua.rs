//! Dialogs and the B2BUA core in virtual time: Alice calls through Hotline to Bob over a seeded
//! in-memory network (lossy where a test says so). Alice and Bob are small user agents built on
//! the same transaction and dialog layers; Hotline is `Transactions` + `B2bua`.

use std::net::SocketAddr;

use hotline_sip::b2bua::{B2bua, CallEvent, Caller, Credentials, Side, Target};
use hotline_sip::dialog::{Dialog, ResponseOutcome};
use hotline_sip::digest::{Algorithm, DigestServer, Ha1, Verdict};
use hotline_sip::response::response_to;
use hotline_sip::transaction::{Peer, Time, Timers, Transactions, Transport, TxEvent};
use hotline_sip::{
    check_request, check_response, parse_datagram, Capabilities, HeaderName, Message, Method,
};

const ALICE: usize = 0;
const HOTLINE: usize = 1;
const BOB: usize = 2;
const SDP: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

fn addr(node: usize) -> SocketAddr {
    format!("10.0.0.{}:5060", node + 1).parse().expect("addr")
}

fn peer(node: usize) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: addr(node),
        connection: None,
    }
}

fn via(tx: &mut Transactions, node: usize) -> String {
    format!("SIP/2.0/UDP {};branch={}", addr(node), tx.new_branch())
}

#[derive(Clone, Debug)]
enum Action {
    /// Bob answers his INVITE 200.
    Answer,
    /// Send a re-INVITE in the dialog (hold: a=sendonly).
    ReInvite,
    /// Refresh the session with an UPDATE.
    Update,
    Bye,
    Cancel,
}

/// A scripted user agent.
struct Ua {
    node: usize,
    tx: Transactions,
    dialog: Option<Dialog>,
    invite: Option<Message>,
    invite_server: Option<hotline_sip::transaction::ServerId>,
    invite_client: Option<hotline_sip::transaction::ClientId>,
    /// How long Bob rings before answering (None: never).
    answer_after: Option<Time>,
    /// Bob answers the first INVITE 407 and checks the credentials of the next.
    challenge: Option<DigestServer>,
    /// Bob's 2xx carries `Session-Expires`.
    answer_timer: bool,
    plan: Vec<(Time, Action)>,
    /// What happened, for the assertions: (when, what).
    log: Vec<(Time, String)>,
    jitter: u64,
    /// Alice sends her INVITE without SDP and the answer in her ACK.
    late_offer: bool,
}

impl Ua {
    fn new(node: usize, seed: u64) -> Ua {
        Ua {
            node,
            tx: Transactions::new(Timers::default(), seed),
            dialog: None,
            invite: None,
            invite_server: None,
            invite_client: None,
            answer_after: Some(1_000),
            challenge: None,
            answer_timer: false,
            plan: Vec::new(),
            log: Vec::new(),
            jitter: seed,
            late_offer: false,
        }
    }

    fn saw(&self, what: &str) -> Vec<Time> {
        self.log
            .iter()
            .filter(|(_, w)| w == what)
            .map(|(t, _)| *t)
            .collect()
    }

    fn send_in_dialog(&mut self, now: Time, method: Method, body: Option<&str>) {
        let Some(d) = self.dialog.as_mut() else {
            return;
        };
        let mut m = d.request(method.clone());
        let v = via(&mut self.tx, self.node);
        m.push_front(HeaderName::Via, v.into_bytes());
        if let Some(b) = body {
            m.set_body("application/sdp", b.as_bytes().to_vec());
        }
        self.tx
            .send_request(now, m, peer(HOTLINE))
            .expect("in-dialog request");
        self.log.push((now, format!("sent {method}")));
    }

    fn act(&mut self, now: Time, action: Action) {
        match action {
            Action::Answer => {
                let (Some(server), Some(invite), Some(d)) = (
                    self.invite_server,
                    self.invite.clone(),
                    self.dialog.as_mut(),
                ) else {
                    return;
                };
                let mut ok = response_to(&invite, 200, None, Some(&d.local_tag));
                ok.push(
                    HeaderName::Contact,
                    format!("<sip:bob@{}>", addr(self.node)).into_bytes(),
                );
                if self.answer_timer {
                    ok.push(HeaderName::SessionExpires, &b"120;refresher=uac"[..]);
                    ok.push(HeaderName::Require, &b"timer"[..]);
                }
                ok.set_body("application/sdp", SDP.as_bytes().to_vec());
                let seq = invite.cseq().expect("cseq").seq;
                d.answered(seq, 200);
                if self.tx.respond(now, server, &ok).is_ok() {
                    self.log.push((now, "sent 200 INVITE".into()));
                }
            }
            Action::ReInvite => self.send_in_dialog(
                now,
                Method::Invite,
                Some(&SDP.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n")),
            ),
            Action::Update => self.send_in_dialog(now, Method::Update, None),
            Action::Bye => self.send_in_dialog(now, Method::Bye, None),
            Action::Cancel => {
                if let Some(c) = self.invite_client {
                    self.tx.cancel(now, c).expect("cancel");
                    self.log.push((now, "sent CANCEL".into()));
                }
            }
        }
    }

    fn on_event(&mut self, now: Time, event: TxEvent) {
        match event {
            TxEvent::Request {
                server, request, ..
            } => {
                let method = request.method().cloned().expect("method");
                self.log.push((now, format!("got {method}")));
                let in_dialog = request
                    .to_header()
                    .ok()
                    .and_then(|t| t.tag().map(str::to_string));
                if method == Method::Invite && in_dialog.is_none() {
                    if let Some(d) = &mut self.challenge {
                        let creds = request.authorization(true).unwrap_or_default();
                        let verdict = d.verify(
                            now,
                            &creds,
                            "INVITE",
                            request.request_uri().unwrap_or(""),
                            |_| {
                                Some(Ha1 {
                                    md5: Some(Algorithm::Md5.ha1("trunk", "carrier", "s3cret")),
                                    sha256: None,
                                })
                            },
                        );
                        if !matches!(verdict, Verdict::Authorized { .. }) {
                            let mut r = response_to(&request, 407, None, Some("bobtag"));
                            for c in d.challenges(now, false) {
                                r.push(HeaderName::ProxyAuthenticate, c.into_bytes());
                            }
                            self.tx.respond(now, server, &r).expect("407");
                            self.log.push((now, "sent 407".into()));
                            return;
                        }
                        self.log.push((now, "authorized".into()));
                    }
                    let tag = self.tx.new_tag();
                    let contact = format!("<sip:bob@{}>", addr(self.node));
                    self.dialog = Some(Dialog::uas(&request, &tag, &contact, 100).expect("uas"));
                    let mut ringing = response_to(&request, 180, None, Some(&tag));
                    ringing.push(HeaderName::Contact, contact.into_bytes());
                    self.tx.respond(now, server, &ringing).expect("180");
                    self.invite = Some(request);
                    self.invite_server = Some(server);
                    if let Some(after) = self.answer_after {
                        self.plan.push((now + after, Action::Answer));
                    }
                    return;
                }
                let Some(d) = self.dialog.as_mut() else {
                    let r = response_to(&request, 481, None, None);
                    let _ = self.tx.respond(now, server, &r);
                    return;
                };
                match d.on_request(&request) {
                    Err(refusal) => {
                        let r = response_to(&request, refusal.code, None, None);
                        let _ = self.tx.respond(now, server, &r);
                        self.log
                            .push((now, format!("sent {} {method}", refusal.code)));
                    }
                    Ok(()) => {
                        let mut r = response_to(&request, 200, None, None);
                        if method == Method::Invite {
                            r.push(HeaderName::Contact, d.local_contact.clone().into_bytes());
                            r.set_body("application/sdp", SDP.as_bytes().to_vec());
                        }
                        d.answered(request.cseq().expect("cseq").seq, 200);
                        let _ = self.tx.respond(now, server, &r);
                        self.log.push((now, format!("sent 200 {method}")));
                    }
                }
            }
            TxEvent::Ack { request, .. } => {
                let body = if request.body().is_empty() {
                    ""
                } else {
                    " with body"
                };
                self.log.push((now, format!("got ACK{body}")));
            }
            TxEvent::Cancelled { invite } => {
                self.log.push((now, "got CANCEL".into()));
                if let Some(req) = &self.invite {
                    let tag = self.dialog.as_ref().map(|d| d.local_tag.clone());
                    let r = response_to(req, 487, None, tag.as_deref());
                    let _ = self.tx.respond(now, invite, &r);
                }
            }
            TxEvent::Response { response, .. } => {
                let code = response.status().expect("status");
                let cseq = response.cseq().expect("cseq");
                self.log.push((now, format!("got {code} {}", cseq.method)));
                if cseq.method == Method::Invite
                    && self
                        .dialog
                        .as_ref()
                        .is_none_or(|d| d.state == hotline_sip::dialog::DialogState::Early)
                {
                    let invite = self.invite.clone().expect("our invite");
                    if (101..300).contains(&code) {
                        match self.dialog.as_mut() {
                            Some(d) => d.on_invite_response(&response),
                            None => self.dialog = Dialog::uac(&invite, &response).ok(),
                        }
                    }
                    if (200..300).contains(&code) {
                        self.ack(now, cseq.seq);
                    }
                    return;
                }
                if code < 200 {
                    return;
                }
                let jitter = self.jitter;
                self.jitter = self
                    .jitter
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407)
                    >> 1;
                let Some(d) = self.dialog.as_mut() else {
                    return;
                };
                match d.on_response(&cseq.method, cseq.seq, code, jitter) {
                    ResponseOutcome::RetryAfter(ms) => {
                        self.plan.push((now + ms, Action::ReInvite));
                        self.log.push((now, format!("retry in {ms}")));
                    }
                    ResponseOutcome::Terminated | ResponseOutcome::Fine => {}
                }
                if cseq.method == Method::Invite && (200..300).contains(&code) {
                    self.ack(now, cseq.seq);
                }
            }
            TxEvent::Timeout { .. } => self.log.push((now, "timeout".into())),
            _ => {}
        }
    }

    fn ack(&mut self, now: Time, seq: u32) {
        let Some(d) = &self.dialog else { return };
        let mut ack = d.ack(seq);
        let v = via(&mut self.tx, self.node);
        ack.push_front(HeaderName::Via, v.into_bytes());
        if self.late_offer && seq == 1 {
            ack.set_body("application/sdp", SDP.as_bytes().to_vec());
        }
        self.tx.transmit(peer(HOTLINE), &ack);
        self.log.push((now, "sent ACK".into()));
    }

    /// Alice's INVITE to the DID.
    fn call(&mut self, now: Time, extra: &[(HeaderName, &str)]) {
        let mut m = Message::request(Method::Invite, "sip:5551000@10.0.0.2");
        let v = via(&mut self.tx, self.node);
        m.push(HeaderName::Via, v.into_bytes())
            .push(HeaderName::MaxForwards, &b"70"[..])
            .push(
                HeaderName::From,
                &b"\"Alice\" <sip:+79990001122@10.0.0.1>;tag=alice1"[..],
            )
            .push(HeaderName::To, &b"<sip:5551000@10.0.0.2>"[..])
            .push(HeaderName::CallId, &b"call-1@10.0.0.1"[..])
            .push(HeaderName::CSeq, &b"1 INVITE"[..])
            .push(HeaderName::Contact, &b"<sip:alice@10.0.0.1:5060>"[..]);
        for (name, value) in extra {
            m.push(name.clone(), value.as_bytes().to_vec());
        }
        if !self.late_offer {
            m.set_body("application/sdp", SDP.as_bytes().to_vec());
        }
        self.invite = Some(m.clone());
        self.invite_client = Some(self.tx.send_request(now, m, peer(HOTLINE)).expect("invite"));
        self.log.push((now, "sent INVITE".into()));
    }
}

struct Flying {
    at: Time,
    seq: u64,
    to: usize,
    from: usize,
    bytes: bytes::Bytes,
}

struct World {
    now: Time,
    alice: Ua,
    bob: Ua,
    hotline: Transactions,
    b2b: B2bua,
    credentials: Option<Credentials>,
    flying: Vec<Flying>,
    seq: u64,
    rng: u64,
    loss_percent: u64,
    calls: Vec<CallEvent>,
    /// Requests Hotline did not place (answered 481 or 404 by this "shell").
    unrouted: usize,
}

impl World {
    fn new(seed: u64) -> World {
        World {
            now: 0,
            alice: Ua::new(ALICE, seed ^ 1),
            bob: Ua::new(BOB, seed ^ 2),
            hotline: Transactions::new(Timers::default(), seed ^ 3),
            b2b: B2bua::new(seed ^ 4),
            credentials: None,
            flying: Vec::new(),
            seq: 0,
            rng: seed | 1,
            loss_percent: 0,
            calls: Vec::new(),
            unrouted: 0,
        }
    }

    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn tx(&mut self, node: usize) -> &mut Transactions {
        match node {
            ALICE => &mut self.alice.tx,
            BOB => &mut self.bob.tx,
            _ => &mut self.hotline,
        }
    }

    /// Everything the nodes have to say now: wire output and events, until quiet.
    fn settle(&mut self) {
        loop {
            let mut progressed = false;
            for node in [ALICE, HOTLINE, BOB] {
                while let Some(t) = self.tx(node).poll_transmit() {
                    progressed = true;
                    let to = [ALICE, HOTLINE, BOB]
                        .into_iter()
                        .find(|n| addr(*n) == t.to.addr)
                        .expect("known node");
                    let lost = self.random() % 100 < self.loss_percent;
                    if !lost {
                        let jitter = self.random() % 10;
                        self.seq += 1;
                        self.flying.push(Flying {
                            at: self.now + 20 + jitter,
                            seq: self.seq,
                            to,
                            from: node,
                            bytes: t.bytes,
                        });
                    }
                }
            }
            let now = self.now;
            while let Some(e) = self.alice.tx.poll_event() {
                progressed = true;
                self.alice.on_event(now, e);
            }
            while let Some(e) = self.bob.tx.poll_event() {
                progressed = true;
                self.bob.on_event(now, e);
            }
            while let Some(e) = self.hotline.poll_event() {
                progressed = true;
                let rest = self.b2b.handle(&mut self.hotline, now, e);
                self.shell(rest);
            }
            while let Some(e) = self.b2b.poll_event() {
                progressed = true;
                self.calls.push(e);
            }
            if !progressed {
                break;
            }
        }
    }

    /// What the telephony shell does with events the B2BUA hands back.
    fn shell(&mut self, event: Option<TxEvent>) {
        let Some(TxEvent::Request {
            server,
            request,
            from,
        }) = event
        else {
            return;
        };
        let now = self.now;
        if request.method() == Some(&Method::Invite)
            && request.to_header().is_ok_and(|t| t.tag().is_none())
        {
            let target = Target {
                uri: format!("sip:5551000@{}", addr(BOB)),
                peer: peer(BOB),
                local: addr(HOTLINE).to_string(),
                from: None,
                call_id: format!("b-{}@hotline", self.random()),
                credentials: self.credentials.clone(),
            };
            let caller = Caller {
                server,
                invite: request,
                from,
                local: addr(HOTLINE).to_string(),
            };
            self.b2b.start(&mut self.hotline, now, caller, target);
            return;
        }
        self.unrouted += 1;
        let r = response_to(&request, 481, None, Some("x"));
        let _ = self.hotline.respond(now, server, &r);
    }

    fn deliver(&mut self, f: Flying) {
        let now = self.now;
        let Ok(mut msg) = parse_datagram(&f.bytes) else {
            panic!("sent something unparseable");
        };
        let from = peer(f.from);
        if msg.is_request() {
            check_request(&msg, &Capabilities::default()).expect("valid request on the wire");
            msg.mark_received(from.addr.ip(), from.addr.port());
            self.tx(f.to).handle_request(now, msg, from);
        } else {
            check_response(&msg).expect("valid response on the wire");
            self.tx(f.to).handle_response(now, msg, from);
        }
    }

    /// Runs the world until `until` (virtual ms).
    fn run(&mut self, until: Time) {
        for _ in 0..1_000_000 {
            self.settle();
            let mut next = until;
            for f in &self.flying {
                next = next.min(f.at);
            }
            for node in [ALICE, HOTLINE, BOB] {
                if let Some(t) = self.tx(node).poll_timeout() {
                    next = next.min(t);
                }
            }
            if let Some(t) = self.b2b.poll_timeout() {
                next = next.min(t);
            }
            for ua in [&self.alice, &self.bob] {
                for (t, _) in &ua.plan {
                    next = next.min(*t);
                }
            }
            if next > until {
                return;
            }
            self.now = self.now.max(next);
            let now = self.now;
            let mut due: Vec<Flying> = Vec::new();
            let mut i = 0;
            while i < self.flying.len() {
                if self.flying[i].at <= now {
                    due.push(self.flying.swap_remove(i));
                } else {
                    i += 1;
                }
            }
            due.sort_by_key(|f| (f.at, f.seq));
            for f in due {
                self.deliver(f);
            }
            for node in [ALICE, HOTLINE, BOB] {
                self.tx(node).handle_timeout(now);
            }
            self.b2b.handle_timeout(&mut self.hotline, now);
            for ua in [&mut self.alice, &mut self.bob] {
                let (due, later): (Vec<_>, Vec<_>) =
                    ua.plan.drain(..).partition(|(t, _)| *t <= now);
                ua.plan = later;
                for (_, a) in due {
                    ua.act(now, a);
                }
            }
            if now >= until && self.flying.is_empty() {
                return;
            }
        }
        panic!("the simulation did not come to rest");
    }
}

fn ended(w: &World) -> Vec<(u16, Option<Side>)> {
    w.calls
        .iter()
        .filter_map(|e| match e {
            CallEvent::Ended { code, by, .. } => Some((*code, *by)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_call_rings_connects_and_hangs_up_end_to_end() {
    let mut w = World::new(7);
    w.alice.call(0, &[]);
    w.alice.plan.push((5_000, Action::Bye));
    w.run(40_000);
    assert!(
        !w.alice.saw("got 180 INVITE").is_empty(),
        "{:?}",
        w.alice.log
    );
    assert_eq!(w.alice.saw("got 200 INVITE").len(), 1, "{:?}", w.alice.log);
    // Early offer: Bob's 2xx is ACKed by Hotline at once; Alice's ACK ends at Hotline.
    assert_eq!(w.bob.saw("got ACK").len(), 1, "{:?}", w.bob.log);
    assert_eq!(w.bob.saw("got BYE").len(), 1, "{:?}", w.bob.log);
    assert_eq!(w.alice.saw("got 200 BYE").len(), 1, "{:?}", w.alice.log);
    assert!(w.calls.contains(&CallEvent::Progress {
        call: hotline_sip::b2bua::CallRef(1),
        code: 180
    }));
    assert!(w.calls.contains(&CallEvent::Answered {
        call: hotline_sip::b2bua::CallRef(1)
    }));
    assert_eq!(ended(&w), vec![(200, Some(Side::A))]);
    assert_eq!(w.b2b.call_count(), 0);
    assert_eq!(w.hotline.client_count() + w.hotline.server_count(), 0);
}

#[test]
fn calls_complete_over_a_lossy_network() {
    for seed in 1..=40u64 {
        let mut w = World::new(seed * 7919);
        w.loss_percent = 15;
        w.alice.call(0, &[]);
        w.alice.plan.push((8_000, Action::Bye));
        w.run(120_000);
        // Every message may be lost and retransmitted; the call still rings, connects and
        // ends on both sides, and every transaction ends.
        assert!(
            !w.alice.saw("got 200 INVITE").is_empty(),
            "seed {seed}: {:?}",
            w.alice.log
        );
        assert!(
            !w.bob.saw("got BYE").is_empty(),
            "seed {seed}: {:?}",
            w.bob.log
        );
        assert_eq!(ended(&w).len(), 1, "seed {seed}: {:?}", w.calls);
        assert_eq!(w.b2b.call_count(), 0, "seed {seed}");
        assert_eq!(
            w.hotline.client_count() + w.hotline.server_count(),
            0,
            "seed {seed}"
        );
    }
}

#[test]
fn bye_while_ringing_ends_the_invite_487_and_cancels_the_callee() {
    let mut w = World::new(11);
    w.bob.answer_after = None;
    w.alice.call(0, &[]);
    w.alice.plan.push((2_000, Action::Bye));
    w.run(60_000);
    // §15.1.2: the BYE is answered 200 and the INVITE 487.
    assert_eq!(w.alice.saw("got 200 BYE").len(), 1, "{:?}", w.alice.log);
    assert_eq!(w.alice.saw("got 487 INVITE").len(), 1, "{:?}", w.alice.log);
    assert_eq!(w.bob.saw("got CANCEL").len(), 1, "{:?}", w.bob.log);
    assert!(w.bob.saw("got BYE").is_empty());
    assert_eq!(ended(&w), vec![(487, Some(Side::A))]);
    assert_eq!(w.hotline.client_count() + w.hotline.server_count(), 0);
}

#[test]
fn a_cancel_crossing_the_callees_200_ends_the_callee_with_bye() {
    let mut w = World::new(13);
    w.bob.answer_after = Some(1_000);
    w.alice.call(0, &[]);
    // Bob answers at 1047 (his INVITE came at 47); Alice's CANCEL reaches Hotline before
    // Bob's 200 does, and the CANCEL to Bob arrives after he answered.
    w.alice.plan.push((1_020, Action::Cancel));
    w.run(60_000);
    assert_eq!(w.alice.saw("got 487 INVITE").len(), 1, "{:?}", w.alice.log);
    assert!(
        w.alice.saw("got 200 INVITE").is_empty(),
        "{:?}",
        w.alice.log
    );
    assert_eq!(w.bob.saw("sent 200 INVITE").len(), 1, "{:?}", w.bob.log);
    assert_eq!(w.bob.saw("got ACK").len(), 1, "{:?}", w.bob.log);
    assert_eq!(w.bob.saw("got BYE").len(), 1, "{:?}", w.bob.log);
    assert_eq!(ended(&w), vec![(487, Some(Side::A))]);
}

#[test]
fn reinvite_glare_is_resolved_by_491_and_retries_in_each_sides_window() {
    let mut both_refused = 0;
    for seed in 1..=30u64 {
        let mut w = World::new(seed * 104_729);
        w.alice.call(0, &[]);
        // Both put the call on hold at the same moment. Through a B2BUA the two re-INVITEs
        // cross on either leg: whoever's INVITE meets the other's pending one gets 491, and
        // sometimes both do.
        w.alice.plan.push((5_000, Action::ReInvite));
        w.bob.plan.push((5_000, Action::ReInvite));
        w.run(30_000);
        let a491 = w.alice.saw("got 491 INVITE");
        let b491 = w.bob.saw("got 491 INVITE");
        assert!(
            a491.len() + b491.len() >= 1,
            "seed {seed}: no glare: {:?}",
            w.alice.log
        );
        assert!(
            a491.len() <= 1 && b491.len() <= 1,
            "seed {seed}: retried into glare again"
        );
        if !a491.is_empty() && !b491.is_empty() {
            both_refused += 1;
        }
        // §14.1: Alice owns the Call-ID of her leg and waits 2.1–4 s; Bob, UAS of his leg,
        // waits 0–2 s.
        let sent_a: Vec<Time> = w.alice.saw("sent INVITE").into_iter().skip(1).collect();
        let sent_b = w.bob.saw("sent INVITE");
        if let Some(t) = a491.first() {
            let wait = sent_a[1] - t;
            assert!(
                (2_100..=4_000).contains(&wait),
                "seed {seed}: Alice waited {wait}"
            );
        }
        if let Some(t) = b491.first() {
            let wait = sent_b[1] - t;
            assert!(wait <= 2_000, "seed {seed}: Bob waited {wait}");
        }
        // In the end each hold went through exactly once, answered by the other side.
        assert_eq!(
            w.alice.saw("got 200 INVITE").len(),
            2,
            "seed {seed}: {:?}",
            w.alice.log
        );
        assert_eq!(
            w.bob.saw("got 200 INVITE").len(),
            1,
            "seed {seed}: {:?}",
            w.bob.log
        );
        assert_eq!(
            w.alice.saw("sent 200 INVITE").len(),
            1,
            "seed {seed}: {:?}",
            w.alice.log
        );
        assert_eq!(
            w.bob.saw("sent 200 INVITE").len(),
            2,
            "seed {seed}: {:?}",
            w.bob.log
        );
        assert_eq!(w.b2b.call_count(), 1);
    }
    assert!(both_refused > 0, "no seed made both sides see 491");
}

#[test]
fn in_dialog_requests_out_of_order_get_500() {
    let mut w = World::new(17);
    w.alice.call(0, &[]);
    w.alice.plan.push((3_500, Action::Update));
    w.run(5_000);
    assert_eq!(w.bob.saw("got UPDATE").len(), 1, "{:?}", w.bob.log);
    let d = w.alice.dialog.as_mut().expect("dialog");
    d.local_seq = 0; // the next request goes out with CSeq 1: lower than the UPDATE's 2
    w.alice.plan.push((5_500, Action::Update));
    w.run(10_000);
    assert_eq!(w.alice.saw("got 500 UPDATE").len(), 1, "{:?}", w.alice.log);
    assert_eq!(w.bob.saw("got UPDATE").len(), 1, "not relayed");
}

#[test]
fn session_timer_not_refreshed_ends_the_call_on_both_legs() {
    let mut w = World::new(19);
    w.alice.call(
        0,
        &[
            (HeaderName::SessionExpires, "90"),
            (HeaderName::Supported, "timer"),
        ],
    );
    w.run(200_000);
    // Bob runs no timer, so Alice is told to refresh; she does not, and at
    // 90 s - 30 s after the answer Hotline ends the call.
    let byes_a = w.alice.saw("got BYE");
    let byes_b = w.bob.saw("got BYE");
    assert_eq!(byes_a.len(), 1, "{:?}", w.alice.log);
    assert_eq!(byes_b.len(), 1, "{:?}", w.bob.log);
    let answered = w.alice.saw("got 200 INVITE")[0];
    assert!(
        (answered + 59_000..answered + 61_000).contains(&byes_a[0]),
        "{byes_a:?}"
    );
    assert_eq!(ended(&w), vec![(200, None)]);
}

#[test]
fn session_refreshes_are_relayed_and_keep_the_call_up() {
    let mut w = World::new(23);
    w.bob.answer_timer = true;
    w.alice.call(
        0,
        &[
            (HeaderName::SessionExpires, "120"),
            (HeaderName::Supported, "timer"),
        ],
    );
    for t in [50_000, 110_000, 170_000] {
        w.alice.plan.push((t, Action::Update));
    }
    w.run(200_000);
    assert_eq!(w.bob.saw("got UPDATE").len(), 3, "{:?}", w.bob.log);
    assert_eq!(w.alice.saw("got 200 UPDATE").len(), 3, "{:?}", w.alice.log);
    assert!(w.alice.saw("got BYE").is_empty(), "{:?}", w.alice.log);
    assert!(ended(&w).is_empty());
    w.run(400_000);
    assert_eq!(w.alice.saw("got BYE").len(), 1);
}

#[test]
fn short_session_interval_gets_422_and_zero_max_forwards_483() {
    let mut w = World::new(29);
    w.alice.call(0, &[(HeaderName::SessionExpires, "30")]);
    w.run(10_000);
    assert_eq!(w.alice.saw("got 422 INVITE").len(), 1, "{:?}", w.alice.log);
    assert!(w.bob.saw("got INVITE").is_empty());

    let mut w = World::new(37);
    let mut m = Message::request(Method::Invite, "sip:5551000@10.0.0.2");
    let v = via(&mut w.alice.tx, ALICE);
    m.push(HeaderName::Via, v.into_bytes())
        .push(HeaderName::MaxForwards, &b"0"[..])
        .push(HeaderName::From, &b"<sip:a@10.0.0.1>;tag=1"[..])
        .push(HeaderName::To, &b"<sip:5551000@10.0.0.2>"[..])
        .push(HeaderName::CallId, &b"loop@10.0.0.1"[..])
        .push(HeaderName::CSeq, &b"1 INVITE"[..])
        .push(HeaderName::Contact, &b"<sip:a@10.0.0.1>"[..]);
    w.alice.invite = Some(m.clone());
    w.alice.tx.send_request(0, m, peer(HOTLINE)).expect("send");
    w.run(10_000);
    assert_eq!(w.alice.saw("got 483 INVITE").len(), 1, "{:?}", w.alice.log);
    assert!(w.bob.saw("got INVITE").is_empty());
}

#[test]
fn a_trunk_challenge_is_answered_once_with_its_credentials() {
    let mut w = World::new(41);
    let mut d = DigestServer::new("carrier", [9; 32], 60_000);
    d.set_preference(vec![Algorithm::Md5]);
    w.bob.challenge = Some(d);
    w.credentials = Some(Credentials {
        username: "trunk".into(),
        password: "s3cret".into(),
    });
    w.alice.call(0, &[]);
    w.alice.plan.push((4_000, Action::Bye));
    w.run(30_000);
    assert_eq!(w.bob.saw("sent 407").len(), 1, "{:?}", w.bob.log);
    assert_eq!(w.bob.saw("authorized").len(), 1, "{:?}", w.bob.log);
    assert_eq!(w.alice.saw("got 200 INVITE").len(), 1, "{:?}", w.alice.log);
    assert!(w.alice.saw("got 407 INVITE").is_empty());
    assert_eq!(w.bob.saw("got BYE").len(), 1, "{:?}", w.bob.log);

    // Wrong credentials: one retry, then the caller hears 403, not the trunk's challenge.
    let mut w = World::new(43);
    w.bob.challenge = Some(DigestServer::new("carrier", [9; 32], 60_000));
    w.credentials = Some(Credentials {
        username: "trunk".into(),
        password: "wrong".into(),
    });
    w.alice.call(0, &[]);
    w.run(30_000);
    assert_eq!(w.bob.saw("sent 407").len(), 2, "{:?}", w.bob.log);
    assert_eq!(w.alice.saw("got 403 INVITE").len(), 1, "{:?}", w.alice.log);
}

#[test]
fn requests_for_unknown_dialogs_go_back_to_the_shell() {
    let mut w = World::new(47);
    w.alice.call(0, &[]);
    w.run(3_000);
    let d = w.alice.dialog.as_mut().expect("dialog");
    d.local_header = d.local_header.replace(&d.local_tag, "forged");
    w.alice.plan.push((3_500, Action::Bye));
    w.run(10_000);
    assert_eq!(
        w.unrouted, 0,
        "a known Call-ID and To tag stays with the call"
    );
    assert_eq!(w.alice.saw("got 481 BYE").len(), 1, "{:?}", w.alice.log);
    assert_eq!(w.b2b.call_count(), 1);
}

#[test]
fn a_late_offer_is_answered_in_the_ack_carried_to_the_callee() {
    let mut w = World::new(53);
    w.alice.late_offer = true;
    w.alice.call(0, &[]);
    w.run(5_000);
    // Bob's 200 carries the offer; Hotline holds Bob's ACK until Alice's ACK brings the
    // answer, and sends it on with that body.
    assert_eq!(w.alice.saw("got 200 INVITE").len(), 1, "{:?}", w.alice.log);
    assert_eq!(w.bob.saw("got ACK with body").len(), 1, "{:?}", w.bob.log);
    assert!(w.bob.saw("got ACK").is_empty(), "no ACK without the answer");
}

#[test]
fn hangup_from_our_side_ends_both_legs() {
    use hotline_sip::b2bua::CallRef;
    // Answered: BYE on both legs.
    let mut w = World::new(59);
    w.alice.call(0, &[]);
    w.run(3_000);
    w.b2b.hangup(&mut w.hotline, w.now, CallRef(1));
    w.run(40_000);
    assert_eq!(w.alice.saw("got BYE").len(), 1, "{:?}", w.alice.log);
    assert_eq!(w.bob.saw("got BYE").len(), 1, "{:?}", w.bob.log);
    assert_eq!(ended(&w), vec![(200, None)]);
    assert_eq!(w.hotline.client_count() + w.hotline.server_count(), 0);

    // Ringing: the caller hears 480, the callee gets a CANCEL.
    let mut w = World::new(61);
    w.bob.answer_after = None;
    w.alice.call(0, &[]);
    w.run(2_000);
    w.b2b.hangup(&mut w.hotline, w.now, CallRef(1));
    w.run(40_000);
    assert_eq!(w.alice.saw("got 480 INVITE").len(), 1, "{:?}", w.alice.log);
    assert_eq!(w.bob.saw("got CANCEL").len(), 1, "{:?}", w.bob.log);
    assert_eq!(ended(&w), vec![(480, None)]);
}

#[test]
fn an_attended_transfer_takes_the_callee_leg_out_of_the_call() {
    let mut w = World::new(67);
    w.alice.call(0, &[]);
    w.run(3_000);
    let a = w.alice.dialog.clone().expect("Alice's dialog");
    // Replaces as Alice would write it: to-tag is Hotline's, from-tag her own.
    let (call_id, ours, hers) = (a.call_id.clone(), a.remote_tag.clone(), a.local_tag.clone());
    let now = w.now;
    for (c, o, h) in [
        ("other-call", ours.as_str(), hers.as_str()),
        (call_id.as_str(), hers.as_str(), ours.as_str()),
        (call_id.as_str(), ours.as_str(), "not-hers"),
    ] {
        assert!(w.b2b.hand_over_b(&mut w.hotline, now, c, o, h).is_none());
    }
    assert_eq!(w.b2b.call_count(), 1, "a wrong dialog changes nothing");
    let mut b = w
        .b2b
        .hand_over_b(&mut w.hotline, now, &call_id, &ours, &hers)
        .expect("the call's B leg");
    assert_eq!(b.peer.addr, addr(BOB));
    assert_eq!(w.b2b.call_count(), 0);
    w.run(10_000);
    assert_eq!(w.alice.saw("got BYE").len(), 1, "{:?}", w.alice.log);
    assert!(w.bob.saw("got BYE").is_empty(), "{:?}", w.bob.log);
    assert_eq!(ended(&w), vec![(200, None)]);
    // The shell now owns Bob's dialog: its requests are the shell's, and what it sends on
    // the dialog reaches Bob as part of his call.
    let mut reinvite = b.dialog.request(Method::Invite);
    reinvite.push_front(HeaderName::Via, via(&mut w.hotline, HOTLINE).into_bytes());
    reinvite.set_body("application/sdp", SDP.as_bytes().to_vec());
    let now = w.now;
    w.hotline
        .send_request(now, reinvite, b.peer)
        .expect("re-INVITE");
    w.run(20_000);
    assert_eq!(w.bob.saw("got INVITE").len(), 2, "{:?}", w.bob.log);
    let unrouted = w.unrouted;
    w.bob.plan.push((w.now + 100, Action::Bye));
    w.run(w.now + 10_000);
    assert_eq!(w.unrouted, unrouted + 1, "Bob's BYE went to the shell");
}
