//! Paths as people read them: numbers folded (`/proc/[pid]/stat`) and
//! shell-style globs, shared by the tour, replay and the live view.

/// `path` with its numbers named for what they are: `[fd]` under `fd` and
/// `fdinfo`, `[tid]` under `task`, else `[pid]`; a trailing `/` is dropped.
pub fn fold(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    fold_into(path, &mut out);
    out
}

/// [`fold`] into `out`, replacing what it held (a buffer kept across calls
/// spares an allocation per path).
pub fn fold_into(path: &str, out: &mut String) {
    out.clear();
    let path = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    let mut parent = "";
    for (i, c) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let numeric = !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit());
        out.push_str(match (numeric, parent) {
            (false, _) => c,
            (true, "fd" | "fdinfo") => "[fd]",
            (true, "task") => "[tid]",
            (true, _) => "[pid]",
        });
        parent = c;
    }
}

/// Shell-style matching: `*` any run within a path component, `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                go(&p[1..], t) || (t.first().is_some_and(|c| *c != b'/') && go(p, &t[1..]))
            }
            (Some(b'?'), Some(c)) if *c != b'/' => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_fold_by_what_they_are() {
        assert_eq!(
            fold("/proc/123/task/124/stat"),
            "/proc/[pid]/task/[tid]/stat"
        );
        assert_eq!(fold("/proc/7/fd/3"), "/proc/[pid]/fd/[fd]");
        assert_eq!(fold("/proc/7/fdinfo/12"), "/proc/[pid]/fdinfo/[fd]");
        assert_eq!(fold("/proc/7/"), "/proc/[pid]");
        assert_eq!(fold("/"), "/");
    }

    #[test]
    fn globs() {
        assert!(glob_match("/proc/*/limits", "/proc/42/limits"));
        assert!(!glob_match("/proc/*/limits", "/proc/42/task/42/limits"));
        assert!(glob_match("/proc/?/stat*", "/proc/7/statm"));
        assert!(glob_match("/proc", "/proc"));
        assert!(!glob_match("/proc/*", "/proc"));
    }
}
