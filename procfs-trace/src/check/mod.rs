//! Checks rebuilt operations against the model and gives each a verdict.
//!
//! Every alternative the model allows (cache states, buffer sizes) is compared
//! with what was seen; the first that matches gives `match`. Otherwise the
//! alternative that agreed longest explains the divergence. Operations with
//! lost events or missing exits are `inconclusive`: partial evidence is never
//! a match.

pub mod canon;
pub mod compare;
pub mod dcache;
pub mod mounts;
pub mod predictions;
pub mod tally;

use std::collections::HashSet;

use procfs_trace_common::ProbeId;

use serde::Serialize;

use crate::{
    flows::{call::Call, op::Op},
    model::{
        self,
        expect::{splice_accounting, Step},
        kernel::KernelFacts,
        mount::MountOpts,
        OpFacts, OpKind,
    },
};
use canon::Canon;
use compare::{compare, Mismatch};
use dcache::Dcache;
use mounts::ProcMounts;
use predictions::{Predictions, Ready};

/// Alternatives compared at most per operation.
const MAX_ALTERNATIVES: usize = 256;

/// The outcome of checking one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Verdict {
    /// The kernel did what the model predicts.
    Match {
        /// The choices the model had to make, as the trace settled them.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        assumed: Vec<String>,
    },
    /// The kernel did something else.
    Divergence {
        /// Where the flows part.
        at: String,
        /// What the model expected there.
        expected: String,
        /// What was seen there.
        seen: String,
    },
    /// Outside the model.
    Unknown {
        /// Which part, and why.
        why: String,
    },
    /// Events are missing, so no verdict can be given.
    Inconclusive {
        /// What is missing.
        why: String,
    },
}

impl Verdict {
    /// Short name: match, divergence, unknown, inconclusive.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Match { .. } => "match",
            Verdict::Divergence { .. } => "divergence",
            Verdict::Unknown { .. } => "unknown",
            Verdict::Inconclusive { .. } => "inconclusive",
        }
    }
}

/// An operation with its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    /// The operation.
    #[serde(flatten)]
    pub op: Op,
    /// Its verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Steps of the model compared with what was seen, for a match: 0 when
    /// the matching alternative expected no probed call, so verified nothing.
    #[serde(skip)]
    pub evidence: usize,
}

impl Checked {
    /// Whether the operation diverged from the model.
    pub fn diverged(&self) -> bool {
        matches!(self.verdict, Verdict::Divergence { .. })
    }
}

/// Checks operations in trace order, tracking what the dcache must hold.
#[derive(Debug, Clone)]
pub struct Checker {
    kernel: KernelFacts,
    probed: HashSet<ProbeId>,
    dcache: Dcache,
    mounts: ProcMounts,
    predictions: Predictions,
}

impl Checker {
    /// A checker for `kernel`, where the functions in `probed` were traced.
    pub fn new(kernel: KernelFacts, probed: HashSet<ProbeId>) -> Checker {
        Checker {
            kernel,
            probed,
            dcache: Dcache::default(),
            mounts: ProcMounts::default(),
            predictions: Predictions::default(),
        }
    }

    /// The same checker, knowing that proc is also mounted at these places.
    pub fn with_mounts(self, mounts: ProcMounts) -> Checker {
        Checker { mounts, ..self }
    }

    /// Checks one operation (operations must come in trace order).
    pub fn check(&mut self, op: Op) -> Checked {
        let (verdict, evidence) = match self.verdict(&op) {
            Judged::Verdict(v) => (v, 0),
            Judged::Match { assumed, evidence } => (Verdict::Match { assumed }, evidence),
        };
        Checked {
            op,
            verdict,
            evidence,
        }
    }

    fn verdict(&mut self, op: &Op) -> Judged {
        if op.lost {
            return Judged::Verdict(Verdict::Inconclusive {
                why: "events were lost while it ran".to_owned(),
            });
        }
        if let Some(missing) = op.missing_exit() {
            return Judged::Verdict(Verdict::Inconclusive { why: missing });
        }
        let Some(path) = op.path.as_deref() else {
            return Judged::Verdict(Verdict::Unknown {
                why: match &op.syscall {
                    Some(s) => format!(
                        "the path of {}(fd {}) is unknown: the fd was opened before tracing began",
                        s.syscall.name(),
                        s.fd
                    ),
                    None => "no followed syscall framed it, so its path is unknown".to_owned(),
                },
            });
        };
        // A proc mounted elsewhere walks as /proc does below its root.
        let mapped = self.mounts.to_proc(path);
        let path = mapped.as_deref().unwrap_or(path);
        let start_dir = (op.start_dir.as_deref())
            .map(|d| self.mounts.to_proc(d).unwrap_or_else(|| d.to_owned()));
        let (tgid, tid) = op.ns_ids();
        // Predicted in stand-ins for the numbers, so processes share them.
        let canon = Canon::of(
            [tgid, tid],
            [Some(path), start_dir.as_deref()].into_iter().flatten(),
        );
        let path = canon.path(path);
        let start_dir = start_dir.map(|d| canon.path(&d));
        let facts = OpFacts {
            kind: op.kind,
            syscall: op.syscall.as_ref().map(|s| s.syscall),
            at_flags: op.syscall.as_ref().map_or(0, |s| s.at_flags),
            path: &path,
            tgid: canon.id(tgid),
            tid: canon.id(tid),
            pos_in: op.calls.first().and_then(|c| c.pos_in),
            ret: op.syscall.as_ref().and_then(|s| s.ret),
            first_read: op.first_read,
            // Recordings made before the probes read the options, and
            // kernels without them (before 5.8), are checked as mounted
            // with the defaults.
            mount: mount_opts(op).unwrap_or(MountOpts::DEFAULT),
            start_dir: start_dir.as_deref(),
        };
        let dcache = &self.dcache;
        let state = |p: &str| dcache.state(&canon.restore(p));
        let unknown = |why: String| Judged::Verdict(Verdict::Unknown { why });
        let judged = if op.kind == OpKind::Read {
            match (self.predictions).read(&facts, &self.kernel, &self.probed, &state) {
                Ok(ready) => judge(&ready, model::spliced(&facts), op, &canon),
                Err(why) => unknown(why.to_string()),
            }
        } else {
            match &*(self.predictions).walk(&facts, &self.kernel, &self.probed, &state) {
                Ok(walked) => {
                    let judged = judge(&walked.ready, walked.spliced, op, &canon);
                    if op.kind == OpKind::Lookup || op.kind == OpKind::Readlink {
                        let dentries = walked.dentries.iter().map(|d| canon.restore(d));
                        self.dcache.record(op, dentries);
                    }
                    judged
                }
                Err(why) => unknown(why.to_string()),
            }
        };
        judged.restored(&canon)
    }
}

/// A verdict, with a match's evidence.
enum Judged {
    Match {
        assumed: Vec<String>,
        /// Steps compared.
        evidence: usize,
    },
    Verdict(Verdict),
}

impl Judged {
    /// The same, every text with `canon`'s real numbers back.
    fn restored(self, canon: &Canon) -> Judged {
        let r = |s: String| canon.restored(s);
        match self {
            Judged::Match { assumed, evidence } => Judged::Match {
                assumed: assumed.into_iter().map(r).collect(),
                evidence,
            },
            Judged::Verdict(v) => Judged::Verdict(match v {
                Verdict::Match { assumed } => Verdict::Match {
                    assumed: assumed.into_iter().map(r).collect(),
                },
                Verdict::Divergence { at, expected, seen } => Verdict::Divergence {
                    at: r(at),
                    expected: r(expected),
                    seen: r(seen),
                },
                Verdict::Unknown { why } => Verdict::Unknown { why: r(why) },
                Verdict::Inconclusive { why } => Verdict::Inconclusive { why: r(why) },
            }),
        }
    }
}

/// Compares every alternative, narrowed to what this trace probed: a match
/// wins, else the one that agreed longest explains the divergence. An
/// alternative narrowed to nothing cannot be seen, so agreeing with it is
/// no match; agreeing only where a value could not be read is inconclusive.
fn judge(ready: &Ready, spliced: Option<i64>, op: &Op, names: &Canon) -> Judged {
    let extras = &ready.extras;
    let mut best: Option<Mismatch> = None;
    let mut unread: Option<Vec<String>> = None;
    let mut unseen = 0;
    let mut count = 0;
    let calls = &op.calls[..];
    for alt in ready.narrowed.alternatives(MAX_ALTERNATIVES) {
        count += 1;
        if alt.predicted && alt.steps.is_empty() {
            unseen += 1;
            continue;
        }
        match compare(&alt.steps, calls, extras, names) {
            Ok(missing) if missing.is_empty() => {
                let reads: Vec<i64> = calls.iter().filter_map(|c| c.ret).collect();
                return match splice_accounting(spliced, &reads) {
                    Ok(()) => Judged::Match {
                        assumed: alt.labels.iter().map(|l| l.to_string()).collect(),
                        evidence: alt.steps.iter().map(|s| 1 + Step::count(&s.children)).sum(),
                    },
                    Err((expected, seen)) => Judged::Verdict(Verdict::Divergence {
                        at: "the splice loop".to_owned(),
                        expected,
                        seen,
                    }),
                };
            }
            Ok(missing) => {
                unread.get_or_insert(missing);
            }
            Err(m) => {
                if best.as_ref().is_none_or(|b| m.progress > b.progress) {
                    best = Some(m);
                }
            }
        }
    }
    Judged::Verdict(if let Some(missing) = unread {
        Verdict::Inconclusive {
            why: format!(
                "it agrees with the model only where values could not be read: {}",
                missing.join(", ")
            ),
        }
    } else if unseen > 0 && (unseen == count || calls_seen(calls, extras) == 0) {
        // Matching nothing against nothing would be a match on no evidence.
        Verdict::Unknown {
            why: "none of the functions this operation goes through are probed on this kernel"
                .to_owned(),
        }
    } else if let Some(m) = best {
        Verdict::Divergence {
            at: m.at,
            expected: m.expected,
            seen: m.seen,
        }
    } else {
        Verdict::Unknown {
            why: "the model offered no alternative".to_owned(),
        }
    })
}

/// Calls that are not extras.
fn calls_seen(calls: &[Call], extras: &[ProbeId]) -> usize {
    calls.iter().filter(|c| !extras.contains(&c.probe)).count()
}

/// The proc mount's options, as the first call that reads them reported.
fn mount_opts(op: &Op) -> Option<MountOpts> {
    op.calls.iter().flat_map(Call::walk).find_map(|c| c.mount)
}

#[cfg(test)]
mod tests {
    use procfs_trace_common::{ProbeId, Syscall, PROBES};

    use super::*;
    use crate::flows::script::Script;
    use crate::model::version::KernelVersion;

    fn checker() -> Checker {
        Checker::new(
            KernelFacts::debian(KernelVersion::new(6, 1)),
            PROBES.iter().map(|p| p.id).collect(),
        )
    }

    fn verdicts(s: &Script) -> Vec<Verdict> {
        verdicts_by(&mut checker(), s)
    }

    fn verdicts_by(c: &mut Checker, s: &Script) -> Vec<Verdict> {
        s.ops().into_iter().map(|op| c.check(op).verdict).collect()
    }

    /// `cat /proc/7/limits` on a cold dcache, as the kernel does it.
    fn cat_limits(s: &mut Script) {
        open_limits(s, Some("7"));
    }

    /// The open, with the pid's name as the kernel read could fetch it.
    fn open_limits(s: &mut Script, pid: Option<&str>) {
        s.sys(7, Syscall::Openat, Some("/proc/7/limits"), -100)
            .enter(7, ProbeId::ProcRootLookup, pid)
            .enter(7, ProbeId::ProcPidLookup, pid)
            .exit(7, ProbeId::ProcPidLookup, 0)
            .exit(7, ProbeId::ProcRootLookup, 0)
            .entry_lookup(7, "limits")
            .sys_ret(7, Syscall::Openat, 3);
    }

    /// The read: show addresses resolve as "fn_<hex>" in the test builder.
    fn read_limits(s: &mut Script, single_show: u64, entry_show: u64, entry: ProbeId) {
        s.sys(7, Syscall::Read, None, 3)
            .enter_with(7, ProbeId::SeqRead, Some("limits"), None, Some(single_show))
            .enter_with(
                7,
                ProbeId::SeqReadIter,
                Some("limits"),
                None,
                Some(single_show),
            )
            .enter_with(
                7,
                ProbeId::ProcSingleShow,
                Some("limits"),
                None,
                Some(entry_show),
            )
            .enter(7, entry, Some("limits"))
            .exit(7, entry, 0)
            .exit(7, ProbeId::ProcSingleShow, 0)
            .exit(7, ProbeId::SeqReadIter, 1323)
            .exit(7, ProbeId::SeqRead, 1323)
            .sys_ret(7, Syscall::Read, 1323);
    }

    #[test]
    fn the_documented_limits_flow_matches() {
        let mut s = Script::new();
        cat_limits(&mut s);
        let v = verdicts(&s);
        assert!(
            matches!(&v[0], Verdict::Match { assumed } if assumed == &["cold dcache", "cold dcache"]),
            "{v:?}"
        );
    }

    /// `cat /proc/self/limits` by global pid 700, which a container's own
    /// proc mount numbers `ns_tgid`, as proc_self_get_link reports (`None`:
    /// not reported).
    fn open_own_limits_in_a_container(s: &mut Script, reported: Option<i64>) {
        s.sys(700, Syscall::Openat, Some("/proc/self/limits"), -100)
            .enter_with(700, ProbeId::ProcSelfGetLink, None, reported, None)
            .exit(
                700,
                ProbeId::ProcSelfGetLink,
                0xffff_8880_0000_1000_u64 as i64,
            )
            .pid_lookup(700, "5")
            .entry_lookup(700, "limits")
            .sys_ret(700, Syscall::Openat, 3);
    }

    #[test]
    fn self_resolves_to_the_tgid_the_mount_numbers() {
        let mut s = Script::new();
        open_own_limits_in_a_container(&mut s, Some(5));
        let v = verdicts(&s);
        assert!(matches!(&v[0], Verdict::Match { .. }), "{v:?}");
        // The flow carries both numberings, and its headline shows both.
        let op = &s.ops()[0];
        assert_eq!((op.tgid, op.ns_tgid), (700, Some(5)));
        assert!(crate::render::print::headline(op).starts_with("cat[700/700 ns 5/700]"));
        // The same walk judged by the global tgid would not match.
        let mut s = Script::new();
        open_own_limits_in_a_container(&mut s, None);
        let v = verdicts(&s);
        assert!(!matches!(&v[0], Verdict::Match { .. }), "{v:?}");
        // A task the mount does not number cannot follow self.
        let mut s = Script::new();
        open_own_limits_in_a_container(&mut s, Some(0));
        let v = verdicts(&s);
        assert!(
            matches!(&v[0], Verdict::Unknown { why } if why.contains("no pid in this proc mount")),
            "{v:?}"
        );
    }

    fn mount(hidepid: u32, subset_pid: bool) -> MountOpts {
        MountOpts {
            hidepid,
            subset_pid,
        }
    }

    /// Task 7 walks into pid `pid`'s directory for `syscall` on a mount with
    /// `opts` and is refused with `ret` right after the pid's lookup
    /// (`then`: the lookup of `stat` after it, as when nothing refused).
    fn refused_walk(
        opts: MountOpts,
        syscall: Syscall,
        path: &str,
        ret: i64,
        then: bool,
    ) -> Verdict {
        let pid = path.split('/').nth(2).unwrap();
        let mut s = Script::new();
        s.sys(7, syscall, Some(path), -100)
            .enter(7, ProbeId::ProcRootLookup, Some(pid))
            .in_mount(opts)
            .enter(7, ProbeId::ProcPidLookup, Some(pid))
            .exit(7, ProbeId::ProcPidLookup, 0)
            .exit(7, ProbeId::ProcRootLookup, 0);
        if then {
            s.enter(7, ProbeId::ProcTgidBaseLookup, Some("stat")).exit(
                7,
                ProbeId::ProcTgidBaseLookup,
                -2,
            );
        }
        s.sys_ret(7, syscall, ret);
        verdicts(&s).remove(0)
    }

    #[test]
    fn hidepid_refuses_other_processes_directories_only() {
        let is_match = |v: &Verdict| matches!(v, Verdict::Match { .. });
        let (open, stat) = (Syscall::Openat, Syscall::Newfstatat);
        // invisible: entering pid 1's directory fails with -ENOENT, before
        // any lookup in it; so does stat of the directory itself.
        let v = refused_walk(mount(2, false), open, "/proc/1/stat", -2, false);
        assert!(
            matches!(&v, Verdict::Match { assumed } if assumed[0].contains("hidepid=2: /proc/1 refused")),
            "{v:?}"
        );
        assert!(is_match(&refused_walk(
            mount(2, false),
            stat,
            "/proc/1",
            -2,
            false
        )));
        // noaccess and ptraceable refuse the walk with -EPERM; noaccess lets
        // stat through.
        assert!(is_match(&refused_walk(
            mount(1, false),
            open,
            "/proc/1/stat",
            -1,
            false
        )));
        assert!(is_match(&refused_walk(
            mount(4, false),
            open,
            "/proc/1/stat",
            -1,
            false
        )));
        assert!(!is_match(&refused_walk(
            mount(1, false),
            stat,
            "/proc/1",
            -2,
            false
        )));
        assert!(!is_match(&refused_walk(
            mount(1, false),
            open,
            "/proc/1/stat",
            -2,
            false
        )));
        // Without hidepid nothing refuses, and a task's own directory is
        // never refused.
        assert!(!is_match(&refused_walk(
            mount(0, false),
            open,
            "/proc/1/stat",
            -2,
            false
        )));
        assert!(!is_match(&refused_walk(
            mount(2, false),
            open,
            "/proc/7/stat",
            -2,
            false
        )));
        // A refusal is not a licence to stop anywhere: a lookup that went on
        // and failed is judged as before.
        assert!(!is_match(&refused_walk(
            mount(2, false),
            open,
            "/proc/1/stat",
            -2,
            true
        )));
    }

    #[test]
    fn subset_pid_refuses_names_outside_pid_directories() {
        let lookup = |opts: MountOpts| {
            let mut s = Script::new();
            s.sys(7, Syscall::Openat, Some("/proc/meminfo"), -100)
                .enter(7, ProbeId::ProcRootLookup, Some("meminfo"))
                .in_mount(opts)
                .enter(7, ProbeId::ProcPidLookup, Some("meminfo"))
                .exit(7, ProbeId::ProcPidLookup, -2)
                .enter(7, ProbeId::ProcLookup, Some("meminfo"))
                .exit(7, ProbeId::ProcLookup, -2)
                .exit(7, ProbeId::ProcRootLookup, -2)
                .sys_ret(7, Syscall::Openat, -2);
            verdicts(&s).remove(0)
        };
        assert!(matches!(lookup(mount(0, true)), Verdict::Match { .. }));
        // On a full mount proc_lookup goes on to proc_lookup_de.
        assert!(matches!(
            lookup(mount(0, false)),
            Verdict::Divergence { .. }
        ));

        let listing = |opts: MountOpts| {
            let mut s = Script::new();
            s.sys(7, Syscall::Openat, Some("/proc"), -100)
                .sys_ret(7, Syscall::Openat, 3)
                .sys(7, Syscall::Getdents64, None, 3)
                .enter_with(7, ProbeId::ProcRootReaddir, Some("/"), Some(0), None)
                .in_mount(opts)
                .enter_with(7, ProbeId::ProcReaddir, Some("/"), Some(0), None)
                .exit_with(7, ProbeId::ProcReaddir, 1, Some(0))
                .enter_with(7, ProbeId::ProcPidReaddir, Some("/"), Some(256), None)
                .exit_with(7, ProbeId::ProcPidReaddir, 0, Some(300))
                .exit_with(7, ProbeId::ProcRootReaddir, 0, Some(300))
                .sys_ret(7, Syscall::Getdents64, 200);
            verdicts(&s).remove(1)
        };
        assert!(matches!(listing(mount(0, true)), Verdict::Match { .. }));
        assert!(matches!(
            listing(mount(0, false)),
            Verdict::Divergence { .. }
        ));
    }

    /// `cat limits` after moving into /proc/7, by chdir or by fchdir of an
    /// fd opened on it: the walk starts at the pid directory, so only
    /// `limits` is looked up.
    fn relative_limits(s: &mut Script, by_fd: bool) {
        match by_fd {
            true => s
                .sys(7, Syscall::Openat, Some("/proc/7"), -100)
                .pid_lookup(7, "7")
                .sys_ret(7, Syscall::Openat, 4)
                .sys(7, Syscall::Fchdir, None, 4)
                .sys_ret(7, Syscall::Fchdir, 0),
            false => s
                .sys(7, Syscall::Chdir, Some("/proc/7"), -100)
                .pid_lookup(7, "7")
                .sys_ret(7, Syscall::Chdir, 0),
        };
        s.sys(7, Syscall::Open, Some("limits"), -100)
            .entry_lookup(7, "limits")
            .sys_ret(7, Syscall::Open, 3);
    }

    #[test]
    fn relative_paths_walk_from_the_cwd() {
        for by_fd in [false, true] {
            let mut s = Script::new();
            relative_limits(&mut s, by_fd);
            let ops = s.ops();
            let last = ops.last().unwrap();
            assert_eq!(last.path.as_deref(), Some("/proc/7/limits"));
            assert_eq!(last.start_dir.as_deref(), Some("/proc/7"));
            // fchdir is bookkeeping: no operation of its own.
            assert_eq!(ops.len(), 2, "{ops:#?}");
            let v = verdicts(&s);
            assert!(matches!(v[1], Verdict::Match { .. }), "{v:?}");
        }
        // Without the cwd the path stays relative, outside the model.
        let mut s = Script::new();
        s.sys(7, Syscall::Open, Some("limits"), -100)
            .enter(7, ProbeId::ProcTgidBaseLookup, Some("limits"))
            .exit(7, ProbeId::ProcTgidBaseLookup, 0)
            .sys_ret(7, Syscall::Open, 3);
        assert!(matches!(verdicts(&s)[0], Verdict::Unknown { .. }));
        // A chdir elsewhere, reported without procfs work, is no operation,
        // and a walk from / crosses into the proc mount at no cost.
        let mut s = Script::new();
        s.sys(7, Syscall::Chdir, Some("/"), -100)
            .sys_ret(7, Syscall::Chdir, 0)
            .sys(7, Syscall::Open, Some("proc/7/limits"), -100)
            .pid_lookup(7, "7")
            .entry_lookup(7, "limits")
            .sys_ret(7, Syscall::Open, 3);
        let v = verdicts(&s);
        assert_eq!(v.len(), 1);
        assert!(matches!(v[0], Verdict::Match { .. }), "{v:?}");
        // A failed chdir leaves the cwd where it was.
        let mut s = Script::new();
        relative_limits(&mut s, false);
        s.sys(7, Syscall::Chdir, Some("/nonexistent"), -100)
            .sys_ret(7, Syscall::Chdir, -2)
            .sys(7, Syscall::Open, Some("limits"), -100)
            .enter(7, ProbeId::PidRevalidate, Some("limits"))
            .exit(7, ProbeId::PidRevalidate, 1)
            .sys_ret(7, Syscall::Open, 3);
        let ops = s.ops();
        assert_eq!(ops.last().unwrap().path.as_deref(), Some("/proc/7/limits"));
    }

    #[test]
    fn thread_self_resolves_to_the_threads_task_directory() {
        // Thread 701 of process 700, numbered 5 and 6 by a container's /proc.
        let open = |ns_tid: i64| {
            let mut s = Script::new();
            s.sys(701, Syscall::Openat, Some("/proc/thread-self/stat"), -100)
                .enter_with(701, ProbeId::ProcThreadSelfGetLink, None, Some(5), None)
                .with_ns_tid(ns_tid)
                .exit(
                    701,
                    ProbeId::ProcThreadSelfGetLink,
                    0xffff_8880_0000_1000_u64 as i64,
                )
                .enter(701, ProbeId::PidRevalidate, Some("5"))
                .exit(701, ProbeId::PidRevalidate, 1)
                .enter(701, ProbeId::PidRevalidate, Some("task"))
                .exit(701, ProbeId::PidRevalidate, 1)
                .enter(701, ProbeId::PidRevalidate, Some("6"))
                .exit(701, ProbeId::PidRevalidate, 1)
                .enter(701, ProbeId::ProcTidBaseLookup, Some("stat"))
                .enter(701, ProbeId::ProcPidentLookup, Some("stat"))
                .exit(701, ProbeId::ProcPidentLookup, 0)
                .exit(701, ProbeId::ProcTidBaseLookup, 0)
                .sys_ret(701, Syscall::Openat, 3);
            verdicts(&s).remove(0)
        };
        assert!(matches!(open(6), Verdict::Match { .. }), "{:?}", open(6));
        // Another thread's id would not match.
        assert!(!matches!(open(7), Verdict::Match { .. }));
    }

    #[test]
    fn an_exec_through_a_link_refused_in_rcu_walk_matches() {
        let mut s = Script::new();
        s.sys(7, Syscall::Execve, Some("/proc/7/exe"), -100);
        for walk in 0..2 {
            s.enter(7, ProbeId::PidRevalidate, Some("7"))
                .exit(7, ProbeId::PidRevalidate, 1)
                .enter(7, ProbeId::PidRevalidate, Some("exe"))
                .exit(7, ProbeId::PidRevalidate, 1);
            if walk == 0 {
                s.enter(7, ProbeId::ProcPidGetLink, None)
                    .exit(7, ProbeId::ProcPidGetLink, -10)
                    .enter(7, ProbeId::ProcPidGetLink, Some("exe"))
                    .enter(7, ProbeId::ProcExeLink, Some("exe"))
                    .exit(7, ProbeId::ProcExeLink, 0)
                    .exit(7, ProbeId::ProcPidGetLink, 0);
            }
        }
        s.sys_ret(7, Syscall::Execve, 0);
        let v = verdicts(&s);
        assert!(
            matches!(&v[0], Verdict::Match { assumed } if assumed.iter().any(|a| a == "RCU walk, get_link refused")),
            "{v:?}"
        );
    }

    #[test]
    fn a_match_carries_its_evidence() {
        let mut s = Script::new();
        cat_limits(&mut s);
        let mut c = checker();
        let checked = c.check(s.ops().remove(0));
        assert_eq!(checked.evidence, 4, "two lookups with a child each");
    }

    /// Names the kernel read could not fetch neither refute nor confirm.
    #[test]
    fn agreement_on_unread_names_is_inconclusive() {
        let mut s = Script::new();
        open_limits(&mut s, None);
        let v = verdicts(&s);
        assert!(
            matches!(&v[0], Verdict::Inconclusive { why } if why.contains("the name of proc_root_lookup")),
            "{v:?}"
        );
    }

    /// An alternative whose every function is unprobed cannot be seen: an
    /// operation with no calls does not match it.
    #[test]
    fn an_alternative_narrowed_to_nothing_is_no_match() {
        let mut s = Script::new();
        s.sys(7, Syscall::Openat, Some("/proc/7/limits"), -100)
            .sys_ret(7, Syscall::Openat, 3);
        let probed = PROBES
            .iter()
            .map(|p| p.id)
            .filter(|id| {
                !matches!(
                    id,
                    ProbeId::ProcRootLookup
                        | ProbeId::ProcPidLookup
                        | ProbeId::PidRevalidate
                        | ProbeId::ProcTgidBaseLookup
                        | ProbeId::ProcPidentLookup
                )
            })
            .collect();
        let mut c = Checker::new(KernelFacts::debian(KernelVersion::new(6, 1)), probed);
        let v = c.check(s.ops().remove(0)).verdict;
        assert!(
            matches!(&v, Verdict::Unknown { why } if why.contains("probed")),
            "{v:?}"
        );
    }

    /// `cat /proc/99999/stat` for a pid that does not exist: the root lookup
    /// tries the pid, then the PDE tree, and fails with -ENOENT.
    fn open_missing_pid(s: &mut Script, root_ret: i64) {
        let name = Some("99999");
        s.sys(7, Syscall::Openat, Some("/proc/99999/stat"), -100)
            .enter(7, ProbeId::ProcRootLookup, name)
            .enter(7, ProbeId::ProcPidLookup, name)
            .exit(7, ProbeId::ProcPidLookup, -2)
            .enter(7, ProbeId::ProcLookup, name)
            .enter(7, ProbeId::ProcLookupDe, name)
            .exit(7, ProbeId::ProcLookupDe, -2)
            .exit(7, ProbeId::ProcLookup, -2)
            .exit(7, ProbeId::ProcRootLookup, root_ret)
            .sys_ret(7, Syscall::Openat, -2);
    }

    #[test]
    fn a_walk_to_a_missing_pid_is_checked() {
        let mut s = Script::new();
        open_missing_pid(&mut s, -2);
        let v = verdicts(&s);
        assert!(
            matches!(&v[0], Verdict::Match { assumed } if assumed[0].starts_with("/proc/99999 is absent")),
            "{v:?}"
        );
        let mut s = Script::new();
        open_missing_pid(&mut s, 0);
        let v = verdicts(&s);
        assert!(matches!(&v[0], Verdict::Divergence { .. }), "{v:?}");
    }

    /// `pidof` reads /proc/2/exe: a kernel thread has no exe, so the link's
    /// own function fails and readlink returns -ENOENT after a whole walk.
    #[test]
    fn a_link_whose_function_fails_is_checked() {
        let mut s = Script::new();
        s.sys(7, Syscall::Readlink, Some("/proc/2/exe"), -100)
            .enter(7, ProbeId::PidRevalidate, Some("2"))
            .exit(7, ProbeId::PidRevalidate, 1)
            .entry_lookup(7, "exe")
            .enter(7, ProbeId::ProcPidReadlink, Some("exe"))
            .enter(7, ProbeId::ProcExeLink, Some("exe"))
            .exit(7, ProbeId::ProcExeLink, -2)
            .exit(7, ProbeId::ProcPidReadlink, -2)
            .sys_ret(7, Syscall::Readlink, -2);
        let v = verdicts(&s);
        assert!(
            matches!(&v[0], Verdict::Match { assumed } if assumed[0].starts_with("the link cannot be read")),
            "{v:?}"
        );
    }

    #[test]
    fn a_skipped_pid_lookup_is_a_divergence() {
        let mut s = Script::new();
        s.sys(7, Syscall::Openat, Some("/proc/7/limits"), -100)
            .enter(7, ProbeId::ProcRootLookup, Some("7"))
            .enter(7, ProbeId::ProcLookup, Some("7"))
            .exit(7, ProbeId::ProcLookup, 0)
            .exit(7, ProbeId::ProcRootLookup, 0)
            .entry_lookup(7, "limits")
            .sys_ret(7, Syscall::Openat, 3);
        let v = verdicts(&s);
        let Verdict::Divergence { expected, seen, at } = &v[0] else {
            panic!("{v:?}")
        };
        assert!(expected.contains("proc_pid_lookup"), "{expected}");
        assert!(seen.contains("proc_lookup"), "{seen}");
        assert!(at.contains("proc_root_lookup"), "{at}");
    }

    #[test]
    fn the_wrong_show_callback_is_a_divergence() {
        // The script's resolver names address A as "fn_a"; the model expects
        // proc_single_show / proc_pid_limits, so resolved names must say so.
        let mut s = Script::new();
        cat_limits(&mut s);
        read_limits(&mut s, 0x1, 0x2, ProbeId::ProcPidLimits);
        let mut c = checker();
        let ops = s.ops();
        let mut ops = ops.into_iter();
        assert!(matches!(
            c.check(ops.next().unwrap()).verdict,
            Verdict::Match { .. }
        ));
        let mut read = ops.next().unwrap();
        rename_shows(
            &mut read.calls,
            &[("fn_1", "proc_single_show"), ("fn_2", "proc_pid_status")],
        );
        let v = c.check(read).verdict;
        let Verdict::Divergence { expected, seen, .. } = &v else {
            panic!("{v:?}")
        };
        assert!(
            expected.contains("show=proc_pid_limits") && seen.contains("show=proc_pid_status"),
            "{v:?}"
        );
    }

    #[test]
    fn the_right_show_callbacks_match() {
        let mut s = Script::new();
        cat_limits(&mut s);
        read_limits(&mut s, 0x1, 0x2, ProbeId::ProcPidLimits);
        let mut c = checker();
        let mut ops = s.ops().into_iter();
        c.check(ops.next().unwrap());
        let mut read = ops.next().unwrap();
        rename_shows(
            &mut read.calls,
            &[("fn_1", "proc_single_show"), ("fn_2", "proc_pid_limits")],
        );
        let v = c.check(read).verdict;
        assert!(matches!(v, Verdict::Match { .. }), "{v:?}");
    }

    #[test]
    fn a_reused_read_prediction_still_judges_each_read() {
        let mut c = checker();
        for (show, matches) in [
            ("proc_pid_limits", true),
            ("proc_pid_status", false),
            ("proc_pid_limits", true),
        ] {
            let mut s = Script::new();
            cat_limits(&mut s);
            read_limits(&mut s, 0x1, 0x2, ProbeId::ProcPidLimits);
            let mut ops = s.ops().into_iter();
            c.check(ops.next().unwrap());
            let mut read = ops.next().unwrap();
            rename_shows(
                &mut read.calls,
                &[("fn_1", "proc_single_show"), ("fn_2", show)],
            );
            let v = c.check(read).verdict;
            assert_eq!(matches!(v, Verdict::Match { .. }), matches, "{show}: {v:?}");
        }
        assert_eq!(
            c.predictions.reads.len(),
            1,
            "one file, one outcome: one prediction"
        );
    }

    fn rename_shows(calls: &mut [crate::flows::call::Call], names: &[(&str, &str)]) {
        for c in calls {
            if let Some(s) = &c.show {
                if let Some((_, to)) = names.iter().find(|(from, _)| *from == &**s) {
                    c.show = Some((*to).into());
                }
            }
            rename_shows(&mut c.children, names);
        }
    }

    #[test]
    fn a_second_walk_revalidates_or_looks_up_again() {
        let mut s = Script::new();
        cat_limits(&mut s);
        // Same path again, looked up cold: evicted, or another proc mount's
        // dentry, which the trace cannot tell apart; allowed, and said so.
        cat_limits(&mut s);
        let v = verdicts(&s);
        assert!(matches!(v[0], Verdict::Match { .. }));
        assert!(
            matches!(&v[1], Verdict::Match { assumed } if assumed.iter().all(|a| a == "cold dcache")),
            "{v:?}"
        );
        let mut s = Script::new();
        cat_limits(&mut s);
        reopen_own_limits(&mut s, 7);
        let v = verdicts(&s);
        assert!(
            matches!(&v[1], Verdict::Match { assumed } if !assumed.is_empty() && assumed.iter().all(|a| a != "cold dcache")),
            "{v:?}"
        );
    }

    /// `cat /proc/PID/limits`'s open by process `pid` itself, looking up
    /// `looked_up` where the kernel would look up `pid`.
    fn open_own_limits(s: &mut Script, pid: u32, looked_up: &str) {
        let path = format!("/proc/{pid}/limits");
        s.sys(pid, Syscall::Openat, Some(&path), -100)
            .enter(pid, ProbeId::ProcRootLookup, Some(looked_up))
            .enter(pid, ProbeId::ProcPidLookup, Some(looked_up))
            .exit(pid, ProbeId::ProcPidLookup, 0)
            .exit(pid, ProbeId::ProcRootLookup, 0)
            .entry_lookup(pid, "limits")
            .sys_ret(pid, Syscall::Openat, 3);
    }

    /// The same open again, its dentries cached: revalidated, not looked up.
    fn reopen_own_limits(s: &mut Script, pid: u32) {
        let path = format!("/proc/{pid}/limits");
        s.sys(pid, Syscall::Openat, Some(&path), -100)
            .enter(pid, ProbeId::PidRevalidate, Some(&pid.to_string()))
            .exit(pid, ProbeId::PidRevalidate, 1)
            .enter(pid, ProbeId::PidRevalidate, Some("limits"))
            .exit(pid, ProbeId::PidRevalidate, 1)
            .sys_ret(pid, Syscall::Openat, 4);
    }

    #[test]
    fn processes_share_a_prediction_and_keep_their_own_numbers() {
        let mut c = checker();
        let mut s = Script::new();
        open_own_limits(&mut s, 700, "700");
        open_own_limits(&mut s, 701, "701");
        // The same shape, but the kernel looked up another name.
        open_own_limits(&mut s, 702, "703");
        let v = verdicts_by(&mut c, &s);
        assert!(matches!(&v[1], Verdict::Match { .. }), "{v:?}");
        assert_eq!(c.predictions.ops.len(), 1, "one shape: {v:?}");
        let Verdict::Divergence { expected, seen, .. } = &v[2] else {
            panic!("{v:?}");
        };
        assert!(expected.contains("\"702\""), "{expected}");
        assert!(seen.contains("\"703\""), "{seen}");
    }

    #[test]
    fn a_shared_prediction_is_reused_only_under_the_same_dcache_answers() {
        let mut c = checker();
        let mut s = Script::new();
        open_own_limits(&mut s, 700, "700");
        open_own_limits(&mut s, 701, "701");
        reopen_own_limits(&mut s, 700);
        let v = verdicts_by(&mut c, &s);
        assert!(
            matches!(&v[2], Verdict::Match { assumed } if assumed.iter().all(|a| a != "cold dcache")),
            "{v:?}"
        );
        let variants: Vec<_> = c.predictions.ops.values().map(Vec::len).collect();
        assert_eq!(variants, [2], "cold and warm");
    }

    #[test]
    fn readdir_phases_out_of_order_diverge() {
        let mut s = Script::new();
        s.sys(7, Syscall::Getdents64, None, 3)
            .enter_with(7, ProbeId::ProcRootReaddir, None, Some(0), None)
            .enter_with(7, ProbeId::ProcPidReaddir, None, Some(0), None)
            .exit_with(7, ProbeId::ProcPidReaddir, 0, Some(4194562))
            .enter_with(7, ProbeId::ProcReaddir, None, Some(4194562), None)
            .exit_with(7, ProbeId::ProcReaddir, 1, Some(4194562))
            .exit_with(7, ProbeId::ProcRootReaddir, 0, Some(4194562))
            .sys_ret(7, Syscall::Getdents64, 100);
        let mut ops = s.ops();
        ops[0].path = Some("/proc".into());
        let mut c = checker();
        let v = c.check(ops.remove(0)).verdict;
        assert!(matches!(v, Verdict::Divergence { .. }), "{v:?}");
    }

    #[test]
    fn readdir_in_order_matches() {
        let mut s = Script::new();
        s.sys(7, Syscall::Getdents64, None, 3)
            .enter_with(7, ProbeId::ProcRootReaddir, Some("/"), Some(0), None)
            .enter_with(7, ProbeId::ProcReaddir, Some("/"), Some(0), None)
            .enter_with(7, ProbeId::ProcReaddirDe, Some("/"), Some(0), None)
            .exit_with(7, ProbeId::ProcReaddirDe, 1, Some(56))
            .exit_with(7, ProbeId::ProcReaddir, 1, Some(56))
            .enter_with(7, ProbeId::ProcPidReaddir, Some("/"), Some(256), None)
            .exit_with(7, ProbeId::ProcPidReaddir, 0, Some(4194562))
            .exit_with(7, ProbeId::ProcRootReaddir, 0, Some(4194562))
            .sys_ret(7, Syscall::Getdents64, 100);
        let mut ops = s.ops();
        ops[0].path = Some("/proc".into());
        let v = checker().check(ops.remove(0)).verdict;
        assert!(matches!(v, Verdict::Match { .. }), "{v:?}");
    }

    #[test]
    fn a_missing_exit_or_lost_events_are_never_a_match() {
        let mut s = Script::new();
        s.sys(7, Syscall::Openat, Some("/proc/7/limits"), -100)
            .enter(7, ProbeId::ProcRootLookup, Some("7"))
            .enter(7, ProbeId::ProcPidLookup, Some("7"))
            .exit(7, ProbeId::ProcRootLookup, 0)
            .entry_lookup(7, "limits")
            .sys_ret(7, Syscall::Openat, 3);
        let v = verdicts(&s);
        assert!(
            matches!(&v[0], Verdict::Inconclusive { why } if why.contains("proc_pid_lookup")),
            "{v:?}"
        );

        let mut s = Script::new();
        cat_limits(&mut s);
        let mut op = s.ops().remove(0);
        op.lost = true;
        assert!(matches!(
            checker().check(op).verdict,
            Verdict::Inconclusive { .. }
        ));
    }

    #[test]
    fn nothing_probed_is_unknown_not_a_match() {
        let mut s = Script::new();
        s.sys(7, Syscall::Read, None, 3)
            .sys_ret(7, Syscall::Read, 12);
        let mut op = s.ops().remove(0);
        op.path = Some("/proc/7/cmdline".into());
        let probed = PROBES
            .iter()
            .map(|p| p.id)
            .filter(|id| *id != ProbeId::ProcPidCmdlineRead)
            .collect();
        let mut c = Checker::new(KernelFacts::debian(KernelVersion::new(6, 1)), probed);
        let v = c.check(op).verdict;
        assert!(
            matches!(&v, Verdict::Unknown { why } if why.contains("probed")),
            "{v:?}"
        );
    }

    #[test]
    fn unknown_paths_say_why() {
        let mut s = Script::new();
        s.sys(7, Syscall::Openat, Some("/proc/7/attr/current"), -100)
            .enter(7, ProbeId::ProcRootLookup, Some("7"))
            .exit(7, ProbeId::ProcRootLookup, 0)
            .sys_ret(7, Syscall::Openat, 3);
        let v = verdicts(&s);
        assert!(
            matches!(&v[0], Verdict::Unknown { why } if why.contains("attr")),
            "{v:?}"
        );
        let mut s = Script::new();
        s.sys(7, Syscall::Read, None, 9)
            .enter(7, ProbeId::SeqReadIter, None)
            .exit(7, ProbeId::SeqReadIter, 0)
            .sys_ret(7, Syscall::Read, 0);
        assert!(matches!(&verdicts(&s)[0], Verdict::Unknown { why } if why.contains("fd 9")));
    }
}
