//! The transaction layer in virtual time: two peers over a seeded, lossy in-memory network.

use std::net::SocketAddr;

use hotline_sip::response::response_to;
use hotline_sip::transaction::{
    ack_for, ClientId, Peer, Time, Timers, Transactions, Transport, TxEvent,
};
use hotline_sip::{check_request, check_response, parse_datagram, HeaderName, Message, Method};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    A,
    B,
}

fn addr(w: Who) -> SocketAddr {
    match w {
        Who::A => "127.0.0.1:5061".parse().expect("addr"),
        Who::B => "127.0.0.1:5062".parse().expect("addr"),
    }
}

fn peer(w: Who, transport: Transport) -> Peer {
    Peer {
        transport,
        addr: addr(w),
        connection: None,
    }
}

struct InFlight {
    at: Time,
    seq: u64,
    to: Who,
    from: Who,
    transport: Transport,
    bytes: bytes::Bytes,
}

type Tu<'a> = Box<dyn FnMut(&mut Transactions, Time, &TxEvent) + 'a>;
type DropRule<'a> = Box<dyn FnMut(Who, &Message, Time) -> bool + 'a>;

struct Sim<'a> {
    now: Time,
    a: Transactions,
    b: Transactions,
    flying: Vec<InFlight>,
    seq: u64,
    rng: u64,
    loss_percent: u64,
    delay: Time,
    /// Every message put on the wire: when, by whom, what.
    sent: Vec<(Time, Who, Message)>,
    events: Vec<(Time, Who, TxEvent)>,
    drop: DropRule<'a>,
    tu_a: Tu<'a>,
    tu_b: Tu<'a>,
}

impl<'a> Sim<'a> {
    fn new(seed: u64) -> Sim<'a> {
        Sim {
            now: 0,
            a: Transactions::new(Timers::default(), seed),
            b: Transactions::new(Timers::default(), seed ^ 0xabcdef),
            flying: Vec::new(),
            seq: 0,
            rng: seed,
            loss_percent: 0,
            delay: 20,
            sent: Vec::new(),
            events: Vec::new(),
            drop: Box::new(|_, _, _| false),
            tu_a: Box::new(|_, _, _| {}),
            tu_b: Box::new(|_, _, _| {}),
        }
    }

    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            for who in [Who::A, Who::B] {
                let side = if who == Who::A {
                    &mut self.a
                } else {
                    &mut self.b
                };
                let mut out = Vec::new();
                while let Some(t) = side.poll_transmit() {
                    out.push(t);
                }
                let mut evs = Vec::new();
                while let Some(e) = side.poll_event() {
                    evs.push(e);
                }
                for t in out {
                    progressed = true;
                    let msg = parse_datagram(&t.bytes).expect("we send what we parse");
                    self.sent.push((self.now, who, msg.clone()));
                    let lost =
                        self.random() % 100 < self.loss_percent || (self.drop)(who, &msg, self.now);
                    if !lost {
                        let jitter = self.random() % 10;
                        self.seq += 1;
                        self.flying.push(InFlight {
                            at: self.now + self.delay + jitter,
                            seq: self.seq,
                            to: if t.to.addr == addr(Who::A) {
                                Who::A
                            } else {
                                Who::B
                            },
                            from: who,
                            transport: t.to.transport,
                            bytes: t.bytes,
                        });
                    }
                }
                for e in evs {
                    progressed = true;
                    let now = self.now;
                    if who == Who::A {
                        (self.tu_a)(&mut self.a, now, &e);
                    } else {
                        (self.tu_b)(&mut self.b, now, &e);
                    }
                    self.events.push((now, who, e));
                }
            }
            if !progressed {
                break;
            }
        }
    }

    fn run_until(&mut self, end: Time) {
        self.drain();
        loop {
            let next_flight = self.flying.iter().map(|f| f.at).min();
            let next = [next_flight, self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next.filter(|&n| n <= end) else {
                break;
            };
            self.now = next.max(self.now);
            let mut due: Vec<InFlight> = Vec::new();
            let mut i = 0;
            while i < self.flying.len() {
                if self.flying[i].at <= self.now {
                    due.push(self.flying.swap_remove(i));
                } else {
                    i += 1;
                }
            }
            due.sort_by_key(|f| (f.at, f.seq));
            for f in due {
                let msg = parse_datagram(&f.bytes).expect("parses");
                let side = if f.to == Who::A {
                    &mut self.a
                } else {
                    &mut self.b
                };
                let from = peer(f.from, f.transport);
                if msg.is_request() {
                    check_request(&msg, &Default::default()).expect("valid request");
                    side.handle_request(self.now, msg, from);
                } else {
                    check_response(&msg).expect("valid response");
                    side.handle_response(self.now, msg, from);
                }
            }
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
    }

    fn sent_by(&self, who: Who, f: impl Fn(&Message) -> bool) -> Vec<Time> {
        self.sent
            .iter()
            .filter(|(_, w, m)| *w == who && f(m))
            .map(|(t, _, _)| *t)
            .collect()
    }

    fn events_of(&self, who: Who) -> impl Iterator<Item = &(Time, Who, TxEvent)> {
        self.events.iter().filter(move |(_, w, _)| *w == who)
    }
}

/// B's user answers every request with `code` at once.
fn answer_all(code: u16) -> Tu<'static> {
    Box::new(move |tx, now, e| {
        if let TxEvent::Request {
            server, request, ..
        } = e
        {
            tx.respond(now, *server, &response_to(request, code, None, Some("b1")))
                .expect("respond");
        }
    })
}

/// Loses A's first `n` ACKs.
fn lose_first_acks(n: usize) -> DropRule<'static> {
    let mut lost = 0;
    Box::new(move |who, m, _| {
        if who == Who::A && m.method() == Some(&Method::Ack) && lost < n {
            lost += 1;
            return true;
        }
        false
    })
}

fn request(tx: &mut Transactions, method: Method, n: u32) -> Message {
    let mut m = Message::request(method.clone(), "sip:1001@127.0.0.1:5062");
    let branch = tx.new_branch();
    let tag = tx.new_tag();
    m.push(
        HeaderName::Via,
        format!("SIP/2.0/UDP 127.0.0.1:5061;branch={branch}").into_bytes(),
    )
    .push(HeaderName::MaxForwards, "70")
    .push(
        HeaderName::From,
        format!("<sip:a@127.0.0.1>;tag={tag}").into_bytes(),
    )
    .push(HeaderName::To, "<sip:1001@127.0.0.1>")
    .push(HeaderName::CallId, format!("call-{n}-{tag}").into_bytes())
    .push(
        HeaderName::CSeq,
        format!("{n} {}", method.as_str()).into_bytes(),
    );
    m
}

fn is(method: Method) -> impl Fn(&Message) -> bool {
    move |m| m.method() == Some(&method)
}

fn status(code: u16) -> impl Fn(&Message) -> bool {
    move |m| m.status() == Some(code)
}

#[test]
fn non_invite_retransmits_on_the_rfc_schedule_then_times_out() {
    let mut sim = Sim::new(1);
    sim.drop = Box::new(|_, _, _| true);
    let options = request(&mut sim.a, Method::Options, 1);
    let id = sim
        .a
        .send_request(0, options, peer(Who::B, Transport::Udp))
        .expect("sent");
    sim.run_until(40_000);
    // Timer E: 500 ms doubling up to T2 (4 s); Timer F at 64*T1 = 32 s.
    assert_eq!(
        sim.sent_by(Who::A, is(Method::Options)),
        [0, 500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
    );
    let timeouts: Vec<_> = sim
        .events_of(Who::A)
        .filter(|(_, _, e)| matches!(e, TxEvent::Timeout { client } if *client == id))
        .map(|(t, _, _)| *t)
        .collect();
    assert_eq!(timeouts, [32_000]);
    assert_eq!(sim.a.client_count(), 0);
}

#[test]
fn invite_retransmits_doubling_until_timer_b() {
    let mut sim = Sim::new(2);
    sim.drop = Box::new(|_, _, _| true);
    let invite = request(&mut sim.a, Method::Invite, 1);
    sim.a
        .send_request(0, invite, peer(Who::B, Transport::Udp))
        .expect("sent");
    sim.run_until(40_000);
    assert_eq!(
        sim.sent_by(Who::A, is(Method::Invite)),
        [0, 500, 1_500, 3_500, 7_500, 15_500, 31_500]
    );
    assert!(sim
        .events_of(Who::A)
        .any(|(t, _, e)| *t == 32_000 && matches!(e, TxEvent::Timeout { .. })));
}

#[test]
fn reliable_transport_sends_once() {
    let mut sim = Sim::new(3);
    sim.drop = Box::new(|_, _, _| true);
    let invite = request(&mut sim.a, Method::Invite, 1);
    sim.a
        .send_request(0, invite, peer(Who::B, Transport::Tcp))
        .expect("sent");
    sim.run_until(40_000);
    assert_eq!(sim.sent_by(Who::A, is(Method::Invite)), [0]);
    assert!(sim
        .events_of(Who::A)
        .any(|(t, _, e)| *t == 32_000 && matches!(e, TxEvent::Timeout { .. })));
}

#[test]
fn busy_answer_is_retransmitted_until_acked_and_every_repeat_re_acked() {
    let mut sim = Sim::new(4);
    // B answers 486 at once; the first two ACKs are lost.
    sim.tu_b = Box::new(|tx, now, e| {
        if let TxEvent::Request {
            server, request, ..
        } = e
        {
            let busy = response_to(request, 486, None, Some("b1"));
            tx.respond(now, *server, &busy).expect("respond");
        }
    });
    sim.drop = lose_first_acks(2);
    let invite = request(&mut sim.a, Method::Invite, 1);
    sim.a
        .send_request(0, invite, peer(Who::B, Transport::Udp))
        .expect("sent");
    sim.run_until(60_000);
    let busy = sim.sent_by(Who::B, status(486));
    assert_eq!(busy.len(), 3, "the 486 and two Timer G repeats: {busy:?}");
    assert_eq!(busy[1] - busy[0], 500);
    assert_eq!(busy[2] - busy[1], 1_000);
    assert_eq!(
        sim.sent_by(Who::A, is(Method::Ack)).len(),
        3,
        "each 486 ACKed"
    );
    // The user saw one request, one 100 and one 486: repeats are absorbed.
    assert_eq!(
        sim.events_of(Who::B)
            .filter(|(_, _, e)| matches!(e, TxEvent::Request { .. }))
            .count(),
        1
    );
    let codes: Vec<u16> = sim
        .events_of(Who::A)
        .filter_map(|(_, _, e)| match e {
            TxEvent::Response { response, .. } => response.status(),
            _ => None,
        })
        .collect();
    // The 100 and the 486 leave together; whichever comes second may be the 100, absorbed then.
    assert_eq!(codes.iter().filter(|&&c| c == 486).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|&c| c == 100 || c == 486), "{codes:?}");
    assert!(!sim
        .events_of(Who::B)
        .any(|(_, _, e)| matches!(e, TxEvent::AckTimeout { .. })));
    assert_eq!((sim.a.client_count(), sim.b.server_count()), (0, 0));
}

/// A's user ACKs every 2xx it sees (what a UAC core does).
fn ack_every_ok(invites: std::rc::Rc<std::cell::RefCell<Vec<(ClientId, Message)>>>) -> Tu<'static> {
    Box::new(move |tx, _now, e| {
        if let TxEvent::Response {
            client,
            response,
            from,
        } = e
        {
            if response.status().is_some_and(|c| (200..300).contains(&c)) {
                let invites = invites.borrow();
                let Some((_, invite)) = invites.iter().find(|(id, _)| id == client) else {
                    return;
                };
                let mut ack = ack_for(invite, response);
                let branch = tx.new_branch();
                ack.set(
                    HeaderName::Via,
                    format!("SIP/2.0/UDP 127.0.0.1:5061;branch={branch}").into_bytes(),
                );
                tx.transmit(*from, &ack);
            }
        }
    })
}

#[test]
fn ok_is_retransmitted_until_its_ack_arrives() {
    let mut sim = Sim::new(5);
    sim.tu_b = answer_all(200);
    let invites = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    sim.tu_a = ack_every_ok(invites.clone());
    sim.drop = lose_first_acks(2);
    let invite = request(&mut sim.a, Method::Invite, 1);
    let id = sim
        .a
        .send_request(0, invite.clone(), peer(Who::B, Transport::Udp))
        .expect("sent");
    invites.borrow_mut().push((id, invite));
    sim.run_until(60_000);
    let oks = sim.sent_by(Who::B, status(200));
    assert_eq!(
        oks.len(),
        3,
        "200 and two repeats until the third ACK: {oks:?}"
    );
    assert_eq!(
        sim.events_of(Who::B)
            .filter(|(_, _, e)| matches!(
                e,
                TxEvent::Ack {
                    server: Some(_),
                    ..
                }
            ))
            .count(),
        1
    );
    assert!(!sim
        .events_of(Who::B)
        .any(|(_, _, e)| matches!(e, TxEvent::AckTimeout { .. })));
    assert_eq!((sim.a.client_count(), sim.b.server_count()), (0, 0));
}

#[test]
fn ok_never_acked_is_reported() {
    let mut sim = Sim::new(6);
    sim.tu_b = answer_all(200);
    let invite = request(&mut sim.a, Method::Invite, 1);
    sim.a
        .send_request(0, invite, peer(Who::B, Transport::Udp))
        .expect("sent");
    sim.run_until(60_000);
    let ok = sim.sent_by(Who::B, status(200));
    // T1 doubling capped at T2 until 64*T1.
    let gaps: Vec<Time> = ok.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(&gaps[..4], [500, 1_000, 2_000, 4_000]);
    assert!(gaps[4..].iter().all(|&g| g == 4_000));
    assert!(sim
        .events_of(Who::B)
        .any(|(_, _, e)| matches!(e, TxEvent::AckTimeout { .. })));
}

#[test]
fn cancel_waits_for_a_provisional_then_the_invite_ends_487() {
    let mut sim = Sim::new(7);
    sim.tu_b = Box::new(|tx, now, e| match e {
        TxEvent::Request {
            server, request, ..
        } if request.method() == Some(&Method::Invite) => {
            tx.respond(now, *server, &response_to(request, 180, None, Some("b1")))
                .expect("ringing");
            PENDING.with(|p| p.borrow_mut().push((*server, request.clone())));
        }
        TxEvent::Cancelled { invite } => {
            let request = PENDING.with(|p| {
                p.borrow()
                    .iter()
                    .find(|(s, _)| s == invite)
                    .map(|(_, r)| r.clone())
            });
            let request = request.expect("the INVITE was seen");
            tx.respond(now, *invite, &response_to(&request, 487, None, Some("b1")))
                .expect("487");
        }
        _ => {}
    });
    let invite = request(&mut sim.a, Method::Invite, 1);
    let id = sim
        .a
        .send_request(0, invite, peer(Who::B, Transport::Udp))
        .expect("sent");
    // Cancelled before anything came back: the CANCEL waits for the 100.
    sim.a.cancel(0, id).expect("cancel");
    sim.run_until(60_000);
    let cancel_at = sim.sent_by(Who::A, is(Method::Cancel));
    let first_provisional = sim
        .events_of(Who::A)
        .find(|(_, _, e)| matches!(e, TxEvent::Response { response, .. } if response.status().is_some_and(|c| c < 200)))
        .map(|(t, _, _)| *t)
        .expect("a provisional");
    assert_eq!(cancel_at, [first_provisional]);
    let finals: Vec<(u16, Method)> = sim
        .events_of(Who::A)
        .filter_map(|(_, _, e)| match e {
            TxEvent::Response { response, .. } if response.status().is_some_and(|c| c >= 200) => {
                Some((response.status()?, response.cseq().ok()?.method))
            }
            _ => None,
        })
        .collect();
    assert!(
        finals.contains(&(200, Method::Cancel)) && finals.contains(&(487, Method::Invite)),
        "{finals:?}"
    );
    assert_eq!(sim.sent_by(Who::A, is(Method::Ack)).len(), 1);
}

thread_local! {
    static PENDING: std::cell::RefCell<Vec<(hotline_sip::transaction::ServerId, Message)>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[test]
fn cancel_crossing_the_ok_gets_200_and_the_call_is_acked() {
    let mut sim = Sim::new(8);
    // B rings, then answers 200 at 1 s; A cancels at 1 s too: the CANCEL and the 200 cross.
    sim.tu_b = Box::new(|tx, now, e| {
        if let TxEvent::Request {
            server, request, ..
        } = e
        {
            if request.method() == Some(&Method::Invite) {
                tx.respond(now, *server, &response_to(request, 180, None, Some("b1")))
                    .expect("ringing");
                PENDING.with(|p| p.borrow_mut().push((*server, request.clone())));
            }
        }
    });
    let invites = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    sim.tu_a = ack_every_ok(invites.clone());
    let invite = request(&mut sim.a, Method::Invite, 1);
    let id = sim
        .a
        .send_request(0, invite.clone(), peer(Who::B, Transport::Udp))
        .expect("sent");
    invites.borrow_mut().push((id, invite));
    sim.run_until(1_000);
    let (server, req) = PENDING
        .with(|p| p.borrow().last().cloned())
        .expect("ringing");
    sim.b
        .respond(1_000, server, &response_to(&req, 200, None, Some("b1")))
        .expect("answer");
    sim.a.cancel(1_000, id).expect("cancel");
    sim.run_until(60_000);
    // The CANCEL found the INVITE already answered: 200 to the CANCEL, no Cancelled event.
    assert!(!sim
        .events_of(Who::B)
        .any(|(_, _, e)| matches!(e, TxEvent::Cancelled { .. })));
    assert!(
        sim.sent_by(Who::B, |m| m.status() == Some(200)
            && m.cseq().is_ok_and(|c| c.method == Method::Cancel))
            .len()
            == 1
    );
    // The 200 to the INVITE is ACKed (the user then hangs up with BYE).
    assert!(sim.events_of(Who::B).any(|(_, _, e)| matches!(
        e,
        TxEvent::Ack {
            server: Some(_),
            ..
        }
    )));
}

#[test]
fn rfc2543_requests_without_branch_still_match() {
    let mut sim = Sim::new(9);
    sim.tu_b = Box::new(|_, _, _| {});
    // An INVITE from an RFC 2543 peer retransmitted by hand: one transaction, one event.
    let mut invite = request(&mut sim.a, Method::Invite, 1);
    invite.set(HeaderName::Via, "SIP/2.0/UDP 127.0.0.1:5061");
    for at in [0, 500, 1_500] {
        sim.b
            .handle_request(at, invite.clone(), peer(Who::A, Transport::Udp));
    }
    sim.run_until(2_000);
    assert_eq!(
        sim.events_of(Who::B)
            .filter(|(_, _, e)| matches!(e, TxEvent::Request { .. }))
            .count(),
        1
    );
    assert_eq!(
        sim.sent_by(Who::B, status(100)).len(),
        3,
        "each retransmission gets the 100 again"
    );
}

#[test]
fn lossy_network_every_transaction_completes_once() {
    for seed in 1..=5u64 {
        let mut sim = Sim::new(seed * 7919);
        sim.loss_percent = 20;
        sim.tu_b = answer_all(200);
        let invites = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        sim.tu_a = ack_every_ok(invites.clone());
        let mut ids = Vec::new();
        for n in 0..40u32 {
            let method = if n % 4 == 0 {
                Method::Invite
            } else {
                Method::Options
            };
            let m = request(&mut sim.a, method.clone(), n + 1);
            let id = sim
                .a
                .send_request(u64::from(n) * 10, m.clone(), peer(Who::B, Transport::Udp))
                .expect("sent");
            if method == Method::Invite {
                invites.borrow_mut().push((id, m));
            }
            ids.push(id);
        }
        sim.run_until(120_000);
        for id in &ids {
            let finals = sim
                .events_of(Who::A)
                .filter(|(_, _, e)| matches!(e, TxEvent::Response { client, response, .. } if client == id && response.status() == Some(200)))
                .count();
            let timed_out = sim
                .events_of(Who::A)
                .any(|(_, _, e)| matches!(e, TxEvent::Timeout { client } if client == id));
            // With 20 % loss, 11 tries in 32 s all failing is (0.36)^11 ≈ 1e-5: none expected.
            assert!(
                finals >= 1 && !timed_out,
                "seed {seed}: {id:?} finals {finals} timeout {timed_out}"
            );
        }
        let requests = sim
            .events_of(Who::B)
            .filter(|(_, _, e)| matches!(e, TxEvent::Request { .. }))
            .count();
        assert_eq!(
            requests,
            ids.len(),
            "seed {seed}: each request reached B's user once"
        );
        assert_eq!(
            (sim.a.client_count(), sim.b.server_count()),
            (0, 0),
            "seed {seed}: all ended"
        );
    }
}
