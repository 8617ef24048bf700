//! What a run of the checker adds up to: operations per verdict, the reasons
//! behind `unknown`, and whether that is a pass, a failure, or not enough.

use std::collections::BTreeMap;

use super::{Checked, Verdict};

/// `check` exits with this when nothing diverged but evidence was missing.
pub const EXIT_INCONCLUSIVE: i32 = 3;
/// `check` exits with this when no operation was verified at all.
pub const EXIT_NOTHING_VERIFIED: i32 = 4;

/// Unknown reasons listed in a summary.
const TOP_REASONS: usize = 3;

/// Counts of checked operations.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Operations per verdict name.
    pub verdicts: BTreeMap<&'static str, u64>,
    /// Matches that compared at least one probed call with the model.
    pub verified: u64,
    /// Unknown operations per reason.
    pub unknown: BTreeMap<String, u64>,
}

/// Evidence missing outside the operations: losses and damage.
#[derive(Debug, Default, Clone, Copy)]
pub struct Gaps {
    /// Events the kernel could not deliver.
    pub lost: u64,
    /// Damaged regions of a recording.
    pub damaged: usize,
}

/// What a check concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Verified operations, none diverged, nothing missing.
    Pass,
    /// The kernel diverged from the model.
    Fail,
    /// Nothing diverged, but events were lost or operations incomplete.
    Inconclusive,
    /// Nothing diverged and nothing was verified.
    NothingVerified,
}

impl Outcome {
    /// The process exit code.
    pub fn code(self) -> i32 {
        match self {
            Outcome::Pass => 0,
            Outcome::Fail => 1,
            Outcome::Inconclusive => EXIT_INCONCLUSIVE,
            Outcome::NothingVerified => EXIT_NOTHING_VERIFIED,
        }
    }

    /// One line for the end of a check.
    pub fn message(self) -> &'static str {
        match self {
            Outcome::Pass => {
                "PASS: verified operations matched the model, nothing diverged, nothing was lost"
            }
            Outcome::Fail => "FAIL: the kernel diverged from the model",
            Outcome::Inconclusive => {
                "INCONCLUSIVE: events were lost or incomplete, so this is not a pass"
            }
            Outcome::NothingVerified => {
                "NOTHING VERIFIED: no operation was compared with the model, so this is not a pass"
            }
        }
    }
}

impl Tally {
    /// Counts one checked operation.
    pub fn add(&mut self, c: &Checked) {
        *self.verdicts.entry(c.verdict.name()).or_default() += 1;
        match &c.verdict {
            Verdict::Match { .. } if c.evidence > 0 => self.verified += 1,
            Verdict::Unknown { why } => *self.unknown.entry(reason(why)).or_default() += 1,
            _ => {}
        }
    }

    /// Operations with this verdict name.
    pub fn count(&self, verdict: &str) -> u64 {
        self.verdicts.get(verdict).copied().unwrap_or(0)
    }

    /// What the counts conclude, given what went missing elsewhere.
    pub fn outcome(&self, gaps: Gaps) -> Outcome {
        if self.count("divergence") > 0 {
            Outcome::Fail
        } else if gaps.lost > 0 || gaps.damaged > 0 || self.count("inconclusive") > 0 {
            Outcome::Inconclusive
        } else if self.verified == 0 {
            Outcome::NothingVerified
        } else {
            Outcome::Pass
        }
    }

    /// "operations: 12 match, 1 unknown" for the summary.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .verdicts
            .iter()
            .map(|(v, n)| format!("{n} {v}"))
            .collect();
        if parts.is_empty() {
            "no procfs operations".to_owned()
        } else {
            format!("operations: {}", parts.join(", "))
        }
    }

    /// "coverage: 10 verified, 2 matched with no probed call to compare,
    /// 1 unknown (reason ×1), 0 inconclusive".
    pub fn coverage(&self) -> String {
        let matched = self.count("match");
        let mut s = format!("coverage: {} verified", self.verified);
        if matched > self.verified {
            s.push_str(&format!(
                ", {} matched with no probed call to compare",
                matched - self.verified
            ));
        }
        s.push_str(&format!(", {} unknown", self.count("unknown")));
        if !self.unknown.is_empty() {
            let mut reasons: Vec<(&String, &u64)> = self.unknown.iter().collect();
            reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let top: Vec<String> = reasons
                .iter()
                .take(TOP_REASONS)
                .map(|(r, n)| format!("{r} ×{n}"))
                .collect();
            s.push_str(&format!(" ({})", top.join("; ")));
        }
        s.push_str(&format!(", {} inconclusive", self.count("inconclusive")));
        s
    }
}

/// An unknown verdict's reason without the path and numbers it names, so
/// that reasons group: "/proc/42/ns/net: below ns ... is outside the model"
/// and the same for pid 43 count as one.
fn reason(why: &str) -> String {
    let text = match why.split_once(": ") {
        Some((head, tail)) if head.starts_with('/') => tail,
        _ => why,
    };
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| match w.starts_with("/proc") {
            true => "PATH".to_owned(),
            false => w.replace(|c: char| c.is_ascii_digit(), "#"),
        })
        .collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::state::tests::checked;

    fn with(verdict: Verdict, evidence: usize) -> Checked {
        let mut c = checked(1, "/proc/1/stat", 0);
        c.verdict = verdict;
        c.evidence = evidence;
        c
    }

    #[test]
    fn a_pass_needs_a_verified_operation() {
        let mut t = Tally::default();
        assert_eq!(t.outcome(Gaps::default()), Outcome::NothingVerified);
        t.add(&with(Verdict::Match { assumed: vec![] }, 0));
        assert_eq!(
            t.outcome(Gaps::default()),
            Outcome::NothingVerified,
            "a match with nothing compared is no evidence"
        );
        t.add(&with(Verdict::Match { assumed: vec![] }, 3));
        assert_eq!(t.outcome(Gaps::default()), Outcome::Pass);
        assert_eq!(
            t.outcome(Gaps {
                lost: 1,
                damaged: 0
            }),
            Outcome::Inconclusive
        );
        t.add(&with(
            Verdict::Divergence {
                at: "call 1".into(),
                expected: "a".into(),
                seen: "b".into(),
            },
            0,
        ));
        assert_eq!(
            t.outcome(Gaps {
                lost: 1,
                damaged: 0
            }),
            Outcome::Fail
        );
        assert_eq!(Outcome::NothingVerified.code(), EXIT_NOTHING_VERIFIED);
    }

    #[test]
    fn coverage_names_the_top_unknown_reasons() {
        let mut t = Tally::default();
        for pid in [1, 2] {
            t.add(&with(
                Verdict::Unknown {
                    why: format!("/proc/{pid}/ns/net: below ns (Dir) is outside the model"),
                },
                0,
            ));
        }
        t.add(&with(
            Verdict::Unknown {
                why: "the syscall failed (-ENOENT); failing walks are outside the model".into(),
            },
            0,
        ));
        t.add(&with(Verdict::Match { assumed: vec![] }, 2));
        let c = t.coverage();
        assert!(
            c.starts_with("coverage: 1 verified, 3 unknown (below ns (Dir) is outside the model ×2; the syscall failed"),
            "{c}"
        );
        assert!(c.ends_with(", 0 inconclusive"), "{c}");
    }
}
