//! A proc mount's `hidepid=` and `subset=` options, and what they refuse
//! (fs/proc/base.c, fs/proc/generic.c, include/linux/proc_fs.h).
//!
//! - `hidepid=1` (`noaccess`), `2` (`invisible`) and `4` (`ptraceable`):
//!   `proc_pid_permission`, the permission op of pid and task directories,
//!   refuses a task the caller may not ptrace (nor see through the `gid=`
//!   group): -ENOENT under `invisible`, -EPERM otherwise; `pid_getattr`
//!   refuses with -ENOENT from `invisible` up; `proc_pid_readdir` leaves such
//!   tasks out; under `ptraceable`, `proc_pid_lookup` itself fails. A task's
//!   own thread group is never refused (`__ptrace_may_access`).
//! - `subset=pid`: `proc_lookup` fails with -ENOENT and `proc_readdir`
//!   returns 1 before reaching the PDE tree.

use serde::Serialize;

use super::errno::Errno;

/// `enum proc_hidepid`: `HIDEPID_OFF`.
const HIDEPID_OFF: u32 = 0;
/// `HIDEPID_INVISIBLE`.
const HIDEPID_INVISIBLE: u32 = 2;
/// `HIDEPID_NOT_PTRACEABLE`.
const HIDEPID_NOT_PTRACEABLE: u32 = 4;
/// `enum proc_pidonly`: `PROC_PIDONLY_ON`.
const PROC_PIDONLY_ON: u32 = 1;

/// The options of the proc mount a walk or listing worked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct MountOpts {
    /// `proc_fs_info.hide_pid`.
    pub hidepid: u32,
    /// `subset=pid` (`proc_fs_info.pidonly`).
    pub subset_pid: bool,
}

impl MountOpts {
    /// The defaults of `mount -t proc proc /proc`.
    pub const DEFAULT: MountOpts = MountOpts {
        hidepid: HIDEPID_OFF,
        subset_pid: false,
    };

    /// From the 8 bytes a [`procfs_trace_common::Role::MountOpts`] probe reads.
    pub fn from_raw(raw: u64) -> MountOpts {
        MountOpts {
            hidepid: raw as u32,
            subset_pid: (raw >> 32) as u32 == PROC_PIDONLY_ON,
        }
    }

    /// The error `proc_pid_permission` refuses another process's pid or task
    /// directory with (entering it, or opening it); `None` when it never
    /// refuses on this mount.
    pub fn permission_refusal(&self) -> Option<Errno> {
        match self.hidepid {
            HIDEPID_OFF => None,
            HIDEPID_INVISIBLE => Some(Errno::ENOENT),
            _ => Some(Errno::EPERM),
        }
    }

    /// The error `pid_getattr` refuses to stat another process's pid
    /// directory with; `None` when it never refuses on this mount.
    pub fn getattr_refusal(&self) -> Option<Errno> {
        (self.hidepid == HIDEPID_INVISIBLE || self.hidepid == HIDEPID_NOT_PTRACEABLE)
            .then_some(Errno::ENOENT)
    }

    /// Options as `mount` shows them, beyond the defaults ("" for none).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.hidepid != HIDEPID_OFF {
            parts.push(format!("hidepid={}", self.hidepid));
        }
        if self.subset_pid {
            parts.push("subset=pid".to_owned());
        }
        parts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_reads_split_into_hidepid_and_subset() {
        assert_eq!(MountOpts::from_raw(0), MountOpts::DEFAULT);
        let o = MountOpts::from_raw(2 | (1 << 32));
        assert_eq!((o.hidepid, o.subset_pid), (2, true));
        assert_eq!(o.describe(), "hidepid=2,subset=pid");
        assert_eq!(MountOpts::DEFAULT.describe(), "");
    }

    #[test]
    fn each_hidepid_level_refuses_as_the_kernel_does() {
        let at = |h| MountOpts {
            hidepid: h,
            subset_pid: false,
        };
        let both = |h| (at(h).permission_refusal(), at(h).getattr_refusal());
        assert_eq!(both(0), (None, None));
        assert_eq!(both(1), (Some(Errno::EPERM), None));
        assert_eq!(both(2), (Some(Errno::ENOENT), Some(Errno::ENOENT)));
        assert_eq!(both(4), (Some(Errno::EPERM), Some(Errno::ENOENT)));
    }
}
