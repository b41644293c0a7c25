//! The typed API against the real server: `client.crm().activity().binding()…`, items,
//! activities, `server.time`, `profile`, and each binding error code with its envelope.

use crate::helpers::{Server, assert_api_error, client_for, spawn_server};
use b24_client::methods::binding::{self, Binding};
use b24_client::methods::entity_type::{COMPANY, CONTACT, DEAL};
use b24_client::{Client, ErrorKind};
use serde_json::json;

/// A deal with a to-do on it, and a contact.
async fn deal_with_todo(client: &Client) -> (i64, i64, i64) {
    let deal = client
        .crm()
        .item()
        .add(DEAL, json!({"title": "Deal"}))
        .await
        .unwrap();
    let contact = client
        .crm()
        .item()
        .add(CONTACT, json!({"title": "Ann"}))
        .await
        .unwrap();
    let todo = client
        .crm()
        .activity()
        .todo_add(DEAL, deal.id, "2030-01-01T10:00:00", "Call")
        .await
        .unwrap();
    (deal.id, contact.id, todo)
}

#[tokio::test]
async fn bindings_are_added_listed_moved_and_deleted_through_the_typed_api() {
    let server = spawn_server().await;
    let client = server.admin();
    let (deal, contact, todo) = deal_with_todo(&client).await;
    let other_deal = client
        .crm()
        .item()
        .add(DEAL, json!({"title": "Other"}))
        .await
        .unwrap()
        .id;
    let bindings = client.crm().activity().binding();

    assert!(bindings.add(todo, CONTACT, contact).await.unwrap());
    assert_eq!(
        bindings.list(todo).await.unwrap(),
        [Binding::new(DEAL, deal), Binding::new(CONTACT, contact)]
    );
    assert!(
        bindings
            .move_to(
                todo,
                Binding::new(DEAL, deal),
                Binding::new(DEAL, other_deal)
            )
            .await
            .unwrap()
    );
    assert_eq!(
        bindings.list(todo).await.unwrap(),
        [
            Binding::new(CONTACT, contact),
            Binding::new(DEAL, other_deal)
        ]
    );
    assert!(bindings.delete(todo, CONTACT, contact).await.unwrap());
    assert_eq!(
        bindings.list(todo).await.unwrap(),
        [Binding::new(DEAL, other_deal)]
    );
    let activity = client.crm().activity().get(todo).await.unwrap();
    assert_eq!(
        (activity.owner_type_id, activity.owner_id),
        (Some(DEAL), Some(other_deal))
    );
}

#[tokio::test]
async fn binding_errors_carry_their_codes_descriptions_and_status_400() {
    let server = spawn_server().await;
    let client = server.admin();
    let (deal, contact, todo) = deal_with_todo(&client).await;
    let bindings = client.crm().activity().binding();

    assert_api_error(
        bindings.list(999).await,
        "NOT_FOUND",
        "Entity not found",
        Some(400),
    );
    assert_api_error(
        bindings.add(todo, DEAL, deal).await,
        "ACTIVITY_IS_ALREADY_BOUND",
        "Activity is already linked to this entity",
        Some(400),
    );
    assert_api_error(
        bindings.add(todo, DEAL, 999).await,
        "OWNER_NOT_FOUND",
        "Owner was not found",
        Some(400),
    );
    assert_api_error(
        bindings.delete(todo, CONTACT, contact).await,
        "BINDING_NOT_FOUND",
        "Activity is not linked to this entity",
        Some(400),
    );
    assert_api_error(
        bindings.delete(todo, DEAL, deal).await,
        "LAST_BINDING_CANNOT_BE_DELETED",
        "Cannot delete the only one activity-to-entity link.",
        Some(400),
    );
    // Ids are counted per type: deal 1 and contact 1 both exist.
    assert_eq!(deal, contact);
    assert_api_error(
        bindings
            .move_to(
                todo,
                Binding::new(DEAL, deal),
                Binding::new(CONTACT, contact),
            )
            .await,
        "SOURCE_AND_TARGET_ENTITY_ID_ARE_EQUAL_ERROR",
        "Source and target entity ID cannot be equal",
        Some(400),
    );
    // Company 2: an id the deal does not have, of another type.
    client
        .crm()
        .item()
        .add(COMPANY, json!({"title": "Co 1"}))
        .await
        .unwrap();
    let company = client
        .crm()
        .item()
        .add(COMPANY, json!({"title": "Co 2"}))
        .await
        .unwrap()
        .id;
    assert_ne!(company, deal);
    assert_api_error(
        bindings
            .move_to(
                todo,
                Binding::new(DEAL, deal),
                Binding::new(COMPANY, company),
            )
            .await,
        "SOURCE_AND_TARGET_ENTITY_TYPES_ARE_NOT_EQUAL_ERROR",
        "Source and target entity types are not equal",
        Some(400),
    );
    assert_api_error(
        client
            .call("crm.activity.binding.delete", json!({"activityId": todo}))
            .await,
        "100",
        "Could not find value for parameter {entityTypeId}",
        Some(400),
    );
    // Nothing above changed anything.
    assert_eq!(
        bindings.list(todo).await.unwrap(),
        [Binding::new(DEAL, deal)]
    );
}

#[tokio::test]
async fn a_caller_without_the_update_right_gets_access_denied() {
    let server: Server = spawn_server().await;
    let admin = server.admin();
    let (_deal, contact, todo) = deal_with_todo(&admin).await;
    let reader = server.create_user(&["deal.read=all", "contact.read=all"]);
    let client = client_for(&server.create_webhook(reader, Some("crm")));
    assert_api_error(
        client
            .crm()
            .activity()
            .binding()
            .add(todo, CONTACT, contact)
            .await,
        "ACCESS_DENIED",
        "Access denied.",
        Some(400),
    );
}

#[tokio::test]
async fn typed_methods_and_execute_share_one_path() {
    let server = spawn_server().await;
    let client = server.admin();
    let (deal, contact, todo) = deal_with_todo(&client).await;
    let added = client
        .execute(&binding::Add {
            activity_id: todo,
            entity_type_id: CONTACT,
            entity_id: contact,
        })
        .await
        .unwrap();
    assert!(added);
    let listed = client
        .execute(&binding::List { activity_id: todo })
        .await
        .unwrap();
    assert_eq!(
        listed,
        [Binding::new(DEAL, deal), Binding::new(CONTACT, contact)]
    );
}

#[tokio::test]
async fn items_are_created_read_and_deleted_with_typed_fields() {
    let server = spawn_server().await;
    let client = server.admin();
    let items = client.crm().item();

    let created = items
        .add(DEAL, json!({"title": "Big deal", "opportunity": 1000}))
        .await
        .unwrap();
    let read = items.get(DEAL, created.id).await.unwrap();

    assert_eq!(read, created);
    assert_eq!(read.title.as_deref(), Some("Big deal"));
    assert_eq!(read.entity_type_id, Some(DEAL));
    assert_eq!(read.assigned_by_id, Some(1));
    assert_eq!(read.other["opportunity"], json!(1000));
    items.delete(DEAL, created.id).await.unwrap();
    assert_api_error(
        items.get(DEAL, created.id).await,
        "NOT_FOUND",
        "Item not found",
        Some(400),
    );
}

#[tokio::test]
async fn activities_read_legacy_string_values_as_numbers_and_flags() {
    let server = spawn_server().await;
    let client = server.admin();
    let (deal, _contact, todo) = deal_with_todo(&client).await;

    let activity = client.crm().activity().get(todo).await.unwrap();

    assert_eq!(activity.id, todo);
    assert_eq!(
        (activity.owner_type_id, activity.owner_id),
        (Some(DEAL), Some(deal))
    );
    assert_eq!(activity.type_id, Some(6));
    assert_eq!(activity.subject.as_deref(), Some("Call"));
    assert_eq!(activity.completed, Some(false));
    assert_eq!(activity.responsible_id, Some(1));
    assert!(client.crm().activity().delete(todo).await.unwrap());
    assert_api_error(
        client.crm().activity().get(todo).await,
        "",
        "Activity is not found.",
        Some(400),
    );
}

#[tokio::test]
async fn server_time_and_profile_are_typed() {
    let server = spawn_server().await;
    let client = server.admin();
    let now = client.server_time().await.unwrap();
    assert_eq!(now.len(), "2024-08-05T09:02:13+00:00".len(), "{now}");
    let me = client.profile().await.unwrap();
    assert_eq!((me.id, me.admin), (1, true));
}

#[tokio::test]
async fn a_result_of_the_wrong_shape_is_a_decode_error_naming_the_method() {
    let server = spawn_server().await;
    let client = server.admin();
    // `crm.item.get` answers `{"item": …}`; read it as a binding list instead.
    let deal = client
        .crm()
        .item()
        .add(DEAL, json!({"title": "x"}))
        .await
        .unwrap();
    let error = client
        .execute(&WrongShape {
            entity_type_id: DEAL,
            id: deal.id,
        })
        .await
        .unwrap_err();
    match error.kind() {
        ErrorKind::Decode { method, .. } => assert_eq!(method, "crm.item.get"),
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct WrongShape {
    entity_type_id: i64,
    id: i64,
}

impl b24_client::Method for WrongShape {
    type Output = Vec<Binding>;
    const NAME: &'static str = "crm.item.get";
}

#[tokio::test]
async fn the_small_system_methods_are_typed() {
    use b24_client::methods::system::{
        AppInfo, MethodAvailability, MethodGet, Methods, Scope, UserCurrent,
    };
    let server = spawn_server().await;
    let user = server.create_user(&["deal.read=all"]);
    let client = client_for(&server.create_webhook(user, Some("crm,user")));

    assert_eq!(
        client.execute(&Scope { full: false }).await.unwrap(),
        ["crm", "user"]
    );
    assert!(client.execute(&Scope { full: true }).await.unwrap().len() > 2);
    let crm = client
        .execute(&Methods {
            scope: Some("crm".into()),
            full: false,
        })
        .await
        .unwrap();
    assert!(crm.iter().any(|m| m == "crm.activity.binding.delete"));
    assert!(!crm.iter().any(|m| m == "server.time"));
    assert_eq!(
        client
            .execute(&MethodGet {
                name: "crm.item.add".into()
            })
            .await
            .unwrap(),
        MethodAvailability {
            is_existing: true,
            is_available: true
        }
    );
    assert_eq!(
        client
            .execute(&MethodGet {
                name: "no.such".into()
            })
            .await
            .unwrap(),
        MethodAvailability {
            is_existing: false,
            is_available: false
        }
    );
    let me = client.execute(&UserCurrent).await.unwrap();
    assert_eq!((me.id, me.active), (user, Some(true)));
    let info = client.execute(&AppInfo).await.unwrap();
    assert_eq!(info["SCOPE"], json!(["crm", "user"]));
}
