//! Post one event to the Adobe Audit Service and print the id it answers.
//!
//! `cargo run -p auditkit --example adobe_post`

// An example shows its results on standard output.
#![allow(clippy::print_stdout)]

mod common;

use auditkit::adobe::{AdobeAuditEvent, Resource, Service, Timestamp};

#[tokio::main]
async fn main() -> Result<(), common::Failure> {
    let services = common::Services::start().await?;
    let event = AdobeAuditEvent {
        action: "create".into(),
        // Adobe's organisation: the emulator takes any; give yours for the real service.
        ims_org_id: std::env::var("ADOBE_IMS_ORG_ID").unwrap_or_else(|_| "example@AdobeOrg".into()),
        resource: Resource {
            resource_id: "document-42".into(),
        },
        service: Service {
            service_id: "auditkit-example".into(),
        },
        source: "auditkit-example".into(),
        tags: [("example".to_owned(), "adobe_post".to_owned())]
            .into_iter()
            .collect(),
        timestamp: Timestamp::now(),
        user_identifier: "example-user@example.com".into(),
    };
    let id = services.adobe.post_audit(&event).await?;
    println!("posted: {}", auditkit::printable(&id));
    services.finish().await;
    Ok(())
}
