//! The figures `serve` exports: counters and histograms over checked
//! operations, kernel calls and losses, with every label's values bounded.

use std::collections::HashSet;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
        info::Info,
    },
    registry::Registry,
};

use crate::{
    agent::sink::Lost, check::Checked, flows::call::Call, live::collector::Aggregate, paths::fold,
};

/// Task names with a label of their own; later ones count as `other`.
pub const MAX_COMMS: usize = 50;
/// Folded paths with a label of their own.
pub const MAX_PATHS: usize = 200;
/// Show callbacks with a label of their own.
pub const MAX_CALLBACKS: usize = 200;
/// The label value of everything past a cap.
pub const OTHER: &str = "other";

/// Labels of an operation.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    verdict: &'static str,
    kind: &'static str,
    path: String,
}

/// Labels of a process's operations.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommLabels {
    comm: String,
    verdict: &'static str,
}

/// Labels of bytes read by processes.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommOnly {
    comm: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FuncLabels {
    function: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallbackLabels {
    callback: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    cause: &'static str,
}

/// Where the figures come from, for the info metric.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Source {
    /// The traced kernel's release.
    pub kernel_release: String,
    /// How the probes are (or were) attached.
    pub attach: String,
    /// "live", or "replay" of a recording.
    pub source: String,
    /// procfs-trace's version.
    pub version: String,
}

/// A label's values: the first `cap` seen keep their own, the rest are
/// [`OTHER`]. First come rather than top-N, so a series never moves to
/// another label and every counter only ever goes up.
#[derive(Debug)]
struct Capped {
    seen: HashSet<String>,
    cap: usize,
}

impl Capped {
    fn new(cap: usize) -> Capped {
        Capped {
            seen: HashSet::new(),
            cap,
        }
    }

    fn label(&mut self, value: &str) -> String {
        if self.seen.contains(value) {
            return value.to_owned();
        }
        if self.seen.len() < self.cap && value != OTHER {
            self.seen.insert(value.to_owned());
            return value.to_owned();
        }
        OTHER.to_owned()
    }
}

/// Kernel call latencies: 1 µs to about 1 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1e-6, 2.0, 21))
}

/// The exported figures, fed checked operations by a collector.
pub struct Metrics {
    ops: Family<OpLabels, Counter>,
    comm_ops: Family<CommLabels, Counter>,
    bytes: Family<CommOnly, Counter>,
    calls: Family<FuncLabels, Histogram, fn() -> Histogram>,
    callbacks: Family<CallbackLabels, Counter>,
    lost: Family<CauseLabels, Counter>,
    events: Counter,
    finished: Gauge,
    comms: Capped,
    paths: Capped,
    callback_names: Capped,
}

impl Metrics {
    /// Registers every metric in `registry` under `procfs_trace_`.
    pub fn new(registry: &mut Registry, source: Source) -> Metrics {
        let m = Metrics {
            ops: Family::default(),
            comm_ops: Family::default(),
            bytes: Family::default(),
            calls: Family::new_with_constructor(latency_histogram),
            callbacks: Family::default(),
            lost: Family::default(),
            events: Counter::default(),
            finished: Gauge::default(),
            comms: Capped::new(MAX_COMMS),
            paths: Capped::new(MAX_PATHS),
            callback_names: Capped::new(MAX_CALLBACKS),
        };
        let r = registry.sub_registry_with_prefix("procfs_trace");
        r.register(
            "source",
            "What is traced: kernel release, attach method, live or replay, and procfs-trace's version",
            Info::new(source),
        );
        r.register(
            "operations",
            "Checked procfs operations by verdict, kind and path (pids folded to [pid])",
            m.ops.clone(),
        );
        r.register(
            "process_operations",
            "Checked procfs operations by task name and verdict",
            m.comm_ops.clone(),
        );
        r.register(
            "read_bytes",
            "Bytes returned by reads of procfs files, by task name",
            m.bytes.clone(),
        );
        r.register(
            "kernel_call_duration_seconds",
            "Time in each probed kernel function, per call whose return was seen",
            m.calls.clone(),
        );
        r.register(
            "show_callback_runs",
            "Runs of seq_file show callbacks, by callback",
            m.callbacks.clone(),
        );
        r.register(
            "lost_events",
            "Events the kernel could not deliver: ring_buffer (the ring buffer was full; the syscall it hit is flagged) or unflagged (probe runs the kernel skipped, kprobe misses, failed map inserts, records unread at exit)",
            m.lost.clone(),
        );
        r.register(
            "events",
            "Events received from the kernel",
            m.events.clone(),
        );
        r.register(
            "source_finished",
            "1 once the source has ended (a recording played to its end, or --duration passed): the figures are final",
            m.finished.clone(),
        );
        m
    }

    /// The source has ended: the figures are final.
    pub fn finish(&self) {
        self.finished.set(1);
    }
}

impl Aggregate for Metrics {
    fn event(&mut self, _ts_ns: u64) {
        self.events.inc();
    }

    fn ingest(&mut self, c: Checked) {
        let op = &c.op;
        let verdict = c.verdict.name();
        let path = match &op.path {
            Some(p) => self.paths.label(&fold(p)),
            None => String::new(),
        };
        self.ops
            .get_or_create(&OpLabels {
                verdict,
                kind: op.kind.as_str(),
                path,
            })
            .inc();
        let comm = self.comms.label(&op.comm);
        let bytes = op.bytes_read();
        if bytes > 0 {
            self.bytes
                .get_or_create(&CommOnly { comm: comm.clone() })
                .inc_by(bytes);
        }
        self.comm_ops
            .get_or_create(&CommLabels { comm, verdict })
            .inc();
        for call in op.calls.iter().flat_map(Call::walk) {
            if let Some(d) = call.duration_ns() {
                self.calls
                    .get_or_create(&FuncLabels {
                        function: call.func(),
                    })
                    .observe(d as f64 / 1e9);
            }
            if let Some(show) = call.served_show() {
                let callback = self.callback_names.label(show);
                self.callbacks
                    .get_or_create(&CallbackLabels { callback })
                    .inc();
            }
        }
    }

    fn lost(&mut self, lost: Lost) {
        for (cause, n) in [
            ("ring_buffer", lost.new.saturating_sub(lost.unflagged)),
            ("unflagged", lost.unflagged),
        ] {
            // Both series exist from the start, so a rate over them is
            // defined before the first loss.
            self.lost.get_or_create(&CauseLabels { cause }).inc_by(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check::Verdict, live::state::tests::checked};

    fn exported(registry: &Registry) -> String {
        let mut s = String::new();
        prometheus_client::encoding::text::encode(&mut s, registry).unwrap();
        s
    }

    fn metrics() -> (Metrics, Registry) {
        let mut r = Registry::default();
        let m = Metrics::new(
            &mut r,
            Source {
                kernel_release: "6.1.0-test".into(),
                attach: "kprobe".into(),
                source: "replay".into(),
                version: "0".into(),
            },
        );
        (m, r)
    }

    #[test]
    fn a_label_past_its_cap_is_other_and_stays_there() {
        let mut c = Capped::new(2);
        assert_eq!(c.label("a"), "a");
        assert_eq!(c.label(OTHER), OTHER, "'other' must not take a slot");
        assert_eq!(c.label("b"), "b");
        assert_eq!(c.label("c"), OTHER);
        assert_eq!(c.label("a"), "a", "an admitted value keeps its label");
        assert_eq!(c.label("c"), OTHER);
    }

    #[test]
    fn operations_are_counted_by_verdict_kind_and_folded_path() {
        let (mut m, r) = metrics();
        m.ingest(checked(10, "/proc/10/stat", 0));
        m.ingest(checked(11, "/proc/11/stat", 1));
        let mut bad = checked(12, "/proc/cpuinfo", 2);
        bad.verdict = Verdict::Divergence {
            at: "call 1".into(),
            expected: "a".into(),
            seen: "b".into(),
        };
        m.ingest(bad);
        let text = exported(&r);
        for line in [
            r#"procfs_trace_operations_total{verdict="match",kind="lookup",path="/proc/[pid]/stat"} 2"#,
            r#"procfs_trace_operations_total{verdict="divergence",kind="lookup",path="/proc/cpuinfo"} 1"#,
            r#"procfs_trace_process_operations_total{comm="t",verdict="match"} 2"#,
            r#"procfs_trace_source_info{kernel_release="6.1.0-test",attach="kprobe",source="replay",version="0"} 1"#,
            "procfs_trace_source_finished 0",
        ] {
            assert!(text.contains(line), "no {line} in\n{text}");
        }
        m.finish();
        assert!(exported(&r).contains("procfs_trace_source_finished 1"));
    }

    #[test]
    fn paths_past_the_cap_are_other_and_nothing_is_dropped() {
        let (mut m, r) = metrics();
        for i in 0..MAX_PATHS + 5 {
            m.ingest(checked(1, &format!("/proc/sys/kernel/k{i}"), i as u64));
        }
        let text = exported(&r);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("procfs_trace_operations_total"))
            .collect();
        assert_eq!(lines.len(), MAX_PATHS + 1);
        assert!(text.contains(
            r#"procfs_trace_operations_total{verdict="match",kind="lookup",path="other"} 5"#
        ));
    }

    #[test]
    fn losses_are_split_into_flagged_and_unflagged() {
        let (mut m, r) = metrics();
        m.lost(Lost {
            new: 7,
            unflagged: 3,
            total: 7,
        });
        m.lost(Lost {
            new: 1,
            unflagged: 0,
            total: 8,
        });
        let text = exported(&r);
        assert!(text.contains(r#"procfs_trace_lost_events_total{cause="ring_buffer"} 5"#));
        assert!(text.contains(r#"procfs_trace_lost_events_total{cause="unflagged"} 3"#));
    }
}
