//! `crm.item.list`'s filter and order parsing, and the SQL built from them, never panic and never
//! fail inside the database, for any JSON the caller sends (run against a small real SQLite store).
#![no_main]

use b24_server::clock::SystemClock;
use b24_server::methods::fuzzing;
use b24_server::store::Store;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::{Arc, OnceLock};

fn store() -> &'static Store {
    static STORE: OnceLock<(tempfile::TempDir, Store)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open_sqlite_in(dir.path(), Arc::new(SystemClock)).unwrap();
            b24_server::admin::bootstrap(&store, 1, "http://127.0.0.1:1", "").unwrap();
            (dir, store)
        })
        .1
}

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Object(params)) = serde_json::from_slice::<Value>(data) else { return };
    let filter = params.get("filter").and_then(Value::as_object).cloned().unwrap_or_default();
    let order = params.get("order").and_then(Value::as_object).cloned().unwrap_or_default();
    for entity_type_id in [2, 3] {
        if let Err(e) = fuzzing::item_list(store(), entity_type_id, &filter, &order) {
            panic!("the database refused a query built from {params:?}: {e}");
        }
    }
});
