//! Diesel table definitions, matching `migrations/` exactly (a test compares them with the
//! migrated database's catalog).

diesel::table! {
    users (id) {
        id -> Uuid,
        kind -> Text,
        name -> Text,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        is_demo -> Bool,
        created_at -> Timestamptz,
        password_hash -> Nullable<Text>,
        real_name_status -> Text,
        real_name_name -> Nullable<Text>,
        real_name_id_type -> Nullable<Text>,
        real_name_id_masked -> Nullable<Text>,
        real_name_id_digest -> Nullable<Bytea>,
        real_name_id_pending -> Nullable<Text>,
        real_name_instance_id -> Nullable<Uuid>,
        real_name_updated_at -> Nullable<Timestamptz>,
        real_name_verified_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    staff_roles (user_id, role) {
        user_id -> Uuid,
        role -> Text,
    }
}

diesel::table! {
    staff_credentials (user_id) {
        user_id -> Uuid,
        totp_secret -> Bytea,
        totp_last_step -> Nullable<Int8>,
        failures -> Int4,
        locked_until -> Nullable<Timestamptz>,
        must_change_password -> Bool,
        updated_at -> Timestamptz,
        disabled_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    staff_sessions (id_sha256) {
        id_sha256 -> Bytea,
        user_id -> Uuid,
        csrf_token -> Text,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        expires_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    api_tokens (token_sha256) {
        token_sha256 -> Bytea,
        user_id -> Uuid,
        label -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        id -> Uuid,
        device -> Nullable<Text>,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    login_codes (id) {
        id -> Uuid,
        phone -> Text,
        purpose -> Text,
        code_mac -> Bytea,
        requested_ip -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        failed_tries -> Int4,
        consumed_at -> Nullable<Timestamptz>,
        voided_at -> Nullable<Timestamptz>,
        void_reason -> Nullable<Text>,
    }
}

diesel::table! {
    login_attempts (id) {
        id -> Uuid,
        ip -> Text,
        phone -> Text,
        kind -> Text,
        ok -> Bool,
        at -> Timestamptz,
    }
}

diesel::table! {
    password_lockouts (phone) {
        phone -> Text,
        failures -> Int4,
        locked_until -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    enterprises (id) {
        id -> Uuid,
        uscc -> Text,
        name -> Text,
        kind -> Text,
        legal_rep_name -> Text,
        status -> Text,
        is_demo -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    memberships (enterprise_id, user_id, role) {
        enterprise_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        seal_use_until -> Nullable<Date>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    admin_check_attempts (user_id, enterprise_id) {
        user_id -> Uuid,
        enterprise_id -> Uuid,
        failures -> Int4,
        locked_until -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    definitions (name, version) {
        name -> Text,
        version -> Int4,
        sha256 -> Text,
        title -> Text,
        source -> Text,
        loaded_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Uuid,
        key -> Text,
        fingerprint -> Bytea,
        status -> Text,
        response_status -> Nullable<Int4>,
        content_type -> Nullable<Text>,
        location -> Nullable<Text>,
        body -> Nullable<Bytea>,
        created_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    instances (id) {
        id -> Uuid,
        definition -> Text,
        version -> Int4,
        subject_type -> Text,
        subject_id -> Nullable<Uuid>,
        requester -> Uuid,
        state -> Text,
        status -> Text,
        engine -> Jsonb,
        data -> Jsonb,
        parent_id -> Nullable<Uuid>,
        parent_entry -> Nullable<Int4>,
        history_count -> Int8,
        history_head -> Bytea,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    tasks (id) {
        id -> Uuid,
        instance_id -> Uuid,
        entry -> Int4,
        state -> Text,
        parties -> Jsonb,
        approval -> Text,
        status -> Text,
        opened_at -> Timestamptz,
        sla_due_at -> Nullable<Timestamptz>,
        breached_at -> Nullable<Timestamptz>,
        claimed_by -> Nullable<Uuid>,
        closed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    /// One row per open task per staff group among its parties; kept by triggers on `tasks`
    /// (migration 000019).
    task_queues (queue, task_id) {
        queue -> Text,
        task_id -> Uuid,
        due_key -> Timestamptz,
        opened_at -> Timestamptz,
    }
}

diesel::table! {
    timers (instance_id, entry, slot) {
        instance_id -> Uuid,
        entry -> Int4,
        slot -> Text,
        due_at -> Timestamptz,
    }
}

diesel::table! {
    history (instance_id, seq) {
        instance_id -> Uuid,
        seq -> Int8,
        at -> Timestamptz,
        actor -> Text,
        event -> Text,
        payload -> Jsonb,
        prev_hash -> Bytea,
        hash -> Bytea,
        signature -> Bytea,
        key_id -> Text,
    }
}

diesel::table! {
    outbox (id) {
        id -> Uuid,
        instance_id -> Nullable<Uuid>,
        kind -> Text,
        name -> Text,
        payload -> Jsonb,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        lease_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        done_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    notifications (id) {
        id -> Uuid,
        outbox_id -> Uuid,
        channel -> Text,
        user_id -> Nullable<Uuid>,
        address -> Text,
        template -> Text,
        subject -> Nullable<Text>,
        body -> Text,
        message_id -> Text,
        status -> Text,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        send_attempts -> Int4,
    }
}

diesel::table! {
    sms_sandbox (message_id) {
        message_id -> Text,
        phone -> Text,
        body -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    files (id) {
        id -> Uuid,
        owner_id -> Uuid,
        purpose -> Text,
        media_type -> Text,
        size_bytes -> Int8,
        sm3 -> Bytea,
        width -> Nullable<Int4>,
        height -> Nullable<Int4>,
        original_filename -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    real_name_checks (request_id) {
        request_id -> Uuid,
        user_id -> Uuid,
        kind -> Text,
        provider -> Text,
        id_masked -> Text,
        result -> Nullable<Text>,
        attempts -> Int4,
        created_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    console_events (id) {
        id -> Uuid,
        at -> Timestamptz,
        actor -> Uuid,
        action -> Text,
        subject -> Nullable<Uuid>,
        task_id -> Nullable<Uuid>,
        details -> Jsonb,
        instance_id -> Nullable<Uuid>,
    }
}

diesel::joinable!(staff_roles -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(staff_credentials -> users (user_id));
diesel::joinable!(staff_sessions -> users (user_id));
diesel::joinable!(memberships -> enterprises (enterprise_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(tasks -> instances (instance_id));
diesel::joinable!(task_queues -> tasks (task_id));
diesel::joinable!(timers -> instances (instance_id));
diesel::joinable!(history -> instances (instance_id));
diesel::joinable!(notifications -> outbox (outbox_id));
diesel::joinable!(files -> users (owner_id));
diesel::joinable!(idempotency_keys -> users (user_id));
diesel::joinable!(console_events -> tasks (task_id));
diesel::joinable!(real_name_checks -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    staff_roles,
    staff_credentials,
    staff_sessions,
    api_tokens,
    login_codes,
    login_attempts,
    password_lockouts,
    enterprises,
    memberships,
    admin_check_attempts,
    definitions,
    instances,
    tasks,
    task_queues,
    timers,
    history,
    idempotency_keys,
    outbox,
    notifications,
    sms_sandbox,
    files,
    real_name_checks,
    console_events,
);
