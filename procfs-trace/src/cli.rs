//! Command-line interface.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

use procfs_trace::{
    agent::{session::TraceOptions, tracer::Probing},
    probes::attach::Method,
    render::events::Format,
};

/// Traces the Linux kernel's procfs paths with eBPF.
#[derive(Debug, Parser)]
#[command(name = "procfs-trace", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Attach the probes and print procfs activity as checked call flows
    /// (needs root and a kernel with kprobes).
    Trace(TraceArgs),
    /// Like trace, and exit 1 if any flow diverges from the model (3 if events
    /// were lost or incomplete, so nothing can pass).
    Check(TraceArgs),
    /// Run each scenario of the procfs documents under the tracer, check its
    /// flows and print a table of verdicts (exit 1 unless all match).
    Tour(TourArgs),
    /// Record the tracer's events to a file (mode 0600) that replay, check and
    /// info read anywhere, without root.
    Record(RecordArgs),
    /// Replay a recording's flows, checked against the model (no root needed).
    Replay(ReplayArgs),
    /// Summarise a recording: kernel, time span, events, operations, losses.
    Info(InfoArgs),
    /// Check what this machine allows (BTF, kprobes, fentry, lockdown, ring
    /// buffers, the probed functions) and say whether procfs-trace can trace here.
    Doctor,
    /// Show the model's predicted kernel flow for a /proc path, with a reason
    /// for every call (no root or BPF needed).
    Explain(ExplainArgs),
    /// A live, top-like view of procfs activity: processes, hot paths, kernel
    /// functions with latencies, recent flows and their verdicts (needs root
    /// and kprobes, or --from a recording).
    Live(LiveArgs),
}

/// Arguments of `live`.
#[derive(Debug, Args)]
pub struct LiveArgs {
    /// Play this recording through the view instead of tracing.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Playing speed of --from (2 is twice as fast; 0 as fast as possible).
    #[arg(long, value_name = "N", default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
    /// Plain-text tables every interval instead of the terminal view (the
    /// default when standard output is not a terminal).
    #[arg(long)]
    pub plain: bool,
    /// Seconds between plain-text tables.
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_secs)]
    pub interval: Duration,
    /// Start with the view filtered to paths matching this glob, e.g. '/proc/*/stat'.
    #[arg(long, value_name = "GLOB")]
    pub path: Option<String>,
    #[command(flatten)]
    pub probing: ProbingArgs,
}

impl From<LiveArgs> for procfs_trace::live::LiveOptions {
    fn from(a: LiveArgs) -> Self {
        procfs_trace::live::LiveOptions {
            from: a.from,
            speed: a.speed,
            plain: a.plain,
            interval: a.interval,
            path: a.path,
            probing: a.probing.into(),
        }
    }
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{s:?}: the speed is a number of at least 0")),
    }
}

/// Arguments of `record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The recording to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub probing: ProbingArgs,
    /// Command to run and record with its children.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

impl From<RecordArgs> for procfs_trace::agent::record::RecordOptions {
    fn from(a: RecordArgs) -> Self {
        procfs_trace::agent::record::RecordOptions {
            output: a.output,
            probing: a.probing.into(),
            command: a.command,
        }
    }
}

/// Arguments of `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The recording.
    pub file: PathBuf,
    /// Exit 1 on any divergence, 3 when events were lost, incomplete or damaged.
    #[arg(long)]
    pub check: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = procfs_trace::replay::ReplayFormat::Tree)]
    pub format: procfs_trace::replay::ReplayFormat,
    /// Only this process id.
    #[arg(long, value_name = "N")]
    pub pid: Option<u32>,
    /// Only tasks with this name.
    #[arg(long, value_name = "NAME")]
    pub comm: Option<String>,
    /// Only operations on paths matching this glob, e.g. '/proc/*/limits'.
    #[arg(long, value_name = "GLOB")]
    pub path: Option<String>,
}

impl ReplayArgs {
    /// The replay options these arguments ask for.
    pub fn options(&self) -> procfs_trace::replay::ReplayOptions {
        procfs_trace::replay::ReplayOptions {
            check: self.check,
            pid: self.pid,
            comm: self.comm.clone(),
            path: self.path.clone(),
        }
    }
}

/// Arguments of `info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The recording.
    pub file: PathBuf,
}

/// Arguments of `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A path under /proc, e.g. /proc/1/limits.
    pub path: String,
    /// Only this operation (default: what applies to the path).
    #[arg(long, value_enum)]
    pub op: Option<OpArg>,
    /// Kernel version to predict for, e.g. 6.1 (default: the running kernel).
    #[arg(long, value_name = "VERSION")]
    pub kernel: Option<String>,
}

/// Operations `explain` can predict.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OpArg {
    /// The path walk of an open or stat.
    Lookup,
    /// A directory listing.
    Readdir,
    /// A read.
    Read,
    /// Reading a symlink.
    Readlink,
}

impl From<OpArg> for procfs_trace::model::OpKind {
    fn from(op: OpArg) -> Self {
        use procfs_trace::model::OpKind;
        match op {
            OpArg::Lookup => OpKind::Lookup,
            OpArg::Readdir => OpKind::Readdir,
            OpArg::Read => OpKind::Read,
            OpArg::Readlink => OpKind::Readlink,
        }
    }
}

/// Arguments of `tour`.
#[derive(Debug, Args)]
pub struct TourArgs {
    /// Output format of the flows.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also record the tour's events to this file (the project's test fixtures
    /// are made this way).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Also write a JSON summary (kernel, probes, verdict per scenario, losses).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// How to attach: fentry/fexit where the kernel allows it and kprobes
    /// elsewhere (auto), or only one method.
    #[arg(long, value_enum, default_value_t = Method::Auto)]
    pub attach: Method,
}

/// Arguments of `trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Print the flat event stream instead of checked flows (ignored by check).
    #[arg(long)]
    pub raw: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub probing: ProbingArgs,
    /// Write events to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also record the events to this file, for replay elsewhere.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Command to run and trace with its children; tracing stops when it exits
    /// and procfs-trace exits with its status.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// What to trace and how: shared by trace, check, record and live.
#[derive(Debug, Args)]
pub struct ProbingArgs {
    /// Only this process id (filtered in the kernel).
    #[arg(long, value_name = "N")]
    pub pid: Option<u32>,
    /// Only tasks with this name (comm, at most 15 bytes; filtered in the kernel).
    #[arg(long, value_name = "NAME", value_parser = parse_comm)]
    pub comm: Option<String>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub duration: Option<Duration>,
    /// Ring buffer size in KiB: a power of two of at least 4. A larger buffer
    /// absorbs longer bursts before events are lost.
    #[arg(long, value_name = "KIB", default_value_t = 4096, value_parser = parse_buffer_kib)]
    pub buffer_kib: u32,
    /// How to attach: fentry/fexit where the kernel allows it and kprobes
    /// elsewhere (auto), or only one method.
    #[arg(long, value_enum, default_value_t = Method::Auto)]
    pub attach: Method,
}

impl From<ProbingArgs> for Probing {
    fn from(a: ProbingArgs) -> Self {
        Probing {
            pid: a.pid,
            comm: a.comm,
            duration: a.duration,
            buffer_kib: a.buffer_kib,
            attach: a.attach,
        }
    }
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(format!(
            "{s:?}: the duration must be a positive number of seconds"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_buffer_kib(s: &str) -> Result<u32, String> {
    let kib: u32 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number of KiB"))?;
    // The kernel wants a power-of-two multiple of the page size (4 KiB on x86-64).
    if kib < 4 || !kib.is_power_of_two() || kib > 1 << 20 {
        return Err(format!(
            "{kib} KiB: the ring buffer must be a power of two from 4 KiB to 1 GiB"
        ));
    }
    Ok(kib)
}

fn parse_comm(s: &str) -> Result<String, String> {
    let max = procfs_trace_common::COMM_LEN - 1;
    if s.is_empty() || s.len() > max {
        return Err(format!(
            "{s:?}: a task name is 1 to {max} bytes (the kernel keeps only that much)"
        ));
    }
    Ok(s.to_owned())
}

impl From<TraceArgs> for TraceOptions {
    fn from(a: TraceArgs) -> Self {
        TraceOptions {
            raw: a.raw,
            format: a.format,
            probing: a.probing.into(),
            output: a.output,
            command: a.command,
            record: a.record,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("procfs-trace").chain(args.iter().copied()))
    }

    fn trace_args(args: &[&str]) -> TraceArgs {
        match parse(args).unwrap().command {
            Command::Trace(t) | Command::Check(t) => t,
            other => panic!("not trace: {other:?}"),
        }
    }

    #[test]
    fn trace_with_command() {
        let t = trace_args(&[
            "trace",
            "--raw",
            "--format",
            "jsonl",
            "--",
            "sh",
            "-c",
            "cat /proc/$$/limits",
        ]);
        assert!(t.raw);
        assert_eq!(t.format, Format::Jsonl);
        assert_eq!(t.command, ["sh", "-c", "cat /proc/$$/limits"]);
    }

    #[test]
    fn durations() {
        let t = trace_args(&["trace", "--duration", "1.5"]);
        assert_eq!(t.probing.duration, Some(Duration::from_millis(1500)));
        assert!(parse(&["trace", "--duration", "0"]).is_err());
        assert!(parse(&["trace", "--duration", "soon"]).is_err());
        assert!(parse(&["trace", "--format", "xml"]).is_err());
        assert!(parse(&["trace", "--buffer-kib", "6"]).is_err());
        assert!(parse(&["trace", "--buffer-kib", "2"]).is_err());
        let t = trace_args(&["trace", "--buffer-kib", "64"]);
        assert_eq!(t.probing.buffer_kib, 64);
    }
}
