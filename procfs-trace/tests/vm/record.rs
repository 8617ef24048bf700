//! `procfs-trace record`, `replay` and `info`: recordings that survive a kill
//! and replay to the flows seen live.

use crate::support;

/// A recorder killed with SIGKILL leaves a file that replays up to its last
/// flushed chunk (a chunk a second, sooner when the kernel lost events).
///
/// The kill waits on signals, never on a fixed sleep: the recorder's own
/// "probes attached" line, then the file growing past a few chunks.
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn a_killed_recorder_leaves_a_readable_file() {
    use std::{os::unix::process::CommandExt as _, time};
    let file = std::env::temp_dir().join("killed.pfsrec");
    let _ = std::fs::remove_file(&file);
    let mut recorder = std::process::Command::new(support::bin())
        .args(["record", "-o", file.to_str().unwrap(), "--", "sh", "-c"])
        .arg("while :; do cat /proc/self/stat >/dev/null; done")
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    // Kept open to the end, so the recorder never writes into a closed pipe.
    let mut stderr = std::io::BufReader::new(recorder.stderr.take().unwrap());
    support::wait_attached(&mut stderr);
    // A few flushed chunks of the loop's events, or give up after two minutes.
    let deadline = time::Instant::now() + time::Duration::from_secs(120);
    while std::fs::metadata(&file).map_or(0, |m| m.len()) < 16 * 1024 {
        assert!(
            time::Instant::now() < deadline,
            "the recording did not grow past 16 KiB in two minutes"
        );
        std::thread::sleep(time::Duration::from_millis(100));
    }
    // SAFETY: kill(2) on the process group we just created (recorder and its loop).
    unsafe { libc::kill(-(recorder.id() as i32), libc::SIGKILL) };
    let _ = recorder.wait();
    let info = support::run(&["info", file.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert_eq!(
        info.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let events: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("events:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    println!("KILLED: {text}");
    assert!(
        events > 100,
        "only {events} events survived the kill: {text}"
    );
    let replay = support::run(&["replay", "--format", "jsonl", file.to_str().unwrap()]);
    assert_eq!(replay.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&replay.stdout)
        .lines()
        .any(|l| l.contains(r#""verdict":"match""#)));
}

/// `check --record` and a replay of that recording give the same flows.
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn a_recording_replays_to_the_live_flows() {
    let dir = std::env::temp_dir();
    let (rec, live) = (dir.join("live.pfsrec"), dir.join("live.jsonl"));
    let out = support::run(&[
        "check",
        "--format",
        "jsonl",
        "-o",
        live.to_str().unwrap(),
        "--record",
        rec.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "cat /proc/$$/status /proc/meminfo >/dev/null; ls /proc >/dev/null; exit 0",
    ]);
    // A loss the kernel caused makes both inconclusive alike.
    support::assert_check_passed(&out);
    let replay = support::run(&[
        "replay",
        "--check",
        "--format",
        "jsonl",
        rec.to_str().unwrap(),
    ]);
    assert_eq!(
        replay.status.code(),
        out.status.code(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let live = support::flows(&std::fs::read_to_string(&live).unwrap());
    let replayed = support::flows(&String::from_utf8_lossy(&replay.stdout));
    assert!(live.len() > 10, "{} flows", live.len());
    assert_eq!(live, replayed);
}
