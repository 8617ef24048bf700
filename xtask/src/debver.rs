//! Debian version ordering, as `dpkg --compare-versions` does it.

use std::cmp::Ordering;

/// Compares two Debian versions (`[epoch:]upstream[-revision]`).
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua, ub))
        .then_with(|| verrevcmp(ra, rb))
}

/// Splits into epoch, upstream version and revision; a bad epoch counts as 0.
fn split(v: &str) -> (u64, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) => (e.parse().unwrap_or(0), rest),
        None => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// Sort weight of one character of a non-digit run: `~` sorts before everything, even the
/// end of the string, and letters sort before other characters.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternating non-digit and digit runs.
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: &[(&str, &str)] = &[
        ("6.1.0-28", "6.1.0-9"),
        ("6.1.119-1", "6.1.27-1"),
        ("6.1.119-1", "6.1.119-1"),
        ("1.0", "1.0-0"),
        ("1.0~rc1", "1.0"),
        ("1.0~rc1-1", "1.0~~-1"),
        ("1:0.1", "2.0"),
        ("2.0a", "2.0+"),
        ("2.0.1", "2.0a"),
        ("6.12.38-1", "6.12.9-1"),
        ("5.10.223-1", "5.10.234-1"),
        ("7.2.13-1", "7.2.13-1~exp1"),
        ("1.2.3+deb13u1", "1.2.3"),
        ("001", "1"),
    ];

    #[test]
    fn numeric_runs_compare_as_numbers() {
        assert_eq!(compare("6.1.0-28", "6.1.0-9"), Ordering::Greater);
        assert_eq!(compare("6.1.27-1", "6.1.119-1"), Ordering::Less);
        assert_eq!(compare("1:0.1", "9.9"), Ordering::Greater);
        assert_eq!(compare("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(compare("1.0", "1.0-0"), Ordering::Equal);
    }

    #[test]
    fn agrees_with_dpkg() {
        // dpkg is on every Debian host; skip quietly elsewhere.
        if std::process::Command::new("dpkg")
            .arg("--version")
            .output()
            .is_err()
        {
            return;
        }
        for (a, b) in CASES {
            let ours = compare(a, b);
            for (op, want) in [
                ("lt", Ordering::Less),
                ("eq", Ordering::Equal),
                ("gt", Ordering::Greater),
            ] {
                let status = std::process::Command::new("dpkg")
                    .args(["--compare-versions", a, op, b])
                    .status()
                    .unwrap();
                assert_eq!(
                    status.success(),
                    ours == want,
                    "{a} {op} {b}: ours = {ours:?}"
                );
            }
        }
    }
}
