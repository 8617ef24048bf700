//! Tests on a real kernel with kprobes: `cargo xtask test` runs them inside a VM
//! (`--include-ignored`); on a host without kprobes they are ignored. One file
//! per command; README.md beside this file says how they run and how to add one.
//!
//! Each test traces only the command it starts (procfs-trace follows the
//! command's descendants), so other activity on the machine cannot make it pass.

#[path = "../support/mod.rs"]
mod support;

mod attach;
mod check;
mod doctor;
mod everyday;
mod live;
mod losses;
mod park;
mod record;
mod serve;
mod threads;
mod tour;
mod trace;

use support::{assert_flow, entry, exit};

/// The read half of `cat /proc/PID/limits`, from cat's own events.
pub(crate) fn limits_read(cat: &[&serde_json::Value]) {
    assert_flow(
        cat,
        &[
            entry("proc_tgid_base_lookup").name("limits"),
            entry("proc_pident_lookup").name("limits"),
            exit("proc_pident_lookup"),
            exit("proc_tgid_base_lookup"),
            entry("seq_read_iter")
                .name("limits")
                .show("proc_single_show"),
            entry("proc_single_show")
                .name("limits")
                .show("proc_pid_limits"),
            entry("proc_pid_limits"),
            exit("proc_pid_limits"),
            exit("proc_single_show"),
            exit("seq_read_iter"),
        ],
    );
}
