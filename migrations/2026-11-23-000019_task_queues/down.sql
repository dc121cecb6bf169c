DROP TRIGGER tasks_queues_update ON tasks;
DROP TRIGGER tasks_queues_insert ON tasks;
DROP FUNCTION task_queues_sync();
DROP FUNCTION task_party_groups(jsonb);
DROP TABLE task_queues;
