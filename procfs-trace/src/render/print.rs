//! Prints checked operations: indented call trees with durations and verdicts,
//! or one JSON object per operation.

use std::io::{self, Write};

use procfs_trace_common::ProbeId;
use serde::Serialize;

use crate::{
    check::{Checked, Verdict},
    flows::{call::Call, op::Op},
    model::errno::format_ret,
    render::events::{format_duration, Format},
};

/// Writes one checked operation.
pub fn print(c: &Checked, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Jsonl => {
            #[derive(Serialize)]
            struct Line<'a> {
                #[serde(rename = "type")]
                kind: &'static str,
                #[serde(flatten)]
                checked: &'a Checked,
                #[serde(skip_serializing_if = "Option::is_none")]
                duration_ns: Option<u64>,
                kernel_ns: u64,
            }
            serde_json::to_writer(
                &mut *out,
                &Line {
                    kind: "flow",
                    checked: c,
                    duration_ns: c.op.end_ns.map(|e| e.saturating_sub(c.op.start_ns)),
                    kernel_ns: c.op.kernel_ns(),
                },
            )?;
            writeln!(out)
        }
        Format::Text => {
            writeln!(out, "{}  {}", headline(&c.op), verdict_line(&c.verdict))?;
            for call in &c.op.calls {
                tree(call, 1, out)?;
            }
            if let Verdict::Divergence { at, expected, seen } = &c.verdict {
                writeln!(out, "    ✗ at {at}: expected {expected}")?;
                writeln!(out, "    ✗ {:>w$}  but saw {seen}", "", w = at.len() + 3)?;
            }
            Ok(())
        }
    }
}

/// `cat[94/94] openat("/proc/93/limits") = 3  0.30 ms`
pub fn headline(op: &Op) -> String {
    let mut s = format!("{}[{}/{}", op.comm, op.tgid, op.tid);
    // In a container's own /proc the task has other numbers: show them too.
    let ns = op.ns_ids();
    if ns != (op.tgid, op.tid) {
        s.push_str(&format!(" ns {}/{}", ns.0, ns.1));
    }
    s.push_str("] ");
    match &op.syscall {
        Some(sys) => {
            match (&sys.path, &op.path) {
                (Some(p), _) => s.push_str(&format!("{}({p:?})", sys.syscall.name())),
                (None, Some(p)) => {
                    s.push_str(&format!("{}(fd {} = {p:?})", sys.syscall.name(), sys.fd))
                }
                (None, None) => s.push_str(&format!("{}(fd {})", sys.syscall.name(), sys.fd)),
            }
            if let Some(r) = sys.ret {
                s.push_str(&format!(" = {}", format_ret(r)));
            }
        }
        None => s.push_str(&format!(
            "({} without a followed syscall)",
            op.kind.as_str()
        )),
    }
    if let Some(end) = op.end_ns {
        s.push_str(&format!(
            "  {}",
            format_duration(end.saturating_sub(op.start_ns))
        ));
    }
    s
}

/// `✓ match`, `✗ divergence`, ...
pub fn verdict_line(v: &Verdict) -> String {
    match v {
        Verdict::Match { assumed } if assumed.is_empty() => "✓ match".to_owned(),
        Verdict::Match { assumed } => format!("✓ match ({})", assumed.join(", ")),
        Verdict::Divergence { .. } => "✗ divergence".to_owned(),
        Verdict::Unknown { why } => format!("? unknown: {why}"),
        Verdict::Inconclusive { why } => format!("~ inconclusive: {why}"),
    }
}

fn tree(call: &Call, depth: usize, out: &mut impl Write) -> io::Result<()> {
    write!(out, "{:w$}{}", "", call.func(), w = depth * 2)?;
    if let Some(n) = &call.name {
        write!(out, " {n:?}")?;
    }
    match (call.pos_in, call.pos_out) {
        // proc_self_get_link reports the tgid it will yield, not a position.
        (Some(n), _) if call.probe == ProbeId::ProcSelfGetLink => write!(out, " tgid {n}")?,
        (Some(n), _) if call.probe == ProbeId::ProcThreadSelfGetLink => {
            write!(out, " tgid {n} tid {}", call.ns_tid.unwrap_or_default())?
        }
        (Some(p), Some(q)) => write!(out, " pos {p}→{q}")?,
        (Some(p), None) => write!(out, " pos {p}")?,
        (None, _) => {}
    }
    if let Some(s) = &call.show {
        write!(out, " show={s}")?;
    }
    // Only options that change what procfs does are worth a word.
    if let Some(opts) = call.mount.map(|m| m.describe()).filter(|d| !d.is_empty()) {
        write!(out, " [{opts}]")?;
    }
    match call.ret {
        Some(r) => write!(out, " = {}", format_ret(r))?,
        None => write!(out, " (no exit)")?,
    }
    if let Some(d) = call.duration_ns() {
        write!(out, "  {}", format_duration(d))?;
    }
    writeln!(out)?;
    for c in &call.children {
        tree(c, depth + 1, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use procfs_trace_common::ProbeId;

    use super::*;
    use procfs_trace_common::Syscall;

    use crate::flows::script::Script;

    #[test]
    fn text_tree_and_divergence_lines() {
        let mut s = Script::new();
        s.sys(7, Syscall::Openat, Some("/proc/7/limits"), -100)
            .pid_lookup(7, "7")
            .sys_ret(7, Syscall::Openat, 3);
        let op = s.ops().remove(0);
        let c = Checked {
            op,
            verdict: Verdict::Divergence {
                at: "call 2".into(),
                expected: "proc_tgid_base_lookup(name=\"limits\") = 0".into(),
                seen: "no further call".into(),
            },
            evidence: 0,
        };
        let mut out = Vec::new();
        print(&c, Format::Text, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with(r#"cat[7/7] openat("/proc/7/limits") = 3"#),
            "{text}"
        );
        assert!(lines[0].ends_with("✗ divergence"), "{text}");
        assert!(
            lines[1].starts_with(r#"  proc_root_lookup "7" = 0"#),
            "{text}"
        );
        assert!(
            lines[2].starts_with(r#"    proc_pid_lookup "7" = 0"#),
            "{text}"
        );
        assert!(
            lines[3].contains("expected proc_tgid_base_lookup"),
            "{text}"
        );
        assert!(lines[4].contains("but saw no further call"), "{text}");
    }

    #[test]
    fn jsonl_flow_line() {
        let mut s = Script::new();
        s.sys(7, Syscall::Read, None, 3)
            .enter(7, ProbeId::SeqReadIter, Some("stat"))
            .exit(7, ProbeId::SeqReadIter, 10)
            .sys_ret(7, Syscall::Read, 10);
        let c = Checked {
            op: s.ops().remove(0),
            verdict: Verdict::Unknown { why: "fd".into() },
            evidence: 0,
        };
        let mut out = Vec::new();
        print(&c, Format::Jsonl, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], "flow");
        assert_eq!(v["kind"], "read");
        assert_eq!(v["verdict"], "unknown");
        assert_eq!(v["why"], "fd");
        assert_eq!(v["calls"][0]["probe"], "seq_read_iter");
        assert_eq!(v["calls"][0]["ret"], 10);
        assert_eq!(v["syscall"]["name"], "read");
        assert_eq!(v["kernel_ns"], 10);
    }
}
