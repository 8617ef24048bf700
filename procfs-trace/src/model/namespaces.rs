//! `/proc/PID/ns`: the namespace types a kernel lists there.
//!
//! `ns_entries` in fs/proc/namespaces.c, in its order, each behind its config
//! option; the same on 5.10, 6.1, 6.12 and 7.2.

use super::kernel::KernelFacts;

/// `(link name, config option that compiles it in)`, in `ns_entries` order;
/// the mount namespace has no option.
const NS_ENTRIES: &[(&str, Option<&str>)] = &[
    ("net", Some("CONFIG_NET_NS")),
    ("uts", Some("CONFIG_UTS_NS")),
    ("ipc", Some("CONFIG_IPC_NS")),
    ("pid", Some("CONFIG_PID_NS")),
    ("pid_for_children", Some("CONFIG_PID_NS")),
    ("user", Some("CONFIG_USER_NS")),
    ("mnt", None),
    ("cgroup", Some("CONFIG_CGROUPS")),
    ("time", Some("CONFIG_TIME_NS")),
    ("time_for_children", Some("CONFIG_TIME_NS")),
];

/// The links of `/proc/PID/ns` on this kernel, in listing order.
pub fn ns_entries(kernel: &KernelFacts) -> Vec<&'static str> {
    NS_ENTRIES
        .iter()
        .filter(|(_, option)| option.is_none_or(|o| kernel.has(o)))
        .map(|(name, _)| *name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::version::KernelVersion;

    #[test]
    fn debian_kernels_list_every_namespace_type() {
        let k = KernelFacts::debian(KernelVersion::new(6, 1));
        assert_eq!(
            ns_entries(&k),
            [
                "net",
                "uts",
                "ipc",
                "pid",
                "pid_for_children",
                "user",
                "mnt",
                "cgroup",
                "time",
                "time_for_children"
            ]
        );
        let bare = KernelFacts::recorded("6.1.0", &[]).unwrap();
        assert_eq!(ns_entries(&bare), ["mnt"]);
    }
}
