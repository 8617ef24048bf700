//! Exports checked operations as a native Perfetto trace (protobuf
//! TrackEvents): a track per thread under its process, each operation a
//! slice carrying its verdict, its kernel calls as slices nested inside, a
//! flow arrow from the operation to each show callback it reached, and each
//! divergence as an instant event with its reason. Names repeated across
//! events are interned.
//!
//! Packets are written as they are made, so a large replay is never held
//! twice in memory.

pub mod proto;

use std::{
    collections::{HashMap, HashSet},
    io::{self, Write},
};

use prost::{
    encoding::{encode_key, WireType},
    Message as _,
};

use self::proto::{
    DebugAnnotation, EventType, InternedData, InternedString, ProcessDescriptor, ThreadDescriptor,
    TracePacket, TrackDescriptor, TrackEvent, CLOCK_MONOTONIC, SEQ_INCREMENTAL_STATE_CLEARED,
    SEQ_NEEDS_INCREMENTAL_STATE, TRACE_PACKET_FIELD,
};
use super::print::headline;
use crate::{
    check::{Checked, Verdict},
    flows::call::Call,
};

/// The one packet sequence we write.
const SEQUENCE: u32 = 1;

/// Writes the whole trace.
pub fn write(ops: &[Checked], out: &mut impl Write) -> io::Result<()> {
    let mut w = Writer::new(out);
    for c in ops {
        w.op(c)?;
    }
    w.out.flush()
}

/// A value of a debug annotation.
enum Arg<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
}

/// The sequence's state: what is interned and which tracks exist.
struct Writer<'o, W: Write> {
    out: &'o mut W,
    buf: Vec<u8>,
    first: bool,
    event_names: HashMap<&'static str, u64>,
    arg_names: HashMap<&'static str, u64>,
    /// Names interned by the event being built, sent with it.
    fresh: InternedData,
    tracks: HashSet<u64>,
    next_flow: u64,
}

/// A process's track id.
fn process_uuid(tgid: u32) -> u64 {
    1 << 32 | u64::from(tgid)
}

/// A thread's track id.
fn thread_uuid(tid: u32) -> u64 {
    2 << 32 | u64::from(tid)
}

impl<'o, W: Write> Writer<'o, W> {
    fn new(out: &'o mut W) -> Self {
        Writer {
            out,
            buf: Vec::new(),
            first: true,
            event_names: HashMap::new(),
            arg_names: HashMap::new(),
            fresh: InternedData::default(),
            tracks: HashSet::new(),
            next_flow: 1,
        }
    }

    fn emit(&mut self, mut packet: TracePacket) -> io::Result<()> {
        packet.trusted_packet_sequence_id = Some(SEQUENCE);
        packet.sequence_flags = Some(if std::mem::take(&mut self.first) {
            SEQ_INCREMENTAL_STATE_CLEARED
        } else {
            SEQ_NEEDS_INCREMENTAL_STATE
        });
        let fresh = std::mem::take(&mut self.fresh);
        if !fresh.event_names.is_empty() || !fresh.debug_annotation_names.is_empty() {
            packet.interned_data = Some(fresh);
        }
        self.buf.clear();
        encode_key(TRACE_PACKET_FIELD, WireType::LengthDelimited, &mut self.buf);
        packet
            .encode_length_delimited(&mut self.buf)
            .map_err(io::Error::other)?;
        self.out.write_all(&self.buf)
    }

    fn intern(
        map: &mut HashMap<&'static str, u64>,
        fresh: &mut Vec<InternedString>,
        name: &'static str,
    ) -> u64 {
        let next = map.len() as u64 + 1;
        *map.entry(name).or_insert_with(|| {
            fresh.push(InternedString {
                iid: Some(next),
                name: Some(name.to_owned()),
            });
            next
        })
    }

    fn arg(&mut self, name: &'static str, value: Arg) -> DebugAnnotation {
        let iid = Self::intern(
            &mut self.arg_names,
            &mut self.fresh.debug_annotation_names,
            name,
        );
        let mut a = DebugAnnotation {
            name_iid: Some(iid),
            ..DebugAnnotation::default()
        };
        match value {
            Arg::Str(s) => a.string_value = Some(s.to_owned()),
            Arg::Int(i) => a.int_value = Some(i),
            Arg::Bool(b) => a.bool_value = Some(b),
        }
        a
    }

    /// The process and thread tracks of `c`, described once.
    fn tracks(&mut self, c: &Checked) -> io::Result<u64> {
        let op = &c.op;
        let (process, thread) = (process_uuid(op.tgid), thread_uuid(op.tid));
        if self.tracks.insert(process) {
            self.emit(TracePacket {
                track_descriptor: Some(TrackDescriptor {
                    uuid: Some(process),
                    process: Some(ProcessDescriptor {
                        pid: Some(op.tgid as i32),
                        process_name: Some(op.comm.clone()),
                    }),
                    ..TrackDescriptor::default()
                }),
                ..TracePacket::default()
            })?;
        }
        if self.tracks.insert(thread) {
            self.emit(TracePacket {
                track_descriptor: Some(TrackDescriptor {
                    uuid: Some(thread),
                    parent_uuid: Some(process),
                    thread: Some(ThreadDescriptor {
                        pid: Some(op.tgid as i32),
                        tid: Some(op.tid as i32),
                        thread_name: Some(op.comm.clone()),
                    }),
                    ..TrackDescriptor::default()
                }),
                ..TracePacket::default()
            })?;
        }
        Ok(thread)
    }

    fn event(&mut self, ts: u64, event: TrackEvent) -> io::Result<()> {
        self.emit(TracePacket {
            timestamp: Some(ts),
            timestamp_clock_id: Some(CLOCK_MONOTONIC),
            track_event: Some(event),
            ..TracePacket::default()
        })
    }

    fn op(&mut self, c: &Checked) -> io::Result<()> {
        let track = self.tracks(c)?;
        let op = &c.op;
        let end = op.span_end().max(op.start_ns);
        let mut args = vec![
            self.arg("verdict", Arg::Str(c.verdict.name())),
            self.arg("kind", Arg::Str(op.kind.as_str())),
        ];
        if let Some(p) = &op.path {
            args.push(self.arg("path", Arg::Str(p)));
        }
        match &c.verdict {
            Verdict::Match { assumed } if !assumed.is_empty() => {
                args.push(self.arg("assumed", Arg::Str(&assumed.join(", "))));
            }
            Verdict::Unknown { why } | Verdict::Inconclusive { why } => {
                args.push(self.arg("why", Arg::Str(why)));
            }
            Verdict::Match { .. } | Verdict::Divergence { .. } => {}
        }
        // One arrow per show callback the operation reached.
        let mut targets = Vec::new();
        for call in &op.calls {
            show_targets(call, &mut targets);
        }
        let flows: Vec<(&Call, u64)> = targets
            .into_iter()
            .map(|t| {
                self.next_flow += 1;
                (t, self.next_flow - 1)
            })
            .collect();
        self.event(
            op.start_ns,
            TrackEvent {
                r#type: Some(EventType::SliceBegin as i32),
                track_uuid: Some(track),
                name: Some(headline(op)),
                debug_annotations: args,
                flow_ids: flows.iter().map(|(_, id)| *id).collect(),
                ..TrackEvent::default()
            },
        )?;
        if let Verdict::Divergence { at, expected, seen } = &c.verdict {
            let args = vec![
                self.arg("at", Arg::Str(at)),
                self.arg("expected", Arg::Str(expected)),
                self.arg("seen", Arg::Str(seen)),
            ];
            let name_iid = self.name("divergence");
            self.event(
                op.start_ns,
                TrackEvent {
                    r#type: Some(EventType::Instant as i32),
                    track_uuid: Some(track),
                    name_iid: Some(name_iid),
                    debug_annotations: args,
                    ..TrackEvent::default()
                },
            )?;
        }
        for call in &op.calls {
            self.call(call, track, (op.start_ns, end), &flows)?;
        }
        self.end(track, end)
    }

    fn name(&mut self, name: &'static str) -> u64 {
        Self::intern(&mut self.event_names, &mut self.fresh.event_names, name)
    }

    /// A call's slice, kept inside its parent's span so slices nest.
    fn call(
        &mut self,
        c: &Call,
        track: u64,
        (lo, hi): (u64, u64),
        flows: &[(&Call, u64)],
    ) -> io::Result<()> {
        let start = c.start_ns.clamp(lo, hi);
        let end = c.span_end().clamp(start, hi);
        let mut args = Vec::new();
        if let Some(n) = &c.name {
            args.push(self.arg("name", Arg::Str(n)));
        }
        match c.ret {
            Some(r) => args.push(self.arg("ret", Arg::Int(r))),
            None => args.push(self.arg("exit_seen", Arg::Bool(false))),
        }
        if let Some(s) = &c.show {
            args.push(self.arg("show", Arg::Str(s)));
        }
        if let Some(p) = c.pos_in {
            args.push(self.arg("pos_in", Arg::Int(p)));
        }
        if let Some(p) = c.pos_out {
            args.push(self.arg("pos_out", Arg::Int(p)));
        }
        let name_iid = self.name(c.func());
        self.event(
            start,
            TrackEvent {
                r#type: Some(EventType::SliceBegin as i32),
                track_uuid: Some(track),
                name_iid: Some(name_iid),
                debug_annotations: args,
                terminating_flow_ids: flows
                    .iter()
                    .filter(|(t, _)| std::ptr::eq(*t, c))
                    .map(|(_, id)| *id)
                    .collect(),
                ..TrackEvent::default()
            },
        )?;
        for child in &c.children {
            self.call(child, track, (start, end), flows)?;
        }
        self.end(track, end)
    }

    fn end(&mut self, track: u64, ts: u64) -> io::Result<()> {
        self.event(
            ts,
            TrackEvent {
                r#type: Some(EventType::SliceEnd as i32),
                track_uuid: Some(track),
                ..TrackEvent::default()
            },
        )
    }
}

/// The slices where the show callbacks under `c` that produced text ran
/// (not those that only handed over to another).
fn show_targets<'a>(c: &'a Call, out: &mut Vec<&'a Call>) {
    for call in c.walk() {
        if let Some(run) = call.show_run().filter(|r| !r.delegates()) {
            out.push(run.call);
        }
    }
}
