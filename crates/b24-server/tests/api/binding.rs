//! `crm.activity.binding.*`: happy paths, every error code with its exact status and envelope,
//! owner recalculation and permission filtering (spec §2).

use crate::helpers::{envelope, spawn_app, TestApp};
use serde_json::json;

const LEAD: i64 = 1;
const DEAL: i64 = 2;
const CONTACT: i64 = 3;
const COMPANY: i64 = 4;

/// A deal with a to-do on it, and a contact: the usual starting point.
async fn deal_with_todo(app: &TestApp) -> (i64, i64, i64) {
    let deal = app.new_item(DEAL, None).await;
    let contact = app.new_item(CONTACT, None).await;
    let activity = app.new_todo(DEAL, deal).await;
    (deal, contact, activity)
}

// ---------------------------------------------------------------- list

#[tokio::test]
async fn list_returns_every_binding_in_the_order_they_were_made() {
    let app = spawn_app().await;
    let (deal, contact, activity) = deal_with_todo(&app).await;
    let company = app.new_item(COMPANY, None).await;
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": CONTACT, "entityId": contact}),
    )
    .await;
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": COMPANY, "entityId": company}),
    )
    .await;

    let (status, body) = app
        .call("crm.activity.binding.list", json!({"activityId": activity}))
        .await;

    assert_eq!(status, 200);
    assert_eq!(
        body["result"],
        json!([
            {"entityTypeId": DEAL, "entityId": deal},
            {"entityTypeId": CONTACT, "entityId": contact},
            {"entityTypeId": COMPANY, "entityId": company}
        ])
    );
    assert!(body.get("next").is_none() && body.get("total").is_none());
}

#[tokio::test]
async fn list_leaves_out_bindings_the_caller_cannot_read() {
    let app = spawn_app().await;
    let (deal, contact, activity) = deal_with_todo(&app).await;
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": CONTACT, "entityId": contact}),
    )
    .await;
    let reader = app.create_user(&["deal.read=all"]);
    let url = app.create_webhook(reader, Some("crm"));

    let (status, body) = app
        .call_as(
            &url,
            "crm.activity.binding.list",
            json!({"activityId": activity}),
        )
        .await;

    assert_eq!(status, 200);
    assert_eq!(
        body["result"],
        json!([{"entityTypeId": DEAL, "entityId": deal}])
    );
}

#[tokio::test]
async fn list_for_a_caller_who_can_read_nothing_is_an_empty_list() {
    let app = spawn_app().await;
    let (_, _, activity) = deal_with_todo(&app).await;
    let nobody = app.create_user(&[]);
    let url = app.create_webhook(nobody, Some("crm"));

    let (status, body) = app
        .call_as(
            &url,
            "crm.activity.binding.list",
            json!({"activityId": activity}),
        )
        .await;

    assert_eq!(status, 200);
    assert_eq!(body["result"], json!([]));
}

#[tokio::test]
async fn list_with_own_read_right_shows_only_items_assigned_to_the_caller() {
    let app = spawn_app().await;
    let user = app.create_user(&["deal.read=own"]);
    let mine = app.new_item(DEAL, Some(user)).await;
    let theirs = app.new_item(DEAL, None).await;
    let activity = app.new_todo(DEAL, theirs).await;
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": DEAL, "entityId": mine}),
    )
    .await;
    let url = app.create_webhook(user, None);

    let (_, body) = app
        .call_as(
            &url,
            "crm.activity.binding.list",
            json!({"activityId": activity}),
        )
        .await;

    assert_eq!(
        body["result"],
        json!([{"entityTypeId": DEAL, "entityId": mine}])
    );
}

#[tokio::test]
async fn list_of_a_missing_activity_is_not_found() {
    let app = spawn_app().await;
    let (status, body) = app
        .call("crm.activity.binding.list", json!({"activityId": 999}))
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("NOT_FOUND", "Entity not found"))
    );
}

#[tokio::test]
async fn list_without_activity_id_is_code_100() {
    let app = spawn_app().await;
    let (status, body) = app
        .call("crm.activity.binding.list", json!({"ACTIVITYID": 1}))
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope("100", "Could not find value for parameter {activityId}")
        )
    );
}

#[tokio::test]
async fn a_non_integer_parameter_is_code_100_with_the_binder_message() {
    let app = spawn_app().await;
    for (value, shown) in [
        (json!("abc"), "abc"),
        (json!([1]), "Array"),
        (json!(""), ""),
        (json!(true), "1"),
    ] {
        let (status, body) = app
            .call("crm.activity.binding.list", json!({"activityId": value}))
            .await;
        assert_eq!(
            (status, body),
            (
                400,
                envelope(
                    "100",
                    &format!("Invalid value {{{shown}}} to match with parameter {{activityId}}. Should be value of type int.")
                )
            ),
            "value {value}"
        );
    }
}

#[tokio::test]
async fn numeric_strings_are_accepted_as_integers() {
    let app = spawn_app().await;
    let (deal, _, activity) = deal_with_todo(&app).await;
    let (status, body) = app
        .call(
            "crm.activity.binding.list",
            json!({"activityId": format!(" {activity}")}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["result"],
        json!([{"entityTypeId": DEAL, "entityId": deal}])
    );
}

// ---------------------------------------------------------------- add

#[tokio::test]
async fn add_links_the_activity_and_returns_true() {
    let app = spawn_app().await;
    let (deal, contact, activity) = deal_with_todo(&app).await;

    let (status, body) = app
        .call(
            "crm.activity.binding.add",
            json!({"activityId": activity, "entityTypeId": CONTACT, "entityId": contact}),
        )
        .await;

    assert_eq!(status, 200);
    assert_eq!(body["result"], json!(true));
    assert_eq!(
        app.bindings(activity).await,
        vec![(DEAL, deal), (CONTACT, contact)]
    );
}

#[tokio::test]
async fn add_recalculates_the_owner_to_the_last_binding_that_is_not_a_contact_or_company() {
    let app = spawn_app().await;
    let contact = app.new_item(CONTACT, None).await;
    let lead = app.new_item(LEAD, None).await;
    let deal = app.new_item(DEAL, None).await;
    let activity = app.new_todo(CONTACT, contact).await;
    assert_eq!(app.owner(activity).await, ("3".into(), contact.to_string()));

    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": LEAD, "entityId": lead}),
    )
    .await;
    assert_eq!(app.owner(activity).await, ("1".into(), lead.to_string()));

    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": DEAL, "entityId": deal}),
    )
    .await;
    assert_eq!(app.owner(activity).await, ("2".into(), deal.to_string()));
}

#[tokio::test]
async fn add_of_an_existing_pair_is_activity_is_already_bound() {
    let app = spawn_app().await;
    let (deal, _, activity) = deal_with_todo(&app).await;
    let (status, body) = app
        .call(
            "crm.activity.binding.add",
            json!({"activityId": activity, "entityTypeId": DEAL, "entityId": deal}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "ACTIVITY_IS_ALREADY_BOUND",
                "Activity is already linked to this entity"
            )
        )
    );
}

#[tokio::test]
async fn add_to_a_missing_item_is_owner_not_found() {
    let app = spawn_app().await;
    let (_, _, activity) = deal_with_todo(&app).await;
    for entity_id in [12345, 0, -1] {
        let (status, body) = app
            .call(
                "crm.activity.binding.add",
                json!({"activityId": activity, "entityTypeId": CONTACT, "entityId": entity_id}),
            )
            .await;
        assert_eq!(
            (status, body),
            (400, envelope("OWNER_NOT_FOUND", "Owner was not found")),
            "id {entity_id}"
        );
    }
}

#[tokio::test]
async fn add_to_an_unknown_entity_type_is_access_denied() {
    let app = spawn_app().await;
    let (_, _, activity) = deal_with_todo(&app).await;
    let (status, body) = app
        .call(
            "crm.activity.binding.add",
            json!({"activityId": activity, "entityTypeId": 999, "entityId": 1}),
        )
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("ACCESS_DENIED", "Access denied."))
    );
}

#[tokio::test]
async fn add_without_update_right_on_the_target_is_access_denied_and_changes_nothing() {
    let app = spawn_app().await;
    let (deal, contact, activity) = deal_with_todo(&app).await;
    let user = app.create_user(&["contact.read=all", "contact.update=own"]);
    let url = app.create_webhook(user, Some("crm"));

    let (status, body) = app
        .call_as(
            &url,
            "crm.activity.binding.add",
            json!({"activityId": activity, "entityTypeId": CONTACT, "entityId": contact}),
        )
        .await;

    assert_eq!(
        (status, body),
        (400, envelope("ACCESS_DENIED", "Access denied."))
    );
    assert_eq!(app.bindings(activity).await, vec![(DEAL, deal)]);
}

#[tokio::test]
async fn add_with_own_update_right_works_on_the_callers_own_items_and_activities() {
    let app = spawn_app().await;
    let user = app.create_user(&["contact.update=own", "deal.update=own"]);
    // The activity must be hers too (spec §4.8): it is bound to her deal.
    let her_deal = app.new_item(DEAL, Some(user)).await;
    let activity = app.new_todo(DEAL, her_deal).await;
    let mine = app.new_item(CONTACT, Some(user)).await;
    let url = app.create_webhook(user, None);

    let (status, body) = app
        .call_as(
            &url,
            "crm.activity.binding.add",
            json!({"activityId": activity, "entityTypeId": CONTACT, "entityId": mine}),
        )
        .await;

    assert_eq!((status, body["result"].clone()), (200, json!(true)));
}

#[tokio::test]
async fn add_to_a_missing_activity_is_not_found_before_anything_else() {
    let app = spawn_app().await;
    let (status, body) = app
        .call(
            "crm.activity.binding.add",
            json!({"activityId": 777, "entityTypeId": 999, "entityId": -5}),
        )
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("NOT_FOUND", "Entity not found"))
    );
}

#[tokio::test]
async fn add_binds_parameters_in_declaration_order() {
    let app = spawn_app().await;
    for (params, missing) in [
        (json!({}), "activityId"),
        (json!({"activityId": 1}), "entityTypeId"),
        (json!({"activityId": 1, "entityTypeId": 2}), "entityId"),
        (json!({"entityTypeId": 2, "entityId": 1}), "activityId"),
    ] {
        let (status, body) = app.call("crm.activity.binding.add", params.clone()).await;
        assert_eq!(
            (status, body),
            (
                400,
                envelope(
                    "100",
                    &format!("Could not find value for parameter {{{missing}}}")
                )
            ),
            "params {params}"
        );
    }
}

#[tokio::test]
async fn the_hundred_and_first_binding_is_refused_with_code_0() {
    let app = spawn_app().await;
    let (_, _, activity) = deal_with_todo(&app).await;
    for _ in 0..99 {
        let contact = app.new_item(CONTACT, None).await;
        app.ok(
            "crm.activity.binding.add",
            json!({"activityId": activity, "entityTypeId": CONTACT, "entityId": contact}),
        )
        .await;
    }
    assert_eq!(app.bindings(activity).await.len(), 100);
    let one_more = app.new_item(CONTACT, None).await;

    let (status, body) = app
        .call(
            "crm.activity.binding.add",
            json!({"activityId": activity, "entityTypeId": CONTACT, "entityId": one_more}),
        )
        .await;

    assert_eq!(
        (status, body),
        (
            400,
            envelope("0", "Maximum number of activity bindings exceeded (100).")
        )
    );
    assert_eq!(app.bindings(activity).await.len(), 100);
}

// ---------------------------------------------------------------- delete

#[tokio::test]
async fn delete_removes_the_link_and_recalculates_the_owner() {
    let app = spawn_app().await;
    let (deal, contact, activity) = deal_with_todo(&app).await;
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": CONTACT, "entityId": contact}),
    )
    .await;

    let (status, body) = app
        .call(
            "crm.activity.binding.delete",
            json!({"activityId": activity, "entityTypeId": DEAL, "entityId": deal}),
        )
        .await;

    assert_eq!((status, body["result"].clone()), (200, json!(true)));
    assert_eq!(app.bindings(activity).await, vec![(CONTACT, contact)]);
    assert_eq!(app.owner(activity).await, ("3".into(), contact.to_string()));
}

#[tokio::test]
async fn delete_of_the_only_binding_is_last_binding_cannot_be_deleted() {
    let app = spawn_app().await;
    let (deal, _, activity) = deal_with_todo(&app).await;
    let (status, body) = app
        .call(
            "crm.activity.binding.delete",
            json!({"activityId": activity, "entityTypeId": DEAL, "entityId": deal}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "LAST_BINDING_CANNOT_BE_DELETED",
                "Cannot delete the only one activity-to-entity link."
            )
        )
    );
    assert_eq!(app.bindings(activity).await, vec![(DEAL, deal)]);
}

#[tokio::test]
async fn delete_of_an_unbound_pair_is_binding_not_found_even_on_a_single_binding_activity() {
    let app = spawn_app().await;
    let (_, contact, activity) = deal_with_todo(&app).await;
    let (status, body) = app
        .call(
            "crm.activity.binding.delete",
            json!({"activityId": activity, "entityTypeId": CONTACT, "entityId": contact}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope("BINDING_NOT_FOUND", "Activity is not linked to this entity")
        )
    );
}

#[tokio::test]
async fn delete_checks_the_right_before_whether_the_binding_exists() {
    let app = spawn_app().await;
    let (deal, _, activity) = deal_with_todo(&app).await;
    let reader = app.create_user(&["deal.read=all"]);
    let url = app.create_webhook(reader, Some("crm"));
    for entity_id in [deal, 5555] {
        let (status, body) = app
            .call_as(
                &url,
                "crm.activity.binding.delete",
                json!({"activityId": activity, "entityTypeId": DEAL, "entityId": entity_id}),
            )
            .await;
        assert_eq!(
            (status, body),
            (400, envelope("ACCESS_DENIED", "Access denied."))
        );
    }
}

#[tokio::test]
async fn delete_of_a_missing_activity_is_not_found() {
    let app = spawn_app().await;
    let (status, body) = app
        .call(
            "crm.activity.binding.delete",
            json!({"activityId": 0, "entityTypeId": 2, "entityId": 1}),
        )
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("NOT_FOUND", "Entity not found"))
    );
}

#[tokio::test]
async fn delete_without_entity_id_is_code_100() {
    let app = spawn_app().await;
    let (status, body) = app
        .call(
            "crm.activity.binding.delete",
            json!({"activityId": 1, "entityTypeId": 2}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope("100", "Could not find value for parameter {entityId}")
        )
    );
}

#[tokio::test]
async fn a_binding_to_a_deleted_item_stays_deletable() {
    let app = spawn_app().await;
    let (deal, contact, activity) = deal_with_todo(&app).await;
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": CONTACT, "entityId": contact}),
    )
    .await;
    app.ok(
        "crm.item.delete",
        json!({"entityTypeId": CONTACT, "id": contact}),
    )
    .await;
    assert_eq!(
        app.bindings(activity).await,
        vec![(DEAL, deal), (CONTACT, contact)]
    );

    let (status, body) = app
        .call(
            "crm.activity.binding.delete",
            json!({"activityId": activity, "entityTypeId": CONTACT, "entityId": contact}),
        )
        .await;

    assert_eq!((status, body["result"].clone()), (200, json!(true)));
    assert_eq!(app.bindings(activity).await, vec![(DEAL, deal)]);
}

// ---------------------------------------------------------------- move

fn move_params(activity: i64, source: (i64, i64), target: (i64, i64)) -> serde_json::Value {
    json!({
        "activityId": activity,
        "sourceEntityTypeId": source.0, "sourceEntityId": source.1,
        "targetEntityTypeId": target.0, "targetEntityId": target.1
    })
}

#[tokio::test]
async fn move_appends_the_target_removes_the_source_and_moves_the_owner() {
    let app = spawn_app().await;
    let (deal, contact, activity) = deal_with_todo(&app).await;
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": CONTACT, "entityId": contact}),
    )
    .await;
    let other_deal = app.new_item(DEAL, None).await;

    let (status, body) = app
        .call(
            "crm.activity.binding.move",
            move_params(activity, (DEAL, deal), (DEAL, other_deal)),
        )
        .await;

    assert_eq!((status, body["result"].clone()), (200, json!(true)));
    assert_eq!(
        app.bindings(activity).await,
        vec![(CONTACT, contact), (DEAL, other_deal)]
    );
    assert_eq!(
        app.owner(activity).await,
        ("2".into(), other_deal.to_string())
    );
}

#[tokio::test]
async fn move_with_equal_ids_is_refused_before_the_type_check() {
    let app = spawn_app().await;
    let (deal, contact, activity) = deal_with_todo(&app).await;
    assert_eq!(
        contact, deal,
        "ids are per type, so the first contact and the first deal share an id"
    );
    let (status, body) = app
        .call(
            "crm.activity.binding.move",
            move_params(activity, (DEAL, deal), (CONTACT, deal)),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "SOURCE_AND_TARGET_ENTITY_ID_ARE_EQUAL_ERROR",
                "Source and target entity ID cannot be equal"
            )
        )
    );
}

#[tokio::test]
async fn move_across_entity_types_is_refused() {
    let app = spawn_app().await;
    let (deal, _, activity) = deal_with_todo(&app).await;
    let other_contact = app.new_item(CONTACT, None).await;
    assert_ne!(other_contact, deal);
    let (status, body) = app
        .call(
            "crm.activity.binding.move",
            move_params(activity, (DEAL, deal), (CONTACT, other_contact)),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "SOURCE_AND_TARGET_ENTITY_TYPES_ARE_NOT_EQUAL_ERROR",
                "Source and target entity types are not equal"
            )
        )
    );
}

#[tokio::test]
async fn move_onto_a_pair_already_bound_is_activity_is_already_bound() {
    let app = spawn_app().await;
    let (deal, _, activity) = deal_with_todo(&app).await;
    let other_deal = app.new_item(DEAL, None).await;
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": DEAL, "entityId": other_deal}),
    )
    .await;
    let (status, body) = app
        .call(
            "crm.activity.binding.move",
            move_params(activity, (DEAL, deal), (DEAL, other_deal)),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "ACTIVITY_IS_ALREADY_BOUND",
                "Activity is already linked to this entity"
            )
        )
    );
}

#[tokio::test]
async fn move_from_an_unbound_source_is_binding_not_found() {
    let app = spawn_app().await;
    let (deal, _, activity) = deal_with_todo(&app).await;
    let a = app.new_item(DEAL, None).await;
    let b = app.new_item(DEAL, None).await;
    let (status, body) = app
        .call(
            "crm.activity.binding.move",
            move_params(activity, (DEAL, a), (DEAL, b)),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope("BINDING_NOT_FOUND", "Activity is not linked to this entity")
        )
    );
    assert_eq!(app.bindings(activity).await, vec![(DEAL, deal)]);
}

#[tokio::test]
async fn move_to_a_missing_target_is_owner_not_found() {
    let app = spawn_app().await;
    let (deal, _, activity) = deal_with_todo(&app).await;
    let (status, body) = app
        .call(
            "crm.activity.binding.move",
            move_params(activity, (DEAL, deal), (DEAL, 9999)),
        )
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("OWNER_NOT_FOUND", "Owner was not found"))
    );
}

#[tokio::test]
async fn move_needs_the_update_right_on_source_and_target() {
    let app = spawn_app().await;
    let user = app.create_user(&["deal.update=own"]);
    let (deal, _, activity) = deal_with_todo(&app).await;
    let mine = app.new_item(DEAL, Some(user)).await;
    let url = app.create_webhook(user, None);
    let (status, body) = app
        .call_as(
            &url,
            "crm.activity.binding.move",
            move_params(activity, (DEAL, deal), (DEAL, mine)),
        )
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("ACCESS_DENIED", "Access denied."))
    );
}

#[tokio::test]
async fn move_of_a_missing_activity_is_not_found() {
    let app = spawn_app().await;
    let (status, body) = app
        .call(
            "crm.activity.binding.move",
            move_params(31337, (2, 1), (2, 2)),
        )
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("NOT_FOUND", "Entity not found"))
    );
}

#[tokio::test]
async fn move_binds_its_five_parameters_in_order() {
    let app = spawn_app().await;
    let (status, body) = app
        .call("crm.activity.binding.move", json!({"activityId": 1, "sourceEntityTypeId": 2, "sourceEntityId": 1, "targetEntityTypeId": 2}))
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope("100", "Could not find value for parameter {targetEntityId}")
        )
    );
}
