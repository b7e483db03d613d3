-- Phones' registrations (RFC 3261 §10.3): which contacts an extension is reachable at, until when.
-- Rows are replaced per (tenant, aor) by the registrar; expired rows are ignored on read and
-- swept. Not copied between stores: phones register again within their interval.
CREATE TABLE sip_registrations (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    aor TEXT NOT NULL,
    contact TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    q BIGINT NOT NULL,
    call_id TEXT NOT NULL,
    cseq BIGINT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (tenant_id, aor, contact)
);
CREATE INDEX sip_registrations_expiry ON sip_registrations(expires_at);
