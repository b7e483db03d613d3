-- How Hotline talks to a mailbox's servers: `none` (plain), `starttls` or `tls` (implicit), and
-- a CA (PEM) to trust besides the system's, for a company's own. Mailboxes made before this
-- were plain.
ALTER TABLE email_accounts ADD COLUMN imap_security TEXT NOT NULL DEFAULT 'none';
ALTER TABLE email_accounts ADD COLUMN smtp_security TEXT NOT NULL DEFAULT 'none';
ALTER TABLE email_accounts ADD COLUMN tls_ca_pem TEXT NOT NULL DEFAULT '';
