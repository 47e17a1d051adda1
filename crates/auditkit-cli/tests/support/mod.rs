//! What every CLI test needs: the built binary with a clean environment, a way to run it
//! while an in-process server keeps serving, and scratch directories.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use auditkit_emulator::Emulator;

/// The built `auditkit` with none of the variables that would point it at real credentials
/// or another server.
pub fn auditkit() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_auditkit"));
    for name in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_FEDERATED_TOKEN_FILE",
        "AZURE_AUTHORITY_HOST",
        "ADOBE_CLIENT_ID",
        "ADOBE_CLIENT_SECRET",
        "ADOBE_SCOPES",
        "ADOBE_IMS_ORG_ID",
        "ADOBE_IMS_ENV",
        "ADOBE_IMS_HOST",
        "AUDITKIT_GRAPH_URL",
        "AUDITKIT_ADOBE_URL",
    ] {
        command.env_remove(name);
    }
    command
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command on a blocking thread so a server in this process keeps serving.
pub async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// Runs a command with `input` on its standard input.
pub async fn run_with_stdin(mut command: Command, input: &[u8]) -> Output {
    use std::io::Write;
    let input = input.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // A command that refuses its arguments exits before it reads: its answer is the
        // result, not the pipe it closed.
        match stdin.write_all(&input) {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
            written => written.unwrap(),
        }
        drop(stdin);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

/// A Graph command against the emulator, authenticated through the environment.
pub fn against(emulator: &Emulator, args: &[&str]) -> Command {
    let credentials = emulator.credentials();
    let mut command = auditkit();
    command
        .args(args)
        .args([
            "--base-url",
            emulator.graph_url().as_str(),
            "--authority-host",
            emulator.url().as_str(),
        ])
        .env("AZURE_TENANT_ID", &credentials.tenant)
        .env("AZURE_CLIENT_ID", &credentials.graph_client_id)
        .env("AZURE_CLIENT_SECRET", &credentials.graph_client_secret);
    command
}

/// A temporary directory removed on drop.
pub struct Scratch(std::path::PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "auditkit-cli-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port nothing listens on: bound, then released.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Fails when `printed` holds a character a terminal acts on: a control (C0, DEL, C1) other
/// than the newlines that end lines, or a bidi control.
pub fn assert_terminal_safe(printed: &str) {
    for (n, line) in printed.lines().enumerate() {
        let bad: Vec<String> = line
            .chars()
            .filter(|&c| {
                c.is_control()
                    || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}')
                    || ('\u{202A}'..='\u{202E}').contains(&c)
                    || ('\u{2066}'..='\u{2069}').contains(&c)
            })
            .map(|c| format!("U+{:04X}", c as u32))
            .collect();
        assert!(
            bad.is_empty(),
            "line {} carries {bad:?} to the terminal: {line:?}",
            n + 1
        );
    }
}
