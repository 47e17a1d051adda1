//! A spool holds audit data (user names, IP addresses, actors): its files are for their owner
//! alone. The database is created with mode 0600 whatever the umask, and SQLite gives the
//! files it keeps beside it (`-wal`, `-shm`, `-journal`) the database's mode. A file that
//! other users could write, or that belongs to another user, is refused before it is read:
//! its contents (or a planted log SQLite would replay) cannot be trusted.
//!
//! On other platforms than Unix, files get the platform's defaults and are not checked.

use std::path::{Path, PathBuf};

use super::ShipError;

/// The files SQLite keeps beside a database, by suffix.
const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The database and the companions that exist now.
fn existing(path: &Path) -> Result<Vec<(PathBuf, std::fs::Metadata)>, ShipError> {
    let mut found = Vec::new();
    let all = std::iter::once(path.to_owned())
        .chain(COMPANIONS.iter().map(|suffix| with_suffix(path, suffix)));
    for file in all {
        match std::fs::metadata(&file) {
            Ok(meta) => found.push((file, meta)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ShipError::Io { path: file, source }),
        }
    }
    Ok(found)
}

/// Refuses the spool when it, or a companion of it, is writable by group or others, or
/// belongs to another user than this process's. Changes nothing.
#[cfg(unix)]
pub(crate) fn refuse_shared(path: &Path) -> Result<(), ShipError> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    for (file, meta) in existing(path)? {
        let reason = if meta.uid() != me {
            format!(
                "it belongs to user {}, not to this process's user {me}",
                meta.uid()
            )
        } else if meta.mode() & 0o022 != 0 {
            format!(
                "its mode {:04o} lets other users write it (chmod 600 it if its contents can be trusted)",
                meta.mode() & 0o7777
            )
        } else {
            continue;
        };
        return Err(ShipError::NotPrivate { path: file, reason });
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn refuse_shared(path: &Path) -> Result<(), ShipError> {
    existing(path).map(drop)
}

/// Creates the database file, empty and owner-only, unless it exists.
pub(crate) fn create_private(path: &Path) -> Result<(), ShipError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        // The umask may have taken bits away from 0600 (never added any): set it exactly.
        Ok(file) => set_private(&file).map_err(|source| ShipError::Io {
            path: path.to_owned(),
            source,
        }),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(ShipError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Makes the database and its existing companions owner-only (they passed
/// [`refuse_shared`], so they are this user's).
pub(crate) fn restrict(path: &Path) -> Result<(), ShipError> {
    for (file, _) in existing(path)? {
        let result = std::fs::File::open(&file).and_then(|handle| set_private(&handle));
        match result {
            Ok(()) => {}
            // A companion SQLite removed meanwhile (a journal at the end of a transaction).
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ShipError::Io { path: file, source }),
        }
    }
    Ok(())
}

#[cfg(unix)]
fn set_private(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn set_private(_file: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}
