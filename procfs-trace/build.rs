//! Builds the eBPF programs (nightly, bpf-linker) and leaves the object in OUT_DIR,
//! where `include_bytes_aligned!` embeds it into the agent.
use anyhow::{anyhow, Context as _};
use aya_build::{build_ebpf, Package, Toolchain};

fn main() -> anyhow::Result<()> {
    let ebpf = Package {
        name: "procfs-trace-ebpf",
        root_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../procfs-trace-ebpf"),
        ..Default::default()
    };
    build_ebpf([ebpf], Toolchain::default())
        .context("building the eBPF programs needs the nightly toolchain with rust-src and bpf-linker 0.10.3; see README.md (or run `bash .ci/run`, which installs them)")
        .map_err(|e| anyhow!("{e:#}"))
}
