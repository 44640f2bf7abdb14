//! The real Lumberjack clients (Elastic's go-lumber senders and pylogbeat), installed into the
//! cache by `tests/peers/install-beats-clients.sh` on first use.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub struct Clients {
    pub tst_send: PathBuf,
    pub lumber_send: PathBuf,
    pub python: PathBuf,
}

/// The real clients, installed on first use; `None` (with a loud message) only when the machine
/// has no Go toolchain or no Python venv support and neither can be installed.
pub fn clients() -> Option<&'static Clients> {
    static CLIENTS: OnceLock<Option<Clients>> = OnceLock::new();
    CLIENTS
        .get_or_init(|| {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/install-beats-clients.sh");
            let out = Command::new("bash").arg(&script).output().expect("run install-beats-clients.sh");
            if out.status.code() == Some(3) {
                eprintln!(
                    "\n\n!!!!!!!! SKIPPING the beats tests that need real Lumberjack clients !!!!!!!!\n{}\n",
                    String::from_utf8_lossy(&out.stderr)
                );
                return None;
            }
            assert!(
                out.status.success(),
                "installing the beats clients failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let cache = std::env::var_os("SLUICE_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/sluice"));
            Some(Clients {
                tst_send: cache.join("bin/tst-send"),
                lumber_send: cache.join("bin/lumber-send"),
                python: cache.join("pylogbeat/bin/python"),
            })
        })
        .as_ref()
}
