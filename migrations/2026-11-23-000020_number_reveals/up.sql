-- Personal numbers (phones, identity documents, bank accounts) are masked on console pages;
-- seeing one in full is a permission and each reveal is recorded (SPEC "Cross-cutting rules").
ALTER TABLE console_events DROP CONSTRAINT console_events_action_check;
ALTER TABLE console_events ADD CONSTRAINT console_events_action_check CHECK (action IN
    ('task_reassigned', 'roles_changed', 'staff_disabled', 'staff_enabled', 'totp_reset',
     'number_revealed'));
-- The instance whose form data a reveal showed.
ALTER TABLE console_events ADD COLUMN instance_id uuid REFERENCES instances (id) ON DELETE SET NULL;
-- A page asks: what has this person revealed of this instance lately?
CREATE INDEX console_events_reveals ON console_events (instance_id, actor, at DESC)
    WHERE action = 'number_revealed';
