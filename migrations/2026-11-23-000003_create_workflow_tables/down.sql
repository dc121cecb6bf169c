DROP TABLE history;
DROP TABLE timers;
DROP TABLE tasks;
DROP TABLE instances;
DROP TABLE definitions;
