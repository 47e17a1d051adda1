//! Create an event, update it, read it back, delete it.
//!
//! `cargo run -p auditkit --example create_update_delete` (against the real service it writes,
//! then removes, one event named "auditkit example")

// An example shows its results on standard output.
#![allow(clippy::print_stdout)]

mod common;

use auditkit::graph::{AuditActor, AuditEvent};

#[tokio::main]
async fn main() -> Result<(), common::Failure> {
    let services = common::Services::start().await?;
    let events = services.graph.audit_events();

    let created = events
        .create(&AuditEvent {
            display_name: Some("auditkit example".into()),
            category: Some("Example".into()),
            activity: Some("Run the create_update_delete example".into()),
            activity_type: Some("Create Example".into()),
            activity_operation_type: Some("Create".into()),
            activity_result: Some("Success".into()),
            actor: Some(AuditActor {
                user_principal_name: Some("example@contoso.com".into()),
                ..AuditActor::default()
            }),
            ..AuditEvent::default()
        })
        .await?;
    let id = created.id.clone().ok_or("the service assigned no id")?;
    println!("created {id} at {:?}", created.activity_date_time);

    // Only the properties set in the patch change.
    let patch = AuditEvent {
        activity_result: Some("Failure".into()),
        ..AuditEvent::default()
    };
    events.update(&id, &patch).await?;
    let read = events.get(&id).await?;
    assert_eq!(read.activity_result.as_deref(), Some("Failure"));
    assert_eq!(read.display_name.as_deref(), Some("auditkit example"));
    println!("updated: activityResult is now {:?}", read.activity_result);

    events.delete(&id).await?;
    match events.get(&id).await {
        Err(error) if error.status() == Some(404) => println!("deleted: a get is now a 404"),
        other => return Err(format!("expected a 404 after the delete, got {other:?}").into()),
    }
    services.finish().await;
    Ok(())
}
