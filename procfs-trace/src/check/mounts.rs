//! Where proc is mounted besides /proc, so that a walk into `/mnt/proc/...`
//! is checked as the same walk into `/proc/...`: the proc root is the mount's
//! root whatever its path, and the path above it costs no procfs call.

use serde::{Deserialize, Serialize};

/// The mount points of proc filesystems other than /proc itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcMounts {
    roots: Vec<String>,
}

impl ProcMounts {
    /// The proc mounts listed in a `/proc/PID/mountinfo` text (field 5 is the
    /// mount point, the field after the `-` separator the filesystem type).
    pub fn from_mountinfo(text: &str) -> ProcMounts {
        let mut roots: Vec<String> = text
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                let sep = fields.iter().position(|f| *f == "-")?;
                (fields.get(sep + 1) == Some(&"proc")).then(|| unescape(fields.get(4)?))?
            })
            // / itself would claim every path.
            .filter(|m| m != "/proc" && m != "/")
            .collect();
        roots.sort();
        roots.dedup();
        ProcMounts { roots }
    }

    /// `path` as the same walk under /proc, when it lies in one of these
    /// mounts (the innermost, if they nest).
    pub fn to_proc(&self, path: &str) -> Option<String> {
        self.roots
            .iter()
            .filter_map(|root| {
                let rest = path.strip_prefix(root.as_str())?;
                (rest.is_empty() || rest.starts_with('/')).then_some((root.len(), rest))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, rest)| format!("/proc{rest}"))
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> Option<String> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let octal = std::str::from_utf8(&b[i + 1..i + 4]).ok()?;
            out.push(u8::from_str_radix(octal, 8).ok()?);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
30 22 0:27 / /proc/sys/fs/binfmt_misc rw,relatime shared:14 - binfmt_misc binfmt_misc rw
41 1 0:35 / /mnt/proc rw,relatime shared:20 - proc proc rw,hidepid=2
42 1 0:36 / /srv/my\\040root/proc rw,relatime - proc proc rw
43 1 8:1 / /mnt/procfs-data rw - ext4 /dev/sda1 rw
";

    #[test]
    fn proc_mounts_elsewhere_map_to_proc() {
        let m = ProcMounts::from_mountinfo(MOUNTINFO);
        assert_eq!(
            m.to_proc("/mnt/proc/meminfo").as_deref(),
            Some("/proc/meminfo")
        );
        assert_eq!(m.to_proc("/mnt/proc").as_deref(), Some("/proc"));
        assert_eq!(
            m.to_proc("/srv/my root/proc/self/status").as_deref(),
            Some("/proc/self/status")
        );
        // Not proc, only a name that starts alike, or /proc itself.
        assert_eq!(m.to_proc("/mnt/procfs-data/x"), None);
        assert_eq!(m.to_proc("/mnt/procx/meminfo"), None);
        assert_eq!(m.to_proc("/proc/meminfo"), None);
        assert_eq!(
            ProcMounts::from_mountinfo("garbage\n\n").to_proc("/mnt/proc"),
            None
        );
    }
}
