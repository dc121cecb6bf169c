DROP INDEX instances_created;
DROP TABLE console_events;
ALTER TABLE staff_credentials DROP COLUMN disabled_at;
