//! The on-disk layout of a recording (docs/recording-format.md).

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::check::mounts::ProcMounts;

/// First bytes of every recording.
pub const MAGIC: &[u8; 8] = b"PFSTRACE";
/// First bytes of every chunk.
pub const CHUNK_MAGIC: &[u8; 4] = b"PTCK";
/// The format version this build writes: it changes whenever
/// [`layout_fingerprint`] does (a test pins the pair), and when a chunk
/// header's field changes meaning (version 5 counts, in what was reserved,
/// the losses no event flags, which an older reader would take for none;
/// version 6 dates each loss reading, which moved the lost count; version 7
/// adds where each lossy reading's window starts, in a record older readers
/// take for damage; version 8 adds the paired kinds, a call and a whole
/// syscall per record; version 9 compresses the header, and chunks as
/// columns, `recording::columns`).
pub const VERSION: u16 = 9;
/// The oldest version this build reads. From version 2 on, headers carry the
/// writer's probe table and event-layout fingerprint, so a file whose event
/// layouts match is decoded through its own probe table even when the
/// writer's table differs (version 3 added probes; version 4 added chdir and
/// fchdir to the syscall table, whose other rows kept their numbers, and
/// proc_thread_self_get_link to the probes).
pub const OLDEST_READABLE: u16 = 2;
/// Bytes before the header's JSON: magic, version, reserved, JSON length.
pub const PREAMBLE_LEN: usize = 16;
/// Bytes of a chunk header.
pub const CHUNK_HEADER_LEN: usize = 56;
/// Largest header JSON a reader accepts, compressed or not: anything larger
/// is damage, not data.
pub const MAX_HEADER: u32 = 1 << 20;
/// Largest chunk payload, compressed or not, and largest chunk of records
/// its columns rebuild, a reader accepts. Writers start a new chunk at
/// [`CHUNK_TARGET`], far below it; a reader holds at most one chunk in each
/// form, so this bounds its memory whatever a file says.
pub const MAX_CHUNK: u32 = 16 << 20;
/// Decompressed bytes after which a writer closes its chunk early.
pub const CHUNK_TARGET: usize = 4 << 20;

/// Record types inside a chunk's payload.
pub mod record {
    /// A ring-buffer record, byte for byte as the kernel wrote it.
    pub const EVENT: u8 = 1;
    /// A kernel symbol: u64 address, then its name.
    pub const SYMBOL: u8 = 2;
    /// Where the losses the chunk's reading counted may have begun: u64
    /// CLOCK_MONOTONIC ns, when the previous reading began (version 7 on;
    /// at most one per chunk, in chunks with losses and a reading).
    pub const WINDOW: u8 = 3;
}

/// The header: everything needed to read the events offline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// procfs-trace version that wrote the file.
    pub tool: String,
    /// `uname -r` of the traced kernel.
    pub kernel_release: String,
    /// Config options of the traced kernel the model uses (=y or =m).
    pub kernel_config: Vec<String>,
    /// Where that config came from ("running" or "debian X.Y").
    pub kernel_config_source: String,
    /// The probes attached, with how their arguments were read.
    pub probes: Vec<ProbeRecord>,
    /// Functions absent from that kernel.
    pub skipped: Vec<String>,
    /// Struct offsets of the filters and syscall arguments.
    pub offsets: Vec<(String, u32)>,
    /// CLOCK_MONOTONIC and CLOCK_REALTIME at the start, in ns: event times are
    /// monotonic; the pair dates them.
    pub clock_monotonic_ns: u64,
    /// See `clock_monotonic_ns`.
    pub clock_realtime_ns: u64,
    /// Whether syscalls were followed.
    pub syscalls: bool,
    /// The command line that made the recording.
    pub command: Vec<String>,
    /// [`layout_fingerprint`] of the writer: its event layouts, probe table
    /// and syscall table.
    pub layout: String,
    /// [`event_fingerprint`] of the writer: its event layouts alone.
    pub event_layout: String,
    /// The writer's probe table, function names by probe id, so a reader
    /// whose table differs decodes the file's ids through the file's own table.
    pub probe_table: Vec<String>,
    /// Where proc was mounted besides /proc when the recording began.
    #[serde(default)]
    pub proc_mounts: ProcMounts,
}

impl Header {
    /// A header whose layout fields describe this build, the rest empty.
    pub fn of_this_build() -> Header {
        Header {
            layout: layout_fingerprint(),
            event_layout: event_fingerprint(),
            probe_table: probe_table(),
            ..Header::default()
        }
    }
}

/// One attached probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRecord {
    /// Kernel function.
    pub func: String,
    /// kallsyms symbol attached to.
    pub symbol: String,
    /// `kprobe` or `fentry`.
    #[serde(default)]
    pub method: String,
    /// Pointer walks as `(what, argument index, offsets)`.
    pub chains: Vec<(String, u8, Vec<i32>)>,
}

/// Why a recording cannot be read at all (damage inside is reported, not fatal).
#[derive(Debug, Error)]
pub enum FormatError {
    /// Not a recording.
    #[error("{path}: not a procfs-trace recording (it does not start with PFSTRACE)")]
    NotARecording {
        /// The file.
        path: String,
    },
    /// Written by a newer procfs-trace.
    #[error("{path}: recording format version {found} is newer than this procfs-trace reads (version {VERSION}); replay it with a newer procfs-trace")]
    TooNew {
        /// The file.
        path: String,
        /// Its version.
        found: u16,
    },
    /// Written in a layout this build cannot decode.
    #[error("{path}: written by {tool} in recording format version {version}{why}; record it again with this procfs-trace, or replay it with the build that wrote it")]
    OtherLayout {
        /// The file.
        path: String,
        /// The writer, from the header.
        tool: String,
        /// Its format version.
        version: u16,
        /// What makes it unreadable.
        why: &'static str,
    },
    /// The header itself is damaged.
    #[error("{path}: the header is damaged ({why}), so nothing in the file can be trusted")]
    BadHeader {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// A chunk header declares more than any writer produces.
    #[error("{path}: a chunk at byte {offset} declares {len} bytes, more than the {MAX_CHUNK} a reader holds; the file is damaged or crafted")]
    Oversized {
        /// The file.
        path: String,
        /// The chunk's offset.
        offset: u64,
        /// The length it declares.
        len: u32,
    },
    /// Reading failed (the cause follows in the error chain).
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// The fixed fields of a chunk header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    /// Compressed payload bytes.
    pub payload_len: u32,
    /// Decompressed payload bytes.
    pub raw_len: u32,
    /// Records in the payload.
    pub records: u32,
    /// Events the kernel lost while this chunk's events were collected
    /// (saturated at `u32::MAX` from version 6).
    pub lost: u64,
    /// Of `lost`, the losses no event flags (see `agent::sink::Lost`),
    /// saturated at `u32::MAX`; 0 in files before version 5.
    pub unflagged: u32,
    /// CLOCK_MONOTONIC ns just after the loss counters were read for this
    /// chunk; 0 when it closed without a reading, and in files before
    /// version 6.
    pub losses_read_ns: u64,
    /// Time of the first and last event (CLOCK_MONOTONIC ns), 0 when none.
    pub first_ts: u64,
    /// See `first_ts`.
    pub last_ts: u64,
    /// CRC-32 of the compressed payload.
    pub payload_crc: u32,
}

impl ChunkHeader {
    /// The 56 header bytes of this build's version, with their own CRC last.
    pub fn encode(&self) -> [u8; CHUNK_HEADER_LEN] {
        let mut b = [0u8; CHUNK_HEADER_LEN];
        b[0..4].copy_from_slice(CHUNK_MAGIC);
        let lost = u32::try_from(self.lost).unwrap_or(u32::MAX);
        b[4..8].copy_from_slice(&lost.to_le_bytes());
        b[8..12].copy_from_slice(&self.payload_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.raw_len.to_le_bytes());
        b[16..20].copy_from_slice(&self.records.to_le_bytes());
        b[20..24].copy_from_slice(&self.unflagged.to_le_bytes());
        b[24..32].copy_from_slice(&self.losses_read_ns.to_le_bytes());
        b[32..40].copy_from_slice(&self.first_ts.to_le_bytes());
        b[40..48].copy_from_slice(&self.last_ts.to_le_bytes());
        b[48..52].copy_from_slice(&self.payload_crc.to_le_bytes());
        let crc = crc32fast::hash(&b[..52]);
        b[52..56].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses and verifies 56 header bytes of a file in format `version`;
    /// `None` when they are not a valid header.
    pub fn decode(b: &[u8], version: u16) -> Option<ChunkHeader> {
        let b: &[u8; CHUNK_HEADER_LEN] = b.get(..CHUNK_HEADER_LEN)?.try_into().ok()?;
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        if &b[0..4] != CHUNK_MAGIC || crc32fast::hash(&b[..52]) != u32_at(52) {
            return None;
        }
        let h = ChunkHeader {
            payload_len: u32_at(8),
            raw_len: u32_at(12),
            records: u32_at(16),
            unflagged: u32_at(20),
            lost: match version {
                ..6 => u64_at(24),
                _ => u64::from(u32_at(4)),
            },
            losses_read_ns: match version {
                ..6 => 0,
                _ => u64_at(24),
            },
            first_ts: u64_at(32),
            last_ts: u64_at(40),
            payload_crc: u32_at(48),
        };
        Some(h)
    }

    /// Whether its lengths are within what a reader holds.
    pub fn within_limits(&self) -> bool {
        self.payload_len <= MAX_CHUNK && self.raw_len <= MAX_CHUNK
    }
}

/// The event layouts as text: each struct's size and its fields' offsets, so
/// reordering a field changes it as much as adding one.
fn event_layout() -> String {
    format!("{}; {}", unpaired_layout(), paired_layout())
}

/// The layouts of the paired kinds, call and whole syscall (version 8 on).
fn paired_layout() -> String {
    use core::mem::{offset_of, size_of};
    use procfs_trace_common::{CallEvent as C, SyscallCallEvent as S};
    format!(
        "call {} probe@{} entry_flags@{} exit_flags@{} name_len@{} entry_seq@{} exit_seq@{} \
         call_flags@{} frame_ns@{} entry_ns@{} ret@{} entry_pos@{} exit_pos@{} addr@{} name@{}; \
         syscall_call {} nr@{} flags@{} path_len@{} at_flags@{} exit_ns@{} fd@{} ret@{} path@{}",
        size_of::<C>(),
        offset_of!(C, probe),
        offset_of!(C, entry_flags),
        offset_of!(C, exit_flags),
        offset_of!(C, name_len),
        offset_of!(C, entry_seq),
        offset_of!(C, exit_seq),
        offset_of!(C, call_flags),
        offset_of!(C, frame_ns),
        offset_of!(C, entry_ns),
        offset_of!(C, ret),
        offset_of!(C, entry_pos),
        offset_of!(C, exit_pos),
        offset_of!(C, addr),
        offset_of!(C, name),
        size_of::<S>(),
        offset_of!(S, nr),
        offset_of!(S, flags),
        offset_of!(S, path_len),
        offset_of!(S, at_flags),
        offset_of!(S, exit_ns),
        offset_of!(S, fd),
        offset_of!(S, ret),
        offset_of!(S, path),
    )
}

/// The layouts of the header and the entry-or-exit kinds: all a file
/// before version 8 holds.
fn unpaired_layout() -> String {
    use core::mem::{offset_of, size_of};
    use procfs_trace_common::{EventHeader as H, ProbeEvent as P, SyscallEvent as S};
    format!(
        "header {} ts_ns@{} tgid@{} tid@{} cpu@{} kind@{} size@{} comm@{}; \
         probe {} probe@{} phase@{} flags@{} name_len@{} ret@{} pos@{} addr@{} name@{}; \
         syscall {} nr@{} phase@{} flags@{} path_len@{} at_flags@{} fd@{} ret@{} path@{}",
        size_of::<H>(),
        offset_of!(H, ts_ns),
        offset_of!(H, tgid),
        offset_of!(H, tid),
        offset_of!(H, cpu),
        offset_of!(H, kind),
        offset_of!(H, size),
        offset_of!(H, comm),
        size_of::<P>(),
        offset_of!(P, probe),
        offset_of!(P, phase),
        offset_of!(P, flags),
        offset_of!(P, name_len),
        offset_of!(P, ret),
        offset_of!(P, pos),
        offset_of!(P, addr),
        offset_of!(P, name),
        size_of::<S>(),
        offset_of!(S, nr),
        offset_of!(S, phase),
        offset_of!(S, flags),
        offset_of!(S, path_len),
        offset_of!(S, at_flags),
        offset_of!(S, fd),
        offset_of!(S, ret),
        offset_of!(S, path),
    )
}

fn fingerprint(text: &str) -> String {
    format!("{:08x}", crc32fast::hash(text.as_bytes()))
}

/// Fingerprint of the event layouts alone: a file whose layout differs
/// cannot be decoded by this build.
pub fn event_fingerprint() -> String {
    fingerprint(&event_layout())
}

/// Whether this build decodes the events of a file of `version` whose
/// event layouts have fingerprint `layout`: its own, or, before version 8
/// (no paired kinds), its entry-or-exit kinds'.
pub fn decodes_layout(version: u16, layout: &str) -> bool {
    layout == event_fingerprint() || version < 8 && layout == fingerprint(&unpaired_layout())
}

/// Fingerprint of everything a recording's records depend on: the event
/// layouts, the probe table and the syscall table.
pub fn layout_fingerprint() -> String {
    let probes: Vec<&str> = procfs_trace_common::PROBES.iter().map(|p| p.func).collect();
    let syscalls: Vec<String> = procfs_trace_common::SYSCALLS
        .iter()
        .map(|s| format!("{}={}/{}", s.name, s.syscall as u32, s.shape))
        .collect();
    fingerprint(&format!(
        "{}; probes {}; syscalls {}",
        event_layout(),
        probes.join(","),
        syscalls.join(",")
    ))
}

/// This build's probe table, function names by id, as headers carry it.
pub fn probe_table() -> Vec<String> {
    procfs_trace_common::PROBES
        .iter()
        .map(|p| p.func.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any change to an event layout, the probe table or the syscall table
    /// changes the fingerprint and fails here: bump VERSION, describe the
    /// change in docs/recording-format.md, and pin the new pair.
    #[test]
    fn the_version_follows_the_layout() {
        assert_eq!((VERSION, layout_fingerprint().as_str()), (9, "c2918326"));
    }

    /// Files before version 8 hold only the entry-or-exit kinds, whose
    /// layouts have not changed since version 2: this build decodes them.
    #[test]
    fn older_files_with_the_unpaired_layouts_are_decoded() {
        assert!(decodes_layout(2, "28fd7ff2"));
        assert!(decodes_layout(7, "28fd7ff2"));
        assert!(!decodes_layout(8, "28fd7ff2"));
        assert!(decodes_layout(8, &event_fingerprint()));
        assert!(!decodes_layout(7, "12345678"));
    }

    #[test]
    fn chunk_header_round_trip_and_damage() {
        let h = ChunkHeader {
            payload_len: 100,
            raw_len: 400,
            records: 3,
            lost: 7,
            unflagged: 5,
            losses_read_ns: 9,
            first_ts: 1,
            last_ts: 2,
            payload_crc: 0xdead_beef,
        };
        let b = h.encode();
        assert_eq!(ChunkHeader::decode(&b, VERSION), Some(h));
        for i in 0..CHUNK_HEADER_LEN {
            let mut bad = b;
            bad[i] ^= 0x10;
            assert_eq!(
                ChunkHeader::decode(&bad, VERSION),
                None,
                "flip in byte {i} went unnoticed"
            );
        }
        assert_eq!(ChunkHeader::decode(&b[..40], VERSION), None);
    }

    /// Before version 6 the lost count was a u64 at 24, and no reading was
    /// dated.
    #[test]
    fn version_5_chunk_headers_keep_their_layout() {
        let mut b = [0u8; CHUNK_HEADER_LEN];
        b[0..4].copy_from_slice(CHUNK_MAGIC);
        b[20..24].copy_from_slice(&3u32.to_le_bytes());
        b[24..32].copy_from_slice(&(5u64 << 32).to_le_bytes());
        let crc = crc32fast::hash(&b[..52]);
        b[52..56].copy_from_slice(&crc.to_le_bytes());
        let h = ChunkHeader::decode(&b, 5).unwrap();
        assert_eq!((h.lost, h.unflagged, h.losses_read_ns), (5 << 32, 3, 0));
    }
}
