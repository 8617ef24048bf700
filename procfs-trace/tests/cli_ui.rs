//! The command line as users see it: every `--help` text is stored under
//! `tests/cmd/` and compared with what the binary prints, so a change to the
//! interface shows up in review (regenerate with `TRYCMD=overwrite`).

#[test]
fn help_texts_are_as_stored() {
    trycmd::TestCases::new().case("tests/cmd/*.toml");
}

/// `--version` names what a recording's reader compares: the probe table and
/// event layouts, and the recording format.
#[test]
fn the_long_version_names_the_layouts_and_format() {
    let out = support::run(&["--version"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("procfs-trace 0."), "{text}");
    let layouts = procfs_trace::recording::format::layout_fingerprint();
    assert!(
        text.contains(&format!("probe table and event layouts {layouts};")),
        "{text}"
    );
    let format = procfs_trace::recording::format::VERSION;
    assert!(
        text.contains(&format!("recording format {format})")),
        "{text}"
    );
}

/// Completion scripts know the subcommands, and an unknown shell is refused.
#[test]
fn completions_cover_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = support::run(&["completions", shell]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        for sub in ["trace", "check", "replay", "live", "explain"] {
            assert!(text.contains(sub), "{shell} lacks {sub}");
        }
    }
    let out = support::run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values"));
}

mod support;

use std::collections::{BTreeMap, BTreeSet};

/// Options a subcommand's `--help` lists (`--help` and `--version` aside),
/// as long names, with the short form each may have (`-o` for `output`).
fn help_flags(sub: &str) -> BTreeMap<String, Option<String>> {
    let out = support::run(&[sub, "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let (short, l) = match l.strip_prefix('-').filter(|r| !r.starts_with('-')) {
                Some(r) => match r.split_once(", ") {
                    Some((s, rest)) => (Some(format!("-{s}")), rest),
                    None => (None, l),
                },
                None => (None, l),
            };
            let long = l.strip_prefix("--")?.split([' ', '<']).next()?.to_owned();
            Some((long, short))
        })
        .filter(|(f, _)| f != "help" && f != "version")
        .collect()
}

/// The long flags of each subcommand's synopsis in the README: synopsis lines
/// (`procfs-trace SUB ...`, in code blocks or headings) and their indented
/// continuations.
fn readme_synopses() -> BTreeMap<String, BTreeSet<String>> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_code = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            current = None;
            continue;
        }
        let synopsis = line
            .strip_prefix("## `")
            .or(in_code.then_some(line))
            .and_then(|l| l.strip_prefix("procfs-trace "));
        match synopsis {
            Some(rest) => {
                let sub = rest.split([' ', '`']).next().unwrap_or("").to_owned();
                if rest.contains("[same options as trace]") {
                    out.insert(sub.clone(), out.get("trace").cloned().unwrap_or_default());
                }
                out.entry(sub.clone()).or_default().extend(long_flags(rest));
                current = in_code.then_some(sub);
            }
            None if in_code && line.starts_with(' ') => {
                if let Some(sub) = &current {
                    out.entry(sub.clone()).or_default().extend(long_flags(line));
                }
            }
            None => current = None,
        }
    }
    out
}

/// The options a synopsis names: `--long` as `long`, a short form as `-o`.
fn long_flags(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| c.is_whitespace() || "[]|`".contains(c))
        .filter_map(|w| match w.strip_prefix("--") {
            Some(long) => Some(long.split('=').next().unwrap_or(long).to_owned()),
            None => (w.len() == 2 && w.starts_with('-')).then(|| w.to_owned()),
        })
        .filter(|f| !f.is_empty())
}

#[test]
fn the_readme_synopses_name_every_flag_and_no_other() {
    let synopses = readme_synopses();
    let subs = [
        "trace", "check", "live", "serve", "tour", "record", "replay", "info", "doctor", "explain",
    ];
    for sub in subs {
        let readme = synopses
            .get(sub)
            .unwrap_or_else(|| panic!("README.md has no synopsis of `procfs-trace {sub}`"));
        let help = help_flags(sub);
        let named: BTreeSet<String> = readme
            .iter()
            .map(|f| {
                help.iter()
                    .find(|(_, short)| short.as_deref() == Some(f.as_str()))
                    .map_or(f.clone(), |(long, _)| long.clone())
            })
            .collect();
        let listed: BTreeSet<String> = help.into_keys().collect();
        assert_eq!(
            named, listed,
            "README's synopsis of `procfs-trace {sub}` against its --help"
        );
    }
}

#[test]
fn the_readme_lists_every_probed_function_by_stage() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let section = readme
        .split("### Probed functions")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Probed functions section");
    let listed: BTreeSet<(String, String)> = section
        .lines()
        .filter_map(|l| {
            let mut cells = l.trim_matches('|').split('|').map(str::trim);
            let stage = cells.next()?.to_owned();
            let funcs = cells.next()?;
            Some(
                funcs
                    .split(", ")
                    .filter_map(|f| f.strip_prefix('`')?.strip_suffix('`'))
                    .map(|f| (stage.clone(), f.to_owned()))
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect();
    let probes: BTreeSet<(String, String)> = procfs_trace_common::PROBES
        .iter()
        .map(|p| (format!("{:?}", p.group).to_lowercase(), p.func.to_owned()))
        .collect();
    assert_eq!(listed, probes);
}
