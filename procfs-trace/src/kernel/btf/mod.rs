//! A minimal reader of the kernel's BTF (BPF Type Format), e.g. `/sys/kernel/btf/vmlinux`.
//!
//! Only what the tracer needs is decoded: struct/union member offsets and the
//! parameter types of kernel functions. Every kind's record length is still
//! parsed, since records are variable-length and a single misread would shift
//! every later type id.

mod error;
mod members;
mod parse;
mod proto;
mod types;

pub use error::BtfError;
pub use proto::{Param, ParamType};
use types::*;

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

impl Btf {
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
}

#[cfg(test)]
mod tests;
