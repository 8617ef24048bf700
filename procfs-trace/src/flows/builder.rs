//! Turns the interleaved event stream into operations.
//!
//! Each thread has at most one operation in progress: a followed syscall's
//! entry opens it, probe entries and exits build its call tree, and the
//! syscall's exit completes it. Work no followed syscall framed (a syscall
//! procfs-trace does not follow, or syscalls not attachable) becomes an
//! operation of its own that ends when its outermost call returns.
//!
//! An operation that lost events is marked, never judged on what is left. A
//! followed syscall knows when the ring buffer was full: the kernel flags its
//! exit when one of its events, on its thread, could not be written. Unframed
//! work has no such witness, and no operation has one for the losses nothing
//! can flag (probe runs the kernel skipped, kprobe misses, failed map
//! inserts): completed operations are held until [`FlowBuilder::release`],
//! which the caller invokes right after reading the kernel's loss counters,
//! and a loss marks every operation whose time overlaps the stretch the
//! counters covered. By time, not by release: events can wait in the ring
//! buffer for seconds under load, so an operation decoded now may have been
//! hit by a loss that an earlier reading counted.

use std::{collections::HashMap, sync::Arc};

use procfs_trace_common::{shape, ProbeId, Role, Syscall};

use super::{
    call::Call,
    fd_table::FdTable,
    op::{Op, SyscallFrame},
};
use crate::{
    events::{
        decode::{Event, Phase, ProbeHit, SyscallHit},
        pairs::Unpairer,
        Symbolize,
    },
    model::{walk::below_proc, OpKind},
};

/// What the kernel's loss counters said of a stretch of time, the weaker
/// first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Losses {
    /// Nothing was lost.
    None,
    /// Only events the kernel flags on their syscall's exit (the ring buffer
    /// was full): work no followed syscall framed may have been hit.
    Flagged,
    /// Losses nothing flags: any operation of the stretch may have been hit.
    Unflagged,
}

/// One reading of the kernel's loss counters: what they counted since the
/// previous reading, and the kernel time (CLOCK_MONOTONIC ns) they cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// What was lost.
    pub losses: Losses,
    /// Before the previous reading: no loss it counted is older.
    pub from_ns: u64,
    /// After this reading: no loss it counted is newer.
    pub to_ns: u64,
}

impl Window {
    /// A reading that counted nothing.
    pub const WHOLE: Window = Window {
        losses: Losses::None,
        from_ns: 0,
        to_ns: 0,
    };

    /// One window covering both, with the stronger losses: it marks every
    /// operation either would, and maybe more.
    fn merged(self, other: Window) -> Window {
        Window {
            losses: self.losses.max(other.losses),
            from_ns: self.from_ns.min(other.from_ns),
            to_ns: self.to_ns.max(other.to_ns),
        }
    }

    /// Whether its losses may have hit `op`, which lasted until `end_ns`.
    fn may_have_hit(&self, op: &Op, end_ns: u64) -> bool {
        let overlaps = op.start_ns <= self.to_ns && end_ns >= self.from_ns;
        overlaps && (op.syscall.is_none() || self.losses == Losses::Unflagged)
    }
}

/// Open calls deeper than this on one thread mean exits were lost.
const MAX_DEPTH: usize = 64;

/// Lossy windows kept apart at most; beyond it the oldest two are merged.
/// Windows are kept until no operation they may overlap can still come, and
/// a thread that died mid-operation leaves one open for good.
const MAX_LOSSY: usize = 64;

/// How far an event's time may lag its place in the ring buffer: its
/// timestamp is taken before its slot is reserved, and the program may be
/// preempted between the two. Lossy windows are kept this much longer than
/// the newest event, for operations still in the buffer.
const RING_ORDER_SLACK_NS: u64 = 1_000_000_000;

/// A thread's operation in progress.
struct Open {
    op: Op,
    /// Path from the top-level call to the innermost open call, as indexes.
    stack: Vec<usize>,
    /// Whether a syscall frames it (else it ends at depth 0).
    framed: bool,
}

/// Rebuilds operations from events.
#[derive(Default)]
pub struct FlowBuilder {
    open: HashMap<u32, Open, foldhash::fast::RandomState>,
    done: Vec<Op>,
    fds: FdTable,
    /// Readings with losses that operations not yet released may overlap.
    lossy: Vec<Window>,
    /// The readings dropped from `lossy`, merged: only an operation that
    /// began before the stream passed them overlaps it, one whose syscall
    /// blocked for long (its records come at its exit).
    forgotten: Option<Window>,
    /// Time of the newest event fed.
    newest_ns: u64,
    /// Paired records waiting for their syscall's.
    pairs: Unpairer,
    /// Events unfolded from a record, reused.
    ready: Vec<Event>,
}

impl FlowBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one record; `show` resolves a callback address to a name.
    pub fn push(&mut self, ev: Event, show: Symbolize) {
        self.newest_ns = self.newest_ns.max(ev.origin().ts_ns);
        let mut ready = std::mem::take(&mut self.ready);
        self.pairs.push(ev, &mut ready);
        for mut ev in ready.drain(..) {
            self.feed(&mut ev, show);
        }
        self.ready = ready;
    }

    /// Feeds one event in the order things happened, taking the strings it
    /// keeps.
    fn feed(&mut self, ev: &mut Event, show: Symbolize) {
        match ev {
            Event::Call(_) | Event::SyscallCall(_) => {
                unreachable!("the unpairer unfolds paired records")
            }
            Event::Syscall(s) => match s.phase {
                Phase::Entry => self.syscall_entry(s),
                Phase::Exit => self.syscall_exit(s),
            },
            Event::Probe(p) => match p.phase {
                Phase::Entry => {
                    let show = p.addr.and_then(show);
                    self.probe_entry(p, show)
                }
                Phase::Exit => self.probe_exit(p),
            },
        }
    }

    /// Completed operations, those that `window`'s losses, or an earlier
    /// reading's, may have hit marked.
    pub fn release(&mut self, window: Window) -> Vec<Op> {
        if window.losses != Losses::None {
            self.keep(window);
        }
        let done = self.take_marked();
        // Operations not fed yet start after the newest event, give or take
        // the ring's slack; those in progress after their own start.
        let horizon = self
            .open
            .values()
            .map(|o| o.op.start_ns)
            .fold(self.newest_ns.saturating_sub(RING_ORDER_SLACK_NS), u64::min);
        let (kept, old): (Vec<Window>, Vec<Window>) = std::mem::take(&mut self.lossy)
            .into_iter()
            .partition(|w| w.to_ns >= horizon);
        self.lossy = kept;
        for w in old {
            self.forgotten = Some(self.forgotten.map_or(w, |f| f.merged(w)));
        }
        done
    }

    /// Every lossy window an operation released now may overlap.
    fn windows(&self) -> impl Iterator<Item = &Window> {
        self.lossy.iter().chain(&self.forgotten)
    }

    /// Ends every operation in progress (end of trace), as incomplete, and
    /// releases all, marked as the losses read so far say.
    pub fn finish(&mut self) -> Vec<Op> {
        let mut ready = std::mem::take(&mut self.ready);
        self.pairs.finish(&mut ready);
        for mut ev in ready.drain(..) {
            self.feed(&mut ev, &|_| None);
        }
        let mut done = self.take_marked();
        let open: Vec<Open> = self.open.drain().map(|(_, o)| o).collect();
        for o in open {
            let mut op = o.op;
            // Still in progress when the trace ended: any later loss counts.
            op.lost |= self.windows().any(|w| w.may_have_hit(&op, u64::MAX));
            done.push(op);
        }
        done.sort_by_key(|op| op.start_ns);
        done
    }

    /// Keeps a lossy window: merged into the last when they touch and say
    /// the same (a sustained loss stays one window), and within [`MAX_LOSSY`].
    fn keep(&mut self, w: Window) {
        match self.lossy.last_mut() {
            Some(last) if last.losses == w.losses && w.from_ns <= last.to_ns => {
                *last = last.merged(w);
            }
            _ => self.lossy.push(w),
        }
        if self.lossy.len() > MAX_LOSSY {
            let oldest = self.lossy.remove(0);
            self.lossy[0] = oldest.merged(self.lossy[0]);
        }
    }

    fn take_marked(&mut self) -> Vec<Op> {
        let mut done = std::mem::take(&mut self.done);
        for op in &mut done {
            op.lost |= self.windows().any(|w| w.may_have_hit(op, op.span_end()));
        }
        done
    }

    fn syscall_entry(&mut self, s: &mut SyscallHit) {
        // A previous operation whose exit never came: keep it, incomplete.
        if let Some(prev) = self.open.remove(&s.origin.tid) {
            self.done.push(prev.op);
        }
        let (path, start_dir) = match &s.path {
            Some(p) => match self.start_dir(s, p) {
                Some(dir) => (Some(join(&dir, p)), Some(dir)),
                None => (Some(p.clone()), None),
            },
            None => (self.fds.path(s.origin.tgid, s.fd).cloned(), None),
        };
        let kind = OpKind::of_syscall(s.syscall).unwrap_or(OpKind::Lookup);
        // pread's offset is not traced: one at 0 starts the seq_file afresh.
        let first_read = match kind {
            OpKind::Read if s.syscall != Syscall::Pread64 => self.fds.read(s.origin.tgid, s.fd),
            _ => None,
        };
        let op = Op {
            kind,
            tgid: s.origin.tgid,
            tid: s.origin.tid,
            comm: std::mem::take(&mut s.origin.comm),
            syscall: Some(SyscallFrame {
                syscall: s.syscall,
                path: s.path.take(),
                fd: s.fd,
                at_flags: s.at_flags,
                ret: None,
            }),
            path,
            start_dir,
            ns_tgid: None,
            ns_tid: None,
            start_ns: s.origin.ts_ns,
            end_ns: None,
            calls: Vec::new(),
            orphan_exits: Vec::new(),
            lost: false,
            first_read,
        };
        self.open.insert(
            s.origin.tid,
            Open {
                op,
                stack: Vec::new(),
                framed: true,
            },
        );
    }

    /// The directory a relative `path` is walked from, when the trace can
    /// name it: its directory fd's path (`openat(dirfd, "status")`) or the
    /// process's cwd, as the trace saw them opened or set. A path climbing
    /// with `..` (whose parent through a symlink is not its lexical parent)
    /// has none.
    fn start_dir(&self, s: &SyscallHit, path: &str) -> Option<String> {
        if path.starts_with('/') || path.split('/').any(|c| c == "..") {
            return None;
        }
        let tgid = s.origin.tgid;
        match s.syscall.shape() == shape::AT_PATH && s.fd != AT_FDCWD {
            true => self.fds.path(tgid, s.fd),
            false => self.fds.cwd(tgid),
        }
        .cloned()
    }

    fn syscall_exit(&mut self, s: &SyscallHit) {
        let Some(mut open) = self.open.remove(&s.origin.tid) else {
            return;
        };
        // The kernel says some of this syscall's events are missing.
        open.op.lost |= s.lost;
        let Some(sys) = open
            .op
            .syscall
            .as_mut()
            .filter(|sys| sys.syscall == s.syscall)
        else {
            // Not the syscall this operation started with: its exit belongs to
            // work we did not frame; keep the operation as it is.
            self.done.push(open.op);
            return;
        };
        sys.ret = s.ret;
        let new_fd = s.ret.filter(|r| *r >= 0);
        let tgid = s.origin.tgid;
        // Bookkeeping, not procfs work unless procfs was walked.
        let bookkeeping = match sys.syscall.shape() {
            shape::DUP => {
                if let Some(new) = new_fd {
                    self.fds.copied(tgid, sys.fd, new);
                }
                true
            }
            shape::CWD_FD => {
                if new_fd.is_some() {
                    let dir = self.fds.path(tgid, sys.fd).cloned();
                    self.fds.chdir(tgid, dir);
                }
                true
            }
            shape::CWD_PATH => {
                if new_fd.is_some() {
                    // A relative path the trace could not resolve leaves the
                    // cwd unknown.
                    let dir = open.op.path.clone().filter(|p| p.starts_with('/'));
                    self.fds.chdir(tgid, dir);
                }
                open.op.path.as_deref().and_then(below_proc).is_none()
            }
            _ => false,
        };
        if bookkeeping && open.op.calls.is_empty() {
            return;
        }
        let opens = matches!(sys.syscall, Syscall::Open | Syscall::Openat);
        // The fd names the path as the walk saw it (joined to its dirfd).
        let opened = match (new_fd, &open.op.path) {
            (Some(fd), Some(path)) if opens => Some((fd, path.clone())),
            _ => None,
        };
        open.op.end_ns = Some(s.origin.ts_ns);
        if open.op.path.is_none() {
            open.op.path = infer_dir(&open.op);
        }
        if let Some((fd, path)) = opened {
            self.fds.opened(tgid, fd, path);
        }
        self.done.push(open.op);
    }

    fn probe_entry(&mut self, p: &mut ProbeHit, show: Option<Arc<str>>) {
        let open = self.open.entry(p.origin.tid).or_insert_with(|| Open {
            op: Op {
                kind: OpKind::of_call(p.probe),
                tgid: p.origin.tgid,
                tid: p.origin.tid,
                comm: std::mem::take(&mut p.origin.comm),
                syscall: None,
                path: None,
                start_dir: None,
                ns_tgid: None,
                ns_tid: None,
                start_ns: p.origin.ts_ns,
                end_ns: None,
                calls: Vec::new(),
                orphan_exits: Vec::new(),
                lost: false,
                first_read: None,
            },
            stack: Vec::new(),
            framed: false,
        });
        if open.stack.len() >= MAX_DEPTH {
            // Exits were lost; restart nesting at the top rather than grow forever.
            open.stack.clear();
        }
        if p.probe.def().role == Role::SelfLink {
            let id = |n: Option<i64>| n.and_then(|n| u32::try_from(n).ok());
            open.op.ns_tgid = open.op.ns_tgid.or(id(p.pos));
            open.op.ns_tid = open.op.ns_tid.or(id(p.ns_tid));
        }
        let call = Call::open(p, show);
        let siblings = children_at(&mut open.op.calls, &open.stack);
        if siblings.capacity() == 0 {
            // Most calls make one probed call, or none: the default first
            // allocation (room for four) was most of the builder's memory.
            siblings.reserve_exact(1);
        }
        siblings.push(call);
        let idx = siblings.len() - 1;
        open.stack.push(idx);
    }

    fn probe_exit(&mut self, p: &ProbeHit) {
        let Some(open) = self.open.get_mut(&p.origin.tid) else {
            return;
        };
        // Find the innermost open call of this function; calls above it lost
        // their exits and stay open (end_ns None).
        let mut depth = open.stack.len();
        let found = loop {
            if depth == 0 {
                break None;
            }
            depth -= 1;
            let call = call_at(&mut open.op.calls, &open.stack[..=depth]);
            if call.probe == p.probe && call.end_ns.is_none() {
                call.close(p);
                break Some(depth);
            }
        };
        match found {
            Some(d) => open.stack.truncate(d),
            None => open.op.orphan_exits.push(p.probe.def().func),
        }
        if !open.framed && open.stack.is_empty() {
            let mut open = self.open.remove(&p.origin.tid).expect("present above");
            open.op.end_ns = Some(p.origin.ts_ns);
            self.done.push(open.op);
        }
    }
}

/// The `dirfd` that names the cwd (include/uapi/linux/fcntl.h).
const AT_FDCWD: i64 = -100;

/// The directory a listing works on, when its calls say it without the fd
/// table: the proc root's own readdir, or a pid directory's (named by its pid).
fn infer_dir(op: &Op) -> Option<String> {
    let first = op.calls.first()?;
    match first.probe {
        ProbeId::ProcRootReaddir => Some("/proc".to_owned()),
        ProbeId::ProcTgidBaseReaddir => first
            .name
            .as_ref()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .map(|n| format!("/proc/{n}")),
        _ => None,
    }
}

/// The children list at `path` (the top-level list for an empty path).
fn children_at<'a>(calls: &'a mut Vec<Call>, path: &[usize]) -> &'a mut Vec<Call> {
    match path.split_first() {
        None => calls,
        Some((&i, rest)) => children_at(&mut calls[i].children, rest),
    }
}

/// `path` below the directory `dir`.
fn join(dir: &str, path: &str) -> String {
    match path.trim_start_matches("./") {
        "" | "." => dir.to_owned(),
        p => format!("{}/{p}", dir.trim_end_matches('/')),
    }
}

/// The call at a non-empty `path`.
fn call_at<'a>(calls: &'a mut [Call], path: &[usize]) -> &'a mut Call {
    let (&i, rest) = path.split_first().expect("non-empty path");
    if rest.is_empty() {
        &mut calls[i]
    } else {
        call_at(&mut calls[i].children, rest)
    }
}

#[cfg(test)]
mod tests {
    use procfs_trace_common::ProbeId;

    use super::*;
    use crate::{events::pairs::pair_like_the_kernel, flows::script::Script};

    /// A reading with `losses` covering all time.
    fn lossy(losses: Losses) -> Window {
        Window {
            losses,
            from_ns: 0,
            to_ns: u64::MAX,
        }
    }

    fn fed(s: &Script) -> FlowBuilder {
        let mut b = FlowBuilder::new();
        for e in &s.events {
            b.push(e.clone(), &|_| None);
        }
        b
    }

    #[test]
    fn a_syscall_frames_its_call_tree() {
        let mut s = Script::new();
        s.sys(7, Syscall::Openat, Some("/proc/7/limits"), -100)
            .pid_lookup(7, "7")
            .enter(7, ProbeId::ProcTgidBaseLookup, Some("limits"))
            .exit(7, ProbeId::ProcTgidBaseLookup, 0)
            .sys_ret(7, Syscall::Openat, 3);
        let ops = s.ops();
        assert_eq!(ops.len(), 1);
        let op = &ops[0];
        assert_eq!(op.kind, OpKind::Lookup);
        assert_eq!(op.path.as_deref(), Some("/proc/7/limits"));
        assert_eq!(op.calls.len(), 2);
        assert_eq!(op.calls[0].children[0].probe, ProbeId::ProcPidLookup);
        assert_eq!(op.syscall.as_ref().unwrap().ret, Some(3));
        assert!(op.missing_exit().is_none());
    }

    #[test]
    fn reads_take_the_path_their_fd_was_opened_with() {
        let mut s = Script::new();
        s.sys(7, Syscall::Openat, Some("/proc/7/limits"), -100)
            .enter(7, ProbeId::ProcTgidBaseLookup, Some("limits"))
            .exit(7, ProbeId::ProcTgidBaseLookup, 0)
            .sys_ret(7, Syscall::Openat, 3)
            .sys(7, Syscall::Read, None, 3)
            .enter_with(7, ProbeId::SeqReadIter, Some("limits"), None, Some(0xabc))
            .exit(7, ProbeId::SeqReadIter, 100)
            .sys_ret(7, Syscall::Read, 100)
            .sys(7, Syscall::Read, None, 4)
            .enter(7, ProbeId::SeqReadIter, Some("stat"))
            .exit(7, ProbeId::SeqReadIter, 100)
            .sys_ret(7, Syscall::Read, 100);
        let ops = s.ops();
        assert_eq!(ops[1].kind, OpKind::Read);
        assert_eq!(ops[1].path.as_deref(), Some("/proc/7/limits"));
        assert_eq!(ops[1].calls[0].show.as_deref(), Some("fn_abc"));
        assert_eq!(ops[2].path, None, "fd 4 was never opened in the trace");
    }

    /// `read l < /proc/7/stat` in a shell: open, dup2 onto fd 0, read fd 0.
    #[test]
    fn paths_relative_to_a_directory_fd_are_joined_to_its_path() {
        let mut s = Script::new();
        s.sys(7, Syscall::Openat, Some("/proc/7/ns"), -100)
            .enter(7, ProbeId::PidRevalidate, Some("7"))
            .exit(7, ProbeId::PidRevalidate, 1)
            .sys_ret(7, Syscall::Openat, 5)
            .sys(7, Syscall::Readlinkat, Some("net"), 5)
            .enter(7, ProbeId::ProcNsReadlink, Some("net"))
            .exit(7, ProbeId::ProcNsReadlink, 16)
            .sys_ret(7, Syscall::Readlinkat, 16)
            .sys(7, Syscall::Openat, Some("../status"), 5)
            .enter(7, ProbeId::PidRevalidate, Some("status"))
            .exit(7, ProbeId::PidRevalidate, 1)
            .sys_ret(7, Syscall::Openat, 6)
            .sys(7, Syscall::Openat, Some("limits"), -100)
            .enter(7, ProbeId::PidRevalidate, Some("limits"))
            .exit(7, ProbeId::PidRevalidate, 1)
            .sys_ret(7, Syscall::Openat, 6);
        let ops = s.ops();
        assert_eq!(ops[1].path.as_deref(), Some("/proc/7/ns/net"));
        assert_eq!(
            ops[1].syscall.as_ref().unwrap().path.as_deref(),
            Some("net"),
            "the syscall keeps its own argument"
        );
        assert_eq!(
            ops[2].path.as_deref(),
            Some("../status"),
            "`..` is not lexical in /proc"
        );
        assert_eq!(
            ops[3].path.as_deref(),
            Some("limits"),
            "the cwd is not traced"
        );
    }

    #[test]
    fn reads_through_a_copied_fd_keep_the_path() {
        let mut s = Script::new();
        s.sys(7, Syscall::Openat, Some("/proc/7/stat"), -100)
            .sys_ret(7, Syscall::Openat, 3)
            .sys(7, Syscall::Dup2, None, 3)
            .sys_ret(7, Syscall::Dup2, 0)
            .sys(7, Syscall::Read, None, 0)
            .enter(7, ProbeId::SeqReadIter, Some("stat"))
            .exit(7, ProbeId::SeqReadIter, 1)
            .sys_ret(7, Syscall::Read, 1)
            // fd 0 copied from an fd opened outside the trace: the old path goes.
            .sys(7, Syscall::Dup2, None, 9)
            .sys_ret(7, Syscall::Dup2, 0)
            .sys(7, Syscall::Read, None, 0)
            .enter(7, ProbeId::SeqReadIter, Some("limits"))
            .exit(7, ProbeId::SeqReadIter, 1)
            .sys_ret(7, Syscall::Read, 1);
        let ops = s.ops();
        let names: Vec<_> = ops
            .iter()
            .map(|o| o.syscall.as_ref().unwrap().syscall.name())
            .collect();
        assert_eq!(
            names,
            ["openat", "read", "read"],
            "a dup is not an operation"
        );
        assert_eq!(ops[1].path.as_deref(), Some("/proc/7/stat"));
        assert_eq!(ops[2].path, None);
    }

    #[test]
    fn interleaved_threads_stay_apart() {
        let mut s = Script::new();
        s.sys(1, Syscall::Getdents64, None, 3)
            .sys(2, Syscall::Openat, Some("/proc/meminfo"), -100)
            .enter_with(1, ProbeId::ProcRootReaddir, None, Some(0), None)
            .enter(2, ProbeId::ProcRootLookup, Some("meminfo"))
            .exit_with(1, ProbeId::ProcRootReaddir, 0, Some(300))
            .exit(2, ProbeId::ProcRootLookup, 0)
            .sys_ret(2, Syscall::Openat, 3)
            .sys_ret(1, Syscall::Getdents64, 80);
        let ops = s.ops();
        assert_eq!(ops.len(), 2);
        let readdir = ops.iter().find(|o| o.tid == 1).unwrap();
        assert_eq!(readdir.kind, OpKind::Readdir);
        assert_eq!(readdir.calls.len(), 1);
        assert_eq!(readdir.calls[0].pos_out, Some(300));
        let lookup = ops.iter().find(|o| o.tid == 2).unwrap();
        assert_eq!(lookup.calls[0].name.as_deref(), Some("meminfo"));
    }

    #[test]
    fn a_missing_exit_leaves_the_call_open_and_the_op_incomplete() {
        let mut s = Script::new();
        s.sys(7, Syscall::Openat, Some("/proc/7/limits"), -100)
            .enter(7, ProbeId::ProcRootLookup, Some("7"))
            .enter(7, ProbeId::ProcPidLookup, Some("7"))
            // proc_pid_lookup's exit is lost
            .exit(7, ProbeId::ProcRootLookup, 0)
            .sys_ret(7, Syscall::Openat, 3);
        let ops = s.ops();
        let op = &ops[0];
        assert!(op.missing_exit().is_some());
        assert!(op.calls[0].end_ns.is_some());
        assert_eq!(op.calls[0].children[0].end_ns, None);
    }

    #[test]
    fn an_exit_without_entry_is_recorded() {
        let mut s = Script::new();
        s.sys(7, Syscall::Read, None, 3)
            .exit(7, ProbeId::SeqReadIter, 10)
            .sys_ret(7, Syscall::Read, 10);
        let ops = s.ops();
        assert_eq!(ops[0].orphan_exits, vec!["seq_read_iter"]);
        assert!(ops[0].missing_exit().is_some());
    }

    #[test]
    fn recursion_pairs_innermost_first() {
        let mut s = Script::new();
        s.sys(7, Syscall::Read, None, 3)
            .enter(7, ProbeId::SeqReadIter, Some("a"))
            .enter(7, ProbeId::SeqReadIter, Some("b"))
            .exit(7, ProbeId::SeqReadIter, 1)
            .exit(7, ProbeId::SeqReadIter, 2)
            .sys_ret(7, Syscall::Read, 2);
        let op = &s.ops()[0];
        assert_eq!(op.calls.len(), 1);
        assert_eq!(op.calls[0].ret, Some(2));
        assert_eq!(op.calls[0].children[0].ret, Some(1));
    }

    #[test]
    fn a_thread_that_vanishes_mid_flow_is_kept_incomplete() {
        let mut s = Script::new();
        s.sys(7, Syscall::Openat, Some("/proc/7/status"), -100)
            .enter(7, ProbeId::ProcRootLookup, Some("7"));
        let ops = s.ops();
        assert_eq!(ops.len(), 1);
        assert!(ops[0].missing_exit().is_some());
        assert_eq!(ops[0].end_ns, None);
    }

    #[test]
    fn unframed_work_ends_with_its_outermost_call() {
        let mut s = Script::new();
        s.enter(9, ProbeId::ProcRootLookup, Some("1"))
            .exit(9, ProbeId::ProcRootLookup, 0)
            .enter(9, ProbeId::SeqReadIter, Some("stat"))
            .exit(9, ProbeId::SeqReadIter, 5);
        let ops = s.ops();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].kind, OpKind::Lookup);
        assert_eq!(ops[1].kind, OpKind::Read);
        assert!(ops
            .iter()
            .all(|o| o.syscall.is_none() && o.missing_exit().is_none()));
    }

    #[test]
    fn losses_mark_held_and_open_unframed_operations() {
        let mut s = Script::new();
        s.enter(7, ProbeId::SeqReadIter, None)
            .exit(7, ProbeId::SeqReadIter, 1)
            .enter(8, ProbeId::SeqReadIter, None);
        let mut b = fed(&s);
        let first = b.release(lossy(Losses::Flagged));
        assert_eq!(first.len(), 1);
        assert!(first[0].lost);
        let rest = b.finish();
        assert!(rest[0].lost, "open during the loss");
        let mut b = fed(&s);
        assert!(!b.release(Window::WHOLE)[0].lost);
    }

    /// Losses elsewhere do not touch a syscall whose exit says it is whole:
    /// under a flood, complete operations keep their verdicts.
    #[test]
    fn a_syscall_is_marked_only_by_its_own_losses() {
        let mut s = Script::new();
        s.sys(7, Syscall::Read, None, 3)
            .enter(7, ProbeId::SeqReadIter, None)
            .exit(7, ProbeId::SeqReadIter, 1)
            .sys_ret(7, Syscall::Read, 1)
            .sys(8, Syscall::Read, None, 3)
            .enter(8, ProbeId::SeqRead, None)
            .exit(8, ProbeId::SeqRead, 1)
            .sys_ret_lost(8, Syscall::Read, 1);
        let mut b = fed(&s);
        let ops = b.release(lossy(Losses::Flagged));
        let lost: Vec<_> = ops.iter().map(|o| (o.tid, o.lost)).collect();
        assert_eq!(lost, [(7, false), (8, true)]);
    }

    /// A probe run the kernel skipped leaves no trace on the syscall it was
    /// part of, which may then look whole: every operation of the window is
    /// marked, framed or not, done or still open.
    #[test]
    fn unflagged_losses_mark_every_operation_of_the_window() {
        let mut s = Script::new();
        s.sys(7, Syscall::Read, None, 3)
            .enter(7, ProbeId::SeqReadIter, None)
            .exit(7, ProbeId::SeqReadIter, 1)
            .sys_ret(7, Syscall::Read, 1)
            .sys(8, Syscall::Read, None, 3);
        let mut b = fed(&s);
        let done = b.release(lossy(Losses::Unflagged));
        assert_eq!(done.len(), 1);
        assert!(done[0].lost, "a framed, complete syscall");
        assert!(b.finish()[0].lost, "open during the loss");
    }

    /// Under load, events wait in the ring buffer: a loss counted by one
    /// reading may have hit an operation decoded only after the next.
    #[test]
    fn a_loss_marks_operations_decoded_after_its_reading() {
        let mut s = Script::new();
        s.sys(7, Syscall::Read, None, 3) // ts 1010
            .enter(7, ProbeId::SeqReadIter, None)
            .exit(7, ProbeId::SeqReadIter, 1)
            .sys_ret(7, Syscall::Read, 1) // ts 1040
            .sys(8, Syscall::Read, None, 3) // ts 1050
            .sys_ret(8, Syscall::Read, 1); // ts 1060
        let mut b = FlowBuilder::new();
        let loss = Window {
            losses: Losses::Unflagged,
            from_ns: 1000,
            to_ns: 1045,
        };
        assert!(b.release(loss).is_empty(), "nothing decoded yet");
        for e in &s.events {
            b.push(e.clone(), &|_| None);
        }
        let whole = Window {
            losses: Losses::None,
            from_ns: 1045,
            to_ns: 2000,
        };
        let lost: Vec<_> = b.release(whole).iter().map(|o| (o.tid, o.lost)).collect();
        assert_eq!(
            lost,
            [(7, true), (8, false)],
            "8 began after the loss's reading"
        );
    }

    /// A reading's losses are kept only while an operation they may have hit
    /// can still come.
    #[test]
    fn lossy_readings_are_dropped_once_the_stream_is_past_them() {
        let mut s = Script::new();
        s.sys(7, Syscall::Read, None, 3);
        let mut b = fed(&s);
        b.release(lossy(Losses::Unflagged));
        assert_eq!(b.lossy.len(), 1, "tid 7 is still in its read");
        let mut s = Script::new();
        s.sys(7, Syscall::Read, None, 3)
            .sys_ret(7, Syscall::Read, 1);
        let mut b = fed(&s);
        let early = Window {
            losses: Losses::Unflagged,
            from_ns: 0,
            to_ns: 500,
        };
        b.newest_ns = 500 + RING_ORDER_SLACK_NS + 1;
        b.release(early);
        assert!(b.lossy.is_empty());
    }

    /// A syscall's records come at its exit: one that blocked past the
    /// ring's slack is still marked by the losses of its time, which the
    /// stream had long passed.
    #[test]
    fn a_syscall_that_blocked_is_marked_by_the_losses_it_spanned() {
        let mut s = Script::new();
        for tid in [7, 8] {
            s.sys(tid, Syscall::Read, None, 3)
                .enter(tid, ProbeId::ProcRegReadIter, None)
                .exit(tid, ProbeId::ProcRegReadIter, 10)
                .sys_ret(tid, Syscall::Read, 10);
        }
        // Thread 7's read spans the losses; thread 8's begins after them.
        let skipped = Window {
            losses: Losses::Unflagged,
            from_ns: 1_000,
            to_ns: 1_045,
        };
        let mut b = FlowBuilder::new();
        b.newest_ns = skipped.to_ns + RING_ORDER_SLACK_NS + 1;
        b.release(skipped);
        assert!(b.lossy.is_empty(), "the stream is past it");
        for e in pair_like_the_kernel(&s.events).unwrap() {
            b.push(e, &|_| None);
        }
        let ops = b.release(Window::WHOLE);
        let lost: Vec<(u32, bool)> = ops.iter().map(|o| (o.tid, o.lost)).collect();
        assert_eq!(lost, [(7, true), (8, false)]);
    }

    /// A thread that died inside an operation holds the oldest windows for
    /// good: a sustained loss stays one window, and the count stays bounded
    /// by merging, which marks more, never less.
    #[test]
    fn lossy_windows_stay_few_while_an_operation_stays_open() {
        let mut s = Script::new();
        s.sys(7, Syscall::Read, None, 3);
        let mut b = fed(&s);
        let reading = |losses, i: u64| Window {
            losses,
            from_ns: 2000 + i * 250,
            to_ns: 2000 + i * 250 + 300,
        };
        for i in 0..1000 {
            b.release(reading(Losses::Unflagged, i));
        }
        assert_eq!(b.lossy.len(), 1, "touching readings merge");
        for i in 0..1000 {
            let losses = [Losses::Flagged, Losses::Unflagged][i as usize % 2];
            b.release(reading(losses, 2000 + i * 2));
        }
        assert!(b.lossy.len() <= MAX_LOSSY);
        let covers = |t: u64| b.lossy.iter().any(|w| w.from_ns <= t && t <= w.to_ns);
        assert!((0..1000).all(|i| covers(2000 + (2000 + i * 2) * 250 + 10)));
        assert_eq!(b.lossy[0].losses, Losses::Unflagged, "merged, the stronger");
    }
}
