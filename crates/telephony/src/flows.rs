//! The flows calls run, in memory: the newest version of every tenant's flows, each tenant's
//! calendars, region and time zone, and the directory a call needs to reach people (queues by
//! name, agents' extensions). Read at start and with the dial plan every few seconds, so a
//! saved flow takes the next call (hot reload) and a call keeps the version it started with.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use hotline_flow::{load_calendars, load_flow, Calendar, Flow, Known};
use hotline_store::Store;

#[derive(Clone)]
pub struct LoadedFlow {
    pub version: i64,
    pub flow: Arc<Flow>,
}

#[derive(Clone, Default)]
pub struct TenantSettings {
    pub region: String,
    pub calendars: Arc<Vec<Calendar>>,
}

/// An agent as a call reaches them.
#[derive(Clone, Debug)]
pub struct AgentEntry {
    pub tenant_id: i64,
    pub extension: String,
    pub name: String,
}

#[derive(Default)]
struct Loaded {
    /// (tenant, name) → the newest version, with the source it was built from.
    flows: HashMap<(i64, String), (String, LoadedFlow)>,
    tenants: HashMap<i64, (String, TenantSettings)>,
    /// (tenant, queue name) → queue id; flows name queues.
    queues: HashMap<(i64, String), i64>,
    agents: HashMap<i64, AgentEntry>,
}

#[derive(Default)]
pub struct FlowLibrary {
    loaded: RwLock<Loaded>,
}

impl FlowLibrary {
    pub fn flow(&self, tenant_id: i64, name: &str) -> Option<LoadedFlow> {
        let l = self.loaded.read().ok()?;
        l.flows
            .get(&(tenant_id, name.to_string()))
            .map(|(_, f)| f.clone())
    }

    /// A queue of the tenant by the name flows give it.
    pub fn queue_id(&self, tenant_id: i64, name: &str) -> Option<i64> {
        let l = self.loaded.read().ok()?;
        l.queues.get(&(tenant_id, name.to_string())).copied()
    }

    pub fn agent(&self, agent_id: i64) -> Option<AgentEntry> {
        self.loaded.read().ok()?.agents.get(&agent_id).cloned()
    }

    /// The tenant's agent with this extension: their id.
    pub fn agent_by_extension(&self, tenant_id: i64, extension: &str) -> Option<i64> {
        let l = self.loaded.read().ok()?;
        l.agents
            .iter()
            .find(|(_, a)| a.tenant_id == tenant_id && a.extension == extension)
            .map(|(id, _)| *id)
    }

    /// The tenant's agent by the name flows may give (their display name, any case).
    pub fn agent_by_name(&self, tenant_id: i64, name: &str) -> Option<i64> {
        let l = self.loaded.read().ok()?;
        l.agents
            .iter()
            .filter(|(_, a)| {
                a.tenant_id == tenant_id && a.name.to_lowercase() == name.to_lowercase()
            })
            .map(|(id, _)| *id)
            .min()
    }

    /// The name of the tenant's queue `queue_id`.
    pub fn queue_name(&self, tenant_id: i64, queue_id: i64) -> Option<String> {
        let l = self.loaded.read().ok()?;
        l.queues
            .iter()
            .find(|((t, _), id)| *t == tenant_id && **id == queue_id)
            .map(|((_, name), _)| name.clone())
    }

    /// The tenant's first queue (lowest id), for calls that reach an agent without one.
    pub fn first_queue(&self, tenant_id: i64) -> Option<(i64, String)> {
        let l = self.loaded.read().ok()?;
        l.queues
            .iter()
            .filter(|((t, _), _)| *t == tenant_id)
            .map(|((_, name), id)| (*id, name.clone()))
            .min()
    }

    pub fn tenant(&self, tenant_id: i64) -> TenantSettings {
        self.loaded
            .read()
            .ok()
            .and_then(|l| l.tenants.get(&tenant_id).map(|(_, t)| t.clone()))
            .unwrap_or_else(|| TenantSettings {
                region: "RU".into(),
                calendars: Arc::new(Vec::new()),
            })
    }

    /// Reads flows and calendars again; builds only what changed. A flow that no longer
    /// loads (it was saved by an older build) keeps its last good version, with a warning.
    pub async fn reload(&self, store: &Store) -> Result<(), hotline_store::StoreError> {
        let flows = store.latest_flows(None).await?;
        let calendars = store.all_calendars().await?;
        let tenants = store.list_tenants().await?;
        let mut queues = HashMap::new();
        let mut agents = HashMap::new();
        for t in &tenants {
            for q in store.list_queues(t.id).await? {
                queues.insert((t.id, q.name), q.id);
            }
            for a in store.list_agents(t.id).await? {
                agents.insert(
                    a.id,
                    AgentEntry {
                        tenant_id: t.id,
                        extension: a.extension,
                        name: a.display_name,
                    },
                );
            }
        }
        // Calls keep reading the old state while the next one is built beside it.
        let old = match self.loaded.read() {
            Ok(l) => l,
            Err(e) => e.into_inner(),
        };
        let mut next = Loaded {
            queues,
            agents,
            ..Loaded::default()
        };
        for t in tenants {
            let source = calendars
                .iter()
                .find(|c| c.tenant_id == t.id)
                .map(|c| c.source.clone())
                .unwrap_or_default();
            let key = format!("{}\n{}\n{source}", t.default_region, t.timezone);
            let settings = match old.tenants.get(&t.id) {
                Some((k, s)) if *k == key => s.clone(),
                _ => {
                    let cals = match load_calendars("calendars.yaml", &source, &t.timezone) {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::warn!(tenant = t.id, error = %e, "calendars do not load; none used");
                            Vec::new()
                        }
                    };
                    TenantSettings {
                        region: t.default_region.clone(),
                        calendars: Arc::new(cals),
                    }
                }
            };
            next.tenants.insert(t.id, (key, settings));
        }
        for f in flows {
            let key = (f.tenant_id, f.name.clone());
            let previous = old.flows.get(&key).cloned();
            if let Some((source, loaded)) = previous.as_ref().filter(|(s, _)| *s == f.source) {
                next.flows.insert(key, (source.clone(), loaded.clone()));
                continue;
            }
            match load_flow(&format!("{}.yaml", f.name), &f.source, &Known::default()) {
                Ok(flow) => {
                    tracing::info!(flow = %f.name, version = f.version, "flow loaded");
                    let loaded = LoadedFlow {
                        version: f.version,
                        flow: Arc::new(flow),
                    };
                    next.flows.insert(key, (f.source, loaded));
                }
                Err(e) => {
                    tracing::warn!(flow = %f.name, version = f.version, error = %e, "flow does not load; a version loaded before stays");
                    if let Some(kept) = previous {
                        next.flows.insert(key, kept);
                    }
                }
            }
        }
        drop(old);
        match self.loaded.write() {
            Ok(mut l) => *l = next,
            Err(e) => *e.into_inner() = next,
        }
        Ok(())
    }
}
