//! Reading a BTF blob: the header, the type and string sections, and the
//! index of every type record by id and of named types by name.

use std::path::Path;

use super::{types::*, Btf, BtfError};

impl Btf {
    /// Parses a raw BTF blob.
    pub fn parse(data: &[u8]) -> Result<Btf, BtfError> {
        let truncated = |offset: usize, what: &str| BtfError::Truncated {
            offset,
            what: what.to_string(),
        };
        let magic = read_u16(data, 0).ok_or_else(|| truncated(data.len(), "the BTF magic"))?;
        if magic != BTF_MAGIC {
            return Err(BtfError::NotBtf { found: magic });
        }
        let header = data
            .get(..HEADER_LEN)
            .ok_or_else(|| truncated(data.len(), "the BTF header"))?;
        let field = |off: usize| read_u32(header, off).unwrap_or(0);
        let version = header.get(2).copied().unwrap_or(0);
        if version != 1 {
            return Err(BtfError::UnsupportedVersion { version });
        }
        let hdr_len = field(4) as usize;
        if hdr_len < HEADER_LEN {
            return Err(BtfError::Malformed {
                type_id: 0,
                what: format!(
                    "header length {hdr_len} is shorter than the {HEADER_LEN}-byte minimum"
                ),
            });
        }
        // Section offsets are relative to the end of the header, whose length
        // may grow in newer kernels; the unknown tail is ignored.
        let section = |off: u32, len: u32, what: &str| -> Result<&[u8], BtfError> {
            let start = hdr_len.checked_add(off as usize);
            let end = start.and_then(|s| s.checked_add(len as usize));
            match (start, end) {
                (Some(start), Some(end)) => data
                    .get(start..end)
                    .ok_or_else(|| truncated(data.len(), what)),
                _ => Err(truncated(data.len(), what)),
            }
        };
        if data.len() < hdr_len {
            return Err(truncated(data.len(), "the BTF header"));
        }
        let types_sec = section(field(8), field(12), "the type section")?;
        let strings = section(field(16), field(20), "the string section")?;
        let types_base = hdr_len.saturating_add(field(8) as usize);

        let mut btf = Btf {
            types_sec: types_sec.into(),
            strings: strings.into(),
            types: Vec::with_capacity(types_sec.len() / 24 + 1),
            named: Vec::new(),
        };
        btf.types.push(VOID);
        btf.index_records(types_base)?;
        Ok(btf)
    }

    /// Reads and parses a file (e.g. /sys/kernel/btf/vmlinux); the error names the path.
    pub fn from_file(path: &Path) -> Result<Btf, BtfError> {
        let data = std::fs::read(path).map_err(|source| BtfError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Btf::parse(&data).map_err(|cause| BtfError::InFile {
            path: path.to_path_buf(),
            cause: Box::new(cause),
        })
    }

    #[cfg(test)]
    /// Number of types, not counting void (so the largest valid type id).
    pub(super) fn type_count(&self) -> usize {
        self.types.len().saturating_sub(1)
    }

    /// Single pass over the type section: records every type's position and
    /// indexes the names that lookups start from.
    pub(super) fn index_records(&mut self, types_base: usize) -> Result<(), BtfError> {
        let sec = &self.types_sec;
        let mut pos = 0usize;
        while pos < sec.len() {
            let type_id = u32::try_from(self.types.len()).map_err(|_| BtfError::Malformed {
                type_id: u32::MAX,
                what: "more than 2^32 types".to_string(),
            })?;
            let truncated = |what: String| BtfError::Truncated {
                offset: types_base.saturating_add(sec.len()),
                what,
            };
            let (name_off, info, size_or_type) = match (
                read_u32(sec, pos),
                read_u32(sec, pos + 4),
                read_u32(sec, pos + 8),
            ) {
                (Some(a), Some(b), Some(c)) => (a, b, c),
                _ => return Err(truncated(format!("the record of type id {type_id}"))),
            };
            let kind = ((info >> 24) & 0x1f) as u8;
            let vlen = (info & 0xffff) as u16;
            let extra = extra_len(kind, vlen).ok_or(BtfError::UnknownKind { kind, type_id })?;
            let data = pos + RECORD_LEN;
            let end = data + extra;
            if end > sec.len() {
                return Err(truncated(format!(
                    "the {} members/data of type id {type_id} ({})",
                    vlen,
                    kind_name(kind)
                )));
            }
            let data = u32::try_from(data).map_err(|_| BtfError::Malformed {
                type_id,
                what: "type section larger than 4 GiB".to_string(),
            })?;
            self.types.push(TypeRec {
                name_off,
                kind,
                kind_flag: info >> 31 != 0,
                vlen,
                size_or_type,
                data,
            });
            if name_off != 0 && matches!(kind, KIND_STRUCT | KIND_UNION | KIND_FWD | KIND_FUNC) {
                let name = str_at(&self.strings, name_off)?;
                self.named.push((name_hash(name), type_id));
            }
            pos = end;
        }
        self.named.sort_unstable();
        Ok(())
    }
}
