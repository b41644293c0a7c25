//! Walks every deal with the fast `>ID` cursor (50 per request, no counting), printing id and
//! title; the client paces itself for the plan's rate limit.
//!
//! ```text
//! B24_WEBHOOK_URL=https://example.bitrix24.com/rest/1/secret/ cargo run -p b24-client --example walk_deals
//! ```

use b24_client::Client;
use b24_client::methods::{entity_type, item::Query};
use futures::TryStreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("B24_WEBHOOK_URL").map_err(|_| "set B24_WEBHOOK_URL")?;
    let client = Client::from_webhook(&url)?;

    let query = Query {
        select: vec!["id".into(), "title".into()],
        ..Query::default()
    };
    let mut deals = client.crm().item().list_fast(entity_type::DEAL, query);
    let mut count = 0;
    while let Some(deal) = deals.try_next().await? {
        println!("{}\t{}", deal.id, deal.title.unwrap_or_default());
        count += 1;
    }
    eprintln!("{count} deals");
    Ok(())
}
