//! The client secret, from where the user keeps it. A command line is readable by every local
//! user (`ps`, `/proc/PID/cmdline`), so `--client-secret-file PATH` (or `-` for standard
//! input) and the environment (AZURE_CLIENT_SECRET, ADOBE_CLIENT_SECRET, read by the library;
//! `/proc/PID/environ` is the owner's only) are the ways to pass one; `--client-secret` still
//! works, with a warning. No message here ever quotes the secret.

use std::io::{IsTerminal, Read};
use std::path::Path;

use secrecy::SecretString;
use secrecy::zeroize::Zeroizing;

use crate::exit::Failure;

/// Far above any client secret (Entra's are 40 characters), low enough that a mistaken path
/// (a log, `/dev/zero`) fails fast instead of filling memory.
const MAX_SECRET_BYTES: usize = 64 * 1024;

/// The `--client-secret` value parser: straight into a `SecretString`, so `Debug` of the
/// parsed arguments shows a placeholder.
pub(crate) fn parse_flag(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(text))
}

/// Whether `path` names this process's standard input.
pub(crate) fn is_stdin(path: &Path) -> bool {
    ["-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"]
        .iter()
        .any(|name| path == Path::new(name))
}

/// Refuses to read standard input for both the secret and the events: whichever read first
/// would take all of it.
pub(crate) fn stdin_read_once(
    secret_file: Option<&Path>,
    events_from_stdin: bool,
    events_option: &str,
) -> Result<(), Failure> {
    if let Some(file) = secret_file
        && events_from_stdin
        && is_stdin(file)
    {
        return Err(Failure::usage(format!(
            "--client-secret-file {} and {events_option} both read standard input: put the secret in a file or its environment variable",
            file.display()
        )));
    }
    Ok(())
}

/// The secret given on the command line, if one was: read from `file` (standard input for
/// `-`), or taken from `flag` with a warning that names `variable` as the better way.
pub(crate) fn from_command_line(
    flag: Option<&SecretString>,
    file: Option<&Path>,
    variable: &str,
) -> Result<Option<SecretString>, Failure> {
    match (flag, file) {
        (Some(_), Some(_)) => Err(Failure::usage(
            "--client-secret and --client-secret-file are two ways to give one secret: use one",
        )),
        (Some(secret), None) => {
            eprintln!(
                "warning: --client-secret shows the secret to every user of this machine in process listings (ps) and keeps it in shell history; use --client-secret-file PATH, --client-secret-file - (standard input) or {variable}"
            );
            if blank(secrecy::ExposeSecret::expose_secret(secret)) {
                return Err(Failure::usage("--client-secret is empty"));
            }
            Ok(Some(secret.clone()))
        }
        (None, Some(path)) => read(path).map(Some),
        (None, None) => Ok(None),
    }
}

fn blank(secret: &str) -> bool {
    secret.trim().is_empty()
}

fn read(path: &Path) -> Result<SecretString, Failure> {
    let (source, bytes) = if path == Path::new("-") {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            eprintln!("reading the client secret from standard input; end it with Ctrl-D");
        }
        ("standard input".to_owned(), bounded(stdin.lock()))
    } else {
        let source = path.display().to_string();
        let bytes = std::fs::File::open(path).and_then(bounded);
        (source, bytes)
    };
    let bytes = bytes.map_err(|err| {
        Failure::input(format!(
            "cannot read the client secret from {source}: {err}"
        ))
    })?;
    if bytes.len() > MAX_SECRET_BYTES {
        return Err(Failure::input(format!(
            "{source} holds more than {} KiB: that is not a client secret",
            MAX_SECRET_BYTES / 1024
        )));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Failure::input(format!("the client secret in {source} is not UTF-8 text")))?;
    let secret = without_one_newline(text);
    if blank(secret) {
        return Err(Failure::input(format!(
            "the client secret in {source} is empty"
        )));
    }
    Ok(SecretString::from(secret))
}

/// Up to one byte past the cap, so an oversized input is told apart from one at the cap.
/// The buffer is wiped when dropped.
fn bounded(reader: impl Read) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(Vec::new());
    reader
        .take(MAX_SECRET_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Editors and `echo` end a file with a newline that is not part of the secret; exactly one
/// (`\n` or `\r\n`) is dropped, so a secret that really ends in whitespace survives.
fn without_one_newline(text: &str) -> &str {
    match text.strip_suffix('\n') {
        Some(rest) => rest.strip_suffix('\r').unwrap_or(rest),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn exactly_one_trailing_newline_is_dropped() {
        for (text, secret) in [
            ("s3cret", "s3cret"),
            ("s3cret\n", "s3cret"),
            ("s3cret\r\n", "s3cret"),
            ("s3cret\n\n", "s3cret\n"),
            ("s3cret \n", "s3cret "),
            ("s3\ncret\n", "s3\ncret"),
        ] {
            assert_eq!(without_one_newline(text), secret, "{text:?}");
        }
    }

    fn file_with(scratch: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = scratch.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn a_secret_file_is_read_refused_when_empty_or_unreadable_and_never_quoted() {
        let scratch = std::env::temp_dir().join(format!(
            "auditkit-cli-secret-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&scratch).unwrap();

        let good = file_with(&scratch, "good", b"s3cret-value\n");
        let secret = from_command_line(None, Some(&good), "AZURE_CLIENT_SECRET")
            .unwrap()
            .unwrap();
        assert_eq!(secret.expose_secret(), "s3cret-value");

        for (name, bytes, says) in [
            ("empty", &b""[..], "is empty"),
            ("newline", b"\n", "is empty"),
            ("blank", b"  \t\r\n", "is empty"),
            ("binary", b"\xffs3cret-value\n", "is not UTF-8 text"),
        ] {
            let path = file_with(&scratch, name, bytes);
            let failure = from_command_line(None, Some(&path), "AZURE_CLIENT_SECRET").unwrap_err();
            assert_eq!(failure.code, crate::exit::BAD_INPUT, "{name}");
            assert!(
                failure.message.contains(says),
                "{name}: {}",
                failure.message
            );
            assert!(!failure.message.contains("s3cret"), "{}", failure.message);
        }

        let huge = file_with(&scratch, "huge", &vec![b'a'; MAX_SECRET_BYTES + 1]);
        let failure = from_command_line(None, Some(&huge), "AZURE_CLIENT_SECRET").unwrap_err();
        assert!(
            failure.message.contains("more than 64 KiB"),
            "{}",
            failure.message
        );
        let at_cap = file_with(&scratch, "at-cap", &vec![b'a'; MAX_SECRET_BYTES]);
        assert!(from_command_line(None, Some(&at_cap), "AZURE_CLIENT_SECRET").is_ok());

        let missing = scratch.join("missing");
        let failure = from_command_line(None, Some(&missing), "AZURE_CLIENT_SECRET").unwrap_err();
        assert!(
            failure
                .message
                .starts_with("cannot read the client secret from ")
                && failure.message.contains("missing"),
            "{}",
            failure.message
        );
        std::fs::remove_dir_all(&scratch).unwrap();
    }

    #[test]
    fn an_empty_flag_is_refused_and_debug_hides_the_secret() {
        let empty = parse_flag("  ").unwrap();
        let failure = from_command_line(Some(&empty), None, "AZURE_CLIENT_SECRET").unwrap_err();
        assert_eq!(failure.code, crate::exit::USAGE);
        let secret = parse_flag("s3cret-value").unwrap();
        assert!(!format!("{secret:?}").contains("s3cret"));
    }

    #[test]
    fn standard_input_is_named_by_dash_and_its_device_paths() {
        for path in ["-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"] {
            assert!(is_stdin(Path::new(path)), "{path}");
        }
        for path in ["./-", "secret.txt", "/dev/fd/3"] {
            assert!(!is_stdin(Path::new(path)), "{path}");
        }
        assert!(stdin_read_once(Some(Path::new("-")), true, "--stdin").is_err());
        assert!(stdin_read_once(Some(Path::new("-")), false, "--stdin").is_ok());
        assert!(stdin_read_once(Some(Path::new("s.txt")), true, "--stdin").is_ok());
    }
}
