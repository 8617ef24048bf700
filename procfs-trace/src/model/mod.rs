//! procfs-trace's own model of procfs logic, built from the reference documents
//! and the kernel sources: pure data and rules, no I/O and no BPF.
//!
//! [`predict`] turns one user-level operation (what it did, to which path)
//! into the calls the kernel should make: `walk` for path lookups, `readdir`
//! for listings, `read` for reads, with `pid_table` holding each kernel's pid
//! directory tables and `kernel` the version and config they depend on.

pub mod expect;
pub mod kernel;
pub mod pid_table;
pub mod read;
pub mod readdir;
pub mod walk;

use expect::{Prediction, Ret, Step};
use kernel::KernelFacts;
use walk::{Cached, Node, WalkContext};

use crate::flows::op::OpKind;

/// What the model needs to know about an operation.
#[derive(Debug, Clone)]
pub struct OpFacts<'a> {
    /// What it does.
    pub kind: OpKind,
    /// The syscall, when known ("openat", "lstat", ...).
    pub syscall: Option<&'a str>,
    /// Its `AT_*` flags argument (newfstatat, statx).
    pub at_flags: u32,
    /// The procfs path it concerns.
    pub path: &'a str,
    /// The task's tgid (what /proc/self resolves to).
    pub tgid: u32,
    /// Position the listing starts at (readdir).
    pub pos_in: Option<i64>,
    /// The syscall's result, when seen.
    pub ret: Option<i64>,
}

/// Whether the syscall follows a final symlink: not for lstat and readlink,
/// yes for open, stat and exec, and as `AT_SYMLINK_NOFOLLOW` says for
/// newfstatat and statx; `None` when unknown.
pub fn follows_final(syscall: Option<&str>, at_flags: u32) -> Option<bool> {
    match syscall? {
        "lstat" | "readlink" | "readlinkat" => Some(false),
        "open" | "openat" | "stat" | "execve" | "execveat" => Some(true),
        "newfstatat" | "statx" => Some(at_flags & procfs_trace_common::AT_SYMLINK_NOFOLLOW == 0),
        _ => None,
    }
}

/// The model's prediction for an operation, or why it is outside the model.
pub fn predict(
    op: &OpFacts,
    kernel: &KernelFacts,
    cached: &dyn Fn(&str) -> Cached,
) -> Result<(Prediction, Vec<String>), String> {
    let cx = |follow_final: bool| WalkContext {
        kernel,
        tgid: op.tgid,
        follow_final,
        cached,
    };
    if matches!(op.ret, Some(r) if r < 0) && op.kind != OpKind::Read {
        return Err(format!(
            "the syscall failed ({}); failing walks are outside the model",
            crate::events::render::format_ret(op.ret.unwrap_or_default())
        ));
    }
    match op.kind {
        OpKind::Lookup => {
            let follow = follows_final(op.syscall, op.at_flags);
            let w = walk::walk(op.path, &cx(follow.unwrap_or(true)));
            let ends_in_link = matches!(&w.end, Ok(Node::LeftProc));
            if follow.is_none() && ends_in_link {
                return Err(format!(
                    "{} may or may not follow the final symlink of {}: its flags are not traced",
                    op.syscall.unwrap_or("this syscall"),
                    op.path
                ));
            }
            w.end?;
            let mut p = w.prediction;
            if op.syscall == Some("execve") {
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
            let pos_in = op
                .pos_in
                .ok_or("the listing's starting position was not read")?;
            Ok((readdir::readdir(&node, pos_in, kernel)?, Vec::new()))
        }
        OpKind::Read => {
            let w = walk::walk(op.path, &cx(true));
            let node = w.end?;
            let produced = op.ret.map(|r| r > 0);
            if matches!(op.ret, Some(r) if r < 0) {
                return Err("the read failed; failing reads are outside the model".to_owned());
            }
            let splice = op.syscall == Some("sendfile");
            Ok((read::read(&node, produced, splice)?, Vec::new()))
        }
        OpKind::Readlink => {
            let w = walk::walk(op.path, &cx(false));
            let mut p = w.prediction;
            let tail = match w.end? {
                Node::PidEntry(_, e) if e.kind == pid_table::EntryKind::Lnk => vec![Step::new(
                    "proc_pid_readlink",
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
                    "proc_pid_readlink",
                    "fd links implement readlink with proc_pid_readlink",
                )
                .ret(Ret::Positive)
                .calls(vec![Step::new(
                    "proc_fd_link",
                    "finds the open file's path",
                )
                .ret(Ret::Zero)])],
                Node::RootEntry(name) if name == "self" => {
                    vec![Step::new(
                        "proc_self_get_link",
                        "/proc/self has no readlink: its get_link gives the tgid",
                    )]
                }
                other => return Err(format!("readlink of {other:?} is outside the model")),
            };
            p.fixed(tail);
            Ok((p, w.dentries))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pid_table::KernelVersion;

    fn facts(kind: OpKind, syscall: &'static str, path: &'static str) -> OpFacts<'static> {
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
            &facts(OpKind::Readlink, "readlinkat", "/proc/42/cwd"),
            &k,
            &|_| Cached::No,
        )
        .unwrap();
        let steps = &p.alternatives(1)[0].1;
        let last = steps.last().unwrap();
        assert_eq!(last.func, "proc_pid_readlink");
        assert_eq!(last.children[0].func, "proc_cwd_link");
        assert!(steps.iter().all(|s| s.func != "proc_pid_get_link"));
    }

    #[test]
    fn failing_syscalls_and_unknown_follow_are_outside() {
        let k = KernelFacts::debian(KernelVersion::new(6, 1));
        let mut f = facts(OpKind::Lookup, "openat", "/proc/42/limits");
        f.ret = Some(-2);
        assert!(predict(&f, &k, &|_| Cached::No).is_err());
        let mut f = facts(OpKind::Lookup, "newfstatat", "/proc/42/cwd");
        f.syscall = None;
        assert!(predict(&f, &k, &|_| Cached::No)
            .unwrap_err()
            .contains("flags"));
        let mut f = facts(OpKind::Lookup, "newfstatat", "/proc/42/cwd");
        f.at_flags = procfs_trace_common::AT_SYMLINK_NOFOLLOW;
        let (p, _) = predict(&f, &k, &|_| Cached::No).unwrap();
        assert!(
            p.alternatives(1)[0]
                .1
                .iter()
                .all(|s| s.func != "proc_pid_get_link"),
            "AT_SYMLINK_NOFOLLOW: the final link is not followed"
        );
        let f = facts(OpKind::Lookup, "newfstatat", "/proc/42/cwd");
        let (p, _) = predict(&f, &k, &|_| Cached::No).unwrap();
        assert!(p.alternatives(1)[0]
            .1
            .iter()
            .any(|s| s.func == "proc_pid_get_link"));
        let f = facts(OpKind::Lookup, "newfstatat", "/proc/42/limits");
        assert!(
            predict(&f, &k, &|_| Cached::No).is_ok(),
            "no link at the end: follow does not matter"
        );
    }

    #[test]
    fn reads_and_listings_resolve_their_path_first() {
        let k = KernelFacts::debian(KernelVersion::new(6, 1));
        let (p, _) = predict(&facts(OpKind::Read, "read", "/proc/42/status"), &k, &|_| {
            Cached::Yes
        })
        .unwrap();
        let s = &p.alternatives(1)[0].1[0];
        assert_eq!(s.children[0].children[0].show, Some("proc_pid_status"));
        let (p, _) = predict(&facts(OpKind::Readdir, "getdents64", "/proc"), &k, &|_| {
            Cached::Yes
        })
        .unwrap();
        assert_eq!(p.alternatives(1)[0].1[0].func, "proc_root_readdir");
    }
}
