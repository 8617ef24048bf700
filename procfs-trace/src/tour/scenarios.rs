//! The scenarios the reference documents walk through, as real workloads.

use crate::paths::fold;

/// One scenario: a shell script run under the tracer, and the paths whose
/// operations it is judged by. In scripts `$$` is the shell's pid; in paths a
/// process's number is written `[pid]` (see [`fold`]).
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// What it shows, as a reader would type it.
    pub name: &'static str,
    /// The `sh -c` script. Scripts end with `exit 0` so the shell forks its
    /// commands instead of exec'ing the last one over itself.
    pub script: &'static str,
    /// Operations on paths matching this (folded) pattern decide the verdict;
    /// a trailing `*` matches any rest.
    pub path: &'static str,
}

/// Every scenario, in the documents' order.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "cat /proc/PID/limits",
        script: "cat /proc/$$/limits >/dev/null; exit 0",
        path: "/proc/[pid]/limits",
    },
    Scenario {
        name: "ls /proc/PID/fd",
        script: "ls /proc/$$/fd >/dev/null; exit 0",
        path: "/proc/[pid]/fd*",
    },
    Scenario {
        name: "ls /proc",
        script: "ls /proc >/dev/null; exit 0",
        path: "/proc",
    },
    Scenario {
        name: "readlink /proc/PID/cwd",
        script: "readlink /proc/$$/cwd >/dev/null; exit 0",
        path: "/proc/[pid]/cwd",
    },
    Scenario {
        name: "cat /proc/PID/status",
        script: "cat /proc/$$/status >/dev/null; exit 0",
        path: "/proc/[pid]/status",
    },
    Scenario {
        name: "cat /proc/PID/stat /proc/PID/statm",
        script: "cat /proc/$$/stat /proc/$$/statm; exit 0",
        path: "/proc/[pid]/stat*",
    },
    Scenario {
        name: "cat /proc/PID/cmdline",
        script: "cat /proc/$$/cmdline >/dev/null; exit 0",
        path: "/proc/[pid]/cmdline",
    },
    Scenario {
        name: "cat /proc/meminfo (non-numeric root name)",
        script: "cat /proc/meminfo >/dev/null; exit 0",
        path: "/proc/meminfo",
    },
    Scenario {
        name: "cat /proc/cmdline",
        script: "cat /proc/cmdline >/dev/null; exit 0",
        path: "/proc/cmdline",
    },
    Scenario {
        name: "cat /proc/consoles",
        script: "cat /proc/consoles >/dev/null; exit 0",
        path: "/proc/consoles",
    },
    Scenario {
        name: "cat /proc/devices",
        script: "cat /proc/devices >/dev/null; exit 0",
        path: "/proc/devices",
    },
    Scenario {
        name: "cat /proc/cpuinfo",
        script: "cat /proc/cpuinfo >/dev/null; exit 0",
        path: "/proc/cpuinfo",
    },
    Scenario {
        name: "ls -l /proc/PID",
        script: "ls -l /proc/$$ >/dev/null; exit 0",
        path: "/proc/[pid]*",
    },
    Scenario {
        name: "ls /proc/PID/task",
        script: "ls /proc/$$/task >/dev/null; exit 0",
        path: "/proc/[pid]/task*",
    },
];

/// Whether `path` matches a scenario pattern.
pub fn matches(pattern: &str, path: &str) -> bool {
    let path = fold(path);
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("/proc/[pid]/limits", "/proc/77/limits"));
        assert!(!matches("/proc/[pid]/limits", "/proc/77/limits2"));
        assert!(matches("/proc/[pid]/stat*", "/proc/77/statm"));
        assert!(matches("/proc/[pid]/fd*", "/proc/77/fd/3"));
        assert!(matches("/proc", "/proc"));
        assert!(!matches("/proc", "/proc/meminfo"));
        assert!(!matches("/proc/[pid]/limits", "/proc/self/limits"));
    }

    #[test]
    fn every_scenario_of_the_issue_is_there() {
        assert_eq!(SCENARIOS.len(), 14);
        for s in SCENARIOS {
            assert!(s.script.ends_with("exit 0"), "{}", s.name);
        }
    }
}
