//! The flows pane's operations: the newest [`MAX_FLOWS`], and before them
//! the newest [`KEPT_DIVERGENCES`] divergences that left those, since
//! divergences are what a user looks for and a flood would push them out in
//! a blink.
//!
//! Operations arrive in batches (one per tick). One that enough of its own
//! batch follows cannot be on show when the batch ends, so it is dropped (or
//! kept as a divergence) as it arrives, while its memory is still warm,
//! rather than evicted hundreds of operations later: under a flood that cold
//! drop was a quarter of the live view's cost over checking alone.

use std::collections::VecDeque;

use crate::check::Checked;

/// The newest flows kept for the flows pane.
pub const MAX_FLOWS: usize = 200;
/// Divergences kept once they are older than the newest [`MAX_FLOWS`].
pub const KEPT_DIVERGENCES: usize = MAX_FLOWS / 4;

/// The flows on show, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Recent {
    /// Divergences older than every flow of `newest`.
    kept: VecDeque<Checked>,
    /// The newest flows.
    newest: VecDeque<Checked>,
}

impl Recent {
    /// Adds `c`, which `later` more operations of its batch follow.
    pub fn push(&mut self, c: Checked, later: usize) {
        if later < MAX_FLOWS {
            if self.newest.len() == MAX_FLOWS {
                if let Some(old) = self.newest.pop_front() {
                    self.retire(old);
                }
            }
            self.newest.push_back(c);
            return;
        }
        // By the end of the batch `c` and everything before it will have
        // left `newest`; they leave now, in the same order.
        while let Some(old) = self.newest.pop_front() {
            self.retire(old);
        }
        self.retire(c);
    }

    /// A flow leaving the newest: kept if it diverged, else dropped.
    fn retire(&mut self, c: Checked) {
        if !c.diverged() {
            return;
        }
        if self.kept.len() == KEPT_DIVERGENCES {
            self.kept.pop_front();
        }
        self.kept.push_back(c);
    }

    /// Flows on show.
    pub fn len(&self) -> usize {
        self.kept.len() + self.newest.len()
    }

    /// Whether no flow is on show.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The flows on show, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Checked> {
        self.kept.iter().chain(&self.newest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check::Verdict, live::state::tests::checked};

    fn flow(ts: u64, diverged: bool) -> Checked {
        let mut c = checked(1, "/proc/1/stat", ts);
        if diverged {
            c.verdict = Verdict::Divergence {
                at: "x".into(),
                expected: "a".into(),
                seen: "b".into(),
            };
        }
        c
    }

    fn shown(r: &Recent) -> Vec<u64> {
        r.iter().map(|c| c.op.start_ns).collect()
    }

    #[test]
    fn divergences_outlive_other_flows_up_to_a_quarter_of_the_pane() {
        let mut r = Recent::default();
        r.push(flow(0, true), 0);
        for ts in 1..=MAX_FLOWS as u64 * 2 {
            r.push(flow(ts, false), 0);
        }
        assert_eq!(r.len(), MAX_FLOWS + 1);
        assert_eq!(shown(&r)[..2], [0, MAX_FLOWS as u64 + 1]);
        for ts in 1000..1000 + MAX_FLOWS as u64 {
            r.push(flow(ts, true), 0);
            r.push(flow(ts + 10_000, false), 0);
        }
        assert_eq!(r.len(), MAX_FLOWS + KEPT_DIVERGENCES);
        assert_eq!(r.iter().filter(|c| c.diverged()).count(), 150);
        let kept = shown(&r)[..KEPT_DIVERGENCES].to_vec();
        assert!(kept.windows(2).all(|w| w[0] < w[1]), "oldest first");
        assert_eq!(kept[0], 1000 + 50, "the oldest divergences went first");
    }

    /// Dropping a batch's early flows as they arrive shows what pushing
    /// every one would, whatever the mix of verdicts and batch sizes.
    #[test]
    fn early_drops_show_the_same_flows() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut eager, mut plain) = (Recent::default(), Recent::default());
        let mut ts = 0;
        for _ in 0..300 {
            let batch = (next() % 700) as usize;
            let odds = 1 + next() % 10;
            for i in 0..batch {
                ts += 1;
                let c = flow(ts, next() % odds == 0);
                plain.push(c.clone(), 0);
                eager.push(c, batch - 1 - i);
            }
            assert_eq!(shown(&eager), shown(&plain));
        }
    }
}
