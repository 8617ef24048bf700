//! procfs-trace's own model of procfs logic, built from the reference documents
//! and the kernel sources: pure data and rules, no I/O and no BPF.
//!
//! [`predict`] turns one user-level operation (what it did, to which path)
//! into the calls the kernel should make: `walk` for path lookups, `readdir`
//! for listings, `read` for reads, with `pid_table` holding each kernel's pid
//! directory tables, `namespaces` the links of /proc/PID/ns, and `kernel` the
//! version and config they depend on.

pub mod errno;
pub mod expect;
pub mod func;
pub mod kernel;
pub mod mount;
pub mod namespaces;
pub mod op;
pub mod pid_table;
pub mod read;
pub mod readdir;
pub mod unmodelled;
pub mod version;
pub mod walk;

use procfs_trace_common::{ProbeId, Syscall};

use errno::Errno;
use expect::{Prediction, Ret, Step};
use func::Func;
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
    let cx = |follow_final: bool| walk_context(op, kernel, cached, follow_final);
    if let Some(ret) = op.ret.filter(|r| *r < 0 && op.kind != OpKind::Read) {
        let follow = op.syscall.and_then(|s| follows_final(s, op.at_flags));
        let walks_only = matches!(op.kind, OpKind::Lookup | OpKind::Readlink);
        return match (walks_only, follow) {
            (true, Some(follow)) => failing_walk(op, &cx(follow), ret),
            _ => Err(Unmodelled::FailedWalk { ret }),
        };
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
                exec_rewalk(&mut p, op.path, &cx(false));
            }
            Ok((p, w.dentries))
        }
        OpKind::Readdir => {
            let w = walk::walk(op.path, &cx(true));
            let node = w.end?;
            let pos_in = op.pos_in.ok_or(Unmodelled::NoStartPosition)?;
            // The directory's dentry name: the walk's last component (a
            // followed /proc/self ends at the pid), `/` for the root itself.
            let dir = w
                .dentries
                .last()
                .and_then(|d| d.rsplit_once('/'))
                .map_or("/", |(_, last)| last);
            Ok((
                readdir::readdir(&node, pos_in, kernel, dir, op.mount)?,
                Vec::new(),
            ))
        }
        OpKind::Read => {
            let mut p = ReadShape::of(read_node(op, kernel, cached)?, op)?.predict()?;
            p.spliced = spliced(op);
            Ok((p, Vec::new()))
        }
        OpKind::Readlink => {
            let w = walk::walk(op.path, &cx(false));
            let mut p = w.prediction;
            let end = w.end?;
            let tail = match (readlink_target(&end), end) {
                (Some(link), _) => vec![link.step().ret(Ret::Positive).calls(
                    link.own_step()
                        .map(|s| s.ret(Ret::Zero))
                        .into_iter()
                        .collect(),
                )],
                (None, Node::RootEntry(name)) if name == "self" || name == "thread-self" => {
                    // Neither has a readlink: vfs_readlink calls get_link.
                    vec![walk::self_link(&name)]
                }
                (None, other) => {
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

/// For a sendfile: the bytes it moved, which its reads must account for.
pub fn spliced(op: &OpFacts) -> Option<i64> {
    op.ret.filter(|_| op.syscall == Some(Syscall::Sendfile))
}

/// The context of an operation's own walk.
fn walk_context<'a>(
    op: &OpFacts<'a>,
    kernel: &'a KernelFacts,
    cached: &'a dyn Fn(&str) -> Cached,
    follow_final: bool,
) -> WalkContext<'a> {
    WalkContext {
        kernel,
        tgid: op.tgid,
        tid: op.tid,
        follow_final,
        cached,
        absent_at: None,
        link_error: None,
        mount: op.mount,
        refused_at: None,
        start_dir: op.start_dir,
    }
}

/// Everything a read's prediction depends on: the file it reads (the node
/// its path walks to, the same for every process's /proc/PID/limits) and
/// how the read went. Equal shapes predict alike, so a checker may reuse
/// a prediction across processes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReadShape {
    node: Node,
    produced: Option<bool>,
    splice: bool,
    first: Option<bool>,
}

impl ReadShape {
    /// The shape of read operation `op` of the file at `node`.
    pub fn of(node: Node, op: &OpFacts) -> Result<ReadShape, Unmodelled> {
        if matches!(op.ret, Some(r) if r < 0) {
            return Err(Unmodelled::FailedRead);
        }
        Ok(ReadShape {
            node,
            produced: op.ret.map(|r| r > 0),
            splice: op.syscall == Some(Syscall::Sendfile),
            first: op.first_read,
        })
    }

    /// The calls such a read makes (`spliced` is left to the caller).
    pub fn predict(&self) -> Result<Prediction, Unmodelled> {
        read::read(&self.node, self.produced, self.splice, self.first)
    }
}

/// The node a read's path walks to (the same whatever the dcache holds).
pub fn read_node(
    op: &OpFacts,
    kernel: &KernelFacts,
    cached: &dyn Fn(&str) -> Cached,
) -> Result<Node, Unmodelled> {
    walk::walk(op.path, &walk_context(op, kernel, cached, true)).end
}

/// Alternatives of exec's second walk kept, at most.
const MAX_REWALKS: usize = 8;

/// After exec opened its file, a security module may resolve the name it
/// was given once more without following the final link: TOMOYO's
/// `tomoyo_find_next_domain` (bprm_creds_for_exec) calls
/// `tomoyo_realpath_nofollow`, a `kern_path(name, 0)` (security/tomoyo/
/// domain.c and realpath.c). Whether TOMOYO is active is a boot-time choice
/// the trace does not show, so the walk may be absent. The first walk has
/// just looked every dentry up, so the second finds them all cached.
fn exec_rewalk(p: &mut Prediction, path: &str, nofollow: &WalkContext) {
    let all_cached = |_: &str| Cached::Yes;
    let again = walk::walk(
        path,
        &WalkContext {
            cached: &all_cached,
            ..*nofollow
        },
    );
    let warm = again
        .prediction
        .alternatives(MAX_REWALKS * 4)
        .into_iter()
        .filter(|(labels, _)| !labels.iter().any(|l| l == walk::COLD))
        .take(MAX_REWALKS)
        .map(|(labels, steps)| {
            let label = std::iter::once("walked again without following".to_owned())
                .chain(labels)
                .collect::<Vec<_>>()
                .join(", ");
            (label, steps)
        });
    let options = std::iter::once(("no second walk".to_owned(), Vec::new()))
        .chain(warm)
        .collect();
    p.choice(
        "a security module (TOMOYO) may resolve exec's path again without following it",
        options,
    );
}

/// Components a failing walk is tried at, at most (links add components).
const MAX_COMPONENTS: usize = 32;

/// Alternatives kept per way of failing.
const MAX_OPTIONS: usize = 16;

/// A walk that failed with `ret`. The model cannot know why (a pid that
/// exited, a mistyped entry, a kernel thread without an exe, a ptrace check
/// that refused), so each way the kernel fails with that error is an
/// alternative, and the trace settles which:
/// - -ENOENT at a name its directory does not have: the walk stops there;
/// - the final symlink's resolution failing (its own function, or the ptrace
///   access check for -EACCES);
/// - -EACCES or -EPERM from the file's permission check or open after a
///   whole walk (a write-only sysctl, environ, mem).
fn failing_walk(
    op: &OpFacts,
    cx: &WalkContext,
    ret: i64,
) -> Result<(Prediction, Vec<String>), Unmodelled> {
    let Some(e) = Errno::from_ret(ret) else {
        return Err(Unmodelled::FailedWalk { ret });
    };
    let mut options = Vec::new();
    let mut dentries = Vec::new();
    let mut add = |label: &str, w: walk::Walk, options: &mut Vec<(String, Vec<Step>)>| {
        for (labels, steps) in w.prediction.alternatives(MAX_OPTIONS) {
            let label = std::iter::once(label.to_owned())
                .chain(labels)
                .collect::<Vec<_>>()
                .join(", ");
            options.push((label, steps));
        }
        if w.dentries.len() > dentries.len() {
            dentries = w.dentries;
        }
    };
    if e == Errno::ENOENT {
        for at in 0..MAX_COMPONENTS {
            let w = walk::walk(
                op.path,
                &WalkContext {
                    absent_at: Some(at),
                    ..*cx
                },
            );
            match (&w.end, w.absent.clone()) {
                (Ok(Node::Absent), Some(missing)) => {
                    add(&format!("{missing} is absent"), w, &mut options)
                }
                // The walk ended before component `at`: no further one can be missing.
                (Ok(_), _) => break,
                (Err(_), _) => {}
            }
        }
    }
    hidepid_refusals(op, cx, e, &mut |label, w| add(label, w, &mut options));
    match op.kind {
        OpKind::Readlink => {
            let mut w = walk::walk(op.path, cx);
            let link = w.end.as_ref().ok().and_then(readlink_target);
            if let Some(link) = link {
                walk::link_failure(
                    &mut w.prediction,
                    e,
                    |ret, children| link.step().ret(ret).calls(children),
                    |ret| link.own_step().map(|s| s.ret(ret)),
                );
                add("the link cannot be read", w, &mut options);
            }
        }
        _ => {
            let w = walk::walk(
                op.path,
                &WalkContext {
                    link_error: Some(e),
                    ..*cx
                },
            );
            if let (Ok(Node::Absent), Some(at)) = (&w.end, w.absent.clone()) {
                add(&format!("{at} cannot be followed"), w, &mut options);
            }
            // The final file's permission check (may_open: a sysctl's
            // proc_sys_permission, a PDE's mode) or its open (environ's
            // ptrace check) comes after the whole walk, and neither is probed.
            let w = walk::walk(op.path, cx);
            let refused = e == Errno::EACCES || e == Errno::EPERM;
            let file = matches!(
                w.end,
                Ok(Node::PidEntry(..) | Node::Sys(_) | Node::Pde { .. } | Node::RootEntry(_))
            );
            if refused && file {
                add(
                    &format!("the walk reached the file; its open returned {e}"),
                    w,
                    &mut options,
                );
            }
        }
    }
    if options.is_empty() {
        return Err(Unmodelled::FailedWalk { ret });
    }
    let mut p = Prediction::new();
    p.choice("how the walk failed", options);
    Ok((p, dentries))
}

/// The ways a `hidepid=` mount refuses a walk with `e`, when it does: its
/// permission check on another process's pid or task directory stops the
/// walk before the next lookup there, or refuses the open of that directory;
/// `pid_getattr` refuses to stat its pid directory.
fn hidepid_refusals(
    op: &OpFacts,
    cx: &WalkContext,
    e: Errno,
    add: &mut dyn FnMut(&str, walk::Walk),
) {
    let opts = cx.mount.describe();
    if cx.mount.permission_refusal() == Some(e) {
        for at in 0..MAX_COMPONENTS {
            let refused_at = Some(at);
            let w = walk::walk(op.path, &WalkContext { refused_at, ..*cx });
            if let Some(dir) = w.refused.clone() {
                add(&format!("{opts}: {dir} refused the walk"), w);
            }
        }
    }
    let stat = matches!(
        op.syscall,
        Some(Syscall::Stat | Syscall::Lstat | Syscall::Newfstatat | Syscall::Statx)
    );
    let w = walk::walk(op.path, cx);
    let (refusal, by) = match (stat, &w.end) {
        (true, Ok(Node::PidDir(_))) => (cx.mount.getattr_refusal(), "pid_getattr"),
        (true, _) => (None, ""),
        (false, _) => (cx.mount.permission_refusal(), "its open"),
    };
    if refusal == Some(e) && w.in_foreign_pid_dir(cx) {
        add(
            &format!("{opts}: the walk reached the directory; {by} refused it"),
            w,
        );
    }
}

/// How a readlink reads a symlink: the function implementing readlink, the
/// link's own function where it has one, and the link's name ("" for an fd
/// link, whose number the model does not keep).
struct LinkRead {
    readlink: ProbeId,
    own: Option<Func>,
    name: String,
}

/// The symlink a readlink of `node` reads: pid and fd links through
/// proc_pid_readlink and their own function, namespace links through
/// proc_ns_readlink (fs/proc/namespaces.c), which formats "type:[inode]".
fn readlink_target(node: &Node) -> Option<LinkRead> {
    let (readlink, own, name) = match node {
        Node::PidEntry(_, e) if e.kind == pid_table::EntryKind::Lnk => (
            ProbeId::ProcPidReadlink,
            Some(Func::named(e.handler)),
            e.name,
        ),
        Node::FdLink => (
            ProbeId::ProcPidReadlink,
            Some(ProbeId::ProcFdLink.into()),
            "",
        ),
        Node::NsLink(name) => (ProbeId::ProcNsReadlink, None, name.as_str()),
        _ => return None,
    };
    Some(LinkRead {
        readlink,
        own,
        name: name.to_owned(),
    })
}

impl LinkRead {
    /// The readlink function's step, named when the model knows the name.
    fn step(&self) -> Step {
        on_link(
            Step::new(
                self.readlink,
                format!("the link's readlink is {}", self.readlink.def().func),
            ),
            &self.name,
        )
    }

    /// The link's own function (`proc_cwd_link`, `proc_fd_link`, ...).
    fn own_step(&self) -> Option<Step> {
        self.own.map(|f| {
            on_link(
                Step::new(f, "the link's own function finds its target"),
                &self.name,
            )
        })
    }
}

/// A step on the link `name`, named when the model knows the name.
fn on_link(step: Step, name: &str) -> Step {
    if name.is_empty() {
        step
    } else {
        step.name(name.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use func::Func;
    use version::KernelVersion;

    fn facts(kind: OpKind, syscall: Syscall, path: &'static str) -> OpFacts<'static> {
        OpFacts {
            kind,
            syscall: Some(syscall),
            at_flags: 0,
            path,
            tgid: 42,
            tid: 42,
            pos_in: Some(0),
            ret: Some(3),
            first_read: None,
            mount: mount::MountOpts::DEFAULT,
            start_dir: None,
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
    fn readlink_of_a_namespace_link_is_proc_ns_readlink() {
        let k = KernelFacts::debian(KernelVersion::new(6, 1));
        let mut f = facts(OpKind::Readlink, Syscall::Readlinkat, "/proc/42/ns/net");
        let (p, _) = predict(&f, &k, &|_| Cached::No).unwrap();
        let last = p.alternatives(1)[0].1.last().unwrap().clone();
        assert_eq!(last.func, ProbeId::ProcNsReadlink);
        assert_eq!(last.name.as_deref(), Some("net"));
        assert_eq!(last.ret, Ret::Positive);
        assert!(last.children.is_empty());
        // Denied by the ptrace check: proc_ns_readlink returns -EACCES.
        f.ret = Some(Errno::EACCES.ret());
        let (p, _) = predict(&f, &k, &|_| Cached::No).unwrap();
        let denied = p
            .alternatives(64)
            .into_iter()
            .find(|(_, steps)| {
                steps
                    .last()
                    .is_some_and(|s| s.func == ProbeId::ProcNsReadlink)
            })
            .expect("the link cannot be read");
        assert_eq!(denied.1.last().unwrap().ret, Ret::Errno(Errno::EACCES));
    }

    #[test]
    fn other_failures_and_unknown_follow_are_outside() {
        let k = KernelFacts::debian(KernelVersion::new(6, 1));
        let mut f = facts(OpKind::Lookup, Syscall::Openat, "/proc/42/limits");
        f.ret = Some(-12);
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

    /// Every alternative's failing call, as `func(name) = ret` at the end of its steps.
    fn failing_calls(p: &Prediction) -> Vec<(String, String)> {
        p.alternatives(64)
            .into_iter()
            .map(|(labels, steps)| {
                let last = steps.last().expect("a failing lookup");
                (
                    labels.join(", "),
                    format!("{}({:?}) = {}", last.func, last.name, last.ret),
                )
            })
            .collect()
    }

    #[test]
    fn a_walk_that_fails_ends_at_a_missing_name() {
        let k = KernelFacts::debian(KernelVersion::new(6, 1));
        let mut f = facts(OpKind::Lookup, Syscall::Openat, "/proc/99999/stat");
        f.ret = Some(Errno::ENOENT.ret());
        let (stale, _) = predict(&f, &k, &|_| Cached::Unknown).unwrap();
        let alts = stale.alternatives(8);
        assert_eq!(alts.len(), 2, "cached while the pid lived, or never");
        assert_eq!(alts[0].1[0].func, ProbeId::PidRevalidate);
        assert_eq!(alts[0].1[0].ret, Ret::Zero, "found stale");
        let (p, _) = predict(&f, &k, &|_| Cached::No).unwrap();
        assert_eq!(
            failing_calls(&p),
            [(
                "/proc/99999 is absent".to_owned(),
                "proc_root_lookup(Some(\"99999\")) = -ENOENT".to_owned()
            )],
            "stat is in every pid directory: only the pid can be missing"
        );
        let root = &p.alternatives(1)[0].1[0];
        let funcs: Vec<_> = root.children.iter().map(|c| (c.func, c.ret)).collect();
        let enoent = Ret::Errno(Errno::ENOENT);
        assert_eq!(
            funcs,
            [
                (Func::from(ProbeId::ProcPidLookup), enoent),
                (Func::from(ProbeId::ProcLookup), enoent)
            ]
        );

        let mut f = facts(OpKind::Lookup, Syscall::Openat, "/proc/42/no_such_entry");
        f.ret = Some(Errno::ENOENT.ret());
        let (p, _) = predict(&f, &k, &|_| Cached::Yes).unwrap();
        let calls = failing_calls(&p);
        assert!(
            calls
                .iter()
                .any(|(l, c)| l.starts_with("/proc/42/no_such_entry is absent")
                    && c == "proc_tgid_base_lookup(Some(\"no_such_entry\")) = -ENOENT"),
            "{calls:?}"
        );
        assert!(calls
            .iter()
            .any(|(l, _)| l.starts_with("/proc/42 is absent")));
    }

    #[test]
    fn a_refused_open_walks_the_whole_path_and_other_failures_stay_outside() {
        let k = KernelFacts::debian(KernelVersion::new(6, 1));
        let mut f = facts(OpKind::Lookup, Syscall::Openat, "/proc/42/environ");
        f.ret = Some(Errno::EACCES.ret());
        let (p, _) = predict(&f, &k, &|_| Cached::No).unwrap();
        let calls = failing_calls(&p);
        assert!(
            calls
                .iter()
                .any(|(l, c)| l.starts_with("the walk reached the file")
                    && c == "proc_tgid_base_lookup(Some(\"environ\")) = 0"),
            "{calls:?}"
        );
        f.ret = Some(-5);
        assert_eq!(
            predict(&f, &k, &|_| Cached::No).unwrap_err(),
            Unmodelled::FailedWalk { ret: -5 }
        );
    }

    /// `sysctl -a` opens write-only sysctls such as vm/drop_caches (0200):
    /// proc_sys_permission refuses even root's read after the whole walk.
    #[test]
    fn a_refused_sysctl_open_walks_the_whole_path() {
        let k = KernelFacts::debian(KernelVersion::new(6, 1));
        let mut f = facts(OpKind::Lookup, Syscall::Openat, "/proc/sys/vm/drop_caches");
        f.ret = Some(Errno::EACCES.ret());
        let (p, _) = predict(&f, &k, &|_| Cached::Yes).unwrap();
        let calls = failing_calls(&p);
        assert!(
            calls
                .iter()
                .any(|(l, c)| l.starts_with("the walk reached the file")
                    && c.starts_with("proc_sys_revalidate(Some(\"drop_caches\"))")),
            "{calls:?}"
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
