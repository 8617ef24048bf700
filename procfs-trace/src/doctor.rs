//! `procfs-trace doctor`: what this machine allows, tried rather than guessed,
//! and a one-line verdict on whether (and how) procfs-trace can trace here.

use std::io::{self, Write};

use procfs_trace_common::PROBES;

use crate::{agent::losses::kernel_counts, probes::attach::Method};

use crate::kernel::{
    bpf_probe,
    btf::Btf,
    kallsyms::Kallsyms,
    preflight::{can_trace, effective_caps, Host, PreflightError},
};

/// The outcome of one check, with the detail or the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// It works here.
    Yes(String),
    /// It does not.
    No(String),
}

impl Check {
    /// A check from a result, its error told with the whole chain of causes.
    fn of(result: anyhow::Result<String>) -> Check {
        match result {
            Ok(detail) => Check::Yes(detail),
            Err(e) => Check::No(format!("{e:#}")),
        }
    }

    /// Whether it works here.
    pub fn yes(&self) -> bool {
        matches!(self, Check::Yes(_))
    }

    /// Why not, when it does not.
    fn why_not(&self) -> Option<&str> {
        match self {
            Check::Yes(_) => None,
            Check::No(why) => Some(why),
        }
    }
}

/// Where each probed function stands on this kernel.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Functions {
    /// In kallsyms under its own name.
    pub present: Vec<&'static str>,
    /// Only compiler clones (`.isra.0`, ...) in kallsyms.
    pub cloned: Vec<&'static str>,
    /// In BTF but not kallsyms: inlined into its callers.
    pub inlined: Vec<&'static str>,
    /// Neither: absent from this kernel.
    pub absent: Vec<&'static str>,
}

/// Everything doctor found.
#[derive(Debug, Clone)]
pub struct Report {
    /// `uname -r`.
    pub release: String,
    /// Root or the needed capabilities.
    pub privileges: Check,
    /// Kernel BTF.
    pub btf: Check,
    /// kprobe support.
    pub kprobes: Check,
    /// fentry support.
    pub fentry: Check,
    /// Lockdown mode.
    pub lockdown: String,
    /// Ring buffer maps.
    pub ring_buffer: Check,
    /// Which losses the kernel lets a session count (needs BTF).
    pub losses: Option<String>,
    /// Probed functions.
    pub functions: Option<Functions>,
}

impl Report {
    /// The attach method `--attach auto` would use.
    pub fn auto_method(&self) -> Option<&'static str> {
        match (self.fentry.yes(), self.kprobes.yes()) {
            (true, _) => Some("fentry (kprobes for any function a trampoline cannot reach)"),
            (false, true) => Some("kprobe"),
            _ => None,
        }
    }

    /// Whether procfs-trace can trace here (known only with privileges).
    pub fn can_trace(&self) -> bool {
        self.privileges.yes()
            && self.auto_method().is_some()
            && self.btf.yes()
            && self.ring_buffer.yes()
    }

    /// One line: can procfs-trace trace here, and if not, what to do.
    pub fn verdict(&self) -> String {
        if let Some(why) = self.privileges.why_not() {
            return format!("cannot tell yet: {why}; run `sudo procfs-trace doctor`");
        }
        let mut missing = Vec::new();
        if let Some(why) = self.kprobes.why_not() {
            missing.push(format!("no kprobes ({why})"));
        }
        if let Some(why) = self.btf.why_not() {
            missing.push(format!("no BTF ({why})"));
        }
        if let Some(why) = self.ring_buffer.why_not() {
            missing.push(format!("no ring buffer maps ({why})"));
        }
        if !missing.is_empty() {
            return format!(
                "tracing is impossible on this kernel: {}. Use a kernel with CONFIG_KPROBES, CONFIG_DEBUG_INFO_BTF and BPF ring buffers (Linux 5.8+), or trace in a VM: `cargo xtask vm -- procfs-trace tour`",
                missing.join("; ")
            );
        }
        let f = self.functions.clone().unwrap_or_default();
        format!(
            "procfs-trace can trace here with {}: {} of {} probed functions present{}",
            self.auto_method().unwrap_or("kprobe"),
            f.present.len() + f.cloned.len(),
            PROBES.len(),
            if f.inlined.len() + f.absent.len() > 0 {
                format!(
                    ", {} inlined or absent (skipped)",
                    f.inlined.len() + f.absent.len()
                )
            } else {
                String::new()
            }
        )
    }

    /// The report as lines of text.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let line = |out: &mut dyn Write, name: &str, c: &Check| match c {
            Check::Yes(s) => writeln!(out, "{name:12} yes: {s}"),
            Check::No(s) => writeln!(out, "{name:12} no: {s}"),
        };
        writeln!(out, "{:12} {}", "kernel", self.release)?;
        line(out, "privileges", &self.privileges)?;
        line(out, "btf", &self.btf)?;
        line(out, "kprobes", &self.kprobes)?;
        line(out, "fentry", &self.fentry)?;
        writeln!(out, "{:12} {}", "lockdown", self.lockdown)?;
        line(out, "ring buffer", &self.ring_buffer)?;
        if let Some(losses) = &self.losses {
            writeln!(out, "{:12} {losses}", "losses")?;
        }
        match &self.functions {
            Some(f) => {
                writeln!(
                    out,
                    "{:12} {} present, {} as compiler clones, {} inlined, {} absent",
                    "functions",
                    f.present.len(),
                    f.cloned.len(),
                    f.inlined.len(),
                    f.absent.len()
                )?;
                for (what, list) in [
                    ("clones", &f.cloned),
                    ("inlined", &f.inlined),
                    ("absent", &f.absent),
                ] {
                    if !list.is_empty() {
                        writeln!(out, "{:12}   {what}: {}", "", list.join(", "))?;
                    }
                }
            }
            None => writeln!(
                out,
                "{:12} unknown (kallsyms or BTF unreadable)",
                "functions"
            )?,
        }
        writeln!(
            out,
            "{:12} {}",
            "attach",
            match self.auto_method() {
                Some(m) => format!("--attach auto would use {m}"),
                None => "nothing can attach here".to_owned(),
            }
        )?;
        writeln!(out, "{:12} {}", "verdict", self.verdict())
    }
}

/// Looks at the running machine.
pub fn examine() -> Report {
    let host = Host::real();
    let status = std::fs::read_to_string(host.path("proc/self/status")).unwrap_or_default();
    let caps = effective_caps(&status).unwrap_or(0);
    let privileged = can_trace(caps);
    let privileges = if privileged {
        Check::Yes(format!("effective capabilities {caps:#x}"))
    } else {
        Check::No("not root, and no CAP_BPF + CAP_PERFMON".to_owned())
    };
    let (btf, btf_check) = match Btf::from_file(&host.btf_path()) {
        Ok(b) => (Some(b), Check::Yes(host.btf_path().display().to_string())),
        Err(e) => (None, Check::of(Err(e.into()))),
    };
    let kallsyms = Kallsyms::from_file(&host.path("proc/kallsyms")).ok();
    let not_without_root = || Check::No("not tried without root".to_owned());
    let kprobes = match host.check_kprobes() {
        Err(PreflightError::NoKprobes { why, .. }) => Check::No(why),
        Err(e) => Check::of(Err(e.into())),
        Ok(()) if !privileged => {
            Check::Yes("kprobe PMU present (attaching not tried without root)".to_owned())
        }
        Ok(()) => Check::of(try_attach(Method::Kprobe)),
    };
    let fentry = match (&btf, privileged) {
        (_, false) => not_without_root(),
        (None, _) => Check::No("needs BTF".to_owned()),
        (Some(b), true) => match b.func_id("proc_root_lookup") {
            None => Check::No("proc_root_lookup is not in BTF".to_owned()),
            // First whether the kernel allows trampolines at all, then whether
            // procfs-trace's own programs load (they need Linux 5.17+ helpers).
            Some(id) => Check::of(
                bpf_probe::fentry(id)
                    .map_err(anyhow::Error::from)
                    .and_then(|()| try_attach(Method::Fentry)),
            ),
        },
    };
    let ring_buffer = match privileged {
        true => Check::of(
            bpf_probe::ring_buffer()
                .map(|()| "created a ring buffer map".to_owned())
                .map_err(Into::into),
        ),
        false => not_without_root(),
    };
    let lockdown = std::fs::read_to_string(host.path("sys/kernel/security/lockdown"))
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .find(|w| w.starts_with('['))
                .map(|w| w.trim_matches(['[', ']']).to_owned())
        })
        .unwrap_or_else(|| "unknown (no /sys/kernel/security/lockdown)".to_owned());
    let functions = kallsyms.map(|k| classify(&k, btf.as_ref()));
    let losses = btf.as_ref().map(kernel_counts);
    Report {
        release: host.release(),
        privileges,
        btf: btf_check,
        kprobes,
        fentry,
        lockdown,
        ring_buffer,
        losses,
        functions,
    }
}

/// Sorts the probed functions by how this kernel has them.
pub fn classify(k: &Kallsyms, btf: Option<&Btf>) -> Functions {
    let mut f = Functions::default();
    for p in PROBES {
        if k.contains_function(p.func) {
            f.present.push(p.func);
        } else if !k.function_variants(p.func).is_empty() {
            f.cloned.push(p.func);
        } else if btf.is_some_and(|b| b.func_id(p.func).is_some()) {
            f.inlined.push(p.func);
        } else {
            f.absent.push(p.func);
        }
    }
    f
}

/// Attaches procfs-trace's own programs with `method` only, then detaches them.
fn try_attach(method: Method) -> anyhow::Result<String> {
    let host = Host::real();
    let btf = Btf::from_file(&host.btf_path())?;
    let k = Kallsyms::from_file(&host.path("proc/kallsyms"))?;
    let plan = crate::probes::plan::Plan::new(&btf, &k)?;
    let programs = crate::probes::attach::Programs::Tracing {
        config: &plan.config,
        ring_bytes: 4096,
    };
    let a = crate::probes::attach::attach(&plan, method, programs)?;
    Ok(format!(
        "{} of {} probes attached with {} (and detached)",
        a.attached.len(),
        plan.probes.len(),
        method.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            release: "6.1.0-test".into(),
            privileges: Check::Yes("root".into()),
            btf: Check::Yes("/sys/kernel/btf/vmlinux".into()),
            kprobes: Check::Yes("attached".into()),
            fentry: Check::Yes("attached".into()),
            lockdown: "none".into(),
            ring_buffer: Check::Yes("created".into()),
            losses: None,
            functions: Some(Functions {
                present: vec!["proc_root_lookup"],
                inlined: vec!["proc_lookup"],
                ..Functions::default()
            }),
        }
    }

    #[test]
    fn a_working_kernel_says_how_it_traces() {
        assert!(report().can_trace());
        let v = report().verdict();
        assert!(
            v.starts_with("procfs-trace can trace here with fentry"),
            "{v}"
        );
        assert!(v.contains("1 inlined or absent"), "{v}");
    }

    #[test]
    fn kprobes_alone_are_enough() {
        let mut r = report();
        r.fentry = Check::No("helpers missing".into());
        assert_eq!(r.auto_method(), Some("kprobe"));
        assert!(r
            .verdict()
            .starts_with("procfs-trace can trace here with kprobe"));
    }

    #[test]
    fn this_host_without_kprobes_is_told_to_use_the_vm() {
        let mut r = report();
        r.kprobes = Check::No("CONFIG_KPROBES is not set".into());
        r.fentry =
            Check::No("loading an fentry program failed: Operation not permitted (denied)".into());
        let v = r.verdict();
        assert!(
            v.contains("tracing is impossible")
                && v.contains("CONFIG_KPROBES")
                && v.contains("cargo xtask vm"),
            "{v}"
        );
        assert_eq!(r.auto_method(), None);
        assert!(!r.can_trace());
        let mut out = Vec::new();
        r.write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("fentry       no: loading an fentry program failed"),
            "{text}"
        );
        assert!(
            text.contains("attach       nothing can attach here"),
            "{text}"
        );
    }

    #[test]
    fn without_privileges_nothing_is_claimed() {
        let mut r = report();
        r.privileges = Check::No("not root".into());
        assert!(r.verdict().contains("sudo procfs-trace doctor"));
        assert!(!r.can_trace(), "unknown is not a yes");
    }
}
