//! Prints events as text or JSON lines.
//!
//! Without `--raw`, each thread's events are indented by call depth and exits
//! show their duration; the pairing is a per-thread stack of open entries.

use std::{collections::HashMap, io, io::Write, sync::Arc};

use procfs_trace_common::ProbeId;
use serde::Serialize;

use crate::events::{
    decode::{Event, Origin, Phase, ProbeHit, SyscallHit},
    pairs::Unpairer,
    Symbolize,
};
use crate::model::errno::format_ret;
use crate::model::mount::MountOpts;

/// Output format of `trace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Jsonl,
}

/// Open frames deeper than this on one thread mean exits were lost; the
/// oldest are dropped so a thread's stack stays bounded.
const MAX_DEPTH: usize = 64;

/// What opened a frame on a thread's stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    Probe(ProbeId),
    Syscall(&'static str),
}

/// Turns events into output lines.
pub struct Renderer {
    format: Format,
    indent: bool,
    stacks: HashMap<u32, Vec<(Frame, u64)>>,
    t0: Option<u64>,
    /// Paired records waiting for their syscall's.
    pairs: Unpairer,
    /// Events unfolded from a record, reused.
    ready: Vec<Event>,
}

/// Where an event sits in its thread's call tree.
struct Place {
    depth: usize,
    duration_ns: Option<u64>,
}

impl Renderer {
    /// A renderer; `indent` nests events by call depth.
    pub fn new(format: Format, indent: bool) -> Self {
        Renderer {
            format,
            indent,
            stacks: HashMap::new(),
            t0: None,
            pairs: Unpairer::new(),
            ready: Vec::new(),
        }
    }

    /// Writes the events one record completes, in the order they happened
    /// (a paired record waits for its syscall's); `symbolize` names
    /// show-callback addresses.
    pub fn event(
        &mut self,
        ev: Event,
        symbolize: Symbolize,
        out: &mut impl Write,
    ) -> io::Result<()> {
        let mut ready = std::mem::take(&mut self.ready);
        self.pairs.push(ev, &mut ready);
        for ev in ready.drain(..) {
            self.write(&ev, symbolize, out)?;
        }
        self.ready = ready;
        Ok(())
    }

    /// Writes the calls still waiting for a syscall's record (it was lost),
    /// their callbacks unnamed.
    pub fn finish(&mut self, out: &mut impl Write) -> io::Result<()> {
        let mut ready = Vec::new();
        self.pairs.finish(&mut ready);
        for ev in ready {
            self.write(&ev, &|_| None, out)?;
        }
        Ok(())
    }

    fn write(&mut self, ev: &Event, symbolize: Symbolize, out: &mut impl Write) -> io::Result<()> {
        let o = ev.origin();
        let t0 = *self.t0.get_or_insert(o.ts_ns);
        let (frame, phase) = match ev {
            Event::Probe(p) => (Frame::Probe(p.probe), p.phase),
            Event::Syscall(s) => (Frame::Syscall(s.syscall.name()), s.phase),
            Event::Call(_) | Event::SyscallCall(_) => {
                unreachable!("the unpairer unfolds paired records")
            }
        };
        let place = self.indent.then(|| self.place(o, frame, phase));
        match (self.format, ev) {
            (Format::Jsonl, Event::Probe(p)) => probe_json(p, symbolize, place.as_ref(), out),
            (Format::Jsonl, Event::Syscall(s)) => syscall_json(s, place.as_ref(), out),
            (Format::Jsonl, _) => unreachable!("unfolded above"),
            (Format::Text, _) => {
                let rel = o.ts_ns.saturating_sub(t0) as f64 / 1e9;
                let indent = place.as_ref().map_or(0, |p| p.depth * 2);
                let arrow = match phase {
                    Phase::Entry => "→",
                    Phase::Exit => "←",
                };
                write!(
                    out,
                    "{rel:12.6} {:>15}({}/{}) cpu{:<2} {:indent$}{arrow} ",
                    o.comm, o.tgid, o.tid, o.cpu, "",
                )?;
                match ev {
                    Event::Probe(p) => probe_text(p, symbolize, out)?,
                    Event::Syscall(s) => syscall_text(s, out)?,
                    Event::Call(_) | Event::SyscallCall(_) => unreachable!("unfolded above"),
                }
                if let Some(d) = place.as_ref().and_then(|p| p.duration_ns) {
                    write!(out, " ({})", format_duration(d))?;
                }
                writeln!(out)
            }
        }
    }

    /// Writes a notice that the kernel dropped events.
    pub fn lost(&mut self, new: u64, total: u64, out: &mut impl Write) -> io::Result<()> {
        write_lost(self.format, new, total, out)
    }

    fn place(&mut self, o: &Origin, frame: Frame, phase: Phase) -> Place {
        let stack = self.stacks.entry(o.tid).or_default();
        match phase {
            Phase::Entry => {
                let depth = stack.len();
                if stack.len() >= MAX_DEPTH {
                    stack.remove(0);
                }
                stack.push((frame, o.ts_ns));
                Place {
                    depth,
                    duration_ns: None,
                }
            }
            Phase::Exit => {
                // Pop to the matching entry; frames above it lost their exits.
                match stack.iter().rposition(|(f, _)| *f == frame) {
                    Some(i) => {
                        let (_, start) = stack[i];
                        stack.truncate(i);
                        Place {
                            depth: i,
                            duration_ns: Some(o.ts_ns.saturating_sub(start)),
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

fn show(p: &ProbeHit, symbolize: Symbolize) -> Option<Arc<str>> {
    p.addr
        .map(|a| symbolize(a).unwrap_or_else(|| format!("{a:#x}").into()))
}

fn probe_text(p: &ProbeHit, symbolize: Symbolize, out: &mut impl Write) -> io::Result<()> {
    write!(out, "{}", p.probe.def().func)?;
    if let Some(name) = &p.name {
        write!(out, " name={name:?}")?;
    }
    if let Some(pos) = p.pos {
        write!(out, " pos={pos}")?;
    }
    if let Some(show) = show(p, symbolize) {
        write!(out, " show={show}")?;
    }
    if let Some(m) = &p.mount {
        write!(out, " hidepid={} subset_pid={}", m.hidepid, m.subset_pid)?;
    }
    if let Some(ret) = p.ret {
        write!(out, " ret={}", format_ret(ret))?;
    }
    for f in &p.faults {
        write!(out, " {f}=<fault>")?;
    }
    Ok(())
}

fn probe_json(
    p: &ProbeHit,
    symbolize: Symbolize,
    place: Option<&Place>,
    out: &mut impl Write,
) -> io::Result<()> {
    let show = show(p, symbolize);
    let line = JsonProbe {
        kind: "event",
        origin: JsonOrigin::from(&p.origin),
        func: p.probe.def().func,
        phase: p.phase,
        name: p.name.as_deref(),
        pos: p.pos,
        ret: p.ret,
        show: show.as_deref(),
        show_addr: p.addr.map(|a| format!("{a:#x}")),
        mount: p.mount,
        faults: &p.faults,
        depth: place.map(|p| p.depth),
        duration_ns: place.and_then(|p| p.duration_ns),
    };
    serde_json::to_writer(&mut *out, &line)?;
    writeln!(out)
}

fn syscall_text(s: &SyscallHit, out: &mut impl Write) -> io::Result<()> {
    write!(out, "{}()", s.syscall.name())?;
    match (&s.path, s.phase) {
        (Some(path), _) => write!(out, " path={path:?}")?,
        (None, Phase::Entry) if s.path_fault => write!(out, " path=<fault>")?,
        (None, Phase::Entry) => write!(out, " fd={}", s.fd)?,
        (None, Phase::Exit) => {}
    }
    if let Some(ret) = s.ret {
        write!(out, " ret={}", format_ret(ret))?;
    }
    if s.lost {
        write!(out, " (some of its events were lost)")?;
    }
    Ok(())
}

fn syscall_json(s: &SyscallHit, place: Option<&Place>, out: &mut impl Write) -> io::Result<()> {
    let line = JsonSyscall {
        kind: "syscall",
        origin: JsonOrigin::from(&s.origin),
        syscall: s.syscall.name(),
        phase: s.phase,
        fd: s.fd,
        path: s.path.as_deref(),
        path_fault: s.path_fault,
        ret: s.ret,
        lost: s.lost,
        depth: place.map(|p| p.depth),
        duration_ns: place.and_then(|p| p.duration_ns),
    };
    serde_json::to_writer(&mut *out, &line)?;
    writeln!(out)
}

#[derive(Serialize)]
struct JsonOrigin<'a> {
    ts_ns: u64,
    tgid: u32,
    tid: u32,
    comm: &'a str,
    cpu: u32,
}

impl<'a> From<&'a Origin> for JsonOrigin<'a> {
    fn from(o: &'a Origin) -> Self {
        JsonOrigin {
            ts_ns: o.ts_ns,
            tgid: o.tgid,
            tid: o.tid,
            comm: &o.comm,
            cpu: o.cpu,
        }
    }
}

#[derive(Serialize)]
struct JsonProbe<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    origin: JsonOrigin<'a>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    mount: Option<MountOpts>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    faults: &'a [&'static str],
    #[serde(skip_serializing_if = "Option::is_none")]
    depth: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ns: Option<u64>,
}

#[derive(Serialize)]
struct JsonSyscall<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    origin: JsonOrigin<'a>,
    syscall: &'static str,
    phase: Phase,
    fd: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    path_fault: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    ret: Option<i64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    lost: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    depth: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ns: Option<u64>,
}

/// The record of `new` lost events (`total` so far) in the output stream.
pub fn write_lost(format: Format, new: u64, total: u64, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Jsonl => writeln!(out, r#"{{"type":"lost","count":{new},"total":{total}}}"#),
        Format::Text => writeln!(
            out,
            "!! {new} events lost, {total} in all (the summary gives the causes): what ran around here is incomplete"
        ),
    }
}

/// A duration in the unit that reads best.
pub fn format_duration(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        _ => format!("{:.2} ms", ns as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(ts: u64, tid: u32) -> Origin {
        Origin {
            ts_ns: ts,
            tgid: 10,
            tid,
            cpu: 0,
            comm: "cat".into(),
        }
    }

    fn hit(probe: ProbeId, phase: Phase, ts: u64, tid: u32) -> ProbeHit {
        ProbeHit {
            origin: origin(ts, tid),
            probe,
            phase,
            name: None,
            pos: None,
            ret: None,
            addr: None,
            mount: None,
            ns_tid: None,
            faults: vec![],
        }
    }

    fn render(format: Format, raw: bool, events: &[Event]) -> String {
        let mut r = Renderer::new(format, !raw);
        let names = |a: u64| (a == 0x1000).then(|| "proc_single_show".into());
        let mut out = Vec::new();
        for e in events {
            r.event(e.clone(), &names, &mut out).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn jsonl_has_the_documented_fields() {
        let mut e = hit(ProbeId::SeqReadIter, Phase::Entry, 5, 11);
        e.name = Some("limits".into());
        e.addr = Some(0x1000);
        let line = render(Format::Jsonl, true, &[Event::Probe(e)]);
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
            Event::Probe(hit(ProbeId::ProcRootLookup, Phase::Entry, 100, 1)),
            Event::Probe(hit(ProbeId::ProcRootLookup, Phase::Entry, 105, 2)),
            Event::Probe(hit(ProbeId::ProcPidLookup, Phase::Entry, 110, 1)),
            Event::Probe(hit(ProbeId::ProcPidLookup, Phase::Exit, 150, 1)),
            Event::Probe(hit(ProbeId::ProcRootLookup, Phase::Exit, 200, 1)),
            Event::Probe(hit(ProbeId::ProcRootLookup, Phase::Exit, 305, 2)),
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
            Event::Probe(hit(ProbeId::ProcRootLookup, Phase::Entry, 100, 1)),
            Event::Probe(hit(ProbeId::ProcPidLookup, Phase::Exit, 150, 1)),
            Event::Probe(hit(ProbeId::ProcRootLookup, Phase::Exit, 200, 1)),
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
        let mut e = hit(ProbeId::ProcRootReaddir, Phase::Exit, 7, 1);
        e.pos = Some(258);
        e.ret = Some(-2);
        e.faults = vec!["name"];
        let out = render(Format::Text, true, &[Event::Probe(e)]);
        assert!(
            out.contains("← proc_root_readdir pos=258 ret=-ENOENT name=<fault>"),
            "{out}"
        );
    }

    #[test]
    fn syscalls_frame_the_probes_they_cause() {
        let open = |phase, ts, ret| {
            Event::Syscall(SyscallHit {
                origin: origin(ts, 1),
                syscall: procfs_trace_common::Syscall::Openat,
                phase,
                fd: -100,
                path: (phase == Phase::Entry).then(|| "/proc/1/limits".to_owned()),
                path_fault: false,
                at_flags: 0,
                ret,
                lost: false,
            })
        };
        let events = [
            open(Phase::Entry, 100, None),
            Event::Probe(hit(ProbeId::ProcRootLookup, Phase::Entry, 110, 1)),
            Event::Probe(hit(ProbeId::ProcRootLookup, Phase::Exit, 120, 1)),
            open(Phase::Exit, 200, Some(3)),
        ];
        let out = render(Format::Jsonl, false, &events);
        let v: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(v[0]["type"], "syscall");
        assert_eq!(v[0]["syscall"], "openat");
        assert_eq!(v[0]["path"], "/proc/1/limits");
        assert_eq!(v[1]["depth"], 1);
        assert_eq!(v[3]["depth"], 0);
        assert_eq!(v[3]["duration_ns"], 100);
        assert_eq!(v[3]["ret"], 3);
        let text = render(Format::Text, true, &events);
        assert!(
            text.contains(r#"→ openat() path="/proc/1/limits""#),
            "{text}"
        );
        assert!(text.contains("← openat() ret=3"), "{text}");
    }

    #[test]
    fn lost_notice() {
        let mut r = Renderer::new(Format::Jsonl, false);
        let mut out = Vec::new();
        r.lost(3, 10, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            (v["type"].as_str(), v["count"].as_u64(), v["total"].as_u64()),
            (Some("lost"), Some(3), Some(10))
        );
    }
}
