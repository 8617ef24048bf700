//! Why an operation is outside the model: the reasons behind an `unknown` verdict.

use thiserror::Error;

use super::{errno::format_ret, version::KernelVersion};

/// What the model cannot predict, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Unmodelled {
    /// The path is not an absolute path under /proc.
    #[error("{path} is not under /proc (relative paths depend on a cwd the trace does not show)")]
    NotUnderProc {
        /// The path.
        path: String,
    },
    /// A followed symlink led out of procfs and the walk went on there.
    #[error("{at}: the walk left procfs through a symlink")]
    LeftProc {
        /// Where the walk was.
        at: String,
    },
    /// A `..` above the proc mount's root: the walk goes on outside procfs.
    #[error("{at}: `..` climbs out of the proc mount")]
    AboveProcRoot {
        /// Where the walk was.
        at: String,
    },
    /// A part of the tree below a node the model does not describe.
    #[error("{at}: below {what} is outside the model")]
    Below {
        /// Where the walk was.
        at: String,
        /// The node whose inside is not modelled.
        what: String,
    },
    /// /proc/self followed by a task the mount's pid namespace does not
    /// number (proc_self_get_link then fails with -ENOENT).
    #[error("{at}: the task has no pid in this proc mount's namespace, so following self fails; failing links are outside the model")]
    NoPidInMount {
        /// Where the walk was.
        at: String,
    },
    /// A name a pid directory does not have on this kernel.
    #[error("{at}: no such entry in {table} for kernel {version}")]
    NoSuchEntry {
        /// Where the walk was.
        at: String,
        /// The pid table searched.
        table: &'static str,
        /// The kernel.
        version: KernelVersion,
    },
    /// A walk through something that is not a directory.
    #[error("{at} is not a directory")]
    NotADirectory {
        /// Where the walk was.
        at: String,
    },
    /// The syscall failed.
    #[error("the syscall failed ({}); failing walks are outside the model", format_ret(*.ret))]
    FailedWalk {
        /// Its result.
        ret: i64,
    },
    /// The walk ends in a symlink and whether the syscall follows it is not known.
    #[error(
        "{syscall} may or may not follow the final symlink of {path}: its flags are not traced"
    )]
    FollowUnknown {
        /// The syscall, as a reader names it.
        syscall: &'static str,
        /// The path.
        path: String,
    },
    /// A listing whose starting position was not read.
    #[error("the listing's starting position was not read")]
    NoStartPosition,
    /// A read that failed.
    #[error("the read failed; failing reads are outside the model")]
    FailedRead,
    /// Reading a file the model does not describe.
    #[error("reading {what} is outside the model")]
    Read {
        /// The file.
        what: String,
    },
    /// Listing a directory the model does not describe.
    #[error("listing {what} is outside the model")]
    Listing {
        /// The directory.
        what: String,
    },
    /// Reading a symlink the model does not describe.
    #[error("readlink of {what} is outside the model")]
    Readlink {
        /// The node.
        what: String,
    },
}
