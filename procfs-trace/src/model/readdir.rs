//! Directory listings: which readdir functions run, in which phase, and where
//! the position `ctx->pos` must stand.
//!
//! `proc_root_readdir` first lets `proc_readdir` → `proc_readdir_de` emit `.`,
//! `..` and the static PDE entries while `pos < FIRST_PROCESS_ENTRY` (256);
//! when they are all out (it returns 1) it moves `pos` to 256 and
//! `proc_pid_readdir` emits `self` (256), `thread-self` (257) and then every
//! tgid at `TGID_OFFSET + tgid` (258 + tgid) in ascending order. A pid
//! directory lists `.`, `..` and its pid_entry table in table order.

use procfs_trace_common::ProbeId;

use super::{
    expect::{Pos, Prediction, Ret, Segment, Step},
    func::Func,
    kernel::KernelFacts,
    mount::MountOpts,
    namespaces,
    pid_table::{self, Table},
    unmodelled::Unmodelled,
    version::KernelVersion,
    walk::Node,
};

/// The fd directory's `iterate_shared`: `proc_readfd` in 5.10 and 6.1,
/// `proc_fd_iterate` in 6.12 and 7.2 (fs/proc/fd.c of each; renamed in between).
fn fd_readdir(kernel: &KernelFacts) -> ProbeId {
    if kernel.version < KernelVersion::new(6, 12) {
        ProbeId::ProcReadfd
    } else {
        ProbeId::ProcFdIterate
    }
}

/// `FIRST_PROCESS_ENTRY` in fs/proc/base.c.
pub const FIRST_PROCESS_ENTRY: i64 = 256;

/// Predicts one getdents on the directory `node`, starting at `pos_in`, on a
/// proc mount with options `mount`. `dir` is the directory's dentry name,
/// which every readdir function of it reports: `/` for the proc root.
pub fn readdir(
    node: &Node,
    pos_in: i64,
    kernel: &KernelFacts,
    dir: &str,
    mount: MountOpts,
) -> Result<Prediction, Unmodelled> {
    let mut p = Prediction::new();
    match node {
        Node::Root => root(&mut p, pos_in, mount.subset_pid),
        Node::PidDir(table) => {
            let entries = pid_table::entries(*table, kernel.version, &|c| kernel.has(c));
            let end = 2 + entries.len() as i64;
            let (func, table_name) = match table {
                Table::Tgid => (Func::from(ProbeId::ProcTgidBaseReaddir), "tgid_base_stuff"),
                // Not probed: predicted for explain, dropped before comparison.
                Table::Tid => (Func::named("proc_tid_base_readdir"), "tid_base_stuff"),
            };
            let step = Step::new(
                func,
                format!(
                    "emits . and .. and the {} entries of {table_name} for kernel {}, so pos ends at {end} (assuming the buffer holds them all)",
                    entries.len(),
                    kernel.version
                ),
            )
            .pos(Pos::Eq(pos_in), if pos_in >= end { Pos::Eq(pos_in) } else { Pos::Eq(end) })
            .ret(Ret::Zero);
            p.fixed(vec![step]);
        }
        Node::TaskDir => p.fixed(vec![Step::new(
            ProbeId::ProcTaskReaddir,
            "emits . and .., then one entry per thread",
        )
        .pos(Pos::Eq(pos_in), Pos::AtLeast(pos_in))
        .ret(Ret::Zero)]),
        Node::FdDir => p.fixed(vec![Step::new(
            fd_readdir(kernel),
            "emits . and .., then one entry per open fd",
        )
        .pos(Pos::Eq(pos_in), Pos::AtLeast(pos_in))
        .ret(Ret::Zero)]),
        Node::NsDir => {
            let n = namespaces::ns_entries(kernel).len() as i64;
            let end = (2 + n).max(pos_in);
            p.fixed(vec![Step::new(
                ProbeId::ProcNsDirReaddir,
                format!(
                    "emits . and .. and the {n} namespace types of ns_entries, so pos ends at {end} (assuming the buffer holds them all)"
                ),
            )
            .pos(Pos::Eq(pos_in), Pos::Eq(end))
            .ret(Ret::Zero)]);
        }
        Node::Sys(_) => p.fixed(vec![Step::new(
            ProbeId::ProcSysReaddir,
            "emits . and .., then the entries of the sysctl tables registered there; always 0",
        )
        .pos(Pos::Eq(pos_in), Pos::AtLeast(pos_in))
        .ret(Ret::Zero)]),
        Node::NetDir => pde_listing(
            &mut p,
            pos_in,
            Step::new(
                ProbeId::ProcTgidNetReaddir,
                "/proc/PID/net lists the task's network namespace's PDE tree",
            ),
        ),
        Node::RootEntry(_) | Node::Pde { .. } => pde_listing(
            &mut p,
            pos_in,
            Step::new(
                ProbeId::ProcReaddir,
                "PDE directories list with proc_readdir",
            ),
        ),
        other => {
            return Err(Unmodelled::Listing {
                what: format!("{other:?}"),
            })
        }
    }
    for seg in &mut p.segments {
        match seg {
            Segment::Fixed(steps) => name_all(steps, dir),
            Segment::Choice { options, .. } => options
                .iter_mut()
                .for_each(|(_, steps)| name_all(steps, dir)),
        }
    }
    Ok(p)
}

/// A PDE directory's listing: `outer` hands the directory's PDE to
/// `proc_readdir_de`, which emits `.`, `..` and the children in rbtree order
/// and returns 1 when it emitted the last one, 0 when the buffer filled or
/// nothing was left; the outer function returns what it returned.
fn pde_listing(p: &mut Prediction, pos_in: i64, outer: Step) {
    let listing = |ret: Ret, why: &str| {
        vec![outer
            .clone()
            .pos(Pos::Eq(pos_in), Pos::AtLeast(pos_in))
            .ret(ret)
            .calls(vec![Step::new(ProbeId::ProcReaddirDe, why.to_owned())
                .pos(Pos::Eq(pos_in), Pos::AtLeast(pos_in))
                .ret(ret)])]
    };
    p.choice(
        "whether this call emitted the directory's last entry",
        vec![
            (
                "to the end".to_owned(),
                listing(Ret::Valid, "emits the children up to the last one"),
            ),
            (
                "buffer full or nothing left".to_owned(),
                listing(
                    Ret::Zero,
                    "stops at a full buffer, or finds no child at this position",
                ),
            ),
        ],
    );
}

/// Every readdir function of a directory reports the directory's name.
fn name_all(steps: &mut [Step], dir: &str) {
    for s in steps {
        s.name = Some(dir.to_owned());
        name_all(&mut s.children, dir);
    }
}

fn root(p: &mut Prediction, pos_in: i64, subset_pid: bool) {
    let pids = |from: i64| {
        Step::new(
            ProbeId::ProcPidReaddir,
            "phase 2: self at 256, thread-self at 257, then each tgid at 258 + tgid, ascending",
        )
        .pos(Pos::Eq(from), Pos::AtLeast(from))
        .ret(Ret::Zero)
    };
    let root = |children: Vec<Step>| {
        Step::new(
            ProbeId::ProcRootReaddir,
            "getdents on /proc: 0, or the error of a phase",
        )
        .pos(Pos::Eq(pos_in), Pos::Any)
        .ret(Ret::Zero)
        .calls(children)
    };
    if pos_in >= FIRST_PROCESS_ENTRY {
        p.fixed(vec![root(vec![pids(pos_in)])]);
        return;
    }
    if subset_pid {
        let refused = Step::new(
            ProbeId::ProcReaddir,
            "subset=pid: proc_readdir returns 1 without listing the PDE tree, not even . and ..",
        )
        .pos(Pos::Eq(pos_in), Pos::Eq(pos_in))
        .ret(Ret::Valid);
        p.fixed(vec![root(vec![refused, pids(FIRST_PROCESS_ENTRY)])]);
        return;
    }
    let statics = |ret: Ret| {
        Step::new(
            ProbeId::ProcReaddir,
            "phase 1: pos < FIRST_PROCESS_ENTRY, so the static PDE entries come first",
        )
        .pos(Pos::Eq(pos_in), Pos::Below(FIRST_PROCESS_ENTRY))
        .ret(ret)
        .calls(vec![Step::new(
            ProbeId::ProcReaddirDe,
            ". and .., then the root's PDE children in rbtree order",
        )
        .pos(Pos::Eq(pos_in), Pos::Below(FIRST_PROCESS_ENTRY))
        .ret(ret)])
    };
    p.choice(
        "whether the static entries fit in the getdents buffer",
        vec![
            (
                "static entries, then pids".to_owned(),
                vec![root(vec![statics(Ret::Valid), pids(FIRST_PROCESS_ENTRY)])],
            ),
            (
                "buffer filled by static entries".to_owned(),
                vec![root(vec![statics(Ret::Zero)])],
            ),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::version::KernelVersion;

    #[test]
    fn root_listing_has_two_phases_in_order() {
        let k = KernelFacts::debian(KernelVersion::new(6, 1));
        let p = readdir(&Node::Root, 0, &k, "/", MountOpts::DEFAULT).unwrap();
        let alts = p.alternatives(4);
        let root = &alts[0].1[0];
        assert_eq!(root.func, ProbeId::ProcRootReaddir);
        assert_eq!(root.children[0].func, ProbeId::ProcReaddir);
        assert_eq!(root.children[1].func, ProbeId::ProcPidReaddir);
        assert_eq!(root.children[1].pos_in, Pos::Eq(256));
        assert_eq!(
            alts[1].1[0].children.len(),
            1,
            "a full buffer stops before the pids"
        );
    }

    #[test]
    fn a_continued_root_listing_goes_straight_to_pids() {
        let k = KernelFacts::debian(KernelVersion::new(6, 1));
        let p = readdir(&Node::Root, 300, &k, "/", MountOpts::DEFAULT).unwrap();
        let alts = p.alternatives(4);
        assert_eq!(alts.len(), 1);
        assert_eq!(alts[0].1[0].children[0].func, ProbeId::ProcPidReaddir);
        assert_eq!(alts[0].1[0].children[0].pos_in, Pos::Eq(300));
    }

    #[test]
    fn pid_directory_ends_after_its_table() {
        let k = KernelFacts::debian(KernelVersion::new(6, 1));
        let n = pid_table::entries(Table::Tgid, k.version, &|c| k.has(c)).len() as i64;
        let p = readdir(&Node::PidDir(Table::Tgid), 0, &k, "42", MountOpts::DEFAULT).unwrap();
        let step = &p.alternatives(1)[0].1[0];
        assert_eq!(step.func, ProbeId::ProcTgidBaseReaddir);
        assert_eq!(step.pos_out, Pos::Eq(2 + n));
        assert!(readdir(&Node::LeftProc, 0, &k, "x", MountOpts::DEFAULT).is_err());
    }

    #[test]
    fn the_ns_directory_lists_each_namespace_type() {
        let k = KernelFacts::debian(KernelVersion::new(6, 1));
        let p = readdir(&Node::NsDir, 0, &k, "ns", MountOpts::DEFAULT).unwrap();
        let step = &p.alternatives(1)[0].1[0];
        assert_eq!(step.func, ProbeId::ProcNsDirReaddir);
        assert_eq!(step.pos_out, Pos::Eq(12));
        assert_eq!(step.name.as_deref(), Some("ns"));
        let p = readdir(&Node::NsDir, 12, &k, "ns", MountOpts::DEFAULT).unwrap();
        assert_eq!(p.alternatives(1)[0].1[0].pos_out, Pos::Eq(12));
    }

    #[test]
    fn pde_directories_list_through_proc_readdir_de() {
        let k = KernelFacts::debian(KernelVersion::new(6, 1));
        let p = readdir(&Node::NetDir, 0, &k, "net", MountOpts::DEFAULT).unwrap();
        let alts = p.alternatives(4);
        assert_eq!(alts.len(), 2);
        assert_eq!(alts[0].1[0].func, ProbeId::ProcTgidNetReaddir);
        assert_eq!(alts[0].1[0].children[0].func, ProbeId::ProcReaddirDe);
        assert_eq!(alts[0].1[0].ret, Ret::Valid);
        assert_eq!(alts[1].1[0].children[0].ret, Ret::Zero);
    }

    #[test]
    fn the_fd_directory_function_was_renamed() {
        let fd = |v| {
            readdir(
                &Node::FdDir,
                0,
                &KernelFacts::debian(v),
                "fd",
                MountOpts::DEFAULT,
            )
            .unwrap()
            .alternatives(1)[0]
                .1[0]
                .func
        };
        assert_eq!(fd(KernelVersion::new(6, 1)), ProbeId::ProcReadfd);
        assert_eq!(fd(KernelVersion::new(6, 12)), ProbeId::ProcFdIterate);
    }
}
