//! Microsoft Graph: Intune audit events.

use std::fmt;
use std::sync::Arc;

use auditkit_graph::types::{AuditEventCollectionResponse, ODataError, StringCollectionResponse};
use auditkit_identity::{EntraCredential, GraphCloud};
use auditkit_runtime::security::redact;
use auditkit_runtime::{Call, Error, ListingStop, NextLink, Pipeline};
use reqwest::Url;
use reqwest::header::HeaderName;
use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;

use crate::options::{Common, common_setters};

pub use auditkit_graph::types::{
    AuditActor, AuditEvent, AuditProperty, AuditResource, RoleScopeTagInfo,
};

/// Which Graph endpoint: the stable one or the preview.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum GraphVersion {
    /// `v1.0`, the stable API; the default.
    #[default]
    V1,
    /// `beta`, the preview API: Microsoft says it is subject to change.
    Beta,
}

impl GraphVersion {
    fn path(self) -> &'static str {
        match self {
            GraphVersion::V1 => "v1.0",
            GraphVersion::Beta => "beta",
        }
    }
}

/// A Microsoft Graph client for Intune audit events. Cheap to clone; clones share the
/// connection pool and the token cache.
#[derive(Clone)]
pub struct GraphClient {
    base_url: Url,
    http: auditkit_runtime::HttpClient,
    pipeline: Pipeline,
    /// The generated client, built once: every call shares it (its record travels with the
    /// call, see `auditkit_runtime::Call`).
    api: auditkit_graph::Client,
    max_pages: u64,
}

/// The most pages one listing follows unless told otherwise: ten million events at Graph's
/// page sizes, far beyond a tenant's retention, yet a bound on a service that keeps handing
/// out fresh links.
pub const DEFAULT_MAX_PAGES: u64 = 100_000;

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("base_url", &redact(&self.base_url))
            .field("pipeline", &self.pipeline)
            .finish()
    }
}

/// Builds a [`GraphClient`]; only the credential is required.
#[derive(Default)]
#[must_use]
pub struct GraphClientBuilder {
    credential: Option<EntraCredential>,
    cloud: GraphCloud,
    version: GraphVersion,
    base_url: Option<Url>,
    max_pages: Option<u64>,
    common: Common,
}

impl fmt::Debug for GraphClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClientBuilder")
            .field("credential", &self.credential)
            .field("cloud", &self.cloud)
            .field("version", &self.version)
            .field("base_url", &self.base_url.as_ref().map(redact))
            .finish_non_exhaustive()
    }
}

impl GraphClientBuilder {
    /// The Entra ID credential the client's tokens come from; required.
    pub fn credential(mut self, credential: EntraCredential) -> Self {
        self.credential = Some(credential);
        self
    }

    /// The national cloud: its login host, Graph host and scope. Global by default.
    pub fn cloud(mut self, cloud: GraphCloud) -> Self {
        self.cloud = cloud;
        self
    }

    /// The Graph endpoint, [`GraphVersion::V1`] by default. Ignored when a
    /// [`base_url`](GraphClientBuilder::base_url) is set, which names its own.
    pub fn version(mut self, version: GraphVersion) -> Self {
        self.version = version;
        self
    }

    /// Sends API calls here instead of the cloud's Graph host, e.g. `http://127.0.0.1:8080/v1.0`
    /// for an emulator or a test server. Plain http only to loopback unless the HTTP client
    /// allows more ([`crate::HttpClient::allow_insecure_http`]).
    pub fn base_url(mut self, url: Url) -> Self {
        self.base_url = Some(url);
        self
    }

    /// The most pages one listing follows; past it the stream ends with
    /// [`Error::ListingStopped`] carrying the next link. [`DEFAULT_MAX_PAGES`] by default (a
    /// repeated `@odata.nextLink` always stops a listing).
    pub fn max_pages(mut self, pages: u64) -> Self {
        self.max_pages = Some(pages);
        self
    }

    common_setters!();

    /// The client; nothing is sent yet. Fails without a credential
    /// ([`Error::InvalidRequest`]), and when the base URL or the credential is refused (plain
    /// http to a remote host, an empty client id, a tenant that is not a name).
    pub fn build(self) -> Result<GraphClient, Error> {
        let credential = self.credential.ok_or_else(|| {
            Error::InvalidRequest("a graph client needs a credential (EntraCredential)".into())
        })?;
        let base_url = match self.base_url {
            Some(url) => url,
            None => Url::parse(&format!(
                "https://{}/{}",
                self.cloud.graph_host(),
                self.version.path()
            ))
            .map_err(|err| Error::InvalidRequest(format!("bad graph host: {err}")))?,
        };
        let http = self.common.http(&base_url)?;
        let bearer = credential.bearer(self.cloud, &http, self.common.token_cache())?;
        let pipeline = self
            .common
            .pipeline(&base_url, Arc::new(bearer))
            .client_request_id_header(HeaderName::from_static("client-request-id"))
            .request_id_headers([
                HeaderName::from_static("request-id"),
                HeaderName::from_static("x-ms-request-id"),
            ])
            .build()?;
        let max_pages = self.max_pages.unwrap_or(DEFAULT_MAX_PAGES);
        Ok(GraphClient::from_parts(base_url, http, pipeline, max_pages))
    }
}

impl GraphClient {
    pub(crate) fn from_parts(
        base_url: Url,
        http: auditkit_runtime::HttpClient,
        pipeline: Pipeline,
        max_pages: u64,
    ) -> Self {
        let api = generated_client(&base_url, &http, &pipeline);
        Self {
            base_url,
            http,
            pipeline,
            api,
            max_pages,
        }
    }

    /// This client with another pipeline (and a generated client of its own).
    fn with_pipeline(&self, pipeline: Pipeline) -> Self {
        Self::from_parts(
            self.base_url.clone(),
            self.http.clone(),
            pipeline,
            self.max_pages,
        )
    }

    async fn next_page_of<T: DeserializeOwned>(&self, link: &str) -> Result<Page<T>, Error> {
        let Ok(url) = Url::parse(link) else {
            // The service handed it out: its fault, not the caller's input.
            return Err(Error::ListingStopped {
                reason: ListingStop::InvalidLink,
                pages: 0,
                next_link: Some(NextLink::new(link)),
            });
        };
        let page: Collection<T> = self.follow(&url, "next_page").await?;
        Ok(Page {
            items: page.value,
            next_link: page.next_link.map(|next| absolute(next, || Some(url))),
            count: page.count,
        })
    }

    /// The collection's URL, which relative links of its first pages are relative to.
    fn collection_url(&self) -> Option<Url> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .ok()?
            .pop_if_empty()
            .extend(["deviceManagement", "auditEvents"]);
        Some(url)
    }

    /// This client with another retry policy, for the calls made through the copy (the retry
    /// budget stays shared).
    pub fn with_retry(&self, policy: auditkit_runtime::RetryPolicy) -> Self {
        self.with_pipeline(self.pipeline.with_retry(policy))
    }

    /// This client with other timeouts, for the calls made through the copy.
    pub fn with_timeouts(&self, timeouts: auditkit_runtime::Timeouts) -> Self {
        self.with_pipeline(self.pipeline.with_timeouts(timeouts))
    }

    /// This client with a page limit for the listings made through the copy (see
    /// [`GraphClientBuilder::max_pages`]).
    pub fn with_max_pages(&self, pages: u64) -> Self {
        Self {
            max_pages: pages,
            ..self.clone()
        }
    }

    /// Starts a [`GraphClientBuilder`]; the credential must be set.
    pub fn builder() -> GraphClientBuilder {
        GraphClientBuilder::default()
    }

    /// `/deviceManagement/auditEvents`.
    pub fn audit_events(&self) -> AuditEvents<'_> {
        AuditEvents { client: self }
    }

    /// Where API calls go: the cloud's Graph host and version (`https://graph.microsoft.com/v1.0`),
    /// or the builder's [`base_url`](GraphClientBuilder::base_url).
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// GETs an absolute link the service handed out (`@odata.nextLink`). The bearer token
    /// only goes to the configured API: a link to any other origin is refused.
    async fn follow<T: DeserializeOwned>(
        &self,
        url: &Url,
        operation: &'static str,
    ) -> Result<T, Error> {
        // A link to another origin is refused by the pipeline, before anything is sent.
        let request = self
            .http
            .reqwest()
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .build()
            .map_err(|err| Error::InvalidRequest(err.without_url().to_string()))?;
        let call = Call::new();
        let outcome = call
            .run(
                self.pipeline
                    .execute(self.http.reqwest(), request, operation),
            )
            .await;
        call.finish_json::<T, ODataError>(outcome).await
    }
}

fn generated_client(
    base_url: &Url,
    http: &auditkit_runtime::HttpClient,
    pipeline: &Pipeline,
) -> auditkit_graph::Client {
    let base = base_url.as_str().trim_end_matches('/');
    auditkit_graph::Client::new_with_client(base, http.reqwest().clone(), pipeline.clone())
}

/// A `@odata.nextLink` as an absolute URL, normalised: OData lets a service send it relative
/// to the request's URL (`against`, asked only for a relative link). Text that is no URL is
/// kept as sent; following it fails.
fn absolute(link: String, against: impl FnOnce() -> Option<Url>) -> String {
    match Url::parse(&link) {
        Ok(url) => url.into(),
        Err(url::ParseError::RelativeUrlWithoutBase) => against()
            .and_then(|base| base.join(&link).ok())
            .map_or(link, Into::into),
        Err(_) => link,
    }
}

/// One page of a listing and where the next one is.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Page<T> {
    /// The page's items, in the service's order.
    pub items: Vec<T>,
    /// `@odata.nextLink`: absent on the last page. Save it to resume a listing.
    pub next_link: Option<String>,
    /// `@odata.count` when `$count=true` was asked (reported wrong at times for this resource).
    pub count: Option<i64>,
}

impl<T: fmt::Debug> fmt::Debug for Page<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Page")
            .field("items", &self.items)
            // The link's query carries `$filter` values.
            .field(
                "next_link",
                &self
                    .next_link
                    .as_deref()
                    .map(auditkit_runtime::security::redact_text),
            )
            .field("count", &self.count)
            .finish()
    }
}

/// OData query options of a listing. `$orderby` and `$select` take several values and are
/// sent comma-joined, once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct ListQuery {
    filter: Option<String>,
    orderby: Vec<String>,
    select: Vec<String>,
    top: Option<u64>,
    skip: Option<u64>,
    count: bool,
}

impl ListQuery {
    /// No query options: every event, in the service's order and page size.
    pub fn new() -> Self {
        Self::default()
    }

    /// An OData `$filter` expression, e.g. `activityDateTime ge 2022-08-22 and category ne 'Application'`.
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// Adds an ordering key such as `activityDateTime desc`.
    pub fn order_by(mut self, key: impl Into<String>) -> Self {
        self.orderby.push(key.into());
        self
    }

    /// Adds a property to `$select`.
    pub fn select(mut self, property: impl Into<String>) -> Self {
        self.select.push(property.into());
        self
    }

    /// Page size asked of the service (`$top`).
    pub fn top(mut self, top: u64) -> Self {
        self.top = Some(top);
        self
    }

    /// Skips this many items of the listing (`$skip`).
    pub fn skip(mut self, skip: u64) -> Self {
        self.skip = Some(skip);
        self
    }

    /// Asks for `@odata.count`.
    pub fn count(mut self, count: bool) -> Self {
        self.count = count;
        self
    }
}

/// The operations on `/deviceManagement/auditEvents`.
#[derive(Clone, Copy, Debug)]
pub struct AuditEvents<'a> {
    client: &'a GraphClient,
}

/// An event id names exactly one event: it must be one path segment (not empty, not `.` or
/// `..`, without `/` or `\`), or `GET ../x` would read another resource with the bearer token.
fn event_id(id: &str) -> Result<&str, Error> {
    auditkit_runtime::security::check_path_segment("audit event id", id).map(|()| id)
}

impl AuditEvents<'_> {
    fn api(&self) -> &auditkit_graph::Client {
        &self.client.api
    }

    /// The event with this id. Refused before sending when the id is not one path segment.
    pub async fn get(&self, id: &str) -> Result<AuditEvent, Error> {
        let id = event_id(id)?;
        let call = Call::new();
        let request = self.api().device_management_get_audit_events();
        call.finish(call.run(request.audit_event_id(id).send()).await)
            .await
    }

    /// Creates an event; returns it as the service stored it (with its `id`).
    pub async fn create(&self, event: &AuditEvent) -> Result<AuditEvent, Error> {
        let call = Call::new();
        let request = self.api().device_management_create_audit_events();
        call.finish(call.run(request.body(event.clone()).send()).await)
            .await
    }

    /// Updates the properties set in `patch`. Returns the updated event, or `None` when the
    /// service answered 204 No Content (it may, although Microsoft documents 200).
    pub async fn update(&self, id: &str, patch: &AuditEvent) -> Result<Option<AuditEvent>, Error> {
        let id = event_id(id)?;
        let call = Call::new();
        let request = self
            .api()
            .device_management_update_audit_events()
            .audit_event_id(id)
            .body(patch.clone());
        call.finish_or_no_content(call.run(request.send()).await)
            .await
    }

    /// Deletes the event with this id. Refused before sending when the id is not one path
    /// segment.
    pub async fn delete(&self, id: &str) -> Result<(), Error> {
        let id = event_id(id)?;
        let call = Call::new();
        let request = self.api().device_management_delete_audit_events();
        call.finish(call.run(request.audit_event_id(id).send()).await)
            .await
            .map(drop)
    }

    /// The first page of a listing; follow [`Page::next_link`] with [`AuditEvents::next_page`].
    pub async fn list_page(&self, query: &ListQuery) -> Result<Page<AuditEvent>, Error> {
        let mut request = self.api().device_management_list_audit_events();
        if let Some(filter) = &query.filter {
            request = request.filter(filter.clone());
        }
        if !query.orderby.is_empty() {
            request = request.orderby(query.orderby.join(","));
        }
        if !query.select.is_empty() {
            request = request.select(query.select.join(","));
        }
        if let Some(top) = query.top {
            request = request.top(top);
        }
        if let Some(skip) = query.skip {
            request = request.skip(skip);
        }
        if query.count {
            request = request.count(true);
        }
        let call = Call::new();
        let page = call.finish(call.run(request.send()).await).await?;
        Ok(event_page(page, || self.client.collection_url()))
    }

    /// The page at a saved `@odata.nextLink`.
    pub async fn next_page(&self, next_link: &str) -> Result<Page<AuditEvent>, Error> {
        self.client.next_page_of(next_link).await
    }

    /// `$count` with an optional `$filter`.
    pub async fn count(&self, filter: Option<&str>) -> Result<u64, Error> {
        let mut request = self.api().device_management_audit_events_get_count();
        if let Some(filter) = filter {
            request = request.filter(filter.to_owned());
        }
        let call = Call::new();
        let body = call.finish_bytes(call.run(request.send()).await).await?;
        let text = String::from_utf8_lossy(&body);
        text.trim().parse::<u64>().map_err(|err| Error::Decode {
            status: 200,
            body: body.clone(),
            source: Box::new(err),
            details: Box::new(call.details()),
        })
    }

    /// Every audit category, following `@odata.nextLink`.
    pub fn categories(&self) -> BoxStream<'static, Result<String, Error>> {
        let client = self.client.clone();
        let first = Box::pin(async move {
            let call = Call::new();
            let request = client
                .api
                .device_management_audit_events_get_audit_categories();
            let page = call.finish(call.run(request.send()).await).await?;
            Ok(string_page(page, || client.collection_url()))
        });
        items(walk(self.client.clone(), first)).boxed()
    }

    /// Every activity type of `category`, following `@odata.nextLink`. The category is plain
    /// text (`Bob's Apps`): its quotes are doubled into an OData literal here.
    ///
    /// The category travels inside the URL path, so one with a backslash (which URL parsing
    /// turns into a path separator) is refused before sending.
    pub fn activity_types(&self, category: &str) -> BoxStream<'static, Result<String, Error>> {
        let client = self.client.clone();
        let literal = category.replace('\'', "''");
        // Every other character is percent-encoded into the segment.
        let refusal = category.contains('\\').then(|| {
            Error::InvalidRequest(format!(
                "category {:?} cannot travel in a URL path: URL parsing reads a backslash as a path separator",
                category
            ))
        });
        let first = Box::pin(async move {
            if let Some(refusal) = refusal {
                return Err(refusal);
            }
            let call = Call::new();
            let request = client
                .api
                .device_management_audit_events_get_audit_activity_types()
                .category(literal);
            let page = call.finish(call.run(request.send()).await).await?;
            Ok(string_page(page, || client.collection_url()))
        });
        items(walk(self.client.clone(), first)).boxed()
    }

    /// The pages of a listing, one request each, following `@odata.nextLink`; save a page's
    /// `next_link` to resume with [`AuditEvents::pages_from`] after a crash. Only one page is
    /// held at a time. A page that fails (after the retry policy) ends the stream with its
    /// error.
    pub fn pages(&self, query: ListQuery) -> BoxStream<'static, Result<Page<AuditEvent>, Error>> {
        let client = self.client.clone();
        let first = Box::pin(async move { client.audit_events().list_page(&query).await });
        walk(self.client.clone(), first).boxed()
    }

    /// The pages from a saved `@odata.nextLink` on.
    pub fn pages_from(
        &self,
        next_link: impl Into<String>,
    ) -> BoxStream<'static, Result<Page<AuditEvent>, Error>> {
        let client = self.client.clone();
        let link = next_link.into();
        let first = Box::pin(async move { client.next_page_of::<AuditEvent>(&link).await });
        walk(self.client.clone(), first).boxed()
    }

    /// Every event of a listing, page after page.
    pub fn list(&self, query: ListQuery) -> BoxStream<'static, Result<AuditEvent, Error>> {
        items(self.pages(query)).boxed()
    }

    /// Every event from a saved `@odata.nextLink` on.
    pub fn list_from(
        &self,
        next_link: impl Into<String>,
    ) -> BoxStream<'static, Result<AuditEvent, Error>> {
        items(self.pages_from(next_link)).boxed()
    }
}

type PageFuture<T> = futures::future::BoxFuture<'static, Result<Page<T>, Error>>;

/// Walks `@odata.nextLink` from a first page; ends after the last page or the first error.
/// A link this walk already followed ends it with [`Error::ListingStopped`] instead of
/// looping, and so does the client's page limit. Only a hash of each link is kept (eight
/// bytes a page), keyed per process so a service cannot craft collisions.
fn walk<T>(
    client: GraphClient,
    first: PageFuture<T>,
) -> impl Stream<Item = Result<Page<T>, Error>> + Send + 'static
where
    T: DeserializeOwned + Send + 'static,
{
    enum Next<T> {
        First(PageFuture<T>),
        Link(String),
        Done,
    }
    struct Walk<T> {
        client: GraphClient,
        next: Next<T>,
        pages: u64,
        followed: HashSet<u64>,
        hasher: RandomState,
    }
    let start = Walk {
        client,
        next: Next::First(first),
        pages: 0,
        followed: HashSet::new(),
        hasher: RandomState::new(),
    };
    futures::stream::unfold(start, |mut walk| async move {
        let page = match std::mem::replace(&mut walk.next, Next::Done) {
            Next::First(first) => first.await,
            Next::Link(link) => {
                let stop = |reason| Error::ListingStopped {
                    reason,
                    pages: walk.pages,
                    next_link: Some(NextLink::new(link.clone())),
                };
                if walk.pages >= walk.client.max_pages {
                    let limit = walk.client.max_pages;
                    return Some((Err(stop(ListingStop::PageLimit(limit))), walk));
                }
                if !walk.followed.insert(walk.hasher.hash_one(&link)) {
                    return Some((Err(stop(ListingStop::RepeatedLink)), walk));
                }
                // A link that is no URL stops the listing where it stands: after the pages
                // this walk delivered.
                walk.client
                    .next_page_of::<T>(&link)
                    .await
                    .map_err(|error| match error {
                        Error::ListingStopped {
                            reason, next_link, ..
                        } => Error::ListingStopped {
                            reason,
                            pages: walk.pages,
                            next_link,
                        },
                        other => other,
                    })
            }
            Next::Done => return None,
        };
        if let Ok(page) = &page {
            walk.pages += 1;
            walk.next = page.next_link.clone().map_or(Next::Done, Next::Link);
        }
        Some((page, walk))
    })
}

fn items<T: Send + 'static>(
    pages: impl Stream<Item = Result<Page<T>, Error>> + Send + 'static,
) -> impl Stream<Item = Result<T, Error>> + Send + 'static {
    pages
        .map_ok(|page| futures::stream::iter(page.items.into_iter().map(Ok)))
        .try_flatten()
}

fn string_page(
    page: StringCollectionResponse,
    collection: impl FnOnce() -> Option<Url>,
) -> Page<String> {
    Page {
        items: page.value,
        next_link: page.odata_next_link.map(|link| absolute(link, collection)),
        count: page.odata_count,
    }
}

/// Any OData collection page, for pages reached through `@odata.nextLink`. A `null`
/// `value` is an empty page, by the same rule as the generated models.
#[derive(serde::Deserialize)]
#[serde(bound(deserialize = "T: serde::Deserialize<'de>"))]
struct Collection<T> {
    #[serde(default, deserialize_with = "auditkit_graph::lenient::vec")]
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.count")]
    count: Option<i64>,
}

fn event_page(
    page: AuditEventCollectionResponse,
    collection: impl FnOnce() -> Option<Url>,
) -> Page<AuditEvent> {
    Page {
        items: page.value,
        next_link: page.odata_next_link.map(|link| absolute(link, collection)),
        count: page.odata_count,
    }
}
