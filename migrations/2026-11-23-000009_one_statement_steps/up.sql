-- A step writes all its rows in one statement (crates/runtime/src/write.rs), whose outbox
-- insert may insert nothing. A statement trigger fires all the same, and a NOTIFY at commit
-- costs every committing writer the notification queue's lock and wakes every relay for
-- nothing. Notify only when the statement inserted rows.
DROP TRIGGER outbox_notify ON outbox;
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM inserted) THEN
        PERFORM pg_notify('certdesk_outbox', '');
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Every instance start checked its (definition, version) with a FOR KEY SHARE lock on that
-- one `definitions` row: concurrent starts of one chain all locked the same row, and each
-- lock beyond the first built a new MultiXact. The runtime only starts definitions it has
-- recorded (sync_definitions runs before any process serves) and resolves a stored
-- instance's version from this table, failing loudly if it is missing; the check moves there.
ALTER TABLE instances DROP CONSTRAINT instances_definition_version_fkey;
