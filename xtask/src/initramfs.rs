//! Assembles the guest's initramfs: busybox, `/init`, the guest files and their libraries.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::guest::Guest;
use crate::{cpio, host_tools, init_script, ldd, run};

enum Node {
    Dir,
    File { host: PathBuf, perm: u32 },
    Data(Vec<u8>),
    Symlink(&'static str),
    CharDev(u32, u32),
}

/// Writes a gzip-compressed newc initramfs for `guest` to `out`, with `nonce` in its `/init`.
pub fn write(guest: &Guest, nonce: &str, out: &Path) -> Result<()> {
    let init = init_script::render(&guest.command, &guest.env, &guest.outputs, nonce)?;
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    for d in ["bin", "dev", "proc", "sys", "tmp", "root", "etc"] {
        nodes.insert(d.into(), Node::Dir);
    }
    // The kernel opens /dev/console for init before devtmpfs is mounted; the others are
    // fallbacks should devtmpfs fail.
    nodes.insert("dev/console".into(), Node::CharDev(5, 1));
    nodes.insert("dev/null".into(), Node::CharDev(1, 3));
    nodes.insert("dev/ttyS1".into(), Node::CharDev(4, 65));

    let busybox = Path::new(host_tools::BUSYBOX.program);
    for applet in applets(busybox)? {
        nodes.insert(format!("bin/{applet}"), Node::Symlink("busybox"));
    }
    let mut files = vec![(busybox.to_owned(), "/bin/busybox".to_owned())];
    files.extend(guest.files.iter().cloned());
    let mut libs = Vec::new();
    for (host, guest_path) in &files {
        let meta = fs::metadata(host)
            .with_context(|| format!("guest file {} is missing on the host", host.display()))?;
        if !meta.is_file() {
            bail!("guest file {} is not a regular file", host.display());
        }
        let perm = meta.permissions().mode() & 0o7777;
        nodes.insert(
            guest_rel(guest_path)?,
            Node::File {
                host: host.clone(),
                perm,
            },
        );
        libs.extend(ldd::libraries(host)?);
    }
    libs.sort();
    libs.dedup();
    for lib in libs {
        let rel = guest_rel(&lib.to_string_lossy())?;
        // An explicitly given guest file wins over a library of the same path.
        nodes.entry(rel).or_insert(Node::File {
            host: lib,
            perm: 0o755,
        });
    }
    nodes.insert("init".into(), Node::Data(init.into_bytes()));

    let parents: Vec<String> = nodes.keys().flat_map(|k| ancestors(k)).collect();
    for p in parents {
        nodes.entry(p).or_insert(Node::Dir);
    }
    write_archive(&nodes, out)
        .with_context(|| format!("could not write the initramfs {}", out.display()))
}

/// Applet names of busybox, each to become a symlink in /bin.
fn applets(busybox: &Path) -> Result<Vec<String>> {
    let out = run::capture(Command::new(busybox).arg("--list"))
        .context("could not list busybox applets (is /bin/busybox from busybox-static?)")?;
    Ok(out
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
        .map(str::to_owned)
        .collect())
}

/// An absolute guest path as an archive name (no leading slash), refusing `..` and relatives.
fn guest_rel(path: &str) -> Result<String> {
    let p = Path::new(path);
    if !p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
        bail!("guest path {path:?} must be absolute and must not contain `..`");
    }
    let rel: Vec<String> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    if rel.is_empty() {
        bail!("guest path {path:?} names the root directory, not a file");
    }
    Ok(rel.join("/"))
}

/// Every proper ancestor directory of an archive name ("a/b/c" gives "a", "a/b").
fn ancestors(name: &str) -> Vec<String> {
    name.match_indices('/')
        .map(|(i, _)| name[..i].to_owned())
        .collect()
}

fn write_archive(nodes: &BTreeMap<String, Node>, out: &Path) -> Result<()> {
    let file = File::create(out)?;
    let gz = GzEncoder::new(BufWriter::new(file), Compression::default());
    let mut w = cpio::Writer::new(gz);
    // BTreeMap order puts every directory before its contents: a prefix sorts first.
    for (name, node) in nodes {
        match node {
            Node::Dir => w.dir(name, 0o755)?,
            Node::File { host, perm } => {
                let data =
                    fs::read(host).with_context(|| format!("could not read {}", host.display()))?;
                w.file(name, *perm, &data)?;
            }
            Node::Data(data) => w.file(name, 0o755, data)?,
            Node::Symlink(target) => w.symlink(name, target)?,
            Node::CharDev(major, minor) => w.char_dev(name, 0o600, *major, *minor)?,
        }
    }
    w.finish()?.finish()?.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_paths() {
        assert_eq!(guest_rel("/bin/vm-tests").unwrap(), "bin/vm-tests");
        assert_eq!(guest_rel("/lib64//ld.so").unwrap(), "lib64/ld.so");
        assert!(guest_rel("bin/x").is_err());
        assert!(guest_rel("/bin/../etc/x").is_err());
        assert!(guest_rel("/").is_err());
    }

    #[test]
    fn ancestors_of_names() {
        assert_eq!(ancestors("a/b/c"), ["a", "a/b"]);
        assert!(ancestors("init").is_empty());
    }
}
