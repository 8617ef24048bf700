//! Loads the embedded eBPF object with the plan's settings and attaches its programs.

use aya::{
    programs::{KProbe, ProgramError, RawTracePoint},
    Ebpf, EbpfError, EbpfLoader,
};
use procfs_trace_common::{Config, ProbeId};
use thiserror::Error;

use super::plan::Plan;

/// The eBPF programs, built by build.rs.
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/procfs-trace"));

/// Failure to get the programs into the kernel.
#[derive(Debug, Error)]
pub enum AttachError {
    /// The object or its maps could not be loaded.
    #[error("loading the eBPF object into the kernel failed (is BPF enabled, and is the ring buffer map type supported? Linux 5.8 or later is needed)")]
    Load(#[source] EbpfError),
    /// The verifier rejected a program: a bug in procfs-trace for this kernel.
    #[error("the kernel rejected the eBPF program `{program}`; please report this with the kernel release: {source}")]
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
}

/// Programs in the kernel, detached when dropped.
pub struct Attached {
    /// The loaded object; owns the links.
    pub ebpf: Ebpf,
    /// Probes with both entry and exit attached.
    pub attached: Vec<ProbeId>,
    /// Probes whose attach failed, with the kernel's reason.
    pub failed: Vec<(&'static str, String)>,
    /// Why syscalls are not followed, when they are not.
    pub syscalls_missing: Option<String>,
}

/// Loads the object with `config` and a ring buffer of `ring_bytes`, and attaches
/// every planned probe (entry and exit).
pub fn attach(plan: &Plan, config: &Config, ring_bytes: u32) -> Result<Attached, AttachError> {
    let mut ebpf = EbpfLoader::new()
        .override_global("CONFIG", config, true)
        .map_max_entries("EVENTS", ring_bytes)
        .load(EBPF_OBJECT)
        .map_err(AttachError::Load)?;
    let mut attached = Vec::new();
    let mut failed = Vec::new();
    for p in &plan.probes {
        let func = p.id.def().func;
        let result = [func.to_owned(), format!("{func}_ret")]
            .into_iter()
            .try_for_each(|program| attach_one(&mut ebpf, &program, &p.symbol));
        match result {
            Ok(()) => attached.push(p.id),
            Err(Failure::Attach(e)) => failed.push((func, e)),
            Err(Failure::Fatal(e)) => return Err(e),
        }
    }
    let syscalls_missing = ["sys_enter", "sys_exit"]
        .into_iter()
        .try_for_each(|tp| attach_raw_tracepoint(&mut ebpf, tp))
        .err();
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
        failed,
        syscalls_missing,
    })
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
fn attach_raw_tracepoint(ebpf: &mut Ebpf, tp: &str) -> Result<(), String> {
    let prog: &mut RawTracePoint = ebpf
        .program_mut(tp)
        .ok_or_else(|| format!("the embedded eBPF object has no program `{tp}`"))?
        .try_into()
        .map_err(|e: ProgramError| e.to_string())?;
    prog.load().map_err(|e| error_chain(&e))?;
    prog.attach(tp).map(|_| ()).map_err(|e| error_chain(&e))
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
