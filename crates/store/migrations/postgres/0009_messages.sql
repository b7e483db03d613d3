-- E-mail (and later chat and form) messages of an interaction, and the mailboxes they come
-- through. A mailbox's passwords are kept as given: Hotline logs in to the company's IMAP
-- and SMTP servers with them (the API never returns them).
CREATE TABLE email_accounts (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    queue_id BIGINT NOT NULL REFERENCES queues(id),
    address TEXT NOT NULL,
    display_name TEXT NOT NULL,
    imap_host TEXT NOT NULL,
    imap_port BIGINT NOT NULL,
    imap_user TEXT NOT NULL,
    imap_password TEXT NOT NULL,
    imap_folder TEXT NOT NULL,
    done_folder TEXT NOT NULL,
    smtp_host TEXT NOT NULL,
    smtp_port BIGINT NOT NULL,
    smtp_user TEXT NOT NULL,
    smtp_password TEXT NOT NULL,
    auto_ack BOOLEAN NOT NULL,
    active BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX email_accounts_address ON email_accounts(tenant_id, address);

CREATE TABLE messages (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    interaction_id BIGINT NOT NULL REFERENCES interactions(id),
    account_id BIGINT REFERENCES email_accounts(id),
    direction TEXT NOT NULL,
    message_id TEXT,
    dedupe_key TEXT,
    from_addr TEXT NOT NULL,
    from_name TEXT NOT NULL,
    to_addrs TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    auto BOOLEAN NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    author TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX messages_dedupe ON messages(tenant_id, account_id, dedupe_key);
CREATE INDEX messages_message_id ON messages(tenant_id, message_id);
CREATE INDEX messages_interaction ON messages(interaction_id, id);

CREATE TABLE attachments (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    message_id BIGINT NOT NULL REFERENCES messages(id),
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE INDEX attachments_message ON attachments(message_id);
