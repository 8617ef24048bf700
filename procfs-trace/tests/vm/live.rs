//! `procfs-trace live --plain` under a /proc scanner.

use crate::support;

/// The last block `live --plain` printed (the final summary).
fn last_block(plain: &str) -> &str {
    plain
        .rsplit("== procfs-trace live: ")
        .next()
        .expect("a table block")
}

/// The data rows of the table headed `title` in the final summary, split
/// into columns.
fn rows<'a>(plain: &'a str, title: &str) -> Vec<Vec<&'a str>> {
    last_block(plain)
        .lines()
        .skip_while(|l| !l.starts_with(title))
        // The title, then the column names.
        .skip(2)
        // Rows start with a pid, a path or a function; titles in capitals.
        .take_while(|l| !l.is_empty() && !l.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(|l| l.split_whitespace().collect())
        .collect()
}

/// The first data row of the table headed `title` in the final summary.
fn top_row<'a>(plain: &'a str, title: &str) -> Vec<&'a str> {
    rows(plain, title)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no row under {title:?} in:\n{}", last_block(plain)))
}

/// The row of the table headed `title` whose first column is `first`.
fn row<'a>(plain: &'a str, title: &str, first: &str) -> Vec<&'a str> {
    rows(plain, title)
        .into_iter()
        .find(|cols| cols.first() == Some(&first))
        .unwrap_or_else(|| panic!("no {first} row under {title:?} in:\n{}", last_block(plain)))
}

/// The duration a row ends with (`4.8 µs`, `6.89 ms`), in nanoseconds;
/// `skip` columns from the end come after it.
fn duration_at_end(cols: &[&str], skip: usize) -> f64 {
    let at = cols.len() - skip;
    let scale = match cols[at - 1] {
        "ns" => 1.0,
        "µs" => 1e3,
        "ms" => 1e6,
        unit => panic!("no duration unit in {cols:?}: {unit}"),
    };
    let value: f64 = cols[at - 2]
        .parse()
        .unwrap_or_else(|_| panic!("no duration in {cols:?}"));
    value * scale
}

/// The events lost, from a status line.
fn lost(status: &str) -> u64 {
    status
        .split(" | lost ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no loss count in {status:?}"))
}

/// Starts `procfs-trace live --plain ARGS` and waits until its probes are
/// attached; returns it, its standard error and what that said so far.
fn start_live(
    args: &[&str],
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStderr>,
    String,
) {
    use std::process::{Command, Stdio};
    let mut live = Command::new(support::bin())
        .args(["live", "--plain"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(live.stderr.take().unwrap());
    let early = support::wait_attached(&mut stderr);
    (live, stderr, early)
}

/// Opens and reads /proc/self/limits `n` times in each of `threads` threads
/// named `comm`, and waits for them.
fn read_limits_in_threads(comm: &str, threads: usize, n: usize) {
    use std::io::Read as _;
    let loops: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::Builder::new()
                .name(comm.to_owned())
                .spawn(move || {
                    let mut buf = [0u8; 4096];
                    for _ in 0..n {
                        let mut f = std::fs::File::open("/proc/self/limits").unwrap();
                        assert!(f.read(&mut buf).unwrap() > 0);
                    }
                })
                .unwrap()
        })
        .collect();
    for l in loops {
        l.join().unwrap();
    }
}

/// Interrupts `live` once and waits for it to exit with 0; returns its
/// standard output and all its standard error.
fn interrupt(
    live: std::process::Child,
    mut stderr: std::io::BufReader<std::process::ChildStderr>,
    mut early: String,
) -> (String, String) {
    use std::io::Read as _;
    // SAFETY: kill(2) on our own child, which is still running.
    unsafe { libc::kill(live.id() as i32, libc::SIGINT) };
    let out = live.wait_with_output().unwrap();
    stderr.read_to_string(&mut early).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "stderr: {early}");
    println!("{stdout}");
    (stdout, early)
}

/// `live --plain --duration 10` while one shell scans every `/proc/PID/stat`
/// in a loop (`read` is a shell builtin, so the scanner is one process):
/// tables come every second, the scanner tops the processes and
/// `/proc/[pid]/stat` the paths, nothing diverges although events are lost,
/// and the view ends by itself with a summary.
///
/// The scanner starts once the probes are attached and stops once the view
/// has shown three periodic tables, long before the view ends and detaches:
/// attaching or detaching while a CPU hammers a probed function has oopsed
/// guests under emulation (see the README).
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn live_plain_shows_a_scanner_on_top() {
    use std::io::{BufRead as _, Read as _};
    let (mut live, mut stderr, mut early) = start_live(&["--duration", "10"]);
    let mut scanner = std::process::Command::new("sh")
        .args([
            "-c",
            "while :; do for f in /proc/[0-9]*/stat; do read l < $f; done; done",
        ])
        .spawn()
        .unwrap();
    let pid = scanner.id().to_string();
    let mut view = std::io::BufReader::new(live.stdout.take().unwrap());
    let mut stdout = String::new();
    while stdout.matches("== procfs-trace live: up ").count() < 3 {
        if view.read_line(&mut stdout).unwrap() == 0 {
            let _ = scanner.kill();
            panic!("the view ended before its third table:\n{stdout}");
        }
    }
    let _ = scanner.kill();
    let _ = scanner.wait();
    view.read_to_string(&mut stdout).unwrap();
    let status = live.wait().unwrap();
    stderr.read_to_string(&mut early).unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {early}");
    println!("{stdout}");
    assert!(stdout.contains("== procfs-trace live: summary after "));
    let proc = top_row(&stdout, "PROCESSES");
    assert_eq!(
        proc[0], pid,
        "the scanner is not the top process:\n{stdout}"
    );
    assert_eq!(proc[1], "sh");
    let ops: u64 = proc[3].parse().unwrap();
    assert!(ops > 100, "the scanner made only {ops} operations");
    // The scan floods the ring buffer, but losses mark only the syscalls
    // they hit: none may pass for a divergence.
    // (READ and KERNEL have units, so DIVERG is the last column, not the 7th.)
    assert_eq!(proc.last(), Some(&"0"), "divergences under loss:\n{stdout}");
    assert_eq!(top_row(&stdout, "PATHS")[0], "/proc/[pid]/stat", "{stdout}");
    // The status line always says how many events were lost.
    assert!(stdout.contains(" | lost "), "{stdout}");
}

/// With a ring buffer far too small for a tight loop, and no backlog beyond
/// it, events are lost, yet
/// the process and function tables equal what the loop did: they come from
/// the kernel's own counts. N opens and reads of /proc/self/limits are N
/// calls of proc_pid_limits and 2N operations (openat, read), exactly.
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn live_tables_stay_exact_when_events_are_lost() {
    const N: usize = 3000;
    const COMM: &str = "pt-exact-loop";
    let (live, stderr, early) =
        start_live(&["--buffer-kib", "4", "--backlog-mib", "0", "--comm", COMM]);
    read_limits_in_threads(COMM, 1, N);
    let (stdout, _) = interrupt(live, stderr, early);
    let status = last_block(&stdout).lines().nth(1).unwrap();
    let lost = lost(status);
    println!("EXACT: {N} loops, {lost} events lost");
    assert!(lost > 0, "a 4 KiB buffer kept up: nothing shown\n{stdout}");
    // Probe runs the kernel skipped (7.2 under emulation) are missing from
    // its counts too: the status must say so, and no count can be exact.
    if status.contains("probe runs missed") {
        assert!(
            status.contains("processes, functions near-exact ("),
            "{status}"
        );
        println!("EXACT: the kernel skipped probe runs; counts not compared: {status}");
        return;
    }
    assert!(
        status.contains("processes, functions exact; paths, flows sampled"),
        "{status}"
    );
    let limits = row(&stdout, "KERNEL FUNCTIONS", "proc_pid_limits");
    assert_eq!(limits[1], "show", "{limits:?}");
    assert_eq!(limits[2], N.to_string(), "{limits:?}");
    let single = row(&stdout, "KERNEL FUNCTIONS", "proc_single_show");
    assert_eq!(single[2], N.to_string(), "{single:?}");
    let pid = std::process::id().to_string();
    let proc = row(&stdout, "PROCESSES", &pid);
    assert_eq!(proc[1], COMM, "{proc:?}");
    assert_eq!(proc[3], (2 * N).to_string(), "{proc:?}");
    // The process's time in outermost calls holds every show callback's:
    // each runs inside a read's outermost seq_read.
    let (kernel, shows) = (duration_at_end(&proc, 1), duration_at_end(&single, 0));
    println!("EXACT: process kernel time {kernel} ns, proc_single_show {shows} ns");
    assert!(kernel > shows, "{proc:?} {single:?}");
}

/// Two threads open and read /proc/self/limits faster than the agent checks
/// under emulation, so events wait in the backlog when the view is
/// interrupted: one interrupt ends the view, and every waiting event is still
/// taken, none dropped as unread (the summary on standard error names each
/// cause of loss). Where nothing else was lost either, the paths table, built
/// from the events, and the process table count each operation of the loops.
/// (On 7.2 the kernel skips program runs under its lazy preemption, and two
/// looping threads can fill the ring while the reader waits for a CPU.)
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn live_takes_every_waiting_event_after_one_interrupt() {
    const N: usize = 3000;
    const THREADS: usize = 2;
    const COMM: &str = "pt-backlog-loop";
    let (live, stderr, early) = start_live(&["--comm", COMM]);
    read_limits_in_threads(COMM, THREADS, N);
    let (stdout, early) = interrupt(live, stderr, early);
    let summary = early
        .lines()
        .find(|l| l.starts_with("procfs-trace: ") && l.contains(" events, "))
        .unwrap_or_else(|| panic!("no loss summary on stderr: {early}"));
    println!("BACKLOG summary: {summary}");
    assert!(!summary.contains("unread"), "{summary}");
    let status = last_block(&stdout).lines().nth(1).unwrap();
    if lost(status) == 0 {
        let ops = (2 * N * THREADS).to_string();
        let path = row(&stdout, "PATHS", "/proc/self/limits");
        assert_eq!(path[2], ops, "{path:?}");
        let proc = row(&stdout, "PROCESSES", &std::process::id().to_string());
        assert_eq!(proc[3], ops, "{proc:?}");
    }
}
