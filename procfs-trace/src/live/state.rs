//! What the view shows: aggregates per process, path and kernel function,
//! and the most recent flows. Every table is capped, so memory stays bounded
//! whatever the event rate: the least recently active rows are evicted, and
//! old flows leave the ring while their counts stay in the aggregates.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::{
    filter::Filter,
    stats::{Histogram, Rate},
};
use procfs_trace_common::PROBES;

use crate::{
    check::{Checked, Verdict},
    flows::op::{Op, OpKind},
    tour::scenarios::normalise,
};

/// Recent flows kept for the flows pane.
pub const MAX_FLOWS: usize = 200;
/// Rows kept per table before the least recently active are evicted.
pub const MAX_ROWS: usize = 2048;
/// Processes kept in one path's breakdown.
pub const MAX_PIDS_PER_PATH: usize = 64;

/// One process's procfs activity.
#[derive(Debug, Clone, Default)]
pub struct ProcAgg {
    /// Process id.
    pub tgid: u32,
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
    last_ns: u64,
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
    last_ns: u64,
}

/// Activity on one path, pids folded to `[pid]`.
#[derive(Debug, Clone, Default)]
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
    pub by_pid: HashMap<u32, PidShare>,
    last_ns: u64,
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
    last_ns: u64,
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
    fn record(&mut self, d: u64, ts: u64) {
        self.calls += 1;
        self.total_ns += d;
        self.latency.record(d);
        self.last_ns = ts;
    }
}

/// Whether procfs-trace probes the function `name`.
fn probed(name: &str) -> bool {
    PROBES.iter().any(|p| p.func == name)
}

/// Aggregates over a stream of checked operations.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Per process id.
    pub procs: HashMap<u32, ProcAgg>,
    /// Per normalised path.
    pub paths: HashMap<String, PathAgg>,
    /// Per function, probed or show callback.
    pub funcs: HashMap<String, FuncAgg>,
    /// Most recent flows, newest last (divergences kept longer).
    pub flows: VecDeque<Checked>,
    /// Divergences among `flows`.
    pub flows_diverged: usize,
    /// Operations per verdict name.
    pub verdicts: BTreeMap<&'static str, u64>,
    /// Operations seen.
    pub ops: u64,
    /// Rows evicted to keep memory bounded.
    pub evicted: u64,
}

impl State {
    /// Adds one checked operation.
    pub fn ingest(&mut self, c: Checked) {
        let op = &c.op;
        let ts = op.start_ns;
        let kernel = op.kernel_ns();
        let diverged = u64::from(is_divergence(&c));
        self.ops += 1;
        *self.verdicts.entry(c.verdict.name()).or_default() += 1;

        let p = self.procs.entry(op.tgid).or_default();
        p.tgid = op.tgid;
        if p.comm != op.comm {
            p.comm.clone_from(&op.comm);
        }
        p.ops += 1;
        p.rate.add(ts, 1);
        p.bytes += bytes_read(op);
        p.kernel_ns += kernel;
        p.diverged += diverged;
        p.last_ns = ts;
        self.evicted += evict(&mut self.procs, MAX_ROWS, |p| p.last_ns);

        if let Some(path) = &op.path {
            let a = self.paths.entry(normalise(path)).or_default();
            a.ops += 1;
            a.rate.add(ts, 1);
            a.kernel_ns += kernel;
            a.diverged += diverged;
            a.last_ns = ts;
            let s = a.by_pid.entry(op.tgid).or_default();
            if s.comm != op.comm {
                s.comm.clone_from(&op.comm);
            }
            s.ops += 1;
            s.kernel_ns += kernel;
            s.last_ns = ts;
            evict(&mut a.by_pid, MAX_PIDS_PER_PATH, |s| s.last_ns);
            self.evicted += evict(&mut self.paths, MAX_ROWS, |a| a.last_ns);
        }

        // An unprobed show callback is timed by the innermost call naming it.
        let mut approx: HashMap<&str, (usize, Option<u64>)> = HashMap::new();
        for (depth, call) in op.calls.iter().flat_map(|c| with_depth(c, 0)) {
            if let Some(d) = call.duration_ns() {
                self.funcs
                    .entry(call.func().to_owned())
                    .or_default()
                    .record(d, ts);
            }
            match &call.show {
                Some(s) if probed(s) => {
                    self.funcs.entry(s.clone()).or_default().kind = FuncKind::Show;
                }
                Some(s) => {
                    let e = approx.entry(s).or_insert((depth, call.duration_ns()));
                    if depth > e.0 {
                        *e = (depth, call.duration_ns());
                    }
                }
                None => {}
            }
        }
        for (name, (_, d)) in approx {
            if let Some(d) = d {
                let f = self.funcs.entry(name.to_owned()).or_default();
                f.kind = FuncKind::ShowApprox;
                f.record(d, ts);
            }
        }
        self.evicted += evict(&mut self.funcs, MAX_ROWS, |f| f.last_ns);

        if self.flows.len() == MAX_FLOWS {
            // Divergences are what a user looks for: under a flood they
            // outlive other flows, holding up to a quarter of the pane.
            let shrink_diverged = (diverged == 1 && self.flows_diverged >= MAX_FLOWS / 4)
                || self.flows_diverged == self.flows.len();
            let at = self
                .flows
                .iter()
                .position(|c| is_divergence(c) == shrink_diverged)
                .unwrap_or(0);
            if let Some(gone) = self.flows.remove(at) {
                self.flows_diverged -= usize::from(is_divergence(&gone));
            }
        }
        self.flows_diverged += usize::from(diverged == 1);
        self.flows.push_back(c);
    }
}

fn with_depth(
    c: &crate::flows::call::Call,
    depth: usize,
) -> Vec<(usize, &crate::flows::call::Call)> {
    let mut out = vec![(depth, c)];
    for child in &c.children {
        out.extend(with_depth(child, depth + 1));
    }
    out
}

/// Whether `c` diverged from the model.
pub fn is_divergence(c: &Checked) -> bool {
    matches!(c.verdict, Verdict::Divergence { .. })
}

/// Bytes a read returned (the syscall's result, else the top call's).
fn bytes_read(op: &Op) -> u64 {
    if op.kind != OpKind::Read {
        return 0;
    }
    let ret = op
        .syscall
        .as_ref()
        .and_then(|s| s.ret)
        .or_else(|| op.calls.first().and_then(|c| c.ret));
    ret.map_or(0, |r| r.max(0) as u64)
}

/// Drops the least recently active tenth when `map` is over `cap`; returns how many.
fn evict<K: Clone + Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    cap: usize,
    last: impl Fn(&V) -> u64,
) -> u64 {
    if map.len() <= cap {
        return 0;
    }
    // Evicting a batch keeps the cost of the sort amortised.
    let mut ages: Vec<(u64, K)> = map.iter().map(|(k, v)| (last(v), k.clone())).collect();
    ages.sort_unstable_by_key(|(t, _)| *t);
    let n = (map.len() - cap + cap / 10).min(map.len());
    for (_, k) in ages.into_iter().take(n) {
        map.remove(&k);
    }
    n as u64
}

/// About the session rather than the operations.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// Where events come from: "live" or "replay FILE".
    pub source: String,
    /// Kernel release.
    pub kernel: String,
    /// How probes are attached.
    pub attach: String,
    /// Trace time the session started at.
    pub started_ns: u64,
    /// Where the one-second rate windows end: the newest event's time while
    /// events keep coming (the agent may lag the kernel, and rates should
    /// describe the events seen), the clock's when they stop (so rates decay).
    pub now_ns: u64,
    /// Trace time on the clock, for the uptime.
    pub clock_ns: u64,
    /// Events received.
    pub events: u64,
    /// Events in the last second.
    pub event_rate: Rate,
    /// Events the kernel could not deliver (ring buffer full).
    pub lost: u64,
    /// Losses in the last second: the view falls behind the ring buffer.
    pub lost_rate: Rate,
    /// The source has no more events (a recording played to its end).
    pub finished: bool,
}

impl Meta {
    /// How long the session has run, in trace time.
    pub fn uptime_ns(&self) -> u64 {
        self.clock_ns
            .max(self.now_ns)
            .saturating_sub(self.started_ns)
    }
}

/// Everything the view reads: session facts, all aggregates, and the
/// aggregates of the filtered operations (from the moment the filter was set,
/// seeded with the recent flows it matches).
#[derive(Debug, Clone, Default)]
pub struct Store {
    /// Session facts.
    pub meta: Meta,
    /// Every operation.
    pub all: State,
    /// The filter and what passed it.
    pub filtered: Option<(Filter, State)>,
    /// `meta.events` at the last [`Store::advance`].
    events_at_advance: u64,
}

impl Store {
    /// An empty store.
    pub fn new(meta: Meta) -> Store {
        Store {
            meta,
            ..Store::default()
        }
    }

    /// Adds one checked operation.
    pub fn ingest(&mut self, c: Checked) {
        if let Some((f, s)) = &mut self.filtered {
            if f.matches(&c.op) {
                s.ingest(c.clone());
            }
        }
        self.all.ingest(c);
    }

    /// Counts one event at `ts_ns`.
    pub fn event(&mut self, ts_ns: u64) {
        self.meta.events += 1;
        self.meta.event_rate.add(ts_ns, 1);
        self.meta.now_ns = self.meta.now_ns.max(ts_ns);
    }

    /// Counts `new` lost events.
    pub fn lost(&mut self, new: u64) {
        self.meta.lost += new;
        self.meta.lost_rate.add(self.meta.now_ns, new);
    }

    /// The clock reads `now_ns`: rate windows move to it only if no event
    /// came since the last call (see [`Meta::now_ns`]).
    pub fn advance(&mut self, now_ns: u64) {
        let m = &mut self.meta;
        m.clock_ns = m.clock_ns.max(now_ns);
        if m.events == self.events_at_advance {
            m.now_ns = m.now_ns.max(now_ns);
        }
        self.events_at_advance = m.events;
    }

    /// Sets (or clears, when empty) the filter.
    pub fn set_filter(&mut self, filter: Filter) {
        if filter.is_empty() {
            self.filtered = None;
            return;
        }
        let mut s = State::default();
        for c in self.all.flows.iter().filter(|c| filter.matches(&c.op)) {
            s.ingest(c.clone());
        }
        self.filtered = Some((filter, s));
    }

    /// The aggregates on show.
    pub fn view(&self) -> &State {
        self.filtered.as_ref().map_or(&self.all, |(_, s)| s)
    }

    /// The filter, if any.
    pub fn filter(&self) -> Option<&Filter> {
        self.filtered.as_ref().map(|(f, _)| f)
    }

    /// Whether events were lost in the last second.
    pub fn behind(&self) -> u64 {
        self.meta.lost_rate.per_sec(self.meta.now_ns)
    }
}

/// How the process table is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProcSort {
    /// Operations in the last second.
    #[default]
    Rate,
    /// Operations in all.
    Ops,
    /// Bytes read.
    Bytes,
    /// Kernel time.
    Kernel,
    /// Process id.
    Pid,
}

/// How the path table is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathSort {
    /// Operations in the last second.
    #[default]
    Rate,
    /// Operations in all.
    Ops,
    /// Kernel time.
    Kernel,
}

/// How the function table is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FuncSort {
    /// Total time.
    #[default]
    Total,
    /// Calls.
    Calls,
    /// 99th percentile latency.
    P99,
}

impl ProcSort {
    /// The next order.
    pub fn next(self) -> Self {
        match self {
            ProcSort::Rate => ProcSort::Ops,
            ProcSort::Ops => ProcSort::Bytes,
            ProcSort::Bytes => ProcSort::Kernel,
            ProcSort::Kernel => ProcSort::Pid,
            ProcSort::Pid => ProcSort::Rate,
        }
    }
    /// Its name in titles.
    pub fn name(self) -> &'static str {
        match self {
            ProcSort::Rate => "ops/s",
            ProcSort::Ops => "ops",
            ProcSort::Bytes => "bytes",
            ProcSort::Kernel => "kernel time",
            ProcSort::Pid => "pid",
        }
    }
}

impl PathSort {
    /// The next order.
    pub fn next(self) -> Self {
        match self {
            PathSort::Rate => PathSort::Ops,
            PathSort::Ops => PathSort::Kernel,
            PathSort::Kernel => PathSort::Rate,
        }
    }
    /// Its name in titles.
    pub fn name(self) -> &'static str {
        match self {
            PathSort::Rate => "ops/s",
            PathSort::Ops => "ops",
            PathSort::Kernel => "kernel time",
        }
    }
}

impl FuncSort {
    /// The next order.
    pub fn next(self) -> Self {
        match self {
            FuncSort::Total => FuncSort::Calls,
            FuncSort::Calls => FuncSort::P99,
            FuncSort::P99 => FuncSort::Total,
        }
    }
    /// Its name in titles.
    pub fn name(self) -> &'static str {
        match self {
            FuncSort::Total => "total time",
            FuncSort::Calls => "calls",
            FuncSort::P99 => "p99",
        }
    }
}

impl State {
    /// Processes in `sort` order (ties by pid, so the order is stable).
    pub fn procs_sorted(&self, sort: ProcSort, now_ns: u64) -> Vec<&ProcAgg> {
        let mut v: Vec<_> = self.procs.values().collect();
        v.sort_by_key(|p| {
            let key = match sort {
                ProcSort::Rate => p.rate.per_sec(now_ns),
                ProcSort::Ops => p.ops,
                ProcSort::Bytes => p.bytes,
                ProcSort::Kernel => p.kernel_ns,
                ProcSort::Pid => u64::MAX - u64::from(p.tgid),
            };
            (std::cmp::Reverse(key), std::cmp::Reverse(p.ops), p.tgid)
        });
        v
    }

    /// Paths in `sort` order.
    pub fn paths_sorted(&self, sort: PathSort, now_ns: u64) -> Vec<(&str, &PathAgg)> {
        let mut v: Vec<_> = self.paths.iter().map(|(k, a)| (k.as_str(), a)).collect();
        v.sort_by_key(|(k, a)| {
            let key = match sort {
                PathSort::Rate => a.rate.per_sec(now_ns),
                PathSort::Ops => a.ops,
                PathSort::Kernel => a.kernel_ns,
            };
            (std::cmp::Reverse(key), std::cmp::Reverse(a.ops), *k)
        });
        v
    }

    /// Functions in `sort` order.
    pub fn funcs_sorted(&self, sort: FuncSort) -> Vec<(&str, &FuncAgg)> {
        let mut v: Vec<_> = self.funcs.iter().map(|(k, a)| (k.as_str(), a)).collect();
        v.sort_by_key(|(k, a)| {
            let key = match sort {
                FuncSort::Total => a.total_ns,
                FuncSort::Calls => a.calls,
                FuncSort::P99 => a.latency.quantile(0.99).unwrap_or(0),
            };
            (std::cmp::Reverse(key), *k)
        });
        v
    }

    /// One path's processes, busiest first.
    pub fn path_breakdown(&self, path: &str) -> Vec<(u32, &PidShare)> {
        let mut v: Vec<_> = self
            .paths
            .get(path)
            .map(|a| a.by_pid.iter().map(|(p, s)| (*p, s)).collect())
            .unwrap_or_default();
        v.sort_by_key(|(p, s)| (std::cmp::Reverse(s.ops), *p));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::op::OpKind;
    use procfs_trace_common::ProbeId;

    fn checked(tgid: u32, path: &str, ts: u64) -> Checked {
        Checked {
            op: Op {
                kind: OpKind::Lookup,
                tgid,
                tid: tgid,
                comm: "t".into(),
                syscall: None,
                path: Some(path.into()),
                start_ns: ts,
                end_ns: Some(ts + 1),
                calls: vec![],
                orphan_exits: vec![],
                lost: false,
            },
            verdict: Verdict::Match { assumed: vec![] },
        }
    }

    #[test]
    fn memory_stays_bounded_and_totals_stay() {
        let mut s = State::default();
        for i in 0..(MAX_ROWS as u32 * 3) {
            s.ingest(checked(i, &format!("/proc/x{i}"), u64::from(i)));
        }
        assert!(s.procs.len() <= MAX_ROWS);
        assert!(s.paths.len() <= MAX_ROWS);
        assert_eq!(s.flows.len(), MAX_FLOWS);
        assert_eq!(s.ops, MAX_ROWS as u64 * 3);
        assert!(s.evicted > 0);
        // The newest survive.
        assert!(s.procs.contains_key(&(MAX_ROWS as u32 * 3 - 1)));
    }

    #[test]
    fn divergences_outlive_other_flows() {
        let mut s = State::default();
        let mut bad = checked(1, "/proc/1/stat", 0);
        bad.verdict = Verdict::Divergence {
            at: "x".into(),
            expected: "a".into(),
            seen: "b".into(),
        };
        s.ingest(bad.clone());
        for i in 1..(MAX_FLOWS as u64 * 2) {
            s.ingest(checked(2, "/proc/2/stat", i));
        }
        assert_eq!(s.flows.len(), MAX_FLOWS);
        assert_eq!(s.flows_diverged, 1);
        assert!(is_divergence(&s.flows[0]), "the divergence was evicted");
        // A quarter of the pane at most: then the oldest divergence goes.
        for i in 0..MAX_FLOWS as u64 {
            s.ingest(bad.clone());
            s.ingest(checked(2, "/proc/2/stat", i));
        }
        assert_eq!(s.flows_diverged, MAX_FLOWS / 4);
        assert_eq!(s.flows.len(), MAX_FLOWS);
    }

    #[test]
    fn show_callbacks_are_timed_exactly_when_probed() {
        use crate::flows::call::Call;
        let call = |probe, show: Option<&str>, start, end, children| Call {
            probe,
            start_ns: start,
            end_ns: Some(end),
            name: Some("stat".into()),
            pos_in: None,
            pos_out: None,
            ret: Some(1),
            show: show.map(String::from),
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
        s.ingest(c);
        let f = |n: &str| (s.funcs[n].kind, s.funcs[n].calls, s.funcs[n].total_ns);
        assert_eq!(f("seq_read_iter"), (FuncKind::Probed, 2, 170));
        assert_eq!(f("proc_single_show"), (FuncKind::Show, 1, 50));
        assert_eq!(f("proc_tgid_stat"), (FuncKind::Show, 1, 30));
        assert_eq!(f("version_proc_show"), (FuncKind::ShowApprox, 1, 70));
    }

    #[test]
    fn rates_follow_the_events_while_they_come_and_decay_when_they_stop() {
        let sec = 1_000_000_000;
        let mut st = Store::default();
        // The agent lags: events stamped at 10 s arrive when the clock says 12.
        for i in 0..100 {
            st.event(10 * sec + i);
        }
        st.advance(12 * sec);
        assert_eq!(st.meta.event_rate.per_sec(st.meta.now_ns), 100);
        assert_eq!(st.meta.uptime_ns(), 12 * sec);
        // Nothing more came: the window moves to the clock.
        st.advance(12 * sec + 1);
        assert_eq!(st.meta.event_rate.per_sec(st.meta.now_ns), 0);
    }

    #[test]
    fn pids_fold_and_filters_seed_from_recent_flows() {
        let mut st = Store::default();
        st.ingest(checked(10, "/proc/10/stat", 1));
        st.ingest(checked(11, "/proc/11/stat", 2));
        st.ingest(checked(11, "/proc/11/status", 3));
        assert_eq!(st.all.paths["/proc/[pid]/stat"].ops, 2);
        assert_eq!(st.all.path_breakdown("/proc/[pid]/stat").len(), 2);
        st.set_filter(Filter::parse("pid:11").unwrap());
        assert_eq!(st.view().ops, 2);
        st.ingest(checked(10, "/proc/10/stat", 4));
        assert_eq!(st.view().ops, 2);
        assert_eq!(st.all.ops, 4);
        st.set_filter(Filter::default());
        assert_eq!(st.view().ops, 4);
    }
}
