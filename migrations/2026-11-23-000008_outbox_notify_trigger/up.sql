-- Relays LISTEN on `certdesk_outbox`. One NOTIFY per statement that inserts outbox rows, from
-- the database itself: every writer (a step, a notice fan-out) wakes the relays without a round
-- trip of its own, and none can forget to. PostgreSQL delivers it at commit, and folds
-- identical notifications of one transaction into one.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('certdesk_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
