//! One guest run on one kernel: scratch files, initramfs, boot, clean-up.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::guest::Guest;
use crate::kernel::Kernel;
use crate::qemu::{self, Boot, Finished, Options};
use crate::{host_tools, initramfs, marker, transfer, workspace};

/// Scratch dirs older than this belong to no live run.
const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Boots per run when the kernel crashes before `/init`: under emulation an
/// early boot sometimes oopses on its own text patching (an int3 left in
/// `sched_clock_cpu`, seen on 6.12), which says nothing of the run.
const BOOTS: u32 = 2;

/// Removes a run's scratch dir however the run ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Removes scratch dirs that an interrupted run (Ctrl-C) left behind a day or more ago.
fn remove_stale(runs: &Path) {
    let Ok(entries) = fs::read_dir(runs) else {
        return;
    };
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if old {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Runs `guest` on `kernel` and returns the guest command's status, the wall time and the
/// files the guest sent back. An output the guest did not send is simply absent; one that
/// arrived damaged is an error. A kernel that crashes before `/init` starts
/// is booted again, once.
pub fn run(kernel: &Kernel, guest: &Guest, opts: &Options) -> Result<Finished> {
    host_tools::require(&[host_tools::QEMU, host_tools::BUSYBOX, host_tools::LDD])?;
    let runs = workspace::state_dir().join("vm-run");
    remove_stale(&runs);
    let mut boot = 1;
    loop {
        match boot_once(kernel, guest, opts, &runs)? {
            Boot::Finished(done) => return Ok(done),
            Boot::CrashedBooting(why) if boot < BOOTS => {
                boot += 1;
                eprintln!(
                    "vm: the guest kernel crashed while booting, before /init ran, so before \
                     anything of the run: {why}\nvm: booting again ({boot} of {BOOTS})"
                );
            }
            Boot::CrashedBooting(why) => bail!(
                "the guest kernel crashed while booting, before /init ran, {BOOTS} times in a row; \
                 the last: {why}"
            ),
        }
    }
}

/// One boot of `guest` on `kernel`, with its own nonce and scratch dir.
fn boot_once(kernel: &Kernel, guest: &Guest, opts: &Options, runs: &Path) -> Result<Boot> {
    let nonce = marker::nonce()?;
    // Per-run dir so concurrent runs never read each other's result file.
    let dir = runs.join(&nonce);
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let scratch = Scratch(dir);
    let initrd = scratch.0.join("initramfs.cpio.gz");
    initramfs::write(guest, &nonce, &initrd)?;
    let result_file = scratch.0.join("result.ttyS1");
    let mut done = match qemu::boot(kernel, &initrd, &result_file, &nonce, opts)? {
        Boot::Finished(done) => done,
        crashed => return Ok(crashed),
    };
    if !guest.outputs.is_empty() {
        let sent = fs::read(&result_file)
            .with_context(|| format!("could not read {}", result_file.display()))?;
        done.files =
            transfer::parse(&String::from_utf8_lossy(&sent), &nonce).with_context(|| {
                format!(
                    "the guest command exited with status {}, but bringing back its files failed",
                    done.rc
                )
            })?;
    }
    Ok(Boot::Finished(done))
}
