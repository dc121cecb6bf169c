-- `Idempotency-Key` on authenticated POSTs (crates/api/src/idempotency.rs): the first request
-- with a key claims it (status 'running'); its 2xx answer is kept and replayed to a retry with
-- the same key and the same request; a different request under the same key is refused.
-- Keys are scoped to the user, so one applicant can never see another's answer.
CREATE TABLE idempotency_keys (
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key              text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint      bytea NOT NULL CHECK (octet_length(fingerprint) = 32),
    status           text NOT NULL CHECK (status IN ('running', 'done')),
    response_status  integer CHECK (response_status BETWEEN 200 AND 299),
    content_type     text,
    location         text,
    body             bytea,
    created_at       timestamptz NOT NULL,
    completed_at     timestamptz,
    PRIMARY KEY (user_id, key),
    CHECK ((status = 'done') = (response_status IS NOT NULL AND body IS NOT NULL AND completed_at IS NOT NULL))
);
-- Keys are kept 24 hours; the pruning query uses this index.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
