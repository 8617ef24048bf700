//! Kernel versions as the model orders them, and the versions it models.

use std::fmt;

/// A kernel version, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    /// The first number, e.g. 6 in 6.1.
    pub major: u16,
    /// The second number, e.g. 1 in 6.1.
    pub minor: u16,
}

impl KernelVersion {
    /// The version `major.minor`.
    pub const fn new(major: u16, minor: u16) -> Self {
        Self { major, minor }
    }

    /// The first two numbers of a release string such as "6.1.0-56-cloud-amd64".
    pub fn parse(release: &str) -> Option<Self> {
        let release = release.trim();
        let release = release.strip_prefix('v').unwrap_or(release);
        let (major, rest) = leading_number(release)?;
        let (minor, _) = leading_number(rest.strip_prefix('.')?)?;
        Some(Self::new(major, minor))
    }
}

/// The decimal number at the start of `s` and what follows it.
fn leading_number(s: &str) -> Option<(u16, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let number = s.get(..end)?.parse().ok()?;
    Some((number, s.get(end..)?))
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The kernels the project models, oldest first.
pub const MODELLED: [KernelVersion; 4] = [
    KernelVersion::new(5, 10),
    KernelVersion::new(6, 1),
    KernelVersion::new(6, 12),
    KernelVersion::new(7, 2),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_strings() {
        assert_eq!(
            KernelVersion::parse("6.1.0-56-cloud-amd64"),
            Some(KernelVersion::new(6, 1))
        );
        assert_eq!(
            KernelVersion::parse("7.2.13+deb14-cloud-amd64"),
            Some(KernelVersion::new(7, 2))
        );
        assert_eq!(
            KernelVersion::parse("5.10"),
            Some(KernelVersion::new(5, 10))
        );
        assert_eq!(
            KernelVersion::parse("v6.12.117"),
            Some(KernelVersion::new(6, 12))
        );
        assert_eq!(KernelVersion::parse("6"), None);
        assert_eq!(KernelVersion::parse("cloud"), None);
        assert_eq!(KernelVersion::parse(""), None);
        assert!(MODELLED.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(KernelVersion::new(6, 12).to_string(), "6.12");
    }
}
