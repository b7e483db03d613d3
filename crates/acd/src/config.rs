//! The store's records as the routing engine's configuration.

use hotline_model::{Agent, Queue};
use hotline_routing::{AgentConfig, AgentId, QueueConfig, QueueId, TenantId};
use std::time::Duration;

pub(crate) fn queue_config(q: &Queue) -> QueueConfig {
    let mut c = QueueConfig::new(QueueId(q.id), TenantId(q.tenant_id));
    c.channels = q.channels.clone();
    c.base_priority = q.priority.clamp(-1_000_000, 1_000_000);
    c.service_level_threshold =
        Duration::from_secs(u64::try_from(q.service_level_seconds).unwrap_or(0));
    c.wrap_up = Duration::from_secs(u64::try_from(q.wrap_up_seconds).unwrap_or(0));
    c
}

/// Until agents have queue memberships of their own, an agent serves every queue of their tenant
/// and skills decide what they are offered.
pub(crate) fn agent_config(a: &Agent, queues: &[Queue]) -> AgentConfig {
    let mut c = AgentConfig::new(AgentId(a.id), TenantId(a.tenant_id));
    c.skills = a
        .skills
        .iter()
        .map(|s| (s.name.clone(), s.proficiency))
        .collect();
    c.queues = queues
        .iter()
        .filter(|q| q.tenant_id == a.tenant_id)
        .map(|q| QueueId(q.id))
        .collect();
    c
}
