DROP TABLE sms_sandbox;
DROP TABLE notifications;
DROP TABLE outbox;
