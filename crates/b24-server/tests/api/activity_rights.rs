//! One permission rule for every activity path (issue 22, spec §4.8): an activity's rights come
//! from the items it is bound to. Read and update need the right on one bound item, delete the
//! delete right on every one, and adding or removing a binding needs the update right on that
//! item and on the activity. A user with "own" rights cannot take over someone else's activity
//! by binding it to her own deal.

use crate::helpers::{envelope, spawn_app, TestApp};
use serde_json::{json, Value};

const DEAL: i64 = 2;
const CONTACT: i64 = 3;

fn legacy(text: &str) -> (u16, Value) {
    (400, envelope("", text))
}

fn denied() -> (u16, Value) {
    (400, envelope("ACCESS_DENIED", "Access denied."))
}

const OWN_DEALS: &[&str] = &[
    "deal.read=own",
    "deal.update=own",
    "deal.delete=own",
    "contact.read=all",
];

/// Two users with "own" rights on deals, each with a deal, and their webhooks.
struct Pair {
    alice: String,
    alice_deal: i64,
    bob: String,
    bob_deal: i64,
    bob_id: i64,
}

async fn two_users(app: &TestApp) -> Pair {
    let alice_id = app.create_user(OWN_DEALS);
    let bob_id = app.create_user(OWN_DEALS);
    Pair {
        alice: app.create_webhook(alice_id, Some("crm")),
        alice_deal: app.new_item(DEAL, Some(alice_id)).await,
        bob: app.create_webhook(bob_id, Some("crm")),
        bob_deal: app.new_item(DEAL, Some(bob_id)).await,
        bob_id,
    }
}

#[tokio::test]
async fn binding_someone_elses_activity_to_her_own_deal_is_refused_and_it_stays_his() {
    let app = spawn_app().await;
    let p = two_users(&app).await;
    let activity = app.new_todo(DEAL, p.bob_deal).await;
    let alice = |method: &'static str, params: Value| {
        let url = p.alice.clone();
        let app = &app;
        async move { app.call_as(&url, method, params).await }
    };

    assert_eq!(
        alice(
            "crm.activity.binding.add",
            json!({"activityId": activity, "entityTypeId": DEAL, "entityId": p.alice_deal})
        )
        .await,
        denied()
    );
    assert_eq!(
        alice(
            "crm.activity.binding.move",
            json!({"activityId": activity, "sourceEntityTypeId": DEAL, "sourceEntityId": p.bob_deal,
                "targetEntityTypeId": DEAL, "targetEntityId": p.alice_deal})
        )
        .await,
        denied()
    );
    assert_eq!(
        alice("crm.activity.get", json!({"id": activity})).await,
        legacy("Activity is not found.")
    );
    assert_eq!(
        alice(
            "crm.activity.update",
            json!({"id": activity, "fields": {"SUBJECT": "mine"}})
        )
        .await,
        legacy("Access denied.")
    );
    assert_eq!(
        alice("crm.activity.delete", json!({"id": activity})).await,
        legacy("Access denied.")
    );
    assert_eq!(
        alice(
            "crm.activity.todo.update",
            json!({"id": activity, "ownerTypeId": DEAL, "ownerId": p.bob_deal, "deadline": "2031-01-01T10:00:00"})
        )
        .await,
        denied()
    );
    let (status, listed) = alice("crm.activity.list", json!({})).await;
    assert_eq!((status, &listed["result"]), (200, &json!([])));
    let (status, bindings) =
        alice("crm.activity.binding.list", json!({"activityId": activity})).await;
    assert_eq!((status, &bindings["result"]), (200, &json!([])));

    // Nothing moved: the activity is still bound to his deal only, and he still updates it.
    assert_eq!(app.bindings(activity).await, vec![(DEAL, p.bob_deal)]);
    assert_eq!(
        app.owner(activity).await,
        ("2".into(), p.bob_deal.to_string())
    );
    let (status, body) = app
        .call_as(
            &p.bob,
            "crm.activity.update",
            json!({"id": activity, "fields": {"SUBJECT": "still his"}}),
        )
        .await;
    assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
}

#[tokio::test]
async fn an_activity_bound_to_both_deals_stays_his_to_update_and_needs_both_rights_to_delete() {
    let app = spawn_app().await;
    let p = two_users(&app).await;
    let activity = app.new_todo(DEAL, p.bob_deal).await;
    // The administrator shares it with her deal; the owner moves there (spec §2.1).
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": DEAL, "entityId": p.alice_deal}),
    )
    .await;
    assert_eq!(
        app.owner(activity).await,
        ("2".into(), p.alice_deal.to_string())
    );

    for (url, subject) in [(&p.alice, "hers"), (&p.bob, "his")] {
        let (status, body) = app
            .call_as(
                url,
                "crm.activity.update",
                json!({"id": activity, "fields": {"SUBJECT": subject}}),
            )
            .await;
        assert_eq!(
            (status, &body["result"]),
            (200, &json!(true)),
            "{subject}: {body}"
        );
        let (status, got) = app
            .call_as(url, "crm.activity.get", json!({"id": activity}))
            .await;
        assert_eq!((status, &got["result"]["SUBJECT"]), (200, &json!(subject)));
    }
    for url in [&p.alice, &p.bob] {
        assert_eq!(
            app.call_as(url, "crm.activity.delete", json!({"id": activity}))
                .await,
            legacy("Access denied."),
            "deleting unbinds it from the other's deal too"
        );
    }
    // He may unbind her deal only with the update right on it.
    assert_eq!(
        app.call_as(
            &p.bob,
            "crm.activity.binding.delete",
            json!({"activityId": activity, "entityTypeId": DEAL, "entityId": p.alice_deal}),
        )
        .await,
        denied()
    );
    assert_eq!(
        app.bindings(activity).await,
        vec![(DEAL, p.bob_deal), (DEAL, p.alice_deal)]
    );
    // Once her deal is his too, he has every right the delete needs.
    app.ok(
        "crm.item.update",
        json!({"entityTypeId": DEAL, "id": p.alice_deal, "fields": {"assignedById": p.bob_id}}),
    )
    .await;
    let (status, body) = app
        .call_as(&p.bob, "crm.activity.delete", json!({"id": activity}))
        .await;
    assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
}

#[tokio::test]
async fn communications_cannot_drop_a_binding_to_an_item_the_caller_may_not_update() {
    let app = spawn_app().await;
    let p = two_users(&app).await;
    let bob_contact = app.new_item(CONTACT, Some(p.bob_id)).await;
    let activity = app
        .ok(
            "crm.activity.add",
            json!({"fields": {"OWNER_TYPE_ID": DEAL, "OWNER_ID": p.alice_deal, "TYPE_ID": 2,
                "SUBJECT": "Call", "COMMUNICATIONS": [
                    {"VALUE": "+1", "ENTITY_TYPE_ID": CONTACT, "ENTITY_ID": bob_contact}]}}),
        )
        .await
        .as_i64()
        .unwrap();
    let before = vec![(DEAL, p.alice_deal), (CONTACT, bob_contact)];
    assert_eq!(app.bindings(activity).await, before);

    // New communications with her deal only would drop his contact: refused, as binding.delete is.
    assert_eq!(
        app.call_as(
            &p.alice,
            "crm.activity.update",
            json!({"id": activity, "fields": {"SUBJECT": "Changed", "COMMUNICATIONS": [{"VALUE": "+2"}]}}),
        )
        .await,
        legacy("Access denied.")
    );
    assert_eq!(
        app.call_as(
            &p.alice,
            "crm.activity.binding.delete",
            json!({"activityId": activity, "entityTypeId": CONTACT, "entityId": bob_contact}),
        )
        .await,
        denied()
    );
    assert_eq!(app.bindings(activity).await, before, "nothing changed");
    let got = app.ok("crm.activity.get", json!({"id": activity})).await;
    assert_eq!(got["SUBJECT"], "Call");
    assert_eq!(got["COMMUNICATIONS"][0]["VALUE"], "+1");

    // Keeping his contact is fine: she may update the activity through her deal.
    let (status, body) = app
        .call_as(
            &p.alice,
            "crm.activity.update",
            json!({"id": activity, "fields": {"COMMUNICATIONS": [
                {"VALUE": "+3", "ENTITY_TYPE_ID": CONTACT, "ENTITY_ID": bob_contact}]}}),
        )
        .await;
    assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
    assert_eq!(app.bindings(activity).await, before);
}

#[tokio::test]
async fn an_activity_whose_item_was_deleted_is_deleted_only_with_an_all_right() {
    let app = spawn_app().await;
    let p = two_users(&app).await;
    let activity = app.new_todo(DEAL, p.bob_deal).await;
    app.ok(
        "crm.item.delete",
        json!({"entityTypeId": DEAL, "id": p.bob_deal}),
    )
    .await;
    // His deal is gone: with "own" rights nothing of it is his any more, so neither is this.
    assert_eq!(
        app.call_as(&p.bob, "crm.activity.get", json!({"id": activity}))
            .await,
        legacy("Activity is not found.")
    );
    assert_eq!(
        app.call_as(&p.bob, "crm.activity.delete", json!({"id": activity}))
            .await,
        legacy("Access denied.")
    );
    let all = app.create_user(&["deal.read=all", "deal.delete=all"]);
    let url = app.create_webhook(all, Some("crm"));
    let (status, body) = app
        .call_as(&url, "crm.activity.delete", json!({"id": activity}))
        .await;
    assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
}
