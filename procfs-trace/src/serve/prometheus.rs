//! The Prometheus side of `serve`: the figures as prometheus-client
//! families, encoded as OpenMetrics text for `/metrics`.

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

use super::metrics::{Figures, Source};
use crate::check::Checked;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    verdict: &'static str,
    kind: &'static str,
    path: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommLabels {
    comm: String,
    verdict: &'static str,
}

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

/// Kernel call latency buckets, in seconds: 1 µs to about 1 s, doubling.
pub fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(1e-6, 2.0, 21)
}

fn latency_histogram() -> Histogram {
    Histogram::new(latency_buckets())
}

/// The figures as Prometheus metrics, registered under `procfs_trace_`.
pub struct Prometheus {
    ops: Family<OpLabels, Counter>,
    comm_ops: Family<CommLabels, Counter>,
    bytes: Family<CommOnly, Counter>,
    calls: Family<FuncLabels, Histogram, fn() -> Histogram>,
    callbacks: Family<CallbackLabels, Counter>,
    lost: Family<CauseLabels, Counter>,
    events: Counter,
    finished: Gauge,
}

impl Prometheus {
    /// Registers every metric in `registry`.
    pub fn new(registry: &mut Registry, source: Source) -> Prometheus {
        let m = Prometheus {
            ops: Family::default(),
            comm_ops: Family::default(),
            bytes: Family::default(),
            calls: Family::new_with_constructor(latency_histogram),
            callbacks: Family::default(),
            lost: Family::default(),
            events: Counter::default(),
            finished: Gauge::default(),
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
            "Runs of seq_file show callbacks, by callback (a probed one when its call was seen; a read served from the buffer runs none)",
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
}

impl Figures for Prometheus {
    fn operation(&mut self, verdict: &'static str, kind: &'static str, path: &str) {
        self.ops
            .get_or_create(&OpLabels {
                verdict,
                kind,
                path: path.to_owned(),
            })
            .inc();
    }

    fn process_operation(&mut self, comm: &str, verdict: &'static str) {
        self.comm_ops
            .get_or_create(&CommLabels {
                comm: comm.to_owned(),
                verdict,
            })
            .inc();
    }

    fn bytes_read(&mut self, comm: &str, bytes: u64) {
        self.bytes
            .get_or_create(&CommOnly {
                comm: comm.to_owned(),
            })
            .inc_by(bytes);
    }

    fn kernel_call(&mut self, function: &'static str, seconds: f64) {
        self.calls
            .get_or_create(&FuncLabels { function })
            .observe(seconds);
    }

    fn show_callback_run(&mut self, callback: &str) {
        self.callbacks
            .get_or_create(&CallbackLabels {
                callback: callback.to_owned(),
            })
            .inc();
    }

    fn lost(&mut self, cause: &'static str, n: u64) {
        self.lost.get_or_create(&CauseLabels { cause }).inc_by(n);
    }

    fn event(&mut self) {
        self.events.inc();
    }

    fn divergence(&mut self, _c: &Checked) {
        // Counted by `operations` with verdict="divergence"; the flow itself
        // has no place in a metric.
    }

    fn finished(&mut self) {
        self.finished.set(1);
    }
}
