//! Boots qemu, streams the guest console, enforces the timeout and reads the guest's result.

use std::collections::VecDeque;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::host_tools;
use crate::kernel::Kernel;
use crate::marker::{self, Outcome};
use crate::transfer::GuestFile;

/// Forces the accelerator: `kvm` or `tcg` (the default, since KVM guests hang on our hosts).
pub const ACCEL_ENV: &str = "PROCFS_TRACE_VM_ACCEL";

/// Console lines shown when a run fails.
const TAIL_LINES: usize = 30;

/// After a panic or stall shows up, let the kernel print its trace this long before the kill.
const TROUBLE_GRACE: Duration = Duration::from_secs(3);

/// Console lines that mean the guest is broken and will not finish.
const TROUBLE: &[&str] = &[
    "Kernel panic",
    "soft lockup",
    "rcu_sched self-detected stall",
    "self-detected stall on CPU",
    "RCU stall",
    "detected stalls on CPUs",
];

/// How to run the VM.
pub struct Options {
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Wall-clock limit for boot and command together.
    pub timeout: Duration,
    /// Our standard input goes to the guest console (keys for a terminal UI).
    pub interactive: bool,
    /// Shown before each console line, when several guests share our stdout.
    pub label: Option<String>,
}

/// A guest run that reported its result.
pub struct Finished {
    /// Exit status of the guest command.
    pub rc: i32,
    /// Wall time from starting qemu to its exit.
    pub elapsed: Duration,
    /// The files the guest sent back (see `Guest::outputs`); filled in by `vm::run`.
    pub files: Vec<GuestFile>,
}

/// How a boot ended, when it did not fail.
pub enum Boot {
    /// The guest reported its result.
    Finished(Finished),
    /// The kernel crashed before `/init` started, so before anything of the
    /// run: this line, and the console's last lines.
    CrashedBooting(String),
}

enum End {
    Exited(ExitStatus),
    TimedOut,
    Trouble(String),
}

/// Boots `kernel` with `initrd`; the guest's result line lands in `result_file`.
pub fn boot(
    kernel: &Kernel,
    initrd: &Path,
    result_file: &Path,
    nonce: &str,
    opts: &Options,
) -> Result<Boot> {
    host_tools::require(&[host_tools::QEMU])?;
    let result_arg = result_file.to_string_lossy();
    if result_arg.contains(',') {
        bail!(
            "the result file path {result_arg} contains a comma, which qemu's -serial option cannot take; \
             move the workspace to a path without commas"
        );
    }
    let _ = fs::remove_file(result_file);
    let (accel, cpu) = accel()?;
    let mut cmd = Command::new(host_tools::QEMU.program);
    cmd.args(["-accel", accel, "-cpu", cpu, "-smp", "2", "-m"])
        .arg(opts.memory_mib.to_string())
        // No default devices: ttyS0 is the console on our stdout, ttyS1 the result channel.
        .args([
            "-nodefaults",
            "-display",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
        ])
        // signal=off: Ctrl-C goes to the guest rather than killing qemu.
        .args(["-chardev", "stdio,id=console,signal=off"])
        .args(["-serial", "chardev:console", "-serial"])
        .arg(format!("file:{result_arg}"))
        .arg("-kernel")
        .arg(&kernel.vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        // noapic avoids random early panics under emulation; panic=-1 turns a panic into
        // a reboot, which -no-reboot turns into qemu exiting. tsc=reliable: the emulated
        // CPU does not claim a constant TSC, so the kernel would fall back to the HPET,
        // and every clock read (bpf_ktime_get_ns, a vDSO clock_gettime) would become an
        // emulated device access costing microseconds, as on no real machine. qemu's TSC
        // is the host's, synchronised across vCPUs.
        .args([
            "-append",
            "console=ttyS0 quiet panic=-1 noapic tsc=reliable",
        ])
        .stdin(if opts.interactive {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let start = Instant::now();
    let mut child = cmd.spawn().context("could not start qemu-system-x86_64")?;
    let stdout = child
        .stdout
        .take()
        .context("qemu's stdout was not captured")?;
    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
    let (tx, rx) = mpsc::channel();
    let reader = {
        let tail = Arc::clone(&tail);
        let label = opts.label.clone();
        thread::spawn(move || pump_console(stdout, &tail, &tx, label.as_deref()))
    };
    let end = supervise(&mut child, &rx, start + opts.timeout);
    if end.is_err() {
        kill(&mut child);
    }
    let elapsed = start.elapsed();
    // qemu is gone (or killed), so the pipe is closed and the reader finishes.
    let _ = reader.join();
    let end = end?;
    let tail_text = tail_text(&tail);

    let reported = fs::read_to_string(result_file).unwrap_or_default();
    let outcome = marker::parse(&reported, nonce);
    if let Outcome::Finished { rc, sick } = outcome {
        if let Some(line) = sick {
            bail!(
                "the guest kernel reported `{line}` while the command ran (it exited with {rc}); \
                 a kernel in this state cannot vouch for the run; last console lines:\n{tail_text}"
            );
        }
        if matches!(end, End::TimedOut) {
            eprintln!(
                "vm: warning: the guest reported its result but did not power off; qemu was killed"
            );
        }
        return Ok(Boot::Finished(Finished {
            rc,
            elapsed,
            files: Vec::new(),
        }));
    }
    if let End::Trouble(line) = &end {
        if !marker::init_ran(&reported, nonce) {
            return Ok(Boot::CrashedBooting(format!(
                "`{line}`; last console lines:\n{tail_text}"
            )));
        }
    }
    let why = match end {
        End::TimedOut => format!("guest did not finish within {} s", opts.timeout.as_secs()),
        End::Trouble(line) => format!("guest kernel reported `{line}`; stopped the VM"),
        End::Exited(status) => format!("qemu exited ({status}) without the guest's result line"),
    };
    let detail = match outcome {
        Outcome::WrongNonce(n) => format!(" (a result line with a foreign nonce {n} was ignored)"),
        _ => String::new(),
    };
    bail!("{why}{detail}; last console lines:\n{tail_text}")
}

/// Picks the accelerator and CPU model.
fn accel() -> Result<(&'static str, &'static str)> {
    match std::env::var(ACCEL_ENV).ok().as_deref() {
        None | Some("") | Some("tcg") => Ok(("tcg", "max")),
        Some("kvm") => {
            if !Path::new("/dev/kvm").exists() {
                bail!("{ACCEL_ENV}=kvm but /dev/kvm does not exist; unset it to use software emulation");
            }
            Ok(("kvm", "host"))
        }
        Some(other) => bail!("{ACCEL_ENV}={other} is not understood; use `kvm` or `tcg`"),
    }
}

/// Waits for qemu to exit, the deadline, or trouble on the console; kills qemu unless it exited.
fn supervise(child: &mut Child, trouble: &Receiver<String>, deadline: Instant) -> Result<End> {
    let mut seen: Option<(String, Instant)> = None;
    loop {
        if let Some(status) = child.try_wait().context("could not wait for qemu")? {
            // A panic that ended the VM on its own is still the reason it ended.
            return Ok(match seen {
                Some((line, _)) => End::Trouble(line),
                None => End::Exited(status),
            });
        }
        let now = Instant::now();
        if now >= deadline {
            kill(child);
            return Ok(End::TimedOut);
        }
        if let Some((line, at)) = &seen {
            if now.duration_since(*at) >= TROUBLE_GRACE {
                let line = line.clone();
                kill(child);
                return Ok(End::Trouble(line));
            }
        }
        match trouble.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                seen.get_or_insert((line, Instant::now()));
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Copies the console to our stdout, keeps its last lines and reports trouble
/// lines. Unlabelled, bytes pass as they come (a terminal UI draws without
/// newlines); labelled, whole lines, each after `[label] `.
fn pump_console(
    mut from: impl Read,
    tail: &Mutex<VecDeque<String>>,
    trouble: &Sender<String>,
    label: Option<&str>,
) {
    let mut buf = [0u8; 8192];
    let mut line = Vec::new();
    let stdout = std::io::stdout();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if label.is_none() {
            let mut out = stdout.lock();
            let _ = out.write_all(&buf[..n]);
            let _ = out.flush();
        }
        for &b in &buf[..n] {
            if b == b'\n' {
                finish_line(&mut line, tail, trouble, label);
            } else {
                line.push(b);
            }
        }
    }
    if !line.is_empty() {
        finish_line(&mut line, tail, trouble, label);
    }
}

fn finish_line(
    line: &mut Vec<u8>,
    tail: &Mutex<VecDeque<String>>,
    trouble: &Sender<String>,
    label: Option<&str>,
) {
    let text = String::from_utf8_lossy(line)
        .trim_end_matches('\r')
        .to_owned();
    line.clear();
    if let Some(label) = label {
        let _ = writeln!(std::io::stdout().lock(), "[{label}] {text}");
    }
    if TROUBLE.iter().any(|t| text.contains(t)) {
        let _ = trouble.send(text.trim().to_owned());
    }
    if let Ok(mut tail) = tail.lock() {
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(text);
    }
}

fn tail_text(tail: &Mutex<VecDeque<String>>) -> String {
    let lines = tail
        .lock()
        .map(|t| t.iter().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    if lines.is_empty() {
        return "  (the console printed nothing)".into();
    }
    lines
        .iter()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
