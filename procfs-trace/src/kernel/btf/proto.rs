//! Function prototypes: parameter positions and types, and return types.

use super::{types::*, Btf, BtfError};

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

impl Btf {
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
    pub(super) fn func_proto(&self, func: &str) -> Result<(u32, TypeRec), BtfError> {
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

    pub(super) fn classify(&self, ty: u32) -> Result<ParamType, BtfError> {
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
