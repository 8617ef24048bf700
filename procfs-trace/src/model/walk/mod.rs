//! Path walks under /proc: which lookup or revalidation each component costs.
//!
//! The rules, from fs/proc/root.c, base.c and generic.c:
//! - in the proc root, `proc_root_lookup` tries `proc_pid_lookup` first, which
//!   accepts only names `name_to_int` parses (anything else fails fast with
//!   -ENOENT), and falls back to the PDE tree: `proc_lookup` → `proc_lookup_de`;
//! - in a pid directory, `proc_tgid_base_lookup` (`proc_tid_base_lookup` for a
//!   task) looks the name up in the pid_entry table through `proc_pident_lookup`;
//! - `task` and `fd` have their own lookups (`proc_task_lookup`, `proc_lookupfd`);
//! - lookups happen only on a dcache miss: a cached pid-based dentry is
//!   revalidated instead (`pid_revalidate`, `tid_fd_revalidate` for fds), and a
//!   cached PDE dentry costs no probed call at all;
//! - symlinks followed mid-path or at the end of a following walk call their
//!   `get_link`: `proc_self_get_link` for /proc/self, `proc_pid_get_link` with
//!   the entry's own function (`proc_cwd_link`, ...) for pid links.

mod cache;
mod links;
mod steps;

use procfs_trace_common::ProbeId;

use cache::{cache_choice, cached_or_lookup, revalidations};
use links::follow_link;
pub use links::link_failure;
use steps::{
    absent_lookup, missing_pid_entry, net_lookup, ns_lookup, pde_lookup, root_pde_lookup,
    stale_revalidation, sys_lookup, table_lookup,
};

use super::{
    errno::Errno,
    expect::{Prediction, Ret, Step},
    func::Func,
    kernel::KernelFacts,
    mount::MountOpts,
    pid_table::{self, EntryKind, PidEntry, Table},
    unmodelled::Unmodelled,
};

/// The label of the alternative that assumes a dentry was not cached.
pub const COLD: &str = "cold dcache";

/// Whether a dentry is in the dcache, as far as the trace has shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    /// Looked up or revalidated successfully earlier in the trace.
    Yes,
    /// Its lookup failed or it was invalidated earlier in the trace.
    No,
    /// Not seen yet: it may have been cached before tracing began.
    Unknown,
}

/// Where a walk ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Node {
    /// The proc root.
    Root,
    /// A PDE entry of the root, such as `meminfo` or `self` (not followed).
    RootEntry(String),
    /// A pid directory (`/proc/PID` or `/proc/PID/task/TID`).
    PidDir(Table),
    /// `/proc/PID/task`.
    TaskDir,
    /// `/proc/PID/fd`.
    FdDir,
    /// An entry of a pid table, not followed.
    PidEntry(Table, &'static PidEntry),
    /// An fd link, not followed.
    FdLink,
    /// `/proc/PID/ns`: one link per namespace type the kernel has.
    NsDir,
    /// A namespace link in `/proc/PID/ns`, not followed.
    NsLink(String),
    /// `/proc/PID/net`: the PDE tree of the task's network namespace.
    NetDir,
    /// A node of the PDE tree below the root or below `/proc/PID/net`
    /// (`/proc/driver/rtc`, `/proc/net/dev`), by path; `net` when it belongs
    /// to a network namespace's tree.
    Pde {
        /// Its full path.
        path: String,
        /// Whether it is in a network namespace's tree.
        net: bool,
    },
    /// `/proc/sys` or a node below it (a sysctl directory or file), by path.
    Sys(String),
    /// A followed link out of procfs.
    LeftProc,
    /// A name the directory does not have: the walk ends there with -ENOENT.
    Absent,
}

/// The walk's facts beyond the path.
pub struct WalkContext<'a> {
    /// The kernel.
    pub kernel: &'a KernelFacts,
    /// The walking task's tgid in the proc mount's pid namespace (what
    /// /proc/self resolves to; 0: none there).
    pub tgid: u32,
    /// The walking thread's id there (what /proc/thread-self ends in).
    pub tid: u32,
    /// Whether the final component, if a symlink, is followed (open, stat) or not (lstat, readlink).
    pub follow_final: bool,
    /// The dcache state of a dentry by its full path ("/proc/42/limits").
    pub cached: &'a dyn Fn(&str) -> Cached,
    /// For a walk that failed with -ENOENT: the index of the component taken
    /// to be missing (components a symlink added count too).
    pub absent_at: Option<usize>,
    /// For a walk that failed: the error its final symlink's get_link is
    /// taken to have returned (a kernel thread has no exe; ptrace access
    /// refused).
    pub link_error: Option<Errno>,
    /// The proc mount's options.
    pub mount: MountOpts,
    /// For a walk that failed on a `hidepid=` mount: the index of the
    /// component `proc_pid_permission` is taken to have refused to look up
    /// (in another process's pid or task directory).
    pub refused_at: Option<usize>,
    /// For a relative path: the directory the walk starts from (a dirfd's or
    /// the cwd's path, a prefix of the path). The kernel starts at its dentry,
    /// so its own components cost nothing.
    pub start_dir: Option<&'a str>,
}

/// A walk the model can predict, and where it ends.
#[derive(Debug, Clone)]
pub struct Walk {
    /// The expected calls.
    pub prediction: Prediction,
    /// The end node, when the walk stays inside the model.
    pub end: Result<Node, Unmodelled>,
    /// Dentries the walk looks up or revalidates, by full path, in order.
    pub dentries: Vec<String>,
    /// The path of the missing component, when the walk ends at one.
    pub absent: Option<String>,
    /// The tgid whose pid directory the walk is in, as the mount numbers it.
    pub owner: Option<u32>,
    /// The directory whose permission check refused the walk, when it ends
    /// at one ([`WalkContext::refused_at`]).
    pub refused: Option<String>,
}

impl Walk {
    /// Whether `proc_pid_permission` may refuse the directory the walk ends
    /// at on a `hidepid=` mount: a pid or task directory of another process
    /// (a task's own thread group is never refused).
    pub fn in_foreign_pid_dir(&self, cx: &WalkContext) -> bool {
        let dir = matches!(self.end, Ok(Node::PidDir(_) | Node::TaskDir));
        dir && self.owner.is_some_and(|o| o != cx.tgid)
    }
}

/// The kernel's `name_to_int`: a decimal without sign or leading zero.
pub fn name_to_int(name: &str) -> Option<u32> {
    if name.is_empty() || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    if !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// What follows /proc in `path`, when it is /proc or below it.
pub fn below_proc(path: &str) -> Option<&str> {
    path.strip_prefix("/proc")
        .filter(|r| r.is_empty() || r.starts_with('/'))
}

/// The components of a path.
fn components(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(String::from)
        .collect()
}

/// Predicts the walk of `path` (absolute, under /proc).
pub fn walk(path: &str, cx: &WalkContext) -> Walk {
    let mut w = Walk {
        prediction: Prediction::new(),
        end: Ok(Node::Root),
        dentries: Vec::new(),
        absent: None,
        owner: None,
        refused: None,
    };
    let Some(rest) = below_proc(path) else {
        w.end = Err(Unmodelled::NotUnderProc {
            path: path.to_owned(),
        });
        return w;
    };
    let mut comps = components(rest);
    // A trailing slash (or "/.") makes the kernel follow the last component
    // whatever the syscall asked (lookup_last: LOOKUP_FOLLOW|LOOKUP_DIRECTORY).
    let trailer = rest
        .rsplit('/')
        .next()
        .is_some_and(|l| l.is_empty() || l == ".");
    // A stack: links push their targets.
    comps.reverse();
    // The components of the start directory, above the stack's last
    // `relative` entries, are walked for their node only (a start outside
    // /proc, such as /, reaches the proc root through the mount: no call).
    let skipped = cx
        .start_dir
        .and_then(below_proc)
        .map_or(0, |d| components(d).len());
    let relative = comps.len().saturating_sub(skipped);
    let mut started = skipped == 0;
    let mut node = Node::Root;
    let mut dir = String::from("/proc");
    // The directories above `node`, and the pid directory each was in, for `..`.
    let mut parents: Vec<(Node, String, Option<u32>)> = Vec::new();
    let mut index = 0;
    loop {
        if !started && comps.len() <= relative {
            started = true;
            w.prediction = Prediction::new();
            w.dentries.clear();
        }
        let Some(comp) = comps.pop() else { break };
        let last = comps.is_empty();
        let follow = !last || cx.follow_final || trailer;
        let here = format!("{dir}/{comp}");
        if cx.refused_at == Some(index) {
            // may_lookup's permission check on the directory comes before
            // any lookup in it: the walk stops there.
            w.end = Ok(node);
            if started && w.in_foreign_pid_dir(cx) {
                w.refused = Some(dir);
            }
            return w;
        }
        if comp == ".." {
            // handle_dots: `..` moves to the parent (follow_dotdot), with
            // neither a lookup nor a revalidation, so it cannot be missing.
            if cx.absent_at == Some(index) {
                w.end = Err(Unmodelled::Below {
                    what: "\"..\", never looked up,".to_owned(),
                    at: here,
                });
                return w;
            }
            index += 1;
            let Some((n, d, owner)) = parents.pop() else {
                w.end = Err(Unmodelled::AboveProcRoot { at: here });
                return w;
            };
            (node, dir, w.owner) = (n, d, owner);
            continue;
        }
        if cx.absent_at == Some(index) && !started {
            // The start directory exists: the walk cannot fail inside it.
            w.end = Err(Unmodelled::Below {
                what: "the start directory".to_owned(),
                at: here,
            });
            return w;
        }
        if cx.absent_at == Some(index) {
            // The kernel stops at the missing name; nothing after it is walked.
            w.end = match absent_lookup(&node, &comp, cx) {
                Some(step) => {
                    // A dentry cached while the pid, tid or fd lived is
                    // revalidated first, found stale (0), dropped, and looked
                    // up again.
                    let stale = stale_revalidation(&node, &comp);
                    match stale.filter(|_| (cx.cached)(&here) != Cached::No) {
                        Some(stale) => {
                            let mut options: Vec<_> = revalidations(stale, cx.kernel)
                                .into_iter()
                                .map(|(label, mut steps)| {
                                    steps.push(step.clone());
                                    (format!("{label}, then gone"), steps)
                                })
                                .collect();
                            options.push(("never cached".to_owned(), vec![step]));
                            w.prediction
                                .choice(format!("{here} may have been cached"), options);
                        }
                        None => w.prediction.fixed(vec![step]),
                    }
                    w.absent = Some(here);
                    Ok(Node::Absent)
                }
                None => Err(Unmodelled::Below {
                    what: format!("{node:?}"),
                    at: here,
                }),
            };
            return w;
        }
        index += 1;
        let next = match &node {
            Node::Root => root_component(&mut w, cx, &comp, &here, follow, &mut comps),
            Node::PidDir(table) => pid_component(&mut w, cx, *table, &comp, &here, last, follow),
            Node::TaskDir => {
                cached_or_lookup(
                    &mut w,
                    cx,
                    &here,
                    Step::new(
                        ProbeId::PidRevalidate,
                        "the task's dentry is cached, so it is revalidated",
                    )
                    .name(&comp)
                    .ret(Ret::Valid),
                    Step::new(
                        ProbeId::ProcTaskLookup,
                        "task directories look tids up among the process's threads",
                    )
                    .name(&comp)
                    .ret(Ret::Zero),
                );
                Ok(Node::PidDir(Table::Tid))
            }
            Node::FdDir => {
                cached_or_lookup(
                    &mut w,
                    cx,
                    &here,
                    Step::new(
                        ProbeId::TidFdRevalidate,
                        "the fd's dentry is cached, so it is revalidated",
                    )
                    .name(&comp)
                    .ret(Ret::Valid),
                    Step::new(
                        ProbeId::ProcLookupfd,
                        "fd directories look the number up in the task's fd table",
                    )
                    .name(&comp)
                    .ret(Ret::Zero),
                );
                if follow {
                    Ok(follow_link(
                        &mut w,
                        cx,
                        &comp,
                        &here,
                        last,
                        ProbeId::ProcPidGetLink,
                        Some(Func::from(ProbeId::ProcFdLink)),
                    ))
                } else {
                    Ok(Node::FdLink)
                }
            }
            Node::LeftProc => Err(Unmodelled::LeftProc { at: here.clone() }),
            Node::RootEntry(_) => Ok(pde_component(&mut w, cx, &comp, &here, false)),
            Node::Pde { net, .. } => Ok(pde_component(&mut w, cx, &comp, &here, *net)),
            Node::NetDir => {
                w.dentries.push(here.clone());
                w.prediction.fixed(vec![net_lookup(&comp, Ret::Zero)]);
                Ok(Node::Pde {
                    path: here.clone(),
                    net: true,
                })
            }
            Node::Sys(_) => {
                cached_or_lookup(
                    &mut w,
                    cx,
                    &here,
                    Step::new(
                        ProbeId::ProcSysRevalidate,
                        "the sysctl dentry is cached, so it is revalidated",
                    )
                    .name(&comp)
                    .ret(Ret::Valid),
                    sys_lookup(&comp, Ret::Zero),
                );
                Ok(Node::Sys(here.clone()))
            }
            Node::NsDir => {
                cached_or_lookup(
                    &mut w,
                    cx,
                    &here,
                    Step::new(
                        ProbeId::PidRevalidate,
                        "namespace links get pid_dentry_operations, so a cached one is revalidated",
                    )
                    .name(&comp)
                    .ret(Ret::Valid),
                    ns_lookup(&comp, Ret::Zero),
                );
                if follow {
                    Ok(follow_link(
                        &mut w,
                        cx,
                        &comp,
                        &here,
                        last,
                        ProbeId::ProcNsGetLink,
                        None,
                    ))
                } else {
                    Ok(Node::NsLink(comp.clone()))
                }
            }
            Node::NsLink(_) => Err(Unmodelled::Below {
                at: here.clone(),
                what: "a namespace link".to_owned(),
            }),
            Node::PidEntry(_, e) => Err(Unmodelled::Below {
                at: here.clone(),
                what: format!("{} ({:?})", e.name, e.kind),
            }),
            Node::FdLink => Err(Unmodelled::Below {
                at: here.clone(),
                what: "an fd link".to_owned(),
            }),
            Node::Absent => Err(Unmodelled::Below {
                at: here.clone(),
                what: "a missing name".to_owned(),
            }),
        };
        match next {
            Ok(n) => {
                let owner = match (&node, &n) {
                    (Node::Root, Node::PidDir(_)) => name_to_int(&comp),
                    (_, Node::Root) => None,
                    _ => w.owner,
                };
                // Following /proc/self restarts the walk in the root, which
                // has no parent in the mount.
                if n == Node::Root {
                    parents.clear();
                    dir = "/proc".to_owned();
                } else {
                    parents.push((node, std::mem::replace(&mut dir, here), w.owner));
                }
                (node, w.owner) = (n, owner);
            }
            Err(why) => {
                w.end = Err(why);
                return w;
            }
        }
    }
    w.end = Ok(node);
    w
}

/// A name in a PDE directory below the root. Dentries of a network
/// namespace's entries are never reused: `pde_force_lookup` gives them a
/// d_revalidate that always fails (setns may have changed the namespace), so
/// they are looked up every time; other PDE dentries stay cached and cost no
/// probed call (`proc_misc_d_revalidate` is not probed).
fn pde_component(w: &mut Walk, cx: &WalkContext, comp: &str, here: &str, net: bool) -> Node {
    let lookup = pde_lookup(comp, Ret::Zero);
    if net {
        w.dentries.push(here.to_owned());
        w.prediction.fixed(vec![lookup]);
    } else {
        cache_choice(
            w,
            cx,
            here,
            vec![("cached".to_owned(), vec![])],
            vec![lookup],
        );
    }
    Node::Pde {
        path: here.to_owned(),
        net,
    }
}

fn root_component(
    w: &mut Walk,
    cx: &WalkContext,
    comp: &str,
    here: &str,
    follow: bool,
    comps: &mut Vec<String>,
) -> Result<Node, Unmodelled> {
    if comp == "self" || comp == "thread-self" {
        // /proc/self is a PDE symlink; a cached one costs no probed call.
        cache_choice(
            w,
            cx,
            here,
            vec![("cached".to_owned(), vec![])],
            vec![root_pde_lookup(comp, true, cx.mount.subset_pid)],
        );
        if !follow {
            return Ok(Node::RootEntry(comp.to_owned()));
        }
        if cx.tgid == 0 || (comp == "thread-self" && cx.tid == 0) {
            return Err(Unmodelled::NoPidInMount {
                at: here.to_owned(),
            });
        }
        let mut link = self_link(comp);
        // In RCU walk the dentry is NULL, so its name cannot be checked.
        link.name = None;
        w.prediction.fixed(vec![link]);
        // Pushed in reverse: the stack pops the tgid first.
        if comp == "thread-self" {
            comps.extend([cx.tid.to_string(), "task".to_owned()]);
        }
        comps.push(cx.tgid.to_string());
        return Ok(Node::Root);
    }
    if name_to_int(comp).is_some() {
        cached_or_lookup(
            w,
            cx,
            here,
            Step::new(
                ProbeId::PidRevalidate,
                "the pid's dentry is cached, so it is revalidated",
            )
            .name(comp)
            .ret(Ret::Valid),
            Step::new(
                ProbeId::ProcRootLookup,
                "a dcache miss in /proc: try the name as a pid first",
            )
            .name(comp)
            .ret(Ret::Zero)
            .calls(vec![Step::new(
                ProbeId::ProcPidLookup,
                "name_to_int parses the pid and find_task_by_pid_ns finds the task",
            )
            .name(comp)
            .ret(Ret::Zero)]),
        );
        return Ok(Node::PidDir(Table::Tgid));
    }
    cache_choice(
        w,
        cx,
        here,
        vec![("cached".to_owned(), vec![])],
        vec![root_pde_lookup(comp, true, cx.mount.subset_pid)],
    );
    if comp == SYSCTL_ROOT {
        return Ok(Node::Sys(here.to_owned()));
    }
    match ROOT_LINKS.iter().find(|(name, _)| *name == comp) {
        Some((_, target)) if follow => {
            // proc_get_link is not probed: the step explains, the trace shows
            // the walk going on in the root with the target's components.
            w.prediction.fixed(vec![Step::new(
                Func::named("proc_get_link"),
                format!(
                    "/proc/{comp} is a PDE symlink to {target}; its get_link returns the target"
                ),
            )]);
            comps.extend(target.rsplit('/').map(String::from));
            Ok(Node::Root)
        }
        _ => Ok(Node::RootEntry(comp.to_owned())),
    }
}

/// Following `/proc/self` or `/proc/thread-self` (fs/proc/self.c,
/// thread_self.c): its get_link formats "TGID" or "TGID/task/TID", as the
/// mount's pid namespace numbers them (task_tgid_nr_ns, task_pid_nr_ns).
pub fn self_link(name: &str) -> Step {
    let (func, why) = match name {
        "thread-self" => (
            ProbeId::ProcThreadSelfGetLink,
            "following /proc/thread-self yields TGID/task/TID of the walking thread as the mount's pid namespace numbers them",
        ),
        _ => (
            ProbeId::ProcSelfGetLink,
            "following /proc/self yields the walking task's tgid as the mount's pid namespace numbers it (task_tgid_nr_ns), as a string",
        ),
    };
    Step::new(func, why).ret(Ret::Pointer)
}

/// The symlinks among the root's PDE entries, with their targets relative to
/// /proc: `proc_symlink("mounts", NULL, "self/mounts")` in proc_root_init
/// (fs/proc/root.c) and `proc_symlink("net", NULL, "self/net")` in
/// proc_net_init (fs/proc/proc_net.c), on every modelled kernel.
const ROOT_LINKS: &[(&str, &str)] = &[("mounts", "self/mounts"), ("net", "self/net")];

/// The root's PDE directory whose inode operations proc_sys_init replaces
/// with the sysctl tree's (`proc_sys_dir_operations`, fs/proc/proc_sysctl.c).
const SYSCTL_ROOT: &str = "sys";

fn pid_component(
    w: &mut Walk,
    cx: &WalkContext,
    table: Table,
    comp: &str,
    here: &str,
    last: bool,
    follow: bool,
) -> Result<Node, Unmodelled> {
    let entries = pid_table::entries(table, cx.kernel.version, &|c| cx.kernel.has(c));
    let (base, table_name) = table_lookup(table);
    let Some(entry) = entries.iter().copied().find(|e| e.name == comp) else {
        // A failed lookup leaves no dentry behind, so it is always a lookup.
        w.prediction.fixed(vec![missing_pid_entry(table, comp)]);
        return Err(Unmodelled::NoSuchEntry {
            at: here.to_owned(),
            table: table_name,
            version: cx.kernel.version,
        });
    };
    cached_or_lookup(
        w,
        cx,
        here,
        Step::new(
            ProbeId::PidRevalidate,
            "the entry's dentry is cached, so it is revalidated",
        )
        .name(comp)
        .ret(Ret::Valid),
        Step::new(base, format!("look the name up in {table_name}"))
            .name(comp)
            .ret(Ret::Zero)
            .calls(vec![Step::new(
                ProbeId::ProcPidentLookup,
                format!("{comp} is a {:?} entry of {table_name}", entry.kind),
            )
            .name(comp)
            .ret(Ret::Zero)]),
    );
    match entry.kind {
        EntryKind::Dir => Ok(match (table, comp) {
            (Table::Tgid, "task") => Node::TaskDir,
            (_, "fd") => Node::FdDir,
            (_, "ns") => Node::NsDir,
            (_, "net") => Node::NetDir,
            _ if last => Node::PidEntry(table, entry),
            _ => {
                return Err(Unmodelled::Below {
                    at: format!("{here}/..."),
                    what: comp.to_owned(),
                })
            }
        }),
        EntryKind::Lnk if follow => Ok(follow_link(
            w,
            cx,
            comp,
            here,
            last,
            ProbeId::ProcPidGetLink,
            Some(Func::named(entry.handler)),
        )),
        _ if !last => Err(Unmodelled::NotADirectory {
            at: here.to_owned(),
        }),
        _ => Ok(Node::PidEntry(table, entry)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{expect::Alternative, version::KernelVersion};

    fn kernel() -> KernelFacts {
        KernelFacts::debian(KernelVersion::new(6, 1))
    }

    /// Task 42's walk on kernel `k`, with nothing failing.
    fn context<'a>(
        k: &'a KernelFacts,
        cached: &'a dyn Fn(&str) -> Cached,
        follow: bool,
    ) -> WalkContext<'a> {
        WalkContext {
            absent_at: None,
            link_error: None,
            mount: MountOpts::DEFAULT,
            refused_at: None,
            start_dir: None,
            kernel: k,
            tgid: 42,
            tid: 42,
            follow_final: follow,
            cached,
        }
    }

    fn run(path: &str, cached: &dyn Fn(&str) -> Cached, follow: bool) -> Walk {
        walk(path, &context(&kernel(), cached, follow))
    }

    fn funcs(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| {
                let kids = funcs(&s.children);
                if kids.is_empty() {
                    s.func.to_string()
                } else {
                    format!("{}[{}]", s.func, kids.join(","))
                }
            })
            .collect()
    }

    #[test]
    fn name_to_int_matches_the_kernel() {
        assert_eq!(name_to_int("1234"), Some(1234));
        assert_eq!(name_to_int("0"), Some(0));
        for bad in ["", "01", "12a", "meminfo", "-1", "+1"] {
            assert_eq!(name_to_int(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_trailing_slash_follows_the_last_link() {
        // lstat("/proc/self") stops at the link; lstat("/proc/self/") and
        // lstat("/proc/thread-self/.") follow it.
        let cached = |_: &str| Cached::Yes;
        assert!(matches!(
            run("/proc/self", &cached, false).end,
            Ok(Node::RootEntry(_))
        ));
        assert!(matches!(
            run("/proc/self/", &cached, false).end,
            Ok(Node::PidDir(Table::Tgid))
        ));
        assert!(matches!(
            run("/proc/thread-self/.", &cached, false).end,
            Ok(Node::PidDir(Table::Tid))
        ));
    }

    #[test]
    fn cold_pid_limits_walk_follows_the_documents() {
        let w = run("/proc/42/limits", &|_| Cached::No, true);
        let alts = w.prediction.alternatives(8);
        assert_eq!(alts.len(), 1);
        assert_eq!(
            funcs(&alts[0].1),
            [
                "proc_root_lookup[proc_pid_lookup]",
                "proc_tgid_base_lookup[proc_pident_lookup]"
            ]
        );
        assert_eq!(alts[0].1[0].children[0].ret, Ret::Zero);
        let Ok(Node::PidEntry(Table::Tgid, e)) = w.end else {
            panic!("{:?}", w.end)
        };
        assert_eq!(e.handler, "proc_pid_limits");
        assert_eq!(w.dentries, ["/proc/42", "/proc/42/limits"]);
    }

    #[test]
    fn cached_dentries_are_revalidated_and_unknown_ones_offer_both() {
        let w = run("/proc/42/limits", &|_| Cached::Yes, true);
        let alts = w.prediction.alternatives(8);
        assert_eq!(funcs(&alts[0].1), ["pid_revalidate", "pid_revalidate"]);
        let w = run("/proc/42/limits", &|_| Cached::Unknown, true);
        assert_eq!(w.prediction.alternatives(8).len(), 4);
    }

    #[test]
    fn non_numeric_root_names_fail_the_pid_lookup_fast() {
        let w = run("/proc/meminfo", &|_| Cached::No, true);
        let alts = w.prediction.alternatives(8);
        assert_eq!(
            funcs(&alts[0].1),
            ["proc_root_lookup[proc_pid_lookup,proc_lookup[proc_lookup_de]]"]
        );
        assert_eq!(alts[0].1[0].children[0].ret, Ret::Errno(Errno::ENOENT));
        assert_eq!(w.end, Ok(Node::RootEntry("meminfo".into())));
        // A cached PDE dentry costs nothing probed.
        let w = run("/proc/meminfo", &|_| Cached::Yes, true);
        assert!(w.prediction.alternatives(8)[0].1.is_empty());
    }

    /// `..` goes back to the parent with no call (handle_dots), so
    /// `ls -a /proc/1/fd` stat'ing `..` costs only the walk down to `fd`, and
    /// a name after `..` is looked up in the parent.
    #[test]
    fn dotdot_climbs_to_the_parent_without_a_call() {
        let w = run("/proc/42/fd/..", &|_| Cached::Yes, true);
        assert_eq!(w.end, Ok(Node::PidDir(Table::Tgid)));
        assert_eq!(
            funcs(&w.prediction.alternatives(8)[0].1),
            ["pid_revalidate", "pid_revalidate"]
        );
        assert_eq!(w.dentries, ["/proc/42", "/proc/42/fd"]);
        assert_eq!(w.owner, Some(42));

        let w = run("/proc/42/fd/../status", &|_| Cached::No, true);
        assert_eq!(w.end, Ok(Node::PidEntry(Table::Tgid, w_entry("status"))));
        assert_eq!(w.dentries.last().unwrap(), "/proc/42/status");

        let w = run("/proc/42/task/42/..", &|_| Cached::Yes, true);
        assert_eq!(w.end, Ok(Node::TaskDir));
        let w = run("/proc/7/../self/..", &|_| Cached::Yes, true);
        assert_eq!(w.end, Ok(Node::Root), "self's target is relative to /proc");
        assert_eq!(w.owner, None);
        let w = run("/proc/42/..", &|_| Cached::Yes, true);
        assert_eq!((w.end, w.owner), (Ok(Node::Root), None));
        let w = run("/proc/..", &|_| Cached::Yes, true);
        assert!(matches!(w.end, Err(Unmodelled::AboveProcRoot { .. })));
    }

    /// A failing walk's missing name is never a `..`, and the names after
    /// one are counted on.
    #[test]
    fn dotdot_is_never_the_missing_name() {
        let at = |i| {
            let k = kernel();
            let cx = context(&k, &|_| Cached::No, true);
            walk(
                "/proc/42/../99999/stat",
                &WalkContext {
                    absent_at: Some(i),
                    ..cx
                },
            )
        };
        assert!(matches!(at(1).end, Err(Unmodelled::Below { .. })));
        let w = at(2);
        assert_eq!(
            (w.end, w.absent.as_deref()),
            (Ok(Node::Absent), Some("/proc/99999"))
        );
    }

    #[test]
    fn self_is_followed_to_the_tasks_pid() {
        let w = run(
            "/proc/self/stat",
            &|p| {
                if p == "/proc/self" {
                    Cached::Yes
                } else {
                    Cached::No
                }
            },
            true,
        );
        let alts = w.prediction.alternatives(8);
        assert_eq!(
            funcs(&alts[0].1),
            [
                "proc_self_get_link",
                "proc_root_lookup[proc_pid_lookup]",
                "proc_tgid_base_lookup[proc_pident_lookup]"
            ]
        );
        assert_eq!(alts[0].1[1].name.as_deref(), Some("42"));
        assert_eq!(w.dentries, ["/proc/self", "/proc/42", "/proc/42/stat"]);
    }

    /// `mount` opens /proc/mounts, a PDE symlink to self/mounts: after the
    /// root lookup the walk goes on through /proc/self into the pid directory.
    #[test]
    fn root_pde_symlinks_are_followed_into_their_target() {
        let w = run(
            "/proc/mounts",
            &|p| match p {
                "/proc/mounts" | "/proc/self" => Cached::Yes,
                _ => Cached::No,
            },
            true,
        );
        assert_eq!(w.end, Ok(Node::PidEntry(Table::Tgid, w_entry("mounts"))));
        let alts = w.prediction.alternatives(8);
        assert_eq!(
            funcs(&alts[0].1),
            [
                "proc_get_link",
                "proc_self_get_link",
                "proc_root_lookup[proc_pid_lookup]",
                "proc_tgid_base_lookup[proc_pident_lookup]"
            ]
        );
        assert_eq!(
            w.dentries,
            ["/proc/mounts", "/proc/self", "/proc/42", "/proc/42/mounts"]
        );
        let w = run("/proc/mounts", &|_| Cached::Yes, false);
        assert_eq!(
            w.end,
            Ok(Node::RootEntry("mounts".into())),
            "lstat stops at the link"
        );
    }

    fn w_entry(name: &str) -> &'static PidEntry {
        pid_table::entries(Table::Tgid, kernel().version, &|c| kernel().has(c))
            .into_iter()
            .find(|e| e.name == name)
            .unwrap()
    }

    #[test]
    fn links_are_followed_only_when_the_walk_follows() {
        let w = run("/proc/42/cwd", &|_| Cached::No, true);
        let steps = &w.prediction.alternatives(8)[0].1;
        assert_eq!(
            funcs(steps).last().unwrap(),
            "proc_pid_get_link[proc_cwd_link]"
        );
        assert_eq!(w.end, Ok(Node::LeftProc));
        let w = run("/proc/42/cwd", &|_| Cached::No, false);
        assert!(matches!(w.end, Ok(Node::PidEntry(_, e)) if e.kind == EntryKind::Lnk));
    }

    #[test]
    fn a_link_reached_in_rcu_walk_is_refused_then_resolved() {
        let w = run("/proc/42/exe", &|_| Cached::No, true);
        let alts = w.prediction.alternatives(8);
        assert_eq!(alts.len(), 2);
        let rcu = &alts[1].1;
        let n = rcu.len();
        assert_eq!(
            funcs(&rcu[n - 2..]),
            ["proc_pid_get_link", "proc_pid_get_link[proc_exe_link]"]
        );
        assert_eq!(rcu[n - 2].ret, Ret::Errno(Errno::ECHILD));
        assert_eq!(rcu[n - 2].name, None, "the dentry is NULL in RCU walk");
        assert_eq!(rcu[n - 1].name.as_deref(), Some("exe"));
    }

    #[test]
    fn task_and_fd_directories() {
        let w = run("/proc/42/task/43/status", &|_| Cached::No, true);
        assert_eq!(
            funcs(&w.prediction.alternatives(8)[0].1),
            [
                "proc_root_lookup[proc_pid_lookup]",
                "proc_tgid_base_lookup[proc_pident_lookup]",
                "proc_task_lookup",
                "proc_tid_base_lookup[proc_pident_lookup]"
            ]
        );
        let w = run("/proc/42/fd/0", &|_| Cached::Yes, false);
        let alts = warm(&w.prediction);
        assert_eq!(alts.len(), 2, "tid_fd_revalidate may refuse RCU walk first");
        assert_eq!(
            funcs(&alts[0].1),
            [
                "pid_revalidate",
                "pid_revalidate",
                "tid_fd_revalidate",
                "tid_fd_revalidate"
            ]
        );
        assert_eq!(alts[0].1[2].ret, Ret::Errno(Errno::ECHILD));
        assert_eq!(
            funcs(&alts[1].1),
            ["pid_revalidate", "pid_revalidate", "tid_fd_revalidate"]
        );
        assert_eq!(w.end, Ok(Node::FdLink));
    }

    /// The alternatives that assume every dentry cached (a dentry seen
    /// cached may also have been evicted: the cold ones follow).
    fn warm(p: &Prediction) -> Vec<Alternative> {
        p.alternatives(64)
            .into_iter()
            .filter(|(assumed, _)| !assumed.iter().any(|a| a == "cold dcache"))
            .collect()
    }

    #[test]
    fn pid_revalidate_refuses_rcu_walk_only_on_older_kernels() {
        let k = KernelFacts::debian(KernelVersion::new(5, 10));
        let cached = |_: &str| Cached::Yes;
        let w = walk("/proc/42", &context(&k, &cached, true));
        assert_eq!(warm(&w.prediction).len(), 2);
        assert_eq!(warm(&run("/proc/42", &cached, true).prediction).len(), 1);
    }

    #[test]
    fn unknown_entries_and_outside_paths() {
        let w = run("/proc/42/nonesuch", &|_| Cached::No, true);
        assert!(w.end.is_err());
        let steps = &w.prediction.alternatives(8)[0].1;
        assert_eq!(steps[1].ret, Ret::Errno(Errno::ENOENT));
        assert!(run("/etc/passwd", &|_| Cached::No, true).end.is_err());
        assert!(run("/proc/42/attr/current", &|_| Cached::No, true)
            .end
            .is_err());
        assert!(run("/procfoo", &|_| Cached::No, true).end.is_err());
    }

    #[test]
    fn namespace_links_are_looked_up_in_the_ns_directory() {
        let w = run("/proc/42/ns/net", &|_| Cached::No, false);
        assert_eq!(w.end, Ok(Node::NsLink("net".into())));
        assert_eq!(
            funcs(&w.prediction.alternatives(8)[0].1),
            [
                "proc_root_lookup[proc_pid_lookup]",
                "proc_tgid_base_lookup[proc_pident_lookup]",
                "proc_ns_dir_lookup"
            ]
        );
        let w = run("/proc/42/ns/net", &|_| Cached::Yes, true);
        assert_eq!(w.end, Ok(Node::LeftProc));
        let alts = warm(&w.prediction);
        assert_eq!(
            funcs(&alts[0].1),
            [
                "pid_revalidate",
                "pid_revalidate",
                "pid_revalidate",
                "proc_ns_get_link"
            ]
        );
        let rcu = &alts[1].1;
        assert_eq!(rcu[3].ret, Ret::Errno(Errno::ECHILD));
        assert_eq!(rcu[4].func, ProbeId::ProcNsGetLink);
        assert_eq!(rcu[4].ret, Ret::Zero);
    }

    /// /proc/net is self/net: the task's network namespace's PDE tree, whose
    /// dentries are looked up every time (pde_force_lookup).
    #[test]
    fn net_entries_are_always_looked_up() {
        let w = run("/proc/net/dev", &|_| Cached::Yes, true);
        assert_eq!(
            w.end,
            Ok(Node::Pde {
                path: "/proc/42/net/dev".into(),
                net: true
            })
        );
        assert_eq!(
            funcs(&warm(&w.prediction)[0].1),
            [
                "proc_get_link",
                "proc_self_get_link",
                "pid_revalidate",
                "pid_revalidate",
                "proc_tgid_net_lookup[proc_lookup_de]"
            ]
        );
    }

    #[test]
    fn sysctl_walks_refuse_rcu_walk_when_cached() {
        let w = run("/proc/sys/kernel/ostype", &|_| Cached::No, true);
        assert_eq!(w.end, Ok(Node::Sys("/proc/sys/kernel/ostype".into())));
        assert_eq!(
            funcs(&w.prediction.alternatives(8)[0].1),
            [
                "proc_root_lookup[proc_pid_lookup,proc_lookup[proc_lookup_de]]",
                "proc_sys_lookup",
                "proc_sys_lookup"
            ]
        );
        let w = run("/proc/sys/kernel/ostype", &|_| Cached::Yes, true);
        let alts = warm(&w.prediction);
        assert_eq!(
            funcs(&alts[0].1),
            [
                "proc_sys_revalidate",
                "proc_sys_revalidate",
                "proc_sys_revalidate",
                "proc_sys_revalidate"
            ]
        );
        assert_eq!(alts[0].1[0].ret, Ret::Errno(Errno::ECHILD));
    }

    #[test]
    fn pde_subdirectories_are_walked_with_proc_lookup() {
        let w = run("/proc/driver/rtc", &|_| Cached::No, true);
        assert_eq!(
            funcs(&w.prediction.alternatives(8)[0].1)[1],
            "proc_lookup[proc_lookup_de]"
        );
        assert!(run("/proc/driver/rtc", &|_| Cached::Yes, true)
            .prediction
            .alternatives(8)[0]
            .1
            .is_empty());
    }
}
