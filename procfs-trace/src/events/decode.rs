//! Decodes ring-buffer records, field by field, into owned [`Event`]s.
//!
//! The layout is `procfs_trace_common::ProbeEvent`; reading each field explicitly
//! (instead of casting the bytes) means a short or foreign record is an error,
//! never undefined behaviour.

use bytes::Buf;
use procfs_trace_common::{
    call_flags, flags, kind, phase, syscall_flags, CallEvent, EventHeader, ProbeEvent, ProbeId,
    Role, Syscall, SyscallCallEvent, SyscallEvent, COMM_LEN, NAME_LEN, PATH_LEN,
};
use thiserror::Error;

use crate::model::mount::MountOpts;

/// A record that cannot be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the header or body needs.
    #[error("record of {len} bytes is shorter than the {need} bytes its kind needs")]
    Short {
        /// Bytes received.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// A kind this build does not know (eBPF object and agent out of step).
    #[error("unknown event kind {0}: the eBPF programs and the agent are from different builds")]
    UnknownKind(u16),
    /// A probe id outside the table.
    #[error("unknown probe id {0}: the eBPF programs and the agent are from different builds")]
    UnknownProbe(u16),
    /// A phase byte other than entry or exit.
    #[error("invalid phase {0}")]
    BadPhase(u8),
    /// A syscall number the eBPF side should not have reported.
    #[error(
        "unexpected syscall number {0}: the eBPF programs and the agent are from different builds"
    )]
    UnknownSyscall(u32),
}

/// Entry into or return from a probed function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// kprobe.
    Entry,
    /// kretprobe.
    Exit,
}

/// Who and when: the fields every event has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// CLOCK_MONOTONIC nanoseconds.
    pub ts_ns: u64,
    /// Process id.
    pub tgid: u32,
    /// Thread id.
    pub tid: u32,
    /// CPU.
    pub cpu: u32,
    /// Task name.
    pub comm: String,
}

/// One probe hit, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeHit {
    /// Who and when.
    pub origin: Origin,
    /// The probed function.
    pub probe: ProbeId,
    /// Entry or exit.
    pub phase: Phase,
    /// Dentry or file name, when read.
    pub name: Option<String>,
    /// Readdir position, when read.
    pub pos: Option<i64>,
    /// Return value (exit).
    pub ret: Option<i64>,
    /// Show callback address, when read.
    pub addr: Option<u64>,
    /// The proc mount's options, when read ([`Role::MountOpts`] probes).
    pub mount: Option<MountOpts>,
    /// The thread's id in the proc mount's pid namespace ([`Role::SelfLink`]
    /// probes; their `pos` is the tgid there).
    pub ns_tid: Option<i64>,
    /// Values whose kernel read faulted: "name", "pos", "show", "mount".
    pub faults: Vec<&'static str>,
}

/// Entry into or exit from a syscall that reached procfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallHit {
    /// Who and when (entry time for entries).
    pub origin: Origin,
    /// The syscall.
    pub syscall: Syscall,
    /// Entry or exit.
    pub phase: Phase,
    /// The fd or directory-fd argument.
    pub fd: i64,
    /// The path argument (entry).
    pub path: Option<String>,
    /// Whether reading the path faulted.
    pub path_fault: bool,
    /// The `AT_*` flags argument (newfstatat, statx), else 0.
    pub at_flags: u32,
    /// Return value (exit).
    pub ret: Option<i64>,
    /// On an exit: some of this syscall's events could not be written.
    pub lost: bool,
}

/// A probed call inside a followed syscall, whose entry and exit the kernel
/// wrote as one record when it returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallHit {
    /// Its entry, unless the kernel saw only the exit.
    pub entry: Option<ProbeHit>,
    /// Its exit.
    pub exit: ProbeHit,
    /// The entry's place in its syscall's sequence of entries and exits.
    pub entry_seq: u16,
    /// The exit's place there.
    pub exit_seq: u16,
    /// Entry time of the syscall it is in: that syscall's entry `ts_ns`.
    pub frame_ns: u64,
}

/// A decoded ring-buffer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A probed kernel function's entry or exit.
    Probe(ProbeHit),
    /// A syscall's entry or exit.
    Syscall(SyscallHit),
    /// A probed call, entry and exit (the `pairs` module puts them in order).
    Call(Box<CallHit>),
    /// A followed syscall, entry and exit; its calls' records came before it.
    SyscallCall(Box<[SyscallHit; 2]>),
}

impl Event {
    /// Who and when (when the record was written, for the paired kinds).
    pub fn origin(&self) -> &Origin {
        match self {
            Event::Probe(p) => &p.origin,
            Event::Syscall(s) => &s.origin,
            Event::Call(c) => &c.exit.origin,
            Event::SyscallCall(s) => &s[1].origin,
        }
    }
}

const HEADER_LEN: usize = 40;

/// Where the header's `kind` is.
const KIND_AT: usize = core::mem::offset_of!(EventHeader, kind);

/// Decodes one ring-buffer record of this build's eBPF programs.
pub fn decode(buf: &[u8]) -> Result<Event, DecodeError> {
    decode_as(buf, ProbeId::from_raw)
}

/// Decodes one record whose probe ids `probe` maps to this build's probes
/// (a recording carries the table of the build that wrote it).
pub fn decode_as(
    mut buf: &[u8],
    probe: impl Fn(u16) -> Option<ProbeId>,
) -> Result<Event, DecodeError> {
    let len = buf.len();
    if len < HEADER_LEN {
        return Err(DecodeError::Short {
            len,
            need: HEADER_LEN,
        });
    }
    let ts_ns = buf.get_u64_le();
    let tgid = buf.get_u32_le();
    let tid = buf.get_u32_le();
    let cpu = buf.get_u32_le();
    let k = buf.get_u16_le();
    let _size = buf.get_u16_le();
    let mut comm = [0u8; COMM_LEN];
    buf.copy_to_slice(&mut comm);
    let origin = Origin {
        ts_ns,
        tgid,
        tid,
        cpu,
        comm: c_string(&comm),
    };
    let need = match k {
        kind::PROBE => core::mem::size_of::<ProbeEvent>(),
        kind::SYSCALL => core::mem::size_of::<SyscallEvent>(),
        kind::CALL => core::mem::size_of::<CallEvent>(),
        kind::SYSCALL_CALL => core::mem::size_of::<SyscallCallEvent>(),
        other => return Err(DecodeError::UnknownKind(other)),
    };
    if len < need {
        return Err(DecodeError::Short { len, need });
    }
    match k {
        kind::PROBE => decode_probe(origin, buf, probe).map(Event::Probe),
        kind::SYSCALL => decode_syscall(origin, buf).map(Event::Syscall),
        kind::CALL => decode_call(origin, buf, probe).map(|c| Event::Call(Box::new(c))),
        _ => decode_syscall_call(origin, buf).map(|s| Event::SyscallCall(Box::new(s))),
    }
}

fn decode_phase(raw: u8) -> Result<Phase, DecodeError> {
    match raw {
        phase::ENTRY => Ok(Phase::Entry),
        phase::EXIT => Ok(Phase::Exit),
        other => Err(DecodeError::BadPhase(other)),
    }
}

/// The body of a probe event; `buf` holds at least the body's bytes.
fn decode_probe(
    origin: Origin,
    mut buf: &[u8],
    probe: impl Fn(u16) -> Option<ProbeId>,
) -> Result<ProbeHit, DecodeError> {
    let raw_probe = buf.get_u16_le();
    let probe = probe(raw_probe).ok_or(DecodeError::UnknownProbe(raw_probe))?;
    let phase = decode_phase(buf.get_u8())?;
    let fl = buf.get_u8();
    let name_len = usize::from(buf.get_u16_le()).min(NAME_LEN);
    let _reserved = buf.get_u16_le();
    let ret = buf.get_i64_le();
    let pos = buf.get_i64_le();
    let addr = buf.get_u64_le();
    let fields = Fields {
        flags: fl,
        name: &buf[..name_len],
        ret,
        pos,
        addr,
    };
    Ok(probe_hit(origin, probe, phase, &fields))
}

/// The body of a call record; `buf` holds at least the body's bytes.
fn decode_call(
    origin: Origin,
    mut buf: &[u8],
    probe: impl Fn(u16) -> Option<ProbeId>,
) -> Result<CallHit, DecodeError> {
    let raw_probe = buf.get_u16_le();
    let probe = probe(raw_probe).ok_or(DecodeError::UnknownProbe(raw_probe))?;
    let entry_flags = buf.get_u8();
    let exit_flags = buf.get_u8();
    let name_len = usize::from(buf.get_u16_le()).min(NAME_LEN);
    let entry_seq = buf.get_u16_le();
    let exit_seq = buf.get_u16_le();
    let cf = buf.get_u16_le();
    let _reserved = buf.get_u32_le();
    let frame_ns = buf.get_u64_le();
    let entry_ns = buf.get_u64_le();
    let ret = buf.get_i64_le();
    let entry_pos = buf.get_i64_le();
    let exit_pos = buf.get_i64_le();
    let addr = buf.get_u64_le();
    let entry = (cf & call_flags::NO_ENTRY == 0).then(|| {
        let origin = Origin {
            ts_ns: entry_ns,
            ..origin.clone()
        };
        let fields = Fields {
            flags: entry_flags,
            name: &buf[..name_len],
            ret: 0,
            pos: entry_pos,
            addr,
        };
        probe_hit(origin, probe, Phase::Entry, &fields)
    });
    let fields = Fields {
        flags: exit_flags,
        name: &[],
        ret,
        pos: exit_pos,
        addr: 0,
    };
    Ok(CallHit {
        entry,
        exit: probe_hit(origin, probe, Phase::Exit, &fields),
        entry_seq,
        exit_seq,
        frame_ns,
    })
}

/// A probe event's fields, as read; `flags` says which are valid.
struct Fields<'a> {
    flags: u8,
    name: &'a [u8],
    ret: i64,
    pos: i64,
    addr: u64,
}

fn probe_hit(origin: Origin, probe: ProbeId, phase: Phase, f: &Fields) -> ProbeHit {
    let has = |bit: u8| f.flags & bit != 0;
    // The same eight bytes are a show callback or what the probe's role says.
    let role = probe.def().role;
    let read_addr = has(flags::ADDR).then_some(f.addr);
    let mount_role = role == Role::MountOpts;
    let faults = [
        (flags::NAME_FAULT, "name"),
        (flags::POS_FAULT, "pos"),
        (flags::ADDR_FAULT, if mount_role { "mount" } else { "show" }),
    ]
    .iter()
    .filter(|(bit, _)| has(*bit))
    .map(|(_, n)| *n)
    .collect();
    ProbeHit {
        origin,
        probe,
        phase,
        name: has(flags::NAME).then(|| c_string(f.name)),
        pos: has(flags::POS).then_some(f.pos),
        ret: has(flags::RET).then_some(f.ret),
        addr: read_addr.filter(|_| role != Role::MountOpts && role != Role::SelfLink),
        mount: read_addr
            .filter(|_| role == Role::MountOpts)
            .map(MountOpts::from_raw),
        ns_tid: read_addr
            .filter(|_| role == Role::SelfLink)
            .map(|a| a as i64),
        faults,
    }
}

/// The body of a syscall event; `buf` holds at least the body's bytes.
fn decode_syscall(origin: Origin, mut buf: &[u8]) -> Result<SyscallHit, DecodeError> {
    let nr = buf.get_u32_le();
    let syscall = Syscall::from_nr(u64::from(nr)).ok_or(DecodeError::UnknownSyscall(nr))?;
    let phase = decode_phase(buf.get_u8())?;
    let fl = buf.get_u8();
    let path_len = usize::from(buf.get_u16_le()).min(PATH_LEN);
    let at_flags = buf.get_u32_le();
    let _reserved = buf.get_u32_le();
    // Every fd argument is a C int: the register's upper half is no part of
    // it (`mov $-100, %edi` zero-extends AT_FDCWD to 0xffffff9c).
    let fd = i64::from(buf.get_i64_le() as i32);
    let ret = buf.get_i64_le();
    let path = &buf[..PATH_LEN];
    let has = |bit: u8| fl & bit != 0;
    Ok(SyscallHit {
        origin,
        syscall,
        phase,
        fd,
        path: has(syscall_flags::PATH).then(|| c_string(&path[..path_len])),
        path_fault: has(syscall_flags::PATH_FAULT),
        at_flags,
        ret: has(syscall_flags::RET).then_some(ret),
        lost: has(syscall_flags::LOST),
    })
}

/// The body of a syscall record, entry and exit; `buf` holds at least the
/// body's bytes.
fn decode_syscall_call(origin: Origin, mut buf: &[u8]) -> Result<[SyscallHit; 2], DecodeError> {
    let nr = buf.get_u32_le();
    let syscall = Syscall::from_nr(u64::from(nr)).ok_or(DecodeError::UnknownSyscall(nr))?;
    let fl = buf.get_u8();
    let _reserved8 = buf.get_u8();
    let path_len = usize::from(buf.get_u16_le()).min(PATH_LEN);
    let at_flags = buf.get_u32_le();
    let _reserved = buf.get_u32_le();
    let exit_ns = buf.get_u64_le();
    // As in `decode_syscall`: a C int.
    let fd = i64::from(buf.get_i64_le() as i32);
    let ret = buf.get_i64_le();
    let has = |bit: u8| fl & bit != 0;
    let exit_origin = Origin {
        ts_ns: exit_ns,
        ..origin.clone()
    };
    Ok([
        SyscallHit {
            origin,
            syscall,
            phase: Phase::Entry,
            fd,
            path: has(syscall_flags::PATH).then(|| c_string(&buf[..path_len])),
            path_fault: has(syscall_flags::PATH_FAULT),
            at_flags,
            ret: None,
            lost: false,
        },
        SyscallHit {
            origin: exit_origin,
            syscall,
            phase: Phase::Exit,
            fd,
            path: None,
            path_fault: false,
            at_flags,
            ret: has(syscall_flags::RET).then_some(ret),
            lost: has(syscall_flags::LOST) || has(syscall_flags::UNCLOSED),
        },
    ])
}

/// How many leading bytes of a record carry anything: a probe event's name
/// and a syscall event's path are fixed buffers of which only the first
/// `name_len` or `path_len` bytes are written, the rest being whatever the
/// ring held before. The whole record is significant when its kind is unknown
/// or its length field out of range, so decoding reports it as it is.
pub fn significant_len(raw: &[u8]) -> usize {
    use core::mem::{offset_of, size_of};
    let len_at = |at: usize| {
        raw.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let (len_field, buf, cap, size) = match raw.get(KIND_AT..KIND_AT + 2) {
        Some(&[a, b]) if u16::from_le_bytes([a, b]) == kind::PROBE => (
            offset_of!(ProbeEvent, name_len),
            offset_of!(ProbeEvent, name),
            NAME_LEN,
            size_of::<ProbeEvent>(),
        ),
        Some(&[a, b]) if u16::from_le_bytes([a, b]) == kind::SYSCALL => (
            offset_of!(SyscallEvent, path_len),
            offset_of!(SyscallEvent, path),
            PATH_LEN,
            size_of::<SyscallEvent>(),
        ),
        Some(&[a, b]) if u16::from_le_bytes([a, b]) == kind::CALL => (
            offset_of!(CallEvent, name_len),
            offset_of!(CallEvent, name),
            NAME_LEN,
            size_of::<CallEvent>(),
        ),
        Some(&[a, b]) if u16::from_le_bytes([a, b]) == kind::SYSCALL_CALL => (
            offset_of!(SyscallCallEvent, path_len),
            offset_of!(SyscallCallEvent, path),
            PATH_LEN,
            size_of::<SyscallCallEvent>(),
        ),
        _ => return raw.len(),
    };
    match len_at(len_field) {
        Some(n) if usize::from(n) <= cap && raw.len() == size => buf + usize::from(n),
        _ => raw.len(),
    }
}

/// Text up to the first NUL, with invalid UTF-8 replaced (names are bytes in Linux).
fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let text = &bytes[..end];
    // Names are valid UTF-8 nearly always, and checking is faster than
    // converting lossily.
    match std::str::from_utf8(text) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(text).into_owned(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use procfs_trace_common::EventHeader;

    use super::*;

    /// The bytes the eBPF side writes for `ev`: its in-memory `repr(C)` image.
    pub(crate) fn kernel_bytes<T: Copy>(ev: &T) -> Vec<u8> {
        let size = core::mem::size_of::<T>();
        // SAFETY: only used with the repr(C) event types, which have no padding
        // (sizes asserted in procfs-trace-common).
        unsafe { std::slice::from_raw_parts((ev as *const T).cast::<u8>(), size) }.to_vec()
    }

    /// Decodes bytes that must hold a probe event.
    pub(crate) fn probe(bytes: &[u8]) -> ProbeHit {
        match decode(bytes).unwrap() {
            Event::Probe(p) => p,
            other => panic!("expected a probe event, got {other:?}"),
        }
    }

    pub(crate) fn syscall_event(nr: u32, ph: u8, path: &str) -> SyscallEvent {
        let mut ev = SyscallEvent {
            header: raw(ProbeId::ProcRootLookup, 0).header,
            nr,
            phase: ph,
            flags: 0,
            path_len: path.len() as u16,
            at_flags: 0x100,
            reserved: 0,
            fd: -100,
            ret: 0,
            path: [0x55; PATH_LEN],
        };
        ev.header.kind = kind::SYSCALL;
        ev.header.size = core::mem::size_of::<SyscallEvent>() as u16;
        ev.path[..path.len()].copy_from_slice(path.as_bytes());
        ev
    }

    pub(crate) fn raw(probe: ProbeId, ph: u8) -> ProbeEvent {
        let mut comm = [0u8; COMM_LEN];
        comm[..3].copy_from_slice(b"cat");
        ProbeEvent {
            header: EventHeader {
                ts_ns: 123_456_789,
                tgid: 4242,
                tid: 4243,
                cpu: 1,
                kind: kind::PROBE,
                size: core::mem::size_of::<ProbeEvent>() as u16,
                comm,
            },
            probe: probe as u16,
            phase: ph,
            flags: 0,
            name_len: 0,
            reserved: 0,
            ret: 0,
            pos: 0,
            addr: 0,
            name: [0xAA; NAME_LEN],
        }
    }

    pub(crate) fn with_name(mut ev: ProbeEvent, name: &str) -> ProbeEvent {
        ev.name[..name.len()].copy_from_slice(name.as_bytes());
        ev.name[name.len()] = 0;
        ev.name_len = name.len() as u16;
        ev.flags |= flags::NAME;
        ev
    }

    /// A call record of `probe` in the syscall that began at `frame_ns`.
    pub(crate) fn call_event(
        probe: ProbeId,
        seqs: (u16, u16),
        frame_ns: u64,
        times: (u64, u64),
        name: &str,
    ) -> CallEvent {
        let base = with_name(raw(probe, phase::ENTRY), name);
        let mut header = base.header;
        header.kind = kind::CALL;
        header.size = core::mem::size_of::<CallEvent>() as u16;
        header.ts_ns = times.1;
        CallEvent {
            header,
            probe: probe as u16,
            entry_flags: flags::NAME,
            exit_flags: flags::RET,
            name_len: base.name_len,
            entry_seq: seqs.0,
            exit_seq: seqs.1,
            call_flags: 0,
            reserved: 0,
            frame_ns,
            entry_ns: times.0,
            ret: 0,
            entry_pos: 0,
            exit_pos: 0,
            addr: 0,
            name: base.name,
        }
    }

    /// A whole-syscall record of `nr` from `entry_ns` to `exit_ns`.
    pub(crate) fn syscall_call_event(
        nr: u32,
        path: &str,
        (entry_ns, exit_ns): (u64, u64),
        ret: i64,
    ) -> SyscallCallEvent {
        let base = syscall_event(nr, phase::ENTRY, path);
        let mut header = base.header;
        header.kind = kind::SYSCALL_CALL;
        header.size = core::mem::size_of::<SyscallCallEvent>() as u16;
        header.ts_ns = entry_ns;
        SyscallCallEvent {
            header,
            nr,
            flags: syscall_flags::PATH | syscall_flags::RET,
            reserved8: 0,
            path_len: base.path_len,
            at_flags: base.at_flags,
            reserved: 0,
            exit_ns,
            fd: base.fd,
            ret,
            path: base.path,
        }
    }

    #[test]
    fn a_call_record_holds_its_entry_and_exit() {
        let mut ev = call_event(ProbeId::ProcTgidBaseReaddir, (3, 8), 50, (100, 190), "1234");
        ev.entry_flags |= flags::POS | flags::ADDR_FAULT;
        ev.exit_flags |= flags::POS;
        (ev.entry_pos, ev.exit_pos, ev.ret) = (2, 17, -13);
        let Event::Call(c) = decode(&kernel_bytes(&ev)).unwrap() else {
            panic!("not a call")
        };
        assert_eq!((c.entry_seq, c.exit_seq, c.frame_ns), (3, 8, 50));
        let entry = c.entry.expect("entry seen");
        assert_eq!((entry.phase, entry.origin.ts_ns), (Phase::Entry, 100));
        assert_eq!(entry.name.as_deref(), Some("1234"));
        assert_eq!((entry.pos, entry.ret), (Some(2), None));
        assert_eq!(entry.faults, ["show"]);
        assert_eq!((c.exit.phase, c.exit.origin.ts_ns), (Phase::Exit, 190));
        assert_eq!(
            (c.exit.pos, c.exit.ret, c.exit.name.as_deref()),
            (Some(17), Some(-13), None)
        );
        assert_eq!(
            (c.exit.origin.tid, c.exit.origin.comm.as_str()),
            (4243, "cat")
        );

        ev.call_flags = call_flags::NO_ENTRY;
        let Event::Call(c) = decode(&kernel_bytes(&ev)).unwrap() else {
            panic!("not a call")
        };
        assert_eq!(c.entry, None);
        // The name's unwritten tail is not part of the record.
        assert_eq!(significant_len(&kernel_bytes(&ev)), 104 + 4);
    }

    #[test]
    fn a_syscall_record_holds_its_entry_and_exit() {
        let mut ev = syscall_call_event(257, "/proc/1/limits", (10, 90), 3);
        let Event::SyscallCall(s) = decode(&kernel_bytes(&ev)).unwrap() else {
            panic!("not a syscall record")
        };
        let [entry, exit] = *s;
        assert_eq!((entry.phase, entry.origin.ts_ns), (Phase::Entry, 10));
        assert_eq!(entry.path.as_deref(), Some("/proc/1/limits"));
        assert_eq!((entry.ret, entry.fd, entry.at_flags), (None, -100, 0x100));
        assert_eq!(
            (exit.phase, exit.origin.ts_ns, exit.ret),
            (Phase::Exit, 90, Some(3))
        );
        assert!(!exit.lost);
        for bit in [syscall_flags::LOST, syscall_flags::UNCLOSED] {
            ev.flags = syscall_flags::RET | bit;
            let Event::SyscallCall(s) = decode(&kernel_bytes(&ev)).unwrap() else {
                panic!("not a syscall record")
            };
            assert!(s[1].lost && s[0].path.is_none(), "flag {bit}");
        }
        let bytes = kernel_bytes(&ev);
        assert_eq!(significant_len(&bytes), 80 + "/proc/1/limits".len());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn lookup_entry_round_trip() {
        let ev = with_name(raw(ProbeId::ProcRootLookup, phase::ENTRY), "1234");
        let got = probe(&kernel_bytes(&ev));
        assert_eq!(got.origin.ts_ns, 123_456_789);
        assert_eq!(
            (got.origin.tgid, got.origin.tid, got.origin.cpu),
            (4242, 4243, 1)
        );
        assert_eq!(got.origin.comm, "cat");
        assert_eq!(got.probe, ProbeId::ProcRootLookup);
        assert_eq!(got.phase, Phase::Entry);
        assert_eq!(got.name.as_deref(), Some("1234"));
        assert_eq!((got.pos, got.ret, got.addr), (None, None, None));
        assert!(got.faults.is_empty());
    }

    #[test]
    fn every_probe_and_phase_round_trips() {
        for def in procfs_trace_common::PROBES {
            for ph in [phase::ENTRY, phase::EXIT] {
                let mut ev = raw(def.id, ph);
                ev.flags = flags::RET | flags::POS | flags::ADDR;
                ev.ret = -2;
                ev.pos = 258;
                ev.addr = 0xffff_ffff_8123_4567;
                let got = probe(&kernel_bytes(&ev));
                assert_eq!(got.probe, def.id);
                assert_eq!(got.phase == Phase::Exit, ph == phase::EXIT);
                assert_eq!(got.ret, Some(-2));
                assert_eq!(got.pos, Some(258));
                // The same eight bytes are a show callback or, for the
                // probes that read them, the mount's options.
                let raw = 0xffff_ffff_8123_4567_u64;
                let want = match def.role {
                    Role::MountOpts => (None, Some(MountOpts::from_raw(raw)), None),
                    Role::SelfLink => (None, None, Some(raw as i64)),
                    _ => (Some(raw), None, None),
                };
                assert_eq!((got.addr, got.mount, got.ns_tid), want);
                assert_eq!(got.name, None);
            }
        }
    }

    #[test]
    fn mount_options_decode_into_hidepid_and_subset() {
        let mut ev = raw(ProbeId::PidRevalidate, phase::ENTRY);
        ev.flags = flags::ADDR;
        ev.addr = 2 | (1 << 32);
        let got = probe(&kernel_bytes(&ev)).mount.expect("read");
        assert_eq!((got.hidepid, got.subset_pid), (2, true));
        // Not read (an older recording): unknown, not the defaults.
        ev.flags = 0;
        assert_eq!(probe(&kernel_bytes(&ev)).mount, None);
        ev.flags = flags::ADDR_FAULT;
        assert_eq!(probe(&kernel_bytes(&ev)).faults, ["mount"]);
    }

    #[test]
    fn faults_are_reported_not_zeroed() {
        let mut ev = raw(ProbeId::ProcPidGetLink, phase::ENTRY);
        ev.flags = flags::NAME_FAULT | flags::ADDR_FAULT;
        let got = probe(&kernel_bytes(&ev));
        assert_eq!(got.name, None);
        assert_eq!(got.faults, vec!["name", "show"]);
    }

    #[test]
    fn name_len_is_clamped_and_bytes_past_it_ignored() {
        let mut ev = with_name(raw(ProbeId::ProcLookup, phase::ENTRY), "meminfo");
        ev.name_len = 3;
        assert_eq!(probe(&kernel_bytes(&ev)).name.as_deref(), Some("mem"));
        ev.name = [b'x'; NAME_LEN];
        ev.name_len = u16::MAX;
        assert_eq!(probe(&kernel_bytes(&ev)).name.unwrap().len(), NAME_LEN);
    }

    #[test]
    fn syscall_entry_and_exit_round_trip() {
        let mut ev = syscall_event(257, phase::ENTRY, "/proc/1/limits");
        ev.flags = syscall_flags::PATH;
        ev.fd = -100;
        let Event::Syscall(got) = decode(&kernel_bytes(&ev)).unwrap() else {
            panic!("not a syscall")
        };
        assert_eq!(got.syscall, Syscall::Openat);
        assert_eq!(got.phase, Phase::Entry);
        assert_eq!(got.path.as_deref(), Some("/proc/1/limits"));
        assert_eq!((got.fd, got.ret, got.path_fault), (-100, None, false));
        assert_eq!(got.at_flags, 0x100);
        // AT_FDCWD as a register holds it after a 32-bit move.
        ev.fd = 0xffff_ff9c;
        let Event::Syscall(got) = decode(&kernel_bytes(&ev)).unwrap() else {
            panic!("not a syscall")
        };
        assert_eq!(got.fd, -100);

        let mut ev = syscall_event(0, phase::EXIT, "");
        ev.flags = syscall_flags::RET;
        ev.fd = 3;
        ev.ret = 1323;
        let mut lost = ev;
        lost.flags |= syscall_flags::LOST;
        let Event::Syscall(got) = decode(&kernel_bytes(&lost)).unwrap() else {
            panic!("not a syscall")
        };
        assert!(got.lost);
        let Event::Syscall(got) = decode(&kernel_bytes(&ev)).unwrap() else {
            panic!("not a syscall")
        };
        assert_eq!(
            (got.syscall, got.fd, got.ret, got.path),
            (Syscall::Read, 3, Some(1323), None)
        );

        let mut ev = syscall_event(4, phase::ENTRY, "");
        ev.flags = syscall_flags::PATH_FAULT;
        let Event::Syscall(got) = decode(&kernel_bytes(&ev)).unwrap() else {
            panic!("not a syscall")
        };
        assert!(got.path_fault && got.path.is_none());
    }

    #[test]
    fn every_followed_syscall_decodes_and_others_are_refused() {
        for def in procfs_trace_common::SYSCALLS {
            let nr = def.syscall.nr();
            let ev = syscall_event(nr, phase::ENTRY, "");
            let Event::Syscall(got) = decode(&kernel_bytes(&ev)).unwrap() else {
                panic!("not a syscall")
            };
            assert_eq!(got.syscall, def.syscall);
            assert_eq!(got.syscall.name(), def.name);
            assert_ne!(def.shape, procfs_trace_common::shape::NONE, "{}", def.name);
            assert_eq!(procfs_trace_common::syscall_shape(u64::from(nr)), def.shape);
        }
        let ev = syscall_event(1, phase::ENTRY, "");
        assert_eq!(
            decode(&kernel_bytes(&ev)),
            Err(DecodeError::UnknownSyscall(1))
        );
        let bytes = kernel_bytes(&syscall_event(0, phase::EXIT, ""));
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn short_and_foreign_records_are_errors() {
        let ev = raw(ProbeId::SeqReadIter, phase::EXIT);
        let bytes = kernel_bytes(&ev);
        for cut in 0..bytes.len() {
            assert!(
                matches!(decode(&bytes[..cut]), Err(DecodeError::Short { .. })),
                "cut {cut}"
            );
        }
        let mut bad = ev;
        bad.probe = 999;
        assert_eq!(
            decode(&kernel_bytes(&bad)),
            Err(DecodeError::UnknownProbe(999))
        );
        let mut bad = ev;
        bad.phase = 7;
        assert_eq!(decode(&kernel_bytes(&bad)), Err(DecodeError::BadPhase(7)));
        let mut bad = ev;
        bad.header.kind = 77;
        assert_eq!(
            decode(&kernel_bytes(&bad)),
            Err(DecodeError::UnknownKind(77))
        );
    }
}
