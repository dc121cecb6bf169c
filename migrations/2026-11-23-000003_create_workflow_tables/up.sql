-- Every version of every definition ever loaded; running instances stay on theirs (DECISIONS 4).
CREATE TABLE definitions (
    name        text NOT NULL,
    version     integer NOT NULL CHECK (version >= 1),
    sha256      text NOT NULL CHECK (length(sha256) = 64),
    title       text NOT NULL,
    source      text NOT NULL,
    loaded_at   timestamptz NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE instances (
    id               uuid PRIMARY KEY,
    definition       text NOT NULL,
    version          integer NOT NULL,
    subject_type     text NOT NULL,
    subject_id       uuid,
    requester        uuid NOT NULL REFERENCES users (id),
    state            text NOT NULL,
    status           text NOT NULL CHECK (status IN ('running', 'finished')),
    engine           jsonb NOT NULL,
    data             jsonb NOT NULL,
    parent_id        uuid REFERENCES instances (id),
    parent_entry     integer,
    history_count    bigint NOT NULL DEFAULT 0,
    history_head     bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    FOREIGN KEY (definition, version) REFERENCES definitions (name, version)
);
CREATE INDEX instances_running ON instances (definition, state) WHERE status = 'running';
CREATE INDEX instances_subject ON instances (subject_type, subject_id);
CREATE INDEX instances_requester ON instances (requester, created_at DESC);

-- Human tasks: written in the step's transaction (DECISIONS 2).
CREATE TABLE tasks (
    id           uuid PRIMARY KEY,
    instance_id  uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    entry        integer NOT NULL,
    state        text NOT NULL,
    parties      jsonb NOT NULL,
    approval     text NOT NULL,
    status       text NOT NULL CHECK (status IN ('open', 'closed')),
    opened_at    timestamptz NOT NULL,
    sla_due_at   timestamptz,
    breached_at  timestamptz,
    claimed_by   uuid REFERENCES users (id),
    closed_at    timestamptz,
    UNIQUE (instance_id, entry)
);
CREATE INDEX tasks_open ON tasks (sla_due_at NULLS LAST, opened_at) WHERE status = 'open';

-- Timers: rows with a due time, claimed with FOR UPDATE SKIP LOCKED by any number of workers.
CREATE TABLE timers (
    instance_id  uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    entry        integer NOT NULL,
    slot         text NOT NULL,
    due_at       timestamptz NOT NULL,
    PRIMARY KEY (instance_id, entry, slot)
);
CREATE INDEX timers_due ON timers (due_at);

-- Append-only decision history, chained with SM3 and signed with SM2 (certdesk-audit).
CREATE TABLE history (
    instance_id  uuid NOT NULL REFERENCES instances (id),
    seq          bigint NOT NULL CHECK (seq >= 1),
    at           timestamptz NOT NULL,
    actor        text NOT NULL,
    event        text NOT NULL,
    payload      jsonb NOT NULL,
    prev_hash    bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash         bytea NOT NULL CHECK (octet_length(hash) = 32),
    signature    bytea NOT NULL,
    key_id       text NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
