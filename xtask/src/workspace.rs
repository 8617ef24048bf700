//! Where the workspace lives and how to call cargo from inside `cargo xtask`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the parent of this crate's directory).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask's manifest dir always has a parent")
}

/// Directory for xtask's own state (kernel cache, VM scratch files).
///
/// It stays under `<root>/target` even when CARGO_TARGET_DIR points elsewhere, so the
/// downloaded kernels are shared by every target dir.
pub fn state_dir() -> PathBuf {
    root().join("target")
}

/// A `cargo` command run from the workspace root, using the same cargo that runs us.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root());
    cmd
}
