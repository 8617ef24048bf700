//! `replay --format perfetto` writes native Perfetto traces: decoded with
//! Perfetto's own schema (the `perfetto` Python package's
//! `perfetto_trace_pb2`, which `cargo xtask test` installs), every field is
//! known, slices nest and balance per thread, reads have flow arrows to the
//! show callbacks they reached, and divergences are instant events.

mod support;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

/// A Python that has Perfetto's schema: `$PROCFS_TRACE_PERFETTO_PYTHON`
/// (set by `cargo xtask test`), else the environment xtask makes.
fn python() -> Option<PathBuf> {
    let found = std::env::var_os("PROCFS_TRACE_PERFETTO_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/pyenv/bin/python3"))
        })
        .filter(|p| p.is_file());
    if found.is_none() && std::env::var_os("CI").is_some() {
        panic!("no Python with Perfetto's schema, and CI must run this test: `cargo xtask test` makes target/pyenv");
    }
    found
}

/// What Perfetto's schema reads in `trace` (see perfetto_summary.py).
fn decode(python: &Path, trace: &Path) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/perfetto_summary.py");
    let out = Command::new(python)
        .arg(script)
        .arg(trace)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "decoding {} failed: {}",
        trace.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The fixture's flows, as `replay --format jsonl` prints them.
fn flows(file: &Path) -> Vec<Value> {
    let out = support::run(&["replay", "--format", "jsonl", file.to_str().unwrap()]);
    support::flows(&String::from_utf8_lossy(&out.stdout))
}

fn count_calls(calls: &Value) -> usize {
    calls.as_array().map_or(0, |cs| {
        cs.iter().map(|c| 1 + count_calls(&c["children"])).sum()
    })
}

#[test]
fn every_fixture_decodes_with_perfettos_schema() {
    let Some(python) = python() else {
        println!("skipped: no Python with Perfetto's schema here (cargo xtask test makes one)");
        return;
    };
    for kernel in ["5.10", "6.1", "6.12", "7.2"] {
        let file = PathBuf::from(support::fixture(&format!("tour-{kernel}.pfsrec")));
        let trace = std::env::temp_dir().join(format!(
            "procfs-trace-{}-{kernel}.perfetto-trace",
            std::process::id()
        ));
        let out = support::run(&["replay", "--format", "perfetto", file.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&trace, &out.stdout).unwrap();
        let json = support::run(&["replay", "--format", "chrome-json", file.to_str().unwrap()]);
        println!(
            "{kernel}: native {} bytes, Chrome JSON {} bytes: {:.2} of the size",
            out.stdout.len(),
            json.stdout.len(),
            out.stdout.len() as f64 / json.stdout.len() as f64
        );
        assert!(
            out.stdout.len() * 2 < json.stdout.len(),
            "the native trace is not half the JSON's size"
        );

        let t = decode(&python, &trace);
        let _ = std::fs::remove_file(&trace);
        assert_eq!(t["unknown_fields"], Value::Array(vec![]), "{kernel}");
        assert_eq!(t["unbalanced_tracks"], Value::Array(vec![]), "{kernel}");
        assert_eq!(t["thread_parents_known"], true);

        let flows = flows(&file);
        let tids: BTreeSet<i64> = flows.iter().map(|f| f["tid"].as_i64().unwrap()).collect();
        let tracks: BTreeSet<i64> = t["threads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|th| th["tid"].as_i64().unwrap())
            .collect();
        assert_eq!(tracks, tids, "a track per thread");
        let slices = t["slices"].as_array().unwrap();
        let tops: Vec<&Value> = slices.iter().filter(|s| s["depth"] == 0).collect();
        assert_eq!(tops.len(), flows.len(), "a top-level slice per operation");
        let calls: usize = flows.iter().map(|f| count_calls(&f["calls"])).sum();
        assert_eq!(slices.len(), flows.len() + calls, "a slice per kernel call");
        assert!(slices.iter().all(|s| s["clock"] == 3), "CLOCK_MONOTONIC");
        let kinds = |vs: Vec<(&Value, &Value)>| {
            let mut v: Vec<String> = vs.iter().map(|(a, b)| format!("{a} {b}")).collect();
            v.sort();
            v
        };
        assert_eq!(
            kinds(
                tops.iter()
                    .map(|s| (&s["args"]["verdict"], &s["args"]["kind"]))
                    .collect()
            ),
            kinds(flows.iter().map(|f| (&f["verdict"], &f["kind"])).collect()),
            "each operation's verdict and kind on its slice"
        );

        // Every arrow leaves a read and ends, on the same thread, at a show
        // callback: /proc/PID/limits reads at proc_pid_limits.
        let arrows = t["flows"].as_array().unwrap();
        assert!(!arrows.is_empty(), "{kernel}: no flow arrows");
        for a in arrows {
            assert_eq!(a["from"].as_array().unwrap().len(), 1, "{a}");
            assert_eq!(a["to"].as_array().unwrap().len(), 1, "{a}");
            assert_eq!(a["from_track"], a["to_track"]);
            assert_eq!(a["from_args"][0]["kind"], "read", "{a}");
        }
        let limits = arrows
            .iter()
            .find(|a| {
                a["from_args"][0]["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("/limits"))
            })
            .expect("an arrow from a /limits read");
        assert_eq!(limits["to"][0], "proc_pid_limits", "{limits}");
        assert_eq!(
            t["instants"],
            Value::Array(vec![]),
            "the fixtures all match"
        );
    }
}

/// A divergence shows as an instant event on the operation's thread, with
/// where the flow parted, what was expected and what was seen.
#[test]
fn a_divergence_is_an_instant_event_with_its_reason() {
    use procfs_trace::{check::Verdict, render::perfetto};
    let Some(python) = python() else {
        println!("skipped: no Python with Perfetto's schema here (cargo xtask test makes one)");
        return;
    };
    let mut ops = support::checked_ops(Path::new(&support::fixture("tour-6.12.pfsrec")));
    ops[3].verdict = Verdict::Divergence {
        at: "call 1 proc_root_lookup".into(),
        expected: "proc_root_lookup = 0".into(),
        seen: "proc_root_lookup = -2".into(),
    };
    let trace = std::env::temp_dir().join(format!(
        "procfs-trace-{}-divergence.perfetto-trace",
        std::process::id()
    ));
    let mut bytes = Vec::new();
    perfetto::write(&ops, &mut bytes).unwrap();
    std::fs::write(&trace, bytes).unwrap();
    let t = decode(&python, &trace);
    let _ = std::fs::remove_file(&trace);
    let instants = t["instants"].as_array().unwrap();
    assert_eq!(instants.len(), 1, "{instants:?}");
    let i = &instants[0];
    assert_eq!(i["name"], "divergence");
    assert_eq!(i["args"]["at"], "call 1 proc_root_lookup");
    assert_eq!(i["args"]["expected"], "proc_root_lookup = 0");
    assert_eq!(i["args"]["seen"], "proc_root_lookup = -2");
    let tid = t["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|th| th["tid"] == ops[3].op.tid)
        .expect("the operation's thread track");
    assert_eq!(tid["pid"], ops[3].op.tgid);
    let tops: Vec<&Value> = t["slices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["depth"] == 0)
        .collect();
    assert_eq!(tops[3]["args"]["verdict"], "divergence");
}
