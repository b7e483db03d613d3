-- The signalling route of calls: carriers' trunks, the numbers (DIDs) a tenant owns and where
-- each leads, and the outbound routes from dialled prefixes to trunks.
CREATE TABLE sip_trunks (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- The carrier's address: calls from it are the trunk's, calls to it go there.
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    transport TEXT NOT NULL CHECK (transport IN ('udp', 'tcp')),
    -- Digest credentials for the carrier's challenges and for registering with it.
    username TEXT,
    password TEXT,
    register BOOLEAN NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE INDEX sip_trunks_host ON sip_trunks(host);

CREATE TABLE sip_numbers (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    number TEXT NOT NULL,
    -- 'extension': an agent's phone; 'trunk': out again through a trunk (target = its name).
    kind TEXT NOT NULL CHECK (kind IN ('extension', 'trunk')),
    target TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, number)
);

CREATE TABLE sip_routes (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    -- The longest matching prefix of the dialled number wins ('' matches everything).
    prefix TEXT NOT NULL,
    trunk_id INTEGER NOT NULL REFERENCES sip_trunks(id) ON DELETE CASCADE,
    -- Digits removed from the front, then text put before what is left.
    strip INTEGER NOT NULL,
    prepend TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, prefix)
);
