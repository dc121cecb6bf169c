ALTER TABLE api_tokens DROP COLUMN last_used_at;
ALTER TABLE api_tokens DROP COLUMN device;
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_id_key;
ALTER TABLE api_tokens DROP COLUMN id;
ALTER TABLE users DROP COLUMN password_hash;
DROP TABLE password_lockouts;
DROP TABLE login_attempts;
DROP TABLE login_codes;
