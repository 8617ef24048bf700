//! The guest half of `cargo xtask bench`: runs tight loops of each procfs
//! operation class untraced, under the count-only and the emit-floor twin
//! programs, under the tracer emitting raw events, and under the tracer
//! checking flows, rounds alternating the modes; then the programs' own run
//! time per operation in each traced mode (the kernel's BPF statistics), a
//! recording per class (events per operation, bytes per event) and a flood.
//! Writes what it measured as JSON. Given another build of procfs-trace as
//! well, it only compares the two builds' programs (see [`paired`]).
//!
//! It runs as `/init`'s command in the VM, as root, with `procfs-trace` on PATH.

use std::{
    collections::{BTreeMap, HashMap},
    fs::File,
    io::{BufRead, BufReader, Read},
    os::unix::{fs::FileExt, process::CommandExt as _},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc, Arc,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// The workload's task name: the tracer follows only it.
const COMM: &str = "bench-guest";
/// Rounds of every mode.
const ROUNDS: usize = 5;
/// Operations timed per class, per mode and round.
const OPS: usize = 2000;
/// Operations run first, untimed, so caches are warm.
const WARMUP: usize = 200;
/// How long the flood lasts.
const FLOOD: Duration = Duration::from_secs(5);

/// The CPU the timed loops run on; the tracer runs on the other, so its
/// user-space work does not land in the loops' time.
const WORKLOAD_CPU: usize = 0;
/// The CPU of the tracer's agent.
const TRACER_CPU: usize = 1;

/// Binds the calling thread to `cpu`, or to every CPU.
fn pin(cpu: Option<usize>) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET and
    // sched_setaffinity only touch it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        match cpu {
            Some(c) => libc::CPU_SET(c, &mut set),
            None => (0..libc::CPU_SETSIZE as usize).for_each(|c| libc::CPU_SET(c, &mut set)),
        }
        if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// An operation class: a name, and one operation.
struct Class {
    name: &'static str,
    /// procfs operations one run makes that the tracer follows.
    followed_ops: u64,
    run: fn(&Workload),
}

/// What the operations reuse.
struct Workload {
    stat: File,
    status_path: String,
}

const CLASSES: &[Class] = &[
    Class {
        name: "pread /proc/self/stat",
        followed_ops: 1,
        run: |w| {
            let mut buf = [0u8; 1024];
            assert!(w.stat.read_at(&mut buf, 0).expect("pread") > 0);
        },
    },
    Class {
        name: "open+read+close /proc/PID/status",
        followed_ops: 2,
        run: |w| {
            let mut buf = [0u8; 4096];
            let mut f = File::open(&w.status_path).expect("open status");
            assert!(f.read(&mut buf).expect("read status") > 0);
        },
    },
    Class {
        name: "getdents64 /proc",
        followed_ops: 3,
        run: |_| {
            // open, getdents64 until it returns 0 (twice, on a small /proc), close.
            for e in std::fs::read_dir("/proc").expect("open /proc") {
                e.expect("getdents64");
            }
        },
    },
    Class {
        name: "readlink /proc/self/exe",
        followed_ops: 1,
        run: |_| {
            std::fs::read_link("/proc/self/exe").expect("readlink");
        },
    },
];

/// How the loops are traced.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Untraced,
    Twin(&'static str),
    /// The twins whose exits stream the least record a call needs.
    EmitFloor(&'static str),
    Emitting(&'static str),
    Checking(&'static str),
    /// `live`, the only mode whose programs also keep the kernel's counts.
    Live(&'static str),
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Untraced => "untraced",
            Mode::Twin(_) => "count-only",
            Mode::EmitFloor(_) => "emit-floor",
            Mode::Emitting(_) => "emitting",
            Mode::Checking(_) => "checking",
            Mode::Live(_) => "live",
        }
    }

    fn method(self) -> &'static str {
        match self {
            Mode::Untraced => "none",
            Mode::Twin(m)
            | Mode::EmitFloor(m)
            | Mode::Emitting(m)
            | Mode::Checking(m)
            | Mode::Live(m) => m,
        }
    }

    fn args(self) -> Vec<String> {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match self {
            Mode::Untraced => vec![],
            Mode::Twin(m) => v(&["twin", "--attach", m]),
            Mode::EmitFloor(m) => v(&["twin", "--attach", m, "--emit"]),
            Mode::Emitting(m) => v(&[
                "trace",
                "--raw",
                "--comm",
                COMM,
                "--attach",
                m,
                "-o",
                "/dev/null",
            ]),
            Mode::Checking(m) => v(&["trace", "--comm", COMM, "--attach", m, "-o", "/dev/null"]),
            // Tables only at the end: nobody reads them.
            Mode::Live(m) => v(&[
                "live",
                "--plain",
                "--interval",
                "100000",
                "--comm",
                COMM,
                "--attach",
                m,
            ]),
        }
    }
}

/// A running procfs-trace, attached.
struct Tracer {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

impl Tracer {
    /// Starts `procfs-trace args` and waits for its "probes attached" line.
    fn start(args: &[String]) -> Result<Tracer> {
        Tracer::start_as("procfs-trace", args)
    }

    /// [`Tracer::start`] with another build of procfs-trace.
    fn start_as(bin: &str, args: &[String]) -> Result<Tracer> {
        let mut cmd = Command::new(bin);
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        // SAFETY: sched_setaffinity is async-signal-safe.
        unsafe { cmd.pre_exec(|| pin(Some(TRACER_CPU))) };
        let mut child = cmd.spawn().with_context(|| format!("starting {bin}"))?;
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped");
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut said = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(120)) {
                Ok(line) if line.contains("probes attached") => break,
                Ok(line) => said.push(line),
                Err(_) => {
                    let _ = child.kill();
                    bail!("{bin} {args:?} did not attach: {}", said.join("\n"));
                }
            }
        }
        Ok(Tracer { child, stderr: rx })
    }

    /// Stops it with SIGINT; returns its standard output and error.
    fn stop(mut self) -> Result<(String, String)> {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let mut out = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            o.read_to_string(&mut out)?;
        }
        let status = self.child.wait()?;
        let err: Vec<String> = self.stderr.iter().collect();
        if !status.success() {
            bail!("procfs-trace exited with {status}: {}", err.join("\n"));
        }
        Ok((out, err.join("\n")))
    }
}

/// The number before `what` in the last line of `stderr` that has `line_has`.
fn number_before(stderr: &str, line_has: &str, what: &str) -> Option<u64> {
    let line = stderr.lines().rev().find(|l| l.contains(line_has))?;
    let at = line.find(what)?;
    line[..at].rsplit([' ', '(', ',']).next()?.parse().ok()
}

/// Nanoseconds per operation of `class`, over `n` timed runs after the warm-up.
fn time(class: &Class, w: &Workload, n: usize) -> f64 {
    for _ in 0..WARMUP {
        (class.run)(w);
    }
    let t = Instant::now();
    for _ in 0..n {
        (class.run)(w);
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Whether the tracer attaches with fentry here (its fexit programs need
/// `bpf_get_func_ret`, which the twins do not: 5.10 takes only theirs).
fn fentry_works() -> bool {
    Tracer::start(&Mode::Emitting("fentry").args())
        .and_then(Tracer::stop)
        .is_ok()
}

fn main() -> Result<()> {
    let out = std::env::args()
        .nth(1)
        .context("usage: bench-guest OUT.json [BASELINE]")?;
    let baseline = std::env::args().nth(2);
    pin(Some(WORKLOAD_CPU)).context("binding the workload to CPU 0 (the VM has 2 CPUs)")?;
    let w = Workload {
        stat: File::open("/proc/self/stat")?,
        status_path: format!("/proc/{}/status", std::process::id()),
    };
    let mut methods = vec!["kprobe"];
    if fentry_works() {
        methods.push("fentry");
    }
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")?;
    if let Some(baseline) = baseline {
        let report = json!({
            "kernel": kernel.trim(),
            "paired": paired(&w, &methods, &baseline)?,
        });
        std::fs::write(&out, serde_json::to_vec_pretty(&report)?)?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let mut modes = vec![Mode::Untraced];
    for m in &methods {
        modes.extend([
            Mode::Twin(m),
            Mode::EmitFloor(m),
            Mode::Emitting(m),
            Mode::Checking(m),
        ]);
    }
    // samples[mode][class]: ns per operation, one per round.
    let mut samples = vec![vec![Vec::new(); CLASSES.len()]; modes.len()];
    for round in 0..ROUNDS {
        for i in 0..modes.len() {
            // Each round starts one mode further on, so no mode is always first.
            let m = (i + round) % modes.len();
            let tracer = match modes[m] {
                Mode::Untraced => None,
                mode => Some(Tracer::start(&mode.args())?),
            };
            for (c, class) in CLASSES.iter().enumerate() {
                samples[m][c].push(time(class, &w, OPS));
            }
            if let Some(t) = tracer {
                t.stop()?;
            }
            eprintln!(
                "bench: round {} {} {} done",
                round + 1,
                modes[m].name(),
                modes[m].method()
            );
        }
    }
    let mut costs = Vec::new();
    for (c, class) in CLASSES.iter().enumerate() {
        let base = median(&mut samples[0][c].clone());
        for method in &methods {
            // This method's rounds of mode `name`, ns per operation.
            let rounds = |name: &str| -> &Vec<f64> {
                let m = modes
                    .iter()
                    .position(|m| m.name() == name && m.method() == *method)
                    .expect("mode");
                &samples[m][c]
            };
            // The median of each round's difference to that round's untraced
            // time: the emulated machine's speed drifts between rounds.
            let added = |name: &str| {
                let mut d: Vec<f64> = rounds(name)
                    .iter()
                    .zip(&samples[0][c])
                    .map(|(traced, untraced)| traced - untraced)
                    .collect();
                median(&mut d)
            };
            let (twin, floor, emitting, checking) = (
                added("count-only"),
                added("emit-floor"),
                added("emitting"),
                added("checking"),
            );
            costs.push(json!({
                "samples_ns": {
                    "untraced": samples[0][c],
                    "count-only": rounds("count-only"),
                    "emit-floor": rounds("emit-floor"),
                    "emitting": rounds("emitting"),
                    "checking": rounds("checking"),
                },
                "class": class.name,
                "method": method,
                "untraced_ns": base,
                "count_only_added_ns": twin,
                "emit_floor_added_ns": floor,
                "emitting_added_ns": emitting,
                "checking_added_ns": checking,
                "emitting_over_count_only": emitting / twin,
                "emitting_over_emit_floor": emitting / floor,
            }));
        }
    }
    let programs = program_time(&w, &modes)?;
    let events = per_class_events(&w)?;
    let flood = flood()?;
    let report = json!({
        "kernel": kernel.trim(),
        "rounds": ROUNDS,
        "ops_per_round": OPS,
        "costs": costs,
        "programs": programs,
        "events": events,
        "flood": flood,
    });
    std::fs::write(&out, serde_json::to_vec_pretty(&report)?)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Each loaded BPF program's name, run time (ns) and runs so far, by id.
type ProgramRuns = HashMap<u32, (String, u64, u64)>;

/// The [`ProgramRuns`] now.
fn program_runs() -> Result<ProgramRuns> {
    let mut runs = HashMap::new();
    for info in aya::programs::loaded_programs() {
        let info = info.context("listing the loaded BPF programs")?;
        let name = info.name_as_str().unwrap_or("?").to_owned();
        runs.insert(
            info.id(),
            (name, info.run_time().as_nanos() as u64, info.run_count()),
        );
    }
    Ok(runs)
}

/// Run time and runs per program name between two [`program_runs`]. Names
/// are the kernel's, cut at 15 bytes, so a probe's entry and exit programs
/// (`proc_single_show`, `proc_single_show_ret`) may count as one.
fn program_delta(before: &ProgramRuns, after: &ProgramRuns) -> BTreeMap<String, (u64, u64)> {
    program_delta_of(before, after, |_| true)
}

/// [`program_delta`] of the programs whose ids `mine` accepts.
fn program_delta_of(
    before: &ProgramRuns,
    after: &ProgramRuns,
    mine: impl Fn(u32) -> bool,
) -> BTreeMap<String, (u64, u64)> {
    let mut by_name = BTreeMap::<String, (u64, u64)>::new();
    for (id, (name, ns, n)) in after.iter().filter(|(id, _)| mine(**id)) {
        let (ns0, n0) = before.get(id).map_or((0, 0), |b| (b.1, b.2));
        let e = by_name.entry(name.clone()).or_default();
        e.0 += ns - ns0;
        e.1 += n - n0;
    }
    by_name.retain(|_, (_, n)| *n > 0);
    by_name
}

/// The [`ProgramRuns`] before and after [`OPS`] operations of `class`,
/// which [`WARMUP`] more precede.
fn runs_around(class: &Class, w: &Workload) -> Result<(ProgramRuns, ProgramRuns)> {
    for _ in 0..WARMUP {
        (class.run)(w);
    }
    let before = program_runs()?;
    for _ in 0..OPS {
        (class.run)(w);
    }
    Ok((before, program_runs()?))
}

/// The time the programs of each traced mode run per operation of each
/// class, from the kernel's BPF statistics, which time every program run
/// (`BPF_ENABLE_STATS`). Measured apart from the timed rounds, whose
/// figures the statistics' own clock reads would inflate. This is the cost
/// of the programs alone: the attachment's (the trap or trampoline) is the
/// same in the twin and the tracer, and only the timed rounds show it.
fn program_time(w: &Workload, modes: &[Mode]) -> Result<Vec<Value>> {
    // Once for every mode: turning the statistics on patches the kernel's
    // text (a static key), which is slow under emulation.
    let _stats = aya::sys::enable_stats(aya::sys::Stats::RunTime)
        .context("enabling BPF run-time statistics (BPF_ENABLE_STATS, Linux 5.8+)")?;
    let mut rows = Vec::new();
    for &mode in modes.iter().filter(|m| **m != Mode::Untraced) {
        let tracer = Tracer::start(&mode.args())?;
        for class in CLASSES {
            let (before, after) = runs_around(class, w)?;
            let programs = program_delta(&before, &after);
            let per_op = |v: u64| v as f64 / OPS as f64;
            let mut by_cost: Vec<_> = programs.iter().collect();
            by_cost.sort_by_key(|p| std::cmp::Reverse(p.1 .0));
            rows.push(json!({
                "class": class.name,
                "mode": mode.name(),
                "method": mode.method(),
                "ns_per_op": per_op(programs.values().map(|p| p.0).sum()),
                "runs_per_op": per_op(programs.values().map(|p| p.1).sum()),
                "programs": by_cost.iter().map(|(name, (ns, n))| json!({
                    "name": name,
                    "ns_per_op": per_op(*ns),
                    "runs_per_op": per_op(*n),
                    "ns_per_run": *ns as f64 / (*n).max(1) as f64,
                })).collect::<Vec<_>>(),
            }));
        }
        tracer.stop()?;
        eprintln!("bench: program time {} {} done", mode.name(), mode.method());
    }
    Ok(rows)
}

/// Passes of the paired comparison; the baseline is attached first in half.
const PAIRED_PASSES: usize = 4;

/// This build's programs against `baseline`'s, with both attached to the
/// same loops at once, in each mode whose programs differ (`trace --raw`,
/// and `live`, which also keeps the kernel's counts). Each program's run
/// time is the kernel's statistics, split by the build that loaded it. Run
/// one after the other, builds drift apart by more than most changes under
/// emulation; run together, they see the same operations at the same speed.
/// The program attached second runs cheaper (about 20 % under emulation),
/// so each build goes first in half the passes, and a ratio is the geometric
/// mean of the passes'.
fn paired(w: &Workload, methods: &[&'static str], baseline: &str) -> Result<Vec<Value>> {
    let _stats = aya::sys::enable_stats(aya::sys::Stats::RunTime)
        .context("enabling BPF run-time statistics (BPF_ENABLE_STATS, Linux 5.8+)")?;
    // Per mode, method and class: this build's time over the baseline's, per pass.
    let mut ratios = BTreeMap::<(&str, &str, &str), Vec<f64>>::new();
    for pass in 0..PAIRED_PASSES {
        for &method in methods {
            for mode in [Mode::Emitting(method), Mode::Live(method)] {
                let mut builds = [("procfs-trace", Vec::new()), (baseline, Vec::new())];
                if pass % 2 == 1 {
                    builds.reverse();
                }
                let mut tracers = Vec::new();
                for (bin, ids) in &mut builds {
                    let before = program_runs()?;
                    tracers.push(Tracer::start_as(bin, &mode.args())?);
                    ids.extend(
                        program_runs()?
                            .into_keys()
                            .filter(|id| !before.contains_key(id)),
                    );
                }
                for class in CLASSES {
                    let (before, after) = runs_around(class, w)?;
                    let ns = |bin: &str| -> u64 {
                        let ids = &builds.iter().find(|b| b.0 == bin).expect("a build").1;
                        program_delta_of(&before, &after, |id| ids.contains(&id))
                            .values()
                            .map(|p| p.0)
                            .sum()
                    };
                    let ratio = ns("procfs-trace") as f64 / ns(baseline).max(1) as f64;
                    ratios
                        .entry((mode.name(), method, class.name))
                        .or_default()
                        .push(ratio);
                }
                for t in tracers {
                    t.stop()?;
                }
                eprintln!(
                    "bench: paired pass {} {} {method} done",
                    pass + 1,
                    mode.name()
                );
            }
        }
    }
    Ok(ratios
        .into_iter()
        .map(|((mode, method, class), passes)| {
            json!({
                "mode": mode,
                "method": method,
                "class": class,
                "over_baseline": geometric_mean(&passes),
                "passes": passes,
            })
        })
        .collect())
}

/// The geometric mean of positive ratios.
fn geometric_mean(v: &[f64]) -> f64 {
    (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp()
}

/// One recording per class: events per operation, and bytes per event and
/// per operation on disk.
fn per_class_events(w: &Workload) -> Result<Vec<Value>> {
    let mut rows = Vec::new();
    for class in CLASSES {
        let file = "/tmp/bench-class.pfsrec";
        let _ = std::fs::remove_file(file);
        let t = Tracer::start(&["record", "--comm", COMM, "-o", file].map(String::from))?;
        for _ in 0..OPS {
            (class.run)(w);
        }
        let (_, err) = t.stop()?;
        let events = number_before(&err, "recorded", " events (").context("no event count")?;
        let lost = number_before(&err, "recorded", " lost in").unwrap_or(0);
        let bytes = std::fs::metadata(file)?.len();
        rows.push(json!({
            "class": class.name,
            "events_per_op": events as f64 / OPS as f64,
            "events_per_followed_op": events as f64 / (OPS as u64 * class.followed_ops) as f64,
            "bytes_per_event": bytes as f64 / events.max(1) as f64,
            "bytes_per_op": bytes as f64 / OPS as f64,
            "lost": lost,
        }));
    }
    Ok(rows)
}

/// Both CPUs (shared with the tracer) open, read and close /proc/self/stat for [`FLOOD`] under the
/// checking tracer with its default buffer.
fn flood() -> Result<Value> {
    let t = Tracer::start(&Mode::Checking("auto").args())?;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (stop, done) = (stop.clone(), done.clone());
            thread::spawn(move || {
                pin(None).expect("unbinding a flood thread");
                let mut buf = [0u8; 1024];
                while !stop.load(Ordering::Relaxed) {
                    let mut f = File::open("/proc/self/stat").expect("open");
                    assert!(f.read(&mut buf).expect("read") > 0);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    thread::sleep(FLOOD);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let (_, err) = t.stop()?;
    let summary = " events in ";
    let events = number_before(&err, summary, summary).context("no event count")?;
    let lost = number_before(&err, summary, " lost").unwrap_or(0);
    let verdict = |v: &str| number_before(&err, summary, &format!(" {v}")).unwrap_or(0);
    let ops = done.load(Ordering::Relaxed) * 2;
    let judged = verdict("match") + verdict("divergence");
    Ok(json!({
        "seconds": FLOOD.as_secs_f64(),
        "operations": ops,
        "events_per_sec": events as f64 / FLOOD.as_secs_f64(),
        "lost_pct": 100.0 * lost as f64 / (events + lost).max(1) as f64,
        "with_verdict_pct": 100.0 * judged as f64 / ops.max(1) as f64,
        "summary": err.lines().rev().find(|l| l.contains(summary)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_builds_program_time_counts_only_its_own_programs() {
        let runs = |v: &[(u32, &str, u64, u64)]| -> ProgramRuns {
            v.iter()
                .map(|&(id, name, ns, n)| (id, (name.to_owned(), ns, n)))
                .collect()
        };
        let before = runs(&[(1, "sys_enter", 100, 1), (2, "sys_enter", 500, 1)]);
        let after = runs(&[
            (1, "sys_enter", 400, 4),
            (2, "sys_enter", 1500, 4),
            (3, "seq_read", 70, 2),
        ]);
        let mine = program_delta_of(&before, &after, |id| id != 2);
        assert_eq!(mine["sys_enter"], (300, 3));
        assert_eq!(mine["seq_read"], (70, 2));
        let all = program_delta(&before, &after);
        assert_eq!(all["sys_enter"], (1300, 6));
    }

    #[test]
    fn order_bias_cancels_in_the_geometric_mean() {
        // Second-attached 20 % cheaper: 0.8 when this build goes second,
        // 1.25 when first, for builds that cost the same.
        assert!((geometric_mean(&[0.8, 1.25, 0.8, 1.25]) - 1.0).abs() < 1e-12);
        assert!((geometric_mean(&[0.5, 0.5]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn summary_figures_are_read_from_the_tracers_last_lines() {
        let trace = "procfs-trace: tracing; Ctrl-C to stop\n\
            procfs-trace: 5120 events in 5.0 s, 17 lost (17 ring buffer full); operations: 900 match, 12 inconclusive\n\
            procfs-trace: coverage: 900 verified, 0 unknown";
        let at = " events in ";
        assert_eq!(number_before(trace, at, at), Some(5120));
        assert_eq!(number_before(trace, at, " lost"), Some(17));
        assert_eq!(number_before(trace, at, " match"), Some(900));
        assert_eq!(number_before(trace, at, " divergence"), None);
        let record =
            "procfs-trace: recorded 4100 events (3 lost in the kernel) to /tmp/x, 31000 bytes";
        assert_eq!(number_before(record, "recorded", " events ("), Some(4100));
        assert_eq!(number_before(record, "recorded", " lost in"), Some(3));
    }
}
