//! Checks, before loading anything, that this kernel and this process can trace,
//! so each missing piece gets its own message naming the cause and the fix.

use std::{fs, io::Read as _, path::PathBuf};

use thiserror::Error;

/// Capability bits (linux/capability.h).
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Where to hint users when this kernel cannot trace.
const VM_HINT: &str = "to trace a real kernel from this machine, run procfs-trace in a VM: \
    `cargo xtask vm --kernel 6.1 -- procfs-trace trace -- cat /proc/self/limits` (see README.md)";

/// A reason this machine cannot trace.
#[derive(Debug, Error)]
pub enum PreflightError {
    /// Missing privileges.
    #[error(
        "procfs-trace needs root, or the capabilities CAP_BPF and CAP_PERFMON, to load eBPF \
         programs and attach kprobes; this process has {have}. Run it with sudo: \
         `sudo procfs-trace ...`"
    )]
    NotPrivileged {
        /// What the process has, in words.
        have: String,
    },
    /// No kprobe support in the kernel.
    #[error(
        "this kernel ({release}) cannot run kprobes: {why}. procfs-trace attaches kprobes to \
         procfs functions, so it cannot trace here; boot a kernel built with CONFIG_KPROBES=y \
         (any Debian cloud kernel has it), or {VM_HINT}"
    )]
    NoKprobes {
        /// `uname -r`.
        release: String,
        /// What was looked at.
        why: String,
    },
    /// No kernel BTF, so no struct offsets.
    #[error(
        "this kernel ({release}) has no BTF at {path}: procfs-trace reads the layout of \
         kernel structs from it. Boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (any Debian \
         cloud kernel has it), or {VM_HINT}",
        path = .path.display()
    )]
    NoBtf {
        /// `uname -r`.
        release: String,
        /// The BTF file looked for.
        path: PathBuf,
    },
}

/// The filesystem views preflight reads; tests point `root` at a fixture tree.
#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
}

impl Host {
    /// The real machine.
    pub fn real() -> Host {
        Host {
            root: PathBuf::from("/"),
        }
    }

    #[cfg(test)]
    /// A fake machine rooted at `root` (contains `proc/`, `sys/`).
    pub fn at(root: impl Into<PathBuf>) -> Host {
        Host { root: root.into() }
    }

    /// A path on this host, e.g. `path("sys/kernel/btf/vmlinux")`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The kernel release (`/proc/sys/kernel/osrelease`), or "unknown".
    pub fn release(&self) -> String {
        fs::read_to_string(self.path("proc/sys/kernel/osrelease"))
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned())
    }

    /// The kernel's BTF file.
    pub fn btf_path(&self) -> PathBuf {
        self.path("sys/kernel/btf/vmlinux")
    }

    /// Runs every check in the order a user would fix them: privileges, kprobes, BTF.
    pub fn check(&self) -> Result<(), PreflightError> {
        self.check_privileges()?;
        self.check_kprobes()?;
        self.check_btf()
    }

    /// Root or CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN on kernels before 5.8).
    pub fn check_privileges(&self) -> Result<(), PreflightError> {
        let status = fs::read_to_string(self.path("proc/self/status")).unwrap_or_default();
        let caps = effective_caps(&status).unwrap_or(0);
        if can_trace(caps) {
            return Ok(());
        }
        Err(PreflightError::NotPrivileged {
            have: describe_caps(caps),
        })
    }

    /// A kprobe PMU or a tracefs `kprobe_events` file must exist.
    pub fn check_kprobes(&self) -> Result<(), PreflightError> {
        let pmu = self.path("sys/bus/event_source/devices/kprobe");
        let events = [
            self.path("sys/kernel/tracing/kprobe_events"),
            self.path("sys/kernel/debug/tracing/kprobe_events"),
        ];
        if pmu.exists() || events.iter().any(|p| p.exists()) {
            return Ok(());
        }
        let config = match self.config_option("CONFIG_KPROBES") {
            Some(Some(v)) => format!("/proc/config.gz has CONFIG_KPROBES={v} but"),
            Some(None) => "CONFIG_KPROBES is not set (/proc/config.gz), and".to_owned(),
            None => {
                "CONFIG_KPROBES is probably not set (no /proc/config.gz to confirm), and".to_owned()
            }
        };
        Err(PreflightError::NoKprobes {
            release: self.release(),
            why: format!(
                "{config} there is no kprobe PMU ({}) nor kprobe_events in tracefs",
                pmu.display()
            ),
        })
    }

    /// `/sys/kernel/btf/vmlinux` must exist.
    pub fn check_btf(&self) -> Result<(), PreflightError> {
        let path = self.btf_path();
        if path.exists() {
            return Ok(());
        }
        Err(PreflightError::NoBtf {
            release: self.release(),
            path,
        })
    }

    /// `Some(Some(value))` when `/proc/config.gz` sets the option, `Some(None)` when it
    /// does not, `None` when there is no readable config.
    fn config_option(&self, name: &str) -> Option<Option<String>> {
        let file = fs::File::open(self.path("proc/config.gz")).ok()?;
        let mut text = String::new();
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .ok()?;
        Some(config_value(&text, name))
    }
}

/// The `CapEff` mask from a `/proc/PID/status` text.
pub fn effective_caps(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

fn has(caps: u64, cap: u32) -> bool {
    caps & (1u64 << cap) != 0
}

/// Whether these effective capabilities allow loading kprobe programs.
pub fn can_trace(caps: u64) -> bool {
    has(caps, CAP_SYS_ADMIN) || (has(caps, CAP_BPF) && has(caps, CAP_PERFMON))
}

fn describe_caps(caps: u64) -> String {
    let named: Vec<&str> = [
        (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
        (CAP_BPF, "CAP_BPF"),
        (CAP_PERFMON, "CAP_PERFMON"),
    ]
    .iter()
    .filter(|(c, _)| has(caps, *c))
    .map(|(_, n)| *n)
    .collect();
    if named.is_empty() {
        "none of CAP_SYS_ADMIN, CAP_BPF or CAP_PERFMON".to_owned()
    } else {
        format!("only {}", named.join(" and "))
    }
}

/// The value of `name` in a kernel `.config` text, `None` when unset.
pub fn config_value(config: &str, name: &str) -> Option<String> {
    config.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix('=')?;
        Some(rest.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_host(files: &[(&str, &[u8])]) -> (tempdir::Dir, Host) {
        let dir = tempdir::Dir::new();
        for (rel, content) in files {
            let p = dir.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, content).unwrap();
        }
        let host = Host::at(dir.path());
        (dir, host)
    }

    /// A tiny self-cleaning temp dir, so tests need no extra crate.
    mod tempdir {
        use std::path::{Path, PathBuf};

        pub struct Dir(PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let p = std::env::temp_dir()
                    .join(format!("procfs-trace-test-{}-{n}", std::process::id()));
                let _ = std::fs::remove_dir_all(&p);
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
            pub fn path(&self) -> &Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn gz(text: &str) -> Vec<u8> {
        use std::io::Write as _;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap()
    }

    const ROOT_STATUS: &[u8] = b"Name:\tx\nCapEff:\t000001ffffffffff\n";
    const NOBODY_STATUS: &[u8] = b"Name:\tx\nCapEff:\t0000000000000000\n";

    #[test]
    fn caps_parse_and_decide() {
        assert_eq!(
            effective_caps("CapEff:\t000001ffffffffff"),
            Some(0x1ff_ffff_ffff)
        );
        assert_eq!(effective_caps("CapPrm:\t1\n"), None);
        assert!(can_trace(1 << CAP_SYS_ADMIN));
        assert!(can_trace((1 << CAP_BPF) | (1 << CAP_PERFMON)));
        assert!(!can_trace(1 << CAP_BPF));
        assert!(!can_trace(0));
    }

    #[test]
    fn unprivileged_process_is_refused_with_sudo_hint() {
        let (_d, host) = fake_host(&[("proc/self/status", NOBODY_STATUS)]);
        let err = host.check().unwrap_err();
        assert!(matches!(err, PreflightError::NotPrivileged { .. }));
        let msg = err.to_string();
        assert!(msg.contains("sudo"), "{msg}");
        assert!(msg.contains("none of CAP_SYS_ADMIN"), "{msg}");
    }

    #[test]
    fn partial_caps_are_named() {
        let status = format!("CapEff:\t{:016x}\n", 1u64 << CAP_BPF);
        let (_d, host) = fake_host(&[("proc/self/status", status.as_bytes())]);
        let msg = host.check_privileges().unwrap_err().to_string();
        assert!(msg.contains("only CAP_BPF"), "{msg}");
    }

    #[test]
    fn kernel_without_kprobes_names_config_and_vm() {
        let config = gz("CONFIG_BPF=y\n# CONFIG_KPROBES is not set\n");
        let (_d, host) = fake_host(&[
            ("proc/self/status", ROOT_STATUS),
            ("proc/sys/kernel/osrelease", b"6.18.0-test\n"),
            ("proc/config.gz", &config),
            ("sys/kernel/btf/vmlinux", b""),
        ]);
        let err = host.check().unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, PreflightError::NoKprobes { .. }));
        assert!(msg.contains("6.18.0-test"), "{msg}");
        assert!(msg.contains("CONFIG_KPROBES is not set"), "{msg}");
        assert!(msg.contains("cargo xtask vm"), "{msg}");
    }

    #[test]
    fn kprobe_pmu_is_enough() {
        let (_d, host) = fake_host(&[
            ("proc/self/status", ROOT_STATUS),
            ("sys/bus/event_source/devices/kprobe/type", b"6\n"),
            ("sys/kernel/btf/vmlinux", b""),
        ]);
        host.check().unwrap();
    }

    #[test]
    fn missing_btf_is_reported_after_kprobes() {
        let (_d, host) = fake_host(&[
            ("proc/self/status", ROOT_STATUS),
            ("sys/kernel/tracing/kprobe_events", b""),
        ]);
        let err = host.check().unwrap_err();
        assert!(matches!(err, PreflightError::NoBtf { .. }));
        assert!(err.to_string().contains("CONFIG_DEBUG_INFO_BTF"));
    }

    #[test]
    fn config_values() {
        let c = "CONFIG_A=y\nCONFIG_AB=m\n# CONFIG_C is not set\n";
        assert_eq!(config_value(c, "CONFIG_A").as_deref(), Some("y"));
        assert_eq!(config_value(c, "CONFIG_AB").as_deref(), Some("m"));
        assert_eq!(config_value(c, "CONFIG_C"), None);
    }
}
