//! procfs-trace's own model of procfs logic, built from the reference documents
//! and the kernel sources: pure data and rules, no I/O and no BPF.
//!
//! [`predict`] turns one user-level operation (what it did, to which path)
//! into the calls the kernel should make: `walk` for path lookups, `readdir`
//! for listings, `read` for reads, with `pid_table` holding each kernel's pid
//! directory tables and `kernel` the version and config they depend on.

pub mod errno;
pub mod expect;
pub mod func;
pub mod kernel;
pub mod op;
pub mod pid_table;
pub mod read;
pub mod readdir;
pub mod unmodelled;
pub mod version;
pub mod walk;

use procfs_trace_common::{ProbeId, Syscall};

use expect::{Prediction, Ret, Step};
use kernel::KernelFacts;
pub use op::{follows_final, OpFacts, OpKind};
pub use unmodelled::Unmodelled;
use walk::{Cached, Node, WalkContext};

/// The model's prediction for an operation, or why it is outside the model.
pub fn predict(
    op: &OpFacts,
    kernel: &KernelFacts,
    cached: &dyn Fn(&str) -> Cached,
) -> Result<(Prediction, Vec<String>), Unmodelled> {
    let cx = |follow_final: bool| WalkContext {
        kernel,
        tgid: op.tgid,
        follow_final,
        cached,
    };
    if let Some(ret) = op.ret.filter(|r| *r < 0 && op.kind != OpKind::Read) {
        return Err(Unmodelled::FailedWalk { ret });
    }
    match op.kind {
        OpKind::Lookup => {
            let follow = op.syscall.and_then(|s| follows_final(s, op.at_flags));
            let w = walk::walk(op.path, &cx(follow.unwrap_or(true)));
            let ends_in_link = matches!(&w.end, Ok(Node::LeftProc));
            if follow.is_none() && ends_in_link {
                return Err(Unmodelled::FollowUnknown {
                    syscall: op.syscall.map_or("this syscall", Syscall::name),
                    path: op.path.to_owned(),
                });
            }
            w.end?;
            let mut p = w.prediction;
            if op.syscall == Some(Syscall::Execve) {
                p.notes.push(
                    "exec walks the path again after opening it; only the first walk is checked"
                        .to_owned(),
                );
            }
            Ok((p, w.dentries))
        }
        OpKind::Readdir => {
            let w = walk::walk(op.path, &cx(true));
            let node = w.end?;
            let pos_in = op.pos_in.ok_or(Unmodelled::NoStartPosition)?;
            Ok((readdir::readdir(&node, pos_in, kernel)?, Vec::new()))
        }
        OpKind::Read => {
            let w = walk::walk(op.path, &cx(true));
            let node = w.end?;
            let produced = op.ret.map(|r| r > 0);
            if matches!(op.ret, Some(r) if r < 0) {
                return Err(Unmodelled::FailedRead);
            }
            let splice = op.syscall == Some(Syscall::Sendfile);
            Ok((read::read(&node, produced, splice)?, Vec::new()))
        }
        OpKind::Readlink => {
            let w = walk::walk(op.path, &cx(false));
            let mut p = w.prediction;
            let tail = match w.end? {
                Node::PidEntry(_, e) if e.kind == pid_table::EntryKind::Lnk => vec![Step::new(
                    ProbeId::ProcPidReadlink,
                    "pid symlinks implement readlink with proc_pid_readlink",
                )
                .name(e.name)
                .ret(Ret::Positive)
                .calls(vec![Step::new(
                    e.handler,
                    format!("{}'s get_link function finds the target", e.name),
                )
                .name(e.name)
                .ret(Ret::Zero)])],
                Node::FdLink => vec![Step::new(
                    ProbeId::ProcPidReadlink,
                    "fd links implement readlink with proc_pid_readlink",
                )
                .ret(Ret::Positive)
                .calls(vec![Step::new(
                    ProbeId::ProcFdLink,
                    "finds the open file's path",
                )
                .ret(Ret::Zero)])],
                Node::RootEntry(name) if name == "self" => {
                    vec![Step::new(
                        ProbeId::ProcSelfGetLink,
                        "/proc/self has no readlink: its get_link gives the tgid",
                    )]
                }
                other => {
                    return Err(Unmodelled::Readlink {
                        what: format!("{other:?}"),
                    })
                }
            };
            p.fixed(tail);
            Ok((p, w.dentries))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use version::KernelVersion;

    fn facts(kind: OpKind, syscall: Syscall, path: &'static str) -> OpFacts<'static> {
        OpFacts {
            kind,
            syscall: Some(syscall),
            at_flags: 0,
            path,
            tgid: 42,
            pos_in: Some(0),
            ret: Some(3),
        }
    }

    #[test]
    fn readlink_of_cwd_does_not_follow_and_calls_the_link_function() {
        let k = KernelFacts::debian(KernelVersion::new(6, 1));
        let (p, _) = predict(
            &facts(OpKind::Readlink, Syscall::Readlinkat, "/proc/42/cwd"),
            &k,
            &|_| Cached::No,
        )
        .unwrap();
        let steps = &p.alternatives(1)[0].1;
        let last = steps.last().unwrap();
        assert_eq!(last.func, ProbeId::ProcPidReadlink);
        assert_eq!(last.children[0].func, ProbeId::ProcCwdLink);
        assert!(steps.iter().all(|s| s.func != ProbeId::ProcPidGetLink));
    }

    #[test]
    fn failing_syscalls_and_unknown_follow_are_outside() {
        let k = KernelFacts::debian(KernelVersion::new(6, 1));
        let mut f = facts(OpKind::Lookup, Syscall::Openat, "/proc/42/limits");
        f.ret = Some(-2);
        assert!(predict(&f, &k, &|_| Cached::No).is_err());
        let mut f = facts(OpKind::Lookup, Syscall::Newfstatat, "/proc/42/cwd");
        f.syscall = None;
        assert!(matches!(
            predict(&f, &k, &|_| Cached::No),
            Err(Unmodelled::FollowUnknown { .. })
        ));
        let mut f = facts(OpKind::Lookup, Syscall::Newfstatat, "/proc/42/cwd");
        f.at_flags = procfs_trace_common::AT_SYMLINK_NOFOLLOW;
        let (p, _) = predict(&f, &k, &|_| Cached::No).unwrap();
        assert!(
            p.alternatives(1)[0]
                .1
                .iter()
                .all(|s| s.func != ProbeId::ProcPidGetLink),
            "AT_SYMLINK_NOFOLLOW: the final link is not followed"
        );
        let f = facts(OpKind::Lookup, Syscall::Newfstatat, "/proc/42/cwd");
        let (p, _) = predict(&f, &k, &|_| Cached::No).unwrap();
        assert!(p.alternatives(1)[0]
            .1
            .iter()
            .any(|s| s.func == ProbeId::ProcPidGetLink));
        let f = facts(OpKind::Lookup, Syscall::Newfstatat, "/proc/42/limits");
        assert!(
            predict(&f, &k, &|_| Cached::No).is_ok(),
            "no link at the end: follow does not matter"
        );
    }

    #[test]
    fn reads_and_listings_resolve_their_path_first() {
        let k = KernelFacts::debian(KernelVersion::new(6, 1));
        let (p, _) = predict(
            &facts(OpKind::Read, Syscall::Read, "/proc/42/status"),
            &k,
            &|_| Cached::Yes,
        )
        .unwrap();
        let s = &p.alternatives(1)[0].1[0];
        assert_eq!(s.children[0].children[0].show, Some("proc_pid_status"));
        let (p, _) = predict(
            &facts(OpKind::Readdir, Syscall::Getdents64, "/proc"),
            &k,
            &|_| Cached::Yes,
        )
        .unwrap();
        assert_eq!(p.alternatives(1)[0].1[0].func, ProbeId::ProcRootReaddir);
    }
}
