//! A model-based property test: random sequences of binding add / delete / move (and item
//! deletes) are applied both to the server, over HTTP, and to a small in-memory model of the
//! rules of spec §2; every answer and every binding list must agree.

use crate::helpers::{spawn_app, TestApp};
use proptest::prelude::*;
use serde_json::json;

const DEAL: i64 = 2;
const CONTACT: i64 = 3;
const UNKNOWN_TYPE: i64 = 999;

#[derive(Debug, Clone)]
enum Op {
    Add(i64, i64),
    Delete(i64, i64),
    Move((i64, i64), (i64, i64)),
    DeleteItem(i64, i64),
}

fn pair() -> impl Strategy<Value = (i64, i64)> {
    (
        prop_oneof![4 => Just(DEAL), 4 => Just(CONTACT), 1 => Just(UNKNOWN_TYPE)],
        0i64..5,
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => pair().prop_map(|(t, i)| Op::Add(t, i)),
        4 => pair().prop_map(|(t, i)| Op::Delete(t, i)),
        3 => (pair(), pair()).prop_map(|(s, t)| Op::Move(s, t)),
        1 => (prop_oneof![Just(DEAL), Just(CONTACT)], 1i64..4).prop_map(|(t, i)| Op::DeleteItem(t, i)),
    ]
}

/// The rules, for an administrator (who may update every item of a known type).
struct Model {
    bindings: Vec<(i64, i64)>,
    items: Vec<(i64, i64)>,
}

impl Model {
    fn known_type(t: i64) -> bool {
        t == DEAL || t == CONTACT
    }

    fn exists(&self, p: (i64, i64)) -> bool {
        self.items.contains(&p)
    }

    /// The expected error code, or `None` for success (after applying the change).
    fn apply(&mut self, op: &Op) -> Option<&'static str> {
        match *op {
            Op::Add(t, i) => {
                if Self::known_type(t) && !self.exists((t, i)) {
                    return Some("OWNER_NOT_FOUND");
                }
                if !Self::known_type(t) {
                    return Some("ACCESS_DENIED");
                }
                if self.bindings.contains(&(t, i)) {
                    return Some("ACTIVITY_IS_ALREADY_BOUND");
                }
                self.bindings.push((t, i));
                None
            }
            Op::Delete(t, i) => {
                if !Self::known_type(t) {
                    return Some("ACCESS_DENIED");
                }
                if !self.bindings.contains(&(t, i)) {
                    return Some("BINDING_NOT_FOUND");
                }
                if self.bindings.len() == 1 {
                    return Some("LAST_BINDING_CANNOT_BE_DELETED");
                }
                self.bindings.retain(|b| *b != (t, i));
                None
            }
            Op::Move(s, t) => {
                if Self::known_type(t.0) && !self.exists(t) {
                    return Some("OWNER_NOT_FOUND");
                }
                if !Self::known_type(s.0) || !Self::known_type(t.0) {
                    return Some("ACCESS_DENIED");
                }
                if s.1 == t.1 {
                    return Some("SOURCE_AND_TARGET_ENTITY_ID_ARE_EQUAL_ERROR");
                }
                if s.0 != t.0 {
                    return Some("SOURCE_AND_TARGET_ENTITY_TYPES_ARE_NOT_EQUAL_ERROR");
                }
                if self.bindings.contains(&t) {
                    return Some("ACTIVITY_IS_ALREADY_BOUND");
                }
                if !self.bindings.contains(&s) {
                    return Some("BINDING_NOT_FOUND");
                }
                self.bindings.push(t);
                self.bindings.retain(|b| *b != s);
                None
            }
            Op::DeleteItem(t, i) => {
                if !self.exists((t, i)) {
                    return Some("NOT_FOUND");
                }
                self.items.retain(|p| *p != (t, i));
                None
            }
        }
    }
}

async fn run(app: &TestApp, activity: i64, op: &Op) -> (u16, Option<String>) {
    let (method, params) = match *op {
        Op::Add(t, i) => (
            "crm.activity.binding.add",
            json!({"activityId": activity, "entityTypeId": t, "entityId": i}),
        ),
        Op::Delete(t, i) => (
            "crm.activity.binding.delete",
            json!({"activityId": activity, "entityTypeId": t, "entityId": i}),
        ),
        Op::Move(s, t) => (
            "crm.activity.binding.move",
            json!({"activityId": activity, "sourceEntityTypeId": s.0, "sourceEntityId": s.1, "targetEntityTypeId": t.0, "targetEntityId": t.1}),
        ),
        Op::DeleteItem(t, i) => ("crm.item.delete", json!({"entityTypeId": t, "id": i})),
    };
    let (status, body) = app.call(method, params).await;
    (status, body["error"].as_str().map(str::to_string))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_server_agrees_with_the_model_on_every_answer_and_binding_list(ops in prop::collection::vec(op(), 1..25)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let app = spawn_app().await;
            let mut model = Model { bindings: vec![(DEAL, 1)], items: Vec::new() };
            for t in [DEAL, CONTACT] {
                for _ in 0..3 {
                    let id = app.new_item(t, None).await;
                    model.items.push((t, id));
                }
            }
            let activity = app.new_todo(DEAL, 1).await;
            for (step, op) in ops.iter().enumerate() {
                let expected = model.apply(op);
                let (status, error) = run(&app, activity, op).await;
                let wanted_status = if expected.is_some() { 400 } else { 200 };
                assert_eq!((status, error.as_deref()), (wanted_status, expected), "step {step}: {op:?} in {ops:?}");
                assert_eq!(app.bindings(activity).await, model.bindings, "step {step}: {op:?} in {ops:?}");
            }
        });
    }
}
