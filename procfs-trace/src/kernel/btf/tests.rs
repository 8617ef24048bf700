//! Tests of the BTF reader on hand-built blobs and, where present, the real kernel BTF.

use std::path::Path;

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
    fn raw(&mut self, name: &str, kind: u8, kflag: bool, vlen: u16, st: u32, extra: &[u32]) -> u32 {
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
    let got: Vec<(&str, &ParamType)> = params.iter().map(|p| (p.name.as_str(), &p.ty)).collect();
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
