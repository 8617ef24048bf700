//! What can go wrong reading BTF or looking things up in it.

use std::path::PathBuf;

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
        "cannot read BTF file {}; the kernel needs CONFIG_DEBUG_INFO_BTF=y and \
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
