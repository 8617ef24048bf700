//! The shape of the code, checked: the model stands alone, dependencies between
//! modules run one way, and no source file outgrows a reader.
//!
//! Reads `src/` as text: every `crate::a::b` path and every `use super::x` names
//! a dependency of its file on a module.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// Lines a file may hold before its tests.
const MAX_LINES: usize = 700;

/// Source files by module path (`model/walk`, `lib`), with their text.
fn sources() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.insert(module_of(&root, &path), fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

fn module_of(root: &Path, path: &Path) -> String {
    let rel: PathBuf = path.strip_prefix(root).unwrap().with_extension("");
    let s = rel.to_string_lossy().into_owned();
    s.strip_suffix("/mod").map(str::to_owned).unwrap_or(s)
}

/// The text before the file's test module.
fn code(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests")
        .or_else(|| text.find("#[cfg(test)]\npub(crate) mod tests"))
        .map_or(text, |i| &text[..i])
}

/// Module paths a file's code refers to, resolved to existing modules.
fn deps(module: &str, text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let code = code(text);
    let parent = match module.rfind('/') {
        Some(i) => &module[..i],
        None => "",
    };
    // Whether a file or a folder's mod.rs, `super` is the parent module.
    for (prefix, base) in [("crate::", ""), ("super::", parent), ("self::", module)] {
        let mut rest = code;
        while let Some(i) = rest.find(prefix) {
            let after = &rest[i + prefix.len()..];
            rest = after;
            for path in expand(after) {
                let mut m = base.to_owned();
                let mut best = None;
                for seg in path.split("::") {
                    m = if m.is_empty() {
                        seg.to_owned()
                    } else {
                        format!("{m}/{seg}")
                    };
                    if modules.contains(&m) {
                        best = Some(m.clone());
                    }
                }
                if let Some(b) = best.filter(|b| b != module) {
                    out.insert(b);
                }
            }
        }
    }
    out
}

/// The paths a `use` tail such as `{a::b, c::{d, e}}` or `a::b` names.
fn expand(after: &str) -> Vec<String> {
    let end = after
        .char_indices()
        .scan(0i32, |depth, (i, c)| {
            match c {
                '{' => *depth += 1,
                '}' => *depth -= 1,
                _ => {}
            }
            Some((i, c, *depth))
        })
        .find(|&(_, c, d)| d < 0 || (d == 0 && !(c.is_alphanumeric() || "_:{},* \n".contains(c))))
        .map_or(after.len(), |(i, _, _)| i);
    let text: String = after[..end].split_whitespace().collect();
    fn walk(prefix: &str, text: &str, out: &mut Vec<String>) {
        match text.find('{') {
            None => {
                for part in text.split(',').filter(|p| !p.is_empty()) {
                    out.push(format!("{prefix}{part}"));
                }
            }
            Some(open) => {
                let head = &text[..open];
                let inner = &text[open + 1..text.rfind('}').unwrap_or(text.len())];
                let mut depth = 0;
                let mut start = 0;
                for (i, c) in inner.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            walk(&format!("{prefix}{head}"), &inner[start..i], out);
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                walk(&format!("{prefix}{head}"), &inner[start..], out);
            }
        }
    }
    let mut out = Vec::new();
    walk("", &text, &mut out);
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let sources = sources();
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    sources
        .iter()
        .map(|(m, text)| (m.clone(), deps(m, text, &modules)))
        .collect()
}

fn top(module: &str) -> &str {
    module.split('/').next().unwrap()
}

#[test]
fn the_model_imports_nothing_from_the_rest_of_the_agent() {
    for (module, deps) in graph() {
        if top(&module) != "model" {
            continue;
        }
        let outside: Vec<_> = deps.iter().filter(|d| top(d) != "model").collect();
        assert!(outside.is_empty(), "{module} imports {outside:?}");
    }
}

#[test]
fn no_two_modules_import_each_other() {
    let g = graph();
    for (a, deps) in &g {
        for b in deps {
            // A folder's mod.rs declares its children; that is not an import back.
            let parent_child = b.starts_with(&format!("{a}/")) || a.starts_with(&format!("{b}/"));
            if !parent_child && g.get(b).is_some_and(|d| d.contains(a)) {
                panic!("{a} and {b} import each other");
            }
        }
    }
}

#[test]
fn top_level_modules_depend_one_way() {
    let mut tops: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let g = graph();
    for (m, deps) in &g {
        let entry = tops.entry(top(m)).or_default();
        entry.extend(
            deps.iter()
                .map(|d| top(d).to_owned())
                .filter(|d| d != top(m)),
        );
    }
    // Depth-first search for a cycle.
    fn visit<'a>(
        n: &'a str,
        tops: &'a BTreeMap<&str, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if let Some(i) = path.iter().position(|p| *p == n) {
            panic!("modules depend on each other in a ring: {:?}", &path[i..]);
        }
        if !done.insert(n) {
            return;
        }
        path.push(n);
        for d in tops.get(n).into_iter().flatten() {
            visit(d, tops, path, done);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for n in tops.keys() {
        visit(n, &tops, &mut Vec::new(), &mut done);
    }
    // Shared helpers stand alone; the checker comes after flows and the
    // model, printing after the checker.
    for helper in SHARED {
        assert!(
            tops[helper].is_empty(),
            "{helper} imports {:?}",
            tops[helper]
        );
    }
    let allowed = |m: &str, ok: &[&str]| {
        let deps = &tops[m];
        let fine = deps
            .iter()
            .all(|d| ok.contains(&d.as_str()) || SHARED.contains(&d.as_str()));
        assert!(fine, "{m} imports {deps:?}");
    };
    allowed("check", &["flows", "model"]);
    allowed("flows", &["events", "model"]);
    allowed("events", &["model"]);
}

/// Helpers any module may use, which use nothing else of the crate.
const SHARED: [&str; 2] = ["bounded", "paths"];

#[test]
fn no_file_outgrows_a_reader() {
    for (module, text) in sources() {
        let lines = code(&text).lines().count();
        assert!(
            lines <= MAX_LINES,
            "{module}.rs has {lines} lines before its tests"
        );
    }
}

#[test]
fn the_dependency_reader_sees_imports() {
    let modules: BTreeSet<String> = ["model", "model/walk", "flows", "flows/op", "check"]
        .into_iter()
        .map(String::from)
        .collect();
    let d = deps(
        "check",
        "use crate::{\n    flows::op::{Op, OpKind},\n    model::walk::Cached,\n};\nfn f() { crate::model::x(); }",
        &modules,
    );
    assert_eq!(
        d.into_iter().collect::<Vec<_>>(),
        ["flows/op", "model", "model/walk"]
    );
    let d = deps("flows/op", "use super::call::Call;", &modules);
    assert!(d.is_empty(), "flows/call does not exist here: {d:?}");
}
