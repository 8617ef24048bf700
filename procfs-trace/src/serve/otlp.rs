//! The OpenTelemetry side of `serve`: the figures as OTel instruments and
//! each divergence as a log record carrying its flow, pushed over OTLP
//! (HTTP, protobuf) by the OpenTelemetry SDK.
//!
//! The SDK's exporters block on HTTP, in threads of their own; building and
//! shutting down the providers happens off the async runtime for the same
//! reason.

use anyhow::Context as _;
use opentelemetry::{
    logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity},
    metrics::{Counter, Gauge, Histogram, MeterProvider as _},
    KeyValue,
};
use opentelemetry_otlp::{LogExporter, MetricExporter, Protocol, WithExportConfig as _};
use opentelemetry_sdk::{
    logs::{SdkLogger, SdkLoggerProvider},
    metrics::{PeriodicReader, SdkMeterProvider},
    Resource,
};

use super::{
    metrics::{Figures, Source},
    prometheus::latency_buckets,
};
use crate::{
    check::{Checked, Verdict},
    render::{events::Format, print},
};

/// The instrumentation scope's name.
const SCOPE: &str = "procfs-trace";

/// The SDK's providers: they own the export threads, flushed on shutdown.
pub struct Otlp {
    meters: SdkMeterProvider,
    logs: SdkLoggerProvider,
}

impl Otlp {
    /// Exports to the OTLP/HTTP collector at `base` (as
    /// OTEL_EXPORTER_OTLP_ENDPOINT: `/v1/metrics` and `/v1/logs` are
    /// appended); returns the providers and the exporter's figures.
    pub async fn start(base: &str, source: &Source) -> anyhow::Result<(Otlp, OtlpFigures)> {
        let base = base.trim_end_matches('/').to_owned();
        let source = source.clone();
        tokio::task::spawn_blocking(move || Otlp::build(&base, &source))
            .await
            .context("the OTLP set-up thread failed")?
    }

    fn build(base: &str, source: &Source) -> anyhow::Result<(Otlp, OtlpFigures)> {
        let resource = Resource::builder()
            .with_service_name(SCOPE)
            .with_attributes([
                KeyValue::new("service.version", source.version.clone()),
                KeyValue::new("os.type", "linux"),
                KeyValue::new("os.version", source.kernel_release.clone()),
                KeyValue::new("procfs_trace.attach", source.attach.clone()),
                KeyValue::new("procfs_trace.source", source.source.clone()),
            ])
            .build();
        let metric_exporter = MetricExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("{base}/v1/metrics"))
            .build()
            .with_context(|| format!("setting up OTLP metrics export to {base}"))?;
        // The interval is the SDK's: OTEL_METRIC_EXPORT_INTERVAL (ms), 60 s by default.
        let meters = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metric_exporter).build())
            .with_resource(resource.clone())
            .build();
        let log_exporter = LogExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("{base}/v1/logs"))
            .build()
            .with_context(|| format!("setting up OTLP log export to {base}"))?;
        let logs = SdkLoggerProvider::builder()
            .with_batch_exporter(log_exporter)
            .with_resource(resource)
            .build();
        let figures = OtlpFigures::new(&meters, &logs);
        Ok((Otlp { meters, logs }, figures))
    }

    /// Exports what is left and stops the export threads.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        tokio::task::spawn_blocking(move || {
            let metrics = self.meters.shutdown();
            let logs = self.logs.shutdown();
            metrics.context("flushing the last OTLP metrics")?;
            logs.context("flushing the last OTLP log records")
        })
        .await
        .context("the OTLP shutdown thread failed")?
    }
}

/// The figures as OTel instruments, and divergences as log records.
pub struct OtlpFigures {
    ops: Counter<u64>,
    comm_ops: Counter<u64>,
    bytes: Counter<u64>,
    calls: Histogram<f64>,
    callbacks: Counter<u64>,
    lost: Counter<u64>,
    events: Counter<u64>,
    finished: Gauge<u64>,
    logger: SdkLogger,
}

impl OtlpFigures {
    fn new(meters: &SdkMeterProvider, logs: &SdkLoggerProvider) -> OtlpFigures {
        let m = meters.meter(SCOPE);
        let counter = |name: &'static str, unit: &'static str, what: &'static str| {
            m.u64_counter(name)
                .with_unit(unit)
                .with_description(what)
                .build()
        };
        let finished = m
            .u64_gauge("procfs_trace.source.finished")
            .with_description("1 once the source has ended: the figures are final")
            .build();
        finished.record(0, &[]);
        OtlpFigures {
            ops: counter(
                "procfs_trace.operations",
                "{operation}",
                "Checked procfs operations by verdict, kind and folded path",
            ),
            comm_ops: counter(
                "procfs_trace.process.operations",
                "{operation}",
                "Checked procfs operations by task name and verdict",
            ),
            bytes: counter(
                "procfs_trace.read.bytes",
                "By",
                "Bytes returned by reads of procfs files, by task name",
            ),
            calls: m
                .f64_histogram("procfs_trace.kernel_call.duration")
                .with_unit("s")
                .with_description(
                    "Time in each probed kernel function, per call whose return was seen",
                )
                .with_boundaries(latency_buckets().collect())
                .build(),
            callbacks: counter(
                "procfs_trace.show_callback.runs",
                "{run}",
                "Runs of seq_file show callbacks, by callback",
            ),
            lost: counter(
                "procfs_trace.lost_events",
                "{event}",
                "Events the kernel could not deliver, by cause: ring_buffer or unflagged",
            ),
            events: counter(
                "procfs_trace.events",
                "{event}",
                "Events received from the kernel",
            ),
            finished,
            logger: logs.logger(SCOPE),
        }
    }
}

impl Figures for OtlpFigures {
    fn operation(&mut self, verdict: &'static str, kind: &'static str, path: &str) {
        self.ops.add(
            1,
            &[
                KeyValue::new("verdict", verdict),
                KeyValue::new("kind", kind),
                KeyValue::new("path", path.to_owned()),
            ],
        );
    }

    fn process_operation(&mut self, comm: &str, verdict: &'static str) {
        self.comm_ops.add(
            1,
            &[
                KeyValue::new("comm", comm.to_owned()),
                KeyValue::new("verdict", verdict),
            ],
        );
    }

    fn bytes_read(&mut self, comm: &str, bytes: u64) {
        self.bytes
            .add(bytes, &[KeyValue::new("comm", comm.to_owned())]);
    }

    fn kernel_call(&mut self, function: &'static str, seconds: f64) {
        self.calls
            .record(seconds, &[KeyValue::new("function", function)]);
    }

    fn show_callback_run(&mut self, callback: &str) {
        self.callbacks
            .add(1, &[KeyValue::new("callback", callback.to_owned())]);
    }

    fn lost(&mut self, cause: &'static str, n: u64) {
        self.lost.add(n, &[KeyValue::new("cause", cause)]);
    }

    fn event(&mut self) {
        self.events.add(1, &[]);
    }

    fn divergence(&mut self, c: &Checked) {
        let Verdict::Divergence { at, expected, seen } = &c.verdict else {
            return;
        };
        let mut tree = Vec::new();
        let mut json = Vec::new();
        // Writing into memory cannot fail.
        let _ = print::print(c, Format::Text, &mut tree);
        let _ = print::print(c, Format::Jsonl, &mut json);
        let op = &c.op;
        let mut record = self.logger.create_log_record();
        record.set_severity_number(Severity::Warn);
        record.set_severity_text("WARN");
        record.set_event_name("procfs_trace.divergence");
        record.set_body(AnyValue::from(String::from_utf8_lossy(&tree).into_owned()));
        record.add_attributes([
            ("process.pid", AnyValue::from(i64::from(op.tgid))),
            ("thread.id", AnyValue::from(i64::from(op.tid))),
            ("procfs_trace.comm", AnyValue::from(op.comm.clone())),
            ("procfs_trace.kind", AnyValue::from(op.kind.as_str())),
            (
                "procfs_trace.path",
                AnyValue::from(op.path.clone().unwrap_or_default()),
            ),
            ("procfs_trace.divergence.at", AnyValue::from(at.clone())),
            (
                "procfs_trace.divergence.expected",
                AnyValue::from(expected.clone()),
            ),
            ("procfs_trace.divergence.seen", AnyValue::from(seen.clone())),
            (
                "procfs_trace.flow",
                AnyValue::from(String::from_utf8_lossy(&json).trim_end().to_owned()),
            ),
        ]);
        self.logger.emit(record);
    }

    fn finished(&mut self) {
        self.finished.record(1, &[]);
    }
}
