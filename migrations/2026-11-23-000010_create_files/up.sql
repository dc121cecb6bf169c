-- Uploaded files (SPEC cross-cutting rules: type by magic bytes, size limits, content-addressed
-- by SM3). The bytes live in the object store under `sm3/<first two hex digits>/<hex>`, so
-- identical content is stored once whoever uploads it; a row records who uploaded it, for what
-- and what it is. The id is random (v4): ids must not reveal how many files exist.
CREATE TABLE files (
    id                 uuid PRIMARY KEY,
    owner_id           uuid NOT NULL REFERENCES users (id),
    purpose            text NOT NULL CHECK (purpose IN (
                           'business_licence', 'id_card_front', 'id_card_back', 'passport',
                           'seal_image', 'seal_application', 'authorisation_letter',
                           'application_form', 'appeal_letter', 'bank_receipt', 'other')),
    media_type         text NOT NULL CHECK (media_type IN ('image/jpeg', 'image/png', 'application/pdf')),
    size_bytes         bigint NOT NULL CHECK (size_bytes > 0),
    sm3                bytea NOT NULL CHECK (octet_length(sm3) = 32),
    width              integer CHECK (width > 0),
    height             integer CHECK (height > 0),
    -- A label for people, sanitised and with long digit runs masked before it is stored.
    original_filename  text CHECK (char_length(original_filename) BETWEEN 1 AND 255),
    created_at         timestamptz NOT NULL,
    -- Images have both dimensions, PDFs neither.
    CHECK ((width IS NULL) = (height IS NULL)),
    CHECK ((media_type = 'application/pdf') = (width IS NULL)),
    -- The same bytes uploaded again by the same person for the same purpose are the same file.
    UNIQUE (owner_id, purpose, sm3)
);
