-- Applicant identity: SMS login codes, login attempts (for the per-IP limit), password lockouts,
-- passwords and listable, revocable bearer tokens.
--
-- Rate limits live here, not in Redis: API processes are stateless and must keep working (and
-- keep limiting) while Redis is down.
--
-- Pruning: login_codes and login_attempts are only read over the last day (daily caps) and the
-- last minutes (per-IP window); rows older than a few days may be deleted at any time, e.g.
--   DELETE FROM login_codes    WHERE created_at < now() - interval '7 days';
--   DELETE FROM login_attempts WHERE at         < now() - interval '7 days';
-- (both use the *_created / *_at indexes below).

-- One SMS code sent (or tried to send). Only a keyed hash of the code is stored:
-- HMAC-SHA256(server key, purpose || 0x00 || phone || 0x00 || code).
CREATE TABLE login_codes (
    id            uuid PRIMARY KEY,
    phone         text NOT NULL CHECK (phone ~ '^1[3-9][0-9]{9}$'),
    purpose       text NOT NULL CHECK (purpose IN ('login', 'set_password')),
    code_mac      bytea NOT NULL CHECK (octet_length(code_mac) = 32),
    requested_ip  text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    failed_tries  integer NOT NULL DEFAULT 0 CHECK (failed_tries >= 0),
    consumed_at   timestamptz,
    voided_at     timestamptz,
    -- Why it was voided: too many wrong tries, a newer code replaced it, or the gateway refused.
    void_reason   text CHECK (void_reason IN ('too_many_tries', 'superseded', 'send_failed')),
    CHECK ((voided_at IS NULL) = (void_reason IS NULL)),
    CHECK (consumed_at IS NULL OR voided_at IS NULL),
    CHECK (expires_at > created_at)
);
-- The newest code of a phone (entry, resend window, daily cap per phone).
CREATE INDEX login_codes_phone ON login_codes (phone, created_at DESC);
-- The daily cap per IP.
CREATE INDEX login_codes_ip ON login_codes (requested_ip, created_at);
-- Pruning.
CREATE INDEX login_codes_created ON login_codes (created_at);

-- Every code entry and password attempt, written before the check as a failure and turned into
-- a success after it, so attempts in flight count against the per-IP limit.
CREATE TABLE login_attempts (
    id     uuid PRIMARY KEY,
    ip     text NOT NULL,
    phone  text NOT NULL,
    kind   text NOT NULL CHECK (kind IN ('code', 'password')),
    ok     boolean NOT NULL DEFAULT false,
    at     timestamptz NOT NULL
);
CREATE INDEX login_attempts_ip ON login_attempts (ip, at) WHERE NOT ok;
CREATE INDEX login_attempts_at ON login_attempts (at);

-- Wrong passwords per phone. Keyed by phone, not user, so an unknown phone locks exactly like a
-- known one and the lock reveals nothing about who has an account.
CREATE TABLE password_lockouts (
    phone         text PRIMARY KEY,
    failures      integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    locked_until  timestamptz,
    updated_at    timestamptz NOT NULL
);

-- 登录密码: an argon2id PHC string, or NULL while none is set.
ALTER TABLE users ADD COLUMN password_hash text;

-- Tokens get an id to be listed and revoked by, the device the app named, and when they were
-- last used (updated at most every few minutes).
ALTER TABLE api_tokens ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_id_key UNIQUE (id);
ALTER TABLE api_tokens ADD COLUMN device text;
ALTER TABLE api_tokens ADD COLUMN last_used_at timestamptz;
