//! `procfs-trace serve --from`: what it exports equals what `replay`
//! computes from the same recording, read straight from /metrics and
//! through a real Prometheus server.

mod support;

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{
    fixture,
    serve::{encode, exported_counts, get, replay_counts, samples, Served},
};

/// Serves a fixture unpaced and waits until it is played.
fn serve_played(file: &str) -> Served {
    let mut s = Served::start(&["--from", file, "--speed", "0"]);
    s.wait_for("the recording is played");
    s
}

#[test]
fn metrics_equal_the_replays_counts_on_every_fixture() {
    for kernel in ["5.10", "6.1", "6.12", "7.2"] {
        let file = fixture(&format!("tour-{kernel}.pfsrec"));
        let served = serve_played(&file);
        let (status, text) = served.get("/metrics");
        assert_eq!(status, 200, "{text}");
        let want = replay_counts(&file);
        assert!(!want.ops.is_empty() && !want.calls.is_empty());
        assert_eq!(exported_counts(&text), want, "{kernel}");
        assert_eq!(samples(&text, "procfs_trace_source_finished")[0].1, 1.0);
        let info = &samples(&text, "procfs_trace_source_info")[0].0;
        assert!(info["kernel_release"].starts_with(kernel), "{info:?}");
        assert_eq!(info["source"], "replay");
        assert!(text.ends_with("# EOF\n"), "not OpenMetrics text");
        let status = served.stop();
        assert_eq!(status.code(), Some(0), "SIGTERM must end serve cleanly");
    }
}

#[test]
fn health_and_unknown_paths_are_answered() {
    let served = serve_played(&fixture("tour-6.1.pfsrec"));
    assert_eq!(served.get("/healthz"), (200, "ok\n".to_owned()));
    assert_eq!(served.get("/nope").0, 404);
}

#[test]
fn a_missing_recording_is_named_and_nothing_listens() {
    let out = support::run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--from",
        "/nonexistent.pfsrec",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent.pfsrec"), "{stderr}");
    assert!(!stderr.contains("serving metrics"), "{stderr}");
}

#[test]
fn a_taken_port_is_named_with_the_fix() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = support::run(&[
        "serve",
        "--listen",
        &addr,
        "--from",
        &fixture("tour-6.1.pfsrec"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&addr) && stderr.contains("--listen"),
        "{stderr}"
    );
}

/// The Prometheus server `.ci/run` installs (Debian's `prometheus`).
fn prometheus_binary() -> Option<PathBuf> {
    let found = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() && std::env::var_os("CI").is_some() {
        panic!("prometheus is not installed, and CI must run this test: .ci/run installs Debian's prometheus package");
    }
    found
}

/// A Prometheus server scraping `target` every second, killed when dropped.
struct Prometheus {
    child: Child,
    addr: String,
    _dir: TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Prometheus {
    fn start(binary: &PathBuf, target: &str) -> Prometheus {
        let dir =
            std::env::temp_dir().join(format!("procfs-trace-prometheus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = TempDir(dir);
        let config = dir.0.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: procfs-trace\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        // Prometheus cannot say which port it took, so one is picked free;
        // another process may take it first, hence the retries.
        for _ in 0..5 {
            let addr = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .to_string();
            let mut child = Command::new(binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.0.join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start prometheus");
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
                if std::net::TcpStream::connect(&addr).is_ok() && get(&addr, "/-/ready").0 == 200 {
                    return Prometheus {
                        child,
                        addr,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("prometheus did not become ready on any of 5 ports");
    }

    /// An instant query's result vector.
    fn query(&self, promql: &str) -> Vec<Value> {
        let (status, body) = get(
            &self.addr,
            &format!("/api/v1/query?query={}", encode(promql)),
        );
        assert_eq!(status, 200, "{promql}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}

fn label(series: &Value, name: &str) -> String {
    series["metric"][name]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn value(series: &Value) -> u64 {
    series["value"][1].as_str().unwrap().parse::<f64>().unwrap() as u64
}

#[test]
fn prometheus_scrapes_serve_and_its_queries_equal_the_replays_counts() {
    let Some(binary) = prometheus_binary() else {
        println!("skipped: prometheus is not installed here (.ci/run installs it)");
        return;
    };
    let file = fixture("tour-7.2.pfsrec");
    let served = serve_played(&file);
    let prom = Prometheus::start(&binary, &served.addr);
    // Wait for a scrape taken after the recording was played.
    let deadline = Instant::now() + Duration::from_secs(120);
    while prom.query("procfs_trace_source_finished == 1").is_empty() {
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped the final figures"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let want = replay_counts(&file);
    let mut got = support::serve::Counts::default();
    for s in prom.query("sum by (verdict, kind, path) (procfs_trace_operations_total)") {
        got.ops.insert(
            (label(&s, "verdict"), label(&s, "kind"), label(&s, "path")),
            value(&s),
        );
    }
    for s in prom.query("sum by (function) (procfs_trace_kernel_call_duration_seconds_count)") {
        got.calls.insert(label(&s, "function"), value(&s));
    }
    assert_eq!(got, want);
    let info = prom.query("procfs_trace_source_info");
    assert_eq!(
        label(&info[0], "kernel_release"),
        "7.2.13+deb14-cloud-amd64"
    );
    let up = prom.query("up{job=\"procfs-trace\"}");
    assert_eq!(value(&up[0]), 1);
}

#[test]
fn an_otlp_receiver_gets_the_replays_counts() {
    use support::otlp::{attributes, points, Receiver};
    let receiver = Receiver::start();
    let file = fixture("tour-6.12.pfsrec");
    let mut served = Served::start(&["--from", &file, "--speed", "0", "--otlp", &receiver.url]);
    served.wait_for("the recording is played");
    // Stopping flushes the last export.
    assert_eq!(served.stop().code(), Some(0));
    let requests = receiver.metrics();
    assert!(!requests.is_empty(), "nothing reached the receiver");
    let want = replay_counts(&file);
    let mut got = support::serve::Counts::default();
    for (a, v) in points(&requests, "procfs_trace.operations") {
        let key = |k: &str| a.get(k).cloned().unwrap_or_default();
        got.ops
            .insert((key("verdict"), key("kind"), key("path")), v as u64);
    }
    for (a, v) in points(&requests, "procfs_trace.kernel_call.duration") {
        got.calls.insert(a["function"].clone(), v as u64);
    }
    assert_eq!(got, want);
    assert_eq!(points(&requests, "procfs_trace.source.finished")[0].1, 1.0);
    let resource = attributes(
        &requests.last().unwrap().resource_metrics[0]
            .resource
            .as_ref()
            .expect("a resource")
            .attributes,
    );
    assert_eq!(resource["service.name"], "procfs-trace");
    assert!(resource["os.version"].starts_with("6.12"), "{resource:?}");
    assert_eq!(resource["procfs_trace.source"], "replay");
}

/// A divergence goes out as one log record whose body is the flow's call
/// tree and whose attributes say where it parted, what was expected and
/// seen, and carry the flow as JSON.
#[tokio::test]
async fn divergences_reach_the_receiver_as_log_records_with_their_flow() {
    use procfs_trace::{
        check::Verdict,
        live::collector::Aggregate as _,
        serve::{
            metrics::{Metrics, Source},
            otlp::Otlp,
        },
    };
    use support::otlp::{attributes, text, Receiver};

    // A real flow from a real kernel, given a divergence to report.
    let mut flow = support::checked_ops(std::path::Path::new(&fixture("tour-6.1.pfsrec")))
        .into_iter()
        .find(|c| c.op.path.as_deref().is_some_and(|p| p.ends_with("/limits")))
        .expect("a /limits flow");
    flow.verdict = Verdict::Divergence {
        at: "call 2 proc_pid_lookup".into(),
        expected: "proc_pid_lookup \"1\" = 0".into(),
        seen: "proc_pid_lookup \"1\" = -2".into(),
    };

    let receiver = Receiver::start();
    let source = Source {
        kernel_release: "6.1.0-test".into(),
        attach: "kprobe".into(),
        source: "replay".into(),
        version: "0".into(),
    };
    let (otlp, figures) = Otlp::start(&receiver.url, &source).await.unwrap();
    let mut metrics = Metrics::new(vec![Box::new(figures)]);
    metrics.ingest(flow.clone(), 0);
    otlp.shutdown().await.unwrap();

    let records: Vec<_> = receiver
        .logs()
        .into_iter()
        .flat_map(|r| r.resource_logs)
        .flat_map(|rl| rl.scope_logs)
        .flat_map(|sl| sl.log_records)
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r.severity_text, "WARN");
    assert_eq!(r.event_name, "procfs_trace.divergence");
    let a = attributes(&r.attributes);
    assert_eq!(a["procfs_trace.divergence.at"], "call 2 proc_pid_lookup");
    assert_eq!(
        a["procfs_trace.divergence.seen"],
        "proc_pid_lookup \"1\" = -2"
    );
    assert_eq!(a["procfs_trace.path"], flow.op.path.clone().unwrap());
    assert_eq!(a["process.pid"], flow.op.tgid.to_string());
    let body = text(&r.body);
    assert!(
        body.contains("/limits") && body.contains("divergence"),
        "{body}"
    );
    let json: Value = serde_json::from_str(&a["procfs_trace.flow"]).unwrap();
    assert_eq!(json["verdict"], "divergence");
    assert!(!json["calls"].as_array().unwrap().is_empty());
}
