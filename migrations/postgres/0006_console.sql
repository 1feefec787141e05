-- The admin console (#18): tokens people can name, label, expire and revoke; who a dashboard
-- session belongs to and with which role; Entra sign-ins under way; the audit log; and the
-- enrollment token's label on the devices that use it.

-- A token's public id (what `token list` shows and `token revoke` takes; never the secret),
-- its label (a rollout wave, a department), when it stops working, when it was revoked and last
-- used, and who made it. Tokens made before have no label and never expire.
ALTER TABLE tokens ADD COLUMN id TEXT;
ALTER TABLE tokens ADD COLUMN label TEXT;
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE tokens ADD COLUMN revoked_at BIGINT;
ALTER TABLE tokens ADD COLUMN last_used_at BIGINT;
ALTER TABLE tokens ADD COLUMN created_by TEXT NOT NULL DEFAULT 'first start';
UPDATE tokens SET id = substr(md5(random()::text || sha256), 1, 12);
CREATE UNIQUE INDEX tokens_by_id ON tokens (id);

-- Who signed in (a UPN, or "admin token <id>") and the role they have.
ALTER TABLE sessions ADD COLUMN who TEXT NOT NULL DEFAULT 'admin token';
ALTER TABLE sessions ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';

-- An Entra sign-in between the redirect to Microsoft and the way back: the hash of its `state`,
-- the hash of the browser's sign-in cookie (the way back must come to the same browser), the
-- nonce and the PKCE verifier. Used once: taken out when the browser comes back.
CREATE TABLE sign_ins (
    state      TEXT PRIMARY KEY,
    browser    TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    verifier   TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Who did what, from where, and whether it was allowed. Never a token or a secret.
CREATE TABLE audit (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    outcome TEXT NOT NULL,
    address TEXT NOT NULL,
    detail  TEXT NOT NULL
);
CREATE INDEX audit_by_time ON audit (at);

-- The label of the enrollment token the device's latest report came with.
ALTER TABLE devices ADD COLUMN enrollment_label TEXT;
