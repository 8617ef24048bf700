//! Every way the kernel side can miss or drop what it should report, counted
//! apart so a summary can say which, and added up so every loss marks the
//! operations it may have cut short.

use std::{
    collections::HashSet,
    fmt,
    os::fd::{AsFd as _, AsRawFd as _, FromRawFd as _, OwnedFd},
};

use aya::Ebpf;
use aya_obj::generated::{
    bpf_cmd, bpf_link_info, bpf_link_type, bpf_perf_event_type, bpf_prog_info,
};

use crate::kernel::btf::Btf;

/// Events and facts lost so far, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Losses {
    /// Events not written: the ring buffer was full.
    pub ring: u64,
    /// Map inserts that failed: a table was full.
    pub map_inserts: u64,
    /// Program runs the kernel skipped (`recursion_misses` of each program:
    /// an fentry/fexit program re-entered on a CPU, or, from 6.7, a kprobe
    /// program skipped while another BPF program ran there).
    pub skipped_runs: u64,
    /// Kprobe and kretprobe hits the kernel missed (the `missed` count of
    /// each kprobe link, from 6.7): a kprobe hit inside another kprobe's
    /// handler, or a kretprobe with more threads inside its function than
    /// it has return instances.
    pub kprobe_misses: u64,
    /// Records still in the ring buffer when the session ended.
    pub unread: u64,
}

impl Losses {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.ring + self.unflagged()
    }

    /// Those no event flags: unlike a full ring buffer, which the kernel
    /// marks on the syscall it hit, they leave no trace on what they cut.
    pub fn unflagged(&self) -> u64 {
        self.map_inserts + self.skipped_runs + self.kprobe_misses + self.unread
    }
}

impl fmt::Display for Losses {
    /// `0 lost`, or the total and each non-zero cause.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} lost", self.total())?;
        let parts: Vec<String> = [
            (self.ring, "ring buffer full"),
            (self.map_inserts, "map inserts failed"),
            (self.skipped_runs, "probe runs skipped by the kernel"),
            (self.kprobe_misses, "kprobe hits missed by the kernel"),
            (self.unread, "unread at exit"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

/// What this kernel lets a session count besides the ring buffer's and the
/// maps' own losses, as a phrase, from its BTF.
pub fn kernel_counts(btf: &Btf) -> String {
    let has = |ty: &str, member: &str| btf.member_offset(ty, member).is_ok();
    let mut counted = vec!["ring buffer overflows", "failed map inserts"];
    let mut not = Vec::new();
    for (yes, what, from) in [
        (
            has("bpf_prog_info", "recursion_misses"),
            "fentry recursion misses",
            "5.12",
        ),
        (kprobe_misses_counted(btf), "kprobe misses", "6.7"),
    ] {
        match yes {
            true => counted.push(what),
            false => not.push(format!("{what} (Linux {from}+)")),
        }
    }
    let mut phrase = format!("counts {}", counted.join(", "));
    if !not.is_empty() {
        phrase += &format!(
            "; not {}: such a miss shows only as an incomplete operation",
            not.join(", ")
        );
    }
    phrase
}

/// Whether this kernel's `bpf_link_info` carries a kprobe link's missed count.
pub fn kprobe_misses_counted(btf: &Btf) -> bool {
    btf.member_offset("bpf_link_info", "perf_event.kprobe.missed")
        .is_ok()
}

/// The runs the kernel skipped, per program that had any (by program
/// name); `None` where the kernel does not count them for some program.
pub fn skipped_runs(ebpf: &Ebpf) -> Option<Vec<(String, u64)>> {
    let mut by_program = Vec::new();
    for (name, prog) in ebpf.programs() {
        let Ok(fd) = prog.fd() else { continue };
        let misses = recursion_misses(fd.as_fd().as_raw_fd())?;
        if misses > 0 {
            by_program.push((name.to_owned(), misses));
        }
    }
    Some(by_program)
}

/// Programs a skip report names one by one; the rest are counted together.
const NAMED_SKIPS: usize = 4;

/// Which programs lost runs, most first, and why that happens: where the
/// skips are tells whether the syscall frames or the probes lost them.
pub fn describe_skips(mut by_program: Vec<(String, u64)>) -> Option<String> {
    if by_program.is_empty() {
        return None;
    }
    by_program.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut parts: Vec<String> = (by_program.iter().take(NAMED_SKIPS))
        .map(|(name, n)| format!("{} {n}", program_kind(name)))
        .collect();
    if by_program.len() > NAMED_SKIPS {
        let rest: u64 = by_program[NAMED_SKIPS..].iter().map(|(_, n)| n).sum();
        parts.push(format!(
            "{} more programs {rest}",
            by_program.len() - NAMED_SKIPS
        ));
    }
    Some(format!(
        "runs skipped by the kernel, by program: {}. The kernel skips a run while the same \
         program runs on that CPU; on a kernel with full or lazy preemption, that is whenever \
         a run was preempted midway (kprobe programs run with preemption off)",
        parts.join(", ")
    ))
}

/// A program's name as what it hooks: `fe_seq_read` is `fentry seq_read`.
fn program_kind(name: &str) -> String {
    if let Some(f) = name.strip_prefix("fe_") {
        format!("fentry {f}")
    } else if let Some(f) = name.strip_prefix("fx_") {
        format!("fexit {f}")
    } else if matches!(
        name,
        "sys_enter" | "sys_exit" | "sched_process_exit" | "sched_process_exec"
    ) {
        format!("{name} tracepoint")
    } else if let Some(f) = name.strip_suffix("_ret") {
        format!("kretprobe {f}")
    } else {
        format!("kprobe {name}")
    }
}

/// `bpf_prog_info.recursion_misses` of one program, if the kernel fills it.
fn recursion_misses(fd: i32) -> Option<u64> {
    let (info, len) = obj_info::<bpf_prog_info>(fd)?;
    let end = std::mem::offset_of!(bpf_prog_info, recursion_misses) + 8;
    (len >= end).then_some(info.recursion_misses)
}

/// The kprobe and kretprobe links of a session, whose `missed` counts the
/// kernel reports from 6.7 (`bpf_link_info.perf_event.kprobe.missed`: the
/// kprobe's and the kretprobe's `nmissed`).
pub struct KprobeLinks(Vec<OwnedFd>);

impl KprobeLinks {
    /// Finds, among the system's BPF links, the perf-event kprobe links of
    /// `ebpf`'s programs. Call only where the kernel's `bpf_link_info` has
    /// the `missed` member (check its BTF): older kernels leave it zero.
    pub fn of(ebpf: &Ebpf) -> Self {
        let ours: HashSet<u32> = ebpf
            .programs()
            .filter_map(|(_, prog)| prog.info().ok().map(|i| i.id()))
            .collect();
        let mut links = Vec::new();
        let mut id = 0;
        while let Some(next) = next_link_id(id) {
            id = next;
            let Some(fd) = link_fd(id) else { continue };
            if let Some(info) = kprobe_link_info(&fd) {
                if ours.contains(&info.prog_id) {
                    links.push(fd);
                }
            }
        }
        KprobeLinks(links)
    }

    /// How many links were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none were.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The summed `missed` of every link.
    pub fn missed(&self) -> u64 {
        self.0
            .iter()
            .filter_map(kprobe_link_info)
            // SAFETY: `kprobe_link_info` returns only perf-event links of
            // kprobe or kretprobe type, whose union member is `kprobe`.
            .map(|i| unsafe { i.__bindgen_anon_1.perf_event.__bindgen_anon_1.kprobe.missed })
            .sum()
    }
}

/// The info of a perf-event link attaching a kprobe or kretprobe; `None` for
/// any other link.
fn kprobe_link_info(fd: &OwnedFd) -> Option<bpf_link_info> {
    let (info, _) = obj_info::<bpf_link_info>(fd.as_raw_fd())?;
    if info.type_ != bpf_link_type::BPF_LINK_TYPE_PERF_EVENT as u32 {
        return None;
    }
    // SAFETY: a perf-event link's union member is `perf_event`.
    let kind = unsafe { info.__bindgen_anon_1.perf_event.type_ };
    [
        bpf_perf_event_type::BPF_PERF_EVENT_KPROBE,
        bpf_perf_event_type::BPF_PERF_EVENT_KRETPROBE,
    ]
    .iter()
    .any(|t| *t as u32 == kind)
    .then_some(info)
}

/// The attribute of BPF_*_GET_NEXT_ID and BPF_*_GET_FD_BY_ID.
#[repr(C)]
#[derive(Default)]
struct IdAttr {
    id: u32,
    next_id: u32,
    open_flags: u32,
}

/// The id of the next BPF link after `id`, or `None` past the last.
fn next_link_id(id: u32) -> Option<u32> {
    let mut attr = IdAttr {
        id,
        ..IdAttr::default()
    };
    (bpf(bpf_cmd::BPF_LINK_GET_NEXT_ID, &mut attr) == 0).then_some(attr.next_id)
}

/// A new descriptor of the link with this id (gone links give `None`).
fn link_fd(id: u32) -> Option<OwnedFd> {
    let mut attr = IdAttr {
        id,
        ..IdAttr::default()
    };
    let fd = bpf(bpf_cmd::BPF_LINK_GET_FD_BY_ID, &mut attr);
    // SAFETY: on success the kernel returned a new descriptor, now ours.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// BPF_OBJ_GET_INFO_BY_FD into a `T`, with the length the kernel filled.
fn obj_info<T>(fd: i32) -> Option<(T, usize)> {
    #[repr(C)]
    struct InfoAttr {
        bpf_fd: u32,
        info_len: u32,
        info: u64,
    }
    // SAFETY: `T` is one of the kernel's info structs (integers, arrays,
    // unions and bitfields): all zeroes is a valid value, and the one the
    // kernel expects for fields it leaves alone.
    let mut info: T = unsafe { std::mem::zeroed() };
    let mut attr = InfoAttr {
        bpf_fd: fd as u32,
        info_len: std::mem::size_of::<T>() as u32,
        info: &mut info as *mut T as u64,
    };
    // The kernel writes at most `info_len` bytes into `info`, which is that large.
    (bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr) == 0).then_some((info, attr.info_len as usize))
}

/// The bpf(2) system call with an attribute we own.
fn bpf<A>(cmd: bpf_cmd, attr: &mut A) -> libc::c_long {
    // SAFETY: `attr` is a live, exclusively borrowed attribute of the size
    // passed; the kernel reads and writes only within it, and within what
    // its pointers (our own buffers, if any) cover.
    unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_int,
            attr as *mut A,
            std::mem::size_of::<A>() as u32,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_names_each_cause() {
        assert_eq!(Losses::default().to_string(), "0 lost");
        let l = Losses {
            ring: 5,
            map_inserts: 0,
            skipped_runs: 2,
            kprobe_misses: 3,
            unread: 1,
        };
        assert_eq!(
            l.to_string(),
            "11 lost (5 ring buffer full, 2 probe runs skipped by the kernel, \
             3 kprobe hits missed by the kernel, 1 unread at exit)"
        );
    }

    #[test]
    fn skips_name_the_programs_most_first() {
        assert_eq!(describe_skips(Vec::new()), None);
        let skips = [
            ("fe_seq_read", 56),
            ("sys_exit", 161),
            ("fx_seq_read", 36),
            ("sys_enter", 170),
            ("proc_pid_lookup_ret", 2),
            ("proc_pid_lookup", 1),
        ];
        let text = describe_skips(skips.map(|(n, c)| (n.to_owned(), c)).to_vec()).unwrap();
        assert!(
            text.starts_with(
                "runs skipped by the kernel, by program: sys_enter tracepoint 170, \
                 sys_exit tracepoint 161, fentry seq_read 56, fexit seq_read 36, \
                 2 more programs 3. "
            ),
            "{text}"
        );
        assert_eq!(
            program_kind("proc_pid_lookup_ret"),
            "kretprobe proc_pid_lookup"
        );
        assert_eq!(program_kind("proc_pid_lookup"), "kprobe proc_pid_lookup");
    }
}
