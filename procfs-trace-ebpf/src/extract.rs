//! Follows the BTF-derived pointer chains from a probed function's arguments.
//!
//! Results are a plain struct rather than `Result<u64, _>`: an enum leaves its
//! payload uninitialised on the error path, LLVM may still copy it, and the
//! 5.10 verifier rejects any read of uninitialised stack.

use aya_ebpf::{
    helpers::{
        bpf_get_current_task, bpf_probe_read_kernel, bpf_probe_read_kernel_str_bytes,
        generated::bpf_get_func_arg,
    },
    programs::{FEntryContext, FExitContext, ProbeContext},
    EbpfContext,
};
use procfs_trace_common::{Chain, PidNsOffsets, MAX_CHAIN, NAME_LEN, NO_ARG};

/// The chain is not configured for this probe on this kernel.
pub const UNUSED: u8 = 0;
/// `value` is valid.
pub const OK: u8 = 1;
/// A read faulted (NULL or unmapped pointer on the way).
pub const FAULT: u8 = 2;

/// A value read through a chain, and how the read went.
#[derive(Clone, Copy)]
pub struct Read {
    /// The value; 0 unless `state` is [`OK`].
    pub value: u64,
    /// [`UNUSED`], [`OK`] or [`FAULT`].
    pub state: u8,
}

impl Read {
    const fn new(value: u64, state: u8) -> Read {
        Read { value, state }
    }

    /// Nothing to read.
    pub const UNUSED: Read = Read::new(0, UNUSED);
    /// A read that faulted.
    pub const FAULT: Read = Read::new(0, FAULT);

    /// A successful read.
    pub const fn ok(value: u64) -> Read {
        Read::new(value, OK)
    }

    /// `flag` when valid, `fault` when a read faulted, 0 when unused.
    #[inline(always)]
    pub fn flag(self, flag: u8, fault: u8) -> u8 {
        match self.state {
            OK => flag,
            FAULT => fault,
            _ => 0,
        }
    }
}

/// Where a probe's arguments come from: pt_regs for kprobes, the BTF-typed
/// argument array for fentry/fexit.
pub trait Args {
    /// Argument `n` (0-based).
    fn arg(&self, n: u8) -> Read;
}

impl Args for ProbeContext {
    /// The verifier only allows context reads at a constant offset, and LLVM
    /// merges per-arm loads of a `match` into one load at a computed offset;
    /// reading all six registers first and then choosing among the values
    /// avoids that.
    #[inline(always)]
    fn arg(&self, n: u8) -> Read {
        use core::ptr::{addr_of, read_volatile};
        let r = self.regs;
        // SAFETY: `regs` is the kprobe's pt_regs context; each read is a constant-offset field.
        let regs = unsafe {
            [
                read_volatile(addr_of!((*r).rdi)),
                read_volatile(addr_of!((*r).rsi)),
                read_volatile(addr_of!((*r).rdx)),
                read_volatile(addr_of!((*r).rcx)),
                read_volatile(addr_of!((*r).r8)),
                read_volatile(addr_of!((*r).r9)),
            ]
        };
        match n {
            0 => Read::ok(regs[0]),
            1 => Read::ok(regs[1]),
            2 => Read::ok(regs[2]),
            3 => Read::ok(regs[3]),
            4 => Read::ok(regs[4]),
            5 => Read::ok(regs[5]),
            _ => Read::FAULT,
        }
    }
}

/// A tracing program's argument by index: `bpf_get_func_arg` (Linux 5.17+)
/// takes a runtime index, which constant-offset context reads cannot.
#[inline(always)]
fn func_arg(ctx: *mut core::ffi::c_void, n: u8) -> Read {
    let mut v: u64 = 0;
    // SAFETY: the helper writes one u64 to `v` and checks `n` against the
    // function's argument count.
    match unsafe { bpf_get_func_arg(ctx, u32::from(n), &mut v) } {
        0 => Read::ok(v),
        _ => Read::FAULT,
    }
}

impl Args for FEntryContext {
    #[inline(always)]
    fn arg(&self, n: u8) -> Read {
        func_arg(self.as_ptr(), n)
    }
}

impl Args for FExitContext {
    #[inline(always)]
    fn arg(&self, n: u8) -> Read {
        func_arg(self.as_ptr(), n)
    }
}

/// The raw argument the chain starts from.
#[inline(always)]
pub fn base(ctx: &impl Args, chain: &Chain) -> Read {
    if chain.arg == NO_ARG {
        return Read::UNUSED;
    }
    ctx.arg(chain.arg)
}

/// Walks `chain` from `start`: each step adds an offset and reads 8 bytes.
#[inline(always)]
pub fn walk(chain: &Chain, start: Read) -> Read {
    if start.state != OK {
        return start;
    }
    let mut v = start.value;
    for i in 0..MAX_CHAIN {
        if i >= chain.steps as usize {
            break;
        }
        if v == 0 {
            return Read::FAULT;
        }
        let next = read_u64(v.wrapping_add(chain.offsets[i] as i64 as u64));
        if next.state != OK {
            return Read::FAULT;
        }
        v = next.value;
    }
    Read::ok(v)
}

/// The current task's number in the pid namespace at `ns`: its tgid
/// (`task_tgid_nr_ns`) when `group`, its thread's id (`task_pid_nr_ns`)
/// otherwise; 0 when the task has no number there. Straight-line reads, no
/// `Option`: see the note at the top of this file.
#[inline(always)]
pub fn nr_in_ns(ns: Read, o: &PidNsOffsets, group: bool) -> Read {
    if ns.state != OK {
        return ns;
    }
    if o.valid == 0 || ns.value == 0 {
        return Read::FAULT;
    }
    let level = read_u32(ns.value + u64::from(o.ns_level));
    // SAFETY: plain helper call.
    let task = unsafe { bpf_get_current_task() };
    let leader = match group {
        true => read_u64(task + u64::from(o.task_group_leader)),
        false => Read::ok(task),
    };
    let pid = read_u64(leader.value + u64::from(o.task_thread_pid));
    if level.state != OK || leader.state != OK || pid.state != OK || pid.value == 0 {
        return Read::FAULT;
    }
    let pid_level = read_u32(pid.value + u64::from(o.pid_level));
    if pid_level.state != OK {
        return Read::FAULT;
    }
    if level.value > pid_level.value {
        return Read::ok(0);
    }
    let upid = pid.value + u64::from(o.pid_numbers) + level.value * u64::from(o.upid_size);
    let upid_ns = read_u64(upid + u64::from(o.upid_ns));
    if upid_ns.state != OK {
        return Read::FAULT;
    }
    if upid_ns.value != ns.value {
        return Read::ok(0);
    }
    read_u32(upid + u64::from(o.upid_nr))
}

#[inline(always)]
fn read_u64(at: u64) -> Read {
    // SAFETY: bpf_probe_read_kernel checks the address; a bad one is an error, not a crash.
    match unsafe { bpf_probe_read_kernel(at as *const u64) } {
        Ok(v) => Read::ok(v),
        Err(_) => Read::FAULT,
    }
}

#[inline(always)]
fn read_u32(at: u64) -> Read {
    // SAFETY: as in `read_u64`.
    match unsafe { bpf_probe_read_kernel(at as *const u32) } {
        Ok(v) => Read::ok(u64::from(v)),
        Err(_) => Read::FAULT,
    }
}

/// Reads the NUL-terminated string at `ptr` into `out`; the value is its length.
#[inline(always)]
pub fn read_name(ptr: Read, out: &mut [u8; NAME_LEN]) -> Read {
    if ptr.state != OK {
        return ptr;
    }
    if ptr.value == 0 {
        return Read::FAULT;
    }
    // SAFETY: the helper bounds the read to `out` and checks the source address.
    match unsafe { bpf_probe_read_kernel_str_bytes(ptr.value as *const u8, out) } {
        Ok(s) => Read::ok(s.len() as u64),
        Err(_) => Read::FAULT,
    }
}
