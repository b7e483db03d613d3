-- The company's web sites: where its chat widget and its forms live (the origins allowed to
-- call Hotline from a browser), which queues take their chats and forms, and which mailbox
-- answers what they leave by e-mail (offline messages, forms, chat transcripts).
CREATE TABLE sites (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    site_key TEXT NOT NULL,
    name TEXT NOT NULL,
    origins TEXT NOT NULL,
    chat_queue_id BIGINT REFERENCES queues(id),
    form_queue_id BIGINT REFERENCES queues(id),
    email_account_id BIGINT REFERENCES email_accounts(id),
    greeting TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX sites_key ON sites(site_key);

-- A visitor's chat: the interaction and the secret the widget holds (stored hashed).
CREATE TABLE chat_sessions (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    site_id BIGINT NOT NULL REFERENCES sites(id),
    interaction_id BIGINT NOT NULL REFERENCES interactions(id),
    token_hash TEXT NOT NULL,
    visitor_name TEXT NOT NULL,
    visitor_email TEXT,
    visitor_phone TEXT,
    created_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE UNIQUE INDEX chat_sessions_token ON chat_sessions(token_hash);
CREATE INDEX chat_sessions_interaction ON chat_sessions(interaction_id);

-- A chat message is known by the id its sender's widget gave it, so a message sent again after
-- a reconnect is stored once.
CREATE UNIQUE INDEX messages_chat_dedupe ON messages(interaction_id, dedupe_key) WHERE account_id IS NULL;

-- Canned responses and reply templates.
CREATE TABLE templates (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    channel TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX templates_name ON templates(tenant_id, name);
