//! Pointer walks, by struct member name, from a probed function's arguments to
//! the values events carry. Offsets are resolved against the running kernel's
//! BTF in `plan`, so nothing here depends on one kernel's layout.

/// One pointer hop: read 8 bytes at `offsetof(ty, path) - offsetof(ty, minus)`.
///
/// `minus` expresses `container_of`: from a `struct inode *` embedded in a
/// `struct proc_inode` at `vfs_inode`, the proc inode's `op.proc_show` is at
/// `off(op.proc_show) - off(vfs_inode)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    /// Struct the member belongs to.
    pub ty: &'static str,
    /// Dotted member path inside `ty`.
    pub path: &'static str,
    /// Member the pointer in hand points at, for `container_of` hops.
    pub minus: Option<&'static str>,
}

const fn hop(ty: &'static str, path: &'static str) -> Hop {
    Hop {
        ty,
        path,
        minus: None,
    }
}

/// A walk that starts from a parameter of type `struct <param> *`.
pub type Recipe = (&'static str, &'static [Hop]);

/// To the name of the dentry an argument refers to, in order of preference: a
/// lookup's dentry is the name being looked up; for files it is the file's name.
pub const NAME: &[Recipe] = &[
    ("dentry", &[hop("dentry", "d_name.name")]),
    (
        "file",
        &[hop("file", "f_path.dentry"), hop("dentry", "d_name.name")],
    ),
    (
        "kiocb",
        &[
            hop("kiocb", "ki_filp"),
            hop("file", "f_path.dentry"),
            hop("dentry", "d_name.name"),
        ],
    ),
    (
        "seq_file",
        &[
            hop("seq_file", "file"),
            hop("file", "f_path.dentry"),
            hop("dentry", "d_name.name"),
        ],
    ),
];

/// To a readdir's position, `ctx->pos`.
pub const POS: &[Recipe] = &[("dir_context", &[hop("dir_context", "pos")])];

/// To the show callback of the seq_file a read works on: `file->private_data`
/// is the `struct seq_file`, whose `op->show` is the callback.
pub const SEQ_SHOW: &[Recipe] = &[
    (
        "kiocb",
        &[
            hop("kiocb", "ki_filp"),
            hop("file", "private_data"),
            hop("seq_file", "op"),
            hop("seq_operations", "show"),
        ],
    ),
    (
        "file",
        &[
            hop("file", "private_data"),
            hop("seq_file", "op"),
            hop("seq_operations", "show"),
        ],
    ),
];

/// To the callback `proc_single_show` will call: `m->private` is the proc
/// inode's `vfs_inode`, and `PROC_I(inode)->op.proc_show` the callback.
pub const SINGLE_SHOW: &[Recipe] = &[(
    "seq_file",
    &[
        hop("seq_file", "private"),
        Hop {
            ty: "proc_inode",
            path: "op.proc_show",
            minus: Some("vfs_inode"),
        },
    ],
)];

/// To the pid namespace of the proc mount an inode belongs to:
/// `proc_pid_ns(inode->i_sb)`.
pub const PIDNS: &[Recipe] = &[(
    "inode",
    &[
        hop("inode", "i_sb"),
        hop("super_block", "s_fs_info"),
        hop("proc_fs_info", "pid_ns"),
    ],
)];

/// To the proc mount's `hidepid=` and `subset=` settings,
/// `proc_sb_info(sb)->hide_pid` (and `pidonly`, read with it), from the
/// directory inode, the dentry or the open directory a function is given.
pub const MOUNT_OPTS: &[Recipe] = &[
    (
        "inode",
        &[
            hop("inode", "i_sb"),
            hop("super_block", "s_fs_info"),
            hop("proc_fs_info", "hide_pid"),
        ],
    ),
    (
        "dentry",
        &[
            hop("dentry", "d_sb"),
            hop("super_block", "s_fs_info"),
            hop("proc_fs_info", "hide_pid"),
        ],
    ),
    (
        "file",
        &[
            hop("file", "f_inode"),
            hop("inode", "i_sb"),
            hop("super_block", "s_fs_info"),
            hop("proc_fs_info", "hide_pid"),
        ],
    ),
];

/// `proc_fs_info.pidonly`, which must directly follow `hide_pid` for the one
/// 8-byte read of [`MOUNT_OPTS`] to hold both.
pub const PIDONLY: (&str, &str) = ("proc_fs_info", "pidonly");
/// See [`PIDONLY`].
pub const HIDE_PID: (&str, &str) = ("proc_fs_info", "hide_pid");

/// Members walked for a task's tgid in a pid namespace (`task_tgid_nr_ns`):
/// the group leader's pid, its `numbers[level]`.
pub const NS_LEVEL: (&str, &str) = ("pid_namespace", "level");
/// See [`NS_LEVEL`].
pub const TASK_GROUP_LEADER: (&str, &str) = ("task_struct", "group_leader");
/// See [`NS_LEVEL`].
pub const TASK_THREAD_PID: (&str, &str) = ("task_struct", "thread_pid");
/// See [`NS_LEVEL`].
pub const PID_LEVEL: (&str, &str) = ("pid", "level");
/// See [`NS_LEVEL`].
pub const PID_NUMBERS: (&str, &str) = ("pid", "numbers");
/// See [`NS_LEVEL`].
pub const UPID_NR: (&str, &str) = ("upid", "nr");
/// See [`NS_LEVEL`].
pub const UPID_NS: (&str, &str) = ("upid", "ns");

/// Members walked from a task to the superblock magic of one of its fds.
pub const TASK_FILES: (&str, &str) = ("task_struct", "files");
/// See [`TASK_FILES`].
pub const FILES_FDT: (&str, &str) = ("files_struct", "fdt");
/// See [`TASK_FILES`].
pub const FDT_FD: (&str, &str) = ("fdtable", "fd");
/// See [`TASK_FILES`].
pub const FILE_INODE: (&str, &str) = ("file", "f_inode");
/// See [`TASK_FILES`].
pub const INODE_SB: (&str, &str) = ("inode", "i_sb");
/// See [`TASK_FILES`].
pub const SB_MAGIC: (&str, &str) = ("super_block", "s_magic");

/// Members of `struct task_struct` the descendant filter walks.
pub const TASK_REAL_PARENT: (&str, &str) = ("task_struct", "real_parent");
/// See [`TASK_REAL_PARENT`].
pub const TASK_TGID: (&str, &str) = ("task_struct", "tgid");

/// `struct pt_regs` members holding the first two syscall arguments (x86-64).
pub const REGS_ARG0: (&str, &str) = ("pt_regs", "di");
/// See [`REGS_ARG0`].
pub const REGS_ARG1: (&str, &str) = ("pt_regs", "si");
/// See [`REGS_ARG0`].
pub const REGS_ARG2: (&str, &str) = ("pt_regs", "dx");
/// See [`REGS_ARG0`]; the syscall ABI passes argument 3 in r10, not rcx.
pub const REGS_ARG3: (&str, &str) = ("pt_regs", "r10");
/// Where the syscall's number is kept while it runs (`ax` becomes its return value).
pub const REGS_NR: (&str, &str) = ("pt_regs", "orig_ax");
