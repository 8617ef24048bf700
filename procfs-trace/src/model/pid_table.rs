//! The entries of `/proc/PID/` and `/proc/PID/task/TID/`: the kernel's
//! `tgid_base_stuff[]` and `tid_base_stuff[]` (fs/proc/base.c) as data.
//!
//! Transcribed from the Debian source packages that built the modelled cloud
//! kernels (linux-source-5.10 5.10.223-1, linux-source-6.1 6.1.192-2,
//! linux-source-6.12 6.12.117-1, linux-source-7.2 7.2.13-1), and checked
//! against `find /proc/1/ -maxdepth 1` (readdir order) and `stat` on each of
//! those kernels booted by `xtask vm`. A table is stored once, with each
//! difference between versions as a version range on the entries concerned,
//! so the kernels between the modelled ones are covered where the upstream
//! release of a change is known.

use super::version::KernelVersion;

const V5_10: KernelVersion = KernelVersion::new(5, 10);
const V5_11: KernelVersion = KernelVersion::new(5, 11);
const V5_14: KernelVersion = KernelVersion::new(5, 14);
const V6_1: KernelVersion = KernelVersion::new(6, 1);
const V6_15: KernelVersion = KernelVersion::new(6, 15);
const V7_2: KernelVersion = KernelVersion::new(7, 2);

/// What kind of pid_entry macro made the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// `DIR(NAME, MODE, iops, fops)`.
    Dir,
    /// `REG(NAME, MODE, fops)`, also `ATTR(...)` and the tid table's `NOD("comm", ...)`.
    Reg,
    /// `ONE(NAME, MODE, show)`: proc_single_file_operations around a show function.
    One,
    /// `LNK(NAME, get_link)`.
    Lnk,
}

/// When an entry exists, by the kernel's config; names are in full, "CONFIG_NET".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cond {
    /// Not guarded.
    Always,
    /// `#ifdef CONFIG_X`.
    Config(&'static str),
    /// `#if defined(CONFIG_X) && defined(CONFIG_Y) ...`.
    AllConfigs(&'static [&'static str]),
    /// `#if defined(CONFIG_X) || defined(CONFIG_Y) ...`.
    // No modelled table has an || guard yet; the variant keeps one expressible.
    #[allow(dead_code)]
    AnyConfig(&'static [&'static str]),
}

impl Cond {
    /// Whether the condition holds, given whether each CONFIG_ option is =y or =m.
    pub fn holds(&self, has_config: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Cond::Always => true,
            Cond::Config(name) => has_config(name),
            Cond::AllConfigs(names) => names.iter().all(|name| has_config(name)),
            Cond::AnyConfig(names) => names.iter().any(|name| has_config(name)),
        }
    }
}

/// One `struct pid_entry` of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PidEntry {
    /// The name under the pid directory.
    pub name: &'static str,
    /// The macro that made it.
    pub kind: EntryKind,
    /// The full mode the macro builds, file type included.
    pub mode: u32,
    /// ONE: show function; REG: file_operations; LNK: get_link; DIR: inode_operations.
    pub handler: &'static str,
    /// REG only: the function the fops' .read or .read_iter points at, when known.
    pub read: Option<&'static str>,
    /// The config the entry depends on.
    pub cond: Cond,
    /// The first version with the entry: the upstream release where known, 5.10 if 5.10 had it.
    pub since: KernelVersion,
    /// The first version without it, if any, by the same rule.
    pub until: Option<KernelVersion>,
}

impl PidEntry {
    /// Whether the table of kernel `version` has the entry, config aside.
    pub fn in_version(&self, version: KernelVersion) -> bool {
        self.since <= version && self.until.is_none_or(|until| version < until)
    }

    const fn when(self, cond: Cond) -> Self {
        Self { cond, ..self }
    }

    const fn added(self, since: KernelVersion) -> Self {
        Self { since, ..self }
    }

    const fn removed(self, until: KernelVersion) -> Self {
        Self {
            until: Some(until),
            ..self
        }
    }
}

// Mode bits as include/uapi/linux/stat.h and include/linux/stat.h spell them.
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IRUSR: u32 = 0o400;
const S_IWUSR: u32 = 0o200;
const S_IXUSR: u32 = 0o100;
const S_IRUGO: u32 = 0o444;
const S_IWUGO: u32 = 0o222;
const S_IXUGO: u32 = 0o111;
const S_IRWXUGO: u32 = 0o777;

const fn entry(name: &'static str, kind: EntryKind, mode: u32, handler: &'static str) -> PidEntry {
    PidEntry {
        name,
        kind,
        mode,
        handler,
        read: None,
        cond: Cond::Always,
        since: V5_10,
        until: None,
    }
}

/// `DIR`: S_IFDIR|MODE; the fops (readdir) are not modelled, the iops (lookup) are.
const fn dir(name: &'static str, mode: u32, iops: &'static str) -> PidEntry {
    entry(name, EntryKind::Dir, S_IFDIR | mode, iops)
}

const fn reg(name: &'static str, mode: u32, fops: &'static str, read: &'static str) -> PidEntry {
    PidEntry {
        read: Some(read),
        ..entry(name, EntryKind::Reg, S_IFREG | mode, fops)
    }
}

const fn one(name: &'static str, mode: u32, show: &'static str) -> PidEntry {
    entry(name, EntryKind::One, S_IFREG | mode, show)
}

/// `LNK`: always S_IFLNK|S_IRWXUGO, with proc_pid_link_inode_operations.
const fn lnk(name: &'static str, get_link: &'static str) -> PidEntry {
    entry(name, EntryKind::Lnk, S_IFLNK | S_IRWXUGO, get_link)
}

const NET: Cond = Cond::Config("CONFIG_NET");
const SCHED_DEBUG: Cond = Cond::Config("CONFIG_SCHED_DEBUG");
const TRACEHOOK: Cond = Cond::Config("CONFIG_HAVE_ARCH_TRACEHOOK");
const NUMA: Cond = Cond::Config("CONFIG_NUMA");
const PAGE_MONITOR: Cond = Cond::Config("CONFIG_PROC_PAGE_MONITOR");
const SECURITY: Cond = Cond::Config("CONFIG_SECURITY");
const KALLSYMS: Cond = Cond::Config("CONFIG_KALLSYMS");
const STACKTRACE: Cond = Cond::Config("CONFIG_STACKTRACE");
const SCHED_INFO: Cond = Cond::Config("CONFIG_SCHED_INFO");
const LATENCYTOP: Cond = Cond::Config("CONFIG_LATENCYTOP");
const PID_CPUSET: Cond = Cond::Config("CONFIG_PROC_PID_CPUSET");
const CGROUPS: Cond = Cond::Config("CONFIG_CGROUPS");
const CPU_RESCTRL: Cond = Cond::Config("CONFIG_PROC_CPU_RESCTRL");
const AUDIT: Cond = Cond::Config("CONFIG_AUDIT");
const FAULT_INJECTION: Cond = Cond::Config("CONFIG_FAULT_INJECTION");
const IO_ACCOUNTING: Cond = Cond::Config("CONFIG_TASK_IO_ACCOUNTING");
const USER_NS: Cond = Cond::Config("CONFIG_USER_NS");
const LIVEPATCH: Cond = Cond::Config("CONFIG_LIVEPATCH");
const ARCH_STATUS: Cond = Cond::Config("CONFIG_PROC_PID_ARCH_STATUS");
const SECCOMP_CACHE_DEBUG: Cond = Cond::Config("CONFIG_SECCOMP_CACHE_DEBUG");
const KSM: Cond = Cond::Config("CONFIG_KSM");

// Entries both tables share, in the same words, so a fix lands in both.
const FD: PidEntry = dir("fd", S_IRUSR | S_IXUSR, "proc_fd_inode_operations");
// fdinfo became readable by all: "procfs: allow reading fdinfo with
// PTRACE_MODE_READ" (7bc3fa0172a4, v5.14); access is checked on open instead.
const FDINFO_OLD: PidEntry =
    dir("fdinfo", S_IRUSR | S_IXUSR, "proc_fdinfo_inode_operations").removed(V5_14);
const FDINFO: PidEntry =
    dir("fdinfo", S_IRUGO | S_IXUGO, "proc_fdinfo_inode_operations").added(V5_14);
const NS: PidEntry = dir("ns", S_IRUSR | S_IXUGO, "proc_ns_dir_inode_operations");
const NET_DIR: PidEntry = dir("net", S_IRUGO | S_IXUGO, "proc_net_inode_operations").when(NET);
const ENVIRON: PidEntry = reg(
    "environ",
    S_IRUSR,
    "proc_environ_operations",
    "environ_read",
);
const AUXV: PidEntry = reg("auxv", S_IRUSR, "proc_auxv_operations", "auxv_read");
const STATUS: PidEntry = one("status", S_IRUGO, "proc_pid_status");
const PERSONALITY: PidEntry = one("personality", S_IRUSR, "proc_pid_personality");
const LIMITS: PidEntry = one("limits", S_IRUGO, "proc_pid_limits");
const SCHED: PidEntry = reg(
    "sched",
    S_IRUGO | S_IWUSR,
    "proc_pid_sched_operations",
    "seq_read",
);
// CONFIG_SCHED_DEBUG was dropped and its code made unconditional in v6.15
// ("sched/debug: Remove CONFIG_SCHED_DEBUG", b52173065e0a), so 7.2 lists
// sched without a guard.
const SCHED_OLD: PidEntry = SCHED.when(SCHED_DEBUG).removed(V6_15);
const SCHED_NEW: PidEntry = SCHED.added(V6_15);
const COMM: PidEntry = reg(
    "comm",
    S_IRUGO | S_IWUSR,
    "proc_pid_set_comm_operations",
    "seq_read",
);
const SYSCALL: PidEntry = one("syscall", S_IRUSR, "proc_pid_syscall").when(TRACEHOOK);
const CMDLINE: PidEntry = reg(
    "cmdline",
    S_IRUGO,
    "proc_pid_cmdline_ops",
    "proc_pid_cmdline_read",
);
const STATM: PidEntry = one("statm", S_IRUGO, "proc_pid_statm");
const MAPS: PidEntry = reg("maps", S_IRUGO, "proc_pid_maps_operations", "seq_read");
const NUMA_MAPS: PidEntry = reg(
    "numa_maps",
    S_IRUGO,
    "proc_pid_numa_maps_operations",
    "seq_read",
)
.when(NUMA);
const MEM: PidEntry = reg("mem", S_IRUSR | S_IWUSR, "proc_mem_operations", "mem_read");
const CWD: PidEntry = lnk("cwd", "proc_cwd_link");
const ROOT: PidEntry = lnk("root", "proc_root_link");
const EXE: PidEntry = lnk("exe", "proc_exe_link");
// The mount files sit in fs/proc_namespace.c and read through the iterator.
const MOUNTS: PidEntry = reg("mounts", S_IRUGO, "proc_mounts_operations", "seq_read_iter");
const MOUNTINFO: PidEntry = reg(
    "mountinfo",
    S_IRUGO,
    "proc_mountinfo_operations",
    "seq_read_iter",
);
// clear_refs is write-only: its fops have no read at all.
const CLEAR_REFS: PidEntry = entry(
    "clear_refs",
    EntryKind::Reg,
    S_IFREG | S_IWUSR,
    "proc_clear_refs_operations",
)
.when(PAGE_MONITOR);
const SMAPS: PidEntry =
    reg("smaps", S_IRUGO, "proc_pid_smaps_operations", "seq_read").when(PAGE_MONITOR);
const SMAPS_ROLLUP: PidEntry = reg(
    "smaps_rollup",
    S_IRUGO,
    "proc_pid_smaps_rollup_operations",
    "seq_read",
)
.when(PAGE_MONITOR);
const PAGEMAP: PidEntry = reg(
    "pagemap",
    S_IRUSR,
    "proc_pagemap_operations",
    "pagemap_read",
)
.when(PAGE_MONITOR);
const ATTR_DIR: PidEntry =
    dir("attr", S_IRUGO | S_IXUGO, "proc_attr_dir_inode_operations").when(SECURITY);
const WCHAN: PidEntry = one("wchan", S_IRUGO, "proc_pid_wchan").when(KALLSYMS);
const STACK: PidEntry = one("stack", S_IRUSR, "proc_pid_stack").when(STACKTRACE);
const SCHEDSTAT: PidEntry = one("schedstat", S_IRUGO, "proc_pid_schedstat").when(SCHED_INFO);
const LATENCY: PidEntry =
    reg("latency", S_IRUGO, "proc_lstats_operations", "seq_read").when(LATENCYTOP);
// On 7.2 CONFIG_PROC_PID_CPUSET depends on CONFIG_CPUSETS_V1, which Debian
// leaves unset, so the cpuset entry is gone there by config, not by table.
const CPUSET: PidEntry = one("cpuset", S_IRUGO, "proc_cpuset_show").when(PID_CPUSET);
const CGROUP: PidEntry = one("cgroup", S_IRUGO, "proc_cgroup_show").when(CGROUPS);
const CPU_RESCTRL_GROUPS: PidEntry =
    one("cpu_resctrl_groups", S_IRUGO, "proc_resctrl_show").when(CPU_RESCTRL);
const OOM_SCORE: PidEntry = one("oom_score", S_IRUGO, "proc_oom_score");
const OOM_ADJ: PidEntry = reg(
    "oom_adj",
    S_IRUGO | S_IWUSR,
    "proc_oom_adj_operations",
    "oom_adj_read",
);
const OOM_SCORE_ADJ: PidEntry = reg(
    "oom_score_adj",
    S_IRUGO | S_IWUSR,
    "proc_oom_score_adj_operations",
    "oom_score_adj_read",
);
const LOGINUID: PidEntry = reg(
    "loginuid",
    S_IWUSR | S_IRUGO,
    "proc_loginuid_operations",
    "proc_loginuid_read",
)
.when(AUDIT);
const SESSIONID: PidEntry = reg(
    "sessionid",
    S_IRUGO,
    "proc_sessionid_operations",
    "proc_sessionid_read",
)
.when(AUDIT);
const MAKE_IT_FAIL: PidEntry = reg(
    "make-it-fail",
    S_IRUGO | S_IWUSR,
    "proc_fault_inject_operations",
    "proc_fault_inject_read",
)
.when(FAULT_INJECTION);
const FAIL_NTH: PidEntry = reg(
    "fail-nth",
    0o644,
    "proc_fail_nth_operations",
    "proc_fail_nth_read",
)
.when(FAULT_INJECTION);
const UID_MAP: PidEntry = reg(
    "uid_map",
    S_IRUGO | S_IWUSR,
    "proc_uid_map_operations",
    "seq_read",
)
.when(USER_NS);
const GID_MAP: PidEntry = reg(
    "gid_map",
    S_IRUGO | S_IWUSR,
    "proc_gid_map_operations",
    "seq_read",
)
.when(USER_NS);
const PROJID_MAP: PidEntry = reg(
    "projid_map",
    S_IRUGO | S_IWUSR,
    "proc_projid_map_operations",
    "seq_read",
)
.when(USER_NS);
const SETGROUPS: PidEntry = reg(
    "setgroups",
    S_IRUGO | S_IWUSR,
    "proc_setgroups_operations",
    "seq_read",
)
.when(USER_NS);
const PATCH_STATE: PidEntry = one("patch_state", S_IRUSR, "proc_pid_patch_state").when(LIVEPATCH);
const ARCH_STATUS_FILE: PidEntry =
    one("arch_status", S_IRUGO, "proc_pid_arch_status").when(ARCH_STATUS);
// "seccomp/cache: Report cache data through /proc/pid/seccomp_cache"
// (0d8315dddd28, v5.11).
const SECCOMP_CACHE: PidEntry = one("seccomp_cache", S_IRUSR, "proc_pid_seccomp_cache")
    .when(SECCOMP_CACHE_DEBUG)
    .added(V5_11);
// "ksm: count ksm merging pages for each process" (7609385337a4, v6.1).
const KSM_MERGING_PAGES: PidEntry = one("ksm_merging_pages", S_IRUSR, "proc_pid_ksm_merging_pages")
    .when(KSM)
    .added(V6_1);
// "ksm: count allocated ksm rmap_items for each process" (cb4df4cae4f2, v6.1).
const KSM_STAT: PidEntry = one("ksm_stat", S_IRUSR, "proc_pid_ksm_stat")
    .when(KSM)
    .added(V6_1);

/// The entries of `/proc/PID/`, in the order of `tgid_base_stuff[]`.
pub static TGID: &[PidEntry] = &[
    dir("task", S_IRUGO | S_IXUGO, "proc_task_inode_operations"),
    FD,
    dir(
        "map_files",
        S_IRUSR | S_IXUSR,
        "proc_map_files_inode_operations",
    ),
    FDINFO_OLD,
    FDINFO,
    NS,
    NET_DIR,
    ENVIRON,
    AUXV,
    STATUS,
    PERSONALITY,
    LIMITS,
    SCHED_OLD,
    SCHED_NEW,
    reg(
        "autogroup",
        S_IRUGO | S_IWUSR,
        "proc_pid_sched_autogroup_operations",
        "seq_read",
    )
    .when(Cond::Config("CONFIG_SCHED_AUTOGROUP")),
    reg(
        "timens_offsets",
        S_IRUGO | S_IWUSR,
        "proc_timens_offsets_operations",
        "seq_read",
    )
    .when(Cond::Config("CONFIG_TIME_NS")),
    COMM,
    SYSCALL,
    CMDLINE,
    one("stat", S_IRUGO, "proc_tgid_stat"),
    STATM,
    MAPS,
    NUMA_MAPS,
    MEM,
    CWD,
    ROOT,
    EXE,
    MOUNTS,
    MOUNTINFO,
    reg(
        "mountstats",
        S_IRUSR,
        "proc_mountstats_operations",
        "seq_read_iter",
    ),
    CLEAR_REFS,
    SMAPS,
    SMAPS_ROLLUP,
    PAGEMAP,
    ATTR_DIR,
    WCHAN,
    STACK,
    SCHEDSTAT,
    LATENCY,
    CPUSET,
    CGROUP,
    CPU_RESCTRL_GROUPS,
    OOM_SCORE,
    OOM_ADJ,
    OOM_SCORE_ADJ,
    LOGINUID,
    SESSIONID,
    MAKE_IT_FAIL,
    FAIL_NTH,
    reg(
        "coredump_filter",
        S_IRUGO | S_IWUSR,
        "proc_coredump_filter_operations",
        "proc_coredump_filter_read",
    )
    .when(Cond::Config("CONFIG_ELF_CORE")),
    one("io", S_IRUSR, "proc_tgid_io_accounting").when(IO_ACCOUNTING),
    UID_MAP,
    GID_MAP,
    PROJID_MAP,
    SETGROUPS,
    reg("timers", S_IRUGO, "proc_timers_operations", "seq_read").when(Cond::AllConfigs(&[
        "CONFIG_CHECKPOINT_RESTORE",
        "CONFIG_POSIX_TIMERS",
    ])),
    reg(
        "timerslack_ns",
        S_IRUGO | S_IWUGO,
        "proc_pid_set_timerslack_ns_operations",
        "seq_read",
    ),
    PATCH_STATE,
    // "stackleak: Rename STACKLEAK to KSTACK_ERASE" (Kees Cook, 2025) renamed
    // the guard; upstream it landed in 6.16 or 6.17, not pinned down here, so
    // the switch is placed at the first modelled kernel that has it.
    one("stack_depth", S_IRUGO, "proc_stack_depth")
        .when(Cond::Config("CONFIG_STACKLEAK_METRICS"))
        .removed(V7_2),
    one("stack_depth", S_IRUGO, "proc_stack_depth")
        .when(Cond::Config("CONFIG_KSTACK_ERASE_METRICS"))
        .added(V7_2),
    ARCH_STATUS_FILE,
    SECCOMP_CACHE,
    KSM_MERGING_PAGES,
    KSM_STAT,
];

/// The entries of `/proc/PID/task/TID/`, in the order of `tid_base_stuff[]`.
pub static TID: &[PidEntry] = &[
    FD,
    FDINFO_OLD,
    FDINFO,
    NS,
    NET_DIR,
    ENVIRON,
    AUXV,
    STATUS,
    PERSONALITY,
    LIMITS,
    SCHED_OLD,
    SCHED_NEW,
    // A NOD, not a REG, only to add proc_tid_comm_inode_operations (whose
    // permission hook lets other threads of the group write comm); the
    // mode and fops are those REG would give.
    COMM,
    SYSCALL,
    CMDLINE,
    one("stat", S_IRUGO, "proc_tid_stat"),
    STATM,
    MAPS,
    reg(
        "children",
        S_IRUGO,
        "proc_tid_children_operations",
        "seq_read",
    )
    .when(Cond::Config("CONFIG_PROC_CHILDREN")),
    NUMA_MAPS,
    MEM,
    CWD,
    ROOT,
    EXE,
    MOUNTS,
    MOUNTINFO,
    CLEAR_REFS,
    SMAPS,
    SMAPS_ROLLUP,
    PAGEMAP,
    ATTR_DIR,
    WCHAN,
    STACK,
    SCHEDSTAT,
    LATENCY,
    CPUSET,
    CGROUP,
    CPU_RESCTRL_GROUPS,
    OOM_SCORE,
    OOM_ADJ,
    OOM_SCORE_ADJ,
    LOGINUID,
    SESSIONID,
    MAKE_IT_FAIL,
    FAIL_NTH,
    one("io", S_IRUSR, "proc_tid_io_accounting").when(IO_ACCOUNTING),
    UID_MAP,
    GID_MAP,
    PROJID_MAP,
    SETGROUPS,
    PATCH_STATE,
    ARCH_STATUS_FILE,
    SECCOMP_CACHE,
    KSM_MERGING_PAGES,
    KSM_STAT,
];

/// Which pid directory table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// `/proc/PID/` (tgid_base_stuff).
    Tgid,
    /// `/proc/PID/task/TID/` (tid_base_stuff).
    Tid,
}

impl Table {
    /// Every entry of the table across all versions and configs.
    pub fn all(self) -> &'static [PidEntry] {
        match self {
            Table::Tgid => TGID,
            Table::Tid => TID,
        }
    }
}

/// The entries of a table on a kernel, in table order, evaluating config conditions with `has_config` (a closure answering whether CONFIG_X is =y or =m).
pub fn entries(
    table: Table,
    version: KernelVersion,
    has_config: &dyn Fn(&str) -> bool,
) -> Vec<&'static PidEntry> {
    table
        .all()
        .iter()
        .filter(|e| e.in_version(version) && e.cond.holds(has_config))
        .collect()
}

/// nlink of a pid directory: 2 + number of Dir entries (pid_entry_nlink).
pub fn nlink(entries: &[&PidEntry]) -> u32 {
    let dirs = entries.iter().filter(|e| e.kind == EntryKind::Dir).count();
    2u32.saturating_add(u32::try_from(dirs).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::version::MODELLED;

    const V6_12: KernelVersion = KernelVersion::new(6, 12);
    use std::collections::HashSet;
    use std::path::PathBuf;

    /// The guard options the Debian cloud-amd64 config of `v` leaves unset,
    /// as grepped from the cached configs (7.2's from linux-base-7.2.13+deb14-cloud-amd64).
    fn debian_cloud_unset(v: KernelVersion) -> &'static [&'static str] {
        const COMMON: &[&str] = &[
            "CONFIG_LATENCYTOP",
            "CONFIG_FAULT_INJECTION",
            "CONFIG_STACKLEAK_METRICS",
            "CONFIG_KSTACK_ERASE_METRICS",
            "CONFIG_SECCOMP_CACHE_DEBUG",
        ];
        // 7.2 has no SCHED_DEBUG any more, and no CPUSETS_V1 for PROC_PID_CPUSET.
        const V7: &[&str] = &[
            "CONFIG_LATENCYTOP",
            "CONFIG_FAULT_INJECTION",
            "CONFIG_STACKLEAK_METRICS",
            "CONFIG_KSTACK_ERASE_METRICS",
            "CONFIG_SECCOMP_CACHE_DEBUG",
            "CONFIG_SCHED_DEBUG",
            "CONFIG_PROC_PID_CPUSET",
        ];
        if v >= V7_2 {
            V7
        } else {
            COMMON
        }
    }

    fn debian_cloud(v: KernelVersion) -> impl Fn(&str) -> bool {
        move |c: &str| !debian_cloud_unset(v).contains(&c)
    }

    /// The directory xtask caches a kernel line's packages in.
    fn vm_kernel_dir(v: KernelVersion) -> Option<&'static str> {
        match (v.major, v.minor) {
            (5, 10) => Some("5.10"),
            (6, 1) => Some("6.1"),
            (6, 12) => Some("6.12"),
            (7, 2) => Some("latest"),
            _ => None,
        }
    }

    /// The `CONFIG_X` options set to y or m in the cached Debian config of `v`, if cached.
    fn cached_config(v: KernelVersion) -> Option<(PathBuf, HashSet<String>)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/vm-kernels")
            .join(vm_kernel_dir(v)?);
        let mut pkgs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .ok()?
            .filter_map(|d| d.ok().map(|d| d.path().join("config")))
            .filter(|p| p.is_file())
            .collect();
        pkgs.sort();
        let path = pkgs.pop()?;
        let text = std::fs::read_to_string(&path).ok()?;
        let set = text
            .lines()
            .filter_map(|l| {
                let (k, val) = l.split_once('=')?;
                (k.starts_with("CONFIG_") && (val == "y" || val == "m")).then(|| k.to_string())
            })
            .collect();
        Some((path, set))
    }

    fn names(es: &[&PidEntry]) -> Vec<&'static str> {
        es.iter().map(|e| e.name).collect()
    }

    fn find<'a>(es: &[&'a PidEntry], name: &str) -> Option<&'a PidEntry> {
        es.iter().copied().find(|e| e.name == name)
    }

    #[test]
    fn tgid_table_on_cached_debian_configs() {
        for v in MODELLED {
            let Some((path, set)) = cached_config(v) else {
                println!("{v}: no cached Debian config under target/vm-kernels, skipped");
                continue;
            };
            let has = |c: &str| set.contains(c);
            let es = entries(Table::Tgid, v, &has);
            let ns = names(&es);
            let wanted = "task fd map_files fdinfo ns net environ auxv status personality \
                limits sched comm cmdline stat statm maps mem cwd root exe mounts mountinfo \
                mountstats smaps attr cgroup oom_score oom_score_adj io uid_map timerslack_ns";
            for want in wanted.split_whitespace() {
                assert!(ns.contains(&want), "{v}: {want} missing from {ns:?}");
            }
            let get = |n: &str| find(&es, n).map(|e| (e.kind, e.handler, e.read));
            assert_eq!(
                get("limits"),
                Some((EntryKind::One, "proc_pid_limits", None))
            );
            assert_eq!(
                get("status"),
                Some((EntryKind::One, "proc_pid_status", None))
            );
            assert_eq!(get("stat"), Some((EntryKind::One, "proc_tgid_stat", None)));
            assert_eq!(get("statm"), Some((EntryKind::One, "proc_pid_statm", None)));
            assert_eq!(
                get("cmdline"),
                Some((
                    EntryKind::Reg,
                    "proc_pid_cmdline_ops",
                    Some("proc_pid_cmdline_read")
                ))
            );
            assert_eq!(get("cwd"), Some((EntryKind::Lnk, "proc_cwd_link", None)));
            assert_eq!(get("fd").map(|g| g.0), Some(EntryKind::Dir));
            assert_eq!(get("task").map(|g| g.0), Some(EntryKind::Dir));
            assert_eq!(ns.contains(&"ksm_stat"), v >= V6_1, "{v}");
            assert_eq!(ns.contains(&"cpuset"), v < V7_2, "{v}");
            // The option list the config-free tests use must agree with the file.
            for table in [Table::Tgid, Table::Tid] {
                assert_eq!(
                    entries(table, v, &has),
                    entries(table, v, &debian_cloud(v)),
                    "{v} {table:?}"
                );
            }
            println!(
                "{v} ({}): tgid {} entries, nlink {}",
                path.display(),
                es.len(),
                nlink(&es)
            );
        }
    }

    #[test]
    fn nlink_counts_dirs() {
        for v in MODELLED {
            for table in [Table::Tgid, Table::Tid] {
                let es = entries(table, v, &debian_cloud(v));
                let dirs = es.iter().filter(|e| e.kind == EntryKind::Dir).count();
                let dirs = u32::try_from(dirs).unwrap_or(u32::MAX);
                assert_eq!(nlink(&es), 2 + dirs);
                // The mode is what S_ISDIR tests, so kind and mode must agree.
                for e in &es {
                    assert_eq!(e.kind == EntryKind::Dir, e.mode & 0o170_000 == S_IFDIR);
                }
                println!("{v} {table:?}: {} entries, nlink {}", es.len(), nlink(&es));
            }
        }
    }

    /// Readdir order seen by `find /proc/1/ -maxdepth 1` (and the task
    /// directory of pid 1) in `xtask vm` on each Debian cloud kernel, with
    /// the nlink `stat` showed for the directory itself.
    const OBSERVED: &[(KernelVersion, Table, u32, &str)] = &[
        (V5_10, Table::Tgid, 9, "task fd map_files fdinfo ns net environ auxv status personality limits sched autogroup timens_offsets comm syscall cmdline stat statm maps numa_maps mem cwd root exe mounts mountinfo mountstats clear_refs smaps smaps_rollup pagemap attr wchan stack schedstat cpuset cgroup cpu_resctrl_groups oom_score oom_adj oom_score_adj loginuid sessionid coredump_filter io uid_map gid_map projid_map setgroups timers timerslack_ns patch_state arch_status"),
        (V5_10, Table::Tid, 7, "fd fdinfo ns net environ auxv status personality limits sched comm syscall cmdline stat statm maps children numa_maps mem cwd root exe mounts mountinfo clear_refs smaps smaps_rollup pagemap attr wchan stack schedstat cpuset cgroup cpu_resctrl_groups oom_score oom_adj oom_score_adj loginuid sessionid io uid_map gid_map projid_map setgroups patch_state arch_status"),
        (V6_1, Table::Tgid, 9, "task fd map_files fdinfo ns net environ auxv status personality limits sched autogroup timens_offsets comm syscall cmdline stat statm maps numa_maps mem cwd root exe mounts mountinfo mountstats clear_refs smaps smaps_rollup pagemap attr wchan stack schedstat cpuset cgroup cpu_resctrl_groups oom_score oom_adj oom_score_adj loginuid sessionid coredump_filter io uid_map gid_map projid_map setgroups timers timerslack_ns patch_state arch_status ksm_merging_pages ksm_stat"),
        (V6_1, Table::Tid, 7, "fd fdinfo ns net environ auxv status personality limits sched comm syscall cmdline stat statm maps children numa_maps mem cwd root exe mounts mountinfo clear_refs smaps smaps_rollup pagemap attr wchan stack schedstat cpuset cgroup cpu_resctrl_groups oom_score oom_adj oom_score_adj loginuid sessionid io uid_map gid_map projid_map setgroups patch_state arch_status ksm_merging_pages ksm_stat"),
        (V6_12, Table::Tgid, 9, "task fd map_files fdinfo ns net environ auxv status personality limits sched autogroup timens_offsets comm syscall cmdline stat statm maps numa_maps mem cwd root exe mounts mountinfo mountstats clear_refs smaps smaps_rollup pagemap attr wchan stack schedstat cpuset cgroup cpu_resctrl_groups oom_score oom_adj oom_score_adj loginuid sessionid coredump_filter io uid_map gid_map projid_map setgroups timers timerslack_ns patch_state arch_status ksm_merging_pages ksm_stat"),
        (V6_12, Table::Tid, 7, "fd fdinfo ns net environ auxv status personality limits sched comm syscall cmdline stat statm maps children numa_maps mem cwd root exe mounts mountinfo clear_refs smaps smaps_rollup pagemap attr wchan stack schedstat cpuset cgroup cpu_resctrl_groups oom_score oom_adj oom_score_adj loginuid sessionid io uid_map gid_map projid_map setgroups patch_state arch_status ksm_merging_pages ksm_stat"),
        (V7_2, Table::Tgid, 9, "task fd map_files fdinfo ns net environ auxv status personality limits sched autogroup timens_offsets comm syscall cmdline stat statm maps numa_maps mem cwd root exe mounts mountinfo mountstats clear_refs smaps smaps_rollup pagemap attr wchan stack schedstat cgroup cpu_resctrl_groups oom_score oom_adj oom_score_adj loginuid sessionid coredump_filter io uid_map gid_map projid_map setgroups timers timerslack_ns patch_state arch_status ksm_merging_pages ksm_stat"),
        (V7_2, Table::Tid, 7, "fd fdinfo ns net environ auxv status personality limits sched comm syscall cmdline stat statm maps children numa_maps mem cwd root exe mounts mountinfo clear_refs smaps smaps_rollup pagemap attr wchan stack schedstat cgroup cpu_resctrl_groups oom_score oom_adj oom_score_adj loginuid sessionid io uid_map gid_map projid_map setgroups patch_state arch_status ksm_merging_pages ksm_stat"),
    ];

    #[test]
    fn matches_vm_listings() {
        for &(v, table, want_nlink, want) in OBSERVED {
            let es = entries(table, v, &debian_cloud(v));
            let want: Vec<&str> = want.split(' ').collect();
            assert_eq!(names(&es), want, "{v} {table:?}");
            assert_eq!(nlink(&es), want_nlink, "{v} {table:?}");
        }
    }

    /// The mode `stat -c %A` shows as `text`, e.g. "dr-xr-xr-x".
    fn mode_of(text: &str) -> u32 {
        let kind = match text.chars().next() {
            Some('d') => S_IFDIR,
            Some('l') => S_IFLNK,
            _ => S_IFREG,
        };
        text.chars()
            .skip(1)
            .fold(0, |bits, c| bits << 1 | u32::from(c != '-'))
            | kind
    }

    #[test]
    fn modes_match_vm_listings() {
        // A sample of what the VMs showed; the scratch check compared all.
        let sample = [
            ("task", "dr-xr-xr-x"),
            ("fd", "dr-x------"),
            ("ns", "dr-x--x--x"),
            ("cwd", "lrwxrwxrwx"),
            ("clear_refs", "--w-------"),
            ("timerslack_ns", "-rw-rw-rw-"),
            ("mem", "-rw-------"),
            ("limits", "-r--r--r--"),
            ("ksm_stat", "-r--------"),
        ];
        for v in MODELLED {
            let es = entries(Table::Tgid, v, &debian_cloud(v));
            let mode = |n: &str| find(&es, n).map(|e| e.mode);
            for (name, text) in sample {
                if name != "ksm_stat" || v >= V6_1 {
                    assert_eq!(mode(name), Some(mode_of(text)), "{v} {name}");
                }
            }
            let fdinfo = if v < V5_14 {
                "dr-x------"
            } else {
                "dr-xr-xr-x"
            };
            assert_eq!(mode("fdinfo"), Some(mode_of(fdinfo)), "{v}");
        }
    }

    #[test]
    fn version_ranges_are_used() {
        let all = |_: &str| true;
        let old = names(&entries(Table::Tgid, V5_10, &all));
        let new = names(&entries(Table::Tgid, V6_1, &all));
        assert!(!old.contains(&"ksm_merging_pages"));
        assert!(new.contains(&"ksm_merging_pages"));
        // Same name, different entry: the fdinfo mode changed in 5.14.
        let fdinfo = |v| find(&entries(Table::Tid, v, &all), "fdinfo").map(|e| e.mode);
        assert_ne!(fdinfo(V5_10), fdinfo(V6_1));
        // sched lost its guard: present on 7.2 even without SCHED_DEBUG.
        let no_sched_debug = |c: &str| c != "CONFIG_SCHED_DEBUG";
        assert!(find(&entries(Table::Tgid, V6_12, &no_sched_debug), "sched").is_none());
        assert!(find(&entries(Table::Tgid, V7_2, &no_sched_debug), "sched").is_some());
    }

    #[test]
    fn config_conditions_are_used() {
        let all = |_: &str| true;
        let none = |_: &str| false;
        for v in MODELLED {
            let with = entries(Table::Tgid, v, &all);
            let without = entries(Table::Tgid, v, &none);
            assert!(find(&with, "net").is_some() && find(&without, "net").is_none());
            assert!(find(&with, "latency").is_some() && find(&without, "latency").is_none());
            assert!(without.len() < with.len());
            // timers needs both options.
            let only_cr = |c: &str| c == "CONFIG_CHECKPOINT_RESTORE";
            assert!(find(&entries(Table::Tgid, v, &only_cr), "timers").is_none());
            let both = |c: &str| c == "CONFIG_CHECKPOINT_RESTORE" || c == "CONFIG_POSIX_TIMERS";
            assert!(find(&entries(Table::Tgid, v, &both), "timers").is_some());
        }
        assert!(Cond::AnyConfig(&["CONFIG_A", "CONFIG_B"]).holds(&|c| c == "CONFIG_B"));
        assert!(!Cond::AnyConfig(&["CONFIG_A", "CONFIG_B"]).holds(&none));
    }

    #[test]
    fn tid_table_has_no_task_and_children_by_config() {
        for v in MODELLED {
            let with = entries(Table::Tid, v, &|_| true);
            let without = entries(Table::Tid, v, &|c| c != "CONFIG_PROC_CHILDREN");
            assert!(find(&with, "task").is_none());
            assert!(find(&with, "children").is_some(), "{v}");
            assert!(find(&without, "children").is_none(), "{v}");
            assert!(find(&entries(Table::Tgid, v, &|_| true), "children").is_none());
            assert_eq!(
                find(&with, "stat").map(|e| e.handler),
                Some("proc_tid_stat")
            );
        }
    }

    #[test]
    fn names_are_unique_per_kernel() {
        // Entries that change between versions are split into ranges that
        // must not overlap, on any version and config.
        let versions = [V5_10, V5_11, V5_14, V6_1, V6_12, V6_15, V7_2];
        for table in [Table::Tgid, Table::Tid] {
            for v in versions {
                for flag in [true, false] {
                    let ns = names(&entries(table, v, &|_| flag));
                    let unique: HashSet<_> = ns.iter().collect();
                    assert_eq!(unique.len(), ns.len(), "{v} {table:?}");
                }
            }
        }
    }

    #[test]
    fn read_only_for_reg() {
        for e in TGID.iter().chain(TID) {
            if e.kind != EntryKind::Reg {
                assert_eq!(e.read, None, "{}", e.name);
            }
            assert!(!e.handler.is_empty(), "{}", e.name);
            assert!(e.until.is_none_or(|u| e.since < u), "{}", e.name);
        }
    }
}
