DROP INDEX console_events_reveals;
ALTER TABLE console_events DROP COLUMN instance_id;
DELETE FROM console_events WHERE action = 'number_revealed';
ALTER TABLE console_events DROP CONSTRAINT console_events_action_check;
ALTER TABLE console_events ADD CONSTRAINT console_events_action_check CHECK (action IN
    ('task_reassigned', 'roles_changed', 'staff_disabled', 'staff_enabled', 'totp_reset'));
