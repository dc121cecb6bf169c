-- The console inbox's queues: one row per open task per staff group among its parties, so the
-- inbox counts and pages a queue through a btree index instead of testing every open task's
-- JSONB parties. Kept by triggers on `tasks`, so every writer (the runtime's step statement, a
-- reassignment, a seed) keeps it true without knowing of it.
CREATE TABLE task_queues (
    queue      text NOT NULL,
    task_id    uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    -- The SLA due time, or 9999-12-31 for a task without one (it sorts last); the console's
    -- "due" order and SLA filters are ranges over it.
    due_key    timestamptz NOT NULL,
    opened_at  timestamptz NOT NULL,
    PRIMARY KEY (queue, task_id)
);
CREATE INDEX task_queues_due ON task_queues (queue, due_key, task_id);
CREATE INDEX task_queues_opened ON task_queues (queue, opened_at, task_id);
CREATE INDEX task_queues_task ON task_queues (task_id);

-- The staff groups a task's parties name (`{"kind": "group", "name": …}`), each once.
CREATE FUNCTION task_party_groups(parties jsonb) RETURNS SETOF text
LANGUAGE sql IMMUTABLE AS $$
    SELECT DISTINCT p ->> 'name'
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(parties) = 'array' THEN parties
                                   ELSE '[]'::jsonb END) AS p
    WHERE jsonb_typeof(p) = 'object' AND p ->> 'kind' = 'group' AND p ->> 'name' IS NOT NULL
$$;

CREATE FUNCTION task_queues_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM task_queues WHERE task_id = OLD.id;
    END IF;
    IF NEW.status = 'open' THEN
        INSERT INTO task_queues (queue, task_id, due_key, opened_at)
        SELECT g, NEW.id, COALESCE(NEW.sla_due_at, timestamptz '9999-12-31 00:00:00+00'),
               NEW.opened_at
        FROM task_party_groups(NEW.parties) AS g;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER tasks_queues_insert AFTER INSERT ON tasks
    FOR EACH ROW WHEN (NEW.status = 'open') EXECUTE FUNCTION task_queues_sync();
-- Claims and breaches change neither membership nor keys: they do not fire it.
CREATE TRIGGER tasks_queues_update AFTER UPDATE OF status, parties, sla_due_at, opened_at ON tasks
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.parties IS DISTINCT FROM NEW.parties
                       OR OLD.sla_due_at IS DISTINCT FROM NEW.sla_due_at
                       OR OLD.opened_at IS DISTINCT FROM NEW.opened_at)
    EXECUTE FUNCTION task_queues_sync();

INSERT INTO task_queues (queue, task_id, due_key, opened_at)
SELECT g, t.id, COALESCE(t.sla_due_at, timestamptz '9999-12-31 00:00:00+00'), t.opened_at
FROM tasks t, task_party_groups(t.parties) AS g
WHERE t.status = 'open';
