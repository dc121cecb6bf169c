DROP INDEX tasks_open_claimed;
DROP TABLE staff_sessions;
DROP TABLE staff_credentials;
