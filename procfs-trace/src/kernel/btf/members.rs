//! Member offsets: walking `a.b.c` through structs, unions and their
//! anonymous members, with limits that keep corrupt data from looping.

use super::{types::*, Btf, BtfError};

/// Nesting limit for anonymous members, to keep recursion off the stack's edge.
const MAX_ANON_DEPTH: u32 = 32;
/// Members examined per path segment; bounds the work a crafted blob can force
/// through fan-out of anonymous members (each level may repeat the one below).
const MEMBER_BUDGET: u32 = 100_000;

/// A member found by name, with its offset relative to the searched composite.
pub(super) struct FoundMember {
    bit_off: u64,
    ty: u32,
    bitfield: bool,
}

impl Btf {
    /// Picks the struct/union for `name`: a definition with members beats an
    /// empty one, which beats a forward declaration; ties go to the lowest id.
    pub(super) fn find_composite(&self, name: &str) -> Result<u32, BtfError> {
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
    pub(super) fn named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (u32, &'a TypeRec)> + 'a {
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
    pub(super) fn find_member(
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
    pub(super) fn is_int_bitfield(&self, id: u32) -> Result<bool, BtfError> {
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

    /// Size in bytes of a struct or union, e.g. `upid`.
    pub fn struct_size(&self, type_name: &str) -> Result<u32, BtfError> {
        let id = self.find_composite(type_name)?;
        Ok(self.get(id)?.size_or_type)
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
}
