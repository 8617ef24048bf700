//! `procfs-trace tour`: runs each scenario of the reference documents as a real
//! workload under the tracer, checks its flows, prints them, and ends with a
//! table of verdicts.

pub mod checks;
pub mod scenarios;

use std::{io::Write as _, path::Path};

use anyhow::Context as _;
use tokio::io::AsyncReadExt as _;

use crate::{
    agent::{
        child,
        output::{open_private, Tee},
        record,
        sink::{FlowSink, Output, Sink},
        tracer::{Counting, Filters, RingSize, Stopped, Tracer},
    },
    check::{Checked, Verdict},
    model::pid_table::Table,
    probes::attach::Method,
    render::{
        events::{format_duration, Format},
        print,
    },
};
use scenarios::{matches, Scenario, SCENARIOS};

/// Where `tour --record FILE` writes the live run's flows: `FILE.live.jsonl`.
pub fn live_flows_path(record: &Path) -> std::path::PathBuf {
    let mut name = record.as_os_str().to_owned();
    name.push(".live.jsonl");
    name.into()
}

/// The machine-readable summary `--report` writes (the kernel matrix reads it).
fn write_report(path: &Path, rows: &[Row], tracer: &Tracer) -> anyhow::Result<()> {
    let report = serde_json::json!({
        "kernel": tracer.kernel.release,
        "probes_attached": tracer.probed().len(),
        "probes_skipped": tracer.plan.skipped.iter().map(|s| s.func).collect::<Vec<_>>(),
        "events": tracer.events,
        "lost": tracer.lost(),
        "scenarios": rows.iter().map(|r| serde_json::json!({
            "name": r.scenario,
            "path": r.path,
            "verdict": r.verdict,
            "pass": r.pass,
            "kernel_ns": r.kernel_ns,
        })).collect::<Vec<_>>(),
    });
    std::fs::write(path, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// One row of the final table.
struct Row {
    scenario: &'static str,
    path: &'static str,
    verdict: String,
    kernel_ns: u64,
    pass: bool,
}

/// Runs of a scenario at most, when a run loses events.
const ATTEMPTS: u32 = 3;

/// Runs every scenario, recording the events to `record` and writing a JSON
/// summary to `report` when given; returns 0 when all match, 1 otherwise.
pub async fn run(
    format: Format,
    record: Option<&Path>,
    report: Option<&Path>,
    attach: Method,
) -> anyhow::Result<i32> {
    let filters = Filters {
        descendants: true,
        ..Filters::default()
    };
    let mut tracer = Tracer::start(&filters, RingSize::default(), attach, Counting::Off)?;
    let checker = tracer.checker();
    let mut sink = FlowSink::new(checker, format, Output::new(Box::new(std::io::sink())));
    sink.print = false;
    let mut recorder = match record {
        Some(path) => Some(record::create(
            path,
            &tracer,
            vec!["procfs-trace".into(), "tour".into()],
        )?),
        None => None,
    };
    let mut rows = Vec::new();
    let mut all: Vec<Checked> = Vec::new();
    let mut stdout = std::io::stdout();
    for s in SCENARIOS {
        let mut attempt = 1;
        let (mut row, output, ops) = loop {
            sink.kept = Some(Vec::new());
            let lost_before = tracer.lost();
            let (code, output) = match &mut recorder {
                Some(r) => run_one(&mut tracer, &mut Tee(&mut sink, r), s).await?,
                None => run_one(&mut tracer, &mut sink, s).await?,
            };
            sink.finish()?;
            let ops: Vec<Checked> = sink.kept.take().unwrap_or_default();
            let relevant: Vec<&Checked> = ops
                .iter()
                .filter(|c| c.op.path.as_deref().is_some_and(|p| matches(s.path, p)))
                .collect();
            writeln!(
                stdout,
                "== {} ({} operations on {})",
                s.name,
                relevant.len(),
                s.path
            )?;
            for c in &relevant {
                print::print(c, format, &mut stdout)?;
            }
            let row = judge(s, &relevant, code);
            let lost = tracer.lost() - lost_before;
            // A run that lost events verified nothing, either way: the
            // scenario runs again, as its loss says nothing of procfs.
            if row.verdict == "inconclusive" && lost > 0 && attempt < ATTEMPTS {
                attempt += 1;
                writeln!(
                    stdout,
                    "   ↻ {lost} events lost while it ran, so it verified nothing: running it again ({attempt} of {ATTEMPTS})"
                )?;
                all.extend(ops);
                continue;
            }
            break (row, output, ops);
        };
        if row.pass {
            if let Some(extra) = extra_check(s, &output, &tracer) {
                match extra {
                    Ok(note) => writeln!(stdout, "   ✓ {note}")?,
                    Err(e) => {
                        let why = format!("{:#}", anyhow::Error::from(e));
                        writeln!(stdout, "   ✗ {why}")?;
                        row.verdict = format!("divergence: {why}");
                        row.pass = false;
                    }
                }
            }
        }
        writeln!(stdout)?;
        rows.push(row);
        all.extend(ops);
    }
    table(&rows, &tracer, &mut stdout)?;
    if let Some(path) = report {
        write_report(path, &rows, &tracer)?;
    }
    if let (Some(r), Some(path)) = (&mut recorder, record) {
        r.writer.flush_chunk(0, 0, None)?;
        // The live flows beside the recording, so a replay can be compared with them.
        let live = live_flows_path(path);
        let mut f = std::io::BufWriter::new(open_private(&live)?);
        for c in &all {
            print::print(c, Format::Jsonl, &mut f)?;
        }
        f.flush()?;
        eprintln!(
            "procfs-trace: tour recorded to {} ({} events, {} bytes)",
            path.display(),
            r.writer.events,
            r.writer.bytes
        );
    }
    Ok(if rows.iter().all(|r| r.pass) { 0 } else { 1 })
}

async fn run_one(
    tracer: &mut Tracer,
    sink: &mut dyn Sink,
    s: &Scenario,
) -> anyhow::Result<(i32, String)> {
    let argv = ["sh".to_owned(), "-c".to_owned(), s.script.to_owned()];
    let mut child = child::spawn_captured(&argv)?;
    let stopped = tracer.stream(Some(&mut child), None, sink).await?;
    let mut output = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut output)
            .await
            .context("reading the scenario's output")?;
    }
    let code = match stopped {
        Stopped::Exited(c) => c,
        Stopped::Signal(sig) => anyhow::bail!("interrupted by signal {sig}"),
        Stopped::Duration => 0,
    };
    Ok((code, output))
}

/// A scenario matches when its command succeeded, it produced operations on
/// its path, and every one of them matched the model.
fn judge(s: &Scenario, ops: &[&Checked], code: i32) -> Row {
    let kernel_ns = ops.iter().map(|c| c.op.kernel_ns()).sum();
    let worst = ops.iter().map(|c| &c.verdict).max_by_key(|v| match v {
        Verdict::Match { .. } => 0,
        Verdict::Unknown { .. } => 1,
        Verdict::Inconclusive { .. } => 2,
        Verdict::Divergence { .. } => 3,
    });
    let (verdict, pass) = match (code, worst) {
        (c, _) if c != 0 => (format!("command failed ({c})"), false),
        (_, None) => ("no operation seen on this path".to_owned(), false),
        (_, Some(Verdict::Match { .. })) => ("match".to_owned(), true),
        (_, Some(v)) => (v.name().to_owned(), false),
    };
    Row {
        scenario: s.name,
        path: s.path,
        verdict,
        kernel_ns,
        pass,
    }
}

/// The documents' claims beyond the flows, for the scenarios that carry one.
fn extra_check(
    s: &Scenario,
    output: &str,
    tracer: &Tracer,
) -> Option<Result<String, checks::ClaimError>> {
    match s.name {
        "cat /proc/PID/stat /proc/PID/statm" => {
            let mut lines = output.lines();
            let (stat, statm) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
            {
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
                Some(checks::statm_resident_vs_stat_rss(
                    stat,
                    statm,
                    tracer.kernel.version,
                    cpus,
                ))
            }
        }
        // The table is the kernel's, so any live pid directory shows it.
        "ls -l /proc/PID" => Some(checks::pid_directory_matches_table(
            Path::new("/proc/self"),
            Table::Tgid,
            &tracer.kernel,
        )),
        _ => None,
    }
}

fn table(rows: &[Row], tracer: &Tracer, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let w = rows
        .iter()
        .map(|r| r.scenario.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let p = rows.iter().map(|r| r.path.len()).max().unwrap_or(4).max(4);
    writeln!(
        out,
        "{:w$}  {:p$}  {:12}  kernel time",
        "scenario", "path", "verdict"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:w$}  {:p$}  {:12}  {}",
            r.scenario,
            r.path,
            r.verdict,
            format_duration(r.kernel_ns)
        )?;
    }
    let passed = rows.iter().filter(|r| r.pass).count();
    writeln!(
        out,
        "\ntour on {}: {passed} of {} scenarios match the model; {} events, {} lost",
        tracer.kernel.release,
        rows.len(),
        tracer.events,
        tracer.lost()
    )
}
