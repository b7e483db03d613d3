-- Callbacks promised for a time. The callback is an interaction of its own (outbound voice,
-- queued until it is dialled); this row says when, to whom and why.
CREATE TABLE callbacks (
    interaction_id INTEGER PRIMARY KEY REFERENCES interactions(id),
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    agent_id INTEGER REFERENCES agents(id),
    number TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    note TEXT NOT NULL,
    origin_interaction_id INTEGER REFERENCES interactions(id),
    created_by TEXT NOT NULL
);
CREATE INDEX callbacks_agent_due ON callbacks(tenant_id, agent_id, due_at);
CREATE INDEX callbacks_due ON callbacks(tenant_id, due_at);
