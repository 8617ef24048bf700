//! A user-level operation: the probed calls one syscall caused on one thread.

use procfs_trace_common::Syscall;
use serde::Serialize;

use super::call::Call;
use crate::model::OpKind;

/// The syscall that framed an operation, with its arguments and result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyscallFrame {
    /// The syscall.
    #[serde(rename = "name")]
    pub syscall: Syscall,
    /// The path argument, for path syscalls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The fd or directory-fd argument.
    pub fd: i64,
    /// The `AT_*` flags argument (newfstatat, statx).
    #[serde(skip_serializing_if = "is_zero")]
    pub at_flags: u32,
    /// Its return value, when its exit was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ret: Option<i64>,
}

/// One user-level operation and the kernel calls it caused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Op {
    /// What it does.
    pub kind: OpKind,
    /// Process id.
    pub tgid: u32,
    /// Thread id.
    pub tid: u32,
    /// Task name at its start.
    pub comm: String,
    /// The framing syscall, when syscalls were followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syscall: Option<SyscallFrame>,
    /// The procfs path it concerns, when known (from the syscall's path, or the
    /// path an fd was opened with).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// For a relative path: the directory it was walked from (its dirfd's or
    /// the cwd's path), whose own components the walk does not cross again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_dir: Option<String>,
    /// The tgid the proc mount's pid namespace gives the task, when a
    /// /proc/self or /proc/thread-self link reported it (in a container's
    /// own /proc it is not `tgid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ns_tgid: Option<u32>,
    /// The thread's id there, when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ns_tid: Option<u32>,
    /// Start time (syscall entry, or first call).
    pub start_ns: u64,
    /// End time (syscall exit, or last return), when seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_ns: Option<u64>,
    /// Top-level calls, in order.
    pub calls: Vec<Call>,
    /// Exit events that matched no open call (their entry was lost, or came
    /// before tracing started).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub orphan_exits: Vec<&'static str>,
    /// Whether events may have been lost while it ran.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub lost: bool,
    /// For a read: whether it is the first through its fd since the open,
    /// when the trace saw the open and no copy shares the fd.
    #[serde(skip)]
    pub first_read: Option<bool>,
}

impl Op {
    /// When the operation ended: its end, else the last exit of its calls,
    /// else its start.
    pub fn span_end(&self) -> u64 {
        self.end_ns
            .unwrap_or_else(|| super::call::last_end(&self.calls).unwrap_or(self.start_ns))
    }

    /// Bytes a read returned (the syscall's result, else the top call's);
    /// 0 for other operations.
    pub fn bytes_read(&self) -> u64 {
        if self.kind != OpKind::Read {
            return 0;
        }
        let ret = self
            .syscall
            .as_ref()
            .and_then(|s| s.ret)
            .or_else(|| self.calls.first().and_then(|c| c.ret));
        ret.map_or(0, |r| r.max(0) as u64)
    }

    /// The tgid and thread id the proc mount's pid namespace gives the task:
    /// as a /proc/self or /proc/thread-self link reported them, else the
    /// global ones (older recordings, or a kernel without the layout).
    pub fn ns_ids(&self) -> (u32, u32) {
        (
            self.ns_tgid.unwrap_or(self.tgid),
            self.ns_tid.unwrap_or(self.tid),
        )
    }

    /// What is missing, when some exit (of a call or the syscall) was never seen.
    pub fn missing_exit(&self) -> Option<String> {
        if let Some(f) = self.orphan_exits.first() {
            return Some(format!("an exit of {f} came without its entry"));
        }
        if let Some(c) = open_call(&self.calls) {
            return Some(format!("the exit of {} never came", c.func()));
        }
        if self.end_ns.is_none() {
            return Some(match &self.syscall {
                Some(s) => format!("the exit of {}() never came", s.syscall.name()),
                None => "the operation never finished".to_owned(),
            });
        }
        None
    }

    /// Every call, depth first.
    pub fn all_calls(&self) -> impl Iterator<Item = &Call> {
        self.calls.iter().flat_map(Call::walk)
    }

    /// Kernel time: the sum of the top-level calls' durations.
    pub fn kernel_ns(&self) -> u64 {
        self.calls.iter().filter_map(Call::duration_ns).sum()
    }
}

/// The first call, depth first, whose exit never came (checked for every
/// operation, so without the walk's allocation).
fn open_call(calls: &[Call]) -> Option<&Call> {
    calls.iter().find_map(|c| match c.end_ns {
        None => Some(c),
        Some(_) => open_call(&c.children),
    })
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}
