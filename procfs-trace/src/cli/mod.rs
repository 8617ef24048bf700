//! The command line: one module per subcommand, each owning its `Args` and a
//! `run(args)` that returns the process's exit code.

pub mod check;
pub mod doctor;
pub mod explain;
pub mod info;
pub mod live;
pub mod probing;
pub mod record;
pub mod replay;
pub mod serve;
pub mod tour;
pub mod trace;

use anyhow::Context as _;
use clap::{CommandFactory as _, Parser, Subcommand};

use crate::probes::attach::Method;
use clap_complete::Shell;

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
    Trace(trace::Args),
    /// Like trace, and exit 1 if any flow diverges from the model (3 if events
    /// were lost or incomplete, so nothing can pass).
    Check(trace::Args),
    /// Run each scenario of the procfs documents under the tracer, check its
    /// flows and print a table of verdicts (exit 1 unless all match).
    Tour(tour::Args),
    /// Record the tracer's events to a file (mode 0600) that replay, check and
    /// info read anywhere, without root.
    Record(record::Args),
    /// Replay a recording's flows, checked against the model (no root needed).
    Replay(replay::Args),
    /// Summarise a recording: kernel, time span, events, operations, losses.
    Info(info::Args),
    /// Check what this machine allows (BTF, kprobes, fentry, lockdown, ring
    /// buffers, the probed functions) and say whether procfs-trace can trace here.
    Doctor,
    /// Show the model's predicted kernel flow for a /proc path, with a reason
    /// for every call (no root or BPF needed).
    Explain(explain::Args),
    /// A live, top-like view of procfs activity: processes, hot paths, kernel
    /// functions with latencies, recent flows and their verdicts (needs root
    /// and kprobes, or --from a recording).
    Live(live::Args),
    /// Export the live view's figures for Prometheus at /metrics: operations
    /// by verdict, kind and path, kernel call latencies, show callbacks,
    /// bytes read and losses (needs root and kprobes, or --from a recording).
    Serve(serve::Args),
    /// Print a completion script for a shell, e.g.
    /// `procfs-trace completions bash > /etc/bash_completion.d/procfs-trace`.
    Completions {
        /// The shell.
        shell: Shell,
    },
    /// Attach count-only programs to the probed functions, the same way the
    /// tracer would, until SIGINT or SIGTERM (for `cargo xtask bench`).
    #[command(hide = true)]
    Twin {
        /// How to attach, as the tracer's --attach.
        #[arg(long, value_enum, default_value_t = Method::Auto)]
        attach: Method,
        /// Exits stream the least record a call needs instead of counting.
        #[arg(long)]
        emit: bool,
    },
    /// Write the man pages, procfs-trace(1) and one per subcommand, into a
    /// directory (for packagers: `cargo xtask dist` puts them in the .deb).
    #[command(hide = true)]
    Man {
        /// Where the pages go (created if missing).
        dir: std::path::PathBuf,
    },
}

/// `--version`: the release, and what tells builds apart where it matters:
/// the embedded eBPF object, the probe table and event layouts a recording
/// carries, and the recording format.
pub fn long_version() -> String {
    format!(
        "{} ({}; eBPF object {:08x}; probe table and event layouts {}; recording format {})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        crc32fast::hash(crate::probes::attach::EBPF_OBJECT),
        crate::recording::format::layout_fingerprint(),
        crate::recording::format::VERSION,
    )
}

/// Parses the command line (exits on `--help`, `--version` or an error).
pub fn parse() -> Cli {
    let version: &'static str = Box::leak(long_version().into_boxed_str());
    let matches = Cli::command().long_version(version).get_matches();
    match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    }
}

/// Runs the chosen subcommand; returns the exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Trace(args) => trace::run(args).await,
        Command::Check(args) => check::run(args).await,
        Command::Tour(args) => tour::run(args).await,
        Command::Record(args) => record::run(args).await,
        Command::Replay(args) => replay::run(args),
        Command::Info(args) => info::run(args),
        Command::Doctor => doctor::run(),
        Command::Explain(args) => explain::run(args),
        Command::Live(args) => live::run(args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "procfs-trace",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
        Command::Twin { attach, emit } => crate::agent::twin::run(attach, emit).await,
        Command::Man { dir } => {
            std::fs::create_dir_all(&dir)
                .and_then(|()| clap_mangen::generate_to(Cli::command(), &dir))
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::render::events::Format;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("procfs-trace").chain(args.iter().copied()))
    }

    fn trace_args(args: &[&str]) -> trace::Args {
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
        assert_eq!(t.probing.backlog_mib, 256);
        let t = trace_args(&["trace", "--backlog-mib", "0"]);
        assert_eq!(t.probing.backlog_mib, 0);
        assert!(parse(&["trace", "--backlog-mib", "65537"]).is_err());
    }

    #[test]
    fn serve_takes_only_http_otlp_urls() {
        let otlp = |url: &str| match parse(&["serve", "--otlp", url]).map(|c| c.command) {
            Ok(Command::Serve(a)) => Ok(a.otlp),
            Ok(other) => panic!("not serve: {other:?}"),
            Err(e) => Err(e.to_string()),
        };
        assert_eq!(
            otlp("http://collector:4318/").unwrap().as_deref(),
            Some("http://collector:4318")
        );
        assert!(otlp("https://collector:4318")
            .unwrap_err()
            .contains("no TLS"));
        assert!(otlp("not a url").is_err());
        assert!(otlp("collector:4318").is_err());
    }

    #[test]
    fn check_reads_the_same_arguments_as_trace() {
        match parse(&["check", "--comm", "cat", "--", "cat", "/proc/self/stat"])
            .unwrap()
            .command
        {
            Command::Check(t) => assert_eq!(t.probing.comm.as_deref(), Some("cat")),
            other => panic!("not check: {other:?}"),
        }
        assert!(parse(&["check", "--comm", "a-name-longer-than-15"]).is_err());
    }
}
