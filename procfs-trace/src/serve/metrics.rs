//! What `serve` exports, whatever it exports to: the observations made of
//! each checked operation, kernel call and loss, with every label's values
//! bounded, handed to each exporter (`prometheus`, `otlp`).

use std::collections::HashSet;

use prometheus_client::encoding::EncodeLabelSet;

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

/// Where the figures come from, for the info metric and the OTLP resource.
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

/// An exporter's side: it gets every observation, labels already capped.
pub trait Figures {
    /// A checked operation.
    fn operation(&mut self, verdict: &'static str, kind: &'static str, path: &str);
    /// The same operation, by the task that made it.
    fn process_operation(&mut self, comm: &str, verdict: &'static str);
    /// Bytes a read returned.
    fn bytes_read(&mut self, comm: &str, bytes: u64);
    /// A probed kernel call whose return was seen, and its duration.
    fn kernel_call(&mut self, function: &'static str, seconds: f64);
    /// A show callback a read ran.
    fn show_callback_run(&mut self, callback: &str);
    /// Events lost, by cause (`ring_buffer` or `unflagged`).
    fn lost(&mut self, cause: &'static str, n: u64);
    /// An event received.
    fn event(&mut self);
    /// An operation that diverged from the model, whole.
    fn divergence(&mut self, c: &Checked);
    /// The source has ended: the figures are final.
    fn finished(&mut self);
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

    fn label<'a>(&mut self, value: &'a str) -> &'a str {
        if self.seen.contains(value) {
            return value;
        }
        if self.seen.len() < self.cap && value != OTHER {
            self.seen.insert(value.to_owned());
            return value;
        }
        OTHER
    }
}

/// Observes checked operations for a set of exporters.
pub struct Metrics {
    exporters: Vec<Box<dyn Figures>>,
    comms: Capped,
    paths: Capped,
    callbacks: Capped,
}

impl Metrics {
    /// Observations for `exporters`.
    pub fn new(exporters: Vec<Box<dyn Figures>>) -> Metrics {
        Metrics {
            exporters,
            comms: Capped::new(MAX_COMMS),
            paths: Capped::new(MAX_PATHS),
            callbacks: Capped::new(MAX_CALLBACKS),
        }
    }

    /// The source has ended: the figures are final.
    pub fn finish(&mut self) {
        for e in &mut self.exporters {
            e.finished();
        }
    }
}

impl Aggregate for Metrics {
    fn event(&mut self, _ts_ns: u64) {
        for e in &mut self.exporters {
            e.event();
        }
    }

    fn ingest(&mut self, c: Checked, _later: usize) {
        let op = &c.op;
        let verdict = c.verdict.name();
        let folded = op.path.as_deref().map(fold);
        let path = folded.as_deref().map_or("", |p| self.paths.label(p));
        let comm = self.comms.label(&op.comm);
        let bytes = op.bytes_read();
        for e in &mut self.exporters {
            e.operation(verdict, op.kind.as_str(), path);
            e.process_operation(comm, verdict);
            if bytes > 0 {
                e.bytes_read(comm, bytes);
            }
        }
        for call in op.calls.iter().flat_map(Call::walk) {
            let duration = call.duration_ns().map(|d| d as f64 / 1e9);
            let callback = call.show_run().map(|r| self.callbacks.label(r.callback));
            for e in &mut self.exporters {
                if let Some(d) = duration {
                    e.kernel_call(call.func(), d);
                }
                if let Some(cb) = callback {
                    e.show_callback_run(cb);
                }
            }
        }
        if c.diverged() {
            for e in &mut self.exporters {
                e.divergence(&c);
            }
        }
    }

    fn lost(&mut self, lost: Lost) {
        for e in &mut self.exporters {
            // Both series exist from the first tick, so a rate over them is
            // defined before the first loss.
            e.lost("ring_buffer", lost.new.saturating_sub(lost.unflagged));
            e.lost("unflagged", lost.unflagged);
        }
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry;

    use super::*;
    use crate::{check::Verdict, live::state::tests::checked, serve::prometheus::Prometheus};

    fn exported(registry: &Registry) -> String {
        let mut s = String::new();
        prometheus_client::encoding::text::encode(&mut s, registry).unwrap();
        s
    }

    fn metrics() -> (Metrics, Registry) {
        let mut r = Registry::default();
        let p = Prometheus::new(
            &mut r,
            Source {
                kernel_release: "6.1.0-test".into(),
                attach: "kprobe".into(),
                source: "replay".into(),
                version: "0".into(),
            },
        );
        (Metrics::new(vec![Box::new(p)]), r)
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
        m.ingest(checked(10, "/proc/10/stat", 0), 0);
        m.ingest(checked(11, "/proc/11/stat", 1), 0);
        let mut bad = checked(12, "/proc/cpuinfo", 2);
        bad.verdict = Verdict::Divergence {
            at: "call 1".into(),
            expected: "a".into(),
            seen: "b".into(),
        };
        m.ingest(bad, 0);
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
            m.ingest(checked(1, &format!("/proc/sys/kernel/k{i}"), i as u64), 0);
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
            ..Lost::default()
        });
        m.lost(Lost {
            new: 1,
            unflagged: 0,
            total: 8,
            ..Lost::default()
        });
        let text = exported(&r);
        assert!(text.contains(r#"procfs_trace_lost_events_total{cause="ring_buffer"} 5"#));
        assert!(text.contains(r#"procfs_trace_lost_events_total{cause="unflagged"} 3"#));
    }
}
