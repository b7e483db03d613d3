-- The routing engine's log of agent decisions (state changes with their presence and reason).
-- Contact decisions go on the interaction timeline; this is the agents' equivalent. No foreign
-- key to agents: the log outlives a deleted agent (it is evidence for reports).
CREATE TABLE agent_events (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    agent_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX agent_events_agent ON agent_events(agent_id, id);
CREATE TRIGGER agent_events_no_update BEFORE UPDATE ON agent_events
BEGIN SELECT RAISE(ABORT, 'agent_events is append-only'); END;
CREATE TRIGGER agent_events_no_delete BEFORE DELETE ON agent_events
BEGIN SELECT RAISE(ABORT, 'agent_events is append-only'); END;
CREATE INDEX interaction_events_kind ON interaction_events(kind, interaction_id);
