DELETE FROM files WHERE purpose = 'face_photo';
ALTER TABLE files DROP CONSTRAINT files_purpose_check;
ALTER TABLE files ADD CONSTRAINT files_purpose_check CHECK (purpose IN (
    'business_licence', 'id_card_front', 'id_card_back', 'passport',
    'seal_image', 'seal_application', 'authorisation_letter',
    'application_form', 'appeal_letter', 'bank_receipt', 'other'));
DROP TABLE real_name_checks;
DROP INDEX users_real_name_verified_id;
ALTER TABLE users DROP CONSTRAINT users_real_name_shape;
ALTER TABLE users DROP COLUMN real_name_verified_at;
ALTER TABLE users DROP COLUMN real_name_updated_at;
ALTER TABLE users DROP COLUMN real_name_instance_id;
ALTER TABLE users DROP COLUMN real_name_id_pending;
ALTER TABLE users DROP COLUMN real_name_id_digest;
ALTER TABLE users DROP COLUMN real_name_id_masked;
ALTER TABLE users DROP COLUMN real_name_id_type;
ALTER TABLE users DROP COLUMN real_name_name;
ALTER TABLE users DROP COLUMN real_name_status;
