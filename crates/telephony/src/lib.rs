//! The telephony shell: sockets and time around the sans-IO SIP stack.
//!
//! - [`transport`]: the UDP socket and TCP connections on `--sip`; framing; RFC 3581
//!   `received`/`rport` on requests; responses back where requests came from.
//! - [`shard`]: one task per shard (messages sharded by Call-ID), each owning a
//!   [`hotline_sip::transaction::Transactions`] and answering requests: REGISTER (digest auth
//!   against the agents' stored HA1, registrar persisted in the store), OPTIONS keep-alives,
//!   and the RFC 3261 answers for everything this build does not route yet.
//! - [`security`]: the security log line written for every refused or failed request.
//! - [`media`]: RTP sessions (bridges, endpoints), prompts, recordings.
//! - [`flows`] and [`calls`]: the flows in memory, and the task that runs a call through one.

pub mod calls;
pub mod flows;
pub mod http;
pub mod media;
pub mod outbound;
pub mod plan;
pub mod security;
pub mod shard;
pub mod transport;

use std::net::SocketAddr;
use std::sync::Arc;

use hotline_store::Store;

pub use shard::SipConfig;

#[derive(Debug, thiserror::Error)]
pub enum TelephonyError {
    #[error("cannot listen on {addr} for SIP: the address is in use; stop the other program or choose another with --sip")]
    AddrInUse { addr: SocketAddr },
    #[error("cannot listen on {addr} for SIP: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("storage: {0}")]
    Store(#[from] hotline_store::StoreError),
}

/// Something calls tell the people at their desks: `contact.offered` (the screen pop, sent
/// before the agent's phone rings), `contact.withdrawn`, `contact.connected`. The binary
/// forwards them to the live events of the API.
#[derive(Clone, Debug)]
pub struct Notice {
    pub tenant_id: i64,
    /// The agent it is for (`None`: the tenant's supervisors).
    pub agent_id: Option<i64>,
    pub kind: &'static str,
    /// For `contact.offered`, `offered_at` (wall ms) is when the pop left: screen-pop latency
    /// is measured from it.
    pub data: serde_json::Value,
}

/// The running SIP service.
pub struct SipService {
    udp_addr: SocketAddr,
    tcp_addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shared: Arc<shard::Shared>,
}

impl SipService {
    /// Binds UDP and TCP on `config.listen` (port 0: any free port, the same for both when
    /// possible), restores registrations from the store, and starts serving.
    pub async fn start(config: SipConfig, store: Store) -> Result<SipService, TelephonyError> {
        let (udp, tcp) = transport::bind(config.listen).await?;
        let udp_addr = udp.local_addr().map_err(|source| TelephonyError::Bind {
            addr: config.listen,
            source,
        })?;
        let tcp_addr = tcp.local_addr().map_err(|source| TelephonyError::Bind {
            addr: config.listen,
            source,
        })?;
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let udp = Arc::new(udp);
        let out = transport::Outbound::new(udp.clone());
        let shared = Arc::new(shard::Shared::load(&config, store, udp_addr.port()).await?);
        let mut shards = Vec::new();
        let mut tasks = Vec::new();
        let mut commands = Vec::new();
        for i in 0..config.shards.max(1) {
            let (tx, rx) = tokio::sync::mpsc::channel(4096);
            shards.push(tx);
            let seed = shard::random_seed() ^ i as u64;
            let (ctx, crx) = tokio::sync::mpsc::unbounded_channel();
            commands.push(ctx.clone());
            tasks.push(tokio::spawn(shard::run(
                i,
                rx,
                out.clone(),
                shared.clone(),
                seed,
                stop_rx.clone(),
                (ctx, crx),
            )));
        }
        let _ = shared.shard_commands.set(commands);
        let router = transport::Router::new(shards);
        out.set_dialer(router.clone(), stop_rx.clone());
        tasks.push(tokio::spawn(transport::serve_udp(
            udp,
            router.clone(),
            stop_rx.clone(),
        )));
        tasks.push(tokio::spawn(transport::serve_tcp(
            tcp,
            router,
            out,
            stop_rx.clone(),
        )));
        tasks.push(tokio::spawn(shard::reload(shared.clone(), stop_rx.clone())));
        tasks.push(tokio::spawn(shard::sweep(shared.clone(), stop_rx)));
        tracing::info!(%udp_addr, %tcp_addr, "SIP listening on UDP and TCP");
        Ok(SipService {
            shared,
            udp_addr,
            tcp_addr,
            stop,
            tasks,
        })
    }

    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    /// Reads trunks, numbers and routes again now (it also happens every few seconds).
    pub async fn reload_plan(&self) -> Result<(), TelephonyError> {
        self.shared.reload_plan().await
    }

    /// The media engine, when it runs.
    pub fn media(&self) -> Option<&media::Media> {
        self.shared.media.as_ref()
    }

    /// Connects routing: queue nodes of flows hand calls to it, and its commands for voice
    /// contacts come back through [`SipService::routing_command`]. Once; `false` after.
    pub fn attach_routing(&self, link: hotline_acd::AcdLink) -> bool {
        self.shared.set_routing(link)
    }

    /// What the desks are told (screen pops and their end).
    pub fn notices(&self) -> tokio::sync::broadcast::Receiver<Notice> {
        self.shared.notices.subscribe()
    }

    /// Stops listening; registrations already stored stay stored; media sessions end with
    /// their recordings closed.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        if let Some(m) = &self.shared.media {
            m.shutdown().await;
        }
    }

    /// Places calls for agents (click-to-call); cheap to clone.
    pub fn dialer(&self) -> Dialer {
        Dialer {
            shared: self.shared.clone(),
        }
    }

    /// Where routing's commands for voice contacts go (cheap to clone, for the binary's
    /// dispatcher task).
    pub fn routing_port(&self) -> RoutingPort {
        RoutingPort {
            shared: self.shared.clone(),
        }
    }
}

/// Places and moves calls for agents (click-to-call, transfers from the desk).
#[derive(Clone)]
pub struct Dialer {
    shared: Arc<shard::Shared>,
}

/// Why a transfer was not started.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("the call is not live in this server")]
    NotLive,
    #[error("{0}")]
    Refused(String),
}

impl Dialer {
    /// Transfers a live call (the interaction's) blind to another agent of the tenant, as
    /// the agent's phone does with REFER.
    pub async fn transfer(&self, interaction: i64, to_agent: i64) -> Result<(), TransferError> {
        self.control(
            interaction,
            hotline_model::CallControl::TransferToAgent(to_agent),
        )
        .await
    }

    /// Carries out the desk's call control on a live call an agent has answered (hold,
    /// resume, hang-up, transfers, consultation, conference); refused with the reason when
    /// the call's state does not allow it.
    pub async fn control(
        &self,
        interaction: i64,
        action: hotline_model::CallControl,
    ) -> Result<(), TransferError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let note = calls::RoutingNote::Desk { action, reply };
        if !self.shared.to_contact(interaction, note) {
            return Err(TransferError::NotLive);
        }
        match tokio::time::timeout(std::time::Duration::from_secs(5), answer).await {
            Ok(Ok(verdict)) => verdict.map_err(TransferError::Refused),
            _ => Err(TransferError::NotLive),
        }
    }

    /// Rings the agent's phone, then calls the number for them; the new interaction's id
    /// (the call goes on after this returns; its timeline tells how it went).
    pub async fn click_to_call(
        &self,
        request: outbound::ClickToCall,
    ) -> Result<i64, outbound::DialError> {
        outbound::click_to_call(self.shared.clone(), request).await
    }
}

/// Takes routing's commands for voice contacts.
#[derive(Clone)]
pub struct RoutingPort {
    shared: Arc<shard::Shared>,
}

impl RoutingPort {
    /// Carries out a routing command for a voice contact: offers ring the agent's phone,
    /// withdrawals stop it, overflows send the call on in its flow. A command for a contact
    /// with no live call (its caller hung up, or Hotline restarted under it) is answered by
    /// telling routing the contact was abandoned, so it is never offered to agents again.
    pub fn command(&self, command: hotline_routing::Command) {
        use hotline_routing::Command;
        let (contact, note) = match command {
            Command::Offer {
                contact,
                agent,
                callback_number: Some(number),
                ..
            } if !self.shared.has_contact(contact.0) => {
                // A callback: the caller left; Hotline calls them back for the agent.
                outbound::callback(self.shared.clone(), contact, agent.0, number);
                return;
            }
            Command::Offer {
                contact,
                agent,
                expires_at,
                ..
            } => (
                contact,
                calls::RoutingNote::Offer {
                    agent: agent.0,
                    expires_at_ms: expires_at.as_millis(),
                },
            ),
            Command::Withdraw { contact, agent } => {
                (contact, calls::RoutingNote::Withdraw { agent: agent.0 })
            }
            Command::Overflow { contact, .. } => (contact, calls::RoutingNote::Overflow),
        };
        let is_offer = matches!(note, calls::RoutingNote::Offer { .. });
        if self.shared.to_contact(contact.0, note) || !is_offer {
            return;
        }
        tracing::warn!(
            contact = contact.0,
            "routing offered a call that has ended; it is closed in routing"
        );
        if let Some(link) = self.shared.routing() {
            // Not awaited here: routing may be waiting for this very command to be taken.
            tokio::spawn(async move {
                if let Err(e) = link.input(hotline_acd::Input::Abandoned(contact)).await {
                    tracing::warn!(error = %e, "routing refused to close a gone call");
                }
            });
        }
    }
}
