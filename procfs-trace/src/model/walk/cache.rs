//! Whether a walk finds a dentry cached: the revalidation a cached one costs,
//! the lookup a cold one costs, and the choice between them when the trace
//! cannot tell.

use procfs_trace_common::ProbeId;

use super::{Cached, Walk, WalkContext, COLD};
use crate::model::{
    errno::Errno,
    expect::{Ret, Step},
    func::Func,
    kernel::KernelFacts,
    version::KernelVersion,
};

/// First version the model knows whose `pid_revalidate` works in RCU walk:
/// 5.10's returns -ECHILD under LOOKUP_RCU, 6.1's handles it (checked in both
/// versions' fs/proc/base.c; upstream "proc: Allow pid_revalidate() during
/// LOOKUP_RCU" landed in between).
const PID_REVALIDATE_RCU_SINCE: KernelVersion = KernelVersion::new(6, 1);

/// Whether `func` refuses RCU walk (returns -ECHILD) on this kernel.
/// `tid_fd_revalidate` (fs/proc/fd.c) and `proc_sys_revalidate`
/// (fs/proc/proc_sysctl.c) do on every modelled version.
pub(super) fn refuses_rcu(func: Func, kernel: &KernelFacts) -> bool {
    match func.probe() {
        Some(ProbeId::TidFdRevalidate | ProbeId::ProcSysRevalidate) => true,
        Some(ProbeId::PidRevalidate) => kernel.version < PID_REVALIDATE_RCU_SINCE,
        _ => false,
    }
}

/// The ways a cached dentry is revalidated: once, or, when the function
/// refuses RCU walk, refused with -ECHILD and redone after lookup_fast drops
/// to ref-walk (a walk already in ref-walk revalidates once).
pub(super) fn revalidations(warm: Step, kernel: &KernelFacts) -> Vec<(String, Vec<Step>)> {
    if !refuses_rcu(warm.func, kernel) {
        return vec![("cached".to_owned(), vec![warm])];
    }
    let refused = Step {
        ret: Ret::Errno(Errno::ECHILD),
        why: format!("{} refuses RCU walk with -ECHILD", warm.func).into(),
        ..warm.clone()
    };
    vec![
        (
            "cached, RCU walk refused".to_owned(),
            vec![refused, warm.clone()],
        ),
        ("cached, ref-walk".to_owned(), vec![warm]),
    ]
}

/// Records `here` and adds the choice between revalidating and looking it up.
pub(super) fn cached_or_lookup(w: &mut Walk, cx: &WalkContext, here: &str, warm: Step, cold: Step) {
    let warm = revalidations(warm, cx.kernel);
    cache_choice(w, cx, here, warm, vec![cold]);
}

pub(super) fn cache_choice(
    w: &mut Walk,
    cx: &WalkContext,
    here: &str,
    warm: Vec<(String, Vec<Step>)>,
    cold: Vec<Step>,
) {
    w.dentries.push(here.to_owned());
    let cold = (COLD.to_owned(), cold);
    // A dentry seen cached may since have been evicted, and the same path may
    // name another proc mount's dentry (a container's own /proc, a hidepid
    // mount): the trace cannot tell, so both stay possible, warm first.
    let options = match (cx.cached)(here) {
        Cached::Yes => warm.into_iter().chain(std::iter::once(cold)).collect(),
        Cached::No => vec![cold],
        Cached::Unknown => std::iter::once(cold).chain(warm).collect(),
    };
    match <[_; 1]>::try_from(options) {
        Ok([(_, steps)]) => w.prediction.fixed(steps),
        Err(options) => w
            .prediction
            .choice(format!("{here} may already be in the dcache"), options),
    }
}
