//! What runs inside the VM: extra files, the command and its environment.

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::{artifact, workspace};

/// Overrides the procfs-trace binary put into the guest (skips building it).
pub const GUEST_BIN_ENV: &str = "XTASK_GUEST_BIN";

/// Where the procfs-trace binary lives inside the guest.
pub const PROCFS_TRACE_GUEST_PATH: &str = "/bin/procfs-trace";

/// A guest run: host files copied in (host path, guest path), argv, environment.
#[derive(Debug, Clone, Default)]
pub struct Guest {
    /// Files to copy into the initramfs; their shared libraries come along.
    pub files: Vec<(PathBuf, String)>,
    /// The command `/init` runs, as argv words.
    pub command: Vec<String>,
    /// Environment variables set for the command.
    pub env: Vec<(String, String)>,
    /// Guest files `/init` sends back over the result serial port after the command.
    pub outputs: Vec<String>,
}

/// The default guest command: the tour of the documents' scenarios.
pub fn default_command() -> Vec<String> {
    ["procfs-trace", "tour"].map(String::from).to_vec()
}

/// The host procfs-trace binary for the guest: $XTASK_GUEST_BIN, or a fresh release build.
pub fn procfs_trace_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(GUEST_BIN_ENV) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!(
                "{GUEST_BIN_ENV}={} is not a file; unset it to build procfs-trace",
                path.display()
            );
        }
        println!("vm: using {GUEST_BIN_ENV}={}", path.display());
        return Ok(path);
    }
    crate::toolchain::ensure_ebpf_toolchain()?;
    let mut cmd = workspace::cargo();
    cmd.args([
        "build",
        "--release",
        "-p",
        "procfs-trace",
        "--bin",
        "procfs-trace",
    ]);
    artifact::build_executable(&mut cmd, "procfs-trace").map_err(|e| {
        e.context(format!(
            "building the guest binary failed; to boot anyway, point {GUEST_BIN_ENV} at another binary"
        ))
    })
}
