//! Where a shipper delivers: the two facade clients.

use std::fmt;

use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use auditkit::adobe::AdobeAuditEvent;
use auditkit::graph::AuditEvent;
use auditkit::{AdobeClient, Error, GraphClient};

/// The `tags` key that carries the client-generated event id of an Adobe event, so that
/// duplicates of at-least-once delivery can be removed downstream.
pub const ADOBE_EVENT_ID_TAG: &str = "auditkit-event-id";

mod sealed {
    pub trait Sealed {}
    impl Sealed for auditkit::GraphClient {}
    impl Sealed for auditkit::AdobeClient {}
}

/// A facade client a [`Shipper`](super::Shipper) can deliver through: [`GraphClient`] (Intune
/// audit events) or [`AdobeClient`] (Adobe Audit Service). Sealed.
pub trait Destination: Clone + Send + Sync + fmt::Debug + 'static + sealed::Sealed {
    /// The event type this API takes.
    type Event: Serialize + DeserializeOwned + Clone + Send + Sync + fmt::Debug + 'static;

    /// Stored in the spool, so a spool of one API is never delivered to the other.
    #[doc(hidden)]
    const KIND: &'static str;

    /// The event's client-generated id, set to a new GUID first when it has none: Graph's
    /// `correlationId`, Adobe's [`ADOBE_EVENT_ID_TAG`] tag.
    fn event_id(event: &mut Self::Event) -> String;

    /// Sets `id` as the event's id unless it carries one already.
    #[doc(hidden)]
    fn set_event_id_if_absent(event: &mut Self::Event, id: &str);

    /// One delivery through the facade (which retries by its own policy).
    #[doc(hidden)]
    fn deliver<'a>(&'a self, event: &'a Self::Event) -> BoxFuture<'a, Result<(), Error>>;
}

impl Destination for GraphClient {
    type Event = AuditEvent;
    const KIND: &'static str = "graph";

    fn event_id(event: &mut AuditEvent) -> String {
        event
            .correlation_id
            .get_or_insert_with(Uuid::new_v4)
            .to_string()
    }

    fn set_event_id_if_absent(event: &mut AuditEvent, id: &str) {
        if event.correlation_id.is_none() {
            event.correlation_id = Some(Uuid::parse_str(id).unwrap_or_else(|_| Uuid::new_v4()));
        }
    }

    fn deliver<'a>(&'a self, event: &'a AuditEvent) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move { self.audit_events().create(event).await.map(drop) })
    }
}

impl Destination for AdobeClient {
    type Event = AdobeAuditEvent;
    const KIND: &'static str = "adobe";

    fn event_id(event: &mut AdobeAuditEvent) -> String {
        event
            .tags
            .entry(ADOBE_EVENT_ID_TAG.to_owned())
            .or_insert_with(|| Uuid::new_v4().to_string())
            .clone()
    }

    fn set_event_id_if_absent(event: &mut AdobeAuditEvent, id: &str) {
        event
            .tags
            .entry(ADOBE_EVENT_ID_TAG.to_owned())
            .or_insert_with(|| id.to_owned());
    }

    fn deliver<'a>(&'a self, event: &'a AdobeAuditEvent) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move { self.post_audit(event).await.map(drop) })
    }
}
