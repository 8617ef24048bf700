//! Claims the documents make that the tour verifies from user space.

use std::{fs, io, os::unix::fs::MetadataExt as _, path::Path};

use thiserror::Error;

use crate::model::{
    kernel::KernelFacts,
    pid_table::{self, Table},
    version::KernelVersion,
};

/// Why a claim of the documents does not hold here, or could not be checked.
#[derive(Debug, Error)]
pub enum ClaimError {
    /// What the kernel showed contradicts the claim.
    #[error("{0}")]
    Refuted(String),
    /// The text the claim is about is not as the kernel formats it.
    #[error("{0}")]
    Unreadable(String),
    /// A file or directory could not be read.
    #[error("cannot read {path}")]
    Io {
        /// What was being read.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// First version seen where `task_statm` sums the per-CPU rss counters exactly
/// (`get_mm_counter_sum`) while stat's rss still reads them approximately
/// (`get_mm_rss` → `percpu_counter_read_positive`): Debian's 6.12.117 and
/// 7.2.13 sources do, 6.1.192 (one atomic counter read by both) does not.
pub const STATM_EXACT_SUM_SINCE: KernelVersion = KernelVersion::new(6, 12);

/// The documents' claim that statm's resident (field 2) equals stat's rss
/// (field 24). Where statm sums the per-CPU counters and stat does not, the
/// two may differ by what the CPUs hold back: up to one `percpu_counter_batch`
/// (max(32, 2 × CPUs)) per CPU for each of the three rss counters.
pub fn statm_resident_vs_stat_rss(
    stat: &str,
    statm: &str,
    version: KernelVersion,
    cpus: u64,
) -> Result<String, ClaimError> {
    let (resident, rss) = resident_and_rss(stat, statm)?;
    if version < STATM_EXACT_SUM_SINCE {
        return if rss == resident {
            Ok(format!("statm resident {resident} = stat rss {rss} pages"))
        } else {
            Err(ClaimError::Refuted(format!(
                "statm resident {resident} != stat rss {rss}"
            )))
        };
    }
    let bound = 3 * 32u64.max(2 * cpus) * cpus;
    let diff = resident.abs_diff(rss);
    if diff <= bound {
        Ok(format!(
            "statm resident {resident} vs stat rss {rss} pages: differ by {diff}, within the {bound} the per-CPU counters may hold back (statm sums them exactly since {STATM_EXACT_SUM_SINCE}, stat does not)"
        ))
    } else {
        Err(ClaimError::Refuted(format!(
            "statm resident {resident} and stat rss {rss} differ by {diff}, more than per-CPU counter drift ({bound}) explains"
        )))
    }
}

/// statm's field 2 and stat's field 24, as page counts.
fn resident_and_rss(stat: &str, statm: &str) -> Result<(u64, u64), ClaimError> {
    let unreadable = |what: &str| ClaimError::Unreadable(what.to_owned());
    // comm (field 2) may hold spaces; fields after it start past the last ')'.
    let after = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| unreadable("stat has no comm field"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state), so field 24 (rss) is index 21.
    let rss = fields
        .get(21)
        .ok_or_else(|| unreadable("stat has fewer than 24 fields"))?;
    let resident = statm
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| unreadable("statm has fewer than 2 fields"))?;
    let num = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| ClaimError::Unreadable(format!("{s:?} is not a page count")))
    };
    Ok((num(resident)?, num(rss)?))
}

/// Lists `dir` (a pid directory) and compares entries, order, modes and nlink
/// with the model's table.
pub fn pid_directory_matches_table(
    dir: &Path,
    table: Table,
    kernel: &KernelFacts,
) -> Result<String, ClaimError> {
    let io = |source| ClaimError::Io {
        path: dir.display().to_string(),
        source,
    };
    let expected = pid_table::entries(table, kernel.version, &|c| kernel.has(c));
    let listed: Vec<(String, u32)> = fs::read_dir(dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .map(|e| {
            let mode = e.metadata().map(|m| m.mode()).unwrap_or(0);
            (e.file_name().to_string_lossy().into_owned(), mode)
        })
        .collect();
    let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    let model: Vec<&str> = expected.iter().map(|e| e.name).collect();
    if names != model {
        let missing: Vec<_> = model.iter().filter(|n| !names.contains(n)).collect();
        let extra: Vec<_> = names.iter().filter(|n| !model.contains(n)).collect();
        return Err(ClaimError::Refuted(format!(
            "entries differ from the model's table: missing {missing:?}, unexpected {extra:?} (order: {names:?})"
        )));
    }
    for ((name, mode), e) in listed.iter().zip(&expected) {
        if *mode != e.mode {
            return Err(ClaimError::Refuted(format!(
                "{name}: mode {mode:o}, the model says {:o}",
                e.mode
            )));
        }
    }
    let nlink = fs::metadata(dir).map_err(io)?.nlink();
    let want = u64::from(pid_table::nlink(&expected));
    if nlink != want {
        return Err(ClaimError::Refuted(format!(
            "nlink {nlink}, the model says {want} (2 + DIR entries)"
        )));
    }
    Ok(format!(
        "{} entries in table order, modes as modelled, nlink {nlink}",
        expected.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statm_against_stat() {
        let stat = "42 (a b) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123 1234567 321 18446744073709551615";
        let v6_1 = KernelVersion::new(6, 1);
        assert!(statm_resident_vs_stat_rss(stat, "1000 321 200 10 0 50 0", v6_1, 2).is_ok());
        let err = statm_resident_vs_stat_rss(stat, "1000 322 200 10 0 50 0", v6_1, 2).unwrap_err();
        let err = err.to_string();
        assert!(err.contains("322") && err.contains("321"));
        assert!(statm_resident_vs_stat_rss("garbage", "1 2", v6_1, 2).is_err());
        // From 6.12 statm is exact and stat approximate: a per-CPU drift is expected.
        let v6_12 = KernelVersion::new(6, 12);
        assert!(statm_resident_vs_stat_rss(stat, "1000 352 200 10 0 50 0", v6_12, 2).is_ok());
        assert!(statm_resident_vs_stat_rss(stat, "1000 999 200 10 0 50 0", v6_12, 2).is_err());
    }
}
