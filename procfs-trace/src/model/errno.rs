//! Kernel error numbers and return values as a reader wants them.

use std::fmt;

/// An error a kernel function returns, negative as it returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(i64);

impl Errno {
    /// No such file or directory.
    pub const ENOENT: Errno = Errno(-2);
    /// No child processes: what `d_revalidate` returns to refuse RCU walk.
    pub const ECHILD: Errno = Errno(-10);
    /// Operation not permitted.
    pub const EPERM: Errno = Errno(-1);
    /// Permission denied.
    pub const EACCES: Errno = Errno(-13);

    /// The error a negative return value `ret` stands for, if it is one.
    pub fn from_ret(ret: i64) -> Option<Errno> {
        (-4095..0).contains(&ret).then_some(Errno(ret))
    }

    /// The value a function returns for it.
    pub fn ret(self) -> i64 {
        self.0
    }

    /// Its symbolic name, `ENOENT`, when the model knows it.
    pub fn name(self) -> Option<&'static str> {
        NAMES
            .iter()
            .find(|(n, _)| *n == -self.0)
            .map(|(_, name)| *name)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "-{name}"),
            None => write!(f, "{}", self.0),
        }
    }
}

/// Error numbers procfs functions return, from include/uapi/asm-generic/errno-base.h and errno.h.
const NAMES: &[(i64, &str)] = &[
    (1, "EPERM"),
    (2, "ENOENT"),
    (3, "ESRCH"),
    (4, "EINTR"),
    (5, "EIO"),
    (9, "EBADF"),
    (10, "ECHILD"),
    (11, "EAGAIN"),
    (12, "ENOMEM"),
    (13, "EACCES"),
    (14, "EFAULT"),
    (20, "ENOTDIR"),
    (21, "EISDIR"),
    (22, "EINVAL"),
    (36, "ENAMETOOLONG"),
    (40, "ELOOP"),
    (95, "EOPNOTSUPP"),
];

/// A return value as a reader wants it: `-ENOENT`, a kernel pointer in hex, or a number.
pub fn format_ret(ret: i64) -> String {
    if let Some(e) = Errno::from_ret(ret) {
        return e.to_string();
    }
    // Kernel pointers (lookups return dentries, get_link a string) live at the
    // top of the address space: 0xffff8... with 4-level paging, 0xff1... with 5.
    if (ret as u64) >= 0xff00_0000_0000_0000 {
        return format!("{:#x}", ret as u64);
    }
    ret.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_pointers_and_numbers() {
        assert_eq!(format_ret(-2), "-ENOENT");
        assert_eq!(format_ret(Errno::ECHILD.ret()), "-ECHILD");
        assert_eq!(format_ret(-4000), "-4000");
        assert_eq!(format_ret(1323), "1323");
        assert_eq!(format_ret(0), "0");
        assert_eq!(
            format_ret(0xffff_8880_0000_1000_u64 as i64),
            "0xffff888000001000"
        );
        assert_eq!(Errno::from_ret(0), None);
    }
}
