//! Parser for `/proc/kallsyms`: which kernel functions exist and what an address points into.
//!
//! Only text symbols (types `t`, `T`, `w`, `W`) are kept, since every query is
//! about functions; data symbols are still read to tell whether addresses are
//! hidden by `kptr_restrict`.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Errors from reading kallsyms.
#[derive(Debug, thiserror::Error)]
pub enum KallsymsError {
    /// Reading from the supplied reader failed.
    #[error("cannot read kallsyms data; retry, or check the source is readable")]
    Read {
        /// Underlying error.
        source: std::io::Error,
    },
    /// Opening or reading the file failed.
    #[error(
        "cannot read {}; procfs must be mounted at /proc and the file readable \
         (run as root to see addresses)", path.display()
    )]
    Io {
        /// File that was being read.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
}

/// A kernel address resolved to the text symbol containing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol<'a> {
    /// Symbol name, e.g. `proc_root_lookup`.
    pub name: &'a str,
    /// Distance from the symbol's start in bytes.
    pub offset: u64,
    /// Module the symbol belongs to, `None` for the core kernel.
    pub module: Option<&'a str>,
}

/// One text symbol; names live in the shared arena to avoid ~100k small allocations.
#[derive(Debug, Clone, Copy)]
struct Entry {
    addr: u64,
    name_start: usize,
    name_len: u32,
    /// Index into `modules`, or `NO_MODULE`.
    module: u32,
}

const NO_MODULE: u32 = u32::MAX;

/// Parsed text symbols of `/proc/kallsyms`.
#[derive(Debug, Default)]
pub struct Kallsyms {
    arena: String,
    /// Sorted by address; equal addresses keep file order so the first alias wins, as in the kernel.
    funcs: Vec<Entry>,
    /// `(hash of base name, index into funcs)`, sorted; the base name is the part before
    /// the first `.`, so a function and its `.isra.0`-style clones share a key.
    by_base: Vec<(u64, u32)>,
    modules: Vec<Box<str>>,
    any_nonzero: bool,
    skipped: usize,
}

/// A parsed line, borrowing from the input.
struct Line<'a> {
    addr: u64,
    kind: u8,
    name: &'a str,
    module: Option<&'a str>,
}

fn parse_hex(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 16 {
        return None;
    }
    field.iter().try_fold(0u64, |acc, &b| {
        let digit = (b as char).to_digit(16)?;
        Some((acc << 4) | u64::from(digit))
    })
}

fn parse_line(line: &[u8]) -> Option<Line<'_>> {
    let mut fields = line
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|f| !f.is_empty());
    let addr = parse_hex(fields.next()?)?;
    let kind = match fields.next()? {
        [k] if k.is_ascii_graphic() => *k,
        _ => return None,
    };
    let name = std::str::from_utf8(fields.next()?).ok()?;
    let module = match fields.next() {
        None => None,
        Some(m) => {
            let inner = m.strip_prefix(b"[")?.strip_suffix(b"]")?;
            if inner.is_empty() {
                return None;
            }
            Some(std::str::from_utf8(inner).ok()?)
        }
    };
    if fields.next().is_some() {
        return None;
    }
    Some(Line {
        addr,
        kind,
        name,
        module,
    })
}

/// FNV-1a of the name up to its first `.`; only an index key, collisions are resolved by comparing names.
fn base_hash(name: &str) -> u64 {
    let base = name.split('.').next().unwrap_or(name);
    base.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn is_text(kind: u8) -> bool {
    matches!(kind, b't' | b'T' | b'w' | b'W')
}

impl Kallsyms {
    /// Parses kallsyms text from any reader; malformed lines are skipped and counted.
    pub fn parse(mut reader: impl BufRead) -> Result<Kallsyms, KallsymsError> {
        let mut syms = Kallsyms::default();
        let mut module_ids: HashMap<Box<str>, u32> = HashMap::new();
        // Module symbols come in runs, so remembering the last one skips most hashing.
        let mut last_module: Option<u32> = None;
        let mut buf = Vec::with_capacity(256);
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|source| KallsymsError::Read { source })?;
            if n == 0 {
                break;
            }
            let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Some(parsed) = parse_line(line) else {
                syms.skipped += 1;
                continue;
            };
            syms.any_nonzero |= parsed.addr != 0;
            if !is_text(parsed.kind) {
                continue;
            }
            let Ok(name_len) = u32::try_from(parsed.name.len()) else {
                syms.skipped += 1;
                continue;
            };
            let module = match parsed.module {
                None => NO_MODULE,
                Some(m) => match last_module {
                    Some(id) if syms.modules.get(id as usize).is_some_and(|s| &**s == m) => id,
                    _ => {
                        let id = match module_ids.get(m) {
                            Some(&id) => id,
                            None => {
                                let id = u32::try_from(syms.modules.len()).unwrap_or(NO_MODULE);
                                module_ids.insert(m.into(), id);
                                syms.modules.push(m.into());
                                id
                            }
                        };
                        last_module = Some(id);
                        id
                    }
                },
            };
            let name_start = syms.arena.len();
            syms.arena.push_str(parsed.name);
            syms.funcs.push(Entry {
                addr: parsed.addr,
                name_start,
                name_len,
                module,
            });
        }
        // Stable, so aliases at one address keep file order.
        syms.funcs.sort_by_key(|e| e.addr);
        // Sorting integers is several times faster than sorting 100k+ names.
        let mut by_base: Vec<(u64, u32)> = (0..u32::try_from(syms.funcs.len()).unwrap_or(u32::MAX))
            .map(|i| (base_hash(syms.name_at(i)), i))
            .collect();
        by_base.sort_unstable();
        syms.by_base = by_base;
        Ok(syms)
    }

    /// Opens and parses a kallsyms file, normally `/proc/kallsyms`; errors name the path.
    pub fn from_file(path: &Path) -> Result<Kallsyms, KallsymsError> {
        let io = |source| KallsymsError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        Kallsyms::parse(std::io::BufReader::with_capacity(1 << 16, file)).map_err(|e| match e {
            KallsymsError::Read { source } => io(source),
            other => other,
        })
    }

    fn name_of(&self, e: &Entry) -> &str {
        let end = e.name_start.saturating_add(e.name_len as usize);
        self.arena.get(e.name_start..end).unwrap_or("")
    }

    fn name_at(&self, idx: u32) -> &str {
        self.funcs.get(idx as usize).map_or("", |e| self.name_of(e))
    }

    fn module_of(&self, e: &Entry) -> Option<&str> {
        self.modules.get(e.module as usize).map(|m| &**m)
    }

    /// Names sharing `name`'s base name (hash collisions included; callers compare).
    fn same_base(&self, name: &str) -> impl Iterator<Item = &str> {
        let hash = base_hash(name);
        let start = self.by_base.partition_point(|&(h, _)| h < hash);
        self.by_base
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(move |&&(h, _)| h == hash)
            .map(|&(_, i)| self.name_at(i))
    }

    /// Whether a text symbol (type t/T/w/W) has exactly this name.
    pub fn contains_function(&self, name: &str) -> bool {
        self.same_base(name).any(|n| n == name)
    }

    /// Compiler clones (`foo.isra.0`, `foo.constprop.0`, never `.cold`) of a function absent by its exact name; empty if it exists.
    pub fn function_variants(&self, name: &str) -> Vec<&str> {
        if self.contains_function(name) {
            return Vec::new();
        }
        let mut out: Vec<&str> = self
            .same_base(name)
            .filter(|candidate| {
                let Some(suffix) = candidate
                    .strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('.'))
                else {
                    return false;
                };
                // A `.cold` clone holds only the unlikely branches split off a
                // function; probing it would miss ordinary calls.
                !suffix.is_empty() && !suffix.split('.').any(|part| part == "cold")
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The nearest text symbol at or below `addr`; `None` below the first symbol or when addresses are hidden.
    pub fn resolve(&self, addr: u64) -> Option<Symbol<'_>> {
        if !self.any_nonzero {
            return None;
        }
        let end = self.funcs.partition_point(|e| e.addr <= addr);
        let start_addr = self.funcs.get(end.checked_sub(1)?)?.addr;
        let first = self
            .funcs
            .get(..end)?
            .partition_point(|e| e.addr < start_addr);
        let entry = self.funcs.get(first)?;
        Some(Symbol {
            name: self.name_of(entry),
            offset: addr - entry.addr,
            module: self.module_of(entry),
        })
    }

    /// False when every address read was 0, as kptr_restrict shows them to non-root users.
    pub fn addresses_visible(&self) -> bool {
        self.any_nonzero
    }

    /// Number of lines that did not parse and were ignored (blank lines are not counted).
    pub fn skipped_lines(&self) -> usize {
        self.skipped
    }

    #[cfg(test)]
    /// Number of text symbols kept.
    fn function_count(&self) -> usize {
        self.funcs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
ffffffff81000000 T _stext
ffffffff81000000 T _text
ffffffff81001000 t do_one_initcall
ffffffff81001100 D some_data
ffffffff81002000 T proc_root_lookup
ffffffff81002080 t proc_pid_lookup.isra.0
ffffffff81002100 t proc_pid_lookup.constprop.0
ffffffff81002180 t proc_pid_lookup.cold
ffffffff81002200 t dup_static
ffffffff81003000 t dup_static
ffffffff81003100 W weak_fn
ffffffffc0001000 t ext4_lookup\t[ext4]
ffffffffc0001100 T ext4_iget\t[ext4]
ffffffffc0002000 t xfs_lookup\t[xfs]
ffffffffc0002100 t bpf_prog_abc_sd\t[bpf]
";

    fn sample() -> Kallsyms {
        Kallsyms::parse(SAMPLE.as_bytes()).unwrap()
    }

    #[test]
    fn basic_resolve() {
        let k = sample();
        assert!(k.addresses_visible());
        assert_eq!(k.skipped_lines(), 0);
        let s = k.resolve(0xffffffff81002000).unwrap();
        assert_eq!(
            s,
            Symbol {
                name: "proc_root_lookup",
                offset: 0,
                module: None
            }
        );
        // Aliases at one address resolve to the first listed, as the kernel does.
        assert_eq!(k.resolve(0xffffffff81000010).unwrap().name, "_stext");
    }

    #[test]
    fn offset_inside_function() {
        let k = sample();
        let s = k.resolve(0xffffffff81002042).unwrap();
        assert_eq!((s.name, s.offset), ("proc_root_lookup", 0x42));
        // Data symbols are not text and must not capture addresses.
        let s = k.resolve(0xffffffff81001200).unwrap();
        assert_eq!((s.name, s.offset), ("do_one_initcall", 0x200));
    }

    #[test]
    fn below_first_symbol() {
        let k = sample();
        assert_eq!(k.resolve(0xffffffff80ffffff), None);
        assert_eq!(k.resolve(0), None);
        assert!(k.resolve(u64::MAX).is_some());
        assert_eq!(Kallsyms::parse(&b""[..]).unwrap().resolve(1), None);
    }

    #[test]
    fn module_symbols() {
        let k = sample();
        let s = k.resolve(0xffffffffc0001104).unwrap();
        assert_eq!(
            s,
            Symbol {
                name: "ext4_iget",
                offset: 4,
                module: Some("ext4")
            }
        );
        assert_eq!(k.resolve(0xffffffffc0002000).unwrap().module, Some("xfs"));
        assert_eq!(k.resolve(0xffffffffc0002101).unwrap().module, Some("bpf"));
        assert!(k.contains_function("ext4_lookup"));
    }

    #[test]
    fn duplicate_static_names() {
        let k = sample();
        assert!(k.contains_function("dup_static"));
        assert_eq!(k.resolve(0xffffffff81002210).unwrap().name, "dup_static");
        let s = k.resolve(0xffffffff81003010).unwrap();
        assert_eq!((s.name, s.offset), ("dup_static", 0x10));
    }

    #[test]
    fn compiler_variants() {
        let k = sample();
        assert!(!k.contains_function("proc_pid_lookup"));
        assert_eq!(
            k.function_variants("proc_pid_lookup"),
            vec!["proc_pid_lookup.constprop.0", "proc_pid_lookup.isra.0"]
        );
        assert!(k.function_variants("proc_root_lookup").is_empty());
        assert!(k.function_variants("proc_pid").is_empty());
        assert!(k.function_variants("nope").is_empty());
        assert!(k.contains_function("weak_fn"));
        assert!(!k.contains_function("some_data"));
        assert!(!k.contains_function(""));
    }

    #[test]
    fn all_zero_addresses() {
        let text = SAMPLE
            .lines()
            .map(|l| format!("0000000000000000{}\n", &l[16..]))
            .collect::<String>();
        let k = Kallsyms::parse(text.as_bytes()).unwrap();
        assert!(!k.addresses_visible());
        assert!(k.contains_function("proc_root_lookup"));
        assert_eq!(k.resolve(0), None);
        assert_eq!(k.resolve(0x1234), None);
    }

    #[test]
    fn malformed_lines_are_counted() {
        let text = "\
ffffffff81000000 T good_one
not-hex T bad_addr
ffffffff81000100 TT bad_type
ffffffff81000200 T
ffffffff81000300 T mod_no_brackets ext4
ffffffff81000400 T empty_mod\t[]
ffffffff81000500 T too many fields here
1ffffffff81000600 T addr_too_long

ffffffff81000800 T good_two\r
";
        let k = Kallsyms::parse(text.as_bytes()).unwrap();
        assert_eq!(k.skipped_lines(), 7);
        assert_eq!(k.function_count(), 2);
        assert!(k.contains_function("good_one") && k.contains_function("good_two"));
        // Invalid UTF-8 lands in a skipped line instead of failing the parse.
        let raw: &[u8] = b"ffffffff81000000 T ok\nffffffff81000100 T \xff\xfe\n";
        let k = Kallsyms::parse(raw).unwrap();
        assert_eq!((k.skipped_lines(), k.function_count()), (1, 1));
    }

    #[test]
    fn arbitrary_bytes_do_not_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            let bytes: Vec<u8> = (0..300)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let alphabet = b"0f \t\n[]Tt.x\xff";
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            let k = Kallsyms::parse(&bytes[..]).unwrap();
            let _ = (
                k.resolve(seed),
                k.function_variants("x"),
                k.contains_function("t"),
            );
        }
    }

    #[test]
    fn from_file_names_the_path() {
        let e = Kallsyms::from_file(Path::new("/nonexistent/kallsyms")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/kallsyms"));
    }

    #[test]
    fn real_proc_kallsyms() {
        let path = Path::new("/proc/kallsyms");
        if !path.exists() {
            println!("skipping: {} is absent", path.display());
            return;
        }
        let start = std::time::Instant::now();
        let data = std::fs::read(path).unwrap();
        let read_time = start.elapsed();
        let start = std::time::Instant::now();
        let k = Kallsyms::parse(&data[..]).unwrap();
        let parse_time = start.elapsed();
        let start = std::time::Instant::now();
        let from_file = Kallsyms::from_file(path).unwrap();
        println!(
            "{} bytes read in {read_time:?}; parsed {} functions in {parse_time:?} \
             ({} skipped); from_file took {:?}",
            data.len(),
            k.function_count(),
            k.skipped_lines(),
            start.elapsed()
        );
        assert_eq!(from_file.function_count(), k.function_count());
        assert!(k.contains_function("proc_root_lookup"));
        if k.addresses_visible() {
            let sym = k.resolve(0).map(|s| s.name.to_string());
            println!("resolve(0) = {sym:?}");
            let addr = data
                .split(|&b| b == b'\n')
                .find(|l| l.ends_with(b" proc_root_lookup"))
                .and_then(|l| parse_hex(l.get(..16)?))
                .unwrap();
            let s = k.resolve(addr + 4).unwrap();
            assert_eq!((s.name, s.offset, s.module), ("proc_root_lookup", 4, None));
        } else {
            println!("addresses hidden: not running as root?");
        }
    }
}
