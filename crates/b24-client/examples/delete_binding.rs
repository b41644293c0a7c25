//! Unlinks an activity from a CRM item.
//!
//! ```text
//! B24_WEBHOOK_URL=https://example.bitrix24.com/rest/1/secret/ \
//!     cargo run -p b24-client --example delete_binding -- <activityId> <entityTypeId> <entityId>
//! ```

use b24_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("B24_WEBHOOK_URL").map_err(|_| "set B24_WEBHOOK_URL")?;
    let args: Vec<i64> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let [activity_id, entity_type_id, entity_id] = args[..] else {
        return Err("usage: delete_binding <activityId> <entityTypeId> <entityId>".into());
    };

    let client = Client::from_webhook(&url)?;
    let bindings = client.crm().activity().binding();
    match bindings
        .delete(activity_id, entity_type_id, entity_id)
        .await
    {
        Ok(_) => println!("unbound; left: {:?}", bindings.list(activity_id).await?),
        // The server refuses to leave an activity without any binding.
        Err(e) if e.code() == Some("LAST_BINDING_CANNOT_BE_DELETED") => {
            println!("that is the activity's only binding: add another one first")
        }
        Err(e) if e.code() == Some("BINDING_NOT_FOUND") => println!("it was not bound there"),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}
