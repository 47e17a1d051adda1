//! The tiny application of the compile-time comparison: build a Graph client and list one
//! page of Intune audit events, with graph-rs-sdk.

use graph_rs_sdk::identity::ConfidentialClientApplication;
use graph_rs_sdk::{GraphClient, ODataQuery};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tenant = std::env::var("AZURE_TENANT_ID")?;
    let client_id = std::env::var("AZURE_CLIENT_ID")?;
    let secret = std::env::var("AZURE_CLIENT_SECRET")?;
    let credential = ConfidentialClientApplication::builder(client_id.as_str())
        .with_client_secret(secret)
        .with_tenant(tenant)
        .build();
    let client = GraphClient::from(&credential);
    let response = client
        .device_management()
        .list_audit_events()
        .top("50")
        .send()
        .await?;
    let page: serde_json::Value = response.json().await?;
    if let Some(events) = page["value"].as_array() {
        for event in events {
            println!("{} {}", event["activityDateTime"], event["activity"]);
        }
    }
    Ok(())
}
