//! Reads: which entry point a file's operations use and which show callback
//! produces its text.
//!
//! - pid-table `ONE` entries use `proc_single_file_operations`: `.read =
//!   seq_read` → `seq_read_iter` with `proc_single_show` as the seq_file's show,
//!   which calls the entry's own show function (`proc_pid_limits`, ...);
//! - pid-table `REG` entries use their own file operations (`cmdline` →
//!   `proc_pid_cmdline_read`);
//! - root PDE files go through `proc_reg_read_iter` (proc_ops `.proc_read_iter
//!   = seq_read_iter`); `proc_create_single` files have their function as the
//!   seq_file's show, `proc_create_seq` files call their seq_operations' show
//!   once per record between start/next/stop.
//!
//! The same on 5.10, 6.1, 6.12 and 7.2 (checked in each version's
//! fs/proc/base.c, inode.c and the files below).

use procfs_trace_common::ProbeId;

use super::{
    expect::{Prediction, Ret, Step},
    pid_table::EntryKind,
    unmodelled::Unmodelled,
    walk::Node,
};

/// An alternative of a read: its label, its steps, and whether the first
/// read of an open file can take it.
type ReadAlternative = (&'static str, Vec<Step>, bool);

/// How a root PDE file produces its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootFile {
    /// `proc_create_single(name, ..., show)`: one show call fills the buffer.
    Single(&'static str),
    /// `proc_create_seq(name, ..., ops)`: ops->show once per record.
    Seq(&'static str),
}

/// Root files the model knows, with their show function and source.
pub const ROOT_FILES: &[(&str, RootFile, &str)] = &[
    (
        "cmdline",
        RootFile::Single("cmdline_proc_show"),
        "fs/proc/cmdline.c",
    ),
    (
        "meminfo",
        RootFile::Single("meminfo_proc_show"),
        "fs/proc/meminfo.c",
    ),
    (
        "consoles",
        RootFile::Seq("show_console_dev"),
        "fs/proc/consoles.c: consoles_op",
    ),
    (
        "devices",
        RootFile::Seq("devinfo_show"),
        "fs/proc/devices.c: devinfo_ops",
    ),
    (
        "cpuinfo",
        RootFile::Seq("show_cpuinfo"),
        "arch/x86/kernel/cpu/proc.c: cpuinfo_op",
    ),
    (
        "stat",
        RootFile::Single("show_stat"),
        "fs/proc/stat.c: stat_open -> single_open_size(show_stat)",
    ),
    (
        "loadavg",
        RootFile::Single("loadavg_proc_show"),
        "fs/proc/loadavg.c",
    ),
    (
        "uptime",
        RootFile::Single("uptime_proc_show"),
        "fs/proc/uptime.c",
    ),
    (
        "version",
        RootFile::Single("version_proc_show"),
        "fs/proc/version.c",
    ),
    (
        "softirqs",
        RootFile::Single("show_softirqs"),
        "fs/proc/softirqs.c",
    ),
    (
        "filesystems",
        RootFile::Single("filesystems_proc_show"),
        "fs/filesystems.c",
    ),
    (
        "vmstat",
        RootFile::Seq("vmstat_show"),
        "mm/vmstat.c: vmstat_op",
    ),
    (
        "zoneinfo",
        RootFile::Seq("zoneinfo_show"),
        "mm/vmstat.c: zoneinfo_op",
    ),
    (
        "buddyinfo",
        RootFile::Seq("frag_show"),
        "mm/vmstat.c: fragmentation_op",
    ),
];

/// Predicts a read of the file at `node`; `produced` says whether the read
/// returned data (`Some(true)`), hit end of file (`Some(false)`), or is unknown;
/// `splice` marks sendfile, which reads in a loop; `first` says whether this
/// is the first read of the open file, which nothing can be buffered for.
pub fn read(
    node: &Node,
    produced: Option<bool>,
    splice: bool,
    first: Option<bool>,
) -> Result<Prediction, Unmodelled> {
    let mut p = Prediction::new();
    let (name, outer, seq): (&str, Step, Option<Show>) = match node {
        Node::PidEntry(_, e) => match e.kind {
            EntryKind::One => (
                e.name,
                Step::new(
                    ProbeId::SeqRead,
                    "ONE entries use proc_single_file_operations, whose .read is seq_read",
                ),
                Some(Show::Known(
                    "proc_single_show",
                    Step::new(
                        ProbeId::ProcSingleShow,
                        format!(
                            "the seq_file's show for ONE entries; it calls {}",
                            e.handler
                        ),
                    )
                    .show(e.handler)
                    .ret(Ret::Zero)
                    .calls(vec![Step::new(
                        e.handler,
                        format!("{}'s show function formats the text", e.name),
                    )
                    .name(e.name)
                    .ret(Ret::Zero)]),
                )),
            ),
            EntryKind::Reg => match e.read {
                Some(f)
                    if !matches!(
                        ProbeId::by_name(f),
                        Some(ProbeId::SeqRead | ProbeId::SeqReadIter)
                    ) =>
                {
                    let step = Step::new(
                        f,
                        format!("{} has its own file operations ({})", e.name, e.handler),
                    )
                    .name(e.name);
                    p.fixed(vec![plain_read(step, produced, splice)]);
                    return Ok(p);
                }
                Some(f) => {
                    p.notes.push(format!(
                        "{}: a seq_file whose show callback ({}'s seq_operations) is taken from the trace; the seq_file protocol around it is checked",
                        e.name, e.handler
                    ));
                    (
                        e.name,
                        Step::new(f, format!("{}'s .read is {f}", e.handler)),
                        Some(Show::Learned(None)),
                    )
                }
                None => {
                    return Err(Unmodelled::Read {
                        what: format!("{} ({})", e.name, e.handler),
                    })
                }
            },
            _ => {
                return Err(Unmodelled::Read {
                    what: format!("{} ({:?})", e.name, e.kind),
                })
            }
        },
        Node::Sys(path) => {
            let name = path.rsplit('/').next().unwrap_or_default();
            let step = Step::new(
                ProbeId::ProcSysRead,
                "sysctl files are read through proc_sys_read, which calls the table's proc_handler",
            )
            .name(name);
            p.fixed(vec![plain_read(step, produced, splice)]);
            return Ok(p);
        }
        Node::RootEntry(_) | Node::Pde { .. } => {
            let (path, name) = match node {
                Node::RootEntry(name) => (format!("/proc/{name}"), name.as_str()),
                Node::Pde { path, .. } => {
                    (path.clone(), path.rsplit('/').next().unwrap_or_default())
                }
                _ => unreachable!("matched above"),
            };
            let outer = Step::new(
                ProbeId::ProcRegReadIter,
                "PDE files are read through their proc_ops' proc_read_iter",
            );
            let file = ROOT_FILES
                .iter()
                .find(|(n, _, _)| matches!(node, Node::RootEntry(r) if r == n))
                .map(|(_, file, _)| *file);
            let show = match file {
                Some(RootFile::Single(f)) => Show::Known(f, Step::new(f, format!("proc_create_single made {f} the seq_file's show: one call fills the buffer")).ret(Ret::Zero)),
                Some(RootFile::Seq(f)) => Show::Known(f, Step::new(f, format!("proc_create_seq: {f} runs once per record between start and stop")).ret(Ret::Zero).repeated()),
                None => {
                    p.notes.push(format!(
                        "{path}: the model does not know this file's show callback; it is taken from the trace, and the seq_file protocol around it is checked"
                    ));
                    Show::Learned(Some(plain_read(
                        Step::new(
                            ProbeId::ProcRegReadIter,
                            "proc_ops with a read_iter of their own, not a seq_file",
                        )
                        .name(name),
                        produced,
                        splice,
                    )))
                }
            };
            (name, outer, Some(show))
        }
        other => {
            return Err(Unmodelled::Read {
                what: format!("{other:?}"),
            })
        }
    };
    let Some(seq) = seq else {
        return Err(Unmodelled::Read {
            what: format!("{name} without a seq_file"),
        });
    };
    let (show_fn, show_step, own_read) = match seq {
        Show::Known(f, step) => (Some(f), Some(step.name(name)), None),
        Show::Learned(own) => (None, None, own),
    };
    let seq = SeqFile {
        name,
        show_fn,
        show_step,
    };
    let mut outers = vec![outer];
    if own_read.is_some() && !splice {
        // A PDE file the model does not list may also have proc_ops with
        // only .proc_read = seq_read (reached through proc_reg_read, not
        // probed): every proc_create_net* file, swaps, modules... Those
        // have no .splice_read, so sendfile fails before reading.
        outers.push(Step::new(
            ProbeId::SeqRead,
            "proc_ops with .proc_read = seq_read (proc_net_seq_ops, proc_net_single_ops, ...)",
        ));
    }
    let several = outers.len() > 1;
    let mut why = "";
    let mut options: Vec<(String, Vec<Step>)> = Vec::new();
    for outer in outers {
        let (w, opts) = seq.options(&outer, produced, splice);
        why = w;
        let own = own_read
            .clone()
            .filter(|_| outer.func == ProbeId::ProcRegReadIter)
            .map(|own| ("its own read_iter, not a seq_file", vec![own], true));
        options.extend(
            opts.into_iter()
                .chain(own)
                .filter(|(_, _, on_first)| *on_first || first != Some(true))
                .map(|(label, steps, _)| match several {
                    true => (format!("{} ({label})", outer.func.name()), steps),
                    false => (label.to_owned(), steps),
                }),
        );
    }
    if options.len() == 1 {
        p.fixed(options.remove(0).1);
    } else {
        p.choice(why, options);
    }
    Ok(p)
}

/// A seq_file read: the file's name and its show callback (known, with its
/// step, or learned from the trace).
struct SeqFile<'a> {
    name: &'a str,
    show_fn: Option<&'static str>,
    show_step: Option<Step>,
}

impl SeqFile<'_> {
    /// The alternatives of a read entered through `outer`, and what they
    /// differ in.
    fn options(
        &self,
        outer: &Step,
        produced: Option<bool>,
        splice: bool,
    ) -> (&'static str, Vec<ReadAlternative>) {
        let (name, show_fn) = (self.name, self.show_fn);
        let iter = |children: Vec<Step>, ret: Ret| {
            let mut step = Step::new(
                ProbeId::SeqReadIter,
                match show_fn {
                    Some(f) => format!("the seq_file machinery; its show is {f}"),
                    None => {
                        "the seq_file machinery, with the show callback the trace names".to_owned()
                    }
                },
            )
            .name(name)
            .ret(ret)
            .calls(children);
            step.show = show_fn;
            step
        };
        // The entry point returns what the syscall returns, and seq_read
        // reports the seq_file's show as seq_read_iter does.
        let reports_show = outer.func == ProbeId::SeqRead;
        let wrap = |children: Vec<Step>, ret: Ret| {
            if outer.func == ProbeId::SeqReadIter {
                // The file's .read_iter is seq_read_iter itself.
                return vec![iter(children, ret)];
            }
            let mut o = outer
                .clone()
                .name(name)
                .ret(ret)
                .calls(vec![iter(children, ret)]);
            if reports_show {
                o.show = show_fn;
            }
            vec![o]
        };
        // A single record that shows no text (cgroup with no hierarchy mounted,
        // say) ends the file on its first read: show runs, the read returns 0.
        // A learned callback may be either kind, and is not probed.
        let empty = match &self.show_step {
            Some(s) if s.repeat => None,
            _ => Some(wrap(
                self.show_step.clone().into_iter().collect(),
                Ret::Zero,
            )),
        };
        let data = wrap(self.show_step.clone().into_iter().collect(), Ret::Positive);
        // seq_read_iter first copies out what an earlier read left in the
        // seq_file's buffer, and calls show only when that did not fill the
        // read; ONE and single files have one record, so every read after the
        // first is served from the buffer or finds the end.
        let buffered = wrap(vec![], Ret::Positive);
        let eof = wrap(vec![], Ret::Zero);
        let then = |a: &[Step], b: &[Step]| [a, b].concat();
        // Each alternative, and whether a first read (nothing buffered, nothing
        // taken yet) can take it.
        let single = empty.is_some();
        match (produced, splice) {
            // sendfile splices until its count is met or the file ends: reads
            // with data (the first may be served from the buffer), then possibly
            // the read that finds the end.
            (Some(true), true) => {
                let mut fresh = data.clone();
                fresh[0].repeat = true;
                (
                    "whether sendfile's splice loop reached end of file, and where its text came from",
                    vec![
                        ("read to end of file", then(&fresh, &eof), true),
                        ("count met", fresh.clone(), true),
                        (
                            "buffer, then to end of file",
                            then(&then(&buffered, &fresh), &eof),
                            false,
                        ),
                        ("buffer, then end of file", then(&buffered, &eof), false),
                        ("count met from the buffer", buffered.clone(), false),
                    ],
                )
            }
            (Some(true), false) => (
                "whether the seq_file's buffer held text from an earlier read",
                vec![
                    ("buffer empty: show fills it", data, true),
                    ("served from the buffer", buffered, false),
                ],
            ),
            (Some(false), _) => (
                "whether an earlier read took the text, or the file has none",
                std::iter::once(("end of file", eof, !single))
                    .chain(empty.map(|e| ("no text: show wrote nothing", e, true)))
                    .collect(),
            ),
            (None, _) => (
                "whether the read found data, buffered text or end of file",
                [
                    ("data", data, true),
                    ("served from the buffer", buffered, false),
                    ("end of file", eof, !single),
                ]
                .into_iter()
                .chain(empty.map(|e| ("no text: show wrote nothing", e, true)))
                .collect(),
            ),
        }
    }
}

/// How a file's text reaches the seq_file: a show callback the model knows
/// (and its step), or one it learns from the trace; a PDE file whose
/// callback is learned may also have a read_iter of its own (the step)
/// instead of a seq_file.
enum Show {
    Known(&'static str, Step),
    Learned(Option<Step>),
}

/// A read function that is not a seq_file's: it returns what the syscall
/// returns, and a splice loop calls it until the count or the end.
fn plain_read(mut step: Step, produced: Option<bool>, splice: bool) -> Step {
    step.ret = match (splice, produced) {
        (false, Some(true)) => Ret::Positive,
        (false, Some(false)) => Ret::Zero,
        _ => Ret::Any,
    };
    step.repeat = splice;
    step
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::func::Func;
    use crate::model::kernel::KernelFacts;
    use crate::model::{
        pid_table::{self, Table},
        version::KernelVersion,
    };

    fn entry(name: &str) -> Node {
        let k = KernelFacts::debian(KernelVersion::new(6, 1));
        let e = pid_table::entries(Table::Tgid, k.version, &|c| k.has(c))
            .into_iter()
            .find(|e| e.name == name)
            .unwrap();
        Node::PidEntry(Table::Tgid, e)
    }

    /// A ONE file with no text (cgroup where no hierarchy is mounted) ends on
    /// its first read after show ran; a seq file with no record never shows.
    #[test]
    fn an_end_of_file_read_may_be_an_empty_show() {
        let p = read(&entry("cgroup"), Some(false), false, None).unwrap();
        let alts = p.alternatives(4);
        let shows: Vec<usize> = alts
            .iter()
            .map(|(_, s)| s[0].children[0].children.len())
            .collect();
        assert_eq!(shows, [0, 1]);
        let p = read(&Node::RootEntry("cpuinfo".into()), Some(false), false, None).unwrap();
        assert_eq!(p.alternatives(4).len(), 1, "no record, no show");
    }

    /// Nothing is buffered before an open file's first read, and a single
    /// record's first read always runs show.
    #[test]
    fn a_first_read_cannot_be_served_from_the_buffer() {
        let labels = |first| {
            read(&entry("status"), Some(true), false, first)
                .unwrap()
                .alternatives(8)
                .len()
        };
        assert_eq!((labels(None), labels(Some(true))), (2, 1));
        let eof = read(&entry("cgroup"), Some(false), false, Some(true)).unwrap();
        let alts = eof.alternatives(8);
        assert_eq!(alts.len(), 1);
        assert_eq!(alts[0].1[0].children[0].children.len(), 1, "show ran");
        let p = read(
            &Node::RootEntry("meminfo".into()),
            Some(true),
            true,
            Some(true),
        )
        .unwrap();
        assert_eq!(p.alternatives(8).len(), 2, "to end of file, or count met");
    }

    #[test]
    fn one_entries_go_through_proc_single_show() {
        let p = read(&entry("limits"), Some(true), false, None).unwrap();
        let s = &p.alternatives(1)[0].1[0];
        assert_eq!(s.func, ProbeId::SeqRead);
        let iter = &s.children[0];
        assert_eq!(
            (iter.func, iter.show),
            (Func::from(ProbeId::SeqReadIter), Some("proc_single_show"))
        );
        let single = &iter.children[0];
        assert_eq!(
            (single.func, single.show),
            (Func::from(ProbeId::ProcSingleShow), Some("proc_pid_limits"))
        );
        assert_eq!(single.children[0].func, ProbeId::ProcPidLimits);
        // A later read is served from the seq_file's buffer, with no show call.
        let alts = p.alternatives(4);
        assert_eq!(alts.len(), 2);
        let buffered = &alts[1].1[0].children[0];
        assert!(buffered.children.is_empty());
        assert_eq!(buffered.ret, Ret::Positive);
        let eof = read(&entry("limits"), Some(false), false, None).unwrap();
        assert!(eof.alternatives(1)[0].1[0].children[0].children.is_empty());
    }

    #[test]
    fn sendfile_reads_until_end_of_file() {
        let p = read(&Node::RootEntry("meminfo".into()), Some(true), true, None).unwrap();
        let alts = p.alternatives(8);
        assert_eq!(alts.len(), 5);
        let to_eof = &alts[0].1;
        assert!(to_eof[0].repeat);
        assert_eq!(to_eof[1].children[0].ret, Ret::Zero);
        assert_eq!(alts[1].1.len(), 1);
        // A file read before: the splice starts with what the buffer held.
        let buffered_then_eof = &alts[3].1;
        assert!(buffered_then_eof[0].children[0].children.is_empty());
        assert_eq!(buffered_then_eof[0].children[0].ret, Ret::Positive);
        assert_eq!(buffered_then_eof[1].children[0].ret, Ret::Zero);
    }

    #[test]
    fn reg_entries_use_their_own_read() {
        let p = read(&entry("cmdline"), Some(true), false, None).unwrap();
        assert_eq!(p.alternatives(1)[0].1[0].func, ProbeId::ProcPidCmdlineRead);
    }

    #[test]
    fn root_files_single_and_seq() {
        let p = read(&Node::RootEntry("meminfo".into()), None, false, None).unwrap();
        assert_eq!(p.alternatives(8).len(), 4, "data, buffer, end, empty show");
        let s = &p.alternatives(4)[0].1[0];
        assert_eq!(s.func, ProbeId::ProcRegReadIter);
        assert_eq!(s.children[0].show, Some("meminfo_proc_show"));
        assert!(!s.children[0].children[0].repeat);
        let p = read(&Node::RootEntry("cpuinfo".into()), Some(true), false, None).unwrap();
        assert!(p.alternatives(1)[0].1[0].children[0].children[0].repeat);
    }

    /// A PDE file whose show callback the model does not know: the seq_file
    /// protocol with the trace's callback, or a read_iter of its own.
    #[test]
    fn unknown_pde_files_learn_their_callback() {
        let p = read(
            &Node::RootEntry("swaps".into()),
            Some(true),
            false,
            Some(true),
        )
        .unwrap();
        assert!(p.notes[0].contains("taken from the trace"), "{:?}", p.notes);
        let alts = p.alternatives(8);
        let seq = &alts[0].1[0];
        assert_eq!(seq.func, ProbeId::ProcRegReadIter);
        assert_eq!(seq.children[0].func, ProbeId::SeqReadIter);
        assert_eq!(seq.children[0].show, None, "any callback");
        assert_eq!(seq.children[0].ret, Ret::Positive);
        let own = &alts[alts.len() - 2].1[0];
        assert_eq!(own.func, ProbeId::ProcRegReadIter);
        assert!(own.children.is_empty());
        assert_eq!(own.ret, Ret::Positive);
        let seq_read = &alts.last().unwrap().1[0];
        assert_eq!(seq_read.func, ProbeId::SeqRead);
        assert_eq!(seq_read.children[0].func, ProbeId::SeqReadIter);
    }

    /// /proc/PID/mounts is a seq_file through seq_read_iter itself, its
    /// callback from the trace.
    #[test]
    fn pid_seq_files_are_read_through_their_own_entry_point() {
        let p = read(&entry("mounts"), Some(true), false, Some(true)).unwrap();
        let alts = p.alternatives(8);
        assert_eq!(
            alts.len(),
            1,
            "a first read that found data: show filled it"
        );
        assert_eq!(alts[0].1.len(), 1);
        assert_eq!(alts[0].1[0].func, ProbeId::SeqReadIter);
        assert_eq!(alts[0].1[0].name.as_deref(), Some("mounts"));
    }

    #[test]
    fn sysctl_files_are_read_through_proc_sys_read() {
        let p = read(
            &Node::Sys("/proc/sys/kernel/ostype".into()),
            Some(false),
            false,
            None,
        )
        .unwrap();
        let s = &p.alternatives(1)[0].1[0];
        assert_eq!(s.func, ProbeId::ProcSysRead);
        assert_eq!(s.name.as_deref(), Some("ostype"));
        assert_eq!(s.ret, Ret::Zero);
    }

    /// A PDE file the model does not list (/proc/net/dev) may read through
    /// proc_reg_read_iter or, when its proc_ops only have .proc_read,
    /// seq_read; the latter cannot splice, so sendfile leaves only the first.
    #[test]
    fn unlisted_pde_files_read_through_read_iter_or_seq_read() {
        let dev = Node::Pde {
            path: "/proc/self/net/dev".into(),
            net: true,
        };
        let outers = |splice| {
            let p = read(&dev, Some(true), splice, Some(true)).unwrap();
            p.alternatives(16)
                .iter()
                .map(|(_, s)| (s[0].func, s[0].children.len()))
                .collect::<Vec<_>>()
        };
        let iter = (Func::from(ProbeId::ProcRegReadIter), 1);
        let own = (Func::from(ProbeId::ProcRegReadIter), 0);
        let seq = (Func::from(ProbeId::SeqRead), 1);
        assert_eq!(outers(false), [iter, own, seq]);
        assert_eq!(outers(true), [iter, iter, own]);
    }
}
