//! Builds the eBPF programs (nightly, bpf-linker) and leaves the object in OUT_DIR,
//! where `include_bytes_aligned!` embeds it into the agent.
use anyhow::{anyhow, Context as _};
use aya_build::{build_ebpf, Package, Toolchain};

const TOOLCHAIN_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../procfs-trace-ebpf/rust-toolchain.toml"
);

/// The pinned nightly's name, from the eBPF crate's rust-toolchain.toml.
fn ebpf_toolchain() -> anyhow::Result<&'static str> {
    include_str!("../procfs-trace-ebpf/rust-toolchain.toml")
        .lines()
        .find_map(|l| l.strip_prefix("channel = "))
        .map(|c| c.trim_matches('"'))
        .ok_or_else(|| anyhow!("no channel line in {TOOLCHAIN_FILE}"))
}

fn main() -> anyhow::Result<()> {
    let ebpf = Package {
        name: "procfs-trace-ebpf",
        root_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../procfs-trace-ebpf"),
        ..Default::default()
    };
    let toolchain = ebpf_toolchain()?;
    println!("cargo:rerun-if-changed={TOOLCHAIN_FILE}");
    build_ebpf([ebpf], Toolchain::Custom(toolchain))
        .with_context(|| format!("building the eBPF programs needs the {toolchain} toolchain with rust-src and bpf-linker 0.10.3; see README.md (or run `bash .ci/run`, which installs them)"))
        .map_err(|e| anyhow!("{e:#}"))
}
