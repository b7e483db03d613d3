//! One shard: a transaction layer, the requests it answers, and the shared registrar.

mod legs;

pub use legs::{AdoptRequest, Callee, LegNote, RingRequest, ShardCommand};

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hotline_model::SipCredentials;
use hotline_sip::b2bua::{B2bua, CallEvent, Caller, Target};
use hotline_sip::digest::{Algorithm, DigestServer, Failure, Ha1, Verdict};
use hotline_sip::registrar::{contact_values, Binding, Limits, Outcome, Registrar};
use hotline_sip::registration::{Registration, RegistrationOutcome};
use hotline_sip::response::response_to;
use hotline_sip::transaction::{
    ClientId, Peer, ServerId, Timers, Transactions, Transport, TxEvent,
};
use hotline_sip::{check_request, check_response, Capabilities, HeaderName, Message, Method, Uri};
use hotline_store::dialplan::DialPlan;
use hotline_store::registrations::SipRegistration;
use hotline_store::Store;
use tokio::sync::{mpsc, watch};

use crate::media::{local_media, Anchor, Driver, EndpointHandle, Media, MediaConfig};
use crate::plan::{Destination, Plan};

use crate::transport::{Inbound, Outbound};
use crate::TelephonyError;

#[derive(Clone, Debug)]
pub struct SipConfig {
    pub listen: SocketAddr,
    /// Shards (tasks) messages are spread over by Call-ID; one per core is right.
    pub shards: usize,
    /// How long a digest challenge stays usable.
    pub nonce_lifetime: Duration,
    pub registrar: Limits,
    /// The realm (tenant slug) for phones that register to an address rather than to
    /// `sip:EXT@tenant`: by default the only tenant, if there is one.
    pub default_realm: Option<String>,
    /// Authentication failures from one address within `ban_window` that ban it.
    pub ban_after: u32,
    pub ban_window: Duration,
    pub ban_time: Duration,
    /// Digest challenges offered, in order (see `DigestServer::set_preference`); MD5 alone by
    /// default for old phones, SHA-256 added with `[sip] digest_sha256 = true`.
    pub digest_algorithms: Vec<Algorithm>,
    /// The address put in Via and Contact when `listen` is a wildcard; by default the
    /// interface that routes to each peer.
    pub advertise: Option<IpAddr>,
    /// How often the dial plan is read again from the store.
    pub plan_reload: Duration,
    /// Messages per second from one address before they are dropped (0: no limit); trunks
    /// are exempt.
    pub rate_limit: u32,
    /// How often registered phones (over UDP) get an OPTIONS, to keep their NAT binding open
    /// and show they are alive; zero turns it off.
    pub keepalive: Duration,
    /// Drop requests whose User-Agent names a known scanner (on by default; off only to
    /// test the defences behind it).
    pub drop_scanners: bool,
    /// The media engine: calls' RTP is anchored in Hotline (relayed, recorded) and service
    /// numbers are answered. Without it, calls' media flows between the peers directly and
    /// service numbers are refused.
    pub media: Option<MediaConfig>,
    /// A CA (PEM) trusted beside the system's roots when flows look things up in company
    /// systems over `https://` (a company's own CA); empty: the system's roots alone.
    pub lookup_ca_pem: String,
}

impl SipConfig {
    pub fn new(listen: SocketAddr) -> SipConfig {
        SipConfig {
            listen,
            shards: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            nonce_lifetime: Duration::from_secs(300),
            registrar: Limits::default(),
            default_realm: None,
            ban_after: 10,
            ban_window: Duration::from_secs(60),
            ban_time: Duration::from_secs(600),
            digest_algorithms: vec![Algorithm::Md5],
            advertise: None,
            plan_reload: Duration::from_secs(5),
            rate_limit: 200,
            drop_scanners: true,
            keepalive: Duration::from_secs(30),
            media: None,
            lookup_ca_pem: String::new(),
        }
    }
}

/// What every shard shares: the store, the registrar, the digest servers, the ban list.
pub struct Shared {
    pub(crate) store: Store,
    config: SipConfig,
    caps: Capabilities,
    key: [u8; 32],
    registrar: Mutex<Registrar>,
    digest: Mutex<HashMap<String, DigestServer>>,
    failures: Mutex<HashMap<IpAddr, FailureCount>>,
    /// The dial plan as read from the store, and built for look-ups; `plan_version` counts
    /// the changes so shards notice them with one atomic read.
    plan: std::sync::RwLock<(DialPlan, Arc<Plan>)>,
    plan_version: AtomicU64,
    /// The port actually bound (when `listen` asked for any).
    pub(crate) bound_port: u16,
    limiter: Mutex<crate::security::RateLimiter>,
    pub(crate) media: Option<Media>,
    /// The flows calls run, reloaded with the dial plan.
    pub(crate) flows: Arc<crate::flows::FlowLibrary>,
    /// Routing, once the binary has started it.
    routing: std::sync::OnceLock<hotline_acd::AcdLink>,
    /// Calls waiting in or served through routing, by interaction (= contact) id.
    contacts: Mutex<HashMap<i64, mpsc::UnboundedSender<crate::calls::RoutingNote>>>,
    /// What the desks are told (screen pops).
    pub(crate) notices: tokio::sync::broadcast::Sender<crate::Notice>,
    /// Every shard's command channel (calls Hotline places itself pick one).
    pub(crate) shard_commands: std::sync::OnceLock<Vec<mpsc::UnboundedSender<ShardCommand>>>,
    /// Legs that live on another shard than their call's (taken over from a call there):
    /// their commands go to that shard.
    leg_homes: Mutex<HashMap<u64, usize>>,
    /// What flows' `https://` lookups trust (the system's roots and `lookup_ca_pem`), made
    /// once at start.
    pub(crate) lookup_tls: Result<Arc<hotline_tls::ClientConfig>, String>,
}

pub(crate) fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    // Without OS randomness, time is a weak but working seed for branches and tags.
    if getrandom::fill(&mut b).is_err() {
        return wall_ms();
    }
    u64::from_le_bytes(b)
}

pub(crate) fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Shared {
    pub(crate) async fn load(
        config: &SipConfig,
        store: Store,
        bound_port: u16,
    ) -> Result<Shared, TelephonyError> {
        let mut key = [0u8; 32];
        for chunk in key.chunks_mut(8) {
            chunk.copy_from_slice(&random_seed().to_le_bytes());
        }
        let mut config = config.clone();
        if config.default_realm.is_none() {
            let tenants = store.list_tenants().await?;
            if tenants.len() == 1 {
                config.default_realm = tenants.first().map(|t| t.slug.clone());
            }
        }
        let mut registrar = Registrar::new(config.registrar);
        let now = wall_ms();
        let mut grouped: HashMap<String, Vec<Binding>> = HashMap::new();
        for r in store.live_registrations(now as i64).await? {
            grouped
                .entry(format!("{}:{}", r.tenant_id, r.aor))
                .or_default()
                .push(Binding {
                    contact: r.contact,
                    expires_at: r.expires_at.max(0) as u64,
                    q: r.q.clamp(0, 1000) as u16,
                    call_id: r.call_id,
                    cseq: r.cseq.clamp(0, i64::from(u32::MAX)) as u32,
                    source: r.source,
                });
        }
        let restored = grouped.len();
        for (aor, bindings) in grouped {
            registrar.restore(now, &aor, bindings);
        }
        tracing::info!(restored, "SIP registrations restored");
        let source = store.dial_plan().await?;
        let plan = Arc::new(Plan::build(source.clone()).await);
        let flows = Arc::new(crate::flows::FlowLibrary::default());
        flows.reload(&store).await?;
        let media = config.media.clone().map(|m| {
            let bind = config.listen.ip();
            let advertise = match (config.advertise, bind) {
                (Some(ip), _) => ip,
                (None, ip) if !ip.is_unspecified() => ip,
                _ => std::net::UdpSocket::bind("0.0.0.0:0")
                    .and_then(|s| {
                        s.connect("192.0.2.1:9")?;
                        s.local_addr()
                    })
                    .map(|a| a.ip())
                    .unwrap_or(IpAddr::from([127, 0, 0, 1])),
            };
            tracing::info!(ports = ?m.ports, %advertise, "media engine ready");
            Media::new(m, bind, advertise)
        });
        Ok(Shared {
            media,
            flows,
            routing: std::sync::OnceLock::new(),
            contacts: Mutex::new(HashMap::new()),
            notices: tokio::sync::broadcast::channel(4096).0,
            shard_commands: std::sync::OnceLock::new(),
            leg_homes: Mutex::new(HashMap::new()),
            lookup_tls: hotline_tls::client_config(&config.lookup_ca_pem)
                .map_err(|e| format!("lookup_ca_pem: {e}")),
            plan_version: AtomicU64::new(1),
            limiter: Mutex::new(crate::security::RateLimiter::new(config.rate_limit)),
            bound_port,
            plan: std::sync::RwLock::new((source, plan)),
            store,
            caps: Capabilities::default(),
            key,
            registrar: Mutex::new(registrar),
            digest: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            config,
        })
    }

    pub(crate) fn routing(&self) -> Option<hotline_acd::AcdLink> {
        self.routing.get().cloned()
    }

    pub(crate) fn set_routing(&self, link: hotline_acd::AcdLink) -> bool {
        self.routing.set(link).is_ok()
    }

    /// Registers a call as routing's contact: the receiver gets routing's notes for it.
    pub(crate) fn contact_channel(
        &self,
        contact: i64,
    ) -> mpsc::UnboundedReceiver<crate::calls::RoutingNote> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.register_contact(contact, tx);
        rx
    }

    pub(crate) fn register_contact(
        &self,
        contact: i64,
        tx: mpsc::UnboundedSender<crate::calls::RoutingNote>,
    ) {
        if let Ok(mut c) = self.contacts.lock() {
            c.insert(contact, tx);
        }
    }

    pub(crate) fn has_contact(&self, contact: i64) -> bool {
        self.contacts.lock().is_ok_and(|c| c.contains_key(&contact))
    }

    pub(crate) fn unregister_contact(&self, contact: i64) {
        if let Ok(mut c) = self.contacts.lock() {
            c.remove(&contact);
        }
    }

    /// Hands a routing note to the call it is about; `false` when no live call has it.
    pub(crate) fn to_contact(&self, contact: i64, note: crate::calls::RoutingNote) -> bool {
        let tx = self
            .contacts
            .lock()
            .ok()
            .and_then(|c| c.get(&contact).cloned());
        tx.is_some_and(|tx| tx.send(note).is_ok())
    }

    /// Sends a command about a leg to the shard that holds it: a leg taken over from a call
    /// of another shard ([`ShardCommand::Adopt`]) lives there; others on `own`.
    pub(crate) fn command(&self, own: &mpsc::UnboundedSender<ShardCommand>, command: ShardCommand) {
        let home = command
            .leg()
            .and_then(|leg| self.leg_homes.lock().ok()?.get(&leg).copied());
        let shard = home.and_then(|i| self.shard_commands.get()?.get(i));
        let _ = shard.unwrap_or(own).send(command);
    }

    /// Asks the shard holding the phone-to-phone call that `adopt.replaces` names to take
    /// over its far leg as `adopt.leg` (later commands about the leg follow it there).
    pub(crate) fn adopt(&self, adopt: AdoptRequest) {
        let shards = self.shard_commands.get().map_or(0, Vec::len);
        let home = crate::transport::shard_of(&adopt.replaces.call_id, shards);
        if let Ok(mut h) = self.leg_homes.lock() {
            h.insert(adopt.leg, home);
        }
        let sent = self
            .shard_commands
            .get()
            .and_then(|s| s.get(home))
            .is_some_and(|s| s.send(ShardCommand::Adopt(adopt)).is_ok());
        if !sent {
            tracing::warn!("no shard to take over a consultation's leg");
        }
    }

    /// A leg ended: nothing routes to it any more.
    pub(crate) fn leg_left(&self, leg: u64) {
        if let Ok(mut h) = self.leg_homes.lock() {
            h.remove(&leg);
        }
    }

    pub(crate) fn notify(&self, notice: crate::Notice) {
        let _ = self.notices.send(notice);
    }

    /// Whether an outbound route of the tenant leads to `number`.
    pub(crate) fn has_route(&self, tenant_id: i64, number: &str) -> bool {
        self.plan().1.route_out(tenant_id, number).is_some()
    }

    /// The current plan and its version.
    fn plan(&self) -> (u64, Arc<Plan>) {
        let version = self.plan_version.load(Ordering::Acquire);
        let plan = match self.plan.read() {
            Ok(p) => p.1.clone(),
            Err(e) => e.into_inner().1.clone(),
        };
        (version, plan)
    }

    /// Reads the dial plan again (trunks, numbers, routes); builds it (resolving trunk host
    /// names) only when the store's differs from what is in use.
    pub(crate) async fn reload_plan(&self) -> Result<(), TelephonyError> {
        self.flows.reload(&self.store).await?;
        let source = self.store.dial_plan().await?;
        let same = match self.plan.read() {
            Ok(p) => p.0 == source,
            Err(e) => e.into_inner().0 == source,
        };
        if same {
            return Ok(());
        }
        let plan = Arc::new(Plan::build(source.clone()).await);
        match self.plan.write() {
            Ok(mut p) => *p = (source, plan),
            Err(e) => *e.into_inner() = (source, plan),
        }
        self.plan_version.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Whether a message from `from` may go on (banned and flooding addresses may not;
    /// trunks are not rate-limited).
    fn admit(&self, from: &Peer, now: Instant, plan: &Plan) -> bool {
        if self.banned(from.addr.ip(), now) {
            return false;
        }
        if plan.trunk_from(from.addr).is_some() {
            return true;
        }
        let verdict = match self.limiter.lock() {
            Ok(mut l) => l.admit(from.addr.ip(), now),
            Err(_) => return true,
        };
        match verdict {
            crate::security::Admit::Yes => true,
            crate::security::Admit::No { first } => {
                if first {
                    crate::security::log("rate_limited", from, "-", None, "dropped");
                }
                false
            }
        }
    }

    fn banned(&self, ip: IpAddr, now: Instant) -> bool {
        let Ok(f) = self.failures.lock() else {
            return false;
        };
        f.get(&ip)
            .and_then(|(_, _, until)| *until)
            .is_some_and(|until| now < until)
    }

    /// Counts a failed authentication; true when it bans the address now.
    fn auth_failed(&self, ip: IpAddr, now: Instant) -> bool {
        let Ok(mut f) = self.failures.lock() else {
            return false;
        };
        if f.len() > 100_000 {
            f.retain(|_, (_, start, until)| {
                now.duration_since(*start) < self.config.ban_window
                    || until.is_some_and(|u| now < u)
            });
        }
        let entry = f.entry(ip).or_insert((0, now, None));
        if now.duration_since(entry.1) > self.config.ban_window {
            *entry = (0, now, None);
        }
        entry.0 += 1;
        if entry.0 >= self.config.ban_after && entry.2.is_none() {
            entry.2 = Some(now + self.config.ban_time);
            return true;
        }
        false
    }

    fn with_digest<T>(&self, realm: &str, f: impl FnOnce(&mut DigestServer) -> T) -> Option<T> {
        let mut servers = self.digest.lock().ok()?;
        let lifetime = self.config.nonce_lifetime.as_millis() as u64;
        let server = servers.entry(realm.to_string()).or_insert_with(|| {
            let mut d = DigestServer::new(realm, self.key, lifetime);
            d.set_preference(self.config.digest_algorithms.clone());
            d
        });
        Some(f(server))
    }
}

/// Authentication failures of one address: how many since when, and a ban's end.
type FailureCount = (u32, Instant, Option<Instant>);

/// User agents of known scanners, lower-case: dropped without an answer.
const SCANNERS: &[&str] = &[
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "vaxsipuseragent",
    "sundayddr",
    "iwar",
    "sip-scan",
];

struct Shard {
    index: usize,
    tx: Transactions,
    b2b: B2bua,
    out: Outbound,
    shared: Arc<Shared>,
    epoch: Instant,
    /// Our address as seen from each peer IP (for Via and Contact).
    local_ips: HashMap<IpAddr, IpAddr>,
    /// Shard 0 registers with the carriers whose trunks ask for it: by trunk id.
    registrations: HashMap<i64, CarrierRegistration>,
    registering: HashMap<ClientId, i64>,
    /// The dial plan this shard routes by, and its version (see `Shared::plan`).
    plan: Arc<Plan>,
    plan_version: u64,
    /// When shard 0 next pings registered phones.
    next_keepalive: Option<u64>,
    /// Anchors the media of this shard's calls (when the media engine runs).
    anchor: Option<Anchor>,
    /// Calls Hotline answered itself, by Call-ID.
    local_calls: HashMap<String, LocalCall>,
    /// What this shard's call tasks send it (ring an agent, hang up).
    commands: mpsc::UnboundedSender<ShardCommand>,
    /// Legs placed to agents' phones: by Call-ID, by the caller's leg number, by INVITE.
    out_legs: HashMap<String, legs::OutLeg>,
    leg_calls: HashMap<u64, String>,
    leg_clients: HashMap<ClientId, String>,
}

/// A call Hotline answered itself (a service number).
struct LocalCall {
    dialog: hotline_sip::dialog::Dialog,
    peer: Peer,
    local: String,
    endpoint: EndpointHandle,
    answer: Vec<u8>,
}

struct CarrierRegistration {
    reg: Registration,
    peer: Peer,
    name: String,
}

/// Why an authentication did not pass: the answer to send.
type Refused = Box<Message>;

impl Shard {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    async fn flush(&mut self) {
        while let Some(t) = self.tx.poll_transmit() {
            self.out.send(t).await;
        }
    }

    async fn on_inbound(&mut self, inbound: Inbound) {
        let Inbound { message, from } = inbound;
        let now = self.now();
        let method = || message.method().map_or("-", Method::as_str);
        self.refresh_plan();
        if !self.shared.admit(&from, Instant::now(), &self.plan) {
            return;
        }
        if let Some(ua) = message
            .value(&HeaderName::UserAgent)
            .filter(|_| self.shared.config.drop_scanners)
        {
            let ua = ua.to_ascii_lowercase();
            if SCANNERS.iter().any(|s| ua.contains(s)) {
                crate::security::log("scanner", &from, method(), None, "dropped");
                return;
            }
        }
        if message.is_request() {
            match check_request(&message, &self.shared.caps) {
                Ok(()) => self.tx.handle_request(now, message, from),
                Err(rejection) => {
                    if message.method() == Some(&Method::Ack) {
                        return;
                    }
                    if rejection.code == 400 || rejection.code == 505 {
                        crate::security::log(
                            "malformed",
                            &from,
                            method(),
                            None,
                            &rejection.code.to_string(),
                        );
                    }
                    let tag = self.tx.new_tag();
                    let answer = rejection.response(&message, Some(&tag));
                    self.tx.transmit(from, &answer);
                }
            }
        } else if check_response(&message).is_ok() {
            self.tx.handle_response(now, message, from);
        }
        self.events().await;
    }

    async fn events(&mut self) {
        loop {
            self.flush().await;
            while let Some(e) = self.b2b.poll_event() {
                match e {
                    CallEvent::Progress { call, code } => {
                        tracing::debug!(call = call.0, code, "call progress")
                    }
                    CallEvent::Answered { call } => tracing::info!(call = call.0, "call answered"),
                    CallEvent::Ended { call, code, by } => {
                        tracing::info!(call = call.0, code, by = ?by, "call ended");
                        if let Some(a) = &self.anchor {
                            a.end(call);
                        }
                    }
                }
            }
            let Some(event) = self.tx.poll_event() else {
                break;
            };
            let now = self.now();
            let Some(event) = self.b2b.handle(&mut self.tx, now, event) else {
                continue;
            };
            match event {
                TxEvent::Response {
                    client, response, ..
                } => {
                    if self.leg_response(client, &response) {
                        continue;
                    }
                    if let Some(&trunk) = self.registering.get(&client) {
                        self.registration_answer(trunk, &response);
                    }
                }
                TxEvent::Timeout { client } => {
                    if self.leg_timeout(client) {
                        continue;
                    }
                    if let Some(trunk) = self.registering.remove(&client) {
                        if let Some(r) = self.registrations.get_mut(&trunk) {
                            r.reg.on_timeout(now);
                            tracing::warn!(trunk = %r.name, "carrier registration: no answer");
                        }
                    }
                }
                TxEvent::ClientDone { client } => {
                    self.leg_client_done(client);
                    self.registering.remove(&client);
                }
                TxEvent::Request {
                    server,
                    request,
                    from,
                } => {
                    let new_call = request.method() == Some(&Method::Invite)
                        && request.to_header().is_ok_and(|t| t.tag().is_none());
                    if new_call {
                        self.invite(server, request, from).await;
                        continue;
                    }
                    let answer = self.answer(&request, from).await;
                    let now = self.now();
                    if let Err(e) = self.tx.respond(now, server, &answer) {
                        tracing::debug!(error = %e, "answer not sent");
                    }
                }
                _ => {}
            }
        }
    }

    /// Takes the shared plan when it changed (one atomic read when it did not); shard 0 then
    /// brings its carrier registrations in line.
    fn refresh_plan(&mut self) {
        if self.shared.plan_version.load(Ordering::Acquire) == self.plan_version {
            return;
        }
        (self.plan_version, self.plan) = self.shared.plan();
        self.sync_registrations();
    }

    /// Shard 0 keeps a registration for every trunk that asks for one (called when the dial
    /// plan changes).
    fn sync_registrations(&mut self) {
        if self.index != 0 {
            return;
        }
        let plan = self.plan.clone();
        let wanted: Vec<&crate::plan::Trunk> = plan
            .trunks
            .iter()
            .filter(|t| t.register && t.credentials.is_some())
            .collect();
        self.registrations
            .retain(|id, _| wanted.iter().any(|t| t.id == *id));
        for t in wanted {
            let Some(credentials) = t.credentials.clone() else {
                continue;
            };
            if self.registrations.contains_key(&t.id) {
                continue;
            }
            let local = self.local_for(t.addr);
            let transport = if t.transport == Transport::Tcp {
                ";transport=tcp"
            } else {
                ""
            };
            let aor = format!("sip:{}@{}", credentials.username, t.host);
            let registrar = format!("sip:{}:{}{transport}", t.host, t.addr.port());
            let contact = format!("<sip:{}@{local}{transport}>", credentials.username);
            let call_id = format!("hl0-{}{}", self.tx.new_tag(), self.tx.new_tag());
            let from_tag = self.tx.new_tag();
            let reg = Registration::new(
                &aor,
                &registrar,
                &contact,
                credentials,
                600,
                &call_id,
                &from_tag,
            );
            let peer = Peer {
                transport: t.transport,
                addr: t.addr,
                connection: None,
            };
            self.registrations.insert(
                t.id,
                CarrierRegistration {
                    reg,
                    peer,
                    name: t.name.clone(),
                },
            );
        }
    }

    fn registration_due(&self) -> Option<u64> {
        self.registrations
            .values()
            .filter_map(|r| r.reg.due())
            .chain(self.next_keepalive)
            .min()
    }

    /// Shard 0 sends an OPTIONS to every phone registered over UDP, at the address its
    /// REGISTER came from (RFC 3261 §11; the answer only matters to the NAT on the way).
    fn keepalive_due(&mut self, now: u64) {
        let every = self.shared.config.keepalive.as_millis() as u64;
        if self.index != 0 || every == 0 {
            return;
        }
        match self.next_keepalive {
            None => {
                self.next_keepalive = Some(now + every);
                return;
            }
            Some(at) if at > now => return,
            Some(_) => self.next_keepalive = Some(now + every),
        }
        let bindings = self
            .shared
            .registrar
            .lock()
            .map(|r| r.live(wall_ms()))
            .unwrap_or_default();
        for b in bindings {
            let Some(addr) = b
                .source
                .strip_prefix("udp:")
                .and_then(|a| a.parse::<SocketAddr>().ok())
            else {
                continue;
            };
            let local = self.local_for(addr);
            let mut m = Message::request(Method::Options, &b.contact);
            m.push(HeaderName::Via, self.tx.via(Transport::Udp, &local))
                .push(HeaderName::MaxForwards, &b"70"[..])
                .push(
                    HeaderName::From,
                    format!("<sip:keepalive@{local}>;tag={}", self.tx.new_tag()).into_bytes(),
                )
                .push(HeaderName::To, format!("<{}>", b.contact).into_bytes())
                .push(
                    HeaderName::CallId,
                    format!("hl0-{}{}", self.tx.new_tag(), self.tx.new_tag()).into_bytes(),
                )
                .push(HeaderName::CSeq, &b"1 OPTIONS"[..]);
            let peer = Peer {
                transport: Transport::Udp,
                addr,
                connection: None,
            };
            if let Err(e) = self.tx.send_request(now, m, peer) {
                tracing::debug!(error = %e, "keep-alive not sent");
            }
        }
    }

    /// Sends the REGISTERs that are due.
    fn register_due(&mut self, now: u64) {
        let due: Vec<i64> = self
            .registrations
            .iter()
            .filter(|(_, r)| r.reg.due().is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.send_registration(now, id);
        }
    }

    fn send_registration(&mut self, now: u64, trunk: i64) {
        let cnonce = self.tx.new_tag();
        let Some(peer) = self.registrations.get(&trunk).map(|r| r.peer) else {
            return;
        };
        let local = self.local_for(peer.addr);
        let Some(r) = self.registrations.get_mut(&trunk) else {
            return;
        };
        let mut m = r.reg.request(&cnonce);
        m.push_front(HeaderName::Via, self.tx.via(peer.transport, &local));
        match self.tx.send_request(now, m, peer) {
            Ok(client) => {
                self.registering.insert(client, trunk);
            }
            Err(e) => {
                r.reg.on_timeout(now);
                tracing::warn!(trunk = %r.name, error = %e, "carrier registration not sent");
            }
        }
    }

    fn registration_answer(&mut self, trunk: i64, response: &Message) {
        let now = self.now();
        let Some(r) = self.registrations.get_mut(&trunk) else {
            return;
        };
        match r.reg.on_response(now, response) {
            RegistrationOutcome::Again => self.send_registration(now, trunk),
            RegistrationOutcome::Registered { expires } => {
                tracing::info!(trunk = %r.name, expires, "registered with the carrier")
            }
            RegistrationOutcome::Failed { code } => {
                tracing::warn!(trunk = %r.name, code, "carrier registration refused; retrying in 60 s")
            }
            RegistrationOutcome::Ignored => {}
        }
    }

    /// Our address as `from`'s side sees it: the advertised or listening address, or the
    /// interface the kernel routes to that peer by.
    fn local_for(&mut self, peer: SocketAddr) -> String {
        let port = self.shared.config.listen.port();
        let port = if port == 0 {
            self.shared.bound_port
        } else {
            port
        };
        let ip = match (self.shared.config.advertise, self.shared.config.listen.ip()) {
            (Some(ip), _) => ip,
            (None, ip) if !ip.is_unspecified() => ip,
            _ => *self.local_ips.entry(peer.ip()).or_insert_with(|| {
                let any: SocketAddr = if peer.is_ipv4() {
                    "0.0.0.0:0".parse().expect("literal")
                } else {
                    "[::]:0".parse().expect("literal")
                };
                std::net::UdpSocket::bind(any)
                    .and_then(|s| {
                        s.connect(peer)?;
                        s.local_addr()
                    })
                    .map(|a| a.ip())
                    .unwrap_or(peer.ip())
            }),
        };
        SocketAddr::new(ip, port).to_string()
    }

    /// A new call: where it goes (a trunk's DID, or what an authenticated phone dialled),
    /// then the B leg.
    async fn invite(&mut self, server: ServerId, request: Message, from: Peer) {
        let tag = self.tx.new_tag();
        let now = self.now();
        let plan = self.plan.clone();
        let dialled = request
            .request_uri()
            .and_then(|u| Uri::parse(u).ok())
            .and_then(|u| u.as_sip().and_then(|s| s.user_text()))
            .unwrap_or_default();
        let refuse = |tx: &mut Transactions, code: u16, reason: Option<&str>| {
            let r = response_to(&request, code, reason, Some(&tag));
            let _ = tx.respond(now, server, &r);
        };
        // A phone registered from a trunk's address (a PBX and its phones behind one NAT;
        // every peer of a test on 127.0.0.1) is a phone, not the trunk: its own source
        // address and port are what it registered from.
        let trunk = plan
            .trunk_from(from.addr)
            .filter(|t| !self.phone_at(t.tenant_id, &request, from.addr));
        let routed = match trunk {
            Some(trunk) => {
                let tenant_id = trunk.tenant_id;
                plan.number(tenant_id, &dialled)
                    .cloned()
                    .map(|d| (tenant_id, d))
            }
            None => {
                let row = match self.authenticate(&request, from, &tag, true).await {
                    Ok(row) => row,
                    Err(answer) => {
                        let now = self.now();
                        let _ = self.tx.respond(now, server, &answer);
                        return;
                    }
                };
                let tenant_id = row.tenant_id;
                let aor = format!("{tenant_id}:{dialled}");
                let registered = self
                    .shared
                    .registrar
                    .lock()
                    .map(|r| !r.lookup(wall_ms(), &aor).is_empty())
                    .unwrap_or(false);
                if registered {
                    Some((tenant_id, Destination::Extension(dialled.clone())))
                } else if let Some(d) = plan.number(tenant_id, &dialled) {
                    Some((tenant_id, d.clone()))
                } else {
                    plan.route_out(tenant_id, &dialled)
                        .map(|(trunk, number)| (tenant_id, Destination::Trunk { trunk, number }))
                }
            }
        };
        let Some((tenant_id, destination)) = routed else {
            refuse(&mut self.tx, 404, None);
            return;
        };
        let (uri, peer, credentials) = match destination {
            Destination::Extension(ext) => {
                let reachable = self
                    .registered_phone(tenant_id, &ext)
                    .map(|(contact, peer)| (contact, peer, None));
                match reachable {
                    Some(r) => r,
                    None => {
                        // The extension exists in the plan but no phone is registered.
                        refuse(&mut self.tx, 480, None);
                        return;
                    }
                }
            }
            Destination::Service(app) => {
                self.answer_locally(server, request, from, &tag, Driver::App(app));
                return;
            }
            Destination::Flow(name) => {
                let Some(loaded) = self.shared.flows.flow(tenant_id, &name) else {
                    tracing::warn!(flow = %name, "a number leads to a flow that is not loaded");
                    refuse(&mut self.tx, 480, Some("Flow Unavailable"));
                    return;
                };
                let caller = request
                    .from_header()
                    .ok()
                    .and_then(|f| f.uri.as_sip().and_then(|s| s.user_text()))
                    .unwrap_or_default();
                let call_id = request.call_id().unwrap_or_default().to_string();
                let (notes, rx) = tokio::sync::mpsc::unbounded_channel();
                let Some(endpoint) =
                    self.answer_locally(server, request, from, &tag, Driver::Flow(notes))
                else {
                    return;
                };
                let arrival = crate::calls::Arrival {
                    tenant_id,
                    flow_name: name,
                    caller,
                    dialled: dialled.clone(),
                    call_id,
                };
                let ctx = crate::calls::Context {
                    shared: self.shared.clone(),
                    shard: self.commands.clone(),
                };
                tokio::spawn(crate::calls::run(arrival, loaded, ctx, endpoint, rx));
                return;
            }
            Destination::Trunk { trunk, number } => {
                let Some(t) = plan.trunks.get(trunk) else {
                    refuse(&mut self.tx, 404, None);
                    return;
                };
                let host = match t.addr.ip() {
                    IpAddr::V6(ip) => format!("[{ip}]"),
                    IpAddr::V4(ip) => ip.to_string(),
                };
                let mut uri = format!("sip:{number}@{host}:{}", t.addr.port());
                if t.transport == Transport::Tcp {
                    uri.push_str(";transport=tcp");
                }
                (
                    uri,
                    Peer {
                        transport: t.transport,
                        addr: t.addr,
                        connection: None,
                    },
                    t.credentials.clone(),
                )
            }
        };
        let target = Target {
            uri,
            peer,
            local: self.local_for(peer.addr),
            from: None,
            call_id: format!(
                "hl{}-{}{}",
                self.index,
                self.tx.new_tag(),
                self.tx.new_tag()
            ),
            credentials,
        };
        let caller = Caller {
            server,
            invite: request,
            from,
            local: self.local_for(from.addr),
        };
        let now = self.now();
        if let Some(call) = self.b2b.start(&mut self.tx, now, caller, target) {
            tracing::info!(call = call.0, tenant_id, "call placed");
        }
    }

    /// Whether `request` comes from the phone registered for its From's extension in the
    /// tenant, at `addr` (the address its REGISTER came from).
    fn phone_at(&self, tenant_id: i64, request: &Message, addr: SocketAddr) -> bool {
        let user = request
            .from_header()
            .ok()
            .and_then(|f| f.uri.as_sip().and_then(|s| s.user_text()));
        user.and_then(|u| self.registered_phone(tenant_id, &u))
            .is_some_and(|(_, peer)| peer.addr == addr)
    }

    /// Where the phone registered for an extension is: its Contact (the best q first) and
    /// the address its REGISTER came from (requests go there, for NAT).
    pub(crate) fn registered_phone(&self, tenant_id: i64, ext: &str) -> Option<(String, Peer)> {
        let mut bindings = self
            .shared
            .registrar
            .lock()
            .map(|r| r.lookup(wall_ms(), &format!("{tenant_id}:{ext}")))
            .unwrap_or_default();
        bindings.sort_by_key(|b| std::cmp::Reverse(b.q));
        bindings.iter().find_map(|b| {
            let (transport, addr) = b.source.split_once(':')?;
            let addr: SocketAddr = addr.parse().ok()?;
            let transport = if transport == "tcp" {
                Transport::Tcp
            } else {
                Transport::Udp
            };
            Some((
                b.contact.clone(),
                Peer {
                    transport,
                    addr,
                    connection: None,
                },
            ))
        })
    }

    /// Answers a call with Hotline's own media (a service number or a flow); the endpoint
    /// when the call was answered.
    fn answer_locally(
        &mut self,
        server: ServerId,
        request: Message,
        from: Peer,
        tag: &str,
        driver: Driver,
    ) -> Option<EndpointHandle> {
        let now = self.now();
        let respond = |tx: &mut Transactions, r: Message| {
            let _ = tx.respond(now, server, &r);
        };
        let Some(media) = self.shared.media.clone() else {
            respond(
                &mut self.tx,
                response_to(&request, 480, Some("No Media Engine"), Some(tag)),
            );
            return None;
        };
        let Some(port) = media.take_port() else {
            respond(
                &mut self.tx,
                response_to(&request, 503, Some("No RTP Port"), Some(tag)),
            );
            return None;
        };
        let local = local_media(media.advertise(), port.port, random_seed() >> 40);
        let (negotiated, body) = match hotline_media::sdp::answer(request.body(), &local) {
            Ok(x) => x,
            Err(e) => {
                tracing::info!(error = %e, "offer refused");
                let mut r = response_to(&request, 488, None, Some(tag));
                r.push(
                    HeaderName::Warning,
                    format!("304 hotline \"{e}\"").into_bytes(),
                );
                respond(&mut self.tx, r);
                return None;
            }
        };
        let local_addr = self.local_for(from.addr);
        let contact = match from.transport {
            Transport::Udp => format!("<sip:{local_addr}>"),
            Transport::Tcp => format!("<sip:{local_addr};transport=tcp>"),
        };
        let Ok(mut dialog) = hotline_sip::dialog::Dialog::uas(&request, tag, &contact, 1) else {
            respond(&mut self.tx, response_to(&request, 400, None, Some(tag)));
            return None;
        };
        if let Ok(cseq) = request.cseq() {
            dialog.answered(cseq.seq, 200);
        }
        let call_id = request.call_id().unwrap_or_default().to_string();
        let tag_name = match driver {
            Driver::App(_) => "service",
            Driver::Flow(_) => "flow",
        };
        let endpoint = media.start_endpoint(port, negotiated, driver, tag_name);
        let mut ok = response_to(&request, 200, None, Some(tag));
        ok.push(HeaderName::Contact, contact.into_bytes());
        ok.set_body("application/sdp", body.clone().into_bytes());
        respond(&mut self.tx, ok);
        tracing::info!(session = endpoint.session, "service call answered");
        self.local_calls.insert(
            call_id,
            LocalCall {
                dialog,
                peer: from,
                local: local_addr,
                endpoint: endpoint.clone(),
                answer: body.into_bytes(),
            },
        );
        Some(endpoint)
    }

    /// An in-dialog request on a call Hotline answered itself.
    fn local_request(&mut self, request: &Message, tag: &str) -> Message {
        let answer = self.local_request_inner(request, tag);
        let id = request.call_id().unwrap_or_default();
        if let (Some(c), Ok(cseq), Some(code)) = (
            self.local_calls.get_mut(id),
            request.cseq(),
            answer.status(),
        ) {
            c.dialog.answered(cseq.seq, code);
        }
        answer
    }

    fn local_request_inner(&mut self, request: &Message, tag: &str) -> Message {
        let id = request.call_id().unwrap_or_default().to_string();
        let Some(call) = self.local_calls.get_mut(&id) else {
            return response_to(request, 481, None, Some(tag));
        };
        if let Err(refusal) = call.dialog.on_request(request) {
            return refusal.response(request);
        }
        match request.method() {
            Some(Method::Bye) => {
                call.endpoint.stop();
                self.local_calls.remove(&id);
                response_to(request, 200, None, None)
            }
            Some(Method::Invite) | Some(Method::Update) => {
                // Hold and resume are heard by the endpoint from the RTP itself; our answer
                // stays what it was.
                let mut r = response_to(request, 200, None, None);
                r.push(
                    HeaderName::Contact,
                    call.dialog.local_contact.clone().into_bytes(),
                );
                if !request.body().is_empty() {
                    r.set_body("application/sdp", call.answer.clone());
                }
                r
            }
            // Callers are not let to move a call Hotline answered.
            Some(Method::Refer) => response_to(request, 603, None, None),
            _ => response_to(request, 200, None, None),
        }
    }

    /// Hangs up calls whose media ended by itself (the caller went silent).
    fn end_idle_local_calls(&mut self) {
        let ended: Vec<String> = self
            .local_calls
            .iter()
            .filter(|(_, c)| c.endpoint.is_closed())
            .map(|(id, _)| id.clone())
            .collect();
        for id in ended {
            self.hang_up_local(&id, "service call hung up: no media");
        }
    }

    /// Sends BYE to the caller of a call Hotline answered itself and forgets the call.
    fn hang_up_local(&mut self, call_id: &str, why: &'static str) {
        let Some(mut c) = self.local_calls.remove(call_id) else {
            return;
        };
        c.endpoint.stop();
        let mut bye = c.dialog.request(Method::Bye);
        bye.push_front(HeaderName::Via, self.tx.via(c.peer.transport, &c.local));
        let now = self.now();
        let _ = self.tx.send_request(now, bye, c.peer);
        tracing::info!(session = c.endpoint.session, "{why}");
    }

    async fn answer(&mut self, request: &Message, from: Peer) -> Message {
        let tag = self.tx.new_tag();
        match request.method() {
            Some(Method::Options) => {
                let mut r = response_to(request, 200, None, Some(&tag));
                r.push(
                    HeaderName::Allow,
                    self.shared.caps.allow_header().into_bytes(),
                )
                .push(
                    HeaderName::Supported,
                    self.shared.caps.supported_header().into_bytes(),
                )
                .push(HeaderName::Accept, "application/sdp");
                r
            }
            Some(Method::Register) => self.register(request, from, &tag).await,
            _ if request
                .call_id()
                .is_ok_and(|id| self.local_calls.contains_key(id)) =>
            {
                self.local_request(request, &tag)
            }
            _ if request.call_id().is_ok_and(|id| self.is_leg(id)) => {
                self.leg_request(request, &tag)
            }
            // In-dialog requests of no dialog we know (calls are placed in `invite`).
            _ => response_to(request, 481, None, Some(&tag)),
        }
    }

    /// Digest authentication of a phone's request (REGISTER: 401 and the To's domain as
    /// realm; INVITE: 407 and the From's). Failures are logged and counted toward a ban; an
    /// unknown user and a wrong password get the same answer.
    async fn authenticate(
        &mut self,
        request: &Message,
        from: Peer,
        tag: &str,
        proxy: bool,
    ) -> Result<SipCredentials, Refused> {
        let refuse = |code: u16, reason: Option<&str>| -> Refused {
            Box::new(response_to(request, code, reason, Some(tag)))
        };
        let method = request.method().map_or("-", Method::as_str);
        let named = if proxy {
            request.from_header()
        } else {
            request.to_header()
        };
        let Ok(named) = named else {
            return Err(refuse(400, Some("Bad From/To")));
        };
        let Uri::Sip(uri) = &named.uri else {
            return Err(refuse(404, None));
        };
        let host = uri.host.to_string();
        // The realm is the tenant: named by the domain, or the default one.
        let realm = match self.shared.store.get_tenant_by_slug(&host).await {
            Ok(t) => Some(t.slug),
            Err(_) => self.shared.config.default_realm.clone(),
        };
        let Some(realm) = realm else {
            return Err(refuse(404, None));
        };
        let Ok(credentials) = request.authorization(proxy) else {
            return Err(refuse(400, Some("Bad Authorization")));
        };
        // Look the claimed user up before verifying (the check itself is synchronous); an
        // unknown user costs the same query as a known one.
        let claimed = credentials
            .iter()
            .find(|c| {
                c.scheme.eq_ignore_ascii_case("Digest") && c.get("realm") == Some(realm.as_str())
            })
            .and_then(|c| c.get("username"))
            .map(str::to_string);
        let found = match &claimed {
            Some(u) => self.shared.store.sip_credentials(&realm, u).await.ok(),
            None => None,
        };
        let request_uri = request.request_uri().unwrap_or_default();
        let now_wall = wall_ms();
        let verdict = self.shared.with_digest(&realm, |d| {
            d.verify(now_wall, &credentials, method, request_uri, |_| {
                found.as_ref().map(|c| Ha1 {
                    md5: Some(c.ha1_md5.clone()),
                    sha256: Some(c.ha1_sha256.clone()),
                })
            })
        });
        let challenge = |stale: bool| -> Refused {
            let mut r = response_to(request, if proxy { 407 } else { 401 }, None, Some(tag));
            let name = if proxy {
                HeaderName::ProxyAuthenticate
            } else {
                HeaderName::WwwAuthenticate
            };
            for c in self
                .shared
                .with_digest(&realm, |d| d.challenges(now_wall, stale))
                .unwrap_or_default()
            {
                r.push(name.clone(), c.into_bytes());
            }
            Box::new(r)
        };
        match verdict {
            Some(Verdict::Authorized { .. }) => {}
            Some(Verdict::Challenge { stale, failure }) => {
                if failure != Failure::NoCredentials {
                    let detail = format!("{failure:?}").to_ascii_lowercase();
                    crate::security::log(
                        "auth_failure",
                        &from,
                        method,
                        claimed.as_deref(),
                        &detail,
                    );
                    if !stale && self.shared.auth_failed(from.addr.ip(), Instant::now()) {
                        crate::security::log(
                            "banned",
                            &from,
                            method,
                            claimed.as_deref(),
                            "auth_failures",
                        );
                    }
                }
                return Err(challenge(stale));
            }
            Some(Verdict::Malformed) | None => return Err(refuse(400, Some("Bad Authorization"))),
        }
        // Authorized implies the user was found: `verify` never passes an unknown one.
        found.ok_or_else(|| challenge(false))
    }

    async fn register(&mut self, request: &Message, from: Peer, tag: &str) -> Message {
        let Ok(to) = request.to_header() else {
            return response_to(request, 400, Some("Bad To"), Some(tag));
        };
        let Uri::Sip(aor_uri) = &to.uri else {
            return response_to(request, 404, None, Some(tag));
        };
        let extension = aor_uri.user_text().unwrap_or_default();
        let row = match self.authenticate(request, from, tag, false).await {
            Ok(row) => row,
            Err(answer) => return *answer,
        };
        let now_wall = wall_ms();
        if row.username != extension {
            crate::security::log(
                "auth_failure",
                &from,
                "REGISTER",
                Some(&row.username),
                "aor_mismatch",
            );
            return response_to(request, 403, Some("Forbidden (AOR)"), Some(tag));
        }
        let aor = format!("{}:{}", row.tenant_id, extension);
        let source = format!("{}:{}", crate::security::transport_name(&from), from.addr);
        let outcome = match self.shared.registrar.lock() {
            Ok(mut r) => r.register(now_wall, &aor, request, &source),
            Err(_) => return response_to(request, 500, None, Some(tag)),
        };
        match outcome {
            Outcome::Ok { bindings, changed } => {
                if changed {
                    let rows: Vec<SipRegistration> = bindings
                        .iter()
                        .map(|b| SipRegistration {
                            tenant_id: row.tenant_id,
                            aor: extension.clone(),
                            contact: b.contact.clone(),
                            expires_at: b.expires_at as i64,
                            q: i64::from(b.q),
                            call_id: b.call_id.clone(),
                            cseq: i64::from(b.cseq),
                            source: b.source.clone(),
                        })
                        .collect();
                    if let Err(e) = self
                        .shared
                        .store
                        .replace_registrations(row.tenant_id, &extension, &rows)
                        .await
                    {
                        tracing::error!(error = %e, "registration not stored");
                        return response_to(request, 500, None, Some(tag));
                    }
                    tracing::info!(extension = %extension, contacts = bindings.len(), "registration changed");
                }
                let mut r = response_to(request, 200, None, Some(tag));
                for v in contact_values(now_wall, &bindings) {
                    r.push(HeaderName::Contact, v.into_bytes());
                }
                r
            }
            Outcome::IntervalTooBrief { min_expires } => {
                let mut r = response_to(request, 423, None, Some(tag));
                r.push(HeaderName::MinExpires, min_expires.to_string().into_bytes());
                r
            }
            Outcome::Bad(what) => response_to(request, 400, Some(what), Some(tag)),
            Outcome::TooManyContacts => {
                response_to(request, 403, Some("Too Many Contacts"), Some(tag))
            }
            Outcome::OutOfOrder => response_to(request, 500, Some("Out Of Order"), Some(tag)),
        }
    }
}

pub(crate) async fn run(
    index: usize,
    mut rx: mpsc::Receiver<Inbound>,
    out: Outbound,
    shared: Arc<Shared>,
    seed: u64,
    mut stop: watch::Receiver<bool>,
    (commands_tx, mut commands): (
        mpsc::UnboundedSender<ShardCommand>,
        mpsc::UnboundedReceiver<ShardCommand>,
    ),
) {
    let mut shard = Shard {
        index,
        tx: Transactions::new(Timers::default(), seed),
        b2b: B2bua::new(seed.rotate_left(17)),
        out,
        shared,
        epoch: Instant::now(),
        local_ips: HashMap::new(),
        registrations: HashMap::new(),
        registering: HashMap::new(),
        plan: Arc::new(Plan::default()),
        // Not a version the shared plan has: the first look takes it.
        plan_version: 0,
        next_keepalive: None,
        anchor: None,
        local_calls: HashMap::new(),
        commands: commands_tx,
        out_legs: HashMap::new(),
        leg_calls: HashMap::new(),
        leg_clients: HashMap::new(),
    };
    if let Some(media) = shard.shared.media.clone() {
        let anchor = Anchor::new(media);
        shard.b2b.set_filter(Box::new(anchor.clone()));
        shard.anchor = Some(anchor);
    }
    // One timer, moved when the next deadline moves (a fresh timer per message costs more
    // than the message at thousands of calls per second).
    let far = || tokio::time::Instant::now() + Duration::from_secs(3_600);
    let sleep = tokio::time::sleep_until(far());
    tokio::pin!(sleep);
    let mut armed: Option<u64> = None;
    loop {
        shard.refresh_plan();
        let next = [
            shard.tx.poll_timeout(),
            shard.b2b.poll_timeout(),
            shard.registration_due(),
        ]
        .into_iter()
        .flatten()
        .min();
        // Shard 0 looks at the dial plan at least every second (new trunks to register with);
        // a shard with calls it answered itself looks at them every second (ended by media).
        let next = if shard.index == 0 || !shard.local_calls.is_empty() {
            Some(next.unwrap_or(u64::MAX).min(shard.now() + 1_000))
        } else {
            next
        };
        if next != armed {
            armed = next;
            let at = match next {
                Some(ms) => (shard.epoch + Duration::from_millis(ms)).into(),
                None => far(),
            };
            sleep.as_mut().reset(at);
        }
        tokio::select! {
            _ = stop.changed() => break,
            inbound = rx.recv() => match inbound {
                Some(i) => {
                    shard.on_inbound(i).await;
                    // Take what else is queued before looking at timers again.
                    for _ in 0..64 {
                        match rx.try_recv() {
                            Ok(i) => shard.on_inbound(i).await,
                            Err(_) => break,
                        }
                    }
                }
                None => break,
            },
            Some(command) = commands.recv() => {
                shard.on_command(command);
                shard.events().await;
            }
            _ = &mut sleep => {
                armed = None;
                let now = shard.now();
                shard.tx.handle_timeout(now);
                shard.b2b.handle_timeout(&mut shard.tx, now);
                shard.register_due(now);
                shard.keepalive_due(now);
                shard.end_idle_local_calls();
                shard.events().await;
            }
        }
    }
}

/// Reads the dial plan again every `plan_reload`.
pub(crate) async fn reload(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(shared.config.plan_reload) => {
                if let Err(e) = shared.reload_plan().await {
                    tracing::warn!(error = %e, "dial plan not reloaded");
                }
            }
        }
    }
}

/// Drops expired registrations, in memory and in the store, every 30 s.
pub(crate) async fn sweep(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(Duration::from_secs(30)) => {
                let now = wall_ms();
                let changed = shared.registrar.lock().map(|mut r| r.expire(now)).unwrap_or_default();
                if !changed.is_empty() {
                    tracing::info!(count = changed.len(), "registrations expired");
                }
                if let Err(e) = shared.store.sweep_registrations(now as i64).await {
                    tracing::warn!(error = %e, "expired registrations not swept");
                }
            }
        }
    }
}
