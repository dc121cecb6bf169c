ALTER TABLE notifications DROP COLUMN send_attempts;
