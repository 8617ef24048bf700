//! Stand-ins for the numbers an operation names (its tgid and tid, the pids,
//! tids and fds in its path), so that operations differing only in them share
//! one prediction: every process's `cat /proc/self/limits` walks alike.
//!
//! The model never reads a pid's value, only whether two are equal and
//! whether one is zero (no number in the mount's namespace), so a one-to-one
//! renaming that keeps zero predicts the same calls under other names. The
//! checker predicts in stand-ins, compares the trace's names through the
//! same renaming, and gives every text it reports back the real numbers.

use std::borrow::Cow;

use crate::model::walk::name_to_int;

/// The first stand-in: above any pid (PID_MAX_LIMIT is 2^22) or fd (below
/// 2^31) the kernel hands out, and below `u32::MAX`, the value the kernel's
/// `name_to_int` gives an overflowing name.
const FIRST: u32 = 4_294_967_040;

/// Numbers renamed at most; any further ones keep their own value.
const CAPACITY: usize = (u32::MAX - FIRST) as usize;

/// The renaming of one operation: stand-in `FIRST + i` is `real[i]`.
#[derive(Debug, Default)]
pub struct Canon {
    real: Vec<u32>,
}

impl Canon {
    /// The renaming of the ids `ids` and the numbers the paths name, in that
    /// order of first appearance.
    pub fn of<'a>(ids: [u32; 2], paths: impl IntoIterator<Item = &'a str>) -> Canon {
        let mut c = Canon::default();
        for id in ids {
            c.learn(id);
        }
        for path in paths {
            for n in path.split('/').filter_map(name_to_int) {
                c.learn(n);
            }
        }
        c
    }

    fn learn(&mut self, n: u32) {
        if n != 0 && !self.real.contains(&n) && self.real.len() < CAPACITY {
            self.real.push(n);
        }
    }

    fn standin(&self, n: u32) -> Option<u32> {
        let i = self.real.iter().position(|r| *r == n)?;
        Some(FIRST + i as u32)
    }

    /// The stand-in for `n` (zero and unknown numbers are their own).
    pub fn id(&self, n: u32) -> u32 {
        self.standin(n).unwrap_or(n)
    }

    /// `path` with every numeric component renamed.
    pub fn path(&self, path: &str) -> String {
        let mut out = String::with_capacity(path.len() + 8);
        for (i, comp) in path.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(&self.name(comp));
        }
        out
    }

    /// A name the kernel read (or a path component), renamed.
    pub fn name<'a>(&self, name: &'a str) -> Cow<'a, str> {
        match name_to_int(name).and_then(|n| self.standin(n)) {
            Some(s) => Cow::Owned(s.to_string()),
            None => Cow::Borrowed(name),
        }
    }

    /// `text` (a path, a label, a message) with the real numbers back.
    pub fn restore<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let bytes = text.as_bytes();
        let mut out: Option<String> = None;
        let mut copied = 0;
        let mut i = 0;
        while i < bytes.len() {
            if !bytes[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let Some(real) = text[start..i]
                .parse::<u32>()
                .ok()
                .and_then(|n| self.real_of(n))
            else {
                continue;
            };
            let s = out.get_or_insert_with(|| String::with_capacity(text.len()));
            s.push_str(&text[copied..start]);
            s.push_str(&real.to_string());
            copied = i;
        }
        match out {
            Some(mut s) => {
                s.push_str(&text[copied..]);
                Cow::Owned(s)
            }
            None => Cow::Borrowed(text),
        }
    }

    fn real_of(&self, standin: u32) -> Option<u32> {
        let i = standin.checked_sub(FIRST)? as usize;
        self.real.get(i).copied()
    }

    /// [`Canon::restore`], owned.
    pub fn restored(&self, text: String) -> String {
        match self.restore(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_differing_only_in_numbers_share_a_shape() {
        let a = Canon::of([700, 701], ["/proc/700/task/701/fd/3"]);
        let b = Canon::of([42, 43], ["/proc/42/task/43/fd/5"]);
        assert_eq!(
            a.path("/proc/700/task/701/fd/3"),
            b.path("/proc/42/task/43/fd/5")
        );
        assert_eq!(a.id(700), b.id(42));
        // Another process's directory is not its own.
        let own = Canon::of([700, 700], ["/proc/700/limits"]);
        let other = Canon::of([700, 700], ["/proc/9/limits"]);
        assert_ne!(own.path("/proc/700/limits"), other.path("/proc/9/limits"));
    }

    #[test]
    fn zero_and_non_numbers_keep_their_names() {
        let c = Canon::of([0, 5], ["/proc/0/x/05/12a/+1"]);
        assert_eq!(c.id(0), 0);
        assert_eq!(c.path("/proc/0/x/05/12a/+1"), "/proc/0/x/05/12a/+1");
        assert_eq!(c.name("05"), "05");
        assert_ne!(c.name("5"), "5");
    }

    #[test]
    fn restoring_gives_back_every_real_number_and_nothing_else() {
        let c = Canon::of([700, 701], ["/proc/9/fd/3"]);
        let renamed = c.path("/proc/700/task/701/fd/3");
        assert!(!renamed.contains("700"), "{renamed}");
        assert_eq!(c.restore(&renamed), "/proc/700/task/701/fd/3");
        let label = format!("{} may already be in the dcache", c.path("/proc/9"));
        assert_eq!(c.restore(&label), "/proc/9 may already be in the dcache");
        // Numbers that are no stand-in, and stand-ins of nothing, stay.
        let odd = format!("pid:[4026531836] {}", FIRST + 40);
        assert_eq!(c.restore(&odd), odd);
    }
}
