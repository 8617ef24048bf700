//! The aggregates as plain-text tables: every interval when standard output
//! is not a terminal (or with `--plain`), and as the final summary.

use std::io::{self, Write};

use super::{
    sort::{FuncSort, PathSort, ProcSort},
    store::Store,
};
use crate::{
    render::events::{format_duration, Format},
    render::print,
};

/// `1:02:03` from nanoseconds.
pub fn uptime(ns: u64) -> String {
    let s = ns / 1_000_000_000;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Bytes as B, KiB, MiB.
pub fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

/// One status line: source, kernel, attach method, uptime, rates, losses.
pub fn status(store: &Store) -> String {
    let m = &store.meta;
    let mut s = format!(
        "{} | kernel {} | attach {} | up {} | {} events/s | {} events | lost {}",
        m.source,
        m.kernel,
        m.attach,
        uptime(m.uptime_ns()),
        m.event_rate.per_sec(m.now_ns),
        m.events,
        m.lost,
    );
    if m.waiting > 0 {
        s.push_str(&format!(" | {} events waiting", m.waiting));
    }
    let behind = store.behind();
    if behind > 0 {
        s.push_str(&format!(" | BEHIND: {behind} lost in the last second"));
    }
    if let Some(f) = store.fidelity() {
        s.push_str(&format!(" | {f}"));
    }
    if m.finished {
        s.push_str(" | recording ended");
    }
    s
}

/// Writes the top `n` rows of each table; `title` heads the block.
pub fn write_tables(store: &Store, title: &str, n: usize, out: &mut impl Write) -> io::Result<()> {
    let v = store.view();
    let now = store.meta.now_ns;
    writeln!(out, "== procfs-trace live: {title} ==")?;
    writeln!(out, "{}", status(store))?;
    let verdicts: Vec<String> = v.verdicts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    writeln!(
        out,
        "operations: {}{}{}",
        v.ops,
        if verdicts.is_empty() {
            String::new()
        } else {
            format!(" ({})", verdicts.join(", "))
        },
        store
            .filter()
            .map(|f| format!(" | filter: {f}"))
            .unwrap_or_default()
    )?;
    writeln!(out, "PROCESSES (by ops)")?;
    writeln!(
        out,
        "{:>8}  {:<16} {:>8} {:>9} {:>11} {:>11} {:>6}",
        "PID", "COMM", "OPS/S", "OPS", "READ", "KERNEL", "DIVERG"
    )?;
    for p in v.procs_sorted(ProcSort::Ops, now).into_iter().take(n) {
        writeln!(
            out,
            "{:>8}  {:<16} {:>8} {:>9} {:>11} {:>11} {:>6}",
            p.pid_label(),
            p.comm,
            p.rate.per_sec(now),
            p.ops,
            bytes(p.bytes),
            format_duration(p.kernel_ns),
            p.diverged
        )?;
    }
    writeln!(out, "PATHS (by ops)")?;
    writeln!(
        out,
        "{:<40} {:>8} {:>9} {:>11} {:>6}",
        "PATH", "OPS/S", "OPS", "KERNEL", "DIVERG"
    )?;
    for (path, a) in v.paths_sorted(PathSort::Ops, now).into_iter().take(n) {
        writeln!(
            out,
            "{:<40} {:>8} {:>9} {:>11} {:>6}",
            path,
            a.rate.per_sec(now),
            a.ops,
            format_duration(a.kernel_ns),
            a.diverged
        )?;
    }
    writeln!(out, "KERNEL FUNCTIONS AND SHOW CALLBACKS (by total time)")?;
    writeln!(
        out,
        "{:<40} {:<5} {:>9} {:>11} {:>11} {:>11}",
        "FUNCTION", "KIND", "CALLS", "P50", "P99", "TOTAL"
    )?;
    for (name, f) in v.funcs_sorted(FuncSort::Total).into_iter().take(n) {
        let q = |x| {
            f.latency
                .quantile(x)
                .map_or("-".to_owned(), format_duration)
        };
        writeln!(
            out,
            "{:<40} {:<5} {:>9} {:>11} {:>11} {:>11}",
            name,
            f.kind.label(),
            f.calls,
            q(0.5),
            q(0.99),
            format_duration(f.total_ns)
        )?;
    }
    let diverged: Vec<_> = v.flows.iter().filter(|c| c.diverged()).collect();
    if !diverged.is_empty() {
        writeln!(
            out,
            "LATEST DIVERGENCES ({} of {})",
            diverged.len().min(n),
            v.verdicts.get("divergence").copied().unwrap_or(0)
        )?;
        for c in diverged.iter().rev().take(n) {
            print::print(c, Format::Text, out)?;
        }
    }
    writeln!(out)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_says_how_many_events_wait_only_while_some_do() {
        let mut st = Store::default();
        st.lost(0, 0, 1234);
        assert!(
            status(&st).contains("| 1234 events waiting"),
            "{}",
            status(&st)
        );
        st.lost(0, 0, 0);
        assert!(!status(&st).contains("waiting"), "{}", status(&st));
    }
}
