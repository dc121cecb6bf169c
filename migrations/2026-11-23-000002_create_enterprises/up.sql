-- Enterprises claimed in certdesk and the people who belong to them.
CREATE TABLE enterprises (
    id              uuid PRIMARY KEY,
    uscc            text NOT NULL UNIQUE CHECK (length(uscc) = 18),
    name            text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('enterprise', 'public_institution')),
    legal_rep_name  text NOT NULL,
    status          text NOT NULL CHECK (status IN ('active', 'deregistered')),
    is_demo         boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL
);
-- Name search (≥ 5 characters, at most 10 hits) uses a trigram-free LIKE on a normalised name;
-- enough for the volumes of one CA, and replaceable by pg_trgm without an API change.
CREATE INDEX enterprises_name ON enterprises (name text_pattern_ops);

CREATE TABLE memberships (
    enterprise_id   uuid NOT NULL REFERENCES enterprises (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('enterprise_admin', 'legal_rep', 'member')),
    seal_use_until  date,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (enterprise_id, user_id, role)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- Verify-admin mode of a join request: 5 wrong tries lock the pair for 24 h (SPEC §2).
CREATE TABLE admin_check_attempts (
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    enterprise_id  uuid NOT NULL REFERENCES enterprises (id) ON DELETE CASCADE,
    failures       integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    locked_until   timestamptz,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (user_id, enterprise_id)
);
