//! The count-only twin of every probe: the least a program attached the same
//! way can do, one per-CPU increment. The overhead benchmark measures what
//! the real programs cost beyond it.

use aya_ebpf::{macros::map, maps::PerCpuArray};

/// Runs of the twin programs, per CPU.
#[map]
pub static TWIN_RUNS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Counts one run.
#[inline(always)]
pub fn bump() -> u32 {
    if let Some(n) = TWIN_RUNS.get_ptr_mut(0) {
        // SAFETY: per-CPU slot, so no other writer races this increment.
        unsafe { *n += 1 };
    }
    0
}
