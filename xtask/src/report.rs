//! The kernel matrix's results: a per-kernel summary table and a JUnit XML
//! file (one test case per kernel × tour scenario, plus the VM test run).

use std::{fmt::Write as _, time::Duration};

use serde::Deserialize;

/// What `procfs-trace tour --report` writes.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TourReport {
    /// Probes attached.
    pub probes_attached: usize,
    /// Probed functions absent from the kernel.
    pub probes_skipped: Vec<String>,
    /// Events seen.
    pub events: u64,
    /// Events lost.
    pub lost: u64,
    /// One entry per scenario.
    pub scenarios: Vec<Scenario>,
}

/// One tour scenario's result.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Scenario {
    /// Its name.
    pub name: String,
    /// The path it judges.
    pub path: String,
    /// match, divergence, ...
    pub verdict: String,
    /// Whether it matched.
    pub pass: bool,
    /// Kernel time of its operations.
    pub kernel_ns: u64,
}

/// One kernel's run.
#[derive(Debug, Clone)]
pub struct KernelRun {
    /// The name asked for (6.1, latest, ...).
    pub name: String,
    /// `uname -r`, when it booted.
    pub release: Option<String>,
    /// Whether the VM tests passed.
    pub passed: bool,
    /// Boot and run wall time.
    pub elapsed: Duration,
    /// Why it failed, in one line.
    pub failure: Option<String>,
    /// The tour's report, when it came back.
    pub tour: Option<TourReport>,
}

/// The per-kernel summary table.
pub fn table(runs: &[KernelRun]) -> String {
    let mut s = String::from("kernel                        tests  probes (skipped)  scenarios match/other  lost  boot+run\n");
    for r in runs {
        let (probes, scen, lost) = match &r.tour {
            Some(t) => {
                let ok = t.scenarios.iter().filter(|s| s.pass).count();
                (
                    format!("{} ({})", t.probes_attached, t.probes_skipped.len()),
                    format!("{ok}/{}", t.scenarios.len() - ok),
                    t.lost.to_string(),
                )
            }
            None => ("-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            s,
            "{:29} {:6} {:17} {:22} {:5} {:.1} s",
            r.release.as_deref().unwrap_or(&r.name),
            if r.passed { "pass" } else { "FAIL" },
            probes,
            scen,
            lost,
            r.elapsed.as_secs_f64()
        );
    }
    s
}

/// JUnit XML: a suite per kernel, a case per scenario and one for the VM tests.
pub fn junit(runs: &[KernelRun]) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"procfs-trace kernel matrix\">\n");
    for r in runs {
        let kernel = r.release.as_deref().unwrap_or(&r.name);
        let scenarios = r.tour.as_ref().map_or(&[][..], |t| &t.scenarios[..]);
        let failures = scenarios.iter().filter(|s| !s.pass).count() + usize::from(!r.passed);
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" time=\"{:.1}\">",
            esc(kernel),
            scenarios.len() + 1,
            r.elapsed.as_secs_f64()
        );
        let _ = write!(
            x,
            "    <testcase classname=\"{}\" name=\"vm tests\"",
            esc(kernel)
        );
        match (&r.failure, r.passed) {
            (_, true) => x.push_str("/>\n"),
            (why, false) => {
                let why = why.as_deref().unwrap_or("the VM tests failed");
                let _ = writeln!(
                    x,
                    ">\n      <failure message=\"{}\"/>\n    </testcase>",
                    esc(why)
                );
            }
        }
        for s in scenarios {
            let _ = write!(
                x,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.6}\"",
                esc(kernel),
                esc(&format!("{} ({})", s.name, s.path)),
                s.kernel_ns as f64 / 1e9
            );
            if s.pass {
                x.push_str("/>\n");
            } else {
                let _ = writeln!(
                    x,
                    ">\n      <failure message=\"{}\"/>\n    </testcase>",
                    esc(&s.verdict)
                );
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(passed: bool, verdict: &str) -> KernelRun {
        let json = format!(
            r#"{{"kernel":"6.1.0-x","probes_attached":39,"probes_skipped":["a"],"events":10,"lost":0,
               "scenarios":[{{"name":"cat /proc/PID/limits","path":"/proc/[pid]/limits","verdict":"match","pass":true,"kernel_ns":1000}},
                            {{"name":"ls <odd> & \"quoted\"","path":"/proc","verdict":"{verdict}","pass":{},"kernel_ns":2000}}]}}"#,
            verdict == "match"
        );
        KernelRun {
            name: "6.1".into(),
            release: Some("6.1.0-x".into()),
            passed,
            elapsed: Duration::from_millis(1500),
            failure: (!passed).then(|| "vm-tests exited with 101".into()),
            tour: Some(serde_json::from_str(&json).unwrap()),
        }
    }

    #[test]
    fn table_counts_scenarios_and_probes() {
        let t = table(&[run(true, "match")]);
        assert!(t.contains("6.1.0-x"), "{t}");
        assert!(
            t.contains("39 (1)") && t.contains("2/0") && t.contains("1.5 s"),
            "{t}"
        );
        let t = table(&[run(false, "divergence")]);
        assert!(t.contains("FAIL") && t.contains("1/1"), "{t}");
    }

    #[test]
    fn junit_has_a_case_per_scenario_and_escapes() {
        let x = junit(&[
            run(false, "divergence"),
            KernelRun {
                tour: None,
                ..run(true, "match")
            },
        ]);
        assert_eq!(x.matches("<testsuite ").count(), 2);
        assert_eq!(x.matches("<testcase ").count(), 4);
        assert!(x.contains("failures=\"2\""), "{x}");
        assert!(x.contains("ls &lt;odd&gt; &amp; &quot;quoted&quot;"), "{x}");
        assert!(x.contains("<failure message=\"divergence\"/>"), "{x}");
        assert!(
            x.contains("<failure message=\"vm-tests exited with 101\"/>"),
            "{x}"
        );
    }
}
