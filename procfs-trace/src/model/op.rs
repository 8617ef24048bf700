//! What the model is asked about: the kind of a user-level operation and the
//! facts of one operation, with each syscall's kind and symlink rule taken
//! from the one syscall table (`procfs_trace_common::for_each_syscall!`).

use procfs_trace_common::{Group, ProbeId, Syscall, AT_SYMLINK_NOFOLLOW};
use serde::Serialize;

use super::mount::MountOpts;

/// What a user-level operation does to procfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    /// A path walk (open, stat, exec): lookups and revalidations.
    Lookup,
    /// A directory listing (getdents).
    Readdir,
    /// A read of an open file.
    Read,
    /// Reading a symlink.
    Readlink,
}

/// The operation kind of a syscall table row: `CopyFd` and `SetCwd` do no
/// procfs work.
macro_rules! op_kind {
    (CopyFd) => {
        None
    };
    (SetCwd) => {
        None
    };
    ($kind:ident) => {
        Some(OpKind::$kind)
    };
}

/// The final-symlink rule of a syscall table row.
macro_rules! follows {
    (follow, $flags:ident) => {
        Some(true)
    };
    (nofollow, $flags:ident) => {
        Some(false)
    };
    (at_flags, $flags:ident) => {
        Some($flags & AT_SYMLINK_NOFOLLOW == 0)
    };
    (na, $flags:ident) => {
        None
    };
}

macro_rules! syscall_rules {
    ($(($nr:literal, $name:ident, $id:ident, $shape:ident, $op:ident, $follow:ident, $fl:tt)),* $(,)?) => {
        impl OpKind {
            /// The kind of work a syscall does; `None` for one that only copies an fd.
            pub fn of_syscall(syscall: Syscall) -> Option<OpKind> {
                match syscall {
                    $(Syscall::$id => op_kind!($op),)*
                }
            }
        }

        /// Whether `syscall` follows a final symlink (given its `AT_*` flags
        /// argument): not lstat and readlink, yes open, stat and exec, as
        /// `AT_SYMLINK_NOFOLLOW` says for newfstatat and statx; `None` when it
        /// walks no path.
        pub fn follows_final(syscall: Syscall, at_flags: u32) -> Option<bool> {
            match syscall {
                $(Syscall::$id => follows!($follow, at_flags),)*
            }
        }
    };
}
procfs_trace_common::for_each_syscall!(syscall_rules);

impl OpKind {
    /// The kind suggested by the first call, for work no followed syscall framed.
    pub fn of_call(probe: ProbeId) -> OpKind {
        match probe.def().group {
            Group::Lookup => OpKind::Lookup,
            Group::Readdir => OpKind::Readdir,
            Group::Read | Group::Show => OpKind::Read,
            Group::Link => OpKind::Readlink,
        }
    }

    /// Lower-case name, as in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Lookup => "lookup",
            OpKind::Readdir => "readdir",
            OpKind::Read => "read",
            OpKind::Readlink => "readlink",
        }
    }
}

/// What the model needs to know about an operation.
#[derive(Debug, Clone)]
pub struct OpFacts<'a> {
    /// What it does.
    pub kind: OpKind,
    /// The syscall, when known.
    pub syscall: Option<Syscall>,
    /// Its `AT_*` flags argument (newfstatat, statx).
    pub at_flags: u32,
    /// The procfs path it concerns.
    pub path: &'a str,
    /// The task's tgid as the walked proc mount's pid namespace numbers it:
    /// what /proc/self resolves to (0: the task has no number there).
    pub tgid: u32,
    /// The thread's id there: what /proc/thread-self ends in.
    pub tid: u32,
    /// Position the listing starts at (readdir).
    pub pos_in: Option<i64>,
    /// The syscall's result, when seen.
    pub ret: Option<i64>,
    /// For a read: whether it is the first through its open file, when known.
    pub first_read: Option<bool>,
    /// The options of the proc mount it works in.
    pub mount: MountOpts,
    /// For a relative path: the directory the walk starts from.
    pub start_dir: Option<&'a str>,
}

impl OpFacts<'_> {
    /// The part of `ret` a prediction depends on: all of a read's, and of a
    /// walk's or a listing's only its errno (success predicts the same calls
    /// whatever fd or count it returned).
    pub fn deciding_ret(&self) -> Option<i64> {
        match self.kind {
            OpKind::Read => self.ret,
            _ => self.ret.map(|r| r.min(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscalls_have_their_kind_and_symlink_rule() {
        assert_eq!(OpKind::of_syscall(Syscall::Openat), Some(OpKind::Lookup));
        assert_eq!(
            OpKind::of_syscall(Syscall::Getdents64),
            Some(OpKind::Readdir)
        );
        assert_eq!(OpKind::of_syscall(Syscall::Sendfile), Some(OpKind::Read));
        assert_eq!(
            OpKind::of_syscall(Syscall::Readlinkat),
            Some(OpKind::Readlink)
        );
        assert_eq!(OpKind::of_syscall(Syscall::Fcntl), None);
        assert_eq!(follows_final(Syscall::Lstat, 0), Some(false));
        assert_eq!(follows_final(Syscall::Execve, 0), Some(true));
        assert_eq!(follows_final(Syscall::Statx, 0), Some(true));
        assert_eq!(
            follows_final(Syscall::Newfstatat, AT_SYMLINK_NOFOLLOW),
            Some(false)
        );
        assert_eq!(follows_final(Syscall::Read, 0), None);
    }
}
