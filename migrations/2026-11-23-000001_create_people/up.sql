-- People who use certdesk: applicants (through the API) and staff (through the console).
-- Minimal for now; the identity issue adds real-name status, login codes and passwords.
CREATE TABLE users (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('applicant', 'staff')),
    name        text NOT NULL,
    phone       text,
    email       text,
    is_demo     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_phone_key ON users (phone) WHERE phone IS NOT NULL;

-- Staff roles map to the groups workflow definitions name (DECISIONS 5).
CREATE TABLE staff_roles (
    user_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     text NOT NULL CHECK (role IN ('cs_reviewer', 'finance', 'finance_lead', 'supervisor', 'sys_admin')),
    PRIMARY KEY (user_id, role)
);

-- Bearer tokens: only a SHA-256 of the token is stored, so a database leak reveals none.
CREATE TABLE api_tokens (
    token_sha256  bytea PRIMARY KEY CHECK (octet_length(token_sha256) = 32),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label         text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
