//! BTF's type kinds and the fixed part of a type record, with the raw readers
//! every part of the parser shares.

use super::error::BtfError;

/// Longest typedef/qualifier chain followed; real kernels need a handful, so
/// hitting this means a cycle in corrupt data rather than a deep type.
pub(super) const MAX_CHAIN: usize = 64;

pub(super) const BTF_MAGIC: u16 = 0xeb9f;
pub(super) const HEADER_LEN: usize = 24;
pub(super) const RECORD_LEN: usize = 12;

pub(super) const KIND_INT: u8 = 1;
pub(super) const KIND_PTR: u8 = 2;
pub(super) const KIND_ARRAY: u8 = 3;
pub(super) const KIND_STRUCT: u8 = 4;
pub(super) const KIND_UNION: u8 = 5;
pub(super) const KIND_ENUM: u8 = 6;
pub(super) const KIND_FWD: u8 = 7;
pub(super) const KIND_TYPEDEF: u8 = 8;
pub(super) const KIND_VOLATILE: u8 = 9;
pub(super) const KIND_CONST: u8 = 10;
pub(super) const KIND_RESTRICT: u8 = 11;
pub(super) const KIND_FUNC: u8 = 12;
pub(super) const KIND_FUNC_PROTO: u8 = 13;
pub(super) const KIND_VAR: u8 = 14;
pub(super) const KIND_DATASEC: u8 = 15;
pub(super) const KIND_FLOAT: u8 = 16;
pub(super) const KIND_DECL_TAG: u8 = 17;
pub(super) const KIND_TYPE_TAG: u8 = 18;
pub(super) const KIND_ENUM64: u8 = 19;

/// Decoded fixed part of one type record.
#[derive(Debug, Clone, Copy)]
pub(super) struct TypeRec {
    pub(super) name_off: u32,
    pub(super) kind: u8,
    pub(super) kind_flag: bool,
    pub(super) vlen: u16,
    /// `size` or `type` depending on the kind.
    pub(super) size_or_type: u32,
    /// Offset of the kind-specific data inside the type section.
    pub(super) data: u32,
}

pub(super) const VOID: TypeRec = TypeRec {
    name_off: 0,
    kind: 0,
    kind_flag: false,
    vlen: 0,
    size_or_type: 0,
    data: 0,
};

pub(super) fn read_u16(data: &[u8], off: usize) -> Option<u16> {
    let bytes = data.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes(bytes.try_into().ok()?))
}

pub(super) fn read_u32(data: &[u8], off: usize) -> Option<u32> {
    let bytes = data.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

pub(super) fn kind_name(kind: u8) -> &'static str {
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
pub(super) fn extra_len(kind: u8, vlen: u16) -> Option<usize> {
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

/// FNV-1a; only an index key, collisions are resolved by comparing names.
pub(super) fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The NUL-terminated UTF-8 string at `off` in the string section.
pub(super) fn str_at(strings: &[u8], off: u32) -> Result<&str, BtfError> {
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
