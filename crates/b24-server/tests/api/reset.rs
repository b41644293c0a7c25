//! Reset, snapshots and export/import (`/_b24/reset`, `/_b24/snapshots`, `/_b24/export`,
//! `/_b24/import`) and their CLI twins, on both backends.

use crate::helpers::*;
use b24_server::clock::ManualClock;
use b24_server::limits::Plan;
use b24_server::store::journal::{JournalFilter, NewJournalEntry};
use b24_server::store::reset::{Fate, Kind, Table, TableRows, SNAPSHOT_TABLES, TABLES};
use b24_server::store::DEFAULT_PORTAL;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The fault table, to put rows in directly (its feature lives elsewhere).
const FAULTS: Table = Table {
    name: "faults",
    columns: &[
        ("id", Kind::Int),
        ("rule", Kind::Text),
        ("hits", Kind::Int),
        ("draws", Kind::Int),
        ("created", Kind::Text),
    ],
    order: "id",
    keys: &[&["id"]],
};

fn put_rows(app: &TestApp, table: &Table, rows: Vec<Vec<Value>>) {
    let rows = TableRows {
        columns: table.columns.iter().map(|(c, _)| c.to_string()).collect(),
        rows,
    };
    app.state
        .store
        .write(DEFAULT_PORTAL, |tx| tx.upsert_rows(table, &rows))
        .unwrap();
}

fn count_rows(app: &TestApp, table: &Table) -> usize {
    app.state
        .store
        .read(DEFAULT_PORTAL, |tx| tx.table_rows(table))
        .unwrap()
        .rows
        .len()
}

/// Two deals, a contact, and a to-do bound to a deal and the contact.
async fn some_data(app: &TestApp) {
    let deal = app.new_item(2, None).await;
    app.new_item(2, None).await;
    let contact = app.new_item(3, None).await;
    let todo = app.new_todo(2, deal).await;
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": todo, "entityTypeId": 3, "entityId": contact}),
    )
    .await;
}

/// The data tables' counts after [`some_data`], as a reset answers them (limiter counts aside:
/// see [`limiter_aside`]).
fn data_deleted(sequences: u64, journal: u64) -> Value {
    json!({
        "activities": 1, "activity_bindings": 2, "crm_dynamic_types": 0, "crm_item_counts": 2,
        "crm_items": 3, "event_captures": 0, "event_deliveries": 0, "event_offline": 0, "event_outbox": 0,
        "faults": 0, "journal": journal, "sequences": sequences, "notifications": 0,
        "crm_statuses": DICTIONARY_ROWS, "crm_categories": 1, "crm_stage_history": 2,
        "timeline_comments": 0, "timeline_bindings": 0, "crm_activity_types": 0,
        "crm_communications": 0, "crm_contact_companies": 0, "crm_item_stages": 2,
        "timeline_files": 0, "disk_storages": 0, "disk_objects": 0, "disk_chunks": 0,
        "tasks": 0, "task_members": 0, "task_comments": 0, "task_checklist_items": 0,
        "task_elapsed_items": 0,
        "crm_records": 0, "crm_uf_values": 0,
    })
}

/// The `crm.status` entries a new portal has (written again after a reset); with the default
/// deal pipeline, they are in every snapshot.
const DICTIONARY_ROWS: u64 = 62;

/// A reset answer without its limiter counts, which depend on how long calls took (operating
/// time is counted for slow calls only); they must be there, as integers.
fn limiter_aside(mut answer: Value) -> Value {
    let deleted = answer["deleted"].as_object_mut().expect("deleted counts");
    for table in ["limiter_buckets", "limiter_operating"] {
        let count = deleted.remove(table);
        assert!(
            count.as_ref().is_some_and(Value::is_u64),
            "{table}: {count:?}"
        );
    }
    answer
}

#[tokio::test]
async fn reset_by_default_deletes_the_crm_data_and_restarts_its_ids_but_keeps_auth() {
    let app = spawn_app().await;
    let user = app.create_user(&[]);
    some_data(&app).await;

    let (status, answer) = app.control(Method::POST, "/reset", None).await;
    assert_eq!(status, 200, "{answer}");
    // item:2, item:3, activity, crm_status, crm_stage_history and journal go (the five calls'
    // entries: a reset waits for the journal writer first); user and webhook stay.
    assert_eq!(
        limiter_aside(answer),
        json!({ "deleted": data_deleted(6, 5) })
    );

    let (_, list) = app.call("crm.item.list", json!({"entityTypeId": 2})).await;
    assert_eq!(list["result"]["items"], json!([]));
    assert_eq!(list["total"], json!(0));
    assert_eq!(app.new_item(2, None).await, 1, "ids restart at 1");
    assert_eq!(app.new_todo(2, 1).await, 1);
    // The webhook still works (the calls above used it) and kept users keep their ids: a new
    // user does not take the id of one that was kept.
    assert_eq!(app.create_user(&[]), user + 1);

    // An explicit keep, and an empty body, are the same.
    let (status, answer) = app
        .control(Method::POST, "/reset", Some(json!({"keep": ["auth"]})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["deleted"]["crm_items"], json!(1));
}

#[tokio::test]
async fn reset_with_an_empty_keep_wipes_auth_and_answers_a_new_administrator_webhook() {
    let app = spawn_app().await;
    app.create_user(&["deal.read=all"]);
    some_data(&app).await;
    let installed = app.install_app("crm", 1, app.state.clock.now()).await;
    let _ = installed;

    let (status, answer) = app
        .control(Method::POST, "/reset", Some(json!({"keep": []})))
        .await;
    assert_eq!(status, 200, "{answer}");
    let webhook = answer["webhook"].as_str().unwrap().to_string();
    assert!(
        webhook.starts_with(&format!("{}/rest/1/", app.base)),
        "{webhook}"
    );
    assert_eq!(answer["https_webhook"], Value::Null);
    // The six calls (five and the token exchange) are in the journal.
    let mut deleted = data_deleted(0, 6);
    for (table, n) in [
        ("users", 2),
        ("user_rights", 1),
        ("webhooks", 1),
        ("oauth_apps", 1),
        ("oauth_app_users", 1),
        ("oauth_codes", 0),
        ("oauth_tokens", 1),
        ("server_keys", 1),
        ("event_handlers", 0),
        ("departments", 1),
        ("user_departments", 2),
        ("app_installs", 1),
        ("app_options", 0),
        ("app_user_runs", 0),
        ("placements", 0),
        ("host_sessions", 0),
    ] {
        deleted[table] = json!(n);
    }
    // Every sequence: item:2, item:3, activity, crm_status, crm_stage_history, journal, user,
    // webhook, app, department.
    deleted["sequences"] = json!(10);
    assert_eq!(limiter_aside(answer.clone())["deleted"], deleted);

    let (status, _) = app.call("crm.item.list", json!({"entityTypeId": 2})).await;
    assert_eq!(status, 401, "the old webhook is gone");
    let (status, body) = app
        .call_as(
            &webhook,
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "x"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["item"]["id"], json!(1));
    let (_, user) = app.call_as(&webhook, "user.current", json!({})).await;
    assert_eq!(user["result"]["ID"], json!("1"), "{user}");
}

#[tokio::test]
async fn reset_refuses_an_unknown_keep_value_and_unknown_fields_with_400() {
    let app = spawn_app().await;
    app.new_item(2, None).await;
    let (status, body) = app
        .control(
            Method::POST,
            "/reset",
            Some(json!({"keep": ["auth", "items"]})),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "INVALID_REQUEST",
                "keep may name only \"auth\" (users, rights, webhooks, applications, tokens, event handlers), not \"items\""
            )
        )
    );
    let (status, body) = app
        .control(Method::POST, "/reset", Some(json!({"kep": []})))
        .await;
    assert_eq!(status, 400, "{body}");
    let (_, list) = app.call("crm.item.list", json!({"entityTypeId": 2})).await;
    assert_eq!(list["total"], json!(1), "nothing was deleted");
}

#[tokio::test]
async fn reset_clears_the_journal_the_faults_and_the_clock() {
    let app = spawn_app().await;
    let entries: Vec<NewJournalEntry> = (1..=3)
        .map(|_| NewJournalEntry {
            at: 1.5,
            via: "webhook:1".into(),
            user: None,
            method: "server.time".into(),
            http: 200,
            error: None,
            ms: 0.5,
            params: json!({}),
            batch: None,
            fault: None,
        })
        .collect();
    let chunk = b24_server::store::journal::JournalChunk::encode(&entries).unwrap();
    app.state
        .store
        .write(DEFAULT_PORTAL, |tx| tx.append_journal(&chunk, 10_000))
        .unwrap();
    put_rows(
        &app,
        &FAULTS,
        vec![json!([1, "{}", 0, 0, "2030-01-01T00:00:00+00:00"])
            .as_array()
            .unwrap()
            .clone()],
    );
    app.state
        .store
        .write(DEFAULT_PORTAL, |tx| tx.set_clock_setting(3600.0, None))
        .unwrap();
    app.state.portal_clock.set(3600.0, None);

    let (status, answer) = app.control(Method::POST, "/reset", None).await;
    assert_eq!(status, 200);
    assert_eq!(answer["deleted"]["journal"], json!(3));
    assert_eq!(answer["deleted"]["faults"], json!(1));
    let journal = app
        .state
        .store
        .read(DEFAULT_PORTAL, |tx| {
            tx.journal_count(&JournalFilter::default())
        })
        .unwrap();
    assert_eq!(journal, 0);
    assert_eq!(count_rows(&app, &FAULTS), 0);
    // Set in memory by the reset itself; a portal refresh that read the database just before
    // the reset may put the old setting back until its next read, a second later.
    let clock = app.state.portal_clock.clone();
    eventually(|| clock.setting() == (0.0, None)).await;
    let stored = app
        .state
        .store
        .read(DEFAULT_PORTAL, |tx| tx.clock_setting())
        .unwrap();
    assert_eq!(stored, (0.0, None));
}

async fn server_time(app: &TestApp) -> u16 {
    app.call("server.time", json!({})).await.0
}

#[tokio::test]
async fn reset_clears_the_limiter_counters_so_a_spent_burst_is_whole_again() {
    let clock = Arc::new(ManualClock::new(1_800_000_000.0));
    let c = clock.clone();
    let app = spawn_app_with(move |config| {
        config.plan = Some(Plan::Standard);
        config.clock = c;
    })
    .await;
    for i in 0..50 {
        assert_eq!(server_time(&app).await, 200, "request {i}");
    }
    assert_eq!(server_time(&app).await, 503, "the burst is spent");

    let (status, answer) = app.control(Method::POST, "/reset", None).await;
    assert_eq!(status, 200);
    assert_eq!(answer["deleted"]["limiter_buckets"], json!(1), "{answer}");
    assert_eq!(server_time(&app).await, 200);
    for _ in 0..49 {
        assert_eq!(server_time(&app).await, 200);
    }
    assert_eq!(server_time(&app).await, 503, "a whole burst of 50 again");
}

#[tokio::test]
async fn every_table_of_the_schema_is_deleted_by_reset_or_explicitly_kept() {
    let app = spawn_app().await;
    let (tables, columns) = app
        .state
        .store
        .read(DEFAULT_PORTAL, |tx| {
            let tables = tx.schema_tables()?;
            let mut columns = Vec::new();
            for table in SNAPSHOT_TABLES {
                columns.push((table.name, tx.schema_columns(table.name)?));
            }
            Ok((tables, columns))
        })
        .unwrap();
    let accounted: BTreeSet<&str> = TABLES.iter().map(|(t, _)| *t).collect();
    let backend_only = |t: &&str| *t == "b24_schema_version";
    let in_schema: BTreeSet<&str> = tables.iter().map(String::as_str).collect();
    let unaccounted: Vec<&&str> = in_schema.difference(&accounted).collect();
    assert!(
        unaccounted.is_empty(),
        "tables reset does not account for (add them to store::reset::TABLES): {unaccounted:?}"
    );
    let gone: Vec<&&str> = accounted
        .difference(&in_schema)
        .filter(|t| !backend_only(t))
        .collect();
    assert!(
        gone.is_empty(),
        "TABLES names tables the schema lacks: {gone:?}"
    );
    // A snapshot copies every column of the tables it holds.
    for (table, schema_columns) in columns {
        let definition = SNAPSHOT_TABLES.iter().find(|t| t.name == table).unwrap();
        let mut declared: Vec<&str> = vec!["portal_id"];
        declared.extend(definition.columns.iter().map(|(c, _)| *c));
        let mut schema: Vec<&str> = schema_columns.iter().map(String::as_str).collect();
        declared.sort_unstable();
        schema.sort_unstable();
        assert_eq!(declared, schema, "the columns of {table}");
    }
    // Snapshot tables are exactly the data tables.
    let data: BTreeSet<&str> = TABLES
        .iter()
        .filter(|(_, fate)| *fate == Fate::Data)
        .map(|(t, _)| *t)
        .collect();
    let held: BTreeSet<&str> = SNAPSHOT_TABLES.iter().map(|t| t.name).collect();
    assert_eq!(data, held);

    // And a reset answers a count for every table it deletes from.
    let (_, answer) = app
        .control(Method::POST, "/reset", Some(json!({"keep": []})))
        .await;
    let answered: BTreeSet<&str> = answer["deleted"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let deleted: BTreeSet<&str> = TABLES
        .iter()
        .filter(|(_, fate)| *fate != Fate::Kept)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(answered, deleted);
}

/// Everything the CRM read methods answer, without the `time` blocks.
async fn answers(app: &TestApp, webhook: &str, entity_types: &[i64]) -> Vec<Value> {
    let mut out = Vec::new();
    let call = |method: &'static str, params: Value| {
        let params = params.clone();
        async move {
            let (status, mut body) = app.call_as(webhook, method, params.clone()).await;
            assert_eq!(status, 200, "{method} {params}: {body}");
            body.as_object_mut().unwrap().remove("time");
            body
        }
    };
    out.push(call("crm.type.list", json!({})).await);
    for entity_type in entity_types {
        let list = call("crm.item.list", json!({"entityTypeId": entity_type})).await;
        for item in list["result"]["items"].as_array().unwrap() {
            out.push(
                call(
                    "crm.item.get",
                    json!({"entityTypeId": entity_type, "id": item["id"]}),
                )
                .await,
            );
        }
        out.push(list);
    }
    let list = call("crm.activity.list", json!({"select": ["*"]})).await;
    for activity in list["result"].as_array().unwrap() {
        out.push(call("crm.activity.get", json!({"id": activity["ID"]})).await);
        out.push(
            call(
                "crm.activity.binding.list",
                json!({"activityId": activity["ID"]}),
            )
            .await,
        );
    }
    out.push(list);
    out
}

/// A smart process with an item, deals and contacts, to-dos with extra bindings, one deleted
/// deal (a gap in the ids); returns the smart process's entity type id.
async fn richer_data(app: &TestApp) -> i64 {
    let added = app
        .ok(
            "crm.type.add",
            json!({"fields": {"title": "Orders", "isStagesEnabled": "Y"}}),
        )
        .await;
    let process = added["type"]["entityTypeId"].as_i64().unwrap();
    app.ok(
        "crm.item.add",
        json!({"entityTypeId": process, "fields": {"title": "Order 1", "opportunity": 150.5}}),
    )
    .await;
    some_data(app).await;
    let gone = app.new_item(2, None).await;
    app.ok("crm.item.delete", json!({"entityTypeId": 2, "id": gone}))
        .await;
    let todo = app.new_todo(3, 1).await;
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": todo, "entityTypeId": 2, "entityId": 2}),
    )
    .await;
    process
}

#[tokio::test]
async fn a_restored_snapshot_gives_identical_answers_and_the_same_next_ids() {
    let app = spawn_app().await;
    let process = richer_data(&app).await;
    let types = [2, 3, process];
    let before = answers(&app, &app.admin_url, &types).await;

    let (status, saved) = app
        .control(
            Method::POST,
            "/snapshots",
            Some(json!({"name": "baseline"})),
        )
        .await;
    assert_eq!(status, 201, "{saved}");
    assert_eq!(saved["name"], json!("baseline"));
    // 1 type, 4 items, 3 item counts, 2 activities, 4 bindings; the dictionaries and the
    // default deal pipeline; the smart process's pipeline and its 5 stages; 3 history rows
    // and the 3 staged items' stage rows.
    assert_eq!(saved["rows"], json!(14 + DICTIONARY_ROWS + 1 + 6 + 3 + 3));
    assert!(saved["created"].as_str().unwrap().len() >= 19);

    // Change everything, and use the ids.
    let next_deal = app.new_item(2, None).await;
    let next_todo = app.new_todo(2, 1).await;
    app.ok(
        "crm.item.update",
        json!({"entityTypeId": 3, "id": 1, "fields": {"title": "changed"}}),
    )
    .await;
    app.ok("crm.activity.delete", json!({"id": 1})).await;
    app.ok(
        "crm.type.update",
        json!({"id": 1, "fields": {"title": "Renamed"}}),
    )
    .await;
    assert_ne!(answers(&app, &app.admin_url, &types).await, before);

    let (status, restored) = app
        .control(Method::POST, "/snapshots/baseline/restore", None)
        .await;
    assert_eq!(
        (status, restored),
        (200, json!({"name": "baseline", "rows": saved["rows"]}))
    );
    assert_eq!(answers(&app, &app.admin_url, &types).await, before);
    assert_eq!(app.new_item(2, None).await, next_deal, "the same next id");
    assert_eq!(app.new_todo(2, 1).await, next_todo);

    let (status, body) = app
        .control(Method::POST, "/snapshots/nothing/restore", None)
        .await;
    assert_eq!(
        (status, body),
        (
            404,
            envelope(
                "NOT_FOUND",
                "There is no snapshot named 'nothing'; GET /_b24/snapshots lists them"
            )
        )
    );
}

#[tokio::test]
async fn snapshots_are_listed_replaced_only_when_asked_and_deleted() {
    let app = spawn_app().await;
    app.new_item(2, None).await;
    let (status, first) = app
        .control(Method::POST, "/snapshots", Some(json!({"name": "a.b_c-1"})))
        .await;
    assert_eq!(status, 201);
    app.new_item(2, None).await;
    let (status, body) = app
        .control(Method::POST, "/snapshots", Some(json!({"name": "a.b_c-1"})))
        .await;
    assert_eq!(
        (status, body),
        (
            409,
            envelope(
                "ALREADY_EXISTS",
                "A snapshot named 'a.b_c-1' exists; send \"replace\":true to overwrite it, or delete it first"
            )
        )
    );
    let (status, replaced) = app
        .control(
            Method::POST,
            "/snapshots",
            Some(json!({"name": "a.b_c-1", "replace": true})),
        )
        .await;
    assert_eq!(status, 201);
    // 2 items, their count row, history rows and stage rows, against 1, 1, 1 and 1 before (and
    // the dictionaries and default pipeline in both).
    let fresh = DICTIONARY_ROWS + 1;
    assert_eq!(
        (first["rows"].clone(), replaced["rows"].clone()),
        (json!(4 + fresh), json!(7 + fresh))
    );
    app.control(Method::POST, "/snapshots", Some(json!({"name": "z"})))
        .await;

    let (status, list) = app.control(Method::GET, "/snapshots", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        list,
        json!({"snapshots": [
            {"name": "a.b_c-1", "rows": 7 + fresh, "created": replaced["created"]},
            {"name": "z", "rows": 7 + fresh, "created": list["snapshots"][1]["created"]},
        ]})
    );

    for bad in ["", "a b", "ä", &"x".repeat(65)] {
        let (status, body) = app
            .control(Method::POST, "/snapshots", Some(json!({"name": bad})))
            .await;
        assert_eq!(status, 400, "{bad:?}: {body}");
    }
    let (status, body) = app.control(Method::DELETE, "/snapshots/z", None).await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, _) = app.control(Method::DELETE, "/snapshots/z", None).await;
    assert_eq!(status, 404);
    let (_, list) = app.control(Method::GET, "/snapshots", None).await;
    assert_eq!(list["snapshots"].as_array().unwrap().len(), 1);

    // Reset keeps snapshots.
    app.control(Method::POST, "/reset", Some(json!({"keep": []})))
        .await;
    let (_, list) = app.control(Method::GET, "/snapshots", None).await;
    assert_eq!(list["snapshots"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_export_holds_no_secret_the_server_made() {
    let app = spawn_app().await;
    some_data(&app).await;
    let installed = app.install_app("crm", 1, app.state.clock.now()).await;
    let access = installed.tokens["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let refresh = installed.tokens["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, bound) = app
        .client
        .post(format!("{}/rest/event.bind", app.base))
        .json(&json!({"auth": access, "event": "ONCRMDEALADD", "handler": "https://receiver.example.com/h"}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(status, 200, "{:?}", read(bound).await);
    let hook = b24_server::admin::add_outgoing_webhook(
        &app.state.store,
        DEFAULT_PORTAL,
        "ONCRMDEALUPDATE",
        "https://receiver.example.com/w",
    )
    .unwrap();
    let webhook_code = app
        .admin_url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();

    let (status, document) = app.control(Method::GET, "/export", None).await;
    assert_eq!(status, 200);
    assert_eq!(document["format"], json!("b24-server/1"));
    assert_eq!(document["handlers"].as_array().unwrap().len(), 2);
    assert_eq!(document["handlers"][0]["app"], json!(installed.client_id));
    assert_eq!(document["handlers"][1]["app"], Value::Null);
    let text = document.to_string();
    for secret in [
        webhook_code.as_str(),
        installed.client_secret.as_str(),
        installed.application_token.as_str(),
        access.as_str(),
        refresh.as_str(),
        hook.application_token.as_str(),
        app.admin_token.as_str(),
    ] {
        assert!(secret.len() >= 16, "a real secret: {secret}");
        assert!(!text.contains(secret), "the export holds a secret");
    }
    for word in ["digest", "secret", "token", "code"] {
        assert!(!text.contains(word), "the export names {word}: {text}");
    }

    // Handlers come back to their applications by client id.
    let (status, answer) = app
        .control(Method::POST, "/import?mode=replace", Some(document.clone()))
        .await;
    assert_eq!(status, 200, "{answer}");
    let (_, again) = app.control(Method::GET, "/export", None).await;
    assert_eq!(again["handlers"], document["handlers"]);
}

#[tokio::test]
async fn export_then_import_into_a_fresh_server_gives_identical_answers() {
    let a = spawn_app().await;
    let process = richer_data(&a).await;
    let user = a.create_user(&["deal.read=all", "contact.update=own"]);
    b24_server::admin::add_outgoing_webhook(
        &a.state.store,
        DEFAULT_PORTAL,
        "ONCRMDEALADD",
        "https://receiver.example.com/w",
    )
    .unwrap();
    let (status, document) = a.control(Method::GET, "/export", None).await;
    assert_eq!(status, 200, "{document}");
    let types = [2, 3, process];

    let b = spawn_app().await;
    let (status, answer) = b
        .control(Method::POST, "/import?mode=replace", Some(document.clone()))
        .await;
    assert_eq!(status, 200, "{answer}");
    // 2 users and 2 rights, 1 type, 4 items, 2 activities, 4 bindings, 1 handler; the root
    // department and the 2 users' places in it, the dictionaries with the smart process's 5
    // stages, the 2 pipelines (deals' default, the process's), 3 stage-history rows.
    assert_eq!(
        answer,
        json!({"rows": 16 + 1 + 2 + DICTIONARY_ROWS + 5 + 2 + 3})
    );
    assert_eq!(
        answers(&b, &b.admin_url, &types).await,
        answers(&a, &a.admin_url, &types).await
    );
    let (_, again) = b.control(Method::GET, "/export", None).await;
    let strip = |mut d: Value| {
        d.as_object_mut().unwrap().remove("exported");
        d
    };
    assert_eq!(strip(again), strip(document.clone()));
    // Imported ids are taken: new ones follow the largest (a document holds rows, not the
    // ids of rows deleted before the export).
    assert_eq!(b.new_item(2, None).await, 3);
    assert_eq!(b.create_user(&[]), user + 1);
    // The imported user's rights work there.
    let hook = b.create_webhook(user, None);
    let (status, _) = b
        .call_as(&hook, "crm.item.get", json!({"entityTypeId": 2, "id": 1}))
        .await;
    assert_eq!(status, 200);

    // Merging the same document again changes nothing in the answers.
    let before = answers(&b, &b.admin_url, &types).await;
    let (status, _) = b
        .control(Method::POST, "/import?mode=merge", Some(document))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answers(&b, &b.admin_url, &types).await, before);
}

/// A call with an application's access token.
async fn app_call(app: &TestApp, token: &Value, method: &str, mut params: Value) -> (u16, Value) {
    params["auth"] = token.clone();
    let response = app
        .client
        .post(format!("{}/rest/{method}", app.base))
        .json(&params)
        .send()
        .await
        .unwrap();
    read(response).await
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The sections of the families added after the first export format.
const LATER_SECTIONS: [&str; 16] = [
    "departments",
    "userDepartments",
    "statuses",
    "pipelines",
    "stageHistory",
    "timelineComments",
    "timelineBindings",
    "activityTypes",
    "notifications",
    "contactCompanies",
    "tasks",
    "taskMembers",
    "taskComments",
    "taskChecklistItems",
    "taskElapsedItems",
    "records",
];

/// What the families added after the first export format answer, without the `time` blocks.
async fn later_answers(app: &TestApp, deal: i64, contact: i64) -> Vec<Value> {
    let mut out = Vec::new();
    for (method, params) in [
        ("crm.status.list", json!({"order": {"ID": "ASC"}})),
        ("crm.category.list", json!({"entityTypeId": 2})),
        ("crm.stagehistory.list", json!({"entityTypeId": 2})),
        (
            "crm.timeline.comment.list",
            json!({"filter": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal}}),
        ),
        ("department.get", json!({})),
        ("user.get", json!({})),
        ("crm.contact.company.items.get", json!({"id": contact})),
        ("tasks.task.list", json!({"select": ["*", "UF_CRM_TASK"]})),
        (
            "crm.item.productrow.list",
            json!({"filter": {"=ownerType": "D", "=ownerId": deal}}),
        ),
        ("crm.activity.list", json!({"select": ["*"]})),
    ] {
        let (status, mut body) = app.call(method, params.clone()).await;
        assert_eq!(status, 200, "{method} {params}: {body}");
        body.as_object_mut().unwrap().remove("time");
        out.push(body);
    }
    out
}

#[tokio::test]
async fn export_and_import_carry_the_families_added_after_the_first_format() {
    let a = spawn_app().await;
    let deal = a.new_item(2, None).await;
    let contact = a.new_item(3, None).await;
    let company = a.new_item(4, None).await;
    a.ok(
        "crm.status.add",
        json!({"fields": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "DECISION", "NAME": "Decision", "SORT": 45}}),
    )
    .await;
    a.ok(
        "crm.category.add",
        json!({"entityTypeId": 2, "fields": {"name": "Wholesale", "sort": 200}}),
    )
    .await;
    a.ok(
        "crm.item.update",
        json!({"entityTypeId": 2, "id": deal, "fields": {"stageId": "DECISION"}}),
    )
    .await;
    let comment = a
        .ok(
            "crm.timeline.comment.add",
            json!({"fields": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal, "COMMENT": "Called"}}),
        )
        .await;
    a.ok(
        "crm.timeline.bindings.bind",
        json!({"fields": {"OWNER_ID": comment, "ENTITY_TYPE": "contact", "ENTITY_ID": contact}}),
    )
    .await;
    let department = a
        .ok("department.add", json!({"NAME": "Sales", "PARENT": 1}))
        .await;
    let seller = a
        .ok(
            "user.add",
            json!({"EMAIL": "s@example.com", "NAME": "Sam", "UF_DEPARTMENT": [department]}),
        )
        .await;
    a.ok(
        "im.notify.system.add",
        json!({"USER_ID": seller, "MESSAGE": "Deal moved"}),
    )
    .await;
    a.ok(
        "crm.contact.company.add",
        json!({"id": contact, "fields": {"COMPANY_ID": company, "IS_PRIMARY": "Y"}}),
    )
    .await;
    let installed = a.install_app("crm", 1, unix_now()).await;
    let (status, body) = app_call(
        &a,
        &installed.tokens["access_token"],
        "crm.activity.type.add",
        json!({"fields": {"TYPE_ID": "QUICKBOOKS", "NAME": "QuickBooks activity"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let task = a
        .ok(
            "tasks.task.add",
            json!({"fields": {"TITLE": "Call back", "RESPONSIBLE_ID": seller,
                              "UF_CRM_TASK": [format!("D_{deal}")]}}),
        )
        .await;
    let task = task["task"]["id"].clone();
    a.ok(
        "task.commentitem.add",
        json!([task, {"POST_MESSAGE": "Done soon"}]),
    )
    .await;
    a.ok(
        "task.checklistitem.add",
        json!([task, {"TITLE": "Find the number"}]),
    )
    .await;
    a.ok(
        "task.elapseditem.add",
        json!([task, {"SECONDS": 600, "COMMENT_TEXT": "Dialling"}]),
    )
    .await;
    a.ok(
        "crm.item.productrow.add",
        json!({"fields": {"ownerType": "D", "ownerId": deal, "productName": "Chair",
                          "price": 100, "quantity": 2}}),
    )
    .await;
    let (status, mut document) = a.control(Method::GET, "/export", None).await;
    assert_eq!(status, 200, "{document}");
    for section in LATER_SECTIONS {
        assert!(
            document[section].as_array().is_some_and(|l| !l.is_empty()),
            "{section}: {}",
            document[section]
        );
    }
    assert_eq!(
        document["activityTypes"],
        json!([{"app": installed.client_id, "typeId": "QUICKBOOKS",
                "name": "QuickBooks activity", "configurable": false}])
    );
    assert_eq!(
        document["timelineBindings"],
        json!([{"ownerId": comment, "entityTypeId": 2, "entityId": deal},
               {"ownerId": comment, "entityTypeId": 3, "entityId": contact}])
    );

    // Another server knows the application under its own client id.
    let b = spawn_app().await;
    let theirs = b.install_app("crm", 1, unix_now()).await;
    document["activityTypes"][0]["app"] = json!(theirs.client_id);
    let (status, answer) = b
        .control(Method::POST, "/import?mode=replace", Some(document.clone()))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        later_answers(&b, deal, contact).await,
        later_answers(&a, deal, contact).await
    );
    let (status, listed) = app_call(
        &b,
        &theirs.tokens["access_token"],
        "crm.activity.type.list",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["result"][0]["TYPE_ID"], json!("QUICKBOOKS"));
    let (_, again) = b.control(Method::GET, "/export", None).await;
    for section in LATER_SECTIONS {
        assert_eq!(again[section], document[section], "{section}");
    }
    // New rows take ids after the imported ones, in every family.
    let next_comment = b
        .ok(
            "crm.timeline.comment.add",
            json!({"fields": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal, "COMMENT": "Again"}}),
        )
        .await;
    assert_eq!(next_comment.as_i64(), Some(comment.as_i64().unwrap() + 1));
    let next_department = b
        .ok("department.add", json!({"NAME": "Support", "PARENT": 1}))
        .await;
    assert_eq!(
        next_department.as_i64(),
        Some(department.as_i64().unwrap() + 1)
    );

    // A binding of a comment the document does not hold, or an unknown application, is refused
    // before anything is written.
    let mut orphan = document.clone();
    orphan["timelineBindings"][0]["ownerId"] = json!(999);
    let (status, body) = b
        .control(Method::POST, "/import?mode=merge", Some(orphan))
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "INVALID_DOCUMENT",
                "timelineBindings[0].ownerId: no entry of timelineComments in the document has this id"
            )
        )
    );
    let mut unknown = document.clone();
    unknown["activityTypes"][0]["app"] = json!("local.nothing");
    let (status, body) = b
        .control(Method::POST, "/import?mode=merge", Some(unknown))
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "INVALID_DOCUMENT",
                "activityTypes[0].app: no application has the client_id \"local.nothing\" here; create it first (b24-server app create)"
            )
        )
    );
    assert_eq!(
        later_answers(&b, deal, contact).await[3]["total"],
        json!(2),
        "nothing was written"
    );
}

#[tokio::test]
async fn import_merge_writes_rows_over_those_with_their_ids_and_keeps_the_rest() {
    let app = spawn_app().await;
    some_data(&app).await;
    let (_, mut document) = app.control(Method::GET, "/export", None).await;
    let deals = document["items"]["2"].as_array_mut().unwrap();
    deals.truncate(1);
    deals[0]["title"] = json!("merged");
    deals.push(
        json!({"id": 9, "title": "new", "assignedById": 1, "createdBy": 1,
        "updatedBy": 1, "createdTime": "2030-01-01T10:00:00+03:00",
        "updatedTime": "2030-01-01T10:00:00+03:00", "stageId": "WON"}),
    );
    document["items"].as_object_mut().unwrap().remove("3");
    let (status, answer) = app
        .control(Method::POST, "/import?mode=merge", Some(document))
        .await;
    assert_eq!(status, 200, "{answer}");
    let (_, list) = app
        .call(
            "crm.item.list",
            json!({"entityTypeId": 2, "order": {"id": "ASC"}}),
        )
        .await;
    let titles: Vec<(i64, String)> = list["result"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_i64().unwrap(),
                i["title"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        titles,
        vec![(1, "merged".into()), (2, "item".into()), (9, "new".into())]
    );
    assert_eq!(list["total"], json!(3));
    let (_, nine) = app
        .call("crm.item.get", json!({"entityTypeId": 2, "id": 9}))
        .await;
    assert_eq!(nine["result"]["item"]["stageId"], json!("WON"));
    assert_eq!(app.new_item(2, None).await, 10);
    let (_, contacts) = app.call("crm.item.list", json!({"entityTypeId": 3})).await;
    assert_eq!(
        contacts["total"],
        json!(1),
        "merge keeps what the document lacks"
    );
}

#[tokio::test]
async fn a_malformed_import_answers_400_naming_the_path_and_changes_nothing() {
    let app = spawn_app().await;
    some_data(&app).await;
    let (_, document) = app.control(Method::GET, "/export", None).await;
    let before = answers(&app, &app.admin_url, &[2, 3]).await;
    let broken = |path: &[&str], value: Value| {
        let mut d = document.clone();
        let mut at = &mut d;
        for (i, key) in path.iter().enumerate() {
            if i + 1 == path.len() {
                break;
            }
            at = match key.parse::<usize>() {
                Ok(n) if at.is_array() => &mut at[n],
                _ => &mut at[*key],
            };
        }
        let last = path[path.len() - 1];
        match last.parse::<usize>() {
            Ok(n) if at.is_array() => at[n] = value,
            _ => {
                if value.is_null() {
                    at.as_object_mut().unwrap().remove(last);
                } else {
                    at[last] = value;
                }
            }
        }
        d
    };
    let cases = [
        (broken(&["format"], json!("b24-server/2")), "format: expected \"b24-server/1\", found \"b24-server/2\""),
        (broken(&["items", "2", "1", "createdBy"], json!("one")), "items.2[1].createdBy: expected an integer, found \"one\""),
        (broken(&["items", "2", "0", "title"], Value::Null), "items.2[0].title: missing"),
        (broken(&["items", "2", "1", "id"], json!(1)), "items.2[1]: repeats the id of an earlier entry"),
        (broken(&["activities", "0", "COMPLETED"], json!("N")), "activities[0].COMPLETED: expected true or false, found \"N\""),
        (broken(&["bindings", "0", "activityId"], json!(7)), "bindings[0].activityId: no activity of the document has this id"),
        (broken(&["users", "0", "rights"], json!([{"entityTypeId": 2, "action": "fly", "level": "all"}])), "users[0].rights[0].action: not a known action"),
        (broken(&["handlers"], json!([{"id": 1, "app": "local.nothing", "event": "ONCRMDEALADD", "handler": "https://a.example.com/", "userId": 0, "connectorId": "", "created": "x"}])), "handlers[0].app: no application has the client_id \"local.nothing\" here; create it first (b24-server app create)"),
        (broken(&["items", "x"], json!([])), "items.x: the key is an entityTypeId (1 or more)"),
        (broken(&["extra"], json!(1)), "extra: not part of the format"),
        (broken(&["activities", "0", "SUBJECT"], json!("a\u{0}b")), "$.activities[0].SUBJECT: text cannot contain the NUL character"),
    ];
    for (document, description) in cases {
        let (status, body) = app.control(Method::POST, "/import", Some(document)).await;
        assert_eq!(
            (status, body),
            (400, envelope("INVALID_DOCUMENT", description))
        );
    }
    let (status, body) = app
        .control(Method::POST, "/import?mode=upsert", Some(document.clone()))
        .await;
    assert_eq!(status, 400, "{body}");
    let response = app
        .client
        .post(format!("{}/_b24/import", app.base))
        .bearer_auth(&app.admin_token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(read(response).await.0, 400);
    assert_eq!(answers(&app, &app.admin_url, &[2, 3]).await, before);
}

fn run(command: &mut std::process::Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn the_cli_twins_reset_snapshot_export_and_import_work_on_a_running_server() {
    let app = spawn_app().await;
    some_data(&app).await;
    let types = [2, 3];
    let before = answers(&app, &app.admin_url, &types).await;

    let saved: Value =
        serde_json::from_str(&run(app.cli().args(["snapshot", "save", "base"]))).unwrap();
    // 8 rows of data, 2 history rows, 2 stage rows, the dictionaries and the default deal
    // pipeline.
    assert_eq!(saved["rows"], json!(8 + 2 + 2 + DICTIONARY_ROWS + 1));
    let listed: Value = serde_json::from_str(&run(app.cli().args(["snapshot", "list"]))).unwrap();
    assert_eq!(listed["snapshots"][0]["name"], json!("base"));
    let file = app.dir.path().join("export.json");
    run(app.cli().arg("export").arg(&file));
    let stdout: Value = serde_json::from_str(&run(app.cli().args(["export", "-"]))).unwrap();
    assert_eq!(stdout["items"], document_items(&file));

    // The CLI cannot wait for the running server's journal writer: let it write first (a
    // journal read does), then the count is whatever the calls so far left there.
    let (_, written) = app
        .control(Method::POST, "/journal/count", Some(json!({})))
        .await;
    assert!(written["count"].as_u64().unwrap() >= 5, "{written}");
    let reset: Value = serde_json::from_str(&run(app.cli().arg("reset"))).unwrap();
    let mut reset = limiter_aside(reset);
    let journal = reset["deleted"]["journal"].take();
    assert!(journal.as_u64().unwrap() >= 5, "{journal}");
    let mut expected = data_deleted(6, 0);
    expected["journal"] = Value::Null;
    assert_eq!(reset, json!({ "deleted": expected }));
    let (_, list) = app.call("crm.item.list", json!({"entityTypeId": 2})).await;
    assert_eq!(list["total"], json!(0));

    let restored: Value =
        serde_json::from_str(&run(app.cli().args(["snapshot", "restore", "base"]))).unwrap();
    assert_eq!(restored, json!({"name": "base", "rows": saved["rows"]}));
    assert_eq!(answers(&app, &app.admin_url, &types).await, before);

    run(app.cli().arg("reset"));
    let imported: Value = serde_json::from_str(&run(app.cli().arg("import").arg(&file))).unwrap();
    // 1 user, 3 items, 1 activity, 2 bindings; the root department and the user's place in
    // it, the dictionaries, the default deal pipeline, 2 stage-history rows.
    assert_eq!(
        imported,
        json!({"rows": 7 + 1 + 1 + DICTIONARY_ROWS + 1 + 2})
    );
    assert_eq!(answers(&app, &app.admin_url, &types).await, before);
    run(app.cli().arg("import").arg(&file).arg("--merge"));
    assert_eq!(answers(&app, &app.admin_url, &types).await, before);

    assert_eq!(
        run(app.cli().args(["snapshot", "delete", "base"])),
        "deleted snapshot base\n"
    );
    let output = app
        .cli()
        .args(["snapshot", "restore", "base"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("There is no snapshot named 'base'"));

    let all: Value = serde_json::from_str(&run(app.cli().args(["reset", "--all"]))).unwrap();
    let webhook = all["webhook"].as_str().unwrap();
    assert!(
        webhook.starts_with(&format!("{}/rest/1/", app.base)),
        "{all}"
    );
    let (status, _) = app.call_as(webhook, "server.time", json!({})).await;
    assert_eq!(status, 200);
}

fn document_items(file: &std::path::Path) -> Value {
    let document: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    document["items"].clone()
}

#[tokio::test]
async fn a_reset_through_the_cli_clears_the_running_servers_in_memory_limiter_within_seconds() {
    let app = spawn_app_with(|config| config.plan = Some(Plan::Standard)).await;
    // 50 calls fill the bucket; it drains two a second, so on a slow machine a few more pass.
    let mut spent = false;
    for _ in 0..200 {
        if server_time(&app).await == 503 {
            spent = true;
            break;
        }
    }
    assert!(spent, "the burst is spent");
    run(app.cli().arg("reset"));
    // The server notices the reset count change at its next refresh (every second).
    let control = app.state.control.clone();
    eventually(|| control.reset_seen.load(std::sync::atomic::Ordering::SeqCst) >= 1).await;
    // Without the reset the bucket drains two calls a second: 50 calls pass only after it.
    for i in 0..50 {
        assert_eq!(server_time(&app).await, 200, "request {i}");
    }
}

#[tokio::test]
async fn a_reset_that_wipes_auth_answers_the_https_webhook_when_https_is_served() {
    let app = spawn_app_with(|c| {
        c.tls = Some(b24_server::app::TlsSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert_and_key: None,
            names: vec![],
        })
    })
    .await;
    let (status, answer) = app
        .control(Method::POST, "/reset", Some(json!({"keep": []})))
        .await;
    assert_eq!(status, 200);
    let https = answer["https_webhook"].as_str().unwrap();
    let plain = answer["webhook"].as_str().unwrap();
    let https_base = app.https_base.clone().unwrap();
    assert!(
        https.starts_with(&format!("{https_base}/rest/1/")),
        "{answer}"
    );
    assert_eq!(
        https.trim_start_matches(&https_base),
        plain.trim_start_matches(&app.base),
        "one code, two listeners"
    );
}

/// Two server processes on one PostgreSQL schema: a reset through one is seen by the other at
/// once, limiter counters included (they live in the database there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_through_one_process_is_seen_by_another_on_the_same_postgresql() {
    use crate::durability::call;
    use crate::scale_out::schema_or_skip;
    let Some(schema) = schema_or_skip("reset across processes") else {
        return;
    };
    let servers = TwoServers::start(schema, "standard");
    let client = reqwest::Client::new();
    let [_, on_b] = servers.webhooks();
    call(
        &client,
        &on_b,
        "crm.item.add",
        json!({"entityTypeId": 2, "fields": {"title": "d"}}),
    )
    .await
    .unwrap();
    let mut refused = false;
    for _ in 0..60 {
        let (status, _) = call(&client, &on_b, "server.time", json!({}))
            .await
            .unwrap();
        refused |= status == 503;
    }
    assert!(refused, "the burst is spent on b");

    let token = std::fs::read_to_string(servers.dir.path().join("admin-token")).unwrap();
    let response = client
        .post(format!("{}/_b24/reset", servers.first.base))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    let (status, answer) = read(response).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["deleted"]["crm_items"], json!(1));

    for i in 0..49 {
        let (status, _) = call(&client, &on_b, "server.time", json!({}))
            .await
            .unwrap();
        assert_eq!(status, 200, "request {i} on b after the reset on a");
    }
    let (_, list) = call(&client, &on_b, "crm.item.list", json!({"entityTypeId": 2}))
        .await
        .unwrap();
    assert_eq!(list["total"], json!(0));
    servers.first.stop();
    servers.second.stop();
}
