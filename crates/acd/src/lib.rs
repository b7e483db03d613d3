//! The routing shell: one task that owns the [`hotline_routing::Engine`], feeds it wall-clock
//! time and inputs, stores every decision, and hands commands to the channel layer.
//!
//! - Start-up ([`Acd::start`]): queues and agents come from the store; the engine is rebuilt from
//!   stored decisions (each agent's latest state, the routing events of unfinished contacts,
//!   folded by [`hotline_routing::restore::Journal`]).
//! - Loop: take an input or wait for the engine's next deadline, then drain its outputs: contact
//!   events go on the interaction's timeline (`routing.*` kinds, the event as JSON), agent events
//!   into `agent_events`, commands to the channel layer's receiver.
//! - `config.rs`: store records → engine configuration.

mod config;

use hotline_routing::engine::{Observation, Presence};
use hotline_routing::event::FINISHED_KINDS;
use hotline_routing::restore::{Journal, Restore};
use hotline_routing::snapshot::{AgentFigures, Snapshot};
use hotline_routing::{
    AgentId, Command, ContactId, ContactSpec, ContactState, Engine, EngineConfig, Estimate, Event,
    QueueId, RoutingError, TenantId, Time,
};
use hotline_store::{NewAgentEvent, NewEvent, Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum AcdError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Routing(#[from] RoutingError),
    #[error("the routing task has stopped")]
    Stopped,
}

/// What the channel layer and the workplace tell routing.
#[derive(Debug, Clone)]
pub enum Input {
    Presence {
        agent: AgentId,
        presence: Presence,
    },
    Contact(ContactSpec),
    OfferAccepted(ContactId),
    OfferDeclined(ContactId),
    Abandoned(ContactId),
    /// The centre took a waiting contact back (a scheduled callback cancelled).
    Cancelled(ContactId),
    Ended(ContactId),
    WrapUpDone {
        agent: AgentId,
        contact: ContactId,
    },
    WrapUpExtend {
        agent: AgentId,
        contact: ContactId,
        extra: Duration,
    },
    CallbackRequest {
        contact: ContactId,
        number: String,
    },
    CallbackReached(ContactId),
    CallbackUnreached(ContactId),
    Observation {
        agent: AgentId,
        seen: Observation,
    },
    /// The agent started (`active`) or finished a contact routing did not give them (their
    /// own outbound call): it takes their capacity meanwhile.
    Direct {
        agent: AgentId,
        channel: hotline_model::Channel,
        active: bool,
    },
}

enum Request {
    Input(Input, oneshot::Sender<Result<(), RoutingError>>),
    /// Every tenant's figures, or one tenant's.
    Snapshot(Option<TenantId>, oneshot::Sender<Snapshot>),
    AgentFigures(AgentId, oneshot::Sender<Option<AgentFigures>>),
    Estimate(ContactId, oneshot::Sender<Option<Estimate>>),
    ContactState(ContactId, oneshot::Sender<Option<ContactState>>),
    Reload(oneshot::Sender<Result<(), AcdError>>),
    Stop,
}

/// Handle to the running routing task (stops it).
pub struct Acd {
    link: AcdLink,
    task: JoinHandle<()>,
}

/// What the channel shells and the API hold to talk to routing (cheap to clone).
#[derive(Clone)]
pub struct AcdLink {
    requests: mpsc::Sender<Request>,
}

impl std::ops::Deref for Acd {
    type Target = AcdLink;
    fn deref(&self) -> &AcdLink {
        &self.link
    }
}

/// Wall time now, as the engine counts it.
pub fn now() -> Time {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Time::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

fn to_offset(t: Time) -> time::OffsetDateTime {
    let nanos = i128::from(t.as_millis()) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Requests taken in one round at most (their decisions are stored together).
const ROUND: usize = 256;

/// A decision ready to be stored.
enum Prepared {
    Agent(NewAgentEvent),
    Contact {
        tenant: i64,
        contact: i64,
        event: NewEvent,
    },
}

struct Shell {
    store: Store,
    engine: Engine,
    commands: mpsc::Sender<Command>,
    queue_tenant: HashMap<QueueId, i64>,
    agent_tenant: HashMap<AgentId, i64>,
    contact_tenant: HashMap<ContactId, i64>,
}

impl Acd {
    /// Loads the configuration, rebuilds the engine from what is stored, and starts the task.
    /// Commands for the channel layer arrive on `commands`.
    pub async fn start(store: Store, commands: mpsc::Sender<Command>) -> Result<Acd, AcdError> {
        let engine = Engine::new(EngineConfig::default())?;
        let mut shell = Shell {
            store,
            engine,
            commands,
            queue_tenant: HashMap::new(),
            agent_tenant: HashMap::new(),
            contact_tenant: HashMap::new(),
        };
        shell.load().await?;
        shell.restore().await?;
        let (tx, rx) = mpsc::channel(1024);
        let task = tokio::spawn(shell.run(rx));
        Ok(Acd {
            link: AcdLink { requests: tx },
            task,
        })
    }

    pub fn link(&self) -> AcdLink {
        self.link.clone()
    }

    /// Stops after the decisions taken so far are stored.
    pub async fn stop(self) {
        let _ = self.link.requests.send(Request::Stop).await;
        let _ = self.task.await;
    }
}

impl AcdLink {
    /// Sends a request to the routing task and waits for its answer.
    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, AcdError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(request(tx))
            .await
            .map_err(|_| AcdError::Stopped)?;
        rx.await.map_err(|_| AcdError::Stopped)
    }

    pub async fn input(&self, input: Input) -> Result<(), AcdError> {
        Ok(self.ask(|tx| Request::Input(input, tx)).await??)
    }

    /// Every tenant's live figures.
    pub async fn snapshot(&self) -> Result<Snapshot, AcdError> {
        self.ask(|tx| Request::Snapshot(None, tx)).await
    }

    /// One tenant's live figures (a wallboard): other tenants' are not computed.
    pub async fn tenant_snapshot(&self, tenant: TenantId) -> Result<Snapshot, AcdError> {
        self.ask(|tx| Request::Snapshot(Some(tenant), tx)).await
    }

    /// One agent's state (their own desk); `None` for an agent routing does not know.
    pub async fn agent_figures(&self, agent: AgentId) -> Result<Option<AgentFigures>, AcdError> {
        self.ask(|tx| Request::AgentFigures(agent, tx)).await
    }

    pub async fn estimate(&self, contact: ContactId) -> Result<Option<Estimate>, AcdError> {
        self.ask(|tx| Request::Estimate(contact, tx)).await
    }

    /// Where a contact is in routing; `None` once routing is done with it (ended, abandoned,
    /// cancelled, a callback given up).
    pub async fn contact_state(
        &self,
        contact: ContactId,
    ) -> Result<Option<ContactState>, AcdError> {
        self.ask(|tx| Request::ContactState(contact, tx)).await
    }

    /// Re-reads queues and agents from the store (after an administrator changed them).
    pub async fn reload(&self) -> Result<(), AcdError> {
        self.ask(Request::Reload).await?
    }
}

impl Shell {
    async fn load(&mut self) -> Result<(), AcdError> {
        let now = now();
        for t in self.store.list_tenants().await? {
            let queues = self.store.list_queues(t.id).await?;
            for q in &queues {
                self.engine.set_queue(now, config::queue_config(q))?;
                self.queue_tenant.insert(QueueId(q.id), t.id);
            }
            for a in self.store.list_agents(t.id).await? {
                self.engine
                    .set_agent(now, config::agent_config(&a, &queues))?;
                self.agent_tenant.insert(AgentId(a.id), t.id);
            }
        }
        self.flush().await;
        Ok(())
    }

    async fn restore(&mut self) -> Result<(), AcdError> {
        let mut journal = Journal::new();
        let mut read = 0usize;
        for e in self.store.latest_agent_events().await? {
            if let Ok(event) = serde_json::from_value::<Event>(e.data) {
                journal.apply(&event);
                read += 1;
            }
        }
        for (tenant, e) in self
            .store
            .open_events_with_prefix("routing.", FINISHED_KINDS)
            .await?
        {
            match serde_json::from_value::<Event>(e.data) {
                Ok(event) => {
                    if let Some(c) = event.contact() {
                        self.contact_tenant.insert(c, tenant);
                    }
                    journal.apply(&event);
                    read += 1;
                }
                Err(err) => {
                    tracing::warn!(event = e.id, kind = %e.kind, %err, "unreadable routing event skipped")
                }
            }
        }
        let mut r = journal.finish();
        // Agents and queues deleted since are left out rather than failing the start.
        let known_agents: std::collections::HashSet<AgentId> = self.engine.agent_ids().collect();
        r.agents.retain(|(a, _, _)| known_agents.contains(a));
        r.contacts.retain(|c| {
            self.queue_tenant.contains_key(&c.queue)
                && c.serving_agent.is_none_or(|a| known_agents.contains(&a))
        });
        let restored = Restore {
            agents: r.agents,
            contacts: r.contacts,
        };
        tracing::info!(
            events = read,
            agents = restored.agents.len(),
            contacts = restored.contacts.len(),
            "routing rebuilt from stored decisions"
        );
        let now = now();
        self.engine.restore(now, &restored)?;
        self.flush().await;
        Ok(())
    }

    async fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        loop {
            let deadline = self
                .engine
                .poll_timeout()
                .map(|at| tokio::time::Instant::now() + at.since(now()));
            // `None`: the engine's deadline came first.
            let first = match deadline {
                Some(deadline) => tokio::select! {
                    r = requests.recv() => Some(r),
                    () = tokio::time::sleep_until(deadline) => None,
                },
                None => Some(requests.recv().await),
            };
            // Whatever else is waiting is taken in the same round: its decisions are stored
            // with one commit, not one each (under load, a commit per input made routing
            // fall seconds behind the calls).
            let mut round = Vec::new();
            if let Some(r) = first {
                round.push(r);
                while round.len() < ROUND {
                    match requests.try_recv() {
                        Ok(r) => round.push(Some(r)),
                        Err(_) => break,
                    }
                }
            }
            let now = now();
            // Deadlines due (or already past) are handled first: they happened first.
            self.engine.handle_timeout(now);
            let mut answers = Vec::new();
            let mut stop = false;
            for request in round {
                match request {
                    None | Some(Request::Stop) => {
                        stop = true;
                        break;
                    }
                    Some(Request::Input(input, reply)) => {
                        let result = self.apply(now, input);
                        if let Err(err) = &result {
                            tracing::info!(%err, "routing input refused");
                        }
                        answers.push((reply, result));
                    }
                    Some(Request::Snapshot(tenant, reply)) => {
                        let _ = reply.send(self.engine.snapshot_of(now, tenant));
                    }
                    Some(Request::AgentFigures(agent, reply)) => {
                        let _ = reply.send(self.engine.agent_figures(now, agent));
                    }
                    Some(Request::Estimate(c, reply)) => {
                        let _ = reply.send(self.engine.estimate(c));
                    }
                    Some(Request::ContactState(c, reply)) => {
                        let _ = reply.send(self.engine.contact_state(c));
                    }
                    Some(Request::Reload(reply)) => {
                        let _ = reply.send(self.load().await);
                    }
                }
            }
            // An input is answered once its decisions are stored.
            self.flush().await;
            for (reply, result) in answers {
                let _ = reply.send(result);
            }
            if stop {
                break;
            }
        }
    }

    fn apply(&mut self, now: Time, input: Input) -> Result<(), RoutingError> {
        let e = &mut self.engine;
        match input {
            Input::Presence { agent, presence } => e.handle_presence(now, agent, presence),
            Input::Contact(spec) => e.handle_contact(now, spec),
            Input::OfferAccepted(c) => e.handle_offer_accepted(now, c),
            Input::OfferDeclined(c) => e.handle_offer_declined(now, c),
            Input::Abandoned(c) => e.handle_abandoned(now, c),
            Input::Cancelled(c) => e.handle_cancelled(now, c),
            Input::Ended(c) => e.handle_contact_ended(now, c),
            Input::WrapUpDone { agent, contact } => e.handle_wrap_up_done(now, agent, contact),
            Input::WrapUpExtend {
                agent,
                contact,
                extra,
            } => e
                .handle_wrap_up_extend(now, agent, contact, extra)
                .map(|_| ()),
            Input::CallbackRequest { contact, number } => {
                e.handle_callback_request(now, contact, number)
            }
            Input::CallbackReached(c) => e.handle_callback_reached(now, c),
            Input::CallbackUnreached(c) => e.handle_callback_unreached(now, c),
            Input::Observation { agent, seen } => e.handle_observation(now, agent, seen),
            Input::Direct {
                agent,
                channel,
                active,
            } => e.handle_direct(now, agent, channel, active),
        }
    }

    /// Stores every decision and passes every command on. A decision that cannot be stored is
    /// logged (without personal data) and routing goes on: the call must not wait for a disk.
    /// The decisions of a round are written together: the agents' log in one transaction, the
    /// contacts' timelines in one per tenant.
    async fn flush(&mut self) {
        let mut agents = Vec::new();
        let mut contacts: BTreeMap<i64, Vec<(i64, NewEvent)>> = BTreeMap::new();
        while let Some(event) = self.engine.poll_event() {
            match self.prepare(&event) {
                Some(Prepared::Agent(row)) => agents.push(row),
                Some(Prepared::Contact {
                    tenant,
                    contact,
                    event,
                }) => {
                    contacts.entry(tenant).or_default().push((contact, event));
                }
                None => {}
            }
        }
        if !agents.is_empty() {
            if let Err(err) = self.store.append_agent_events(&agents).await {
                tracing::warn!(%err, "routing's agent decisions not stored together; one by one");
                for a in &agents {
                    if let Err(err) = self
                        .store
                        .append_agent_event(a.tenant_id, a.agent_id, a.at, &a.kind, &a.data)
                        .await
                    {
                        tracing::warn!(kind = %a.kind, %err, "routing decision not stored");
                    }
                }
            }
        }
        for (tenant, batch) in contacts {
            if let Err(err) = self.store.append_events(tenant, &batch).await {
                // One contact unknown to the store must not cost its neighbours their record.
                tracing::debug!(%err, "routing's contact decisions not stored together; one by one");
                for (contact, e) in &batch {
                    if let Err(err) = self.store.append_event(tenant, *contact, e).await {
                        tracing::warn!(kind = %e.kind, %err, "routing decision not stored");
                    }
                }
            }
        }
        while let Some(cmd) = self.engine.poll_command() {
            if self.commands.send(cmd).await.is_err() {
                tracing::debug!("no channel layer listening for routing commands");
            }
        }
    }

    /// The row a decision is stored as, and where; `None` for one that is not stored.
    fn prepare(&mut self, event: &Event) -> Option<Prepared> {
        let kind = event.kind();
        let data = match serde_json::to_value(event) {
            Ok(v) => v,
            Err(err) => {
                tracing::error!(kind, %err, "routing event not serialisable");
                return None;
            }
        };
        match event {
            Event::AgentState {
                agent, tenant, at, ..
            } => Some(Prepared::Agent(NewAgentEvent {
                tenant_id: tenant.0,
                agent_id: agent.0,
                at: to_offset(*at),
                kind: kind.to_string(),
                data,
            })),
            _ => {
                let contact = event.contact()?;
                if let Event::Queued { tenant, .. } = event {
                    self.contact_tenant.insert(contact, tenant.0);
                }
                let tenant = self
                    .contact_tenant
                    .get(&contact)
                    .copied()
                    .or_else(|| match event {
                        Event::WrapUp { agent, .. }
                        | Event::WrapUpEnded { agent, .. }
                        | Event::Reconciled { agent, .. } => self.agent_tenant.get(agent).copied(),
                        _ => None,
                    });
                if FINISHED_KINDS.contains(&kind) {
                    self.contact_tenant.remove(&contact);
                }
                let Some(tenant) = tenant else {
                    tracing::warn!(
                        kind,
                        contact = contact.0,
                        "routing event for a contact of no known tenant"
                    );
                    return None;
                };
                Some(Prepared::Contact {
                    tenant,
                    contact: contact.0,
                    event: NewEvent {
                        kind: kind.to_string(),
                        actor: "routing".into(),
                        data,
                        at: Some(to_offset(event.at())),
                    },
                })
            }
        }
    }
}
