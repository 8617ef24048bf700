//! Running `procfs-trace serve` and reading what it exports: the process,
//! a plain HTTP GET, the OpenMetrics text, and the counts the same flows
//! should give.

use std::{
    collections::BTreeMap,
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::TcpStream,
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc::{self, Receiver},
    time::{Duration, Instant},
};

use serde_json::Value;

/// A running `serve`, stopped (SIGTERM) when dropped.
pub struct Served {
    child: Child,
    /// host:port it answers on.
    pub addr: String,
    lines: Receiver<String>,
    /// Standard error so far, for failure messages.
    pub said: String,
}

impl Served {
    /// Starts `procfs-trace serve --listen 127.0.0.1:0 ARGS` and waits for
    /// the line naming its address.
    pub fn start(args: &[&str]) -> Served {
        let mut child = Command::new(super::bin())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run procfs-trace serve");
        let stderr = child.stderr.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut served = Served {
            child,
            addr: String::new(),
            lines,
            said: String::new(),
        };
        let line = served.wait_for("serving metrics at http://");
        served.addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.strip_suffix("/metrics"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        served
    }

    /// Waits (at most two minutes) for a line of standard error holding `needle`.
    pub fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.said.push_str(&line);
                    self.said.push('\n');
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!("no {needle:?} from serve ({e}); it said:\n{}", self.said),
            }
        }
    }

    /// GETs `path` from the server.
    pub fn get(&self, path: &str) -> (u16, String) {
        get(&self.addr, path)
    }

    /// Sends SIGTERM and waits (at most a minute) for the exit.
    pub fn stop(mut self) -> ExitStatus {
        self.terminate()
            .expect("serve did not exit within a minute of SIGTERM")
    }

    fn terminate(&mut self) -> Option<ExitStatus> {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait for serve") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() && self.terminate().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A plain HTTP/1.0 GET of `path` (with its query) from `addr`: status and body.
pub fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, body.to_owned())
}

/// Percent-encodes a query parameter's value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Labels of a series, by name.
pub type Labels = BTreeMap<String, String>;

/// The samples of OpenMetrics text whose metric is `name`, with their labels.
pub fn samples(text: &str, name: &str) -> Vec<(Labels, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, labels) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            (metric == name).then(|| (parse_labels(labels), value.parse().expect("a number")))
        })
        .collect()
}

/// `a="x",b="y"` (our label values hold no quotes or commas).
fn parse_labels(text: &str) -> Labels {
    text.split(',')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("label=value");
            (k.to_owned(), v.trim_matches('"').to_owned())
        })
        .collect()
}

/// What a recording's checked flows add up to, as `serve` should export it.
#[derive(Debug, Default, PartialEq)]
pub struct Counts {
    /// Operations by (verdict, kind, folded path).
    pub ops: BTreeMap<(String, String, String), u64>,
    /// Probed calls with a return, by function.
    pub calls: BTreeMap<String, u64>,
}

/// Counts the flows `procfs-trace replay --format jsonl FILE` prints.
pub fn replay_counts(file: &str) -> Counts {
    let out = super::run(&["replay", "--format", "jsonl", file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut counts = Counts::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let flow: Value = serde_json::from_str(line).expect("a JSON line");
        if flow["type"] != "flow" {
            continue;
        }
        let text = |k: &str| flow[k].as_str().unwrap_or_default().to_owned();
        let path = flow["path"]
            .as_str()
            .map(procfs_trace::paths::fold)
            .unwrap_or_default();
        *counts
            .ops
            .entry((text("verdict"), text("kind"), path))
            .or_default() += 1;
        let mut stack: Vec<&Value> = flow["calls"].as_array().into_iter().flatten().collect();
        while let Some(call) = stack.pop() {
            if call.get("end_ns").is_some() {
                let f = call["probe"].as_str().expect("a probe").to_owned();
                *counts.calls.entry(f).or_default() += 1;
            }
            stack.extend(call["children"].as_array().into_iter().flatten());
        }
    }
    counts
}

/// The same counts from `/metrics` text.
pub fn exported_counts(text: &str) -> Counts {
    let mut counts = Counts::default();
    for (l, v) in samples(text, "procfs_trace_operations_total") {
        let key = |k: &str| l.get(k).cloned().unwrap_or_default();
        counts
            .ops
            .insert((key("verdict"), key("kind"), key("path")), v as u64);
    }
    for (l, v) in samples(text, "procfs_trace_kernel_call_duration_seconds_count") {
        counts.calls.insert(l["function"].clone(), v as u64);
    }
    counts
}
