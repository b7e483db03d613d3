-- Hotline schema, SQLite dialect. Keep in step with ../postgres/0001_init.sql:
-- same tables, columns and constraints; timestamps are UTC milliseconds since the epoch.

CREATE TABLE tenants (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    default_region TEXT NOT NULL,
    timezone TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
    password_hash TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
CREATE INDEX users_tenant ON users(tenant_id);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX api_tokens_tenant ON api_tokens(tenant_id);

CREATE TABLE agents (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    user_id INTEGER NOT NULL UNIQUE REFERENCES users(id),
    extension TEXT NOT NULL,
    sip_ha1_md5 TEXT,
    sip_ha1_sha256 TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, extension)
);

CREATE TABLE agent_skills (
    agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    skill TEXT NOT NULL,
    proficiency INTEGER NOT NULL CHECK (proficiency BETWEEN 1 AND 5),
    PRIMARY KEY (agent_id, skill)
);

CREATE TABLE queues (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    channels TEXT NOT NULL,
    service_level_seconds INTEGER NOT NULL,
    service_level_target INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    wrap_up_seconds INTEGER NOT NULL,
    disposition_required BOOLEAN NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE dispositions (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    UNIQUE (tenant_id, code)
);

CREATE TABLE scripts (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    queue_id INTEGER REFERENCES queues(id) ON DELETE SET NULL,
    title TEXT NOT NULL,
    body_markdown TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX scripts_tenant ON scripts(tenant_id);

CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    company TEXT,
    search_name TEXT NOT NULL,
    vip BOOLEAN NOT NULL,
    tags TEXT NOT NULL,
    custom_fields TEXT NOT NULL,
    notes TEXT NOT NULL,
    merged_into INTEGER REFERENCES customers(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX customers_tenant_name ON customers(tenant_id, search_name);

CREATE TABLE customer_identifiers (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('phone', 'email')),
    value TEXT NOT NULL,
    UNIQUE (tenant_id, kind, value)
);
CREATE INDEX customer_identifiers_customer ON customer_identifiers(customer_id);

CREATE TABLE interactions (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    channel TEXT NOT NULL CHECK (channel IN ('voice', 'email', 'chat', 'form')),
    direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    state TEXT NOT NULL,
    customer_id INTEGER REFERENCES customers(id),
    queue_id INTEGER REFERENCES queues(id),
    agent_id INTEGER REFERENCES agents(id),
    disposition_id INTEGER REFERENCES dispositions(id),
    subject TEXT,
    notes TEXT NOT NULL,
    recording_ref TEXT,
    created_at INTEGER NOT NULL,
    answered_at INTEGER,
    ended_at INTEGER
);
CREATE INDEX interactions_tenant_created ON interactions(tenant_id, created_at);
CREATE INDEX interactions_customer ON interactions(customer_id, created_at);
CREATE INDEX interactions_agent ON interactions(agent_id);
CREATE INDEX interactions_queue ON interactions(queue_id);

CREATE TABLE interaction_events (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    interaction_id INTEGER NOT NULL REFERENCES interactions(id),
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX interaction_events_interaction ON interaction_events(interaction_id, id);

-- The timeline is append-only: history is evidence.
CREATE TRIGGER interaction_events_no_update BEFORE UPDATE ON interaction_events
BEGIN SELECT RAISE(ABORT, 'interaction_events is append-only'); END;
CREATE TRIGGER interaction_events_no_delete BEFORE DELETE ON interaction_events
BEGIN SELECT RAISE(ABORT, 'interaction_events is append-only'); END;
