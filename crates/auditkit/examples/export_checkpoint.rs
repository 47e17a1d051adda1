//! An incremental export with a checkpoint: every event not exported before, as JSON Lines,
//! the checkpoint saved after each page. Run twice, the second run writes only what is new.
//!
//! `cargo run -p auditkit --example export_checkpoint`

// An example shows its results on standard output.
#![allow(clippy::print_stdout)]

mod common;

use auditkit::export::ExportOutput;
use auditkit::{ExportOptions, FileExport};

#[tokio::main]
async fn main() -> Result<(), common::Failure> {
    let services = common::Services::start().await?;
    let dir = std::env::temp_dir().join(format!("auditkit-export-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (state, out) = (dir.join("export.state"), dir.join("events.jsonl"));
    let since = Some(chrono::Utc::now() - chrono::Duration::days(7));
    for run in 1..=2 {
        // The state file is locked while the export is open.
        let mut export = FileExport::open(
            &state,
            None,
            since,
            ExportOutput::File(out.clone()),
            ExportOptions::new().page_size(100),
        )?;
        let summary = export.run(&services.graph.audit_events()).await?;
        println!(
            "run {run}: {} events written from {} pages, {} read again and skipped; watermark {:?}",
            summary.written,
            summary.pages,
            summary.repeated,
            export.checkpoint().watermark
        );
        if run == 2 && services.emulated() {
            assert_eq!(summary.written, 0, "nothing new since the first run");
        }
    }
    let lines = std::fs::read_to_string(&out)?.lines().count();
    println!("{lines} lines in {}", out.display());
    std::fs::remove_dir_all(&dir)?;
    services.finish().await;
    Ok(())
}
