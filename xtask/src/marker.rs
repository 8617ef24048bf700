//! The result line the guest writes to its second serial port, and its nonce.

use std::fs::File;
use std::io::Read;

use anyhow::{Context, Result};

/// First word of the result line.
pub const TAG: &str = "PROCFS_TRACE_RESULT";
/// First word of a line carrying the first sign of a sick kernel that the
/// guest's log showed while the command ran.
pub const KLOG_TAG: &str = "PROCFS_TRACE_KLOG";

/// The line `/init` writes first, so a crash before it is known to be the
/// boot's, before anything of the run started.
pub const INIT_TAG: &str = "PROCFS_TRACE_INIT";

/// Kernel log text that means the kernel hit a bug, even if the command went on.
pub const SICK: &[&str] = &[
    "Oops",
    "BUG:",
    "WARNING:",
    "general protection fault",
    "Unrecoverable kprobe",
];

/// What the result channel said.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The guest command ran and exited with status `rc`; `sick` is the
    /// first sign of a sick kernel seen meanwhile (a log line, or a change
    /// of `/proc/sys/kernel/tainted`).
    Finished {
        /// The command's exit status.
        rc: i32,
        /// Why the kernel cannot be trusted after this run, if it cannot.
        sick: Option<String>,
    },
    /// A result line arrived, but from another run (stale file or a confused guest).
    WrongNonce(String),
    /// No result line: the guest never got to the end of `/init`.
    Missing,
}

/// A fresh random nonce, so a result line can only come from this run's `/init`.
pub fn nonce() -> Result<String> {
    let mut bytes = [0u8; 8];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("could not read /dev/urandom for the VM run's nonce")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether this run's `/init` started (wrote its first line).
pub fn init_ran(text: &str, nonce: &str) -> bool {
    let own = format!("{INIT_TAG} nonce={nonce}");
    text.lines().any(|l| l.trim_end_matches('\r') == own)
}

/// Finds the result line for `nonce` in the text of the result serial port.
pub fn parse(text: &str, nonce: &str) -> Outcome {
    let mut outcome = Outcome::Missing;
    let mut klog = None;
    let own_nonce = format!("nonce={nonce}");
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix(KLOG_TAG) {
            if let Some(text) = rest.trim_start().strip_prefix(&own_nonce) {
                klog.get_or_insert_with(|| text.trim().to_owned());
            }
            continue;
        }
        let mut words = line.split_whitespace();
        if words.next() != Some(TAG) {
            continue;
        }
        let mut got_nonce = None;
        let mut rc = None;
        let mut taint = None;
        for w in words {
            if let Some(n) = w.strip_prefix("nonce=") {
                got_nonce = Some(n);
            } else if let Some(r) = w.strip_prefix("rc=") {
                rc = r.parse::<i32>().ok();
            } else if let Some(t) = w.strip_prefix("taint=") {
                taint = t.split_once('>');
            }
        }
        match (got_nonce, rc) {
            (Some(n), Some(rc)) if n == nonce => {
                let tainted = taint
                    .filter(|(before, after)| before != after)
                    .map(|(before, after)| {
                        format!("/proc/sys/kernel/tainted changed from {before} to {after} during the run")
                    });
                return Outcome::Finished {
                    rc,
                    sick: klog.or(tainted),
                };
            }
            (Some(n), _) if n != nonce => outcome = Outcome::WrongNonce(n.to_owned()),
            _ => {}
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_nonce() {
        let text = "noise\r\nPROCFS_TRACE_RESULT nonce=ab12 rc=3\r\n";
        assert_eq!(parse(text, "ab12"), finished(3));
        assert_eq!(
            parse("PROCFS_TRACE_RESULT nonce=ab12 rc=0 taint=0>0", "ab12"),
            finished(0)
        );
    }

    fn finished(rc: i32) -> Outcome {
        Outcome::Finished { rc, sick: None }
    }

    #[test]
    fn a_sick_kernel_is_reported_with_its_first_sign() {
        let text = "PROCFS_TRACE_KLOG nonce=ffff WARNING: stale\n\
                    PROCFS_TRACE_KLOG nonce=ab12 Oops: 0000 [#1] SMP\n\
                    PROCFS_TRACE_KLOG nonce=ab12 BUG: later\n\
                    PROCFS_TRACE_RESULT nonce=ab12 rc=0 taint=0>0\n";
        assert_eq!(
            parse(text, "ab12"),
            Outcome::Finished {
                rc: 0,
                sick: Some("Oops: 0000 [#1] SMP".into())
            }
        );
        let Outcome::Finished {
            sick: Some(why), ..
        } = parse("PROCFS_TRACE_RESULT nonce=ab12 rc=0 taint=0>4608\n", "ab12")
        else {
            panic!("a taint change is sickness")
        };
        assert!(why.contains("from 0 to 4608"), "{why}");
    }

    #[test]
    fn init_is_known_by_its_own_nonce_only() {
        let text = "PROCFS_TRACE_INIT nonce=abc\r\n";
        assert!(init_ran(text, "abc"));
        assert!(!init_ran(text, "abd"));
        assert!(!init_ran("", "abc"));
    }

    #[test]
    fn wrong_nonce() {
        let text = "PROCFS_TRACE_RESULT nonce=ffff rc=0\n";
        assert_eq!(parse(text, "ab12"), Outcome::WrongNonce("ffff".into()));
    }

    #[test]
    fn wrong_then_right_nonce() {
        let text = "PROCFS_TRACE_RESULT nonce=ffff rc=0\nPROCFS_TRACE_RESULT nonce=ab12 rc=1\n";
        assert_eq!(parse(text, "ab12"), finished(1));
    }

    #[test]
    fn missing_or_malformed() {
        assert_eq!(parse("", "ab12"), Outcome::Missing);
        assert_eq!(parse("boot noise only\n", "ab12"), Outcome::Missing);
        assert_eq!(
            parse("PROCFS_TRACE_RESULT nonce=ab12 rc=\n", "ab12"),
            Outcome::Missing
        );
        assert_eq!(
            parse("XPROCFS_TRACE_RESULT nonce=ab12 rc=0\n", "ab12"),
            Outcome::Missing
        );
    }

    #[test]
    fn nonces_differ() {
        let a = nonce().unwrap();
        assert_eq!(a.len(), 16);
        assert_ne!(a, nonce().unwrap());
    }
}
