//! What the trace has shown about the dcache, so the model can say whether a
//! dentry must be revalidated or looked up.

use std::borrow::Cow;

use procfs_trace_common::ProbeId;

use crate::{bounded::BoundedMap, flows::op::Op, model::walk::Cached};

/// Dentries' cache state by full path, as learned from checked operations.
#[derive(Debug, Clone)]
pub struct Dcache {
    known: BoundedMap<String, bool>,
}

/// Paths remembered at most; beyond it the least recently used state is
/// forgotten (unknown again), which only makes the model more permissive.
const MAX_KNOWN: usize = 1 << 16;

impl Default for Dcache {
    fn default() -> Self {
        Dcache {
            known: BoundedMap::new(MAX_KNOWN),
        }
    }
}

impl Dcache {
    /// The state of the dentry at `path`.
    pub fn state(&self, path: &str) -> Cached {
        match self.known.get(path) {
            Some(true) => Cached::Yes,
            Some(false) => Cached::No,
            None => Cached::Unknown,
        }
    }

    /// Learns from a finished walk over `dentries`: a successful syscall leaves
    /// every dentry it walked in the cache; a revalidation that failed drops one.
    pub fn record<'a>(&mut self, op: &Op, dentries: impl IntoIterator<Item = Cow<'a, str>>) {
        let ok = op
            .syscall
            .as_ref()
            .and_then(|s| s.ret)
            .is_some_and(|r| r >= 0);
        let invalidated = op
            .all_calls()
            .any(|c| c.probe == ProbeId::PidRevalidate && c.ret == Some(0));
        for d in dentries {
            if ok && !invalidated {
                // Most walks cross dentries already known: no key to build.
                *self.known.entry_ref(&*d) = true;
            } else {
                // Failure or invalidation: no longer sure either way.
                self.known.remove(&*d);
            }
        }
    }
}
