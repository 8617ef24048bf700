//! Types shared by the eBPF programs and the user-space agent.
//!
//! Everything here is `#[repr(C)]` with explicit padding so the kernel side and
//! user space agree byte for byte; user space decodes events field by field
//! (see `procfs-trace/src/events/decode.rs`) rather than transmuting.
#![no_std]

pub mod counts;

/// Bytes of a dentry name carried in an event (longer names are truncated).
pub const NAME_LEN: usize = 64;
/// Bytes of a task's `comm`, as the kernel's `TASK_COMM_LEN`.
pub const COMM_LEN: usize = 16;
/// Pointer hops a [`Chain`] may take from a function argument.
pub const MAX_CHAIN: usize = 4;
/// Bytes of a syscall's path argument carried in an event (longer paths are truncated).
pub const PATH_LEN: usize = 128;
/// Ancestors walked when deciding whether a task descends from the traced root.
pub const MAX_ANCESTORS: usize = 8;

/// Invokes `$m!` with the probe table:
/// `(kernel function, exit program name, ProbeId variant, Group, Role)`.
///
/// One list serves both sides: the eBPF crate generates one entry and one exit
/// program per row, user space builds [`ProbeId`] and [`PROBES`] from it, so the
/// two can never disagree on an id.
#[macro_export]
macro_rules! for_each_probe {
    ($m:ident) => {
        $m! {
            (proc_root_lookup, proc_root_lookup_ret, ProcRootLookup, Lookup, MountOpts),
            (proc_pid_lookup, proc_pid_lookup_ret, ProcPidLookup, Lookup, Plain),
            (proc_lookup, proc_lookup_ret, ProcLookup, Lookup, Plain),
            (proc_lookup_de, proc_lookup_de_ret, ProcLookupDe, Lookup, Plain),
            (proc_tgid_base_lookup, proc_tgid_base_lookup_ret, ProcTgidBaseLookup, Lookup, Plain),
            (proc_pident_lookup, proc_pident_lookup_ret, ProcPidentLookup, Lookup, Plain),
            (pid_revalidate, pid_revalidate_ret, PidRevalidate, Lookup, MountOpts),
            (proc_root_readdir, proc_root_readdir_ret, ProcRootReaddir, Readdir, MountOpts),
            (proc_readdir, proc_readdir_ret, ProcReaddir, Readdir, Plain),
            (proc_readdir_de, proc_readdir_de_ret, ProcReaddirDe, Readdir, Plain),
            (proc_pid_readdir, proc_pid_readdir_ret, ProcPidReaddir, Readdir, Plain),
            (proc_tgid_base_readdir, proc_tgid_base_readdir_ret, ProcTgidBaseReaddir, Readdir, Plain),
            (seq_read_iter, seq_read_iter_ret, SeqReadIter, Read, SeqReader),
            (seq_read, seq_read_ret, SeqRead, Read, SeqReader),
            (proc_reg_read_iter, proc_reg_read_iter_ret, ProcRegReadIter, Read, Plain),
            (proc_single_show, proc_single_show_ret, ProcSingleShow, Read, SingleShow),
            (proc_pid_status, proc_pid_status_ret, ProcPidStatus, Show, Plain),
            (proc_pid_limits, proc_pid_limits_ret, ProcPidLimits, Show, Plain),
            (proc_pid_statm, proc_pid_statm_ret, ProcPidStatm, Show, Plain),
            (proc_tgid_stat, proc_tgid_stat_ret, ProcTgidStat, Show, Plain),
            (proc_pid_cmdline_read, proc_pid_cmdline_read_ret, ProcPidCmdlineRead, Show, Plain),
            (cmdline_proc_show, cmdline_proc_show_ret, CmdlineProcShow, Show, Plain),
            (meminfo_proc_show, meminfo_proc_show_ret, MeminfoProcShow, Show, Plain),
            (show_console_dev, show_console_dev_ret, ShowConsoleDev, Show, Plain),
            (devinfo_show, devinfo_show_ret, DevinfoShow, Show, Plain),
            (show_cpuinfo, show_cpuinfo_ret, ShowCpuinfo, Show, Plain),
            (proc_pid_get_link, proc_pid_get_link_ret, ProcPidGetLink, Link, Plain),
            (proc_cwd_link, proc_cwd_link_ret, ProcCwdLink, Link, Plain),
            (proc_task_lookup, proc_task_lookup_ret, ProcTaskLookup, Lookup, Plain),
            (proc_tid_base_lookup, proc_tid_base_lookup_ret, ProcTidBaseLookup, Lookup, Plain),
            (proc_lookupfd, proc_lookupfd_ret, ProcLookupfd, Lookup, Plain),
            (tid_fd_revalidate, tid_fd_revalidate_ret, TidFdRevalidate, Lookup, Plain),
            (proc_task_readdir, proc_task_readdir_ret, ProcTaskReaddir, Readdir, Plain),
            (proc_readfd, proc_readfd_ret, ProcReadfd, Readdir, Plain),
            (proc_fd_iterate, proc_fd_iterate_ret, ProcFdIterate, Readdir, Plain),
            (proc_pid_readlink, proc_pid_readlink_ret, ProcPidReadlink, Link, Plain),
            (proc_root_link, proc_root_link_ret, ProcRootLink, Link, Plain),
            (proc_exe_link, proc_exe_link_ret, ProcExeLink, Link, Plain),
            (proc_fd_link, proc_fd_link_ret, ProcFdLink, Link, Plain),
            (proc_self_get_link, proc_self_get_link_ret, ProcSelfGetLink, Link, SelfLink),
            (proc_thread_self_get_link, proc_thread_self_get_link_ret, ProcThreadSelfGetLink, Link, SelfLink),
            (proc_ns_dir_lookup, proc_ns_dir_lookup_ret, ProcNsDirLookup, Lookup, Plain),
            (proc_ns_dir_readdir, proc_ns_dir_readdir_ret, ProcNsDirReaddir, Readdir, Plain),
            (proc_ns_get_link, proc_ns_get_link_ret, ProcNsGetLink, Link, Plain),
            (proc_ns_readlink, proc_ns_readlink_ret, ProcNsReadlink, Link, Plain),
            (proc_tgid_net_lookup, proc_tgid_net_lookup_ret, ProcTgidNetLookup, Lookup, Plain),
            (proc_tgid_net_readdir, proc_tgid_net_readdir_ret, ProcTgidNetReaddir, Readdir, Plain),
            (proc_sys_lookup, proc_sys_lookup_ret, ProcSysLookup, Lookup, Plain),
            (proc_sys_revalidate, proc_sys_revalidate_ret, ProcSysRevalidate, Lookup, Plain),
            (proc_sys_readdir, proc_sys_readdir_ret, ProcSysReaddir, Readdir, Plain),
            (proc_sys_read, proc_sys_read_ret, ProcSysRead, Read, Plain),
        }
    };
}

/// Which stage of a procfs access a probed function belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// Path walk: lookups and revalidations.
    Lookup,
    /// Directory listing.
    Readdir,
    /// The read path down to a seq_file show.
    Read,
    /// A show callback or a file's own read function.
    Show,
    /// Symlinks such as `/proc/PID/cwd`.
    Link,
}

/// What beyond the generic arguments a probe extracts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Only the arguments found from the function's BTF prototype.
    Plain,
    /// Reads a seq_file: report `seq_file->op->show`.
    SeqReader,
    /// `proc_single_show`: report the proc inode's `op.proc_show`.
    SingleShow,
    /// `proc_self_get_link`, `proc_thread_self_get_link`: report, in `pos`,
    /// the task's tgid as the pid namespace of the proc mount numbers it
    /// (`task_tgid_nr_ns`), and in `addr` its thread's id there
    /// (`task_pid_nr_ns`); 0 when it has none there.
    SelfLink,
    /// Report, in `addr`, the 8 bytes at the proc mount's
    /// `proc_fs_info.hide_pid`: `hide_pid` in the low half, `pidonly` (which
    /// follows it) in the high half: what `hidepid=` and `subset=pid` decide.
    MountOpts,
}

/// One row of the probe table.
#[derive(Clone, Copy, Debug)]
pub struct ProbeDef {
    /// The probe's id, equal to its index in [`PROBES`].
    pub id: ProbeId,
    /// Kernel function name.
    pub func: &'static str,
    /// Stage of the procfs access.
    pub group: Group,
    /// Extra extraction.
    pub role: Role,
}

macro_rules! define_probes {
    ($(($func:ident, $exit:ident, $id:ident, $group:ident, $role:ident)),* $(,)?) => {
        /// Index of a probed kernel function in [`PROBES`].
        #[repr(u16)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ProbeId { $($id),* }

        impl ProbeId {
            /// The probe of kernel function `func`, if procfs-trace has one.
            pub fn by_name(func: &str) -> Option<ProbeId> {
                match func {
                    $(stringify!($func) => Some(ProbeId::$id),)*
                    _ => None,
                }
            }
        }

        /// Every kernel function procfs-trace knows how to probe.
        pub const PROBES: &[ProbeDef] = &[
            $(ProbeDef {
                id: ProbeId::$id,
                func: stringify!($func),
                group: Group::$group,
                role: Role::$role,
            }),*
        ];
    };
}
for_each_probe!(define_probes);

/// Size of the per-probe tables handed to the kernel.
pub const MAX_PROBES: usize = 64;
const _: () = assert!(PROBES.len() <= MAX_PROBES);

impl ProbeId {
    /// The probe with this raw id, if any.
    pub fn from_raw(raw: u16) -> Option<ProbeId> {
        PROBES.get(raw as usize).map(|p| p.id)
    }

    /// The table row of this probe.
    pub fn def(self) -> &'static ProbeDef {
        &PROBES[self as usize]
    }
}

/// Event kinds, the first thing user space reads after the header's timestamp.
pub mod kind {
    /// A [`crate::ProbeEvent`].
    pub const PROBE: u16 = 1;
    /// A [`crate::SyscallEvent`].
    pub const SYSCALL: u16 = 2;
    /// A [`crate::CallEvent`]: a probed call inside a followed syscall,
    /// entry and exit in one record.
    pub const CALL: u16 = 3;
    /// A [`crate::SyscallCallEvent`]: a followed syscall that reached
    /// procfs, entry and exit in one record.
    pub const SYSCALL_CALL: u16 = 4;
}

/// Bits of [`CallEvent::call_flags`].
pub mod call_flags {
    /// The exit came without its entry (attached mid-call, or the entry's
    /// map insert failed): only the exit's fields are valid.
    pub const NO_ENTRY: u16 = 1 << 0;
}

/// Whether a probe event was emitted on function entry or return.
pub mod phase {
    /// kprobe: function entry.
    pub const ENTRY: u8 = 0;
    /// kretprobe: function return.
    pub const EXIT: u8 = 1;
}

/// Bits of [`ProbeEvent::flags`]: which optional fields are valid, and which reads faulted.
pub mod flags {
    /// `name` holds a dentry name.
    pub const NAME: u8 = 1 << 0;
    /// `pos` holds a readdir position.
    pub const POS: u8 = 1 << 1;
    /// `addr` holds a show-callback address.
    pub const ADDR: u8 = 1 << 2;
    /// `ret` holds the return value.
    pub const RET: u8 = 1 << 3;
    /// Reading the name faulted (for example a NULL dentry in RCU walk).
    pub const NAME_FAULT: u8 = 1 << 4;
    /// Reading the position faulted.
    pub const POS_FAULT: u8 = 1 << 5;
    /// Reading the callback address faulted.
    pub const ADDR_FAULT: u8 = 1 << 6;
}

/// Common header of every event in the ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventHeader {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC nanoseconds.
    pub ts_ns: u64,
    /// Process id (thread group id).
    pub tgid: u32,
    /// Thread id.
    pub tid: u32,
    /// CPU the event was emitted on.
    pub cpu: u32,
    /// One of [`kind`].
    pub kind: u16,
    /// Size in bytes of the whole event, header included.
    pub size: u16,
    /// The task's `comm`, NUL-padded.
    pub comm: [u8; COMM_LEN],
}

/// A kprobe or kretprobe hit on one of [`PROBES`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeEvent {
    /// Common header; `kind` is [`kind::PROBE`].
    pub header: EventHeader,
    /// Raw [`ProbeId`].
    pub probe: u16,
    /// One of [`phase`].
    pub phase: u8,
    /// Bits of [`flags`].
    pub flags: u8,
    /// Valid bytes in `name`.
    pub name_len: u16,
    /// Always zero; keeps `ret` 8-aligned without implicit padding.
    pub reserved: u16,
    /// Return value (exit only).
    pub ret: i64,
    /// `dir_context.pos` (readdir probes, entry and exit).
    pub pos: i64,
    /// Address of a show callback (read probes), or the proc mount's options
    /// ([`Role::MountOpts`]).
    pub addr: u64,
    /// Dentry name (lookup, link), or the file's name (readdir, read, show).
    pub name: [u8; NAME_LEN],
}

const _: () = assert!(core::mem::size_of::<EventHeader>() == 40);
const _: () = assert!(core::mem::size_of::<ProbeEvent>() == 136);

/// A probed call inside a followed syscall, written when it returns: half
/// the records of an entry and an exit event, and the name read once.
///
/// Calls return innermost first; `entry_seq` and `exit_seq` place the two
/// halves in their syscall's sequence, so user space rebuilds the order
/// they happened in once the syscall's own record arrives.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallEvent {
    /// Common header; `kind` is [`kind::CALL`]; `ts_ns` is the exit's time.
    pub header: EventHeader,
    /// Raw [`ProbeId`].
    pub probe: u16,
    /// Bits of [`flags`] the entry's fields have (name, pos, addr, faults).
    pub entry_flags: u8,
    /// Bits of [`flags`] the exit's fields have (ret, pos, pos fault).
    pub exit_flags: u8,
    /// Valid bytes in `name`.
    pub name_len: u16,
    /// The entry's place in its syscall's sequence.
    pub entry_seq: u16,
    /// The exit's place in its syscall's sequence.
    pub exit_seq: u16,
    /// Bits of [`call_flags`].
    pub call_flags: u16,
    /// Always zero.
    pub reserved: u32,
    /// The entry time of the syscall the call is in: its record's `ts_ns`.
    pub frame_ns: u64,
    /// When the call began.
    pub entry_ns: u64,
    /// Return value.
    pub ret: i64,
    /// `dir_context.pos` at entry.
    pub entry_pos: i64,
    /// `dir_context.pos` at exit.
    pub exit_pos: i64,
    /// As [`ProbeEvent::addr`], read at entry.
    pub addr: u64,
    /// As [`ProbeEvent::name`].
    pub name: [u8; NAME_LEN],
}

const _: () = assert!(core::mem::size_of::<CallEvent>() == 168);

/// How a followed syscall names the file it works on.
pub mod shape {
    /// Not followed.
    pub const NONE: u8 = 0;
    /// Argument 0 is a path (`open`, `stat`, `execve`, ...).
    pub const PATH: u8 = 1;
    /// Argument 0 is a directory fd, argument 1 a path (`openat`, `statx`, ...).
    pub const AT_PATH: u8 = 2;
    /// Argument 0 is an open fd (`read`, `getdents64`).
    pub const FD: u8 = 3;
    /// Argument 1 is the fd read from (`sendfile(out, in, ...)`).
    pub const FD1: u8 = 4;
    /// Argument 0 is an fd the syscall duplicates (`dup`, `dup2`, `dup3`,
    /// `fcntl` with [`F_DUPFD`] or [`F_DUPFD_CLOEXEC`]); the new fd is the
    /// result. Reported whenever it succeeds, so reads through the copy (a
    /// shell's `read l < /proc/PID/stat` reads fd 0) keep the path.
    pub const DUP: u8 = 5;
    /// Argument 0 is a path the cwd moves to (`chdir`); reported whenever it
    /// succeeds, so that later relative paths can be resolved.
    pub const CWD_PATH: u8 = 6;
    /// Argument 0 is an open directory fd the cwd moves to (`fchdir`);
    /// reported whenever it succeeds.
    pub const CWD_FD: u8 = 7;
}

/// `fcntl` command: duplicate to the lowest free fd at least argument 2.
pub const F_DUPFD: u64 = 0;
/// `fcntl` command: as [`F_DUPFD`], close-on-exec.
pub const F_DUPFD_CLOEXEC: u64 = 1030;

/// Invokes `$m!` with the syscall table: `(x86-64 number, name, Syscall
/// variant, shape, operation, final symlink, AT_* flags argument)`.
///
/// One list for every side: this crate generates [`Syscall`], [`SYSCALLS`],
/// [`syscall_shape`] and [`at_flags_arg`] from it (the eBPF programs use the
/// last two), and the agent's model generates the operation kind and symlink
/// rule of each syscall from the same rows. The columns:
/// - shape: a [`shape`] constant, how the syscall names its file;
/// - operation: `Lookup`, `Readdir`, `Read`, `Readlink`, `CopyFd` for a
///   syscall that only copies an fd, or `SetCwd` for one that only moves the
///   cwd to an fd;
/// - final symlink: `follow`, `nofollow`, `at_flags` (as `AT_SYMLINK_NOFOLLOW`
///   says) or `na` (no path walk);
/// - AT_* flags argument: its index, or `none`.
///
/// Only x86-64 is supported.
#[macro_export]
macro_rules! for_each_syscall {
    ($m:ident) => {
        $m! {
            (0, read, Read, FD, Read, na, none),
            (2, open, Open, PATH, Lookup, follow, none),
            (4, stat, Stat, PATH, Lookup, follow, none),
            (6, lstat, Lstat, PATH, Lookup, nofollow, none),
            (17, pread64, Pread64, FD, Read, na, none),
            (19, readv, Readv, FD, Read, na, none),
            (32, dup, Dup, DUP, CopyFd, na, none),
            (33, dup2, Dup2, DUP, CopyFd, na, none),
            (40, sendfile, Sendfile, FD1, Read, na, none),
            (59, execve, Execve, PATH, Lookup, follow, none),
            (72, fcntl, Fcntl, DUP, CopyFd, na, none),
            (80, chdir, Chdir, CWD_PATH, Lookup, follow, none),
            (81, fchdir, Fchdir, CWD_FD, SetCwd, na, none),
            (78, getdents, Getdents, FD, Readdir, na, none),
            (89, readlink, Readlink, PATH, Readlink, nofollow, none),
            (217, getdents64, Getdents64, FD, Readdir, na, none),
            (257, openat, Openat, AT_PATH, Lookup, follow, none),
            (262, newfstatat, Newfstatat, AT_PATH, Lookup, at_flags, 3),
            (267, readlinkat, Readlinkat, AT_PATH, Readlink, nofollow, none),
            (292, dup3, Dup3, DUP, CopyFd, na, none),
            (322, execveat, Execveat, AT_PATH, Lookup, follow, none),
            (332, statx, Statx, AT_PATH, Lookup, at_flags, 2),
        }
    };
}

/// `Some(index)` of an AT_* flags column, or `None`.
macro_rules! at_flags_index {
    (none) => {
        None
    };
    ($i:literal) => {
        Some($i)
    };
}

/// Whether an operation column is `Read`.
macro_rules! is_read {
    (Read) => {
        true
    };
    ($other:ident) => {
        false
    };
}

/// One row of the syscall table, as this crate uses it.
#[derive(Clone, Copy, Debug)]
pub struct SyscallDef {
    /// The syscall.
    pub syscall: Syscall,
    /// Its name.
    pub name: &'static str,
    /// How it names its file: one of [`shape`].
    pub shape: u8,
}

macro_rules! define_syscalls {
    ($(($nr:literal, $name:ident, $id:ident, $shape:ident, $op:ident, $follow:ident, $flags:tt)),* $(,)?) => {
        /// A syscall procfs-trace follows; the discriminant is its x86-64 number.
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Syscall { $($id = $nr),* }

        /// Every syscall procfs-trace follows, in number order.
        pub const SYSCALLS: &[SyscallDef] = &[
            $(SyscallDef { syscall: Syscall::$id, name: stringify!($name), shape: shape::$shape }),*
        ];

        impl Syscall {
            /// Its name, as strace spells it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Syscall::$id => stringify!($name),)*
                }
            }

            /// The followed syscall with number `nr`, if any.
            #[inline(always)]
            pub fn from_nr(nr: u64) -> Option<Syscall> {
                match nr {
                    $($nr => Some(Syscall::$id),)*
                    _ => None,
                }
            }
        }

        /// The [`shape`] of syscall `nr` (a `match`, so the eBPF side needs no loop).
        #[inline(always)]
        pub fn syscall_shape(nr: u64) -> u8 {
            match nr {
                $($nr => shape::$shape,)*
                _ => shape::NONE,
            }
        }

        /// The index of syscall `nr`'s `AT_*` flags argument, if it has one.
        #[inline(always)]
        pub fn at_flags_arg(nr: u64) -> Option<usize> {
            match nr {
                $($nr => at_flags_index!($flags),)*
                _ => None,
            }
        }

        /// Whether syscall `nr` reads a file: its return value is the bytes read.
        #[inline(always)]
        pub fn syscall_reads(nr: u64) -> bool {
            match nr {
                $($nr => is_read!($op),)*
                _ => false,
            }
        }
    };
}
for_each_syscall!(define_syscalls);

impl Syscall {
    /// Its x86-64 number.
    pub fn nr(self) -> u32 {
        self as u32
    }

    /// How it names its file: one of [`shape`].
    pub fn shape(self) -> u8 {
        syscall_shape(u64::from(self.nr()))
    }
}

/// Bits of the eBPF side's on switch (the `ARMED` map): what user space wants.
pub mod armed {
    /// Events in the ring buffer.
    pub const EVENTS: u32 = 1;
    /// The kernel's own counts (the `COUNTS` map), which only the live view
    /// reads: every probe run pays for them.
    pub const COUNTS: u32 = 2;
}

/// Slots of the benchmark twins' per-CPU counters (their `TWIN_COUNTS` map).
pub mod twin {
    /// Runs of the twin programs.
    pub const RUNS: u32 = 0;
    /// Emit-floor records not written because the ring buffer was full.
    pub const DROPPED: u32 = 1;
}

/// Slots of the kernel side's per-CPU loss counters (the `LOST` map).
pub mod loss {
    /// Events not written because the ring buffer was full.
    pub const RING: u32 = 0;
    /// Map inserts that failed (a full table): a syscall not framed, a
    /// readdir position or a descendant not remembered.
    pub const MAP_INSERT: u32 = 1;
    /// Number of slots.
    pub const SLOTS: u32 = 2;
}

/// Bits of [`SyscallEvent::flags`].
pub mod syscall_flags {
    /// `path` holds the path argument.
    pub const PATH: u8 = 1 << 0;
    /// Reading the path from user memory faulted.
    pub const PATH_FAULT: u8 = 1 << 1;
    /// `ret` holds the return value.
    pub const RET: u8 = 1 << 2;
    /// On an exit: an event of this syscall, on this thread, could not be
    /// written (ring buffer full), so its operation is incomplete.
    pub const LOST: u8 = 1 << 3;
    /// On a [`crate::SyscallCallEvent`]: a probed call began inside it and
    /// never returned (a kretprobe missed it), so its operation is incomplete.
    pub const UNCLOSED: u8 = 1 << 4;
}

/// Entry into or exit from a syscall that reached a probed procfs function.
///
/// Entries are emitted lazily, just before the first probe event inside the
/// syscall, so syscalls that never touch procfs cost no ring-buffer space.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallEvent {
    /// Common header; `kind` is [`kind::SYSCALL`]; `ts_ns` is the syscall's entry time.
    pub header: EventHeader,
    /// x86-64 syscall number.
    pub nr: u32,
    /// One of [`phase`].
    pub phase: u8,
    /// Bits of [`syscall_flags`].
    pub flags: u8,
    /// Valid bytes in `path`.
    pub path_len: u16,
    /// The `AT_*` flags of `newfstatat` (argument 3) and `statx` (argument 2).
    pub at_flags: u32,
    /// Always zero.
    pub reserved: u32,
    /// The fd argument (`FD` shapes), or the directory fd (`AT_PATH`).
    pub fd: i64,
    /// Return value (exit only).
    pub ret: i64,
    /// The path argument (entry only).
    pub path: [u8; PATH_LEN],
}

const _: () = assert!(core::mem::size_of::<SyscallEvent>() == 200);

/// A followed syscall that reached procfs, written at its exit after the
/// [`CallEvent`]s of the calls inside it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallCallEvent {
    /// Common header; `kind` is [`kind::SYSCALL_CALL`]; `ts_ns` is the
    /// syscall's entry time.
    pub header: EventHeader,
    /// x86-64 syscall number.
    pub nr: u32,
    /// Bits of [`syscall_flags`].
    pub flags: u8,
    /// Always zero.
    pub reserved8: u8,
    /// Valid bytes in `path`.
    pub path_len: u16,
    /// As [`SyscallEvent::at_flags`].
    pub at_flags: u32,
    /// Always zero.
    pub reserved: u32,
    /// When it returned.
    pub exit_ns: u64,
    /// As [`SyscallEvent::fd`].
    pub fd: i64,
    /// Return value.
    pub ret: i64,
    /// The path argument, read before the first probed call.
    pub path: [u8; PATH_LEN],
}

const _: () = assert!(core::mem::size_of::<SyscallCallEvent>() == 208);

/// `AT_SYMLINK_NOFOLLOW`: the final symlink is not followed.
pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;

/// Threads the kernel side keeps a syscall slot (`Pending`) and a nesting
/// slot for at once; a thread's slots go when it exits.
pub const THREAD_SLOTS: u32 = 16384;

/// A thread's followed syscall. The slot outlives the syscall, marked idle,
/// so that the next one fills it in place: see `active`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    /// Entry time.
    pub ts_ns: u64,
    /// Argument 0.
    pub arg0: u64,
    /// Argument 1.
    pub arg1: u64,
    /// Syscall number.
    pub nr: u32,
    /// Non-zero once a probe fired inside it: its record is written at exit.
    pub emitted: u32,
    /// The `AT_*` flags argument, when the syscall has one.
    pub at_flags: u32,
    /// Non-zero when the path starts with /proc, or the syscall copies an fd:
    /// emit even if no probe fires, so the fd it returns can be tied to a path.
    pub force: u32,
    /// Non-zero once an event of this syscall could not be written.
    pub lost: u32,
    /// The thread id the syscall was entered on, which its records report:
    /// an `execve` from a thread other than the leader leaves with the
    /// leader's id (the slot moves with it, see `sched_process_exec`).
    pub tid: u32,
    /// Entries and exits of probed calls so far: the next one's place.
    pub seq: u16,
    /// Probed calls begun and not yet returned: the depth of `stack`.
    pub open: u16,
    /// Valid bytes in `path`.
    pub path_len: u16,
    /// [`syscall_flags::PATH`] or [`syscall_flags::PATH_FAULT`] once read.
    pub path_flags: u8,
    /// Non-zero once a call inside it is known never to have returned: a
    /// call it enclosed returned first (its exit was missed).
    pub unclosed: u8,
    /// Non-zero from the syscall's entry to its exit: outside it the other
    /// fields are the last syscall's, and `path` and `stack` are never
    /// cleared, only read up to `path_len` and `open`.
    pub active: u8,
    /// Always zero.
    pub reserved: [u8; 7],
    /// The task's name at the syscall's entry, which the calls inside it
    /// report (an `execve` renames the task midway): they need not read it.
    pub comm: [u8; COMM_LEN],
    /// The path argument, read when the first probe fires (an `execve`'s
    /// is gone by its exit).
    pub path: [u8; PATH_LEN],
    /// What the entries of the calls still open left for their exits,
    /// outermost first: a call's exit finds its entry here without a map
    /// operation. Only the first `open` are valid.
    pub stack: [counts::Entered; FRAME_DEPTH],
}

/// Probed calls a followed syscall holds open at once: they nest 5 deep at
/// most (`seq_read`, `seq_read_iter`, `proc_reg_read_iter`,
/// `proc_single_show`, a show callback).
pub const FRAME_DEPTH: usize = 8;

const _: () = assert!(core::mem::size_of::<Pending>() == 208 + 56 * FRAME_DEPTH);

impl Pending {
    /// Starts syscall `nr`, entered at `ts_ns` by thread `tid` of the task
    /// named `comm`, in this slot, whatever the thread's last syscall left
    /// in it; `force` as the field says.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn begin(
        &mut self,
        ts_ns: u64,
        tid: u32,
        comm: &[u8; COMM_LEN],
        nr: u32,
        args: [u64; 2],
        at_flags: u32,
        force: bool,
    ) {
        self.ts_ns = ts_ns;
        self.tid = tid;
        self.comm = *comm;
        self.arg0 = args[0];
        self.arg1 = args[1];
        self.nr = nr;
        self.emitted = 0;
        self.at_flags = at_flags;
        self.force = force as u32;
        self.lost = 0;
        self.seq = 0;
        self.open = 0;
        self.path_len = 0;
        self.path_flags = 0;
        self.unclosed = 0;
        self.active = 1;
        self.reserved = [0; 7];
    }

    /// Keeps a call's entry on the stack; false when it is [`FRAME_DEPTH`]
    /// deep already, and the call's exit will come without it.
    ///
    /// This and [`Pending::pop`] visit the slots by a constant index, not
    /// at `open`: LLVM turns a computed index into pointer arithmetic the
    /// 5.10 verifier cannot bound.
    #[inline(always)]
    pub fn push(&mut self, entered: &counts::Entered) -> bool {
        let open = self.open as usize;
        let mut depth = 0;
        while depth < FRAME_DEPTH {
            if depth == open {
                self.stack[depth] = *entered;
                self.open += 1;
                return true;
            }
            depth += 1;
        }
        false
    }

    /// Takes the entry of `probe`'s innermost open call off the stack.
    /// Calls above it never returned (their exits were missed), which marks
    /// the syscall `unclosed`. An exit whose entry is not there (it began
    /// before the tracer was attached, or was not kept) finds
    /// [`counts::Entered::UNSEEN`] and takes nothing.
    #[inline(always)]
    pub fn pop(&mut self, probe: u16) -> counts::Entered {
        let open = self.open as usize;
        let mut depth = FRAME_DEPTH;
        while depth > 0 {
            depth -= 1;
            if depth < open && self.stack[depth].probe == probe {
                if depth + 1 != open {
                    self.unclosed = 1;
                }
                self.open = depth as u16;
                return self.stack[depth];
            }
        }
        counts::Entered::UNSEEN
    }
}

/// Marks a [`Chain`] that is not used.
pub const NO_ARG: u8 = 0xff;

/// A pointer walk from a function argument: `v = arg; for off in offsets { v = *(v + off) }`.
///
/// User space computes the offsets from the running kernel's BTF, so the eBPF
/// code never hard-codes a struct layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chain {
    /// Argument index (0-based), or [`NO_ARG`].
    pub arg: u8,
    /// Number of valid entries in `offsets`.
    pub steps: u8,
    /// Always zero.
    pub reserved: [u8; 2],
    /// Byte offsets to add before each 8-byte read.
    pub offsets: [i32; MAX_CHAIN],
}

impl Chain {
    /// A chain that extracts nothing.
    pub const NONE: Chain = Chain {
        arg: NO_ARG,
        steps: 0,
        reserved: [0; 2],
        offsets: [0; MAX_CHAIN],
    };
}

/// How to extract each optional field for one probe.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeSpec {
    /// Ends at a `const char *` name, read as a string (entry only).
    pub name: Chain,
    /// Ends at the readdir position (entry and exit).
    pub pos: Chain,
    /// Ends at a callback address (entry only).
    pub addr: Chain,
    /// Ends at the `struct pid_namespace *` of the proc mount (entry only):
    /// the entry then reports the task's tgid in it, in `pos`, and its
    /// thread's id, in `addr`.
    pub pidns: Chain,
    /// Non-zero when the function returns a 32-bit int, whose upper register
    /// half is garbage: the exit sign-extends it.
    pub ret32: u32,
    /// Non-zero when `addr` is a show callback: the kernel's counts of the
    /// probe's calls are then kept per callback too.
    pub addr_is_show: u32,
}

impl ProbeSpec {
    /// A spec that extracts nothing.
    pub const NONE: ProbeSpec = ProbeSpec {
        name: Chain::NONE,
        pos: Chain::NONE,
        addr: Chain::NONE,
        pidns: Chain::NONE,
        ret32: 0,
        addr_is_show: 0,
    };
}

/// Where a task's tgid in a given pid namespace is found
/// (`task_tgid_nr_ns`): `task->group_leader->thread_pid->numbers[ns->level]`,
/// valid when that level exists and its `ns` is the namespace asked about.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PidNsOffsets {
    /// Non-zero when every offset below was found in BTF.
    pub valid: u32,
    /// `offsetof(struct pid_namespace, level)`.
    pub ns_level: u32,
    /// `offsetof(struct task_struct, group_leader)`.
    pub task_group_leader: u32,
    /// `offsetof(struct task_struct, thread_pid)`.
    pub task_thread_pid: u32,
    /// `offsetof(struct pid, level)`.
    pub pid_level: u32,
    /// `offsetof(struct pid, numbers)`.
    pub pid_numbers: u32,
    /// `sizeof(struct upid)`.
    pub upid_size: u32,
    /// `offsetof(struct upid, nr)`.
    pub upid_nr: u32,
    /// `offsetof(struct upid, ns)`.
    pub upid_ns: u32,
    /// Always zero.
    pub reserved: u32,
}

impl PidNsOffsets {
    /// Offsets not found: namespaced tgids are not reported.
    pub const NONE: PidNsOffsets = PidNsOffsets {
        valid: 0,
        ns_level: 0,
        task_group_leader: 0,
        task_thread_pid: 0,
        pid_level: 0,
        pid_numbers: 0,
        upid_size: 0,
        upid_nr: 0,
        upid_ns: 0,
        reserved: 0,
    };
}

/// `PROC_SUPER_MAGIC`: `super_block.s_magic` of every proc mount.
pub const PROC_SUPER_MAGIC: u64 = 0x9fa0;

/// Where the superblock of a task's open fd is found,
/// `task->files->fdt->fd[n]->f_inode->i_sb->s_magic`: an open that returned
/// an fd on procfs is reported whatever its path looked like (relative to a
/// cwd or dirfd in /proc, or a proc mounted elsewhere).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdMagicOffsets {
    /// Non-zero when every offset below was found in BTF.
    pub valid: u32,
    /// `offsetof(struct task_struct, files)`.
    pub task_files: u32,
    /// `offsetof(struct files_struct, fdt)`.
    pub files_fdt: u32,
    /// `offsetof(struct fdtable, fd)`.
    pub fdt_fd: u32,
    /// `offsetof(struct file, f_inode)`.
    pub file_inode: u32,
    /// `offsetof(struct inode, i_sb)`.
    pub inode_sb: u32,
    /// `offsetof(struct super_block, s_magic)`.
    pub sb_magic: u32,
    /// Always zero.
    pub reserved: u32,
}

impl FdMagicOffsets {
    /// Offsets not found: opens are reported only by their path or a probe hit.
    pub const NONE: FdMagicOffsets = FdMagicOffsets {
        valid: 0,
        task_files: 0,
        files_fdt: 0,
        fdt_fd: 0,
        file_inode: 0,
        inode_sb: 0,
        sb_magic: 0,
        reserved: 0,
    };
}

/// Which tasks the probes report.
pub mod filter {
    /// Every task except the agent itself.
    pub const ALL: u32 = 0;
    /// Only tgids in the `TRACED` map.
    pub const TGIDS: u32 = 1;
    /// The agent's descendants (a command it started), and tgids in `TRACED`.
    pub const DESCENDANTS: u32 = 2;
}

/// Load-time settings of the eBPF programs, set as the global `CONFIG`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The agent's own tgid, never reported.
    pub self_tgid: u32,
    /// One of [`filter`].
    pub filter: u32,
    /// Report only tasks whose comm equals this (when `comm_len > 0`).
    pub comm: [u8; COMM_LEN],
    /// Bytes of `comm` to compare; 0 disables the comm filter.
    pub comm_len: u32,
    /// `offsetof(struct task_struct, real_parent)`.
    pub task_real_parent: u32,
    /// `offsetof(struct task_struct, tgid)`.
    pub task_tgid: u32,
    /// `offsetof(struct pt_regs, di)`: syscall argument 0.
    pub regs_arg0: u32,
    /// `offsetof(struct pt_regs, si)`: syscall argument 1.
    pub regs_arg1: u32,
    /// `offsetof(struct pt_regs, dx)`: syscall argument 2.
    pub regs_arg2: u32,
    /// `offsetof(struct pt_regs, r10)`: syscall argument 3.
    pub regs_arg3: u32,
    /// `offsetof(struct pt_regs, orig_ax)`: the syscall's number.
    pub regs_nr: u32,
    /// Bytes waiting in the ring buffer from which a record wakes the
    /// reader, which otherwise drains on its own timer.
    pub wake_bytes: u32,
    /// How to find a task's tgid in a pid namespace.
    pub pidns: PidNsOffsets,
    /// How to tell whether an fd is on procfs.
    pub fd_magic: FdMagicOffsets,
    /// Extraction specs, indexed by [`ProbeId`].
    pub probes: [ProbeSpec; MAX_PROBES],
}

impl Config {
    /// Settings that trace everything and extract nothing.
    pub const EMPTY: Config = Config {
        self_tgid: 0,
        filter: filter::ALL,
        comm: [0; COMM_LEN],
        comm_len: 0,
        task_real_parent: 0,
        task_tgid: 0,
        regs_arg0: 0,
        regs_arg1: 0,
        regs_arg2: 0,
        regs_arg3: 0,
        regs_nr: 0,
        wake_bytes: 0,
        pidns: PidNsOffsets::NONE,
        fd_magic: FdMagicOffsets::NONE,
        probes: [ProbeSpec::NONE; MAX_PROBES],
    };
}

/// Key of the `ENTERED` map: what a call's entry leaves for its exit.
#[inline(always)]
pub fn entry_key(tid: u32, probe: u16) -> u64 {
    ((tid as u64) << 16) | probe as u64
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain-old-data, #[repr(C)], no implicit padding (sizes asserted above).
    unsafe impl aya::Pod for super::Config {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::counts::CountKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::counts::Counts {}

    impl serde::Serialize for super::Syscall {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(self.name())
        }
    }

    impl serde::Serialize for super::ProbeId {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(self.def().func)
        }
    }
}

#[cfg(test)]
mod frame_tests {
    use super::{counts::Entered, Pending, COMM_LEN, FRAME_DEPTH, PATH_LEN};

    fn syscall() -> Pending {
        Pending {
            ts_ns: 1,
            arg0: 0,
            arg1: 0,
            nr: 0,
            emitted: 0,
            at_flags: 0,
            force: 0,
            lost: 0,
            tid: 0,
            seq: 0,
            open: 0,
            path_len: 0,
            path_flags: 0,
            unclosed: 0,
            active: 1,
            reserved: [0; 7],
            comm: [0; COMM_LEN],
            path: [0; PATH_LEN],
            stack: [Entered::UNSEEN; FRAME_DEPTH],
        }
    }

    #[test]
    fn a_slot_begun_again_holds_nothing_of_its_last_syscall() {
        let mut used = syscall();
        used.begin(
            5,
            41,
            b"sh\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
            257,
            [3, 4],
            0x100,
            true,
        );
        assert!(used.push(&call(13, 10)));
        assert!(used.push(&call(12, 11)));
        used.pop(13);
        assert!(used.push(&call(9, 12)));
        used.emitted = 1;
        used.lost = 1;
        used.seq = 4;
        used.path[..6].copy_from_slice(b"/proc\0");
        used.path_len = 6;
        used.path_flags = 1;
        used.active = 0;

        let cat = b"cat\0\0\0\0\0\0\0\0\0\0\0\0\0";
        used.begin(90, 42, cat, 0, [7, 8], 0, false);
        let mut fresh = syscall();
        fresh.begin(90, 42, cat, 0, [7, 8], 0, false);
        // Only the bytes past `path_len` and `open` may differ.
        fresh.path = used.path;
        fresh.stack = used.stack;
        assert_eq!(used, fresh);
        assert_eq!((used.active, used.open, used.path_len), (1, 0, 0));
    }

    fn call(probe: u16, ts_ns: u64) -> Entered {
        Entered {
            probe,
            ts_ns,
            ..Entered::UNSEEN
        }
    }

    #[test]
    fn nested_calls_return_innermost_first() {
        let mut p = syscall();
        for (probe, ts) in [(13, 10), (12, 11), (15, 12), (19, 13)] {
            assert!(p.push(&call(probe, ts)));
        }
        assert_eq!(p.pop(19), call(19, 13));
        assert_eq!(p.pop(15), call(15, 12));
        assert_eq!(p.pop(12), call(12, 11));
        assert_eq!(p.pop(13), call(13, 10));
        assert_eq!((p.open, p.unclosed), (0, 0));
    }

    #[test]
    fn a_recursive_call_returns_to_its_own_entry() {
        let mut p = syscall();
        assert!(p.push(&call(8, 10)));
        assert!(p.push(&call(8, 20)));
        assert_eq!(p.pop(8).ts_ns, 20);
        assert_eq!(p.pop(8).ts_ns, 10);
        assert_eq!((p.open, p.unclosed), (0, 0));
    }

    #[test]
    fn an_exit_past_a_missed_one_closes_it_and_marks_the_syscall() {
        let mut p = syscall();
        assert!(p.push(&call(13, 10)));
        assert!(p.push(&call(15, 11)));
        // 15's exit was missed: 13's exit finds its own entry below it.
        assert_eq!(p.pop(13), call(13, 10));
        assert_eq!((p.open, p.unclosed), (0, 1));
    }

    #[test]
    fn an_exit_without_its_entry_takes_nothing() {
        let mut p = syscall();
        assert!(p.push(&call(13, 10)));
        assert!(!p.pop(15).seen());
        assert_eq!((p.open, p.unclosed), (1, 0));
        assert_eq!(p.pop(13), call(13, 10));
    }

    #[test]
    fn a_call_deeper_than_the_stack_is_not_kept() {
        let mut p = syscall();
        for d in 0..FRAME_DEPTH as u64 {
            assert!(p.push(&call(d as u16, 10 + d)));
        }
        assert!(!p.push(&call(40, 99)));
        assert!(!p.pop(40).seen());
        for d in (0..FRAME_DEPTH as u64).rev() {
            assert_eq!(p.pop(d as u16), call(d as u16, 10 + d));
        }
        assert_eq!((p.open, p.unclosed), (0, 0));
    }
}
