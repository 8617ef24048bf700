//! Loads the embedded eBPF object with the plan's settings and attaches its programs.

use aya::{
    programs::{FEntry, FExit, KProbe, ProgramError, RawTracePoint},
    Btf, Ebpf, EbpfError, EbpfLoader,
};
use procfs_trace_common::{Config, ProbeId};
use thiserror::Error;

use super::plan::Plan;

/// The eBPF programs, built by build.rs.
pub(crate) static EBPF_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/procfs-trace"));

/// The benchmark twins (`Programs::Twin`), in an object of their own: loading
/// an object costs time per program it holds, and a tracer never needs them.
static TWIN_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/procfs-trace-twins"));

/// Failure to get the programs into the kernel.
#[derive(Debug, Error)]
pub enum AttachError {
    /// The object or its maps could not be loaded.
    #[error("loading the eBPF object into the kernel failed (is BPF enabled, and is the ring buffer map type supported? Linux 5.8 or later is needed)")]
    Load(#[source] EbpfError),
    /// The verifier rejected a program: a bug in procfs-trace for this kernel.
    #[error("the kernel rejected the eBPF program `{program}`; please report this with the kernel release")]
    Verify {
        /// Program name.
        program: String,
        /// The kernel's answer, with the verifier log.
        #[source]
        source: ProgramError,
    },
    /// The object lacks a program the probe table names (stale build).
    #[error("the embedded eBPF object has no program `{0}`: rebuild procfs-trace")]
    MissingProgram(String),
    /// Not a single probe attached.
    #[error("no probe could be attached; first failure: {0}")]
    NoneAttached(String),
    /// `--attach kprobe` or `--attach fentry` could not attach every planned probe.
    #[error("--attach {method} could not attach {}; use --attach auto to fall back per function", .functions.join(", "))]
    Forced {
        /// The method asked for.
        method: &'static str,
        /// Each function that failed, with the kernel's reason.
        functions: Vec<String>,
    },
    /// The syscall and thread (exit, exec) tracepoints, without which operations have no paths.
    #[error("the raw tracepoint {tracepoint} could not be attached, so syscalls cannot be followed and no operation would have a path: {why}")]
    Syscalls {
        /// `sys_enter`, `sys_exit`, `sched_process_exit` or `sched_process_exec`.
        tracepoint: &'static str,
        /// The kernel's answer.
        why: String,
    },
}

/// Why one program did not attach.
#[derive(Debug, Error)]
enum ProgramFailure {
    /// The embedded object lacks it (a stale build).
    #[error("the embedded eBPF object has no program `{0}`")]
    Missing(String),
    /// The kernel refused it.
    #[error(transparent)]
    Refused(#[from] ProgramError),
}

/// Programs in the kernel, detached when dropped.
pub struct Attached {
    /// The loaded object; owns the links.
    pub ebpf: Ebpf,
    /// Probes with both entry and exit attached, and how.
    pub attached: Vec<ProbeId>,
    /// The method each attached probe uses, in the order of `attached`.
    pub methods: Vec<Method>,
    /// Probes whose attach failed, with the kernel's reason.
    pub failed: Vec<(&'static str, String)>,
}

/// How a probe is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// fentry/fexit where the kernel allows it, else kprobes, per function.
    Auto,
    /// kprobe and kretprobe.
    Kprobe,
    /// fentry and fexit (BPF trampolines; needs Linux 5.17+ for the helpers
    /// procfs-trace reads arguments with).
    Fentry,
}

impl Method {
    /// Its name as the CLI spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Kprobe => "kprobe",
            Method::Fentry => "fentry",
        }
    }
}

/// Bytes of per-CPU values the kernel's counts map may take; it has fewer
/// rows on machines with many CPUs (a row holds one value per possible CPU).
const COUNTS_BUDGET: usize = 16 << 20;

/// Rows of the kernel's counts map for this machine's possible CPUs.
fn count_rows() -> u32 {
    // Unreadable: assume many CPUs, the smaller map.
    rows_for(aya::util::nr_cpus().unwrap_or(1024))
}

/// Rows of the kernel's counts map for `cpus` possible CPUs.
fn rows_for(cpus: usize) -> u32 {
    let row = std::mem::size_of::<procfs_trace_common::counts::Counts>() * cpus.max(1);
    (COUNTS_BUDGET / row).clamp(1024, 16384) as u32
}

/// Which programs go on the probed functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Programs<'a> {
    /// The tracer's, and the syscall tracepoints that frame their events,
    /// loaded with `config` and a ring buffer of `ring_bytes`.
    Tracing {
        /// The settings handed to the programs.
        config: &'a Config,
        /// The ring buffer's size.
        ring_bytes: u32,
    },
    /// The benchmark twins: each entry only bumps a per-CPU counter
    /// (`TWIN_COUNTS`), and so does each exit, or with `emit`, it streams
    /// the least record a call needs into `TWIN_EVENTS`.
    Twin {
        /// Emit-floor exits instead of count-only ones.
        emit: bool,
    },
}

impl Programs<'_> {
    /// The kprobe and kretprobe programs of `func`.
    fn kprobes(self, func: &str) -> [String; 2] {
        match self {
            Programs::Tracing { .. } => [func.to_owned(), format!("{func}_ret")],
            Programs::Twin { emit } => [
                format!("ck_{func}"),
                format!("{}_{func}_ret", if emit { "ek" } else { "ck" }),
            ],
        }
    }

    /// The fentry and fexit programs of `func`.
    fn trampolines(self, func: &str) -> [String; 2] {
        match self {
            Programs::Tracing { .. } => [format!("fe_{func}"), format!("fx_{func}")],
            Programs::Twin { emit } => [
                format!("cf_{func}"),
                format!("{}_{func}", if emit { "ex" } else { "cx" }),
            ],
        }
    }
}

/// Loads the object of `programs` and attaches them to every planned probe
/// (entry and exit) with `method`.
pub fn attach(plan: &Plan, method: Method, programs: Programs) -> Result<Attached, AttachError> {
    let mut loader = EbpfLoader::new();
    let object = match programs {
        Programs::Tracing { config, ring_bytes } => {
            loader
                .override_global("CONFIG", config, true)
                .map_max_entries("EVENTS", ring_bytes)
                .map_max_entries("COUNTS", count_rows());
            EBPF_OBJECT
        }
        Programs::Twin { .. } => TWIN_OBJECT,
    };
    let mut ebpf = loader.load(object).map_err(AttachError::Load)?;
    // fentry attaches by BTF id; without kernel BTF only kprobes can work.
    let btf = match method {
        Method::Kprobe => None,
        _ => Btf::from_sys_fs().ok(),
    };
    let mut attached = Vec::new();
    let mut methods = Vec::new();
    let mut failed = Vec::new();
    for p in &plan.probes {
        let func = p.id.def().func;
        // A compiler clone (.isra.0) has no BTF prototype a trampoline could use.
        let try_fentry = method != Method::Kprobe && p.symbol == func;
        let fentry = match (&btf, try_fentry) {
            (Some(btf), true) => attach_fentry(&mut ebpf, func, programs.trampolines(func), btf)
                .map_err(|e| error_chain(&e)),
            (None, true) => Err("kernel BTF could not be loaded".to_owned()),
            (_, false) => Err("attached as a compiler clone, so kprobes only".to_owned()),
        };
        let result = match (fentry, method) {
            (Ok(()), _) => Ok(Method::Fentry),
            (Err(e), Method::Fentry) => Err(Failure::Attach(format!("fentry: {e}"))),
            (Err(_), _) => programs
                .kprobes(func)
                .into_iter()
                .try_for_each(|program| attach_one(&mut ebpf, &program, &p.symbol))
                .map(|()| Method::Kprobe),
        };
        match result {
            Ok(m) => {
                attached.push(p.id);
                methods.push(m);
            }
            Err(Failure::Attach(e)) => failed.push((func, e)),
            Err(Failure::Fatal(e)) => return Err(e),
        }
    }
    let tracepoints: &[&'static str] = match programs {
        // The thread hooks first, so that no thread gets a slot they miss.
        Programs::Tracing { .. } => &[
            "sched_process_exit",
            "sched_process_exec",
            "sys_enter",
            "sys_exit",
        ],
        Programs::Twin { .. } => &[],
    };
    for &tracepoint in tracepoints {
        attach_raw_tracepoint(&mut ebpf, tracepoint).map_err(|e| AttachError::Syscalls {
            tracepoint,
            why: error_chain(&e),
        })?;
    }
    if method != Method::Auto && !failed.is_empty() {
        return Err(AttachError::Forced {
            method: method.as_str(),
            functions: failed
                .iter()
                .map(|(f, why)| format!("{f} ({why})"))
                .collect(),
        });
    }
    if attached.is_empty() {
        let first = failed
            .first()
            .map(|(f, e)| format!("{f}: {e}"))
            .unwrap_or_else(|| "nothing was planned".to_owned());
        return Err(AttachError::NoneAttached(first));
    }
    Ok(Attached {
        ebpf,
        attached,
        methods,
        failed,
    })
}

/// Loads and attaches the fentry and fexit programs `[entry, exit]` to
/// `func`; on failure neither stays attached (the caller falls back to kprobes).
fn attach_fentry(
    ebpf: &mut Ebpf,
    func: &str,
    [entry, exit]: [String; 2],
    btf: &Btf,
) -> Result<(), ProgramFailure> {
    let prog: &mut FEntry = ebpf
        .program_mut(&entry)
        .ok_or_else(|| ProgramFailure::Missing(entry.clone()))?
        .try_into()?;
    prog.load(func, btf)?;
    let entry_link = prog.attach()?;
    let attached_exit = (|| {
        let prog: &mut FExit = ebpf
            .program_mut(&exit)
            .ok_or_else(|| ProgramFailure::Missing(exit.clone()))?
            .try_into()?;
        prog.load(func, btf)?;
        prog.attach().map(|_| ()).map_err(ProgramFailure::from)
    })();
    if attached_exit.is_err() {
        if let Some(Ok(prog)) = ebpf.program_mut(&entry).map(<&mut FEntry>::try_from) {
            let _ = prog.detach(entry_link);
        }
    }
    attached_exit
}

enum Failure {
    /// This probe cannot attach (e.g. the function is on the kprobe blacklist).
    Attach(String),
    /// Loading cannot work at all.
    Fatal(AttachError),
}

fn attach_one(ebpf: &mut Ebpf, program: &str, symbol: &str) -> Result<(), Failure> {
    let prog: &mut KProbe = ebpf
        .program_mut(program)
        .ok_or_else(|| Failure::Fatal(AttachError::MissingProgram(program.to_owned())))?
        .try_into()
        .map_err(|e: ProgramError| Failure::Attach(e.to_string()))?;
    prog.load().map_err(|source| {
        Failure::Fatal(AttachError::Verify {
            program: program.to_owned(),
            source,
        })
    })?;
    prog.attach(symbol, 0)
        .map(|_| ())
        .map_err(|e| Failure::Attach(error_chain(&e)))
}

/// Attaches the program named after raw tracepoint `tp` to it.
fn attach_raw_tracepoint(ebpf: &mut Ebpf, tp: &str) -> Result<(), ProgramFailure> {
    let prog: &mut RawTracePoint = ebpf
        .program_mut(tp)
        .ok_or_else(|| ProgramFailure::Missing(tp.to_owned()))?
        .try_into()?;
    prog.load()?;
    prog.attach(tp)?;
    Ok(())
}

/// An error and its sources on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        s.push_str(": ");
        s.push_str(&src.to_string());
        cur = src.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counts_map_shrinks_with_many_cpus_within_bounds() {
        assert_eq!(rows_for(1), 16384);
        assert!(rows_for(64) < rows_for(8));
        assert_eq!(rows_for(100_000), 1024);
        let value = std::mem::size_of::<procfs_trace_common::counts::Counts>();
        assert!(rows_for(64) as usize * 64 * value <= COUNTS_BUDGET);
    }
}
