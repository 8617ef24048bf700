//! `trace` and `check`: attach, run the command or wait, print, summarise.

use std::{io, path::PathBuf, time::Instant};

use super::{
    child,
    output::{open_private, Tee},
    record,
    sink::{FlowSink, Output, RawSink, Sink},
    tracer::{Counting, Probing, Stopped},
    user::RunAs,
};
use crate::{check::tally::Gaps, render::events::Format};

/// What the user asked `trace` or `check` for.
#[derive(Debug, Clone)]
pub struct TraceOptions {
    /// Flat event stream instead of checked flows.
    pub raw: bool,
    /// Output format.
    pub format: Format,
    /// What to trace and how.
    pub probing: Probing,
    /// Where events go (stdout when `None`).
    pub output: Option<PathBuf>,
    /// Command to start and trace (with its descendants).
    pub command: Vec<String>,
    /// Who the command runs as (the caller when `None`).
    pub user: Option<RunAs>,
    /// Also record the events to this file.
    pub record: Option<PathBuf>,
}

/// What a session prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Printing {
    /// The flat event stream.
    Raw,
    /// Checked flows.
    Flows,
}

/// How a session ended.
struct Outcome {
    stopped: Stopped,
    /// The flows and their verdicts, when they were built.
    flows: Option<FlowSink>,
    /// Events the kernel could not deliver.
    lost: u64,
}

impl Outcome {
    /// The traced command's exit status (0 when none ran to the end).
    fn command_code(&self) -> i32 {
        match self.stopped {
            Stopped::Exited(code) => code,
            Stopped::Duration | Stopped::Signal(_) => 0,
        }
    }
}

/// `trace`: prints what happened; returns the traced command's status.
pub async fn trace(opts: TraceOptions) -> anyhow::Result<i32> {
    let printing = if opts.raw {
        Printing::Raw
    } else {
        Printing::Flows
    };
    Ok(session(opts, "trace", printing).await?.command_code())
}

/// `check`: prints the checked flows; returns the exit code of their
/// [`Outcome`](crate::check::tally::Outcome): 0 only for a pass with evidence.
pub async fn check(opts: TraceOptions) -> anyhow::Result<i32> {
    let outcome = session(opts, "check", Printing::Flows).await?;
    let command_code = outcome.command_code();
    let flows = outcome.flows.expect("check always builds flows");
    let verdict = flows.tally.outcome(Gaps {
        lost: outcome.lost,
        damaged: 0,
    });
    eprintln!(
        "procfs-trace: check: {} (command exited with {command_code})",
        verdict.message()
    );
    Ok(verdict.code())
}

/// Attaches, runs the command or waits, prints, and summarises on stderr.
async fn session(opts: TraceOptions, verb: &str, printing: Printing) -> anyhow::Result<Outcome> {
    let mut tracer = opts
        .probing
        .start(!opts.command.is_empty(), Counting::Off)?;
    let out = Output::new(match &opts.output {
        // Traces name processes and paths: keep them private to the user.
        Some(path) => Box::new(open_private(path)?),
        None => Box::new(io::stdout()),
    });
    if opts.command.is_empty() {
        eprintln!("procfs-trace: tracing; Ctrl-C to stop");
    }
    let started = Instant::now();
    let mut child = match opts.command.is_empty() {
        true => None,
        false => Some(child::spawn(&opts.command, opts.user.as_ref())?),
    };
    let mut recorder = match &opts.record {
        Some(path) => {
            let mut command = vec!["procfs-trace".to_owned(), verb.to_owned()];
            command.extend(opts.command.iter().cloned());
            Some(record::create(path, &tracer, command)?)
        }
        None => None,
    };
    let mut raw_sink = None;
    let mut flow_sink = None;
    let sink: &mut dyn Sink = match printing {
        Printing::Raw => raw_sink.insert(RawSink::new(opts.format, false, out)),
        Printing::Flows => {
            let checker = tracer.checker();
            flow_sink.insert(FlowSink::new(checker, opts.format, out))
        }
    };
    let stopped = match &mut recorder {
        Some(r) => {
            tracer
                .stream(child.as_mut(), opts.probing.duration, &mut Tee(sink, r))
                .await?
        }
        None => {
            tracer
                .stream(child.as_mut(), opts.probing.duration, sink)
                .await?
        }
    };
    sink.flush()?;
    if let Some(r) = &mut recorder {
        r.writer.flush_chunk(0, 0, None)?;
    }
    if let Some(r) = &mut raw_sink {
        r.finish()?;
    }
    if let Some(f) = &mut flow_sink {
        f.finish()?;
    }
    let lost = tracer.lost();
    eprintln!(
        "procfs-trace: {} events in {:.1} s, {}{}{}",
        tracer.events,
        started.elapsed().as_secs_f64(),
        tracer.losses(),
        match tracer.undecodable {
            0 => String::new(),
            n => format!(", {n} undecodable"),
        },
        flow_sink
            .as_ref()
            .map(|f| format!("; {}", f.tally.summary()))
            .unwrap_or_default(),
    );
    if let Some(f) = &flow_sink {
        eprintln!("procfs-trace: {}", f.tally.coverage());
    }
    if let Some(skips) = tracer.describe_skips() {
        eprintln!("procfs-trace: {skips}");
    }
    Ok(Outcome {
        stopped,
        flows: flow_sink,
        lost,
    })
}
