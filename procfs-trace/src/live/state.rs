//! What the view shows: aggregates per process, path and kernel function,
//! and the most recent flows. Every table is capped, so memory stays bounded
//! whatever the event rate: the least recently active rows are evicted, and
//! old flows leave the ring while their counts stay in the aggregates.

use std::collections::BTreeMap;

use super::{
    recent::Recent,
    stats::{Histogram, Rate},
};
use crate::bounded::BoundedMap;
use procfs_trace_common::{ProbeId, PROBES};

use crate::{
    agent::counts::{CountsTick, Row, Totals},
    check::Checked,
    flows::call::Call,
    paths::fold_into,
};

/// Rows kept per table before the least recently active are evicted.
pub const MAX_ROWS: usize = 2048;
/// Processes kept in one path's breakdown.
pub const MAX_PIDS_PER_PATH: usize = 64;

/// One process's procfs activity.
#[derive(Debug, Clone, Default)]
pub struct ProcAgg {
    /// Process id.
    pub tgid: u32,
    /// Its pid in the pid namespace of its proc mount, when a /proc/self
    /// link reported one that differs (a container's own /proc).
    pub ns_tgid: Option<u32>,
    /// Its latest task name.
    pub comm: String,
    /// Operations.
    pub ops: u64,
    /// Operations in the last second.
    pub rate: Rate,
    /// Bytes returned by reads.
    pub bytes: u64,
    /// Kernel time in probed calls.
    pub kernel_ns: u64,
    /// Operations that diverged from the model.
    pub diverged: u64,
}

impl ProcAgg {
    /// The pid as shown: with the namespace's when it differs ("700 ns 5").
    pub fn pid_label(&self) -> String {
        match self.ns_tgid {
            Some(ns) => format!("{} ns {ns}", self.tgid),
            None => self.tgid.to_string(),
        }
    }
}

/// One process's share of a path.
#[derive(Debug, Clone, Default)]
pub struct PidShare {
    /// Its task name.
    pub comm: String,
    /// Operations.
    pub ops: u64,
    /// Kernel time.
    pub kernel_ns: u64,
}

/// Activity on one path, pids folded to `[pid]`.
#[derive(Debug, Clone)]
pub struct PathAgg {
    /// Operations.
    pub ops: u64,
    /// Operations in the last second.
    pub rate: Rate,
    /// Kernel time.
    pub kernel_ns: u64,
    /// Operations that diverged.
    pub diverged: u64,
    /// Per process, capped at [`MAX_PIDS_PER_PATH`].
    pub by_pid: BoundedMap<u32, PidShare>,
}

/// How a function row was timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FuncKind {
    /// A probed function that no read named as its show callback.
    #[default]
    Probed,
    /// A probed function that is a seq_file's show callback: timed exactly.
    Show,
    /// A show callback procfs-trace does not probe: timed by the innermost
    /// call naming it, which includes reads served from the seq_file's buffer.
    ShowApprox,
}

/// Calls to one kernel function, or time in one show callback.
#[derive(Debug, Clone, Default)]
pub struct FuncAgg {
    /// How the row was timed.
    pub kind: FuncKind,
    /// Calls with a seen exit.
    pub calls: u64,
    /// Their total time.
    pub total_ns: u64,
    /// Their latencies.
    pub latency: Histogram,
}

impl FuncKind {
    /// Its name in the KIND column.
    pub fn label(self) -> &'static str {
        match self {
            FuncKind::Probed => "fn",
            FuncKind::Show => "show",
            FuncKind::ShowApprox => "show~",
        }
    }
}

impl FuncAgg {
    fn record(&mut self, d: u64) {
        self.calls += 1;
        self.total_ns += d;
        self.latency.record(d);
    }

    fn add(&mut self, t: &Totals) {
        self.calls += t.calls;
        self.total_ns += t.total_ns;
        for (slot, n) in t.latency.iter().enumerate() {
            self.latency.record_log2(slot, *n);
        }
    }
}

/// Aggregates over a stream of checked operations.
#[derive(Debug, Clone)]
pub struct State {
    /// Per process id.
    pub procs: BoundedMap<u32, ProcAgg>,
    /// Per folded path.
    pub paths: BoundedMap<String, PathAgg>,
    /// Per probed function, by [`ProbeId`]: a call is timed without
    /// hashing its name. A function no call reached has no row.
    probed: Vec<FuncAgg>,
    /// Per show callback procfs-trace does not probe.
    callbacks: BoundedMap<String, FuncAgg>,
    /// Most recent flows (divergences kept longer).
    pub flows: Recent,
    /// Operations per verdict name.
    pub verdicts: BTreeMap<&'static str, u64>,
    /// Operations seen.
    pub ops: u64,
    /// Whether the process and function figures are the kernel's own
    /// counts (exact), not added up from the operations rebuilt from events
    /// (which lose what the ring buffer lost).
    pub exact: bool,
    /// The last path folded, and what it folded to: a file's reads follow
    /// its open on the same path.
    folded: (String, String),
}

impl Default for State {
    fn default() -> Self {
        State {
            procs: BoundedMap::new(MAX_ROWS),
            paths: BoundedMap::new(MAX_ROWS),
            probed: vec![FuncAgg::default(); PROBES.len()],
            callbacks: BoundedMap::new(MAX_ROWS),
            flows: Recent::default(),
            verdicts: BTreeMap::new(),
            ops: 0,
            exact: false,
            folded: (String::new(), String::new()),
        }
    }
}

impl Default for PathAgg {
    fn default() -> Self {
        PathAgg {
            ops: 0,
            rate: Rate::default(),
            kernel_ns: 0,
            diverged: 0,
            by_pid: BoundedMap::new(MAX_PIDS_PER_PATH),
        }
    }
}

impl State {
    /// Rows of the process, path and function tables evicted to keep memory bounded.
    pub fn evicted(&self) -> u64 {
        self.procs.evicted() + self.paths.evicted() + self.callbacks.evicted()
    }

    /// Times `calls` and the calls below them into the function table.
    fn time_calls(&mut self, calls: &[Call]) {
        for call in calls {
            if let Some(d) = call.duration_ns() {
                self.probed[call.probe as usize].record(d);
            }
            if let Some(show) = &call.show {
                self.time_show(call, show);
            }
            self.time_calls(&call.children);
        }
    }

    /// Notes the show callback `show` that `call` names.
    fn time_show(&mut self, call: &Call, show: &str) {
        if let Some(id) = ProbeId::by_name(show) {
            self.probed[id as usize].kind = FuncKind::Show;
            return;
        }
        // An unprobed show callback is timed by the innermost call naming
        // it, each time: a splice reads the file more than once.
        if let (Some(_), Some(d)) = (call.served_show(), call.duration_ns()) {
            let f = self.callbacks.entry_ref(show);
            f.kind = FuncKind::ShowApprox;
            f.record(d);
        }
    }

    /// Adds one checked operation, which `later` more of its batch follow.
    pub fn ingest(&mut self, c: Checked, later: usize) {
        let op = &c.op;
        let ts = op.start_ns;
        let kernel = op.kernel_ns();
        let diverged = u64::from(c.diverged());
        self.ops += 1;
        *self.verdicts.entry(c.verdict.name()).or_default() += 1;

        let p = self.procs.entry(op.tgid);
        p.tgid = op.tgid;
        if let Some(ns) = op.ns_tgid.filter(|n| *n != op.tgid) {
            p.ns_tgid = Some(ns);
        }
        if p.comm != op.comm {
            p.comm.clone_from(&op.comm);
        }
        if !self.exact {
            p.ops += 1;
            p.rate.add(ts, 1);
            p.bytes += op.bytes_read();
            p.kernel_ns += kernel;
        }
        p.diverged += diverged;

        if let Some(path) = &op.path {
            let (from, folded) = &mut self.folded;
            if from != path {
                from.clone_from(path);
                fold_into(path, folded);
            }
            let a = self.paths.entry_ref(folded.as_str());
            a.ops += 1;
            a.rate.add(ts, 1);
            a.kernel_ns += kernel;
            a.diverged += diverged;
            let s = a.by_pid.entry(op.tgid);
            if s.comm != op.comm {
                s.comm.clone_from(&op.comm);
            }
            s.ops += 1;
            s.kernel_ns += kernel;
        }

        if !self.exact {
            self.time_calls(&op.calls);
        }

        self.flows.push(c, later);
    }

    /// Every function row: the probed functions calls reached (or reads
    /// named as their show callback), then the unprobed show callbacks.
    pub fn funcs(&self) -> impl Iterator<Item = (&str, &FuncAgg)> {
        let probed = PROBES.iter().zip(&self.probed);
        let reached = probed.filter(|(_, f)| f.calls > 0 || f.kind != FuncKind::Probed);
        let callbacks = self.callbacks.iter().map(|(k, f)| (k.as_str(), f));
        reached.map(|(p, f)| (p.func, f)).chain(callbacks)
    }

    /// The row of the function (or show callback) `name`.
    #[cfg(test)]
    pub fn func(&self, name: &str) -> Option<&FuncAgg> {
        self.funcs().find(|(n, _)| *n == name).map(|(_, f)| f)
    }

    /// Adds what the kernel counted since the previous tick, at `now_ns`;
    /// from then on the process and function figures are these counts.
    pub fn counted(&mut self, counts: &CountsTick, now_ns: u64) {
        self.exact = true;
        for c in &counts.rows {
            match &c.row {
                Row::Process { comm } => {
                    let p = self.procs.entry(c.tgid);
                    p.tgid = c.tgid;
                    if !comm.is_empty() && p.comm != *comm {
                        p.comm.clone_from(comm);
                    }
                    p.ops += c.new.calls;
                    p.rate.add(now_ns, c.new.calls);
                    p.bytes += c.new.bytes;
                    p.kernel_ns += c.new.total_ns;
                }
                Row::Calls { probe, show } => {
                    self.probed[*probe as usize].add(&c.new);
                    let Some(show) = show else { continue };
                    // A probed show callback has its own row; an unprobed one
                    // is timed by the calls naming it, as `ingest` does.
                    if let Some(id) = ProbeId::by_name(show) {
                        self.probed[id as usize].kind = FuncKind::Show;
                    } else {
                        let f = self.callbacks.entry_ref(show.as_str());
                        f.kind = FuncKind::ShowApprox;
                        f.add(&c.new);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{agent::counts::Counted, check::Verdict, flows::op::Op, model::OpKind};
    use procfs_trace_common::{
        counts::{latency_slot, LATENCY_SLOTS},
        ProbeId,
    };

    /// A matching lookup of `path` by process `tgid` at `ts`.
    pub(crate) fn checked(tgid: u32, path: &str, ts: u64) -> Checked {
        Checked {
            op: Op {
                kind: OpKind::Lookup,
                tgid,
                tid: tgid,
                comm: "t".into(),
                syscall: None,
                path: Some(path.into()),
                start_dir: None,
                ns_tgid: None,
                ns_tid: None,
                start_ns: ts,
                end_ns: Some(ts + 1),
                calls: vec![],
                orphan_exits: vec![],
                lost: false,
                first_read: None,
            },
            verdict: Verdict::Match { assumed: vec![] },
            evidence: 1,
        }
    }

    fn counted(tgid: u32, row: Row, calls: u64, total_ns: u64, bytes: u64) -> Counted {
        let mut latency = [0; LATENCY_SLOTS];
        latency[latency_slot(total_ns / calls.max(1))] = calls;
        Counted {
            tgid,
            row,
            new: Totals {
                calls,
                total_ns,
                bytes,
                latency,
            },
        }
    }

    fn calls(probe: ProbeId, show: Option<&str>) -> Row {
        Row::Calls {
            probe,
            show: show.map(String::from),
        }
    }

    /// Once the kernel's counts arrive, processes and functions are theirs:
    /// operations rebuilt from events no longer add to them, and show
    /// callbacks are named and timed as the events would.
    #[test]
    fn the_kernels_counts_replace_the_figures_from_events() {
        let mut s = State::default();
        let tick = CountsTick {
            rows: vec![
                counted(7, Row::Process { comm: "cat".into() }, 3, 900, 4096),
                counted(
                    7,
                    calls(ProbeId::SeqReadIter, Some("proc_single_show")),
                    3,
                    600,
                    0,
                ),
                counted(
                    7,
                    calls(ProbeId::ProcSingleShow, Some("proc_pid_limits")),
                    3,
                    300,
                    0,
                ),
                counted(7, calls(ProbeId::ProcPidLimits, None), 3, 150, 0),
                counted(
                    7,
                    calls(ProbeId::SeqReadIter, Some("version_proc_show")),
                    2,
                    40,
                    0,
                ),
            ],
            dropped: 0,
        };
        s.counted(&tick, 1_000);
        s.counted(&tick, 2_000);
        let mut op = checked(7, "/proc/7/limits", 3_000);
        op.op.calls = vec![Call {
            probe: ProbeId::ProcPidLimits,
            start_ns: 0,
            end_ns: Some(50),
            name: None,
            pos_in: None,
            pos_out: None,
            ret: Some(1),
            show: None,
            mount: None,
            ns_tid: None,
            children: vec![],
        }];
        s.ingest(op, 0);
        let p = &s.procs.get(&7).unwrap();
        assert_eq!((p.ops, p.bytes, p.kernel_ns), (6, 8192, 1800));
        assert_eq!(p.comm, "t", "the events' name is the newer");
        assert_eq!(s.ops, 1, "operations checked, as before");
        assert_eq!(s.paths["/proc/[pid]/limits"].ops, 1);
        let f = |n: &str| {
            (
                s.func(n).unwrap().kind,
                s.func(n).unwrap().calls,
                s.func(n).unwrap().total_ns,
            )
        };
        assert_eq!(f("seq_read_iter"), (FuncKind::Probed, 10, 1280));
        assert_eq!(f("proc_single_show"), (FuncKind::Show, 6, 600));
        assert_eq!(f("proc_pid_limits"), (FuncKind::Show, 6, 300));
        assert_eq!(f("version_proc_show"), (FuncKind::ShowApprox, 4, 80));
        // 50 ns each: the kernel's [32, 64) slot, quoted near its middle, 48.
        let p50 = s
            .func("proc_pid_limits")
            .unwrap()
            .latency
            .quantile(0.5)
            .unwrap();
        assert!((45..=52).contains(&p50), "{p50}");
    }

    #[test]
    fn memory_stays_bounded_and_totals_stay() {
        let mut s = State::default();
        for i in 0..(MAX_ROWS as u32 * 3) {
            s.ingest(checked(i, &format!("/proc/x{i}"), u64::from(i)), 0);
        }
        assert!(s.procs.len() <= MAX_ROWS);
        assert!(s.paths.len() <= MAX_ROWS);
        assert_eq!(s.flows.len(), crate::live::recent::MAX_FLOWS);
        assert_eq!(s.ops, MAX_ROWS as u64 * 3);
        assert!(s.evicted() > 0);
        // The newest survive.
        assert!(s.procs.contains_key(&(MAX_ROWS as u32 * 3 - 1)));
    }

    #[test]
    fn a_containers_pid_is_shown_beside_the_global_one() {
        let mut s = State::default();
        s.ingest(checked(700, "/proc/self/stat", 0), 0);
        assert_eq!(s.procs.get(&700).unwrap().pid_label(), "700");
        let mut c = checked(700, "/proc/self/stat", 1);
        c.op.ns_tgid = Some(5);
        s.ingest(c, 0);
        assert_eq!(s.procs.get(&700).unwrap().pid_label(), "700 ns 5");
    }

    /// An unprobed show callback named at two depths is timed by the inner
    /// call; named by two reads (a splice), by both.
    #[test]
    fn unprobed_show_callbacks_are_timed_by_each_innermost_call() {
        let call = |probe, start, end, children| Call {
            probe,
            start_ns: start,
            end_ns: Some(end),
            name: Some("version".into()),
            pos_in: None,
            pos_out: None,
            ret: Some(1),
            show: Some("version_proc_show".into()),
            mount: None,
            ns_tid: None,
            children,
        };
        let mut c = checked(1, "/proc/version", 0);
        c.op.kind = OpKind::Read;
        c.op.calls = vec![
            call(
                ProbeId::ProcRegReadIter,
                0,
                100,
                vec![call(ProbeId::SeqReadIter, 10, 60, vec![])],
            ),
            call(ProbeId::SeqReadIter, 200, 230, vec![]),
        ];
        let mut s = State::default();
        s.ingest(c, 0);
        let f = s.func("version_proc_show").unwrap();
        assert_eq!((f.kind, f.calls, f.total_ns), (FuncKind::ShowApprox, 2, 80));
    }

    #[test]
    fn show_callbacks_are_timed_exactly_when_probed() {
        let call = |probe, show: Option<&str>, start, end, children| Call {
            probe,
            start_ns: start,
            end_ns: Some(end),
            name: Some("stat".into()),
            pos_in: None,
            pos_out: None,
            ret: Some(1),
            show: show.map(Into::into),
            mount: None,
            ns_tid: None,
            children,
        };
        let mut c = checked(1, "/proc/1/stat", 0);
        c.op.kind = OpKind::Read;
        // seq_read_iter (show proc_single_show) → proc_single_show (show
        // proc_tgid_stat) → proc_tgid_stat; and a /proc/version read, whose
        // show is not probed.
        c.op.calls = vec![
            call(
                ProbeId::SeqReadIter,
                Some("proc_single_show"),
                0,
                100,
                vec![call(
                    ProbeId::ProcSingleShow,
                    Some("proc_tgid_stat"),
                    10,
                    60,
                    vec![call(ProbeId::ProcTgidStat, None, 20, 50, vec![])],
                )],
            ),
            call(
                ProbeId::SeqReadIter,
                Some("version_proc_show"),
                200,
                270,
                vec![],
            ),
        ];
        let mut s = State::default();
        s.ingest(c, 0);
        let f = |n: &str| {
            (
                s.func(n).unwrap().kind,
                s.func(n).unwrap().calls,
                s.func(n).unwrap().total_ns,
            )
        };
        assert_eq!(f("seq_read_iter"), (FuncKind::Probed, 2, 170));
        assert_eq!(f("proc_single_show"), (FuncKind::Show, 1, 50));
        assert_eq!(f("proc_tgid_stat"), (FuncKind::Show, 1, 30));
        assert_eq!(f("version_proc_show"), (FuncKind::ShowApprox, 1, 70));
        let mut rows: Vec<_> = s.funcs().map(|(n, _)| n).collect();
        rows.sort_unstable();
        assert_eq!(
            rows,
            [
                "proc_single_show",
                "proc_tgid_stat",
                "seq_read_iter",
                "version_proc_show"
            ],
            "one row per function reached, none for the others probed"
        );
    }
}
