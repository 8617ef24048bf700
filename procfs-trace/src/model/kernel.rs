//! What the model needs to know about a kernel: its version and config.

use std::collections::HashSet;

use super::version::KernelVersion;

/// Config options the model's tables depend on that the modelled Debian cloud
/// kernels set (=y or =m), from their `config-*` files; used when the running
/// kernel's own config cannot be read, and by `explain --kernel`.
const DEBIAN_OPTIONS: &[&str] = &[
    "CONFIG_AUDIT",
    "CONFIG_CGROUPS",
    "CONFIG_CHECKPOINT_RESTORE",
    "CONFIG_ELF_CORE",
    "CONFIG_HAVE_ARCH_TRACEHOOK",
    "CONFIG_IPC_NS",
    "CONFIG_KALLSYMS",
    "CONFIG_KSM",
    "CONFIG_LIVEPATCH",
    "CONFIG_NET",
    "CONFIG_NET_NS",
    "CONFIG_NUMA",
    "CONFIG_PID_NS",
    "CONFIG_POSIX_TIMERS",
    "CONFIG_PROC_CHILDREN",
    "CONFIG_PROC_CPU_RESCTRL",
    "CONFIG_PROC_PAGE_MONITOR",
    "CONFIG_PROC_PID_ARCH_STATUS",
    "CONFIG_PROC_PID_CPUSET",
    "CONFIG_SCHED_AUTOGROUP",
    "CONFIG_SCHED_DEBUG",
    "CONFIG_SCHED_INFO",
    "CONFIG_SECURITY",
    "CONFIG_STACKTRACE",
    "CONFIG_TASK_IO_ACCOUNTING",
    "CONFIG_TIME_NS",
    "CONFIG_USER_NS",
    "CONFIG_UTS_NS",
];

/// Each modelled Debian kernel, with the options of [`DEBIAN_OPTIONS`] it lacks:
/// 7.2 drops cpuset v1 (so PROC_PID_CPUSET) and SCHED_DEBUG.
const DEBIAN_CONFIGS: &[(KernelVersion, &[&str])] = &[
    (KernelVersion::new(5, 10), &[]),
    (KernelVersion::new(6, 1), &[]),
    (KernelVersion::new(6, 12), &[]),
    (
        KernelVersion::new(7, 2),
        &["CONFIG_PROC_PID_CPUSET", "CONFIG_SCHED_DEBUG"],
    ),
];

/// Where the config the model uses came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// The running kernel's own config text (/proc/config.gz or /boot/config-*).
    Running,
    /// The Debian cloud kernel of this version, assumed.
    Debian(KernelVersion),
}

/// A kernel as the model sees it.
#[derive(Debug, Clone)]
pub struct KernelFacts {
    /// `uname -r`, or the version asked for.
    pub release: String,
    /// Major.minor.
    pub version: KernelVersion,
    /// Options set (=y or =m).
    config: HashSet<String>,
    /// Where `config` came from.
    pub source: ConfigSource,
}

impl KernelFacts {
    /// The modelled Debian kernel nearest at or below `version` (the oldest for older ones).
    pub fn debian(version: KernelVersion) -> KernelFacts {
        let (v, lacks) = DEBIAN_CONFIGS
            .iter()
            .rev()
            .find(|(v, _)| *v <= version)
            .unwrap_or(&DEBIAN_CONFIGS[0]);
        KernelFacts {
            release: version.to_string(),
            version,
            config: DEBIAN_OPTIONS
                .iter()
                .filter(|o| !lacks.contains(o))
                .map(|s| s.to_string())
                .collect(),
            source: ConfigSource::Debian(*v),
        }
    }

    /// Facts for a running kernel: its release and, when available, its config text.
    pub fn running(release: &str, config: Option<&str>) -> Option<KernelFacts> {
        let version = KernelVersion::parse(release)?;
        let mut facts = match config {
            Some(text) => KernelFacts {
                release: release.to_owned(),
                version,
                config: parse_config(text),
                source: ConfigSource::Running,
            },
            None => KernelFacts::debian(version),
        };
        facts.release = release.to_owned();
        Some(facts)
    }

    /// A kernel as a recording describes it.
    pub fn recorded(release: &str, options: &[String]) -> Option<KernelFacts> {
        let version = KernelVersion::parse(release)?;
        Some(KernelFacts {
            release: release.to_owned(),
            version,
            config: options.iter().cloned().collect(),
            source: ConfigSource::Running,
        })
    }

    /// The options set, sorted (what a recording stores).
    pub fn options(&self) -> Vec<String> {
        let mut v: Vec<String> = self.config.iter().cloned().collect();
        v.sort();
        v
    }

    /// Whether CONFIG option `name` (in full, "CONFIG_NET") is =y or =m.
    pub fn has(&self, name: &str) -> bool {
        self.config.contains(name)
    }
}

/// The options a `.config` text sets to y or m.
pub fn parse_config(text: &str) -> HashSet<String> {
    text.lines()
        .filter_map(|l| {
            let (name, value) = l.split_once('=')?;
            (name.starts_with("CONFIG_") && (value == "y" || value == "m")).then(|| name.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_debian_snapshot_is_used() {
        let k = KernelFacts::debian(KernelVersion::new(6, 6));
        assert_eq!(k.source, ConfigSource::Debian(KernelVersion::new(6, 1)));
        assert!(k.has("CONFIG_PROC_PID_CPUSET"));
        let k = KernelFacts::debian(KernelVersion::new(7, 3));
        assert!(
            !k.has("CONFIG_PROC_PID_CPUSET"),
            "7.2's Debian config drops cpuset v1"
        );
        let k = KernelFacts::debian(KernelVersion::new(4, 19));
        assert_eq!(k.source, ConfigSource::Debian(KernelVersion::new(5, 10)));
    }

    #[test]
    fn running_config_wins_over_the_snapshot() {
        let k = KernelFacts::running(
            "6.1.0-56-cloud-amd64",
            Some("CONFIG_NET=y\n# CONFIG_KSM is not set\nCONFIG_X=m\nCONFIG_Y=n\n"),
        )
        .unwrap();
        assert_eq!(k.version, KernelVersion::new(6, 1));
        assert!(k.has("CONFIG_NET") && k.has("CONFIG_X"));
        assert!(!k.has("CONFIG_KSM") && !k.has("CONFIG_Y"));
        assert_eq!(k.release, "6.1.0-56-cloud-amd64");
        assert!(KernelFacts::running("garbage", None).is_none());
        let k = KernelFacts::running("6.12.117+deb13-cloud-amd64", None).unwrap();
        assert_eq!(k.source, ConfigSource::Debian(KernelVersion::new(6, 12)));
    }
}
