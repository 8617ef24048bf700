//! Builds the eBPF programs (nightly, bpf-linker) and leaves the objects in OUT_DIR,
//! where `include_bytes_aligned!` embeds them into the agent, without their DWARF.
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
        .map_err(|e| anyhow!("{e:#}"))?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // The tracer's object, and the twins only the benchmark loads.
    for object in ["procfs-trace", "procfs-trace-twins"] {
        let out = out_dir.join(object);
        strip_dwarf(&out).with_context(|| format!("stripping DWARF from {}", out.display()))?;
    }
    Ok(())
}

/// Removes the `.debug_*` sections and their relocations. The debug info is
/// needed to build BTF (`debug = 2`), but once linked only `.BTF` and
/// `.BTF.ext` are loaded; DWARF is most of the object's size.
fn strip_dwarf(path: &std::path::Path) -> anyhow::Result<()> {
    let data = std::fs::read(path)?;
    let mut elf = object::build::elf::Builder::read(&*data)?;
    let dwarf: Vec<_> = (elf.sections.iter())
        .filter(|s| s.name.starts_with(b".debug_"))
        .map(|s| s.id())
        .collect();
    for s in elf.sections.iter_mut() {
        let relocates_dwarf = s.sh_info_section.is_some_and(|t| dwarf.contains(&t));
        if dwarf.contains(&s.id()) || relocates_dwarf {
            s.delete = true;
        }
    }
    elf.delete_orphans();
    // The linker names sections from `.strtab`, the symbols' string table;
    // the writer wants section names in a table of their own.
    let shstrtab = elf.sections.add();
    shstrtab.name = b".shstrtab"[..].into();
    shstrtab.sh_type = object::elf::SHT_STRTAB;
    shstrtab.sh_addralign = 1;
    shstrtab.data = object::build::elf::SectionData::SectionString;
    let mut stripped = Vec::new();
    elf.write(&mut stripped)?;
    std::fs::write(path, stripped)?;
    Ok(())
}
