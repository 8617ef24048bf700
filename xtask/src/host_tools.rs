//! Makes sure the host programs we drive are installed, installing them with apt when root.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};

use crate::run;

/// A host program and the Debian package that ships it.
#[derive(Clone, Copy)]
pub struct Tool {
    /// Program name looked up in PATH, or an absolute path.
    pub program: &'static str,
    /// Debian package providing it.
    pub package: &'static str,
}

/// The emulator.
pub const QEMU: Tool = Tool {
    program: "qemu-system-x86_64",
    package: "qemu-system-x86",
};
/// The guest's shell and tools; the static build so it runs without libraries.
pub const BUSYBOX: Tool = Tool {
    program: "/bin/busybox",
    package: "busybox-static",
};
/// Unpacks kernel packages.
pub const DPKG_DEB: Tool = Tool {
    program: "dpkg-deb",
    package: "dpkg",
};
/// Fetches package lists and kernel packages.
pub const APT_GET: Tool = Tool {
    program: "apt-get",
    package: "apt",
};
/// Searches package lists.
pub const APT_CACHE: Tool = Tool {
    program: "apt-cache",
    package: "apt",
};
/// The metrics server `serve`'s test scrapes with.
pub const PROMETHEUS: Tool = Tool {
    program: "prometheus",
    package: "prometheus",
};
/// Strips the packaged binary, as Debian packages are.
pub const STRIP: Tool = Tool {
    program: "strip",
    package: "binutils",
};
/// Lists the shared libraries a guest binary needs.
pub const LDD: Tool = Tool {
    program: "ldd",
    package: "libc-bin",
};

/// Finds a program in PATH (or checks an absolute path).
pub fn find(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Path::new(program).is_file().then(|| program.into());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Whether we run as root (and so may install packages).
pub fn is_root() -> bool {
    // Effective uid without libc: /proc/self/status has "Uid: real effective ...".
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Ensures all `tools` exist; installs the missing ones when root, else says how to.
pub fn require(tools: &[Tool]) -> Result<()> {
    let missing: Vec<&Tool> = tools.iter().filter(|t| find(t.program).is_none()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<&str> = missing.iter().map(|t| t.package).collect();
    packages.sort_unstable();
    packages.dedup();
    let programs: Vec<&str> = missing.iter().map(|t| t.program).collect();
    eprintln!("xtask: missing {}", programs.join(", "));
    install(&packages)?;
    if let Some(t) = tools.iter().find(|t| find(t.program).is_none()) {
        bail!(
            "`apt-get install {}` ran but {} is still missing; install package {} by hand",
            packages.join(" "),
            t.program,
            t.package
        );
    }
    Ok(())
}

/// Installs Debian `packages` when root, else says how to.
pub fn install(packages: &[&str]) -> Result<()> {
    let install = format!("apt-get install -y {}", packages.join(" "));
    if !is_root() {
        bail!("not root, so not installing; install with: sudo apt-get update && sudo {install}");
    }
    eprintln!("xtask: running `{install}`");
    let apt_install = || {
        run::stream(
            Command::new("apt-get")
                .args(["install", "-y", "-q"])
                .args(packages)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    if apt_install().is_err() {
        // A fresh machine often has no package lists yet.
        run::stream(Command::new("apt-get").args(["update", "-q"]))?;
        apt_install()?;
    }
    Ok(())
}
