//! `--user USER`: the identity a traced command runs as (strace's `-u`).
//!
//! A name is looked up in /etc/passwd, with its groups from /etc/group; a
//! number works without either file (its group is the same number), so it
//! also works in a bare initramfs or a container.

use std::io;

use thiserror::Error;

/// Who the traced command runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

/// A `--user` that names nobody.
#[derive(Debug, Error)]
pub enum UserError {
    /// Not a number and not in /etc/passwd.
    #[error("no user {0:?} in /etc/passwd; give a name listed there or a numeric uid")]
    Unknown(String),
    /// /etc/passwd could not be read to look a name up.
    #[error("cannot read /etc/passwd to look up user {name:?}; give a numeric uid instead")]
    Passwd {
        /// The name asked for.
        name: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl RunAs {
    /// The identity `spec` (a name or a uid) stands for on this machine.
    pub fn resolve(spec: &str) -> Result<RunAs, UserError> {
        let passwd = std::fs::read_to_string("/etc/passwd");
        let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
        match (spec.parse::<u32>(), passwd) {
            (Ok(uid), passwd) => Ok(RunAs::from_tables(
                spec,
                passwd.as_deref().unwrap_or(""),
                &group,
            )
            .unwrap_or(RunAs {
                uid,
                gid: uid,
                groups: Vec::new(),
            })),
            (Err(_), Ok(passwd)) => RunAs::from_tables(spec, &passwd, &group)
                .ok_or_else(|| UserError::Unknown(spec.to_owned())),
            (Err(_), Err(source)) => Err(UserError::Passwd {
                name: spec.to_owned(),
                source,
            }),
        }
    }

    /// Looks `spec` up by name or uid in the text of /etc/passwd and /etc/group.
    pub fn from_tables(spec: &str, passwd: &str, group: &str) -> Option<RunAs> {
        let (name, uid, gid) = passwd.lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            let (name, uid, gid) = (f.first()?, f.get(2)?, f.get(3)?);
            (*name == spec || *uid == spec)
                .then(|| Some((*name, uid.parse().ok()?, gid.parse().ok()?)))?
        })?;
        let groups = group
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                let members = f.get(3)?;
                let gid: u32 = f.get(2)?.parse().ok()?;
                members.split(',').any(|m| m == name).then_some(gid)
            })
            .filter(|g| *g != gid)
            .collect();
        Some(RunAs { uid, gid, groups })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
    const GROUP: &str = "root:x:0:\nalice:x:1000:\nvideo:x:44:alice,bob\naudio:x:29:bob\n";

    #[test]
    fn names_and_numbers_resolve_with_their_groups() {
        let alice = RunAs::from_tables("alice", PASSWD, GROUP).unwrap();
        assert_eq!(
            alice,
            RunAs {
                uid: 1000,
                gid: 1000,
                groups: vec![44]
            }
        );
        assert_eq!(RunAs::from_tables("1000", PASSWD, GROUP), Some(alice));
        assert_eq!(RunAs::from_tables("mallory", PASSWD, GROUP), None);
        assert_eq!(
            RunAs::from_tables("65534", PASSWD, GROUP).unwrap().gid,
            65534
        );
    }
}
