//! Reads recordings without trusting any length: damage is reported with its
//! byte offset and everything before and after it that can be read is kept.

use std::path::Path;

use super::format::{
    record, ChunkHeader, FormatError, Header, CHUNK_HEADER_LEN, CHUNK_MAGIC, MAGIC, MAX_BLOCK,
    PREAMBLE_LEN, VERSION,
};

/// A record of a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Ring-buffer bytes, as the kernel wrote them.
    Event(Vec<u8>),
    /// A kernel symbol.
    Symbol(u64, String),
}

/// One readable chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Byte offset of its header.
    pub offset: u64,
    /// Events lost while it was collected.
    pub lost: u64,
    /// Its records, in order.
    pub records: Vec<Record>,
    /// First and last event time.
    pub first_ts: u64,
    /// See `first_ts`.
    pub last_ts: u64,
}

/// Something unreadable in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Where it starts.
    pub offset: u64,
    /// Bytes passed over.
    pub skipped: u64,
    /// What is wrong, and what was lost.
    pub what: String,
}

/// A recording as read.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The header.
    pub header: Header,
    /// Readable chunks, in file order.
    pub chunks: Vec<Chunk>,
    /// Damage found, in file order.
    pub damage: Vec<Damage>,
    /// File size.
    pub size: u64,
}

impl Recording {
    /// Reads the file at `path`.
    pub fn open(path: &Path) -> Result<Recording, FormatError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| FormatError::Io {
            path: name.clone(),
            source,
        })?;
        Recording::parse(&bytes, &name)
    }

    /// Parses a whole recording; `name` is used in messages.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Recording, FormatError> {
        let (header, mut pos) = parse_header(bytes, name)?;
        let mut rec = Recording {
            header,
            chunks: Vec::new(),
            damage: Vec::new(),
            size: bytes.len() as u64,
        };
        while pos < bytes.len() {
            let rest = &bytes[pos..];
            let Some(h) = ChunkHeader::decode(rest) else {
                let next = find_chunk(bytes, pos + 1);
                let end = next.unwrap_or(bytes.len());
                rec.damage.push(Damage {
                    offset: pos as u64,
                    skipped: (end - pos) as u64,
                    what: if rest.len() < CHUNK_HEADER_LEN && next.is_none() {
                        format!("the file ends inside a chunk header ({} of {CHUNK_HEADER_LEN} bytes): the recorder stopped mid-write", rest.len())
                    } else {
                        "a damaged chunk header; its chunk is lost".to_owned()
                    },
                });
                pos = end;
                continue;
            };
            let body = pos + CHUNK_HEADER_LEN;
            let end = body.saturating_add(h.payload_len as usize);
            if end > bytes.len() {
                rec.damage.push(Damage {
                    offset: pos as u64,
                    skipped: (bytes.len() - pos) as u64,
                    what: format!(
                        "the file ends inside a chunk: its payload needs {} bytes, {} remain (the recorder stopped mid-write); its {} records are lost",
                        h.payload_len,
                        bytes.len() - body.min(bytes.len()),
                        h.records
                    ),
                });
                break;
            }
            match read_chunk(&h, &bytes[body..end]) {
                Ok(records) => rec.chunks.push(Chunk {
                    offset: pos as u64,
                    lost: h.lost,
                    records,
                    first_ts: h.first_ts,
                    last_ts: h.last_ts,
                }),
                Err(why) => rec.damage.push(Damage {
                    offset: pos as u64,
                    skipped: (end - pos) as u64,
                    what: format!("{why}; its {} records are lost", h.records),
                }),
            }
            pos = end;
        }
        Ok(rec)
    }

    /// Events lost in the kernel, from every readable chunk.
    pub fn lost(&self) -> u64 {
        self.chunks.iter().map(|c| c.lost).sum()
    }

    /// Event records in readable chunks.
    pub fn events(&self) -> usize {
        self.chunks
            .iter()
            .flat_map(|c| &c.records)
            .filter(|r| matches!(r, Record::Event(_)))
            .count()
    }
}

fn parse_header(bytes: &[u8], name: &str) -> Result<(Header, usize), FormatError> {
    let bad = |why: String| FormatError::BadHeader {
        path: name.to_owned(),
        why,
    };
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(FormatError::NotARecording {
            path: name.to_owned(),
        });
    }
    if bytes.len() < PREAMBLE_LEN {
        return Err(bad(format!("only {} bytes", bytes.len())));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version > VERSION {
        return Err(FormatError::TooNew {
            path: name.to_owned(),
            found: version,
        });
    }
    let json_len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    if json_len > MAX_BLOCK {
        return Err(bad(format!("a header length of {json_len} bytes")));
    }
    let json_end = PREAMBLE_LEN + json_len as usize;
    let crc_end = json_end + 4;
    if crc_end > bytes.len() {
        return Err(bad(format!(
            "the file ends inside the header ({} of {crc_end} bytes)",
            bytes.len()
        )));
    }
    let crc = u32::from_le_bytes([
        bytes[json_end],
        bytes[json_end + 1],
        bytes[json_end + 2],
        bytes[json_end + 3],
    ]);
    if crc32fast::hash(&bytes[..json_end]) != crc {
        return Err(bad("checksum mismatch".to_owned()));
    }
    let header = serde_json::from_slice(&bytes[PREAMBLE_LEN..json_end])
        .map_err(|e| bad(format!("invalid JSON: {e}")))?;
    Ok((header, crc_end))
}

/// The next offset from `from` where a valid chunk header starts.
fn find_chunk(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at + CHUNK_MAGIC.len() <= bytes.len() {
        let i = bytes[at..]
            .windows(CHUNK_MAGIC.len())
            .position(|w| w == CHUNK_MAGIC)?;
        let candidate = at + i;
        if ChunkHeader::decode(&bytes[candidate..]).is_some() {
            return Some(candidate);
        }
        at = candidate + 1;
    }
    None
}

/// What is wrong with a chunk whose header is sound.
#[derive(Debug, thiserror::Error)]
enum ChunkDamage {
    #[error("a chunk whose payload checksum does not match")]
    Checksum,
    #[error("a chunk that does not decompress ({0})")]
    Compression(std::io::Error),
    #[error("a chunk of {got} bytes where its header says {said}")]
    Length { got: usize, said: u32 },
    #[error("a record header cut at byte {0} of its chunk")]
    CutHeader(usize),
    #[error("a record at byte {0} of its chunk longer than the chunk")]
    LongRecord(usize),
    #[error("an unknown record type {kind} at byte {at} of its chunk")]
    UnknownRecord { kind: u8, at: usize },
    #[error("{got} records where its header says {said}")]
    Count { got: usize, said: u32 },
}

fn read_chunk(h: &ChunkHeader, payload: &[u8]) -> Result<Vec<Record>, ChunkDamage> {
    if crc32fast::hash(payload) != h.payload_crc {
        return Err(ChunkDamage::Checksum);
    }
    let raw =
        zstd::bulk::decompress(payload, h.raw_len as usize).map_err(ChunkDamage::Compression)?;
    if raw.len() != h.raw_len as usize {
        return Err(ChunkDamage::Length {
            got: raw.len(),
            said: h.raw_len,
        });
    }
    let mut records = Vec::with_capacity((h.records as usize).min(1 << 20));
    let mut at = 0;
    while at < raw.len() {
        let (kind, len) = match (raw.get(at), raw.get(at + 1..at + 5)) {
            (Some(k), Some(l)) => (*k, u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize),
            _ => return Err(ChunkDamage::CutHeader(at)),
        };
        let body = raw
            .get(at + 5..(at + 5).saturating_add(len))
            .ok_or(ChunkDamage::LongRecord(at))?;
        records.push(match kind {
            record::EVENT => Record::Event(body.to_vec()),
            record::SYMBOL if body.len() >= 8 => {
                let addr = u64::from_le_bytes(body[..8].try_into().unwrap_or([0; 8]));
                Record::Symbol(addr, String::from_utf8_lossy(&body[8..]).into_owned())
            }
            kind => return Err(ChunkDamage::UnknownRecord { kind, at }),
        });
        at += 5 + len;
    }
    if records.len() != h.records as usize {
        return Err(ChunkDamage::Count {
            got: records.len(),
            said: h.records,
        });
    }
    Ok(records)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::recording::writer::Writer;

    pub(crate) fn header() -> Header {
        Header {
            tool: "test".into(),
            kernel_release: "6.1.0-test".into(),
            kernel_config: vec!["CONFIG_NET".into()],
            kernel_config_source: "running".into(),
            probes: vec![],
            skipped: vec![],
            offsets: vec![],
            clock_monotonic_ns: 1,
            clock_realtime_ns: 2,
            syscalls: true,
            command: vec!["sh".into()],
        }
    }

    /// Three chunks of distinct records; returns the bytes and chunk offsets.
    fn sample() -> (Vec<u8>, Vec<usize>) {
        let mut w = Writer::new(Vec::new(), &header()).unwrap();
        let mut offsets = Vec::new();
        for c in 0..3u8 {
            offsets.push(w.bytes as usize);
            for i in 0..10u8 {
                w.event(&[c, i, 0xAA, 0xBB], u64::from(c) * 100 + u64::from(i) + 1);
            }
            w.symbol(0x1000 + u64::from(c), &format!("fn_{c}"));
            w.flush_chunk(u64::from(c)).unwrap();
        }
        (w.into_inner(), offsets)
    }

    #[test]
    fn round_trip() {
        let (bytes, _) = sample();
        let r = Recording::parse(&bytes, "t").unwrap();
        assert_eq!(r.header, header());
        assert_eq!(r.chunks.len(), 3);
        assert!(r.damage.is_empty());
        assert_eq!(r.events(), 30);
        assert_eq!(r.lost(), 3);
        assert_eq!(
            r.chunks[1].records[0],
            Record::Event(vec![1, 0, 0xAA, 0xBB])
        );
        assert_eq!(
            r.chunks[2].records[10],
            Record::Symbol(0x1002, "fn_2".into())
        );
        assert_eq!((r.chunks[0].first_ts, r.chunks[0].last_ts), (1, 10));
    }

    #[test]
    fn every_truncation_keeps_what_came_before() {
        let (bytes, offsets) = sample();
        for cut in 0..bytes.len() {
            match Recording::parse(&bytes[..cut], "t") {
                Err(_) => assert!(cut < offsets[0], "header intact at cut {cut} yet refused"),
                Ok(r) => {
                    let complete = offsets.iter().skip(1).filter(|o| **o <= cut).count();
                    assert_eq!(r.chunks.len(), complete, "cut {cut}");
                    let partial = !offsets.contains(&cut);
                    assert_eq!(
                        r.damage.len(),
                        usize::from(partial),
                        "cut {cut}: {:?}",
                        r.damage
                    );
                    if let Some(d) = r.damage.first() {
                        assert_eq!(
                            d.offset as usize,
                            *offsets.iter().rev().find(|o| **o < cut).unwrap()
                        );
                        assert!(d.what.contains("stopped mid-write"), "{}", d.what);
                    }
                }
            }
        }
    }

    #[test]
    fn a_flipped_bit_loses_one_chunk_at_most() {
        let (bytes, offsets) = sample();
        for i in offsets[0]..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = bytes.clone();
                bad[i] ^= bit;
                let r = Recording::parse(&bad, "t").unwrap();
                assert!(r.chunks.len() >= 2, "flip at {i} lost more than one chunk");
                assert_eq!(r.damage.len(), 1, "flip at {i}: {:?}", r.damage);
                let hit = offsets.iter().rev().find(|o| **o <= i).unwrap();
                assert_eq!(r.damage[0].offset as usize, *hit, "flip at {i}");
                assert!(r.chunks.iter().all(|c| c.offset as usize != *hit));
            }
        }
    }

    #[test]
    fn header_damage_and_versions() {
        let (bytes, _) = sample();
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(matches!(
            Recording::parse(&bad, "t"),
            Err(FormatError::BadHeader { .. })
        ));
        let mut newer = bytes.clone();
        newer[8..10].copy_from_slice(&2u16.to_le_bytes());
        let err = Recording::parse(&newer, "t").unwrap_err();
        assert!(matches!(err, FormatError::TooNew { found: 2, .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("version 2") && msg.contains("version 1"),
            "{msg}"
        );
        assert!(matches!(
            Recording::parse(b"hello world", "t"),
            Err(FormatError::NotARecording { .. })
        ));
        let mut huge = bytes;
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            Recording::parse(&huge, "t"),
            Err(FormatError::BadHeader { .. })
        ));
    }

    #[test]
    fn garbage_between_chunks_is_skipped_and_reported() {
        let (bytes, offsets) = sample();
        let mut spliced = bytes[..offsets[2]].to_vec();
        spliced.extend_from_slice(b"PTCK garbage that looks like a magic");
        spliced.extend_from_slice(&bytes[offsets[2]..]);
        let r = Recording::parse(&spliced, "t").unwrap();
        assert_eq!(r.chunks.len(), 3);
        assert_eq!(r.damage.len(), 1);
        assert_eq!(r.damage[0].offset as usize, offsets[2]);
        assert_eq!(r.damage[0].skipped, 36);
    }
}
