//! The spool file itself: who may read and write it, and how an older layout is brought up
//! to date.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A spool with one event in it, closed.
async fn spool_with_an_event(server: &MockServer, dir: &TempDir) {
    let shipper = Shipper::builder(graph(server), dir.spool())
        .start_paused(true)
        .open()
        .await
        .unwrap();
    shipper.send(event(1)).await.unwrap();
    shipper.shutdown(Instant::now()).await.unwrap();
}

fn assert_not_private(
    error: Result<GraphShipper, ShipError>,
    offending: &Path,
    expect: &str,
) -> String {
    let error = error.unwrap_err();
    let ShipError::NotPrivate { path, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(path, offending);
    let message = error.to_string();
    assert!(message.contains(expect), "{message}");
    assert!(message.contains("left untouched"), "{message}");
    message
}

#[tokio::test]
async fn a_spool_others_can_write_or_another_user_owns_is_refused_untouched() {
    let server = start().await;
    let dir = TempDir::new("shared");
    spool_with_an_event(&server, &dir).await;
    let spool = dir.spool();
    assert_eq!(mode(&spool), 0o600);

    chmod(&spool, 0o666);
    let before = std::fs::read(&spool).unwrap();
    let files = dir.files();
    let result = Shipper::builder(graph(&server), &spool).open().await;
    let message = assert_not_private(result, &spool, "its mode 0666 lets other users write it");
    assert!(message.contains("chmod 600"), "{message}");
    assert_eq!(std::fs::read(&spool).unwrap(), before, "contents unchanged");
    assert_eq!(mode(&spool), 0o666, "mode unchanged");
    assert_eq!(dir.files(), files, "no journal, WAL or shm file appeared");
    chmod(&spool, 0o620);
    let result = Shipper::builder(graph(&server), &spool).open().await;
    assert_not_private(result, &spool, "its mode 0620");

    // A log beside it that others could have written is as bad: SQLite would replay it.
    chmod(&spool, 0o600);
    let wal = with_suffix(&spool, "-wal");
    std::fs::write(&wal, b"").unwrap();
    chmod(&wal, 0o646);
    let result = Shipper::builder(graph(&server), &spool).open().await;
    assert_not_private(result, &wal, "its mode 0646");
    std::fs::remove_file(&wal).unwrap();

    // Only root can hand a file to another user.
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(&spool, Some(12_345), None).unwrap();
        let result = Shipper::builder(graph(&server), &spool).open().await;
        assert_not_private(
            result,
            &spool,
            "it belongs to user 12345, not to this process's user 0",
        );
        assert_eq!(std::fs::metadata(&spool).unwrap().uid(), 12_345);
        std::os::unix::fs::chown(&spool, Some(0), None).unwrap();
    } else {
        eprintln!("not root: the check of another user's spool is not exercised");
    }

    // Readable by others only (a spool of an older build): opened and made private.
    chmod(&spool, 0o644);
    let shipper = Shipper::builder(graph(&server), &spool)
        .start_paused(true)
        .open()
        .await
        .unwrap();
    assert_eq!(shipper.spooled(), 1);
    shipper.send(event(2)).await.unwrap();
    for file in dir.files() {
        assert_eq!(mode(&dir.0.join(&file)), 0o600, "{file}");
    }
    shipper.shutdown(Instant::now()).await.unwrap();
}

#[tokio::test]
async fn a_spool_of_format_1_is_brought_up_to_date_and_its_old_counts_cleared() {
    let server = start().await;
    let recorder = Recorder::default();
    mount_events(&server, &recorder).await;
    let dir = TempDir::new("format-1");
    spool_with_an_event(&server, &dir).await;
    {
        // What format 1 looked like, with an event that failed often under its rules.
        let conn = rusqlite::Connection::open(dir.spool()).unwrap();
        conn.execute_batch(
            "ALTER TABLE events DROP COLUMN first_failed_at; \
             UPDATE events SET attempts = 50; PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let upgraded = Shipper::builder(graph(&server), dir.spool())
        .start_paused(true)
        .open()
        .await
        .unwrap();
    assert_eq!(upgraded.spool_settings().await.unwrap().user_version, 2);
    upgraded.shutdown(Instant::now()).await.unwrap();
    {
        let conn = rusqlite::Connection::open(dir.spool()).unwrap();
        let (attempts, first_failed): (u32, Option<i64>) = conn
            .query_row("SELECT attempts, first_failed_at FROM events", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .unwrap();
        assert_eq!((attempts, first_failed), (0, None));
    }
    let delivering = shipper(&server, &dir.spool()).await;
    let stats = delivering.flush(deadline(10)).await.unwrap();
    assert_eq!((stats.spooled, stats.delivered), (0, 1), "{stats:?}");
    delivering.shutdown(deadline(5)).await.unwrap();
    assert_eq!(recorder.accepted().len(), 1);
}
