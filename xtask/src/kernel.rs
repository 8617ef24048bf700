//! Finds a kernel to boot: a Debian cloud kernel by name (downloaded and cached), or a local file.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};

use crate::apt::{self, Apt, Candidate};
use crate::{debver, host_tools, run, workspace};

/// A cached kernel is reused without asking apt for this long.
const FRESH_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// A kernel line that can be fetched from Debian by a short name.
pub struct Line {
    /// The name given to `--kernel`.
    pub name: &'static str,
    suite: &'static str,
    /// Extended regex for `apt-cache search --names-only`.
    regex: &'static str,
    /// The exact check, since the regex is only a prefilter.
    matches: fn(&str) -> bool,
}

/// The kernel lines `--kernel` knows by name.
pub const LINES: &[Line] = &[
    Line {
        name: "5.10",
        suite: "bullseye",
        regex: "^linux-image-5\\.10\\.0-[0-9]+-cloud-amd64-unsigned$",
        matches: |n| {
            middle(n, "linux-image-5.10.0-", "-cloud-amd64-unsigned").is_some_and(is_digits)
        },
    },
    Line {
        name: "6.1",
        suite: "bookworm",
        regex: "^linux-image-6\\.1\\.0-[0-9]+-cloud-amd64-unsigned$",
        matches: |n| {
            middle(n, "linux-image-6.1.0-", "-cloud-amd64-unsigned").is_some_and(is_digits)
        },
    },
    Line {
        name: "6.12",
        suite: "trixie",
        regex: "^linux-image-6\\.12\\..*\\+deb13-cloud-amd64-unsigned$",
        matches: |n| middle(n, "linux-image-6.12.", "+deb13-cloud-amd64-unsigned").is_some(),
    },
    Line {
        name: "latest",
        suite: "sid",
        regex: "^linux-binary-.*-cloud-amd64$",
        // linux-binary-unsigned-* holds only vmlinuz.unsigned; the version must follow directly.
        matches: |n| {
            middle(n, "linux-binary-", "-cloud-amd64")
                .is_some_and(|m| m.starts_with(|c: char| c.is_ascii_digit()))
        },
    },
];

fn middle<'a>(name: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    let m = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    (!m.is_empty()).then_some(m)
}

fn is_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// A kernel ready to boot.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// The bzImage to pass to `qemu -kernel`.
    pub vmlinuz: PathBuf,
    /// Debian package it came from (or the local path).
    pub package: String,
    /// Debian package version (or "local").
    pub version: String,
    /// Kernel release, as `uname -r` will say it.
    pub release: String,
}

/// Resolves a `--kernel` value (a line name, a vmlinuz or a .deb) to a bootable kernel.
pub fn resolve(spec: &str) -> Result<Kernel> {
    if let Some(line) = LINES.iter().find(|l| l.name == spec) {
        return resolve_line(line);
    }
    let path = Path::new(spec);
    if !path.exists() {
        let names: Vec<&str> = LINES.iter().map(|l| l.name).collect();
        bail!(
            "--kernel {spec}: not a known kernel line ({}) and no such file; \
             give one of those names, a vmlinuz path or a linux-image .deb",
            names.join(", ")
        );
    }
    if path.extension().is_some_and(|e| e == "deb") {
        return resolve_deb(path);
    }
    let bytes = fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    let release = bzimage_release(&bytes).with_context(|| {
        format!(
            "{} is not a bzImage kernel (no Linux boot header); give a vmlinuz or a .deb",
            path.display()
        )
    })?;
    let k = Kernel {
        vmlinuz: path.to_owned(),
        package: path.display().to_string(),
        version: "local".into(),
        release,
    };
    println!("vm: kernel {} (local file {})", k.release, path.display());
    Ok(k)
}

/// The kernel release string from a bzImage's boot header, if it is one.
pub fn bzimage_release(image: &[u8]) -> Option<String> {
    // x86 boot protocol: "HdrS" at 0x202; kernel_version (0x20E) points 0x200 before the string.
    if image.get(0x202..0x206)? != b"HdrS" {
        return None;
    }
    let ptr = u16::from_le_bytes([*image.get(0x20E)?, *image.get(0x20F)?]) as usize;
    let start = ptr + 0x200;
    let text = image.get(start..(start + 256).min(image.len()))?;
    let end = text.iter().position(|&b| b == 0 || b == b' ')?;
    let release = std::str::from_utf8(&text[..end]).ok()?;
    (!release.is_empty()).then(|| release.to_owned())
}

/// The candidates a line accepts, newest first in Debian version order.
pub fn rank(candidates: &[Candidate], matches: fn(&str) -> bool) -> Vec<Candidate> {
    let mut ranked: Vec<Candidate> = candidates
        .iter()
        .filter(|c| matches(&c.package))
        .cloned()
        .collect();
    ranked.sort_by(|a, b| {
        debver::compare(&b.version, &a.version)
            .then_with(|| debver::compare(&b.package, &a.package))
    });
    ranked
}

fn cache_root() -> PathBuf {
    workspace::state_dir().join("vm-kernels")
}

const INFO: &str = "kernel.info";

/// Reads a cache entry; an entry counts only once its info file exists (written last).
fn read_entry(dir: &Path) -> Option<(Kernel, SystemTime)> {
    let info = dir.join(INFO);
    let text = fs::read_to_string(&info).ok()?;
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .map(str::to_owned)
    };
    let vmlinuz = dir.join("vmlinuz");
    if !vmlinuz.is_file() {
        return None;
    }
    let mtime = fs::metadata(&info).and_then(|m| m.modified()).ok()?;
    let kernel = Kernel {
        vmlinuz,
        package: get("package")?,
        version: get("version")?,
        release: get("release")?,
    };
    Some((kernel, mtime))
}

fn write_info(dir: &Path, k: &Kernel) -> Result<()> {
    let text = format!(
        "package={}\nversion={}\nrelease={}\n",
        k.package, k.version, k.release
    );
    let info = dir.join(INFO);
    fs::write(&info, text).with_context(|| format!("could not write {}", info.display()))
}

/// The newest complete cache entry of a line.
fn newest_cached(line_dir: &Path) -> Option<(Kernel, SystemTime)> {
    fs::read_dir(line_dir)
        .ok()?
        .filter_map(|e| read_entry(&e.ok()?.path()))
        .max_by(|(a, _), (b, _)| debver::compare(&a.version, &b.version))
}

fn resolve_line(line: &Line) -> Result<Kernel> {
    let line_dir = cache_root().join(line.name);
    let cached = newest_cached(&line_dir);
    if let Some((k, mtime)) = &cached {
        let age = SystemTime::now().duration_since(*mtime).unwrap_or_default();
        if age < FRESH_FOR {
            announce(k, "cached");
            return Ok(k.clone());
        }
    }
    let fallback = |err: anyhow::Error| match &cached {
        // Offline or a mirror hiccup: an older kernel of the same line still does the job.
        Some((k, _)) => {
            eprintln!(
                "vm: warning: could not get the newest {} kernel ({err:#}); using the cached one",
                line.name
            );
            announce(k, "cached, not re-checked");
            Ok(k.clone())
        }
        None => Err(err),
    };
    let (apt, candidates) = match query_candidates(line) {
        Ok(found) => found,
        Err(err) => return fallback(err),
    };
    // A mirror may list a package its pool does not serve (seen with a security archive):
    // after one failed download from an archive, go on with older versions from the others.
    let mut failed_origins: Vec<&str> = Vec::new();
    let mut errors = Vec::new();
    for c in &candidates {
        if failed_origins.contains(&c.origin.as_str()) {
            continue;
        }
        let dir = line_dir.join(&c.version);
        if let Some((k, _)) = read_entry(&dir) {
            // Restart the freshness clock: apt offers nothing newer we can get.
            write_info(&dir, &k)?;
            announce(&k, "cached, newest available");
            return Ok(k);
        }
        match download(&apt, c, &dir) {
            Ok(k) => {
                announce(&k, "downloaded");
                return Ok(k);
            }
            Err(err) => {
                eprintln!(
                    "vm: warning: could not download {} {} from {}; trying older versions elsewhere",
                    c.package, c.version, c.origin
                );
                failed_origins.push(&c.origin);
                errors.push(format!("{err:#}"));
            }
        }
    }
    fallback(anyhow::anyhow!(
        "no {} kernel package could be downloaded:\n{}",
        line.name,
        errors.join("\n")
    ))
}

fn download(apt: &Apt, c: &Candidate, dir: &Path) -> Result<Kernel> {
    let scratch = dir.join("download");
    let _ = fs::remove_dir_all(&scratch);
    println!("vm: downloading {} {} ...", c.package, c.version);
    let deb = apt.download(&c.package, &c.version, &scratch)?;
    let k = unpack_into(&deb, dir, &c.package, &c.version);
    let _ = fs::remove_dir_all(&scratch);
    if k.is_err() {
        let _ = fs::remove_dir_all(dir);
    }
    k
}

fn line_apt(line: &Line) -> Result<Apt> {
    host_tools::require(&[host_tools::APT_GET, host_tools::APT_CACHE])?;
    let mirror = apt::host_mirror()?;
    Apt::new(
        &cache_root().join("apt").join(line.suite),
        &mirror,
        line.suite,
    )
}

/// Refreshes the suite's lists and returns the line's packages, newest first.
fn query_candidates(line: &Line) -> Result<(Apt, Vec<Candidate>)> {
    let apt = line_apt(line)?;
    apt.update()?;
    let names: Vec<String> = apt
        .search_names(line.regex)?
        .into_iter()
        .filter(|n| (line.matches)(n))
        .collect();
    let ranked = rank(&apt.candidates(&names)?, line.matches);
    if ranked.is_empty() {
        bail!(
            "Debian {} lists no package matching {}; pass --kernel PATH with a vmlinuz or .deb instead",
            line.suite,
            line.regex
        );
    }
    Ok((apt, ranked))
}

fn resolve_deb(deb: &Path) -> Result<Kernel> {
    host_tools::require(&[host_tools::DPKG_DEB])?;
    let field = |f: &str| -> Result<String> {
        Ok(
            run::capture(Command::new("dpkg-deb").arg("-f").arg(deb).arg(f))?
                .trim()
                .to_owned(),
        )
    };
    let package =
        field("Package").with_context(|| format!("{} is not a readable .deb", deb.display()))?;
    let version = field("Version")?;
    let dir = cache_root()
        .join("local")
        .join(format!("{package}_{version}"));
    let deb_mtime = fs::metadata(deb).and_then(|m| m.modified()).ok();
    if let Some((k, unpacked_at)) = read_entry(&dir) {
        // A .deb rebuilt under the same version must not be served from the old unpack.
        if deb_mtime.is_some_and(|t| t <= unpacked_at) {
            announce(&k, "local .deb, cached");
            return Ok(k);
        }
    }
    let k = unpack_into(deb, &dir, &package, &version)?;
    announce(&k, "local .deb");
    Ok(k)
}

/// Unpacks a kernel .deb and keeps vmlinuz, config and System.map in `dir`.
fn unpack_into(deb: &Path, dir: &Path, package: &str, version: &str) -> Result<Kernel> {
    host_tools::require(&[host_tools::DPKG_DEB])?;
    let tree = dir.join("unpacked");
    let _ = fs::remove_dir_all(&tree);
    fs::create_dir_all(&tree).with_context(|| format!("could not create {}", tree.display()))?;
    run::capture(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tree))?;
    let files = find_kernel_files(&tree).with_context(|| {
        format!(
            "{} holds no kernel (looked for boot/vmlinuz-* and usr/lib/modules/*/vmlinuz)",
            deb.display()
        )
    })?;
    for (src, name) in [
        (Some(&files.vmlinuz), "vmlinuz"),
        (files.config.as_ref(), "config"),
        (files.system_map.as_ref(), "System.map"),
    ] {
        if let Some(src) = src {
            fs::copy(src, dir.join(name)).with_context(|| {
                format!("could not copy {} into {}", src.display(), dir.display())
            })?;
        }
    }
    let _ = fs::remove_dir_all(&tree);
    let k = Kernel {
        vmlinuz: dir.join("vmlinuz"),
        package: package.to_owned(),
        version: version.to_owned(),
        release: files.release,
    };
    write_info(dir, &k)?;
    Ok(k)
}

struct KernelFiles {
    vmlinuz: PathBuf,
    config: Option<PathBuf>,
    system_map: Option<PathBuf>,
    release: String,
}

fn find_kernel_files(tree: &Path) -> Option<KernelFiles> {
    // Classic packages: boot/vmlinuz-REL; sid's linux-binary: usr/lib/modules/REL/vmlinuz.
    if let Ok(entries) = fs::read_dir(tree.join("boot")) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(release) = name.strip_prefix("vmlinuz-") {
                let boot = tree.join("boot");
                return Some(KernelFiles {
                    vmlinuz: e.path(),
                    config: existing(boot.join(format!("config-{release}"))),
                    system_map: existing(boot.join(format!("System.map-{release}"))),
                    release: release.to_owned(),
                });
            }
        }
    }
    for modules in ["usr/lib/modules", "lib/modules"] {
        let Ok(entries) = fs::read_dir(tree.join(modules)) else {
            continue;
        };
        for e in entries.flatten() {
            let d = e.path();
            if d.join("vmlinuz").is_file() {
                return Some(KernelFiles {
                    vmlinuz: d.join("vmlinuz"),
                    config: existing(d.join("config")),
                    system_map: existing(d.join("System.map")),
                    release: e.file_name().to_string_lossy().into_owned(),
                });
            }
        }
    }
    None
}

fn existing(p: PathBuf) -> Option<PathBuf> {
    p.is_file().then_some(p)
}

fn announce(k: &Kernel, how: &str) {
    println!(
        "vm: kernel {} (package {} {}, {how})",
        k.release, k.package, k.version
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str) -> &'static Line {
        LINES.iter().find(|l| l.name == name).unwrap()
    }

    fn cands(v: &[(&str, &str)]) -> Vec<Candidate> {
        v.iter()
            .map(|(p, ver)| Candidate {
                package: p.to_string(),
                version: ver.to_string(),
                origin: "m bookworm/main amd64".into(),
            })
            .collect()
    }

    fn newest(c: &[Candidate], line_name: &str) -> Option<(String, String)> {
        rank(c, line(line_name).matches)
            .first()
            .map(|c| (c.package.clone(), c.version.clone()))
    }

    #[test]
    fn picks_newest_abi_numerically() {
        let c = cands(&[
            ("linux-image-6.1.0-9-cloud-amd64-unsigned", "6.1.27-1"),
            ("linux-image-6.1.0-28-cloud-amd64-unsigned", "6.1.119-1"),
            ("linux-image-6.1.0-10-cloud-amd64-unsigned", "6.1.38-4"),
            ("linux-image-6.1.0-28-cloud-amd64-unsigned-dbg", "6.1.200-1"),
            ("linux-image-6.1.0-28-rt-amd64-unsigned", "6.1.200-1"),
        ]);
        let got = newest(&c, "6.1").unwrap();
        assert_eq!(got.0, "linux-image-6.1.0-28-cloud-amd64-unsigned");
        assert_eq!(got.1, "6.1.119-1");
        let order: Vec<String> = rank(&c, line("6.1").matches)
            .into_iter()
            .map(|c| c.version)
            .collect();
        assert_eq!(order, ["6.1.119-1", "6.1.38-4", "6.1.27-1"]);
    }

    #[test]
    fn same_package_in_two_suites_takes_newer_version() {
        let c = cands(&[
            ("linux-image-5.10.0-32-cloud-amd64-unsigned", "5.10.223-1"),
            (
                "linux-image-5.10.0-32-cloud-amd64-unsigned",
                "5.10.223-1~deb10u1",
            ),
            ("linux-image-5.10.0-33-cloud-amd64-unsigned", "5.10.226-1"),
        ]);
        assert_eq!(newest(&c, "5.10").unwrap().1, "5.10.226-1");
    }

    #[test]
    fn line_matchers() {
        assert!((line("6.12").matches)(
            "linux-image-6.12.38+deb13-cloud-amd64-unsigned"
        ));
        assert!(!(line("6.12").matches)(
            "linux-image-6.12.38+deb13-cloud-amd64"
        ));
        assert!((line("latest").matches)(
            "linux-binary-7.2.13+deb14-cloud-amd64"
        ));
        assert!(!(line("latest").matches)(
            "linux-binary-unsigned-7.2.13+deb14-cloud-amd64"
        ));
        assert!(!(line("latest").matches)(
            "linux-binary-7.2.13+deb14-cloud-amd64-dbg"
        ));
        assert!(!(line("5.10").matches)(
            "linux-image-5.10.0-x-cloud-amd64-unsigned"
        ));
        assert!(newest(&[], "6.1").is_none());
    }
    #[test]
    fn reads_bzimage_release() {
        let mut img = vec![0u8; 0x1000];
        img[0x202..0x206].copy_from_slice(b"HdrS");
        img[0x20E..0x210].copy_from_slice(&0x0300u16.to_le_bytes());
        let s = b"6.1.0-28-cloud-amd64 (debian-kernel@lists) #1 SMP\0";
        img[0x500..0x500 + s.len()].copy_from_slice(s);
        assert_eq!(
            bzimage_release(&img).as_deref(),
            Some("6.1.0-28-cloud-amd64")
        );
        assert_eq!(bzimage_release(b"not a kernel"), None);
        img[0x202] = b'X';
        assert_eq!(bzimage_release(&img), None);
    }
}
