//! The result line the guest writes to its second serial port, and its nonce.

use std::fs::File;
use std::io::Read;

use anyhow::{Context, Result};

/// First word of the result line.
pub const TAG: &str = "PROCFS_TRACE_RESULT";

/// What the result channel said.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The guest command ran and exited with this status.
    Finished(i32),
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

/// Finds the result line for `nonce` in the text of the result serial port.
pub fn parse(text: &str, nonce: &str) -> Outcome {
    let mut outcome = Outcome::Missing;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some(TAG) {
            continue;
        }
        let mut got_nonce = None;
        let mut rc = None;
        for w in words {
            if let Some(n) = w.strip_prefix("nonce=") {
                got_nonce = Some(n);
            } else if let Some(r) = w.strip_prefix("rc=") {
                rc = r.parse::<i32>().ok();
            }
        }
        match (got_nonce, rc) {
            (Some(n), Some(rc)) if n == nonce => return Outcome::Finished(rc),
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
        assert_eq!(parse(text, "ab12"), Outcome::Finished(3));
        assert_eq!(
            parse("PROCFS_TRACE_RESULT nonce=ab12 rc=0", "ab12"),
            Outcome::Finished(0)
        );
    }

    #[test]
    fn wrong_nonce() {
        let text = "PROCFS_TRACE_RESULT nonce=ffff rc=0\n";
        assert_eq!(parse(text, "ab12"), Outcome::WrongNonce("ffff".into()));
    }

    #[test]
    fn wrong_then_right_nonce() {
        let text = "PROCFS_TRACE_RESULT nonce=ffff rc=0\nPROCFS_TRACE_RESULT nonce=ab12 rc=1\n";
        assert_eq!(parse(text, "ab12"), Outcome::Finished(1));
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
