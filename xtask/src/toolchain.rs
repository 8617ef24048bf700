//! Installs what building the eBPF programs needs (the pinned nightly's rust-src and
//! bpf-linker), so the README's commands work on a fresh machine. Both install
//! per user, without root.

use std::process::Command;

use anyhow::{Context as _, Result};

use crate::{host_tools, run};

/// bpf-linker 0.11 and later need a system LLVM 21+ that Debian bookworm lacks;
/// 0.10.3 uses rustc's own LLVM.
const BPF_LINKER: &str = "bpf-linker@0.10.3";

/// The pinned nightly that builds the eBPF programs (procfs-trace's build
/// script reads the same file).
const TOOLCHAIN_FILE: &str = include_str!("../../procfs-trace-ebpf/rust-toolchain.toml");

/// The pinned nightly's name, e.g. `nightly-2026-05-20`.
fn pinned_nightly() -> Result<&'static str> {
    TOOLCHAIN_FILE
        .lines()
        .find_map(|l| l.strip_prefix("channel = "))
        .map(|c| c.trim_matches('"'))
        .context("procfs-trace-ebpf/rust-toolchain.toml has no channel line")
}

/// Ensures the pinned nightly with rust-src and bpf-linker are installed.
pub fn ensure_ebpf_toolchain() -> Result<()> {
    let nightly = pinned_nightly()?;
    let installed = run::capture(Command::new("rustup").args([
        "component",
        "list",
        "--toolchain",
        nightly,
        "--installed",
    ]))
    .unwrap_or_default();
    if !installed.lines().any(|l| l.starts_with("rust-src")) {
        eprintln!("xtask: installing {nightly} with rust-src (builds the eBPF programs)");
        run::stream(Command::new("rustup").args([
            "toolchain",
            "install",
            nightly,
            "--profile",
            "minimal",
            "--component",
            "rust-src",
        ]))
        .with_context(|| format!("installing {nightly} with rust-src; is rustup installed?"))?;
    }
    let linker_ok = host_tools::find("bpf-linker").is_some_and(|p| {
        run::capture(Command::new(p).arg("--version")).is_ok_and(|v| v.contains("0.10."))
    });
    if !linker_ok {
        eprintln!(
            "xtask: installing {BPF_LINKER} (links the eBPF programs; takes about 2 minutes)"
        );
        run::stream(Command::new("cargo").args(["install", BPF_LINKER, "--locked", "--force"]))
            .context("installing bpf-linker")?;
    }
    Ok(())
}
