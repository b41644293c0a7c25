//! Walks every deal with the fast `>ID` cursor (50 per request, no counting), printing id and
//! title; the client paces itself for the plan's rate limit (`B24_PLAN`: standard, the default,
//! enterprise, or unlimited for a local server started with `--plan unlimited`).
//!
//! ```text
//! B24_WEBHOOK_URL=https://example.bitrix24.com/rest/1/secret/ cargo run -p b24-client --example walk_deals
//! ```

use b24_client::methods::{entity_type, item::Query};
use b24_client::{Client, Plan};
use futures::TryStreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("B24_WEBHOOK_URL").map_err(|_| "set B24_WEBHOOK_URL")?;
    let plan = match std::env::var("B24_PLAN").as_deref() {
        Ok("enterprise") => Plan::Enterprise,
        Ok("unlimited") => Plan::Unlimited,
        Ok("standard") | Err(_) => Plan::Standard,
        Ok(other) => return Err(format!("unknown plan {other:?}").into()),
    };
    let client = Client::builder(&url).plan(plan).build()?;
    let started = std::time::Instant::now();

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
    eprintln!("{count} deals in {:.2?}", started.elapsed());
    Ok(())
}
