//! Fixed-size counters (rates over the last second, latency histograms), so
//! memory does not grow with the event rate.

/// Width of one rate bucket.
const BUCKET_NS: u64 = 125_000_000;
/// Buckets per second.
const BUCKETS: usize = 8;

/// A count over the last second of trace time, in eight 125 ms buckets.
#[derive(Debug, Clone, Default)]
pub struct Rate {
    counts: [u64; BUCKETS],
    epochs: [u64; BUCKETS],
}

impl Rate {
    /// Counts `n` at time `ts_ns`.
    pub fn add(&mut self, ts_ns: u64, n: u64) {
        let e = ts_ns / BUCKET_NS;
        let i = (e % BUCKETS as u64) as usize;
        match self.epochs[i].cmp(&e) {
            std::cmp::Ordering::Less => {
                self.epochs[i] = e;
                self.counts[i] = n;
            }
            std::cmp::Ordering::Equal => self.counts[i] += n,
            // Older than what the bucket now holds: out of the window anyway.
            std::cmp::Ordering::Greater => {}
        }
    }

    /// What was counted in the second up to `now_ns`.
    pub fn per_sec(&self, now_ns: u64) -> u64 {
        let e = now_ns / BUCKET_NS;
        self.epochs
            .iter()
            .zip(&self.counts)
            .filter(|(ep, _)| **ep <= e && **ep + BUCKETS as u64 > e)
            .map(|(_, c)| c)
            .sum()
    }
}

/// Sub-buckets per power of two (about 6% resolution).
const SUB: u64 = 8;
/// Slots: exact values below 16, then 8 per power of two up to 2^63.
const SLOTS: usize = 16 + 60 * SUB as usize;

/// A log-linear latency histogram of fixed size.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Box<[u32; SLOTS]>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; SLOTS]),
            total: 0,
        }
    }
}

impl Histogram {
    /// Records one value.
    pub fn record(&mut self, v: u64) {
        let slot = slot(v).min(SLOTS - 1);
        self.counts[slot] = self.counts[slot].saturating_add(1);
        self.total += 1;
    }

    /// Records `n` values from `[2^slot, 2^(slot+1))`, as the kernel counts
    /// them, at the middle of that range.
    pub fn record_log2(&mut self, slot: usize, n: u64) {
        if n == 0 {
            return;
        }
        let mid = match slot {
            0 => 1,
            s => 3u64 << (s - 1),
        };
        let at = self::slot(mid).min(SLOTS - 1);
        self.counts[at] = self.counts[at].saturating_add(n.min(u64::from(u32::MAX)) as u32);
        self.total += n;
    }

    /// The value at quantile `q` (0..=1), to the bucket's midpoint.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((self.total as f64 * q).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                return Some(value(i));
            }
        }
        None
    }
}

fn slot(v: u64) -> usize {
    if v < 16 {
        return v as usize;
    }
    let msb = 63 - u64::from(v.leading_zeros());
    let sub = (v >> (msb - 3)) & (SUB - 1);
    (16 + (msb - 4) * SUB + sub) as usize
}

fn value(slot: usize) -> u64 {
    if slot < 16 {
        return slot as u64;
    }
    let msb = (slot as u64 - 16) / SUB + 4;
    let sub = (slot as u64 - 16) % SUB;
    let width = 1u64 << (msb - 3);
    ((SUB + sub) << (msb - 3)) + width / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_counts_the_last_second_only() {
        let mut r = Rate::default();
        r.add(1_000_000_000, 5);
        r.add(1_500_000_000, 3);
        assert_eq!(r.per_sec(1_600_000_000), 8);
        assert_eq!(r.per_sec(2_100_000_000), 3);
        assert_eq!(r.per_sec(9_000_000_000), 0);
    }

    #[test]
    fn quantiles_are_within_a_bucket() {
        let mut h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5).unwrap() as f64;
        let p99 = h.quantile(0.99).unwrap() as f64;
        assert!((p50 / 500_000.0 - 1.0).abs() < 0.07, "{p50}");
        assert!((p99 / 990_000.0 - 1.0).abs() < 0.07, "{p99}");
        assert_eq!(Histogram::default().quantile(0.5), None);
        h.record(u64::MAX);
    }
}
