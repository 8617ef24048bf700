//! The calls a lookup costs in each kind of directory, found or missing.

use procfs_trace_common::ProbeId;

use super::{name_to_int, Node, WalkContext};
use crate::model::{
    errno::Errno,
    expect::{Ret, Step},
    namespaces,
    pid_table::{self, Table},
};

/// The lookup that fails with -ENOENT for `name` missing from the directory
/// at `node`; `None` where the model cannot see that name missing (/proc/self
/// always exists; a pid table entry the kernel has cannot be absent).
pub(super) fn absent_lookup(node: &Node, name: &str, cx: &WalkContext) -> Option<Step> {
    let enoent = Ret::Errno(Errno::ENOENT);
    Some(match node {
        Node::Root if name == "self" || name == "thread-self" => return None,
        Node::Root => root_pde_lookup(name, false, cx.mount.subset_pid),
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
        Node::NsDir if namespaces::ns_entries(cx.kernel).contains(&name) => return None,
        Node::NsDir => ns_lookup(name, enoent),
        Node::NetDir => net_lookup(name, enoent),
        Node::Sys(_) => sys_lookup(name, enoent),
        Node::RootEntry(_) | Node::Pde { .. } => pde_lookup(name, enoent),
        _ => return None,
    })
}

/// `proc_ns_dir_lookup`: the name among the namespace types of `ns_entries`
/// (fs/proc/namespaces.c); found, proc_ns_instantiate's d_splice_alias
/// returns NULL.
pub(super) fn ns_lookup(name: &str, ret: Ret) -> Step {
    Step::new(
        ProbeId::ProcNsDirLookup,
        "ns directories look the name up among the kernel's namespace types",
    )
    .name(name)
    .ret(ret)
}

/// `proc_tgid_net_lookup`: `proc_lookup_de` in the PDE tree of the task's
/// network namespace (fs/proc/proc_net.c).
pub(super) fn net_lookup(name: &str, ret: Ret) -> Step {
    Step::new(
        ProbeId::ProcTgidNetLookup,
        "/proc/PID/net looks names up in the task's network namespace's PDE tree",
    )
    .name(name)
    .ret(ret)
    .calls(vec![Step::new(
        ProbeId::ProcLookupDe,
        "pde_subdir_find among net->proc_net's children",
    )
    .name(name)
    .ret(ret)])
}

/// `proc_lookup` → `proc_lookup_de` in a PDE directory below the root.
pub(super) fn pde_lookup(name: &str, ret: Ret) -> Step {
    Step::new(
        ProbeId::ProcLookup,
        "PDE directories look names up with proc_lookup",
    )
    .name(name)
    .ret(ret)
    .calls(vec![Step::new(
        ProbeId::ProcLookupDe,
        "pde_subdir_find among the directory's children",
    )
    .name(name)
    .ret(ret)])
}

/// `proc_sys_lookup`: the name in the sysctl tables registered at that
/// directory (fs/proc/proc_sysctl.c).
pub(super) fn sys_lookup(name: &str, ret: Ret) -> Step {
    Step::new(
        ProbeId::ProcSysLookup,
        "/proc/sys directories look names up in the registered sysctl tables",
    )
    .name(name)
    .ret(ret)
}

/// The revalidation that finds a cached dentry of `name` in `node` stale,
/// where such a dentry can exist (a pid, a tid or an fd that went away).
pub(super) fn stale_revalidation(node: &Node, name: &str) -> Option<Step> {
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
pub(super) fn missing_pid_entry(table: Table, name: &str) -> Step {
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
pub(super) fn table_lookup(table: Table) -> (ProbeId, &'static str) {
    match table {
        Table::Tgid => (ProbeId::ProcTgidBaseLookup, "tgid_base_stuff"),
        Table::Tid => (ProbeId::ProcTidBaseLookup, "tid_base_stuff"),
    }
}

/// The cold lookup of a non-pid name in the proc root: the pid attempt fails fast.
/// When `found` is false, the same walk through both for a name the root
/// does not have: every call fails with -ENOENT, and no dentry is left.
/// On a `subset=pid` mount, `proc_lookup` fails before the PDE tree.
pub(super) fn root_pde_lookup(name: &str, found: bool, subset_pid: bool) -> Step {
    if subset_pid {
        let enoent = Ret::Errno(Errno::ENOENT);
        return Step::new(
            ProbeId::ProcRootLookup,
            "a dcache miss in /proc: try the name as a pid first",
        )
        .name(name)
        .ret(enoent)
        .calls(vec![
            Step::new(
                ProbeId::ProcPidLookup,
                "no task has this pid, or it is no pid",
            )
            .name(name)
            .ret(enoent),
            Step::new(
                ProbeId::ProcLookup,
                "subset=pid: proc_lookup refuses every name outside the pid directories",
            )
            .name(name)
            .ret(enoent),
        ]);
    }
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
