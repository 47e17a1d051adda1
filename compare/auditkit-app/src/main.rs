//! The tiny application of the compile-time comparison: build a Graph client and list one
//! page of Intune audit events.

use auditkit::{EntraCredential, GraphClient, ListQuery};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tenant = std::env::var("AZURE_TENANT_ID")?;
    let client_id = std::env::var("AZURE_CLIENT_ID")?;
    let secret = std::env::var("AZURE_CLIENT_SECRET")?;
    let client = GraphClient::builder()
        .credential(EntraCredential::client_secret(tenant, client_id, secret))
        .build()?;
    let page = client
        .audit_events()
        .list_page(&ListQuery::new().top(50))
        .await?;
    for event in &page.items {
        println!("{:?} {:?}", event.activity_date_time, event.activity);
    }
    Ok(())
}
