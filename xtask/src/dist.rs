//! `cargo xtask dist`: a release tarball and a Debian package, each holding
//! the one binary (its eBPF object embedded), its man pages, shell
//! completions, the deployment examples and the README.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use flate2::{write::GzEncoder, Compression};

use crate::{guest, host_tools, run, workspace};

/// The package's name, and the binary's.
const NAME: &str = "procfs-trace";
/// The version packaged: the agent crate's.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Options of `cargo xtask dist`.
#[derive(Args)]
pub struct DistArgs {
    /// Then install the .deb with dpkg, run `procfs-trace doctor` from it and
    /// remove it again (needs root; `cargo xtask test` does this when root).
    #[arg(long)]
    pub check_install: bool,
}

/// What `dist` built.
pub struct Dist {
    /// The Debian package.
    pub deb: PathBuf,
    /// The tarball.
    pub tarball: PathBuf,
}

/// Runs the subcommand.
pub fn run(args: DistArgs) -> Result<std::process::ExitCode> {
    let dist = build()?;
    println!("dist: {}", dist.deb.display());
    println!("dist: {}", dist.tarball.display());
    if args.check_install {
        check_install(&dist.deb)?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Builds the release binary, stages the file tree and packs both archives
/// into `target/dist/`.
pub fn build() -> Result<Dist> {
    host_tools::require(&[host_tools::DPKG_DEB, host_tools::STRIP])?;
    let binary = guest::procfs_trace_binary()?;
    let arch = debian_arch()?;
    let out = workspace::state_dir().join("dist");
    let stage = out.join("stage");
    if stage.exists() {
        fs::remove_dir_all(&stage).with_context(|| format!("clearing {}", stage.display()))?;
    }
    let usr = stage.join("usr");
    let installed = usr.join("bin").join(NAME);
    install(&binary, &installed, 0o755)?;
    // Symbols and debug info are three quarters of the binary.
    run::stream(
        Command::new(host_tools::STRIP.program)
            .arg("--strip-unneeded")
            .arg(&installed),
    )?;
    man_pages(&installed, &usr.join("share/man/man1"))?;
    completions(&installed, &usr.join("share"))?;
    let doc = usr.join("share/doc").join(NAME);
    let root = workspace::root();
    install(&root.join("README.md"), &doc.join("README.md"), 0o644)?;
    install(&root.join("docs/deploy.md"), &doc.join("deploy.md"), 0o644)?;
    install(
        &root.join("docs/deploy/daemonset.yaml"),
        &doc.join("examples/daemonset.yaml"),
        0o644,
    )?;
    write(&doc.join("copyright"), &copyright(), 0o644)?;
    // Installed, not enabled: `systemctl enable --now procfs-trace` starts it.
    install(
        &root.join("docs/deploy/procfs-trace.service"),
        &usr.join("lib/systemd/system/procfs-trace.service"),
        0o644,
    )?;

    let tarball = out.join(format!(
        "{NAME}-{VERSION}-{}-linux-gnu.tar.gz",
        std::env::consts::ARCH
    ));
    run::stream(
        Command::new("tar")
            .args(["--sort=name", "--owner=0", "--group=0", "--numeric-owner"])
            .arg("-czf")
            .arg(&tarball)
            .arg("-C")
            .arg(&stage)
            .arg("usr"),
    )?;

    let control = stage.join("DEBIAN/control");
    write(
        &control,
        control_file(&installed, &arch, &stage)?.as_bytes(),
        0o644,
    )?;
    let deb = out.join(format!("{NAME}_{VERSION}_{arch}.deb"));
    run::stream(
        Command::new(host_tools::DPKG_DEB.program)
            .args(["--root-owner-group", "--build"])
            .arg(&stage)
            .arg(&deb),
    )?;
    Ok(Dist { deb, tarball })
}

/// Installs `deb` with dpkg, checks that the installed binary runs (its
/// version, `doctor`) and that its man page and completions are in place,
/// then removes the package whatever the outcome.
pub fn check_install(deb: &Path) -> Result<()> {
    run::stream(Command::new("dpkg").arg("-i").arg(deb))
        .context("installing the .deb with dpkg -i")?;
    let checked = check_installed();
    run::stream(Command::new("dpkg").args(["-r", NAME])).context("removing the package again")?;
    checked
}

fn check_installed() -> Result<()> {
    let bin = format!("/usr/bin/{NAME}");
    let version = run::capture(Command::new(&bin).arg("--version"))?;
    if !version.contains(VERSION) {
        bail!("{bin} --version says {version:?}, not {VERSION}");
    }
    // doctor exits 1 where tracing is impossible (a host without kprobes):
    // what counts is that it ran and gave its verdict.
    let doctor = Command::new(&bin)
        .arg("doctor")
        .output()
        .with_context(|| format!("running {bin} doctor"))?;
    let report = String::from_utf8_lossy(&doctor.stdout);
    if !report.contains("verdict") || doctor.status.code().is_none_or(|c| c > 1) {
        bail!(
            "{bin} doctor failed ({}):\n{report}{}",
            doctor.status,
            String::from_utf8_lossy(&doctor.stderr)
        );
    }
    let listed = run::capture(Command::new("dpkg").args(["-L", NAME]))?;
    for file in [
        "/usr/share/man/man1/procfs-trace.1.gz",
        "/usr/share/man/man1/procfs-trace-serve.1.gz",
        "/usr/share/bash-completion/completions/procfs-trace",
        "/usr/share/zsh/vendor-completions/_procfs-trace",
        "/usr/share/fish/vendor_completions.d/procfs-trace.fish",
        "/usr/lib/systemd/system/procfs-trace.service",
    ] {
        if !listed.lines().any(|l| l == file) || !Path::new(file).is_file() {
            bail!("the installed package has no {file}; dpkg -L says:\n{listed}");
        }
    }
    println!("dist: the .deb installs, and {bin} --version and doctor run from it");
    Ok(())
}

/// Gzipped man pages from the binary's own description of its commands.
fn man_pages(binary: &Path, dir: &Path) -> Result<()> {
    let raw = workspace::state_dir().join("dist/man");
    if raw.exists() {
        fs::remove_dir_all(&raw)?;
    }
    run::stream(Command::new(binary).arg("man").arg(&raw))?;
    fs::create_dir_all(dir)?;
    for entry in fs::read_dir(&raw)? {
        let path = entry?.path();
        let page = fs::read(&path)?;
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(&page)?;
        let name = format!(
            "{}.gz",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        write(&dir.join(name), &gz.finish()?, 0o644)?;
    }
    Ok(())
}

/// Completion scripts where bash, zsh and fish look for packaged ones.
fn completions(binary: &Path, share: &Path) -> Result<()> {
    for (shell, path) in [
        ("bash", "bash-completion/completions/procfs-trace"),
        ("zsh", "zsh/vendor-completions/_procfs-trace"),
        ("fish", "fish/vendor_completions.d/procfs-trace.fish"),
    ] {
        let script = run::capture(Command::new(binary).args(["completions", shell]))?;
        write(&share.join(path), script.as_bytes(), 0o644)?;
    }
    Ok(())
}

/// The control file: what the binary links against becomes Depends.
fn control_file(binary: &Path, arch: &str, stage: &Path) -> Result<String> {
    let glibc = newest_glibc_symbol(&fs::read(binary)?)
        .context("the binary names no GLIBC_ symbol version, so its libc6 dependency is unknown")?;
    Ok(format!(
        "Package: {NAME}\n\
         Version: {VERSION}\n\
         Architecture: {arch}\n\
         Maintainer: procfs-trace developers <procfs-trace@invalid>\n\
         Installed-Size: {}\n\
         Depends: libc6 (>= {glibc}), libgcc-s1\n\
         Section: utils\n\
         Priority: optional\n\
         Description: eBPF tracer of the Linux kernel's procfs paths, checked against a model\n \
         procfs-trace puts kprobes (or fentry) on the kernel functions that serve\n \
         /proc, rebuilds the call flow of every lookup, readdir, read and readlink,\n \
         and checks each against its own model of procfs. It traces live (trace,\n \
         check, live, serve for Prometheus), records for replay without root, and\n \
         explains the kernel path of any /proc file. Tracing needs Linux 5.8+ with\n \
         BTF and kprobes, and root or CAP_BPF and CAP_PERFMON.\n",
        du_kib(stage)?
    ))
}

/// The newest `GLIBC_x.y` version the binary asks for (its version needs
/// are plain strings in .dynstr).
fn newest_glibc_symbol(bytes: &[u8]) -> Option<String> {
    const TAG: &[u8] = b"GLIBC_";
    let mut newest: Option<Vec<u32>> = None;
    for at in bytes
        .windows(TAG.len())
        .enumerate()
        .filter(|(_, w)| *w == TAG)
        .map(|(i, _)| i)
    {
        let rest = &bytes[at + TAG.len()..];
        let end = rest
            .iter()
            .position(|b| !(b.is_ascii_digit() || *b == b'.'))
            .unwrap_or(rest.len());
        let Ok(text) = std::str::from_utf8(&rest[..end]) else {
            continue;
        };
        let parts: Option<Vec<u32>> = text.split('.').map(|p| p.parse().ok()).collect();
        if let Some(v) = parts.filter(|v| v.len() >= 2) {
            if newest.as_ref().is_none_or(|n| v > *n) {
                newest = Some(v);
            }
        }
    }
    newest.map(|v| v.iter().map(u32::to_string).collect::<Vec<_>>().join("."))
}

/// Debian's name for this machine's architecture.
fn debian_arch() -> Result<String> {
    Ok(match std::env::consts::ARCH {
        "x86_64" => "amd64".to_owned(),
        "aarch64" => "arm64".to_owned(),
        other => bail!("no Debian architecture known for {other}"),
    })
}

/// The staged files' size in KiB, as Installed-Size wants it.
fn du_kib(dir: &Path) -> Result<u64> {
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                bytes += meta.len();
            }
        }
    }
    Ok(bytes.div_ceil(1024))
}

fn copyright() -> Vec<u8> {
    format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: {NAME}\n\n\
         Files: *\n\
         License: MIT or Apache-2.0\n \
         On Debian systems the Apache License 2.0 is in\n \
         /usr/share/common-licenses/Apache-2.0.\n"
    )
    .into_bytes()
}

fn install(from: &Path, to: &Path, mode: u32) -> Result<()> {
    let bytes = fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    write(to, &bytes, mode)
}

fn write(to: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    fs::write(to, bytes).with_context(|| format!("writing {}", to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", to.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_glibc_version_wins() {
        let dynstr = b"\0GLIBC_2.2.5\0GLIBC_2.34\0GLIBC_2.9\0GLIBC_PRIVATE\0GLIBC_2.3.4\0";
        assert_eq!(newest_glibc_symbol(dynstr).as_deref(), Some("2.34"));
        assert_eq!(newest_glibc_symbol(b"no versions"), None);
    }
}
