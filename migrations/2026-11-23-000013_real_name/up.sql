-- Real-name verification (实名认证) of applicants.
--
-- Mainland resident IDs go through the real-name provider (three-element check of name, ID
-- number and phone, then a face check); passports and Hong Kong / Macau / Taiwan permits go to
-- CS reviewers through the `real_name_review` workflow (数信签 4.2, 5.1.3).
--
-- What is kept of the document number: its masked form (for every response) and an
-- HMAC-SHA256 under a server key (to find the same person again: one document, one verified
-- account; the account appeal by ID number and name). The full number is kept only while it is
-- still needed: between the three-element check and the face check (`real_name_id_pending`,
-- cleared once verified), and in the review instance's form, which the reviewer compares with
-- the document photos.
ALTER TABLE users ADD COLUMN real_name_status text NOT NULL DEFAULT 'none'
    CHECK (real_name_status IN ('none', 'pending_face', 'pending_review', 'verified', 'rejected'));
ALTER TABLE users ADD COLUMN real_name_name text CHECK (char_length(real_name_name) BETWEEN 1 AND 100);
ALTER TABLE users ADD COLUMN real_name_id_type text
    CHECK (real_name_id_type IN ('resident_id', 'passport', 'hk_macau_permit', 'taiwan_permit'));
ALTER TABLE users ADD COLUMN real_name_id_masked text;
ALTER TABLE users ADD COLUMN real_name_id_digest bytea CHECK (octet_length(real_name_id_digest) = 32);
ALTER TABLE users ADD COLUMN real_name_id_pending text;
-- The manual review of the latest non-mainland submission.
ALTER TABLE users ADD COLUMN real_name_instance_id uuid REFERENCES instances (id);
ALTER TABLE users ADD COLUMN real_name_updated_at timestamptz;
ALTER TABLE users ADD COLUMN real_name_verified_at timestamptz;
ALTER TABLE users ADD CONSTRAINT users_real_name_shape CHECK (
    (real_name_status = 'none') = (real_name_id_type IS NULL)
    AND (real_name_id_type IS NULL) = (real_name_name IS NULL)
    AND (real_name_id_type IS NULL) = (real_name_id_masked IS NULL)
    AND (real_name_id_type IS NULL) = (real_name_id_digest IS NULL)
    AND (real_name_id_pending IS NULL OR real_name_status = 'pending_face')
    AND ((real_name_status = 'verified') = (real_name_verified_at IS NOT NULL))
);
-- One identity document, one verified account.
CREATE UNIQUE INDEX users_real_name_verified_id ON users (real_name_id_digest)
    WHERE real_name_status = 'verified';

-- Every call to the real-name provider, written before the call: the request id is the
-- provider's idempotency key, so retries after an outage reuse it and are not billed twice.
CREATE TABLE real_name_checks (
    request_id   uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('three_element', 'face')),
    provider     text NOT NULL,
    id_masked    text NOT NULL,
    -- NULL while the call is under way (or was cut off).
    result       text CHECK (result IN ('match', 'name_id_mismatch', 'phone_mismatch',
                                        'face_mismatch', 'unavailable')),
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    CHECK ((result IS NULL) = (finished_at IS NULL))
);
CREATE INDEX real_name_checks_user ON real_name_checks (user_id, created_at DESC);

-- 本人头照: the face photo of the face check and of a manual review (`POST /api/v1/files`).
ALTER TABLE files DROP CONSTRAINT files_purpose_check;
ALTER TABLE files ADD CONSTRAINT files_purpose_check CHECK (purpose IN (
    'business_licence', 'id_card_front', 'id_card_back', 'passport',
    'seal_image', 'seal_application', 'authorisation_letter',
    'application_form', 'appeal_letter', 'bank_receipt', 'face_photo', 'other'));
