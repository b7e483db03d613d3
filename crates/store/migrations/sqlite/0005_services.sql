-- Numbers Hotline answers itself ('service', target = the service: 'test' is the test line).
-- SQLite cannot change a CHECK constraint in place: the table is made again.
CREATE TABLE sip_numbers_new (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    number TEXT NOT NULL,
    -- 'extension': an agent's phone; 'trunk': out again through a trunk (target = its name);
    -- 'service': answered by Hotline (target = the service).
    kind TEXT NOT NULL CHECK (kind IN ('extension', 'trunk', 'service')),
    target TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, number)
);
INSERT INTO sip_numbers_new (id, tenant_id, number, kind, target, created_at)
    SELECT id, tenant_id, number, kind, target, created_at FROM sip_numbers;
DROP TABLE sip_numbers;
ALTER TABLE sip_numbers_new RENAME TO sip_numbers;
