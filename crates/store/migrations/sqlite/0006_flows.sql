-- Contact flows: every save of a flow is a new version; calls run the newest.
CREATE TABLE flows (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    source TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, name, version)
);
-- The tenant's calendars file (business hours, holidays) that flows ask with open('name').
CREATE TABLE tenant_calendars (
    tenant_id INTEGER PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
-- Built-in lookup tables (orders, branches, tariffs): a JSON object by key, for flows'
-- `lookup: { table: ..., key: ... }`.
CREATE TABLE lookup_rows (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    table_name TEXT NOT NULL,
    key TEXT NOT NULL,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (tenant_id, table_name, key)
);
-- Numbers may lead to a flow (kind 'flow', target = the flow's name).
CREATE TABLE sip_numbers_new (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    number TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('extension', 'trunk', 'service', 'flow')),
    target TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, number)
);
INSERT INTO sip_numbers_new (id, tenant_id, number, kind, target, created_at)
    SELECT id, tenant_id, number, kind, target, created_at FROM sip_numbers;
DROP TABLE sip_numbers;
ALTER TABLE sip_numbers_new RENAME TO sip_numbers;
