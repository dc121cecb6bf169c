-- Sends begun for a notification, committed before each attempt to hand it over. SMTP cannot
-- be exactly once (DECISIONS 8): an e-mail may arrive once more than it was recorded sent, but
-- never more often than sends were begun, which this column makes checkable.
ALTER TABLE notifications ADD COLUMN send_attempts integer NOT NULL DEFAULT 0 CHECK (send_attempts >= 0);
