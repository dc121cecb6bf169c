-- A notification fans out into one row of `notifications` per recipient and channel; each
-- e-mail or SMS among them is then sent by its own outbox row of kind 'send', so one failing
-- address is retried alone and never makes the others go out twice.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('action', 'notification', 'send'));
