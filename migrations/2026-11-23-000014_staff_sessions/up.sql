-- Staff sign-in for the /admin console: a TOTP second factor and lockout per staff account, and
-- server-side sessions. The password itself is users.password_hash (argon2id, as applicants').

-- One row per staff account that may sign in.
CREATE TABLE staff_credentials (
    user_id               uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- RFC 6238 shared secret (HMAC-SHA1, 6 digits, 30 s steps), raw bytes.
    totp_secret           bytea NOT NULL CHECK (octet_length(totp_secret) >= 16),
    -- The time step of the last code accepted: a code is good once, so a later sign-in must
    -- use a newer step (replay protection).
    totp_last_step        bigint,
    -- Failed sign-ins in a row (wrong password or code), counted before the check.
    failures              integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    locked_until          timestamptz,
    -- Set for a password printed by `certdesk staff add`: the first sign-in must replace it.
    must_change_password  boolean NOT NULL DEFAULT true,
    updated_at            timestamptz NOT NULL
);

-- Console sessions. Only SHA-256 of the cookie's random id is stored, so a database leak opens
-- no session. A session ends at logout, after `idle` without a request, or at expires_at.
CREATE TABLE staff_sessions (
    id_sha256     bytea PRIMARY KEY CHECK (octet_length(id_sha256) = 32),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Per-session anti-CSRF token, sent back in a hidden field of every form.
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX staff_sessions_user ON staff_sessions (user_id);

-- The inbox filters on the claimer.
CREATE INDEX tasks_open_claimed ON tasks (claimed_by) WHERE status = 'open';
