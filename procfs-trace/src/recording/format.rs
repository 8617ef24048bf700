//! The on-disk layout of a recording (docs/recording-format.md).

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// First bytes of every recording.
pub const MAGIC: &[u8; 8] = b"PFSTRACE";
/// First bytes of every chunk.
pub const CHUNK_MAGIC: &[u8; 4] = b"PTCK";
/// The format version this build writes and the newest it reads.
pub const VERSION: u16 = 1;
/// Bytes before the header's JSON: magic, version, reserved, JSON length.
pub const PREAMBLE_LEN: usize = 16;
/// Bytes of a chunk header.
pub const CHUNK_HEADER_LEN: usize = 56;
/// Largest header JSON, chunk payload or decompressed chunk a reader accepts:
/// anything larger is damage, not data.
pub const MAX_BLOCK: u32 = 64 << 20;

/// Record types inside a chunk's payload.
pub mod record {
    /// A ring-buffer record, byte for byte as the kernel wrote it.
    pub const EVENT: u8 = 1;
    /// A kernel symbol: u64 address, then its name.
    pub const SYMBOL: u8 = 2;
}

/// The header: everything needed to read the events offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The header itself is damaged.
    #[error("{path}: the header is damaged ({why}), so nothing in the file can be trusted")]
    BadHeader {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
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
    /// Events the kernel lost while this chunk's events were collected.
    pub lost: u64,
    /// Time of the first and last event (CLOCK_MONOTONIC ns), 0 when none.
    pub first_ts: u64,
    /// See `first_ts`.
    pub last_ts: u64,
    /// CRC-32 of the compressed payload.
    pub payload_crc: u32,
}

impl ChunkHeader {
    /// The 56 header bytes, with their own CRC last.
    pub fn encode(&self) -> [u8; CHUNK_HEADER_LEN] {
        let mut b = [0u8; CHUNK_HEADER_LEN];
        b[0..4].copy_from_slice(CHUNK_MAGIC);
        b[8..12].copy_from_slice(&self.payload_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.raw_len.to_le_bytes());
        b[16..20].copy_from_slice(&self.records.to_le_bytes());
        b[24..32].copy_from_slice(&self.lost.to_le_bytes());
        b[32..40].copy_from_slice(&self.first_ts.to_le_bytes());
        b[40..48].copy_from_slice(&self.last_ts.to_le_bytes());
        b[48..52].copy_from_slice(&self.payload_crc.to_le_bytes());
        let crc = crc32fast::hash(&b[..52]);
        b[52..56].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses and verifies 56 header bytes; `None` when they are not a valid header.
    pub fn decode(b: &[u8]) -> Option<ChunkHeader> {
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
            lost: u64_at(24),
            first_ts: u64_at(32),
            last_ts: u64_at(40),
            payload_crc: u32_at(48),
        };
        (h.payload_len <= MAX_BLOCK && h.raw_len <= MAX_BLOCK).then_some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_header_round_trip_and_damage() {
        let h = ChunkHeader {
            payload_len: 100,
            raw_len: 400,
            records: 3,
            lost: 7,
            first_ts: 1,
            last_ts: 2,
            payload_crc: 0xdead_beef,
        };
        let b = h.encode();
        assert_eq!(ChunkHeader::decode(&b), Some(h));
        for i in 0..CHUNK_HEADER_LEN {
            let mut bad = b;
            bad[i] ^= 0x10;
            assert_eq!(
                ChunkHeader::decode(&bad),
                None,
                "flip in byte {i} went unnoticed"
            );
        }
        assert_eq!(ChunkHeader::decode(&b[..40]), None);
    }
}
