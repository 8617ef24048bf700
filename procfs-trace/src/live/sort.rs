//! Orders of the process, path and function tables, and the sorted views.

use super::state::{FuncAgg, PathAgg, PidShare, ProcAgg, State};

/// How the process table is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProcSort {
    /// Operations in the last second.
    #[default]
    Rate,
    /// Operations in all.
    Ops,
    /// Bytes read.
    Bytes,
    /// Kernel time.
    Kernel,
    /// Process id.
    Pid,
}

/// How the path table is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathSort {
    /// Operations in the last second.
    #[default]
    Rate,
    /// Operations in all.
    Ops,
    /// Kernel time.
    Kernel,
}

/// How the function table is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FuncSort {
    /// Total time.
    #[default]
    Total,
    /// Calls.
    Calls,
    /// 99th percentile latency.
    P99,
}

impl ProcSort {
    /// The next order.
    pub fn next(self) -> Self {
        match self {
            ProcSort::Rate => ProcSort::Ops,
            ProcSort::Ops => ProcSort::Bytes,
            ProcSort::Bytes => ProcSort::Kernel,
            ProcSort::Kernel => ProcSort::Pid,
            ProcSort::Pid => ProcSort::Rate,
        }
    }
    /// Its name in titles.
    pub fn name(self) -> &'static str {
        match self {
            ProcSort::Rate => "ops/s",
            ProcSort::Ops => "ops",
            ProcSort::Bytes => "bytes",
            ProcSort::Kernel => "kernel time",
            ProcSort::Pid => "pid",
        }
    }
}

impl PathSort {
    /// The next order.
    pub fn next(self) -> Self {
        match self {
            PathSort::Rate => PathSort::Ops,
            PathSort::Ops => PathSort::Kernel,
            PathSort::Kernel => PathSort::Rate,
        }
    }
    /// Its name in titles.
    pub fn name(self) -> &'static str {
        match self {
            PathSort::Rate => "ops/s",
            PathSort::Ops => "ops",
            PathSort::Kernel => "kernel time",
        }
    }
}

impl FuncSort {
    /// The next order.
    pub fn next(self) -> Self {
        match self {
            FuncSort::Total => FuncSort::Calls,
            FuncSort::Calls => FuncSort::P99,
            FuncSort::P99 => FuncSort::Total,
        }
    }
    /// Its name in titles.
    pub fn name(self) -> &'static str {
        match self {
            FuncSort::Total => "total time",
            FuncSort::Calls => "calls",
            FuncSort::P99 => "p99",
        }
    }
}

impl State {
    /// Processes in `sort` order (ties by pid, so the order is stable).
    pub fn procs_sorted(&self, sort: ProcSort, now_ns: u64) -> Vec<&ProcAgg> {
        let mut v: Vec<_> = self.procs.values().collect();
        v.sort_by_key(|p| {
            let key = match sort {
                ProcSort::Rate => p.rate.per_sec(now_ns),
                ProcSort::Ops => p.ops,
                ProcSort::Bytes => p.bytes,
                ProcSort::Kernel => p.kernel_ns,
                ProcSort::Pid => u64::MAX - u64::from(p.tgid),
            };
            (std::cmp::Reverse(key), std::cmp::Reverse(p.ops), p.tgid)
        });
        v
    }

    /// Paths in `sort` order.
    pub fn paths_sorted(&self, sort: PathSort, now_ns: u64) -> Vec<(&str, &PathAgg)> {
        let mut v: Vec<_> = self.paths.iter().map(|(k, a)| (k.as_str(), a)).collect();
        v.sort_by_key(|(k, a)| {
            let key = match sort {
                PathSort::Rate => a.rate.per_sec(now_ns),
                PathSort::Ops => a.ops,
                PathSort::Kernel => a.kernel_ns,
            };
            (std::cmp::Reverse(key), std::cmp::Reverse(a.ops), *k)
        });
        v
    }

    /// Functions in `sort` order.
    pub fn funcs_sorted(&self, sort: FuncSort) -> Vec<(&str, &FuncAgg)> {
        let mut v: Vec<_> = self.funcs().collect();
        v.sort_by_key(|(k, a)| {
            let key = match sort {
                FuncSort::Total => a.total_ns,
                FuncSort::Calls => a.calls,
                FuncSort::P99 => a.latency.quantile(0.99).unwrap_or(0),
            };
            (std::cmp::Reverse(key), *k)
        });
        v
    }

    /// One path's processes, busiest first.
    pub fn path_breakdown(&self, path: &str) -> Vec<(u32, &PidShare)> {
        let mut v: Vec<_> = self
            .paths
            .get(path)
            .map(|a| a.by_pid.iter().map(|(p, s)| (*p, s)).collect())
            .unwrap_or_default();
        v.sort_by_key(|(p, s)| (std::cmp::Reverse(s.ops), *p));
        v
    }
}
