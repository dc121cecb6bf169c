-- The transactional outbox: what a worker must do outside PostgreSQL (actions and
-- notifications), written in the same transaction as the state change that causes it.
-- The row id is the effect id: it travels with the job and is the idempotency key sent to
-- outside parties.
CREATE TABLE outbox (
    id               uuid PRIMARY KEY,
    instance_id      uuid REFERENCES instances (id),
    kind             text NOT NULL CHECK (kind IN ('action', 'notification')),
    name             text NOT NULL,
    payload          jsonb NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'enqueued', 'done', 'dead')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL,
    lease_until      timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL,
    done_at          timestamptz
);
-- What the relay and the sweeper look for.
CREATE INDEX outbox_owed ON outbox (next_attempt_at) WHERE status IN ('pending', 'enqueued');
CREATE INDEX outbox_dead ON outbox (created_at) WHERE status = 'dead';

-- One row per notification actually addressed (recipient × channel), with the rendered text.
-- message_id is stable per row so a resent e-mail is recognisably the same (DECISIONS 8).
CREATE TABLE notifications (
    id          uuid PRIMARY KEY,
    outbox_id   uuid NOT NULL REFERENCES outbox (id),
    channel     text NOT NULL CHECK (channel IN ('sms', 'email', 'in_app')),
    user_id     uuid REFERENCES users (id),
    address     text NOT NULL,
    template    text NOT NULL,
    subject     text,
    body        text NOT NULL,
    message_id  text NOT NULL UNIQUE,
    status      text NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    created_at  timestamptz NOT NULL,
    sent_at     timestamptz,
    UNIQUE (outbox_id, channel, address)
);
CREATE INDEX notifications_user ON notifications (user_id, created_at DESC);

-- The SMS sandbox: what the real gateway would have delivered, deduplicated by message id.
CREATE TABLE sms_sandbox (
    message_id  text PRIMARY KEY,
    phone       text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL
);
