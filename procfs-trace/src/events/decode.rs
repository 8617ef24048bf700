//! Decodes ring-buffer records, field by field, into owned [`Event`]s.
//!
//! The layout is `procfs_trace_common::ProbeEvent`; reading each field explicitly
//! (instead of casting the bytes) means a short or foreign record is an error,
//! never undefined behaviour.

use bytes::Buf;
use procfs_trace_common::{flags, kind, phase, ProbeEvent, ProbeId, COMM_LEN, NAME_LEN};
use thiserror::Error;

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

/// One probe hit, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
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
    /// Values whose kernel read faulted: "name", "pos", "show".
    pub faults: Vec<&'static str>,
}

const HEADER_LEN: usize = 40;

/// Decodes one ring-buffer record.
pub fn decode(mut buf: &[u8]) -> Result<Event, DecodeError> {
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
    if k != kind::PROBE {
        return Err(DecodeError::UnknownKind(k));
    }
    let need = core::mem::size_of::<ProbeEvent>();
    if len < need {
        return Err(DecodeError::Short { len, need });
    }
    let raw_probe = buf.get_u16_le();
    let probe = ProbeId::from_raw(raw_probe).ok_or(DecodeError::UnknownProbe(raw_probe))?;
    let phase = match buf.get_u8() {
        phase::ENTRY => Phase::Entry,
        phase::EXIT => Phase::Exit,
        other => return Err(DecodeError::BadPhase(other)),
    };
    let fl = buf.get_u8();
    let name_len = usize::from(buf.get_u16_le()).min(NAME_LEN);
    let _reserved = buf.get_u16_le();
    let ret = buf.get_i64_le();
    let pos = buf.get_i64_le();
    let addr = buf.get_u64_le();
    let name_bytes = &buf[..NAME_LEN];

    let has = |bit: u8| fl & bit != 0;
    let faults = [
        (flags::NAME_FAULT, "name"),
        (flags::POS_FAULT, "pos"),
        (flags::ADDR_FAULT, "show"),
    ]
    .iter()
    .filter(|(bit, _)| has(*bit))
    .map(|(_, n)| *n)
    .collect();
    Ok(Event {
        ts_ns,
        tgid,
        tid,
        cpu,
        comm: c_string(&comm),
        probe,
        phase,
        name: has(flags::NAME).then(|| c_string(&name_bytes[..name_len])),
        pos: has(flags::POS).then_some(pos),
        ret: has(flags::RET).then_some(ret),
        addr: has(flags::ADDR).then_some(addr),
        faults,
    })
}

/// Text up to the first NUL, with invalid UTF-8 replaced (names are bytes in Linux).
fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
pub(crate) mod tests {
    use procfs_trace_common::EventHeader;

    use super::*;

    /// The bytes the eBPF side writes for `ev`: its in-memory `repr(C)` image.
    pub(crate) fn kernel_bytes(ev: &ProbeEvent) -> Vec<u8> {
        let size = core::mem::size_of::<ProbeEvent>();
        // SAFETY: ProbeEvent is repr(C) plain data with no padding (size asserted in common).
        unsafe { std::slice::from_raw_parts((ev as *const ProbeEvent).cast::<u8>(), size) }.to_vec()
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

    #[test]
    fn lookup_entry_round_trip() {
        let ev = with_name(raw(ProbeId::ProcRootLookup, phase::ENTRY), "1234");
        let got = decode(&kernel_bytes(&ev)).unwrap();
        assert_eq!(got.ts_ns, 123_456_789);
        assert_eq!((got.tgid, got.tid, got.cpu), (4242, 4243, 1));
        assert_eq!(got.comm, "cat");
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
                let got = decode(&kernel_bytes(&ev)).unwrap();
                assert_eq!(got.probe, def.id);
                assert_eq!(got.phase == Phase::Exit, ph == phase::EXIT);
                assert_eq!(got.ret, Some(-2));
                assert_eq!(got.pos, Some(258));
                assert_eq!(got.addr, Some(0xffff_ffff_8123_4567));
                assert_eq!(got.name, None);
            }
        }
    }

    #[test]
    fn faults_are_reported_not_zeroed() {
        let mut ev = raw(ProbeId::ProcPidGetLink, phase::ENTRY);
        ev.flags = flags::NAME_FAULT | flags::ADDR_FAULT;
        let got = decode(&kernel_bytes(&ev)).unwrap();
        assert_eq!(got.name, None);
        assert_eq!(got.faults, vec!["name", "show"]);
    }

    #[test]
    fn name_len_is_clamped_and_bytes_past_it_ignored() {
        let mut ev = with_name(raw(ProbeId::ProcLookup, phase::ENTRY), "meminfo");
        ev.name_len = 3;
        assert_eq!(
            decode(&kernel_bytes(&ev)).unwrap().name.as_deref(),
            Some("mem")
        );
        ev.name = [b'x'; NAME_LEN];
        ev.name_len = u16::MAX;
        assert_eq!(
            decode(&kernel_bytes(&ev)).unwrap().name.unwrap().len(),
            NAME_LEN
        );
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
