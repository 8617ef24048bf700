//! Tries, with raw bpf(2) calls, what this kernel allows: a ring buffer map,
//! and an fentry program attached to a kernel function. Trying beats guessing:
//! configs, lockdown and security policies all decide, and only the kernel
//! knows the combination.

use std::io;

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_MAP_TYPE_RINGBUF: u32 = 27;
const BPF_PROG_TYPE_TRACING: u32 = 26;
const BPF_TRACE_FENTRY: u32 = 24;

/// `bpf(cmd, attr, size)`; returns the new fd.
fn bpf(cmd: libc::c_long, attr: &mut [u64]) -> io::Result<i32> {
    let size = std::mem::size_of_val(attr);
    // SAFETY: attr is a zero-padded buffer as large as the size passed; the
    // kernel reads (and for some commands writes) only within it.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), size) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd as i32)
}

fn close(fd: i32) {
    // SAFETY: fd was returned by bpf(2) and is owned here.
    unsafe { libc::close(fd) };
}

/// Writes little-endian u32 fields into the u64 attribute buffer.
fn put_u32(attr: &mut [u64], byte_off: usize, v: u32) {
    let word = byte_off / 8;
    let shift = (byte_off % 8) * 8;
    attr[word] = (attr[word] & !(0xffff_ffffu64 << shift)) | (u64::from(v) << shift);
}

/// Creates (and closes) a 4 KiB ring buffer map.
pub fn ring_buffer() -> io::Result<()> {
    let mut attr = [0u64; 16];
    put_u32(&mut attr, 0, BPF_MAP_TYPE_RINGBUF); // map_type
    put_u32(&mut attr, 12, 4096); // max_entries
    bpf(BPF_MAP_CREATE, &mut attr).map(close)
}

/// Why a trivial fentry program could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FentryError {
    /// The kernel refused to load it.
    #[error("loading an fentry program failed: {}", describe(.0))]
    Load(io::Error),
    /// The kernel loaded it but refused to attach it.
    #[error("attaching an fentry program failed: {}", describe(.0))]
    Attach(io::Error),
}

/// Loads a trivial fentry program for the function with BTF id `btf_id` and
/// attaches it (then detaches both).
pub fn fentry(btf_id: u32) -> Result<(), FentryError> {
    // r0 = 0; exit
    let insns: [u64; 2] = [0x0000_0000_0000_00b7, 0x0000_0000_0000_0095];
    let license = b"GPL\0";
    let mut attr = [0u64; 20];
    put_u32(&mut attr, 0, BPF_PROG_TYPE_TRACING); // prog_type
    put_u32(&mut attr, 4, insns.len() as u32); // insn_cnt
    attr[1] = insns.as_ptr() as u64; // insns
    attr[2] = license.as_ptr() as u64; // license
    put_u32(&mut attr, 68, BPF_TRACE_FENTRY); // expected_attach_type
    put_u32(&mut attr, 108, btf_id); // attach_btf_id
    let prog = bpf(BPF_PROG_LOAD, &mut attr).map_err(FentryError::Load)?;
    let mut link = [0u64; 8];
    put_u32(&mut link, 0, prog as u32); // prog_fd
    put_u32(&mut link, 8, BPF_TRACE_FENTRY); // attach_type
    let result = bpf(BPF_LINK_CREATE, &mut link)
        .map(close)
        .map_err(FentryError::Attach);
    close(prog);
    result
}

/// An errno with what it usually means for BPF.
fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM) => format!("{e} (denied: not root, lockdown, or a security policy)"),
        Some(libc::EINVAL) => format!("{e} (this kernel does not support it)"),
        // 524 is the kernel-internal ENOTSUPP some BPF paths leak to user space.
        Some(524) | Some(libc::EOPNOTSUPP) => format!("{e} (not supported here)"),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u32_fields_land_where_the_kernel_reads_them() {
        let mut a = [0u64; 14];
        put_u32(&mut a, 0, 0x11);
        put_u32(&mut a, 4, 0x22);
        put_u32(&mut a, 108, 0x33);
        assert_eq!(a[0], 0x0000_0022_0000_0011);
        assert_eq!(a[13], 0x0000_0033_0000_0000);
    }
}
