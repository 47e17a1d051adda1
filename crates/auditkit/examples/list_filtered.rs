//! A filtered listing, page by page: the events of one category from a date on, newest
//! first, with the filter built from typed fields (quotes and dates written for you).
//!
//! `cargo run -p auditkit --example list_filtered`

// An example shows its results on standard output.
#![allow(clippy::print_stdout)]

mod common;

use auditkit::{Field, Filter, ListQuery};
use futures::TryStreamExt;

#[tokio::main]
async fn main() -> Result<(), common::Failure> {
    let services = common::Services::start().await?;
    let since = chrono::Utc::now() - chrono::Duration::days(30);
    let filter = Filter::field(Field::ActivityDateTime)
        .ge(since)
        .and(Filter::field(Field::Category).ne("Application"));
    let query = ListQuery::new()
        .filter(filter.to_string())
        .order_by("activityDateTime desc")
        .top(50);
    println!("$filter={filter}");

    // One page in memory at a time; `next_link` is where to resume after a crash.
    let mut pages = services.graph.audit_events().pages(query);
    let (mut pages_read, mut events) = (0, 0);
    while let Some(page) = pages.try_next().await? {
        pages_read += 1;
        events += page.items.len();
        if let Some(newest) = page.items.first() {
            println!(
                "page {pages_read}: {} events, first {:?} {:?}",
                page.items.len(),
                newest.activity_date_time,
                newest.activity
            );
        }
    }
    println!("{events} events in {pages_read} pages");
    services.finish().await;
    Ok(())
}
