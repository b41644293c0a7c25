//! One batch: creates a deal, a to-do on it (through a `$result` reference to the new deal's id)
//! and binds the to-do to a contact as well; `halt` stops at the first failure.
//!
//! ```text
//! B24_WEBHOOK_URL=https://example.bitrix24.com/rest/1/secret/ \
//!     cargo run -p b24-client --example batch -- <contactId>
//! ```

use b24_client::Client;
use b24_client::methods::{entity_type, item};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("B24_WEBHOOK_URL").map_err(|_| "set B24_WEBHOOK_URL")?;
    let contact_id: i64 = std::env::args()
        .nth(1)
        .ok_or("usage: batch <contactId>")?
        .parse()?;
    let client = Client::from_webhook(&url)?;

    let mut batch = client.batch();
    let deal = batch.push(&item::Add {
        entity_type_id: entity_type::DEAL,
        fields: json!({"title": "Deal from a batch"}),
    });
    let todo = batch.push_raw::<Value>(
        "crm.activity.todo.add",
        json!({
            "ownerTypeId": entity_type::DEAL,
            "ownerId": deal.reference(&["item", "id"]),
            "deadline": "2030-01-01T10:00:00",
            "title": "Call the customer",
        }),
    );
    let bound = batch.push_raw::<bool>(
        "crm.activity.binding.add",
        json!({
            "activityId": todo.reference(&["id"]),
            "entityTypeId": entity_type::CONTACT,
            "entityId": contact_id,
        }),
    );
    let results = batch.halt(true).send().await?;

    println!("deal: {:?}", results.get(&deal).map(|d| d.id));
    println!("to-do: {:?}", results.get(&todo).map(|t| t["id"].clone()));
    match results.get(&bound) {
        Ok(_) => println!("bound to contact {contact_id}"),
        Err(e) => println!("binding failed: {e}"),
    }
    Ok(())
}
