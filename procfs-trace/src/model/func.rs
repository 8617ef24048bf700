//! Kernel functions as the model names them: a probed function by its
//! [`ProbeId`], any other (a show callback procfs-trace does not probe, a
//! pid entry's handler) by its symbol name.

use std::fmt;

use procfs_trace_common::ProbeId;

/// A kernel function in a prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func {
    /// One procfs-trace can probe.
    Probe(ProbeId),
    /// One it cannot: predicted for the reader, dropped before comparison.
    Unprobed(&'static str),
}

impl Func {
    /// The function called `name`: its probe when procfs-trace has one.
    pub fn named(name: &'static str) -> Func {
        ProbeId::by_name(name).map_or(Func::Unprobed(name), Func::Probe)
    }

    /// Its symbol name.
    pub fn name(self) -> &'static str {
        match self {
            Func::Probe(id) => id.def().func,
            Func::Unprobed(name) => name,
        }
    }

    /// Its probe, if it has one.
    pub fn probe(self) -> Option<ProbeId> {
        match self {
            Func::Probe(id) => Some(id),
            Func::Unprobed(_) => None,
        }
    }
}

impl From<ProbeId> for Func {
    fn from(id: ProbeId) -> Func {
        Func::Probe(id)
    }
}

impl From<&'static str> for Func {
    fn from(name: &'static str) -> Func {
        Func::named(name)
    }
}

impl PartialEq<ProbeId> for Func {
    fn eq(&self, id: &ProbeId) -> bool {
        *self == Func::Probe(*id)
    }
}

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probed_names_become_probes() {
        assert_eq!(Func::named("proc_pid_limits"), ProbeId::ProcPidLimits);
        assert_eq!(
            Func::named("proc_pid_stack"),
            Func::Unprobed("proc_pid_stack")
        );
        assert_eq!(Func::from(ProbeId::SeqRead).name(), "seq_read");
    }
}
