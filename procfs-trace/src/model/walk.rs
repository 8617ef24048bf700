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

use procfs_trace_common::ProbeId;

use super::{
    errno::Errno,
    expect::{Prediction, Ret, Step},
    func::Func,
    kernel::KernelFacts,
    pid_table::{self, EntryKind, PidEntry, Table},
    unmodelled::Unmodelled,
    version::KernelVersion,
};

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
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Predicts the walk of `path` (absolute, under /proc).
pub fn walk(path: &str, cx: &WalkContext) -> Walk {
    let mut w = Walk {
        prediction: Prediction::new(),
        end: Ok(Node::Root),
        dentries: Vec::new(),
        absent: None,
    };
    let Some(rest) = path
        .strip_prefix("/proc")
        .filter(|r| r.is_empty() || r.starts_with('/'))
    else {
        w.end = Err(Unmodelled::NotUnderProc {
            path: path.to_owned(),
        });
        return w;
    };
    let mut comps: Vec<String> = rest
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(String::from)
        .collect();
    comps.reverse(); // a stack: links push their targets
    let mut node = Node::Root;
    let mut dir = String::from("/proc");
    let mut index = 0;
    while let Some(comp) = comps.pop() {
        let last = comps.is_empty();
        let follow = !last || cx.follow_final;
        let here = format!("{dir}/{comp}");
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
                    Ok(follow_pid_link(
                        &mut w,
                        cx,
                        &comp,
                        &here,
                        last,
                        Func::from(ProbeId::ProcFdLink),
                    ))
                } else {
                    Ok(Node::FdLink)
                }
            }
            Node::LeftProc => Err(Unmodelled::LeftProc { at: here.clone() }),
            Node::RootEntry(name) => Err(Unmodelled::Below {
                what: format!("/proc/{name}"),
                at: here.clone(),
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
                // Following /proc/self restarts the walk in the root.
                dir = if n == Node::Root {
                    "/proc".to_owned()
                } else {
                    here
                };
                node = n;
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

/// First version the model knows whose `pid_revalidate` works in RCU walk:
/// 5.10's returns -ECHILD under LOOKUP_RCU, 6.1's handles it (checked in both
/// versions' fs/proc/base.c; upstream "proc: Allow pid_revalidate() during
/// LOOKUP_RCU" landed in between).
const PID_REVALIDATE_RCU_SINCE: KernelVersion = KernelVersion::new(6, 1);

/// Whether `func` refuses RCU walk (returns -ECHILD) on this kernel.
/// `tid_fd_revalidate` does on every modelled version (fs/proc/fd.c).
fn refuses_rcu(func: Func, kernel: &KernelFacts) -> bool {
    match func.probe() {
        Some(ProbeId::TidFdRevalidate) => true,
        Some(ProbeId::PidRevalidate) => kernel.version < PID_REVALIDATE_RCU_SINCE,
        _ => false,
    }
}

/// The ways a cached dentry is revalidated: once, or, when the function
/// refuses RCU walk, refused with -ECHILD and redone after lookup_fast drops
/// to ref-walk (a walk already in ref-walk revalidates once).
fn revalidations(warm: Step, kernel: &KernelFacts) -> Vec<(String, Vec<Step>)> {
    if !refuses_rcu(warm.func, kernel) {
        return vec![("cached".to_owned(), vec![warm])];
    }
    let refused = Step {
        ret: Ret::Errno(Errno::ECHILD),
        why: format!("{} refuses RCU walk with -ECHILD", warm.func),
        ..warm.clone()
    };
    vec![
        (
            "cached, RCU walk refused".to_owned(),
            vec![refused, warm.clone()],
        ),
        ("cached, ref-walk".to_owned(), vec![warm]),
    ]
}

/// Records `here` and adds the choice between revalidating and looking it up.
fn cached_or_lookup(w: &mut Walk, cx: &WalkContext, here: &str, warm: Step, cold: Step) {
    let warm = revalidations(warm, cx.kernel);
    cache_choice(w, cx, here, warm, vec![cold]);
}

fn cache_choice(
    w: &mut Walk,
    cx: &WalkContext,
    here: &str,
    warm: Vec<(String, Vec<Step>)>,
    cold: Vec<Step>,
) {
    w.dentries.push(here.to_owned());
    let cold = ("cold dcache".to_owned(), cold);
    // A dentry seen cached may since have been evicted, and the same path may
    // name another proc mount's dentry (a container's own /proc, a hidepid
    // mount): the trace cannot tell, so both stay possible, warm first.
    let options = match (cx.cached)(here) {
        Cached::Yes => warm.into_iter().chain(std::iter::once(cold)).collect(),
        Cached::No => vec![cold],
        Cached::Unknown => std::iter::once(cold).chain(warm).collect(),
    };
    match <[_; 1]>::try_from(options) {
        Ok([(_, steps)]) => w.prediction.fixed(steps),
        Err(options) => w
            .prediction
            .choice(format!("{here} may already be in the dcache"), options),
    }
}

/// Follows a pid or fd symlink through proc_pid_get_link and its own
/// function (`proc_cwd_link`, `proc_fd_link`, ...). When the walk failed
/// there (`link_error` on the last component), either the ptrace access
/// check refused (-EACCES, before the function runs) or the function found
/// nothing to link to.
fn follow_pid_link(
    w: &mut Walk,
    cx: &WalkContext,
    comp: &str,
    here: &str,
    last: bool,
    handler: Func,
) -> Node {
    let get_link = |ret: Ret, children: Vec<Step>| {
        Step::new(
            ProbeId::ProcPidGetLink,
            "pid and fd symlinks resolve through proc_pid_get_link: nd_jump_link, then NULL",
        )
        .name(comp)
        .ret(ret)
        .calls(children)
    };
    let own = |ret: Ret| {
        Step::new(handler, format!("{comp}'s get_link function"))
            .name(comp)
            .ret(ret)
    };
    match cx.link_error.filter(|_| last) {
        None => {
            let resolved = get_link(Ret::Zero, vec![own(Ret::Zero)]);
            // pick_link calls get_link with a NULL dentry while the walk is
            // still in RCU mode; proc_pid_get_link refuses that with -ECHILD
            // and is called again once the walk has left RCU mode.
            let mut refused = get_link(Ret::Errno(Errno::ECHILD), vec![]);
            refused.name = None;
            refused.why =
                "in RCU walk the dentry is NULL, so proc_pid_get_link refuses with -ECHILD"
                    .to_owned();
            w.prediction.choice(
                format!("{here} may be reached in RCU walk"),
                vec![
                    ("ref-walk".to_owned(), vec![resolved.clone()]),
                    (
                        "RCU walk, get_link refused".to_owned(),
                        vec![refused, resolved],
                    ),
                ],
            );
            Node::LeftProc
        }
        Some(e) => {
            link_failure(&mut w.prediction, e, get_link, own);
            w.absent = Some(here.to_owned());
            Node::Absent
        }
    }
}

/// The ways a link's resolution fails with `e`: refused by the ptrace access
/// check before its own function runs (only -EACCES), or its own function
/// failing. `outer` builds the step that checks access (proc_pid_get_link or
/// proc_pid_readlink) around its children, `own` the link's own function.
pub fn link_failure(
    p: &mut Prediction,
    e: Errno,
    outer: impl Fn(Ret, Vec<Step>) -> Step,
    own: impl Fn(Ret) -> Step,
) {
    let failed = Ret::Errno(e);
    let mut options = vec![(
        format!("the link's function returned {e}"),
        vec![outer(failed, vec![own(failed)])],
    )];
    if e == Errno::EACCES {
        options.push((
            "ptrace access refused".to_owned(),
            vec![outer(failed, Vec::new())],
        ));
    }
    p.choice("why the link could not be resolved", options);
}

/// The lookup that fails with -ENOENT for `name` missing from the directory
/// at `node`; `None` where the model cannot see that name missing (/proc/self
/// always exists; a pid table entry the kernel has cannot be absent).
fn absent_lookup(node: &Node, name: &str, cx: &WalkContext) -> Option<Step> {
    let enoent = Ret::Errno(Errno::ENOENT);
    Some(match node {
        Node::Root if name == "self" || name == "thread-self" => return None,
        Node::Root => root_pde_lookup(name, false),
        Node::PidDir(table) => {
            let entries = pid_table::entries(*table, cx.kernel.version, &|c| cx.kernel.has(c));
            if entries.iter().any(|e| e.name == name) {
                return None;
            }
            missing_pid_entry(*table, name)
        }
        Node::TaskDir => Step::new(
            ProbeId::ProcTaskLookup,
            "no thread of the process has this tid",
        )
        .name(name)
        .ret(enoent),
        Node::FdDir => Step::new(ProbeId::ProcLookupfd, "no such open fd")
            .name(name)
            .ret(enoent),
        _ => return None,
    })
}

/// The revalidation that finds a cached dentry of `name` in `node` stale,
/// where such a dentry can exist (a pid, a tid or an fd that went away).
fn stale_revalidation(node: &Node, name: &str) -> Option<Step> {
    let (func, what) = match node {
        Node::Root if name_to_int(name).is_some() => (ProbeId::PidRevalidate, "the pid"),
        Node::TaskDir => (ProbeId::PidRevalidate, "the thread"),
        Node::FdDir => (ProbeId::TidFdRevalidate, "the fd"),
        _ => return None,
    };
    Some(
        Step::new(
            func,
            format!("{what} is gone, so the cached dentry is stale"),
        )
        .name(name)
        .ret(Ret::Zero),
    )
}

/// The lookup of a name a pid table does not have (on this kernel).
fn missing_pid_entry(table: Table, name: &str) -> Step {
    let (base, table_name) = table_lookup(table);
    Step::new(base, format!("look the name up in {table_name}"))
        .name(name)
        .ret(Ret::Errno(Errno::ENOENT))
        .calls(vec![Step::new(
            ProbeId::ProcPidentLookup,
            format!("{name} is not in {table_name} on this kernel"),
        )
        .name(name)
        .ret(Ret::Errno(Errno::ENOENT))])
}

/// A pid table's lookup function and the table's name in the source.
fn table_lookup(table: Table) -> (ProbeId, &'static str) {
    match table {
        Table::Tgid => (ProbeId::ProcTgidBaseLookup, "tgid_base_stuff"),
        Table::Tid => (ProbeId::ProcTidBaseLookup, "tid_base_stuff"),
    }
}

/// The cold lookup of a non-pid name in the proc root: the pid attempt fails fast.
/// When `found` is false, the same walk through both for a name the root
/// does not have: every call fails with -ENOENT, and no dentry is left.
fn root_pde_lookup(name: &str, found: bool) -> Step {
    let enoent = Ret::Errno(Errno::ENOENT);
    let (ret, why_pid, why_de) = match found {
        true => (
            Ret::Zero,
            "name_to_int rejects a non-numeric name, so the pid lookup fails fast",
            "pde_subdir_find finds the entry among the root's children",
        ),
        false => (
            enoent,
            "no task has this pid in the mount's namespace, or name_to_int rejects the name",
            "pde_subdir_find finds no such entry among the root's children",
        ),
    };
    Step::new(
        ProbeId::ProcRootLookup,
        "a dcache miss in /proc: try the name as a pid first",
    )
    .name(name)
    .ret(ret)
    .calls(vec![
        Step::new(ProbeId::ProcPidLookup, why_pid)
            .name(name)
            .ret(enoent),
        Step::new(ProbeId::ProcLookup, "then the PDE tree of /proc")
            .name(name)
            .ret(ret)
            .calls(vec![Step::new(ProbeId::ProcLookupDe, why_de)
                .name(name)
                .ret(ret)]),
    ])
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
            vec![root_pde_lookup(comp, true)],
        );
        if !follow {
            return Ok(Node::RootEntry(comp.to_owned()));
        }
        if comp == "thread-self" {
            return Err(Unmodelled::ThreadSelf {
                at: here.to_owned(),
            });
        }
        if cx.tgid == 0 {
            return Err(Unmodelled::NoPidInMount {
                at: here.to_owned(),
            });
        }
        let mut link = Step::new(
            ProbeId::ProcSelfGetLink,
            "following /proc/self yields the walking task's tgid as the mount's pid namespace numbers it (task_tgid_nr_ns), as a string",
        )
        .ret(Ret::Pointer);
        // In RCU walk the dentry is NULL, so its name cannot be checked.
        link.name = None;
        w.prediction.fixed(vec![link]);
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
        vec![root_pde_lookup(comp, true)],
    );
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

/// The symlinks among the root's PDE entries, with their targets relative to
/// /proc: `proc_symlink("mounts", NULL, "self/mounts")` in proc_root_init
/// (fs/proc/root.c) and `proc_symlink("net", NULL, "self/net")` in
/// proc_net_init (fs/proc/proc_net.c), on every modelled kernel.
const ROOT_LINKS: &[(&str, &str)] = &[("mounts", "self/mounts"), ("net", "self/net")];

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
            _ if last => Node::PidEntry(table, entry),
            _ => {
                return Err(Unmodelled::Below {
                    at: format!("{here}/..."),
                    what: comp.to_owned(),
                })
            }
        }),
        EntryKind::Lnk if follow => Ok(follow_pid_link(
            w,
            cx,
            comp,
            here,
            last,
            Func::named(entry.handler),
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

    fn run(path: &str, cached: &dyn Fn(&str) -> Cached, follow: bool) -> Walk {
        let k = kernel();
        walk(
            path,
            &WalkContext {
                absent_at: None,
                link_error: None,
                kernel: &k,
                tgid: 42,
                follow_final: follow,
                cached,
            },
        )
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
        let w = walk(
            "/proc/42",
            &WalkContext {
                absent_at: None,
                link_error: None,
                kernel: &k,
                tgid: 42,
                follow_final: true,
                cached: &cached,
            },
        );
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
        assert!(run("/proc/sys/kernel/pid_max", &|_| Cached::No, true)
            .end
            .is_err());
        assert!(run("/procfoo", &|_| Cached::No, true).end.is_err());
    }
}
