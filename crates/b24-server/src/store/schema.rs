//! The schema, as an ordered list of migrations. Each runs once, in order, inside a transaction;
//! SQLite records progress in `PRAGMA user_version`, PostgreSQL in its `b24_schema_version` table. Keep statements within what PostgreSQL (and
//! PostgreSQL-compatible distributed engines) also accept, so one design serves both backends.

/// A marker SQLite replaces with `WITHOUT ROWID` before it runs a migration (PostgreSQL reads it
/// as a comment): such a table is stored in its primary key's B-tree alone, so writing a row
/// updates one B-tree instead of two (the rowid table and the key's index).
pub const SQLITE_WITHOUT_ROWID: &str = "/* sqlite: WITHOUT ROWID */";

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: the foundation.
    r#"
CREATE TABLE portals (
    id          BIGINT PRIMARY KEY,
    domain      TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    public_url  TEXT NOT NULL,
    created     TEXT NOT NULL
);
CREATE TABLE sequences (
    portal_id   BIGINT NOT NULL,
    name        TEXT NOT NULL,
    value       BIGINT NOT NULL,
    PRIMARY KEY (portal_id, name)
);
CREATE TABLE users (
    portal_id   BIGINT NOT NULL,
    id          BIGINT NOT NULL,
    name        TEXT NOT NULL,
    last_name   TEXT NOT NULL,
    admin       BOOLEAN NOT NULL,
    active      BOOLEAN NOT NULL,
    created     TEXT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE TABLE user_rights (
    portal_id       BIGINT NOT NULL,
    user_id         BIGINT NOT NULL,
    entity_type_id  BIGINT NOT NULL,
    action          TEXT NOT NULL,
    level           TEXT NOT NULL,
    PRIMARY KEY (portal_id, user_id, entity_type_id, action)
);
CREATE TABLE webhooks (
    portal_id   BIGINT NOT NULL,
    id          BIGINT NOT NULL,
    user_id     BIGINT NOT NULL,
    code_digest BYTEA NOT NULL,
    scopes      TEXT NOT NULL,
    active      BOOLEAN NOT NULL,
    created     TEXT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE INDEX webhooks_by_user ON webhooks (portal_id, user_id);
CREATE TABLE crm_items (
    portal_id       BIGINT NOT NULL,
    entity_type_id  BIGINT NOT NULL,
    id              BIGINT NOT NULL,
    title           TEXT NOT NULL,
    assigned_by_id  BIGINT NOT NULL,
    created_by      BIGINT NOT NULL,
    updated_by      BIGINT NOT NULL,
    created_time    TEXT NOT NULL,
    updated_time    TEXT NOT NULL,
    extra           TEXT NOT NULL,
    PRIMARY KEY (portal_id, entity_type_id, id)
);
CREATE INDEX crm_items_by_assignee ON crm_items (portal_id, entity_type_id, assigned_by_id, id);
CREATE TABLE activities (
    portal_id        BIGINT NOT NULL,
    id               BIGINT NOT NULL,
    type_id          BIGINT NOT NULL,
    provider_id      TEXT NOT NULL,
    provider_type_id TEXT NOT NULL,
    subject          TEXT NOT NULL,
    description      TEXT NOT NULL,
    responsible_id   BIGINT NOT NULL,
    author_id        BIGINT NOT NULL,
    editor_id        BIGINT NOT NULL,
    owner_type_id    BIGINT NOT NULL,
    owner_id         BIGINT NOT NULL,
    deadline         TEXT NOT NULL,
    start_time       TEXT NOT NULL,
    end_time         TEXT NOT NULL,
    completed        BOOLEAN NOT NULL,
    status           BIGINT NOT NULL,
    priority         BIGINT NOT NULL,
    direction        BIGINT NOT NULL,
    created          TEXT NOT NULL,
    last_updated     TEXT NOT NULL,
    extra            TEXT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE INDEX activities_by_owner ON activities (portal_id, owner_type_id, owner_id, id);
CREATE TABLE activity_bindings (
    portal_id       BIGINT NOT NULL,
    activity_id     BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    entity_type_id  BIGINT NOT NULL,
    entity_id       BIGINT NOT NULL,
    PRIMARY KEY (portal_id, activity_id, entity_type_id, entity_id)
);
CREATE UNIQUE INDEX activity_bindings_in_order ON activity_bindings (portal_id, activity_id, seq);
CREATE INDEX activity_bindings_by_item ON activity_bindings (portal_id, entity_type_id, entity_id, activity_id);
"#,
    // 2: the portal's request-rate plan, changeable while the server runs.
    "ALTER TABLE portals ADD COLUMN plan TEXT NOT NULL DEFAULT 'standard';",
    // 3: OAuth applications, codes and tokens (secrets only as SHA-256 digests); operator blocks
    // and portal switches.
    r#"
ALTER TABLE portals ADD COLUMN rest_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE portals ADD COLUMN closed BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE portals ADD COLUMN public_https_url TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN blocked BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE oauth_apps (
    portal_id                 BIGINT NOT NULL,
    id                        BIGINT NOT NULL,
    client_id                 TEXT NOT NULL,
    client_secret_digest      BYTEA NOT NULL,
    application_token_digest  BYTEA NOT NULL,
    name                      TEXT NOT NULL,
    scopes                    TEXT NOT NULL,
    redirect_uri              TEXT NOT NULL,
    blocked                   BOOLEAN NOT NULL,
    created                   TEXT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE UNIQUE INDEX oauth_apps_by_client_id ON oauth_apps (portal_id, client_id);
CREATE TABLE oauth_app_users (
    portal_id   BIGINT NOT NULL,
    app_id      BIGINT NOT NULL,
    user_id     BIGINT NOT NULL,
    PRIMARY KEY (portal_id, app_id, user_id)
);
CREATE TABLE oauth_codes (
    portal_id   BIGINT NOT NULL,
    code_digest BYTEA NOT NULL,
    app_id      BIGINT NOT NULL,
    user_id     BIGINT NOT NULL,
    expires_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (portal_id, code_digest)
);
CREATE TABLE oauth_tokens (
    portal_id       BIGINT NOT NULL,
    access_digest   BYTEA NOT NULL,
    refresh_digest  BYTEA NOT NULL,
    app_id          BIGINT NOT NULL,
    user_id         BIGINT NOT NULL,
    scopes          TEXT NOT NULL,
    access_expires  DOUBLE PRECISION NOT NULL,
    refresh_expires DOUBLE PRECISION NOT NULL,
    refresh_used    BOOLEAN NOT NULL,
    PRIMARY KEY (portal_id, access_digest)
);
CREATE UNIQUE INDEX oauth_tokens_by_refresh ON oauth_tokens (portal_id, refresh_digest);
"#,
    // 4: smart-process types, and the indexes behind the default activity list order.
    r#"
CREATE TABLE crm_dynamic_types (
    portal_id       BIGINT NOT NULL,
    id              BIGINT NOT NULL,
    entity_type_id  BIGINT NOT NULL,
    title           TEXT NOT NULL,
    created_by      BIGINT NOT NULL,
    updated_by      BIGINT NOT NULL,
    created_time    TEXT NOT NULL,
    updated_time    TEXT NOT NULL,
    settings        TEXT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE UNIQUE INDEX crm_dynamic_types_by_entity_type ON crm_dynamic_types (portal_id, entity_type_id);
CREATE INDEX activities_by_start_time ON activities (portal_id, start_time, id);
"#,
    // 5: item counts per type, so an unfiltered list's `total` is one row, not a count of the table.
    r#"
CREATE TABLE crm_item_counts (
    portal_id       BIGINT NOT NULL,
    entity_type_id  BIGINT NOT NULL,
    items           BIGINT NOT NULL,
    PRIMARY KEY (portal_id, entity_type_id)
);
INSERT INTO crm_item_counts (portal_id, entity_type_id, items)
    SELECT portal_id, entity_type_id, COUNT(*) FROM crm_items GROUP BY portal_id, entity_type_id;
"#,
    // 6: events (spec §9): the key application tokens are derived from, bound handlers (online,
    // offline, and outgoing webhooks with app_id 0), the outbox written in the same transaction
    // as each change, the delivery log, and the offline-event queue.
    r#"
CREATE TABLE server_keys (
    portal_id   BIGINT NOT NULL,
    name        TEXT NOT NULL,
    secret      BYTEA NOT NULL,
    PRIMARY KEY (portal_id, name)
);
CREATE TABLE event_handlers (
    portal_id       BIGINT NOT NULL,
    id              BIGINT NOT NULL,
    app_id          BIGINT NOT NULL,
    event_name      TEXT NOT NULL,
    handler         TEXT NOT NULL,
    user_id         BIGINT NOT NULL,
    connector_id    TEXT NOT NULL,
    created         TEXT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE UNIQUE INDEX event_handlers_unique
    ON event_handlers (portal_id, app_id, event_name, handler, user_id, connector_id);
CREATE INDEX event_handlers_by_event ON event_handlers (portal_id, event_name, id);
CREATE TABLE event_outbox (
    portal_id       BIGINT NOT NULL,
    id              BIGINT NOT NULL,
    handler_id      BIGINT NOT NULL,
    app_id          BIGINT NOT NULL,
    event_name      TEXT NOT NULL,
    handler         TEXT NOT NULL,
    auth_user_id    BIGINT NOT NULL,
    data            TEXT NOT NULL,
    ts              BIGINT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE INDEX event_outbox_due ON event_outbox (portal_id, next_attempt_at, id);
CREATE TABLE event_deliveries (
    portal_id   BIGINT NOT NULL,
    id          BIGINT NOT NULL,
    outbox_id   BIGINT NOT NULL,
    handler_id  BIGINT NOT NULL,
    event_name  TEXT NOT NULL,
    handler     TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    at          TEXT NOT NULL,
    status      BIGINT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE TABLE event_offline (
    portal_id       BIGINT NOT NULL,
    id              BIGINT NOT NULL,
    app_id          BIGINT NOT NULL,
    connector_id    TEXT NOT NULL,
    event_name      TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    data            TEXT NOT NULL,
    user_id         BIGINT NOT NULL,
    timestamp_x     TEXT NOT NULL,
    process_id      TEXT NOT NULL,
    error           BIGINT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE UNIQUE INDEX event_offline_pending
    ON event_offline (portal_id, app_id, connector_id, process_id, error, message_id);
CREATE INDEX event_offline_by_time
    ON event_offline (portal_id, app_id, connector_id, process_id, timestamp_x, id);
CREATE INDEX event_offline_by_id ON event_offline (portal_id, app_id, connector_id, id);
"#,
    // 7: limiter counters shared by server processes (used by the PostgreSQL limiter state; a
    // SQLite server keeps them in memory). Keys name the portal and client.
    r#"
CREATE TABLE limiter_buckets (
    key         TEXT PRIMARY KEY,
    level       DOUBLE PRECISION NOT NULL,
    updated     DOUBLE PRECISION NOT NULL
);
CREATE TABLE limiter_operating (
    key         TEXT NOT NULL,
    minute      BIGINT NOT NULL,
    seconds     DOUBLE PRECISION NOT NULL,
    first_call  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (key, minute)
);
"#,
    // 8: limiter rows are swept once drained (bucket) or out of the window (operating time),
    // found through these indexes rather than by reading the tables.
    r#"
CREATE INDEX limiter_buckets_by_updated ON limiter_buckets (updated);
CREATE INDEX limiter_operating_by_minute ON limiter_operating (minute);
"#,
    // 9: the test-double controls (`/_b24/`): server-wide settings (the admin token's digest),
    // the portal clock, the request journal, fault rules and snapshots, all keyed by portal so
    // that every server process on one database sees the same state.
    r#"
CREATE TABLE server_settings (
    name        TEXT PRIMARY KEY,
    value       BYTEA NOT NULL
);
ALTER TABLE portals ADD COLUMN clock_offset DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE portals ADD COLUMN clock_frozen_at DOUBLE PRECISION;
CREATE TABLE journal (
    portal_id   BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    at          DOUBLE PRECISION NOT NULL,
    via         TEXT NOT NULL,
    user_id     BIGINT,
    method      TEXT NOT NULL,
    http        BIGINT NOT NULL,
    error       TEXT,
    ms          DOUBLE PRECISION NOT NULL,
    params      TEXT NOT NULL,
    batch       TEXT,
    fault       BIGINT,
    PRIMARY KEY (portal_id, seq)
);
CREATE TABLE faults (
    portal_id   BIGINT NOT NULL,
    id          BIGINT NOT NULL,
    rule        TEXT NOT NULL,
    hits        BIGINT NOT NULL,
    remaining   BIGINT,
    draws       BIGINT NOT NULL,
    created     TEXT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE TABLE snapshots (
    portal_id   BIGINT NOT NULL,
    name        TEXT NOT NULL,
    created     TEXT NOT NULL,
    rows        BIGINT NOT NULL,
    data        TEXT NOT NULL,
    PRIMARY KEY (portal_id, name)
);
"#,
    // 10: reset (`/_b24/reset`): a count of the portal's resets, so every server process notices
    // one made elsewhere (another process, the CLI) and forgets the limiter counters it holds in
    // memory.
    "ALTER TABLE portals ADD COLUMN reset_generation BIGINT NOT NULL DEFAULT 0;",
    // 11 (captured events, `/_b24/events`): finished outbox rows (delivered or given up) kept
    // under their outbox id with the body last sent, secrets redacted, so an event keeps one
    // number from queued to delivered; and the delivery log found by outbox row.
    r#"
CREATE TABLE event_captures (
    portal_id       BIGINT NOT NULL,
    id              BIGINT NOT NULL,
    handler_id      BIGINT NOT NULL,
    app_id          BIGINT NOT NULL,
    event_name      TEXT NOT NULL,
    handler         TEXT NOT NULL,
    auth_user_id    BIGINT NOT NULL,
    data            TEXT NOT NULL,
    ts              BIGINT NOT NULL,
    attempts        BIGINT NOT NULL,
    status          TEXT NOT NULL,
    body            TEXT NOT NULL,
    finished        DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE INDEX event_deliveries_by_outbox ON event_deliveries (portal_id, outbox_id, id);
"#,
    // 12: the journal is written for every call answered (and trimmed as often): in SQLite it
    // lives in its primary key's B-tree alone, halving the work per row.
    r#"
CREATE TABLE journal_by_key (
    portal_id   BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    at          DOUBLE PRECISION NOT NULL,
    via         TEXT NOT NULL,
    user_id     BIGINT,
    method      TEXT NOT NULL,
    http        BIGINT NOT NULL,
    error       TEXT,
    ms          DOUBLE PRECISION NOT NULL,
    params      TEXT NOT NULL,
    batch       TEXT,
    fault       BIGINT,
    PRIMARY KEY (portal_id, seq)
) /* sqlite: WITHOUT ROWID */;
INSERT INTO journal_by_key
    SELECT portal_id, seq, at, via, user_id, method, http, error, ms, params, batch, fault
    FROM journal;
DROP TABLE journal;
ALTER TABLE journal_by_key RENAME TO journal;
"#,
    // 13: the journal holds one row per batch the writer gathered (a chunk of entries as a JSON
    // array), not one per call: a row per call cost every call an insert and, past the cap, a
    // delete (see store/journal.rs). Entries recorded before this upgrade are dropped; their
    // numbering goes on.
    r#"
DROP TABLE journal;
CREATE TABLE journal (
    portal_id   BIGINT NOT NULL,
    last_seq    BIGINT NOT NULL,
    first_seq   BIGINT NOT NULL,
    floor_seq   BIGINT NOT NULL,
    entries     TEXT NOT NULL,
    PRIMARY KEY (portal_id, last_seq)
);
"#,
    // 14: CRM dictionaries, pipelines and stage history (`crm.status.*`, `crm.category.*`,
    // `crm.stagehistory.list`): the rows of every
    // dictionary (lead statuses, sources, deal and smart-process stages, …) and the pipelines of
    // deals and smart processes. A dictionary's rows are found by `(entity_id, sort)`; a stage
    // code is unique within its dictionary. The default rows are written at start (and after a
    // reset) by `domain::statuses::ensure_defaults`, so existing data directories get them too.
    r#"
CREATE TABLE crm_statuses (
    portal_id   BIGINT NOT NULL,
    id          BIGINT NOT NULL,
    entity_id   TEXT NOT NULL,
    status_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    name_init   TEXT NOT NULL,
    sort        BIGINT NOT NULL,
    system      BOOLEAN NOT NULL,
    category_id BIGINT NOT NULL,
    color       TEXT NOT NULL,
    semantics   TEXT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE UNIQUE INDEX crm_statuses_by_code ON crm_statuses (portal_id, entity_id, status_id);
CREATE INDEX crm_statuses_by_sort ON crm_statuses (portal_id, entity_id, sort, id);
CREATE TABLE crm_categories (
    portal_id       BIGINT NOT NULL,
    entity_type_id  BIGINT NOT NULL,
    id              BIGINT NOT NULL,
    name            TEXT NOT NULL,
    sort            BIGINT NOT NULL,
    is_default      BOOLEAN NOT NULL,
    created         TEXT NOT NULL,
    PRIMARY KEY (portal_id, entity_type_id, id)
);
CREATE INDEX crm_categories_by_sort ON crm_categories (portal_id, entity_type_id, sort, id);
CREATE TABLE crm_stage_history (
    portal_id       BIGINT NOT NULL,
    entity_type_id  BIGINT NOT NULL,
    id              BIGINT NOT NULL,
    type_id         BIGINT NOT NULL,
    owner_id        BIGINT NOT NULL,
    created_time    TEXT NOT NULL,
    category_id     BIGINT NOT NULL,
    semantic_id     TEXT NOT NULL,
    stage_id        TEXT NOT NULL,
    PRIMARY KEY (portal_id, entity_type_id, id)
);
CREATE INDEX crm_stage_history_by_owner ON crm_stage_history (portal_id, entity_type_id, owner_id, id);
"#,
    // 15 (timeline comments and bindings, activity types, communications): comments with their
    // bindings to CRM items (a comment's timeline is found by the item, so the second index);
    // the custom activity types applications register; and the items' phones and e-mails,
    // normalised, maintained with every item write, so `crm.duplicate.findbycomm` is a lookup.
    // Existing portals get a mark that has the next start index the items they already hold
    // (`store/upgrades.rs`: the normalisation is Rust's).
    r#"
CREATE TABLE timeline_comments (
    portal_id   BIGINT NOT NULL,
    id          BIGINT NOT NULL,
    created     TEXT NOT NULL,
    author_id   BIGINT NOT NULL,
    comment     TEXT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE TABLE timeline_bindings (
    portal_id       BIGINT NOT NULL,
    owner_id        BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    entity_type_id  BIGINT NOT NULL,
    entity_id       BIGINT NOT NULL,
    PRIMARY KEY (portal_id, owner_id, entity_type_id, entity_id)
);
CREATE INDEX timeline_bindings_by_entity
    ON timeline_bindings (portal_id, entity_type_id, entity_id, owner_id);
CREATE TABLE crm_activity_types (
    portal_id       BIGINT NOT NULL,
    app_id          BIGINT NOT NULL,
    type_id         TEXT NOT NULL,
    name            TEXT NOT NULL,
    configurable    BOOLEAN NOT NULL,
    PRIMARY KEY (portal_id, app_id, type_id)
);
CREATE TABLE crm_communications (
    portal_id       BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    value           TEXT NOT NULL,
    entity_type_id  BIGINT NOT NULL,
    entity_id       BIGINT NOT NULL,
    PRIMARY KEY (portal_id, kind, value, entity_type_id, entity_id)
);
CREATE INDEX crm_communications_by_item
    ON crm_communications (portal_id, entity_type_id, entity_id);
INSERT INTO sequences (portal_id, name, value)
    SELECT id, 'pending:reindex_communications', 1 FROM portals;
"#,
    // 16: users as `user.get` shows them (profile columns that lists filter and sort by, the
    // rest of the profile in `extra` under the field names), the company structure
    // (`department.*`, root department 1 on every portal), users' departments (`UF_DEPARTMENT`)
    // and the notifications `im.notify*` sent.
    r#"
ALTER TABLE users ADD COLUMN xml_id TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN second_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN user_type TEXT NOT NULL DEFAULT 'employee';
ALTER TABLE users ADD COLUMN personal_birthday TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN employment_date TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN last_login TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN last_activity TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN timestamp_x TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
UPDATE users SET timestamp_x = created, last_login = created, last_activity = created;
CREATE INDEX users_by_email ON users (portal_id, email, id);
CREATE INDEX users_by_last_name ON users (portal_id, last_name, id);
CREATE TABLE departments (
    portal_id   BIGINT NOT NULL,
    id          BIGINT NOT NULL,
    name        TEXT NOT NULL,
    sort        BIGINT NOT NULL,
    parent      BIGINT,
    head        BIGINT,
    PRIMARY KEY (portal_id, id)
);
CREATE INDEX departments_by_parent ON departments (portal_id, parent, id);
CREATE TABLE user_departments (
    portal_id       BIGINT NOT NULL,
    user_id         BIGINT NOT NULL,
    department_id   BIGINT NOT NULL,
    PRIMARY KEY (portal_id, user_id, department_id)
);
CREATE INDEX user_departments_by_department ON user_departments (portal_id, department_id, user_id);
INSERT INTO departments (portal_id, id, name, sort, parent, head)
    SELECT id, 1, 'Company', 500, NULL, NULL FROM portals;
INSERT INTO sequences (portal_id, name, value)
    SELECT id, 'department', 1 FROM portals;
INSERT INTO user_departments (portal_id, user_id, department_id)
    SELECT portal_id, id, 1 FROM users;
CREATE TABLE notifications (
    portal_id   BIGINT NOT NULL,
    id          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    user_id     BIGINT NOT NULL,
    from_user   BIGINT NOT NULL,
    message     TEXT NOT NULL,
    tag         TEXT NOT NULL,
    created     TEXT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
"#,
    // 17: links between contacts and companies (`crm.contact.company.*`,
    // `crm.company.contact.*`), many to many, each contact with at most one primary company
    // (mirrored in the contact's `COMPANY_ID`); the index finds a company's contacts. Existing
    // portals are marked so the next start links each contact to the company it names
    // (`store/upgrades.rs`).
    r#"
CREATE TABLE crm_contact_companies (
    portal_id   BIGINT NOT NULL,
    contact_id  BIGINT NOT NULL,
    company_id  BIGINT NOT NULL,
    sort        BIGINT NOT NULL,
    is_primary  BOOLEAN NOT NULL,
    PRIMARY KEY (portal_id, contact_id, company_id)
);
CREATE INDEX crm_contact_companies_by_company
    ON crm_contact_companies (portal_id, company_id, contact_id);
INSERT INTO sequences (portal_id, name, value)
    SELECT id, 'pending:link_contact_companies', 1 FROM portals;
"#,
    // 18: each item's stage and pipeline (`crm_item_stages`), kept by every item write, so
    // "is any item at this stage / in this pipeline" (deleting a stage or a pipeline) is an
    // index probe, not a read of the type's items. Existing portals are marked so the next
    // start fills it (`store/upgrades.rs`).
    r#"
CREATE TABLE crm_item_stages (
    portal_id       BIGINT NOT NULL,
    entity_type_id  BIGINT NOT NULL,
    item_id         BIGINT NOT NULL,
    stage_id        TEXT NOT NULL,
    category_id     BIGINT NOT NULL,
    PRIMARY KEY (portal_id, entity_type_id, item_id)
);
CREATE INDEX crm_item_stages_by_stage ON crm_item_stages (portal_id, entity_type_id, stage_id);
CREATE INDEX crm_item_stages_by_category
    ON crm_item_stages (portal_id, entity_type_id, category_id);
INSERT INTO sequences (portal_id, name, value)
    SELECT id, 'pending:index_item_stages', 1 FROM portals;
"#,
    // 19: files (`disk.*`). Storages (the common drive and one per user, made
    // when first asked for), the tree of folders and files (a name is unique within its folder;
    // a storage's root folder has parent `-storage_id`, so roots never collide), the bytes of
    // each file in chunks of at most 64 KiB keyed by blob (written and read a chunk per
    // statement, so no file is ever whole in memory; on SQLite inside the database file in the
    // data directory), and the files attached to timeline comments.
    r#"
CREATE TABLE disk_storages (
    portal_id       BIGINT NOT NULL,
    id              BIGINT NOT NULL,
    name            TEXT NOT NULL,
    entity_type     TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    root_object_id  BIGINT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE UNIQUE INDEX disk_storages_by_entity ON disk_storages (portal_id, entity_type, entity_id);
CREATE TABLE disk_objects (
    portal_id   BIGINT NOT NULL,
    id          BIGINT NOT NULL,
    storage_id  BIGINT NOT NULL,
    parent_id   BIGINT NOT NULL,
    is_folder   BOOLEAN NOT NULL,
    name        TEXT NOT NULL,
    blob_id     BIGINT NOT NULL,
    size        BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    created_by  BIGINT NOT NULL,
    updated_by  BIGINT NOT NULL,
    create_time TEXT NOT NULL,
    update_time TEXT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE UNIQUE INDEX disk_objects_by_parent ON disk_objects (portal_id, parent_id, name);
CREATE TABLE disk_chunks (
    portal_id   BIGINT NOT NULL,
    blob_id     BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    bytes       BYTEA NOT NULL,
    PRIMARY KEY (portal_id, blob_id, seq)
);
CREATE TABLE timeline_files (
    portal_id   BIGINT NOT NULL,
    owner_id    BIGINT NOT NULL,
    object_id   BIGINT NOT NULL,
    PRIMARY KEY (portal_id, owner_id, object_id)
);
CREATE INDEX timeline_files_by_object ON timeline_files (portal_id, object_id);
"#,
    // 20: items' computed fields (stage semantics, CLOSED, IS_NEW, MOVED_*,
    // HAS_*, LAST_ACTIVITY_*; `domain/item_derived.rs`) for items stored before they existed:
    // existing portals are marked so the next start derives them (`store/upgrades.rs`).
    r#"
INSERT INTO sequences (portal_id, name, value)
    SELECT id, 'pending:derive_item_fields', 1 FROM portals;
"#,
    // 21: tasks (`tasks.task.*`): a task's searchable fields in columns, the
    // rest in `extra`; its people by role in `task_members` (the index finds a user's tasks,
    // so "tasks I may see" is an index read); its comments, checklist items and elapsed time.
    // `activity_id` links the CRM activity (TYPE_ID 3) whose bindings are its `UF_CRM_TASK`.
    r#"
CREATE TABLE tasks (
    portal_id           BIGINT NOT NULL,
    id                  BIGINT NOT NULL,
    parent_id           BIGINT NOT NULL,
    group_id            BIGINT NOT NULL,
    title               TEXT NOT NULL,
    description         TEXT NOT NULL,
    status              BIGINT NOT NULL,
    priority            BIGINT NOT NULL,
    responsible_id      BIGINT NOT NULL,
    created_by          BIGINT NOT NULL,
    changed_by          BIGINT NOT NULL,
    status_changed_by   BIGINT NOT NULL,
    closed_by           BIGINT NOT NULL,
    created_date        TEXT NOT NULL,
    changed_date        TEXT NOT NULL,
    status_changed_date TEXT NOT NULL,
    closed_date         TEXT NOT NULL,
    date_start          TEXT NOT NULL,
    deadline            TEXT NOT NULL,
    start_date_plan     TEXT NOT NULL,
    end_date_plan       TEXT NOT NULL,
    activity_id         BIGINT NOT NULL,
    extra               TEXT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE INDEX tasks_by_responsible ON tasks (portal_id, responsible_id, id);
CREATE INDEX tasks_by_creator ON tasks (portal_id, created_by, id);
CREATE INDEX tasks_by_status ON tasks (portal_id, status, id);
CREATE INDEX tasks_by_group ON tasks (portal_id, group_id, id);
CREATE INDEX tasks_by_parent ON tasks (portal_id, parent_id, id);
CREATE INDEX tasks_by_deadline ON tasks (portal_id, deadline, id);
CREATE INDEX tasks_by_created_date ON tasks (portal_id, created_date, id);
CREATE INDEX tasks_by_changed_date ON tasks (portal_id, changed_date, id);
CREATE INDEX tasks_by_activity ON tasks (portal_id, activity_id);
CREATE TABLE task_members (
    portal_id   BIGINT NOT NULL,
    task_id     BIGINT NOT NULL,
    role        TEXT NOT NULL,
    user_id     BIGINT NOT NULL,
    PRIMARY KEY (portal_id, task_id, role, user_id)
) /* sqlite: WITHOUT ROWID */;
CREATE INDEX task_members_by_user ON task_members (portal_id, user_id, role, task_id);
CREATE TABLE task_comments (
    portal_id   BIGINT NOT NULL,
    id          BIGINT NOT NULL,
    task_id     BIGINT NOT NULL,
    author_id   BIGINT NOT NULL,
    message     TEXT NOT NULL,
    post_date   TEXT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE INDEX task_comments_by_task ON task_comments (portal_id, task_id, id);
CREATE TABLE task_checklist_items (
    portal_id       BIGINT NOT NULL,
    id              BIGINT NOT NULL,
    task_id         BIGINT NOT NULL,
    parent_id       BIGINT NOT NULL,
    created_by      BIGINT NOT NULL,
    title           TEXT NOT NULL,
    sort_index      BIGINT NOT NULL,
    is_complete     BOOLEAN NOT NULL,
    is_important    BOOLEAN NOT NULL,
    toggled_by      BIGINT NOT NULL,
    toggled_date    TEXT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE INDEX task_checklist_items_by_task ON task_checklist_items (portal_id, task_id, id);
CREATE TABLE task_elapsed_items (
    portal_id       BIGINT NOT NULL,
    id              BIGINT NOT NULL,
    task_id         BIGINT NOT NULL,
    user_id         BIGINT NOT NULL,
    seconds         BIGINT NOT NULL,
    comment_text    TEXT NOT NULL,
    created_date    TEXT NOT NULL,
    date_start      TEXT NOT NULL,
    date_stop       TEXT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE INDEX task_elapsed_items_by_task ON task_elapsed_items (portal_id, task_id, id);
"#,
    // 22: records hanging off CRM items with a JSON body — catalogue
    // products, product rows, requisites, bank details, addresses (`store/records.rs`). The
    // owner indexes serve each owner's pages (by sort or by id) and the cascades when an owner is deleted.
    r#"
CREATE TABLE crm_records (
    portal_id       BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    id              BIGINT NOT NULL,
    owner_type_id   BIGINT NOT NULL,
    owner_id        BIGINT NOT NULL,
    sort            BIGINT NOT NULL,
    extra           TEXT NOT NULL,
    PRIMARY KEY (portal_id, kind, id)
);
CREATE INDEX crm_records_by_owner
    ON crm_records (portal_id, kind, owner_type_id, owner_id, sort, id);
CREATE INDEX crm_records_by_owner_id
    ON crm_records (portal_id, kind, owner_type_id, owner_id, id);
"#,
    // 23: many portals on one server. A portal has a name (`default` for the
    // one every existing installation has); credentials are found without knowing their portal,
    // so the digests they are looked up by get indexes of their own (codes and tokens are unique
    // server-wide); an application is found by its client id on any portal.
    r#"
ALTER TABLE portals ADD COLUMN name TEXT;
UPDATE portals SET name = 'default' WHERE id = 1;
UPDATE portals SET name = 'portal-' || CAST(id AS TEXT) WHERE name IS NULL;
CREATE UNIQUE INDEX portals_by_name ON portals (name);
CREATE INDEX webhooks_by_code ON webhooks (code_digest);
CREATE INDEX oauth_tokens_by_access ON oauth_tokens (access_digest);
CREATE INDEX oauth_tokens_by_refresh_digest ON oauth_tokens (refresh_digest);
CREATE INDEX oauth_codes_by_code ON oauth_codes (code_digest);
CREATE INDEX oauth_apps_by_client ON oauth_apps (client_id);
"#,
    // 24: browser applications (spec frame-host.md): an application's handler
    // and install URLs, version and API-only flag; per portal its installation, options,
    // placements, who has run it (FIRST_RUN), and the portal page's one-time launch codes and
    // sessions (digests only). Applications that existed are installed.
    r#"
ALTER TABLE oauth_apps ADD COLUMN handler_url TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_apps ADD COLUMN install_url TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_apps ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE oauth_apps ADD COLUMN api_only BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE app_installs (
    portal_id   BIGINT NOT NULL,
    app_id      BIGINT NOT NULL,
    installed   BOOLEAN NOT NULL,
    version     BIGINT NOT NULL,
    PRIMARY KEY (portal_id, app_id)
);
INSERT INTO app_installs (portal_id, app_id, installed, version)
    SELECT portal_id, id, TRUE, 1 FROM oauth_apps;
CREATE TABLE app_options (
    portal_id   BIGINT NOT NULL,
    app_id      BIGINT NOT NULL,
    user_id     BIGINT NOT NULL,
    name        TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (portal_id, app_id, user_id, name)
);
CREATE TABLE app_user_runs (
    portal_id   BIGINT NOT NULL,
    app_id      BIGINT NOT NULL,
    user_id     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    PRIMARY KEY (portal_id, app_id, user_id, version)
);
CREATE TABLE placements (
    portal_id   BIGINT NOT NULL,
    id          BIGINT NOT NULL,
    app_id      BIGINT NOT NULL,
    placement   TEXT NOT NULL,
    handler     TEXT NOT NULL,
    user_id     BIGINT NOT NULL,
    title       TEXT NOT NULL,
    description TEXT NOT NULL,
    group_name  TEXT NOT NULL,
    options     TEXT NOT NULL,
    lang_all    TEXT NOT NULL,
    PRIMARY KEY (portal_id, id)
);
CREATE UNIQUE INDEX placements_by_app
    ON placements (portal_id, app_id, placement, handler, user_id);
CREATE TABLE host_sessions (
    portal_id   BIGINT NOT NULL,
    digest      BYTEA NOT NULL,
    kind        TEXT NOT NULL,
    user_id     BIGINT NOT NULL,
    target      TEXT NOT NULL,
    expires_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (portal_id, digest)
);
"#,
    // 25: contacts list their companies (`companyIds`) and companies their
    // contacts (`contactIds`), mirrored from `crm_contact_companies`; existing portals are
    // marked so the next start mirrors the rows they hold (`store/upgrades.rs`).
    r#"
INSERT INTO sequences (portal_id, name, value)
    SELECT id, 'pending:mirror_contact_companies', 1 FROM portals;
"#,
    // 26 (userfields): the values of CRM user fields (`UF_CRM_*`), one row per value (a
    // multiple field has several positions). The item's own `extra` JSON is what reads return;
    // these rows are the index a filter or an order on a user field runs on: by
    // (field, value, item) for each value type, and by (item type, item) for the cascade when an
    // item goes. Definitions are `crm_records` of kind `user_field`.
    r#"
CREATE TABLE crm_uf_values (
    portal_id       BIGINT NOT NULL,
    entity_type_id  BIGINT NOT NULL,
    item_id         BIGINT NOT NULL,
    field_id        BIGINT NOT NULL,
    position        BIGINT NOT NULL,
    num_value       DOUBLE PRECISION NOT NULL,
    text_value      TEXT NOT NULL,
    PRIMARY KEY (portal_id, entity_type_id, item_id, field_id, position)
);
CREATE INDEX crm_uf_values_by_num ON crm_uf_values (portal_id, field_id, num_value, item_id);
CREATE INDEX crm_uf_values_by_text ON crm_uf_values (portal_id, field_id, text_value, item_id);
"#,
];
