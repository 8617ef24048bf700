//! The view's filter: by pid, comm and path glob, typed in as text.

use std::fmt;

use thiserror::Error;

use crate::{flows::op::Op, paths::glob_match};

/// A filter text that does not parse.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FilterError {
    /// `pid:`, `comm:` or `path:` with nothing after it.
    #[error("{0}: needs a value")]
    Empty(&'static str),
    /// A pid that is not a number.
    #[error("{0:?} is not a process id")]
    NotAPid(String),
}

/// Which operations the view shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this process.
    pub pid: Option<u32>,
    /// Only tasks whose comm matches this glob.
    pub comm: Option<String>,
    /// Only paths matching this glob (`*` within a component).
    pub path: Option<String>,
}

impl Filter {
    /// Parses `pid:N comm:NAME path:GLOB`; a bare term is a pid when numeric,
    /// a path glob when it has a `/`, else a comm.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let mut f = Filter::default();
        for term in text.split_whitespace() {
            let (key, value) = match term.split_once(':') {
                Some(("pid", v)) => ("pid", v),
                Some(("comm", v)) => ("comm", v),
                Some(("path", v)) => ("path", v),
                _ if term.bytes().all(|b| b.is_ascii_digit()) => ("pid", term),
                _ if term.contains('/') => ("path", term),
                _ => ("comm", term),
            };
            if value.is_empty() {
                return Err(FilterError::Empty(key));
            }
            match key {
                "pid" => {
                    f.pid = Some(
                        value
                            .parse()
                            .map_err(|_| FilterError::NotAPid(value.to_owned()))?,
                    )
                }
                "comm" => f.comm = Some(value.to_owned()),
                _ => f.path = Some(value.to_owned()),
            }
        }
        Ok(f)
    }

    /// Whether nothing is filtered.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// Whether `op` passes.
    pub fn matches(&self, op: &Op) -> bool {
        self.pid.is_none_or(|p| op.tgid == p)
            && self.comm.as_ref().is_none_or(|c| glob_match(c, &op.comm))
            && self
                .path
                .as_ref()
                .is_none_or(|g| op.path.as_deref().is_some_and(|p| glob_match(g, p)))
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(p) = self.pid {
            parts.push(format!("pid:{p}"));
        }
        if let Some(c) = &self.comm {
            parts.push(format!("comm:{c}"));
        }
        if let Some(p) = &self.path {
            parts.push(format!("path:{p}"));
        }
        f.write_str(&parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms() {
        let f = Filter::parse("42 cat /proc/*/stat").unwrap();
        assert_eq!(f.pid, Some(42));
        assert_eq!(f.comm.as_deref(), Some("cat"));
        assert_eq!(f.path.as_deref(), Some("/proc/*/stat"));
        assert_eq!(f.to_string(), "pid:42 comm:cat path:/proc/*/stat");
        assert!(Filter::parse("pid:x").is_err());
        assert!(Filter::parse("comm:").is_err());
        assert!(Filter::parse("").unwrap().is_empty());
    }
}
