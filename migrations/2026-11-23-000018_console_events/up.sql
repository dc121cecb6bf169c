-- Supervisor and administrator actions in the /admin console: staff accounts can be disabled,
-- and every reassignment, role change, disabling and TOTP reset is recorded with who did it.

-- A disabled account cannot sign in and its sessions end; enabling clears it.
ALTER TABLE staff_credentials ADD COLUMN disabled_at timestamptz;

-- What staff did to tasks and accounts in the console (append-only from the application).
CREATE TABLE console_events (
    id          uuid PRIMARY KEY,
    at          timestamptz NOT NULL,
    -- The staff member who acted.
    actor       uuid NOT NULL REFERENCES users (id),
    action      text NOT NULL CHECK (action IN
                    ('task_reassigned', 'roles_changed', 'staff_disabled', 'staff_enabled', 'totp_reset')),
    -- The staff account acted on (the new claimer for a reassignment).
    subject     uuid REFERENCES users (id),
    task_id     uuid REFERENCES tasks (id) ON DELETE SET NULL,
    -- Before/after values (roles, the previous claimer).
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX console_events_at ON console_events (at DESC);
CREATE INDEX console_events_subject ON console_events (subject, at DESC);
CREATE INDEX console_events_task ON console_events (task_id) WHERE task_id IS NOT NULL;

-- The supervisor's instance search: newest first, and by enterprise.
CREATE INDEX instances_created ON instances (created_at DESC, id DESC);
