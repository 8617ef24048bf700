//! `procfs-trace explain PATH`: the model's predicted flow for a path, without
//! root or BPF.

use std::io::{self, Write};

use anyhow::{bail, Context as _};
use procfs_trace_common::Syscall;

use crate::{
    check::compare::describe_step,
    kernel::preflight::Host,
    model::{
        self,
        expect::{Prediction, Segment, Step},
        kernel::{ConfigSource, KernelFacts},
        mount::MountOpts,
        version::{KernelVersion, MODELLED},
        walk::{self, Cached, Node, WalkContext},
        OpFacts, OpKind,
    },
};

/// Prints the predicted flows of `path` for `op` (all that apply when `None`),
/// on kernel `version` (the running kernel when `None`).
pub fn run(
    path: &str,
    op: Option<OpKind>,
    version: Option<&str>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let kernel = match version {
        Some(v) => {
            let parsed = KernelVersion::parse(v)
                .with_context(|| format!("--kernel {v:?}: expected a version such as 6.1"))?;
            KernelFacts::debian(parsed)
        }
        None => {
            let host = Host::real();
            let release = host.release();
            let config = std::fs::read_to_string(host.path(&format!("boot/config-{release}"))).ok();
            KernelFacts::running(&release, config.as_deref()).with_context(|| {
                format!("cannot parse this kernel's release {release:?}; pass --kernel")
            })?
        }
    };
    if !path.starts_with("/proc") {
        bail!("{path}: explain covers paths under /proc");
    }
    let me = std::process::id();
    writeln!(
        out,
        "{path} on kernel {} ({})",
        kernel.release,
        describe_source(&kernel)
    )?;
    if !MODELLED.contains(&kernel.version) {
        let list: Vec<String> = MODELLED.iter().map(|v| v.to_string()).collect();
        writeln!(
            out,
            "note: the model's tables were checked on {}; {} is predicted from the nearest",
            list.join(", "),
            kernel.version
        )?;
    }
    if path.starts_with("/proc/self") || path.starts_with("/proc/thread-self") {
        writeln!(
            out,
            "note: /proc/self resolves to the walking task; here that is explain's own pid {me}"
        )?;
    }
    // A first access: nothing known about the dcache, so both ways are shown.
    let unknown = |_: &str| Cached::Unknown;
    let end = walk::walk(
        path,
        &WalkContext {
            absent_at: None,
            link_error: None,
            mount: MountOpts::DEFAULT,
            refused_at: None,
            start_dir: None,
            kernel: &kernel,
            tgid: me,
            tid: me,
            follow_final: true,
            cached: &unknown,
        },
    )
    .end;
    let ops: Vec<OpKind> = match op {
        Some(op) => vec![op],
        None => match &end {
            Ok(
                Node::Root
                | Node::PidDir(_)
                | Node::TaskDir
                | Node::FdDir
                | Node::NsDir
                | Node::NetDir,
            ) => {
                vec![OpKind::Lookup, OpKind::Readdir]
            }
            Ok(Node::PidEntry(_, e)) if e.kind == model::pid_table::EntryKind::Lnk => {
                vec![OpKind::Readlink]
            }
            Ok(Node::FdLink | Node::NsLink(_) | Node::LeftProc) => vec![OpKind::Readlink],
            _ => vec![OpKind::Lookup, OpKind::Read],
        },
    };
    for kind in ops {
        let (syscall, ret, what) = match kind {
            OpKind::Lookup => (Syscall::Openat, Some(3), "open (path walk)"),
            OpKind::Read => (
                Syscall::Read,
                Some(1),
                "read (first read, which finds data)",
            ),
            OpKind::Readdir => (Syscall::Getdents64, Some(1), "getdents64 (first call)"),
            OpKind::Readlink => (Syscall::Readlinkat, Some(1), "readlink"),
        };
        let facts = OpFacts {
            kind,
            syscall: Some(syscall),
            at_flags: 0,
            path,
            tgid: me,
            tid: me,
            pos_in: Some(0),
            ret,
            first_read: None,
            mount: MountOpts::DEFAULT,
            start_dir: None,
        };
        writeln!(out, "\n{what}:")?;
        match model::predict(&facts, &kernel, &unknown) {
            Ok((p, _)) => print_prediction(&p, out)?,
            Err(why) => writeln!(out, "  outside the model: {why}")?,
        }
    }
    Ok(())
}

fn describe_source(k: &KernelFacts) -> String {
    match &k.source {
        ConfigSource::Running => "config of the running kernel".to_owned(),
        ConfigSource::Debian(v) => format!("config of Debian's {v} cloud kernel"),
    }
}

/// Prints segments in order; a choice lists each alternative under its label.
pub fn print_prediction(p: &Prediction, out: &mut impl Write) -> io::Result<()> {
    for seg in &p.segments {
        match seg {
            Segment::Fixed(steps) => steps.iter().try_for_each(|s| step(s, 1, out))?,
            Segment::Choice { why, options } => {
                writeln!(out, "  one of ({why}):")?;
                for (label, steps) in options {
                    writeln!(out, "    [{label}]")?;
                    if steps.is_empty() {
                        writeln!(out, "      (no probed call)")?;
                    }
                    steps.iter().try_for_each(|s| step(s, 3, out))?;
                }
            }
        }
    }
    for n in &p.notes {
        writeln!(out, "  note: {n}")?;
    }
    Ok(())
}

fn step(s: &Step, depth: usize, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "{:w$}{}  — {}",
        "",
        describe_step(s),
        s.why,
        w = depth * 2
    )?;
    s.children.iter().try_for_each(|c| step(c, depth + 1, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explain(path: &str, op: Option<OpKind>) -> String {
        let mut out = Vec::new();
        run(path, op, Some("6.1"), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn limits_shows_walk_and_read_with_reasons() {
        let text = explain("/proc/1/limits", None);
        assert!(text.contains("open (path walk):"), "{text}");
        assert!(
            text.contains("[cold dcache]") && text.contains("[cached]"),
            "{text}"
        );
        assert!(
            text.contains(r#"proc_root_lookup(name="1") = 0  — a dcache miss in /proc"#),
            "{text}"
        );
        assert!(text.contains(r#"proc_pid_lookup(name="1") = 0"#), "{text}");
        assert!(
            text.contains("proc_single_show(name=\"limits\", show=proc_pid_limits)"),
            "{text}"
        );
        assert!(text.contains("Debian's 6.1 cloud kernel"), "{text}");
    }

    #[test]
    fn directories_get_a_listing_and_links_a_readlink() {
        let text = explain("/proc", None);
        assert!(
            text.contains("proc_root_readdir") && text.contains("proc_pid_readdir"),
            "{text}"
        );
        let text = explain("/proc/1/cwd", None);
        assert!(
            text.contains("proc_pid_readlink") && text.contains("proc_cwd_link"),
            "{text}"
        );
        let text = explain("/proc/meminfo", Some(OpKind::Lookup));
        assert!(
            text.contains(r#"proc_pid_lookup(name="meminfo") = -ENOENT  — name_to_int rejects"#),
            "{text}"
        );
    }

    #[test]
    fn outside_paths_and_bad_versions_are_errors_or_said() {
        let text = explain("/proc/1/attr/current", None);
        assert!(text.contains("outside the model"), "{text}");
        let mut out = Vec::new();
        assert!(run("/etc/passwd", None, Some("6.1"), &mut out).is_err());
        assert!(run("/proc/1", None, Some("six"), &mut out).is_err());
    }
}
