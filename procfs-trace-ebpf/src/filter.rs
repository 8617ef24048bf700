//! Decides whether the current task is reported.

use aya_ebpf::helpers::{bpf_get_current_task, bpf_probe_read_kernel};
use procfs_trace_common::{filter, Config, COMM_LEN, MAX_ANCESTORS};

use crate::maps::{inserted, TRACED};

/// True when the current task passes the configured pid/descendant and comm filters.
#[inline(always)]
pub fn wanted(cfg: &Config, tgid: u32, comm: &[u8; COMM_LEN]) -> bool {
    if tgid == cfg.self_tgid {
        return false;
    }
    if !comm_matches(cfg, comm) {
        return false;
    }
    match cfg.filter {
        filter::ALL => true,
        filter::TGIDS => is_traced(tgid),
        _ => is_traced(tgid) || adopt_descendant(cfg, tgid),
    }
}

#[inline(always)]
fn is_traced(tgid: u32) -> bool {
    // SAFETY: the value is only tested for presence.
    unsafe { TRACED.get(&tgid).is_some() }
}

#[inline(always)]
fn comm_matches(cfg: &Config, comm: &[u8; COMM_LEN]) -> bool {
    let len = cfg.comm_len as usize;
    if len == 0 {
        return true;
    }
    let mut i = 0;
    while i < COMM_LEN {
        if i >= len {
            // The configured name is shorter: the task's comm must end here.
            return comm[i] == 0;
        }
        if comm[i] != cfg.comm[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Walks up `real_parent` looking for the agent (or a traced tgid); on success
/// remembers `tgid` in `TRACED` so later events skip the walk.
#[inline(always)]
fn adopt_descendant(cfg: &Config, tgid: u32) -> bool {
    // SAFETY: kernel pointers are only dereferenced through bpf_probe_read_kernel.
    let mut task = unsafe { bpf_get_current_task() };
    for _ in 0..MAX_ANCESTORS {
        let parent_field = task.wrapping_add(cfg.task_real_parent as u64) as *const u64;
        task = match unsafe { bpf_probe_read_kernel(parent_field) } {
            Ok(p) if p != 0 => p,
            _ => return false,
        };
        let tgid_field = task.wrapping_add(cfg.task_tgid as u64) as *const u32;
        let ancestor = match unsafe { bpf_probe_read_kernel(tgid_field) } {
            Ok(t) => t,
            Err(_) => return false,
        };
        if ancestor == cfg.self_tgid || is_traced(ancestor) {
            inserted(TRACED.insert(&tgid, &1, 0));
            return true;
        }
        if ancestor <= 1 {
            return false;
        }
    }
    false
}
