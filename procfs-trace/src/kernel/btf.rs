//! A minimal reader of the kernel's BTF (BPF Type Format), e.g. `/sys/kernel/btf/vmlinux`.
//!
//! Only what the tracer needs is decoded: struct/union member offsets and the
//! parameter types of kernel functions. Every kind's record length is still
//! parsed, since records are variable-length and a single misread would shift
//! every later type id.

use std::path::{Path, PathBuf};

const BTF_MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
const RECORD_LEN: usize = 12;

const KIND_INT: u8 = 1;
const KIND_PTR: u8 = 2;
const KIND_ARRAY: u8 = 3;
const KIND_STRUCT: u8 = 4;
const KIND_UNION: u8 = 5;
const KIND_ENUM: u8 = 6;
const KIND_FWD: u8 = 7;
const KIND_TYPEDEF: u8 = 8;
const KIND_VOLATILE: u8 = 9;
const KIND_CONST: u8 = 10;
const KIND_RESTRICT: u8 = 11;
const KIND_FUNC: u8 = 12;
const KIND_FUNC_PROTO: u8 = 13;
const KIND_VAR: u8 = 14;
const KIND_DATASEC: u8 = 15;
const KIND_FLOAT: u8 = 16;
const KIND_DECL_TAG: u8 = 17;
const KIND_TYPE_TAG: u8 = 18;
const KIND_ENUM64: u8 = 19;

/// Longest typedef/qualifier chain followed; real kernels need a handful, so
/// hitting this means a cycle in corrupt data rather than a deep type.
const MAX_CHAIN: usize = 64;
/// Nesting limit for anonymous members, to keep recursion off the stack's edge.
const MAX_ANON_DEPTH: u32 = 32;
/// Members examined per path segment; bounds the work a crafted blob can force
/// through fan-out of anonymous members (each level may repeat the one below).
const MEMBER_BUDGET: u32 = 100_000;

/// Errors from reading BTF or looking things up in it.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    /// The data does not start with the BTF magic.
    #[error(
        "not BTF data (magic {found:#06x}, expected 0xeb9f): pass the kernel's BTF, \
         normally /sys/kernel/btf/vmlinux (needs CONFIG_DEBUG_INFO_BTF=y)"
    )]
    NotBtf {
        /// The first two bytes, read little-endian.
        found: u16,
    },
    /// The header announces a BTF version this parser does not know.
    #[error(
        "unsupported BTF version {version} (only version 1 is understood): \
         update procfs-trace to a release that supports this kernel"
    )]
    UnsupportedVersion {
        /// Version byte from the header.
        version: u8,
    },
    /// The data ends (or a section ends) before a structure that should be there.
    #[error(
        "BTF data truncated at byte {offset} while reading {what}: the file is incomplete \
         or corrupt; re-read it from /sys/kernel/btf/vmlinux rather than a partial copy"
    )]
    Truncated {
        /// Byte offset (from the start of the blob) where data ran out.
        offset: usize,
        /// What was being read.
        what: String,
    },
    /// A type record has a kind this parser does not know.
    #[error(
        "unknown BTF kind {kind} for type id {type_id}: the kernel's BTF is newer than \
         this parser; update procfs-trace"
    )]
    UnknownKind {
        /// Kind number from the record's info word.
        kind: u8,
        /// Id the record would have had.
        type_id: u32,
    },
    /// A name offset points outside the string section or at a malformed string.
    #[error(
        "BTF string at offset {offset} is {problem}: the BTF is corrupt, or it is split \
         (module) BTF that needs its vmlinux base; use /sys/kernel/btf/vmlinux"
    )]
    BadString {
        /// Offset into the string section.
        offset: u32,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A type refers to a type id that does not exist.
    #[error(
        "BTF refers to type id {id} but has only {count} types: the BTF is corrupt, or it is \
         split (module) BTF that needs its vmlinux base; use /sys/kernel/btf/vmlinux"
    )]
    DanglingType {
        /// The missing id.
        id: u32,
        /// Number of types present, including void.
        count: usize,
    },
    /// A typedef/qualifier chain or anonymous-member nesting is too deep, most likely a cycle.
    #[error(
        "type chain at BTF id {id} is too deep or cyclic: the BTF is corrupt; \
         re-read /sys/kernel/btf/vmlinux"
    )]
    TooDeep {
        /// Type id where the walk gave up.
        id: u32,
    },
    /// A record is structurally readable but makes no sense (e.g. a FUNC not pointing at a FUNC_PROTO).
    #[error("malformed BTF at type id {type_id}: {what}; the BTF is corrupt, re-read /sys/kernel/btf/vmlinux")]
    Malformed {
        /// Offending type id.
        type_id: u32,
        /// What is wrong.
        what: String,
    },
    /// No struct or union has this name.
    #[error(
        "no struct or union named `{name}` in the kernel's BTF: this kernel lacks it \
         (renamed or configured out); check the name against this kernel's headers"
    )]
    NoSuchType {
        /// Requested name.
        name: String,
    },
    /// The type is only forward-declared, so its layout is unknown.
    #[error(
        "struct or union `{name}` is only forward-declared in the kernel's BTF, so its layout \
         is unknown: read the field through a different, fully described type"
    )]
    Incomplete {
        /// Requested name.
        name: String,
    },
    /// The member path does not exist in the type.
    #[error(
        "`{type_name}` has no member `{member}` in the kernel's BTF: the field was renamed or \
         moved in this kernel; check it against this kernel's headers"
    )]
    NoSuchMember {
        /// Top-level struct or union the path started from.
        type_name: String,
        /// Path prefix up to and including the segment that was not found.
        member: String,
    },
    /// The member is a bitfield, which has no byte offset.
    #[error(
        "`{type_name}.{member}` is a bitfield and has no byte offset: read the enclosing \
         word instead and mask the bits"
    )]
    Bitfield {
        /// Top-level struct or union the path started from.
        type_name: String,
        /// Path prefix up to and including the bitfield.
        member: String,
    },
    /// A path continues past a member that is not an embedded struct or union.
    #[error(
        "`{type_name}.{member}` is a {kind}, not an embedded struct or union, so the path \
         cannot continue past it: a pointer must be dereferenced separately"
    )]
    NotComposite {
        /// Top-level struct or union the path started from.
        type_name: String,
        /// Path prefix up to and including the non-composite member.
        member: String,
        /// BTF kind of that member, after peeling typedefs and qualifiers.
        kind: &'static str,
    },
    /// The member path is empty or has an empty segment.
    #[error("invalid member path `{path}`: use dot-separated member names like `f_path.dentry`")]
    InvalidPath {
        /// The path as given.
        path: String,
    },
    /// The offset does not fit in 32 bits.
    #[error("offset of `{type_name}.{member}` overflows 32 bits: the BTF is corrupt")]
    OffsetOverflow {
        /// Top-level struct or union.
        type_name: String,
        /// Path as given.
        member: String,
    },
    /// No function of this name is described in BTF.
    #[error(
        "no function `{name}` in the kernel's BTF: it is inlined, renamed, or not built into \
         this kernel (module functions live in /sys/kernel/btf/<module>); choose another probe point"
    )]
    NoSuchFunction {
        /// Requested name.
        name: String,
    },
    /// The file could not be read.
    #[error(
        "cannot read BTF file {}: {source}; the kernel needs CONFIG_DEBUG_INFO_BTF=y and \
         reading it may need root", path.display()
    )]
    Io {
        /// File that was being read.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file was read but its contents are not valid BTF.
    #[error("{}: {cause}", path.display())]
    InFile {
        /// File that was parsed.
        path: PathBuf,
        /// Why parsing failed.
        cause: Box<BtfError>,
    },
}

/// One parameter of a kernel function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Parameter name as recorded in BTF (may be empty).
    pub name: String,
    /// Simplified parameter type.
    pub ty: ParamType,
}

/// What a parameter is, after peeling typedef/const/volatile/restrict/type_tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamType {
    /// Pointer to a named struct or union; `struct dentry *` gives `"dentry"`.
    PtrToStruct(String),
    /// Any other pointer (to void, an integer, an anonymous struct, a function...).
    PtrToOther,
    /// An integer, `bool`, or enum, with its size in bytes.
    Int {
        /// Size in bytes.
        size: u32,
    },
    /// Anything else (struct by value, float, ...).
    Other,
}

/// Decoded fixed part of one type record.
#[derive(Debug, Clone, Copy)]
struct TypeRec {
    name_off: u32,
    kind: u8,
    kind_flag: bool,
    vlen: u16,
    /// `size` or `type` depending on the kind.
    size_or_type: u32,
    /// Offset of the kind-specific data inside the type section.
    data: u32,
}

const VOID: TypeRec = TypeRec {
    name_off: 0,
    kind: 0,
    kind_flag: false,
    vlen: 0,
    size_or_type: 0,
    data: 0,
};

/// A member found by name, with its offset relative to the searched composite.
struct FoundMember {
    bit_off: u64,
    ty: u32,
    bitfield: bool,
}

/// Parsed BTF, indexed by type id.
#[derive(Debug)]
pub struct Btf {
    types_sec: Box<[u8]>,
    strings: Box<[u8]>,
    /// Index = type id; entry 0 stands for void.
    types: Vec<TypeRec>,
    /// `(name hash, type id)` of structs, unions, forward declarations and
    /// functions, sorted; integer keys avoid allocating ~70k name strings.
    named: Vec<(u64, u32)>,
}

fn read_u16(data: &[u8], off: usize) -> Option<u16> {
    let bytes = data.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes(bytes.try_into().ok()?))
}

fn read_u32(data: &[u8], off: usize) -> Option<u32> {
    let bytes = data.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

fn kind_name(kind: u8) -> &'static str {
    match kind {
        0 => "void",
        KIND_INT => "int",
        KIND_PTR => "pointer",
        KIND_ARRAY => "array",
        KIND_STRUCT => "struct",
        KIND_UNION => "union",
        KIND_ENUM => "enum",
        KIND_FWD => "forward declaration",
        KIND_TYPEDEF => "typedef",
        KIND_VOLATILE => "volatile",
        KIND_CONST => "const",
        KIND_RESTRICT => "restrict",
        KIND_FUNC => "function",
        KIND_FUNC_PROTO => "function prototype",
        KIND_VAR => "variable",
        KIND_DATASEC => "data section",
        KIND_FLOAT => "float",
        KIND_DECL_TAG => "decl tag",
        KIND_TYPE_TAG => "type tag",
        KIND_ENUM64 => "enum64",
        _ => "unknown kind",
    }
}

/// Bytes of kind-specific data following the 12-byte record, or `None` for an unknown kind.
fn extra_len(kind: u8, vlen: u16) -> Option<usize> {
    let vlen = usize::from(vlen);
    Some(match kind {
        KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
        | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => 0,
        KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
        KIND_ARRAY => 12,
        KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => vlen * 12,
        KIND_ENUM | KIND_FUNC_PROTO => vlen * 8,
        _ => return None,
    })
}

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
    fn type_count(&self) -> usize {
        self.types.len().saturating_sub(1)
    }

    /// Single pass over the type section: records every type's position and
    /// indexes the names that lookups start from.
    fn index_records(&mut self, types_base: usize) -> Result<(), BtfError> {
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

    fn get(&self, id: u32) -> Result<&TypeRec, BtfError> {
        self.types.get(id as usize).ok_or(BtfError::DanglingType {
            id,
            count: self.types.len(),
        })
    }

    fn name(&self, rec: &TypeRec) -> Result<&str, BtfError> {
        str_at(&self.strings, rec.name_off)
    }

    /// Follows typedefs and qualifiers to the type they stand for.
    fn peel(&self, mut id: u32) -> Result<u32, BtfError> {
        for _ in 0..MAX_CHAIN {
            let rec = self.get(id)?;
            match rec.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = rec.size_or_type
                }
                _ => return Ok(id),
            }
        }
        Err(BtfError::TooDeep { id })
    }

    /// The kind-specific data of a record, as `vlen` entries of `entry_len` bytes.
    fn entries(&self, id: u32, rec: &TypeRec, entry_len: usize) -> Result<&[u8], BtfError> {
        let start = rec.data as usize;
        let end = start.saturating_add(usize::from(rec.vlen) * entry_len);
        self.types_sec
            .get(start..end)
            .ok_or_else(|| BtfError::Malformed {
                type_id: id,
                what: "member data outside the type section".to_string(),
            })
    }

    /// Picks the struct/union for `name`: a definition with members beats an
    /// empty one, which beats a forward declaration; ties go to the lowest id.
    fn find_composite(&self, name: &str) -> Result<u32, BtfError> {
        let mut fwd = false;
        let mut empty = None;
        for (id, rec) in self.named(name) {
            match rec.kind {
                KIND_STRUCT | KIND_UNION if rec.vlen > 0 => return Ok(id),
                KIND_STRUCT | KIND_UNION => empty = empty.or(Some(id)),
                KIND_FWD => fwd = true,
                _ => {}
            }
        }
        let name = name.to_string();
        match (empty, fwd) {
            (Some(id), _) => Ok(id),
            (None, true) => Err(BtfError::Incomplete { name }),
            (None, false) => Err(BtfError::NoSuchType { name }),
        }
    }

    /// Indexed types called `name`, in id order.
    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (u32, &'a TypeRec)> + 'a {
        let hash = name_hash(name);
        let start = self.named.partition_point(|&(h, _)| h < hash);
        self.named
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(move |&&(h, _)| h == hash)
            .filter_map(move |&(_, id)| {
                let rec = self.types.get(id as usize)?;
                (str_at(&self.strings, rec.name_off).ok()? == name).then_some((id, rec))
            })
    }

    /// Searches a struct/union for a named member, descending into anonymous
    /// struct/union members as C name lookup does.
    fn find_member(
        &self,
        comp: u32,
        name: &str,
        depth: u32,
        budget: &mut u32,
    ) -> Result<Option<FoundMember>, BtfError> {
        if depth > MAX_ANON_DEPTH {
            return Err(BtfError::TooDeep { id: comp });
        }
        let rec = *self.get(comp)?;
        let members = self.entries(comp, &rec, 12)?;
        for m in members.chunks_exact(12) {
            *budget = budget
                .checked_sub(1)
                .ok_or(BtfError::TooDeep { id: comp })?;
            let (m_name, m_type, m_off) = match (read_u32(m, 0), read_u32(m, 4), read_u32(m, 8)) {
                (Some(a), Some(b), Some(c)) => (a, b, c),
                _ => continue,
            };
            // With kind_flag the offset word packs the bitfield size above a
            // 24-bit bit offset; without it, bitfields are encoded in the INT type.
            let (bit_off, bitfield_size) = if rec.kind_flag {
                (m_off & 0xff_ffff, m_off >> 24)
            } else {
                (m_off, 0)
            };
            if m_name == 0 {
                let inner = self.peel(m_type)?;
                if matches!(self.get(inner)?.kind, KIND_STRUCT | KIND_UNION) {
                    if let Some(mut found) = self.find_member(inner, name, depth + 1, budget)? {
                        found.bit_off += u64::from(bit_off);
                        return Ok(Some(found));
                    }
                }
                continue;
            }
            if str_at(&self.strings, m_name)? != name {
                continue;
            }
            let bitfield =
                bitfield_size != 0 || bit_off % 8 != 0 || self.is_int_bitfield(m_type)?;
            return Ok(Some(FoundMember {
                bit_off: u64::from(bit_off),
                ty: m_type,
                bitfield,
            }));
        }
        Ok(None)
    }

    /// Whether an INT type describes a bitfield (legacy encoding without kind_flag).
    fn is_int_bitfield(&self, id: u32) -> Result<bool, BtfError> {
        let rec = self.get(id)?;
        if rec.kind != KIND_INT {
            return Ok(false);
        }
        let enc = read_u32(&self.types_sec, rec.data as usize).ok_or(BtfError::Malformed {
            type_id: id,
            what: "int data outside the type section".to_string(),
        })?;
        let bits = enc & 0xff;
        let offset = (enc >> 16) & 0xff;
        Ok(offset != 0 || u64::from(bits) != u64::from(rec.size_or_type) * 8)
    }

    /// Byte offset of a member path inside a struct or union, e.g. ("file", "f_path.dentry"), ("dentry", "d_name.name"), ("proc_inode", "op.proc_show").
    /// Each path segment is looked up through anonymous struct/union members (name_off == 0) recursively, and
    /// through typedef/const/volatile to the embedded struct for the next segment. Fails on a bitfield member or a
    /// segment that is not a struct/union when more segments follow.
    pub fn member_offset(&self, type_name: &str, path: &str) -> Result<u32, BtfError> {
        let invalid = || BtfError::InvalidPath {
            path: path.to_string(),
        };
        if path.is_empty() {
            return Err(invalid());
        }
        let mut cur = self.find_composite(type_name)?;
        let mut total_bits: u64 = 0;
        let mut consumed = 0usize;
        let mut segments = path.split('.').peekable();
        while let Some(seg) = segments.next() {
            if seg.is_empty() {
                return Err(invalid());
            }
            consumed += seg.len() + usize::from(consumed != 0);
            let prefix = || path.get(..consumed).unwrap_or(path).to_string();
            let mut budget = MEMBER_BUDGET;
            let found = self.find_member(cur, seg, 0, &mut budget)?.ok_or_else(|| {
                BtfError::NoSuchMember {
                    type_name: type_name.to_string(),
                    member: prefix(),
                }
            })?;
            if found.bitfield {
                return Err(BtfError::Bitfield {
                    type_name: type_name.to_string(),
                    member: prefix(),
                });
            }
            total_bits = total_bits.saturating_add(found.bit_off);
            if segments.peek().is_some() {
                let next = self.peel(found.ty)?;
                let kind = self.get(next)?.kind;
                if !matches!(kind, KIND_STRUCT | KIND_UNION) {
                    return Err(BtfError::NotComposite {
                        type_name: type_name.to_string(),
                        member: prefix(),
                        kind: kind_name(kind),
                    });
                }
                cur = next;
            }
        }
        u32::try_from(total_bits / 8).map_err(|_| BtfError::OffsetOverflow {
            type_name: type_name.to_string(),
            member: path.to_string(),
        })
    }

    /// The parameters of a kernel function (BTF_KIND_FUNC -> FUNC_PROTO), in order.
    ///
    /// A trailing `...` of variadic functions is left out. When several
    /// functions share the name (statics in different files), the first is used.
    pub fn func_params(&self, func: &str) -> Result<Vec<Param>, BtfError> {
        let (proto_id, proto) = self.func_proto(func)?;
        let entries = self.entries(proto_id, &proto, 8)?;
        let mut params = Vec::with_capacity(usize::from(proto.vlen));
        for p in entries.chunks_exact(8) {
            let (name_off, ty) = match (read_u32(p, 0), read_u32(p, 4)) {
                (Some(a), Some(b)) => (a, b),
                _ => continue,
            };
            if name_off == 0 && ty == 0 {
                continue;
            }
            params.push(Param {
                name: str_at(&self.strings, name_off)?.to_string(),
                ty: self.classify(ty)?,
            });
        }
        Ok(params)
    }

    /// The BTF type id of a kernel function (what fentry programs attach by).
    pub fn func_id(&self, func: &str) -> Option<u32> {
        self.named(func)
            .find(|(_, rec)| rec.kind == KIND_FUNC)
            .map(|(id, _)| id)
    }

    /// What a kernel function returns; `None` for void.
    pub fn func_return(&self, func: &str) -> Result<Option<ParamType>, BtfError> {
        let (_, proto) = self.func_proto(func)?;
        match proto.size_or_type {
            0 => Ok(None),
            ty => self.classify(ty).map(Some),
        }
    }

    /// The FUNC_PROTO record of a function.
    fn func_proto(&self, func: &str) -> Result<(u32, TypeRec), BtfError> {
        let (func_id, _) = self
            .named(func)
            .find(|(_, rec)| rec.kind == KIND_FUNC)
            .ok_or_else(|| BtfError::NoSuchFunction {
                name: func.to_string(),
            })?;
        let proto_id = self.get(func_id)?.size_or_type;
        let proto = *self.get(proto_id)?;
        if proto.kind != KIND_FUNC_PROTO {
            return Err(BtfError::Malformed {
                type_id: func_id,
                what: format!(
                    "function `{func}` points at a {} instead of a function prototype",
                    kind_name(proto.kind)
                ),
            });
        }
        Ok((proto_id, proto))
    }

    fn classify(&self, ty: u32) -> Result<ParamType, BtfError> {
        let id = self.peel(ty)?;
        let rec = self.get(id)?;
        Ok(match rec.kind {
            KIND_PTR => {
                let target = self.get(self.peel(rec.size_or_type)?)?;
                match target.kind {
                    KIND_STRUCT | KIND_UNION | KIND_FWD if target.name_off != 0 => {
                        ParamType::PtrToStruct(self.name(target)?.to_string())
                    }
                    _ => ParamType::PtrToOther,
                }
            }
            // Enums are passed as integers of their size, which is what a probe reads.
            KIND_INT | KIND_ENUM | KIND_ENUM64 => ParamType::Int {
                size: rec.size_or_type,
            },
            _ => ParamType::Other,
        })
    }
}

/// FNV-1a; only an index key, collisions are resolved by comparing names.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The NUL-terminated UTF-8 string at `off` in the string section.
fn str_at(strings: &[u8], off: u32) -> Result<&str, BtfError> {
    let bad = |problem| BtfError::BadString {
        offset: off,
        problem,
    };
    let tail = strings
        .get(off as usize..)
        .ok_or_else(|| bad("outside the string section"))?;
    let len = tail
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| bad("not NUL-terminated"))?;
    std::str::from_utf8(tail.get(..len).unwrap_or_default()).map_err(|_| bad("not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Assembles BTF blobs for tests; ids are handed out in call order from 1.
    struct Builder {
        strings: Vec<u8>,
        types: Vec<u8>,
        next_id: u32,
    }

    impl Builder {
        fn new() -> Self {
            Builder {
                strings: vec![0],
                types: Vec::new(),
                next_id: 1,
            }
        }

        fn s(&mut self, name: &str) -> u32 {
            if name.is_empty() {
                return 0;
            }
            let off = self.strings.len() as u32;
            self.strings.extend_from_slice(name.as_bytes());
            self.strings.push(0);
            off
        }

        fn word(&mut self, w: u32) {
            self.types.extend_from_slice(&w.to_le_bytes());
        }

        /// Raw record: returns its id; `extra` words follow the 12-byte header.
        fn raw(
            &mut self,
            name: &str,
            kind: u8,
            kflag: bool,
            vlen: u16,
            st: u32,
            extra: &[u32],
        ) -> u32 {
            let off = self.s(name);
            self.word(off);
            self.word(u32::from(vlen) | (u32::from(kind) << 24) | (u32::from(kflag) << 31));
            self.word(st);
            for &w in extra {
                self.word(w);
            }
            self.next_id += 1;
            self.next_id - 1
        }

        fn int(&mut self, name: &str, size: u32) -> u32 {
            self.raw(name, KIND_INT, false, 0, size, &[size * 8])
        }

        fn int_bits(&mut self, name: &str, size: u32, bits: u32) -> u32 {
            self.raw(name, KIND_INT, false, 0, size, &[bits])
        }

        fn ptr(&mut self, to: u32) -> u32 {
            self.raw("", KIND_PTR, false, 0, to, &[])
        }

        fn composite(
            &mut self,
            kind: u8,
            name: &str,
            size: u32,
            members: &[(&str, u32, u32)],
            kflag: bool,
        ) -> u32 {
            let mut extra = Vec::new();
            for &(n, ty, off) in members {
                extra.extend([self.s(n), ty, off]);
            }
            self.raw(name, kind, kflag, members.len() as u16, size, &extra)
        }

        fn strukt(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
            self.composite(KIND_STRUCT, name, size, members, false)
        }

        fn union(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
            self.composite(KIND_UNION, name, size, members, false)
        }

        fn wrap(&mut self, kind: u8, name: &str, to: u32) -> u32 {
            self.raw(name, kind, false, 0, to, &[])
        }

        fn proto(&mut self, ret: u32, params: &[(&str, u32)]) -> u32 {
            let mut extra = Vec::new();
            for &(n, ty) in params {
                extra.extend([self.s(n), ty]);
            }
            self.raw("", KIND_FUNC_PROTO, false, params.len() as u16, ret, &extra)
        }

        fn func(&mut self, name: &str, proto: u32) -> u32 {
            self.raw(name, KIND_FUNC, false, 0, proto, &[])
        }

        fn build(&self) -> Vec<u8> {
            let mut out = Vec::new();
            out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
            out.push(1);
            out.push(0);
            for w in [
                HEADER_LEN as u32,
                0,
                self.types.len() as u32,
                self.types.len() as u32,
                self.strings.len() as u32,
            ] {
                out.extend_from_slice(&w.to_le_bytes());
            }
            out.extend_from_slice(&self.types);
            out.extend_from_slice(&self.strings);
            out
        }
    }

    /// A small model of the kernel types the tracer touches.
    fn sample() -> Vec<u8> {
        let mut b = Builder::new();
        let u32_ = b.int("u32", 4);
        let u64_ = b.int("u64", 8);
        let uchar = b.int("unsigned char", 1);
        let cuchar = b.wrap(KIND_CONST, "", uchar);
        let name_ptr = b.ptr(cuchar);
        let hash_len = b.strukt("", 8, &[("hash", u32_, 0), ("len", u32_, 32)]);
        let anon_union = b.union("", 8, &[("", hash_len, 0), ("hash_len", u64_, 0)]);
        let qstr = b.strukt("qstr", 16, &[("", anon_union, 0), ("name", name_ptr, 64)]);
        // A FWD and an empty duplicate come first so the lookup must skip them.
        b.raw("dentry", KIND_FWD, false, 0, 0, &[]);
        b.strukt("dentry", 0, &[]);
        let dentry = b.strukt("dentry", 48, &[("d_flags", u32_, 0), ("d_name", qstr, 64)]);
        let dentry_ptr = b.ptr(dentry);
        let path = b.strukt(
            "path",
            16,
            &[("mnt", name_ptr, 0), ("dentry", dentry_ptr, 64)],
        );
        let const_path = b.wrap(KIND_CONST, "", path);
        let path_t = b.wrap(KIND_TYPEDEF, "path_t", const_path);
        let file = b.strukt("file", 64, &[("f_flags", u32_, 0), ("f_path", path_t, 128)]);
        let file_ptr = b.ptr(file);
        b.composite(
            KIND_STRUCT,
            "kflags",
            8,
            &[
                ("lo", u32_, 3 << 24),
                ("hi", u32_, (5 << 24) | 3),
                ("word", u32_, 32),
            ],
            true,
        );
        let bits3 = b.int_bits("", 4, 3);
        b.strukt("legacy_bits", 8, &[("b", bits3, 0), ("w", u32_, 32)]);
        // Parameters: typedef'd const pointer, volatile int typedef, pointer to a FWD.
        let cdentry = b.wrap(KIND_CONST, "", dentry);
        let cdentry_ptr = b.ptr(cdentry);
        let dentry_p = b.wrap(KIND_TYPEDEF, "dentry_p", cdentry_ptr);
        let cdentry_p = b.wrap(KIND_CONST, "", dentry_p);
        let vint = b.wrap(KIND_VOLATILE, "", u32_);
        let uint_t = b.wrap(KIND_TYPEDEF, "uint_t", vint);
        let fwd = b.raw("opaque", KIND_FWD, false, 0, 0, &[]);
        let fwd_ptr = b.ptr(fwd);
        let void_ptr = b.ptr(0);
        let proto = b.proto(
            u32_,
            &[
                ("file", file_ptr),
                ("dentry", cdentry_p),
                ("n", uint_t),
                ("o", fwd_ptr),
                ("p", void_ptr),
                ("q", qstr),
                ("", 0),
            ],
        );
        b.func("lookup", proto);
        b.build()
    }

    #[test]
    fn nested_path_through_embedded_struct() {
        let btf = Btf::parse(&sample()).unwrap();
        assert_eq!(btf.member_offset("file", "f_path").unwrap(), 16);
        assert_eq!(btf.member_offset("file", "f_path.dentry").unwrap(), 24);
        assert_eq!(btf.member_offset("dentry", "d_name.name").unwrap(), 16);
        assert_eq!(btf.member_offset("dentry", "d_name.len").unwrap(), 12);
    }

    #[test]
    fn anonymous_union_member() {
        let btf = Btf::parse(&sample()).unwrap();
        assert_eq!(btf.member_offset("qstr", "name").unwrap(), 8);
        assert_eq!(btf.member_offset("qstr", "hash").unwrap(), 0);
        assert_eq!(btf.member_offset("qstr", "len").unwrap(), 4);
        assert_eq!(btf.member_offset("qstr", "hash_len").unwrap(), 0);
    }

    #[test]
    fn kind_flag_bitfields() {
        let btf = Btf::parse(&sample()).unwrap();
        assert_eq!(btf.member_offset("kflags", "word").unwrap(), 4);
        for m in ["lo", "hi"] {
            assert!(matches!(
                btf.member_offset("kflags", m),
                Err(BtfError::Bitfield { .. })
            ));
        }
        // Without kind_flag the INT type itself carries the bit width.
        assert!(matches!(
            btf.member_offset("legacy_bits", "b"),
            Err(BtfError::Bitfield { .. })
        ));
        assert_eq!(btf.member_offset("legacy_bits", "w").unwrap(), 4);
    }

    #[test]
    fn lookup_errors() {
        let btf = Btf::parse(&sample()).unwrap();
        let e = btf.member_offset("file", "f_path.nope").unwrap_err();
        assert!(
            matches!(&e, BtfError::NoSuchMember { type_name, member } if type_name == "file" && member == "f_path.nope"),
            "{e}"
        );
        assert!(matches!(
            btf.member_offset("file", "f_path.dentry.d_flags"),
            Err(BtfError::NotComposite {
                kind: "pointer",
                ..
            })
        ));
        assert!(matches!(
            btf.member_offset("nope", "x"),
            Err(BtfError::NoSuchType { .. })
        ));
        assert!(matches!(
            btf.member_offset("opaque", "x"),
            Err(BtfError::Incomplete { .. })
        ));
        for p in ["", ".", "f_path.", ".f_path"] {
            assert!(matches!(
                btf.member_offset("file", p),
                Err(BtfError::InvalidPath { .. })
            ));
        }
        assert!(matches!(
            btf.func_params("nope"),
            Err(BtfError::NoSuchFunction { .. })
        ));
    }

    #[test]
    fn func_params_peel_typedef_and_const() {
        let btf = Btf::parse(&sample()).unwrap();
        let params = btf.func_params("lookup").unwrap();
        let got: Vec<(&str, &ParamType)> =
            params.iter().map(|p| (p.name.as_str(), &p.ty)).collect();
        assert_eq!(
            got,
            vec![
                ("file", &ParamType::PtrToStruct("file".into())),
                ("dentry", &ParamType::PtrToStruct("dentry".into())),
                ("n", &ParamType::Int { size: 4 }),
                ("o", &ParamType::PtrToStruct("opaque".into())),
                ("p", &ParamType::PtrToOther),
                ("q", &ParamType::Other),
            ]
        );
    }

    #[test]
    fn every_kind_length_is_skipped_correctly() {
        let mut b = Builder::new();
        let int = b.int("int", 4);
        b.raw("", KIND_ARRAY, false, 0, 0, &[int, int, 4]);
        b.raw(
            "e",
            KIND_ENUM,
            false,
            2,
            4,
            &[b'a'.into(), 0, b'b'.into(), 1],
        );
        b.raw("v", KIND_VAR, false, 0, int, &[1]);
        b.raw(".data", KIND_DATASEC, false, 1, 4, &[2, 0, 4]);
        b.raw("float", KIND_FLOAT, false, 0, 8, &[]);
        b.raw("tag", KIND_DECL_TAG, false, 0, int, &[u32::MAX]);
        b.raw("user", KIND_TYPE_TAG, false, 0, int, &[]);
        b.raw("e64", KIND_ENUM64, false, 1, 8, &[0, 1, 2]);
        b.raw("", KIND_VOLATILE, false, 0, int, &[]);
        b.raw("", KIND_RESTRICT, false, 0, int, &[]);
        b.strukt("after", 8, &[("x", int, 32)]);
        let btf = Btf::parse(&b.build()).unwrap();
        assert_eq!(btf.type_count(), 12);
        assert_eq!(btf.member_offset("after", "x").unwrap(), 4);
    }

    #[test]
    fn unknown_kind_is_named() {
        for kind in [0u8, 20, 31] {
            let mut b = Builder::new();
            b.int("int", 4);
            b.raw("", kind, false, 0, 0, &[]);
            let e = Btf::parse(&b.build()).unwrap_err();
            assert!(
                matches!(e, BtfError::UnknownKind { kind: k, type_id: 2 } if k == kind),
                "{e}"
            );
            assert!(e.to_string().contains(&format!("kind {kind}")));
        }
    }

    #[test]
    fn every_prefix_is_an_error() {
        let blob = sample();
        for len in 0..blob.len() {
            assert!(Btf::parse(&blob[..len]).is_err(), "prefix {len} parsed");
        }
        assert!(Btf::parse(&blob).is_ok());
    }

    #[test]
    fn bad_magic() {
        let mut blob = sample();
        blob[0] = 0x7f;
        let e = Btf::parse(&blob).unwrap_err();
        assert!(matches!(e, BtfError::NotBtf { .. }));
        assert!(e.to_string().contains("not BTF"));
        assert!(matches!(
            Btf::parse(b"\x7fELF"),
            Err(BtfError::NotBtf { .. })
        ));
    }

    #[test]
    fn vlen_past_the_end() {
        let mut b = Builder::new();
        let int = b.int("int", 4);
        // Claims five members but carries one.
        b.raw("s", KIND_STRUCT, false, 5, 4, &[0, int, 0]);
        let e = Btf::parse(&b.build()).unwrap_err();
        assert!(matches!(e, BtfError::Truncated { .. }), "{e}");
    }

    #[test]
    fn corrupt_references_do_not_panic() {
        let mut b = Builder::new();
        // A typedef cycle, a self-embedding anonymous member, dangling ids and a bad name.
        let t1 = b.wrap(KIND_TYPEDEF, "a", 2);
        b.wrap(KIND_TYPEDEF, "b", t1);
        b.strukt("selfish", 8, &[("", 3, 0)]);
        b.strukt("fanout", 8, &[("", 5, 0), ("", 5, 0)]);
        b.strukt("", 8, &[("", 6, 0), ("", 6, 0), ("", 6, 0), ("", 6, 0)]);
        b.strukt("", 8, &[("", 4, 0), ("", 4, 0), ("", 4, 0), ("", 4, 0)]);
        b.strukt("dangling", 8, &[("x", 999, 0), ("", 999, 0)]);
        b.strukt("loopy", 8, &[("t", t1, 0)]);
        let proto = b.proto(0, &[("a", 999), ("b", t1)]);
        b.func("f", proto);
        b.func("g", 999);
        b.func("h", 1);
        let mut blob = b.build();
        let btf = Btf::parse(&blob).unwrap();
        assert!(btf.member_offset("selfish", "x").is_err());
        assert!(btf.member_offset("fanout", "x").is_err());
        assert!(btf.member_offset("dangling", "y").is_err());
        assert!(btf.member_offset("loopy", "t.x").is_err());
        assert!(btf.func_params("f").is_err());
        assert!(btf.func_params("g").is_err());
        assert!(btf.func_params("h").is_err());
        // A name offset past the strings fails at parse time for indexed kinds.
        let name_pos = HEADER_LEN + 12 * 2;
        blob[name_pos..name_pos + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(Btf::parse(&blob), Err(BtfError::BadString { .. })));
    }

    #[test]
    fn header_fields_are_checked() {
        let blob = sample();
        let mut v2 = blob.clone();
        v2[2] = 2;
        assert!(matches!(
            Btf::parse(&v2),
            Err(BtfError::UnsupportedVersion { version: 2 })
        ));
        for (field, value) in [
            (4, 8u32),
            (4, u32::MAX),
            (8, u32::MAX),
            (12, u32::MAX),
            (16, u32::MAX),
            (20, u32::MAX),
        ] {
            let mut bad = blob.clone();
            bad[field..field + 4].copy_from_slice(&value.to_le_bytes());
            assert!(Btf::parse(&bad).is_err(), "field {field} = {value:#x}");
        }
    }

    #[test]
    fn from_file_names_the_path() {
        let e = Btf::from_file(Path::new("/nonexistent/btf")).unwrap_err();
        assert!(matches!(e, BtfError::Io { .. }));
        assert!(e.to_string().contains("/nonexistent/btf"));
    }

    #[test]
    fn real_vmlinux() {
        let path = Path::new("/sys/kernel/btf/vmlinux");
        if !path.exists() {
            println!("skipping: {} is absent", path.display());
            return;
        }
        let read_start = std::time::Instant::now();
        let data = std::fs::read(path).unwrap();
        let read_time = read_start.elapsed();
        let start = std::time::Instant::now();
        let btf = Btf::parse(&data).unwrap();
        println!(
            "read {} bytes in {read_time:?}, parsed {} types in {:?}",
            data.len(),
            btf.type_count(),
            start.elapsed()
        );
        let off = |t: &str, p: &str| {
            let o = btf
                .member_offset(t, p)
                .unwrap_or_else(|e| panic!("{t}.{p}: {e}"));
            println!("offsetof({t}, {p}) = {o}");
            o
        };
        assert!(off("dentry", "d_name.name") > 0);
        off("file", "f_path.dentry");
        assert_eq!(off("kiocb", "ki_filp"), 0);
        for (t, p) in [
            ("seq_file", "op"),
            ("seq_file", "private"),
            ("seq_operations", "show"),
            ("proc_inode", "op.proc_show"),
            ("proc_inode", "vfs_inode"),
            ("dir_context", "pos"),
            ("task_struct", "real_parent"),
            ("task_struct", "tgid"),
        ] {
            off(t, p);
        }
        let params = btf.func_params("proc_root_lookup").unwrap();
        println!("proc_root_lookup{params:?}");
        assert_eq!(
            params.get(1).map(|p| &p.ty),
            Some(&ParamType::PtrToStruct("dentry".into()))
        );
        let params = btf.func_params("seq_read_iter").unwrap();
        println!("seq_read_iter{params:?}");
        assert_eq!(
            params.first().map(|p| &p.ty),
            Some(&ParamType::PtrToStruct("kiocb".into()))
        );
    }
}
