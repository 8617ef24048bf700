//! Exports checked operations in the Chrome JSON trace format, which the
//! Perfetto UI and chrome://tracing open: one track per thread, each
//! operation a slice with its verdict, and its kernel calls as slices nested
//! inside. `perfetto` writes the smaller native format.

use std::io::{self, Write};

use serde_json::{json, Value};

use super::print::headline;
use crate::check::{Checked, Verdict};
use crate::flows::call::Call;

/// Writes the whole trace as one JSON document.
pub fn write(ops: &[Checked], out: &mut impl Write) -> io::Result<()> {
    let mut events = Vec::new();
    let mut named = std::collections::HashSet::new();
    for c in ops {
        let op = &c.op;
        if named.insert(op.tid) {
            events.push(json!({"ph": "M", "name": "thread_name", "pid": op.tgid, "tid": op.tid, "args": {"name": format!("{} {}", op.comm, op.tid)}}));
        }
        let end = op.span_end();
        let mut args = json!({"verdict": c.verdict.name(), "kind": op.kind.as_str()});
        if let Some(p) = &op.path {
            args["path"] = json!(p);
        }
        match &c.verdict {
            Verdict::Divergence { at, expected, seen } => {
                args["at"] = json!(at);
                args["expected"] = json!(expected);
                args["seen"] = json!(seen);
            }
            Verdict::Unknown { why } | Verdict::Inconclusive { why } => args["why"] = json!(why),
            Verdict::Match { assumed } => args["assumed"] = json!(assumed),
        }
        events.push(slice(
            &headline(op),
            op.tgid,
            op.tid,
            op.start_ns,
            end,
            args,
        ));
        for call in &op.calls {
            calls(call, op.tgid, op.tid, &mut events);
        }
    }
    serde_json::to_writer(
        &mut *out,
        &json!({"traceEvents": events, "displayTimeUnit": "ns"}),
    )?;
    writeln!(out)
}

fn slice(name: &str, pid: u32, tid: u32, start_ns: u64, end_ns: u64, args: Value) -> Value {
    json!({
        "ph": "X",
        "name": name,
        "pid": pid,
        "tid": tid,
        "ts": start_ns as f64 / 1e3,
        "dur": end_ns.saturating_sub(start_ns) as f64 / 1e3,
        "args": args,
    })
}

fn calls(c: &Call, pid: u32, tid: u32, out: &mut Vec<Value>) {
    let args = serde_json::to_value(Call {
        children: Vec::new(),
        ..c.clone()
    })
    .unwrap_or(Value::Null);
    // A call whose exit never came ends with its last child, or at once.
    let end = c.span_end();
    out.push(slice(c.func(), pid, tid, c.start_ns, end, args));
    for child in &c.children {
        calls(child, pid, tid, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use procfs_trace_common::Syscall;

    use crate::flows::script::Script;

    #[test]
    fn nested_slices_per_thread_with_verdicts() {
        let mut s = Script::new();
        s.sys(7, Syscall::Openat, Some("/proc/7/limits"), -100)
            .pid_lookup(7, "7")
            .sys_ret(7, Syscall::Openat, 3);
        let c = Checked {
            op: s.ops().remove(0),
            verdict: Verdict::Match {
                assumed: vec!["cold dcache".into()],
            },
            evidence: 0,
        };
        let mut out = Vec::new();
        write(&[c], &mut out).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        let ev = v["traceEvents"].as_array().unwrap();
        assert_eq!(ev[0]["ph"], "M");
        assert_eq!(ev[1]["args"]["verdict"], "match");
        assert_eq!(ev[1]["args"]["path"], "/proc/7/limits");
        let (op, root, pid) = (&ev[1], &ev[2], &ev[3]);
        assert_eq!(
            (root["name"].as_str(), pid["name"].as_str()),
            (Some("proc_root_lookup"), Some("proc_pid_lookup"))
        );
        let span = |e: &Value| {
            (
                e["ts"].as_f64().unwrap(),
                e["ts"].as_f64().unwrap() + e["dur"].as_f64().unwrap(),
            )
        };
        // Nesting is by time: each slice lies inside its parent.
        assert!(span(op).0 <= span(root).0 && span(root).1 <= span(op).1);
        assert!(span(root).0 <= span(pid).0 && span(pid).1 <= span(root).1);
        assert_eq!(pid["args"]["name"], "7");
        assert!(ev.iter().all(|e| e["tid"] == 7));
    }
}
