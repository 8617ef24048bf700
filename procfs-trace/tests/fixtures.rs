//! Recordings of `procfs-trace tour` made on real kernels in the VM
//! (`cargo xtask fixtures`), replayed and checked on every `cargo test`: the
//! model is held against real kernels without root or a VM.

mod support;

use support::flows;

use std::path::PathBuf;

use serde_json::Value;

fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pfsrec"))
        .collect();
    v.sort();
    v
}

#[test]
fn fixtures_cover_6_1_and_other_kernels() {
    let names: Vec<String> = fixtures()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"tour-6.1.pfsrec".to_owned()), "{names:?}");
    assert!(names.len() >= 2, "{names:?}");
    for p in fixtures() {
        assert!(
            std::fs::metadata(&p).unwrap().len() < 1 << 20,
            "{} is over 1 MiB",
            p.display()
        );
    }
}

#[test]
fn every_fixture_replays_to_the_live_tour_and_matches_the_model() {
    for path in fixtures() {
        let out = support::run(&[
            "replay",
            "--check",
            "--format",
            "jsonl",
            path.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{}: {stderr}", path.display());
        let replayed = flows(&String::from_utf8_lossy(&out.stdout));
        assert!(
            replayed.len() > 100,
            "{}: {} flows",
            path.display(),
            replayed.len()
        );
        assert!(
            !replayed.iter().any(|f| f["verdict"] == "divergence"),
            "{}",
            path.display()
        );
        let mut live_path = path.clone().into_os_string();
        live_path.push(".live.jsonl");
        let live =
            flows(&std::fs::read_to_string(&live_path).expect("live flows beside the fixture"));
        assert_eq!(live.len(), replayed.len(), "{}", path.display());
        // The calls and verdicts must agree; the names of the choices the
        // model settled may have changed since the live run was recorded.
        let unlabelled = |f: &serde_json::Value| {
            let mut f = f.clone();
            if let Some(o) = f.as_object_mut() {
                o.remove("assumed");
            }
            f
        };
        for (l, r) in live.iter().zip(&replayed) {
            assert_eq!(
                unlabelled(l),
                unlabelled(r),
                "{}: replay differs from the live run",
                path.display()
            );
        }
    }
}

#[test]
fn info_and_chrome_json_read_every_fixture() {
    for path in fixtures() {
        let out = support::run(&["info", path.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(text.contains("damage:      none"), "{text}");
        assert!(text.contains("lost:        0 events"), "{text}");
        let out = support::run(&["replay", "--format", "chrome-json", path.to_str().unwrap()]);
        let v: Value = serde_json::from_slice(&out.stdout).expect("Chrome JSON");
        let events = v["traceEvents"].as_array().unwrap();
        assert!(events
            .iter()
            .any(|e| e["ph"] == "X" && e["name"] == "proc_pid_lookup"));
        assert!(events.iter().any(|e| e["args"]["verdict"] == "match"));
    }
}

#[test]
fn a_truncated_fixture_replays_what_came_before() {
    let path = fixtures()
        .into_iter()
        .find(|p| p.ends_with("tour-6.1.pfsrec"))
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let cut = std::env::temp_dir().join(format!("cut-{}.pfsrec", std::process::id()));
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let out = support::run(&[
        "replay",
        "--check",
        "--format",
        "jsonl",
        cut.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_file(&cut);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a damaged file is never a pass: {stderr}"
    );
    assert!(
        stderr.contains("stopped mid-write") && stderr.contains("at byte"),
        "{stderr}"
    );
    assert!(flows(&String::from_utf8_lossy(&out.stdout)).len() > 50);
}
