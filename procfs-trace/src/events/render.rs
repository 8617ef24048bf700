//! Prints events as text or JSON lines.
//!
//! Without `--raw`, each thread's events are indented by call depth and exits
//! show their duration; the pairing is a per-thread stack of open entries.

use std::{collections::HashMap, io, io::Write};

use procfs_trace_common::ProbeId;
use serde::Serialize;

use super::decode::{Event, Phase};

/// Output format of `trace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Jsonl,
}

/// Open entries deeper than this on one thread mean exits were lost; the
/// oldest are dropped so a thread's stack stays bounded.
const MAX_DEPTH: usize = 64;

/// Turns events into output lines.
pub struct Renderer<S> {
    format: Format,
    raw: bool,
    symbolize: S,
    stacks: HashMap<u32, Vec<(ProbeId, u64)>>,
    t0: Option<u64>,
}

/// Where an event sits in its thread's call tree.
struct Place {
    depth: usize,
    duration_ns: Option<u64>,
}

impl<S: Fn(u64) -> Option<String>> Renderer<S> {
    /// A renderer; `symbolize` names a kernel text address.
    pub fn new(format: Format, raw: bool, symbolize: S) -> Self {
        Renderer {
            format,
            raw,
            symbolize,
            stacks: HashMap::new(),
            t0: None,
        }
    }

    /// Writes one event.
    pub fn event(&mut self, ev: &Event, out: &mut impl Write) -> io::Result<()> {
        let t0 = *self.t0.get_or_insert(ev.ts_ns);
        let place = (!self.raw).then(|| self.place(ev));
        let show = ev
            .addr
            .map(|a| (self.symbolize)(a).unwrap_or_else(|| format!("{a:#x}")));
        match self.format {
            Format::Jsonl => {
                let line = JsonEvent {
                    kind: "event",
                    ts_ns: ev.ts_ns,
                    tgid: ev.tgid,
                    tid: ev.tid,
                    comm: &ev.comm,
                    cpu: ev.cpu,
                    func: ev.probe.def().func,
                    phase: ev.phase,
                    name: ev.name.as_deref(),
                    pos: ev.pos,
                    ret: ev.ret,
                    show: show.as_deref(),
                    show_addr: ev.addr.map(|a| format!("{a:#x}")),
                    faults: &ev.faults,
                    depth: place.as_ref().map(|p| p.depth),
                    duration_ns: place.as_ref().and_then(|p| p.duration_ns),
                };
                serde_json::to_writer(&mut *out, &line)?;
                writeln!(out)
            }
            Format::Text => {
                let rel = ev.ts_ns.saturating_sub(t0) as f64 / 1e9;
                let indent = place.as_ref().map_or(0, |p| p.depth * 2);
                let arrow = match ev.phase {
                    Phase::Entry => "→",
                    Phase::Exit => "←",
                };
                write!(
                    out,
                    "{rel:12.6} {:>15}({}/{}) cpu{:<2} {:indent$}{arrow} {}",
                    ev.comm,
                    ev.tgid,
                    ev.tid,
                    ev.cpu,
                    "",
                    ev.probe.def().func,
                )?;
                if let Some(name) = &ev.name {
                    write!(out, " name={name:?}")?;
                }
                if let Some(pos) = ev.pos {
                    write!(out, " pos={pos}")?;
                }
                if let Some(show) = &show {
                    write!(out, " show={show}")?;
                }
                if let Some(ret) = ev.ret {
                    write!(out, " ret={}", format_ret(ret))?;
                }
                for f in &ev.faults {
                    write!(out, " {f}=<fault>")?;
                }
                if let Some(d) = place.as_ref().and_then(|p| p.duration_ns) {
                    write!(out, " ({})", format_duration(d))?;
                }
                writeln!(out)
            }
        }
    }

    /// Writes a notice that the kernel dropped events (ring buffer full).
    pub fn lost(&mut self, new: u64, total: u64, out: &mut impl Write) -> io::Result<()> {
        match self.format {
            Format::Jsonl => writeln!(out, r#"{{"type":"lost","count":{new},"total":{total}}}"#),
            Format::Text => writeln!(
                out,
                "!! {new} events lost (ring buffer full), {total} in all: call trees around here are incomplete"
            ),
        }
    }

    fn place(&mut self, ev: &Event) -> Place {
        let stack = self.stacks.entry(ev.tid).or_default();
        match ev.phase {
            Phase::Entry => {
                let depth = stack.len();
                if stack.len() >= MAX_DEPTH {
                    stack.remove(0);
                }
                stack.push((ev.probe, ev.ts_ns));
                Place {
                    depth,
                    duration_ns: None,
                }
            }
            Phase::Exit => {
                // Pop to the matching entry; entries above it lost their exits.
                match stack.iter().rposition(|(p, _)| *p == ev.probe) {
                    Some(i) => {
                        let (_, start) = stack[i];
                        stack.truncate(i);
                        Place {
                            depth: i,
                            duration_ns: Some(ev.ts_ns.saturating_sub(start)),
                        }
                    }
                    None => Place {
                        depth: stack.len(),
                        duration_ns: None,
                    },
                }
            }
        }
    }
}

#[derive(Serialize)]
struct JsonEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    ts_ns: u64,
    tgid: u32,
    tid: u32,
    comm: &'a str,
    cpu: u32,
    func: &'static str,
    phase: Phase,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pos: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ret: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    show: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    show_addr: Option<String>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    faults: &'a [&'static str],
    #[serde(skip_serializing_if = "Option::is_none")]
    depth: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ns: Option<u64>,
}

/// Errno names for the values procfs functions return.
const ERRNOS: &[(i64, &str)] = &[
    (1, "EPERM"),
    (2, "ENOENT"),
    (3, "ESRCH"),
    (4, "EINTR"),
    (5, "EIO"),
    (9, "EBADF"),
    (10, "ECHILD"),
    (11, "EAGAIN"),
    (12, "ENOMEM"),
    (13, "EACCES"),
    (14, "EFAULT"),
    (20, "ENOTDIR"),
    (21, "EISDIR"),
    (22, "EINVAL"),
    (36, "ENAMETOOLONG"),
    (40, "ELOOP"),
    (95, "EOPNOTSUPP"),
];

/// A return value as a reader wants it: `-ENOENT`, a kernel pointer in hex, or a number.
pub fn format_ret(ret: i64) -> String {
    if (-4095..0).contains(&ret) {
        return match ERRNOS.iter().find(|(n, _)| *n == -ret) {
            Some((_, name)) => format!("-{name}"),
            None => ret.to_string(),
        };
    }
    // Kernel pointers (lookups return dentries) live in the top half.
    if (ret as u64) >= 0xffff_8000_0000_0000 {
        return format!("{:#x}", ret as u64);
    }
    ret.to_string()
}

fn format_duration(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        _ => format!("{:.2} ms", ns as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(probe: ProbeId, phase: Phase, ts: u64, tid: u32) -> Event {
        Event {
            ts_ns: ts,
            tgid: 10,
            tid,
            cpu: 0,
            comm: "cat".into(),
            probe,
            phase,
            name: None,
            pos: None,
            ret: None,
            addr: None,
            faults: vec![],
        }
    }

    fn render(format: Format, raw: bool, events: &[Event]) -> String {
        let mut r = Renderer::new(format, raw, |a| {
            (a == 0x1000).then(|| "proc_single_show".into())
        });
        let mut out = Vec::new();
        for e in events {
            r.event(e, &mut out).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn jsonl_has_the_documented_fields() {
        let mut e = ev(ProbeId::SeqReadIter, Phase::Entry, 5, 11);
        e.name = Some("limits".into());
        e.addr = Some(0x1000);
        let line = render(Format::Jsonl, true, &[e]);
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(v["type"], "event");
        assert_eq!(v["func"], "seq_read_iter");
        assert_eq!(v["phase"], "entry");
        assert_eq!(v["name"], "limits");
        assert_eq!(v["show"], "proc_single_show");
        assert_eq!(v["show_addr"], "0x1000");
        assert_eq!(v["tgid"], 10);
        assert_eq!(v["tid"], 11);
        assert_eq!(v["comm"], "cat");
        assert_eq!(v["ts_ns"], 5);
        assert!(v.get("ret").is_none() && v.get("depth").is_none());
    }

    #[test]
    fn nesting_and_durations_per_thread() {
        let events = [
            ev(ProbeId::ProcRootLookup, Phase::Entry, 100, 1),
            ev(ProbeId::ProcRootLookup, Phase::Entry, 105, 2),
            ev(ProbeId::ProcPidLookup, Phase::Entry, 110, 1),
            ev(ProbeId::ProcPidLookup, Phase::Exit, 150, 1),
            ev(ProbeId::ProcRootLookup, Phase::Exit, 200, 1),
            ev(ProbeId::ProcRootLookup, Phase::Exit, 305, 2),
        ];
        let out = render(Format::Jsonl, false, &events);
        let v: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let depths: Vec<_> = v.iter().map(|e| e["depth"].as_u64().unwrap()).collect();
        assert_eq!(depths, [0, 0, 1, 1, 0, 0]);
        assert_eq!(v[3]["duration_ns"], 40);
        assert_eq!(v[4]["duration_ns"], 100);
        assert_eq!(v[5]["duration_ns"], 200);
    }

    #[test]
    fn an_exit_without_entry_closes_nothing() {
        let events = [
            ev(ProbeId::ProcRootLookup, Phase::Entry, 100, 1),
            ev(ProbeId::ProcPidLookup, Phase::Exit, 150, 1),
            ev(ProbeId::ProcRootLookup, Phase::Exit, 200, 1),
        ];
        let out = render(Format::Jsonl, false, &events);
        let v: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(v[1].get("duration_ns").is_none());
        assert_eq!(v[2]["duration_ns"], 100);
    }

    #[test]
    fn text_lines_show_arguments() {
        let mut e = ev(ProbeId::ProcRootReaddir, Phase::Exit, 7, 1);
        e.pos = Some(258);
        e.ret = Some(-2);
        e.faults = vec!["name"];
        let out = render(Format::Text, true, &[e]);
        assert!(
            out.contains("← proc_root_readdir pos=258 ret=-ENOENT name=<fault>"),
            "{out}"
        );
    }

    #[test]
    fn return_values() {
        assert_eq!(format_ret(0), "0");
        assert_eq!(format_ret(-2), "-ENOENT");
        assert_eq!(format_ret(-4000), "-4000");
        assert_eq!(format_ret(4096), "4096");
        assert_eq!(
            format_ret(0xffff_8880_0123_4567u64 as i64),
            "0xffff888001234567"
        );
    }

    #[test]
    fn lost_notice() {
        let mut r = Renderer::new(Format::Jsonl, true, |_| None);
        let mut out = Vec::new();
        r.lost(3, 10, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            (v["type"].as_str(), v["count"].as_u64(), v["total"].as_u64()),
            (Some("lost"), Some(3), Some(10))
        );
    }
}
