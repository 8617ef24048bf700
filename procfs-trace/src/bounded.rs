//! The one bounded map: tables that must not grow with the workload (per
//! process, per path, per fd table, per dentry) keep their most recently used
//! keys and forget the rest.

use std::hash::Hash;

use foldhash::fast::RandomState;
use indexmap::{Equivalent, IndexMap};

/// A map of at most `cap` keys that evicts the least recently used.
///
/// Eviction runs in batches of a tenth of the capacity, so its selection
/// costs O(1) per insertion, amortised. The entries are dense (an
/// `IndexMap`) and their last uses a column beside them, so choosing whom
/// to evict reads 8 bytes per key rather than every row: the live view's
/// rows are a few hundred bytes, and reading them all for each eviction was
/// half the time its process table spent in this map under a stream of
/// short-lived processes.
///
/// Hashed with foldhash, randomly seeded per process: several times faster
/// than SipHash on the short keys of the hot path, and still keyed, so paths
/// a traced process chooses cannot be crafted to collide.
#[derive(Debug, Clone)]
pub struct BoundedMap<K, V> {
    entries: IndexMap<K, V, RandomState>,
    /// When each entry (by index) was last used.
    used: Vec<u64>,
    cap: usize,
    clock: u64,
    evicted: u64,
}

impl<K: Eq + Hash, V> BoundedMap<K, V> {
    /// An empty map holding at most `cap` keys (at least one).
    pub fn new(cap: usize) -> Self {
        BoundedMap {
            entries: IndexMap::default(),
            used: Vec::new(),
            cap: cap.max(1),
            clock: 0,
            evicted: 0,
        }
    }

    /// The value of `key`, inserted as `V::default()` when absent; marks it
    /// the most recently used.
    pub fn entry(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        self.entry_with(key, V::default)
    }

    /// The value of `key`, inserted as `make()` when absent; marks it the most
    /// recently used.
    pub fn entry_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.entries.get_index_of(&key) {
            Some(i) => i,
            None => self.push(key, make()),
        };
        self.touch(i)
    }

    /// [`BoundedMap::entry`] for a borrowed key, owned only when inserted.
    pub fn entry_ref<Q>(&mut self, key: &Q) -> &mut V
    where
        Q: Hash + Equivalent<K> + ToOwned<Owned = K> + ?Sized,
        V: Default,
    {
        let i = match self.entries.get_index_of(key) {
            Some(i) => i,
            None => self.push(key.to_owned(), V::default()),
        };
        self.touch(i)
    }

    /// Sets `key` to `value`, as the most recently used.
    pub fn insert(&mut self, key: K, value: V) {
        match self.entries.get_index_of(&key) {
            Some(i) => *self.touch(i) = value,
            None => {
                let i = self.push(key, value);
                self.touch(i);
            }
        }
    }

    /// Adds a key known to be absent, evicting first if the map is full;
    /// returns its index.
    fn push(&mut self, key: K, value: V) -> usize {
        if self.entries.len() >= self.cap {
            self.evict();
        }
        self.used.push(0);
        self.entries.insert_full(key, value).0
    }

    /// Marks entry `i` the most recently used.
    fn touch(&mut self, i: usize) -> &mut V {
        self.clock += 1;
        self.used[i] = self.clock;
        &mut self.entries[i]
    }

    /// The value of `key`, without marking it used.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.entries.get(key)
    }

    /// The value of `key` to change, marking it used.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let i = self.entries.get_index_of(key)?;
        Some(self.touch(i))
    }

    /// Removes `key`.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let (i, _, value) = self.entries.swap_remove_full(key)?;
        // The last entry moved into the hole, in both columns.
        self.used.swap_remove(i);
        Some(value)
    }

    /// Whether `key` is held.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.entries.contains_key(key)
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys forgotten to stay within the capacity, since the map was made.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Every key and value, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter()
    }

    /// Every value, in no order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.values()
    }

    /// Forgets the least recently used tenth of the capacity (at least one key).
    fn evict(&mut self) {
        // At least one: the map is full (len >= cap >= 1) when this runs.
        let len = self.entries.len();
        let n = (len + 1 - self.cap + self.cap / 10).min(len);
        let mut ages: Vec<(u64, usize)> = self.used.iter().copied().zip(0..).collect();
        ages.select_nth_unstable(n - 1);
        let mut gone: Vec<usize> = ages[..n].iter().map(|(_, i)| *i).collect();
        // From the highest index down, so that each swap moves a survivor
        // (the last entry) into the hole, never a victim still to remove.
        gone.sort_unstable_by(|a, b| b.cmp(a));
        for i in gone {
            self.entries.swap_remove_index(i);
            self.used.swap_remove(i);
        }
        self.evicted += n as u64;
    }
}

impl<K, Q, V> std::ops::Index<&Q> for BoundedMap<K, V>
where
    K: Eq + Hash,
    Q: Hash + Equivalent<K> + ?Sized,
{
    type Output = V;

    /// The value of `key`; panics when it is not held, as `HashMap`'s does.
    fn index(&self, key: &Q) -> &V {
        self.get(key)
            .expect("no entry for this key in the bounded map")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_stays_bounded_and_the_recent_survive() {
        let mut m = BoundedMap::<u32, u32>::new(100);
        for i in 0..1000u32 {
            *m.entry(i) += 1;
            // Key 0 is used all the time, so it is never the least recent.
            *m.entry(0) += 1;
        }
        assert!(m.len() <= 100);
        assert!(m.contains_key(&0) && m.contains_key(&999));
        assert_eq!(m.evicted() as usize, 1000 - m.len());
    }

    #[test]
    fn insert_get_and_remove() {
        let mut m = BoundedMap::new(2);
        m.insert("a", 1);
        m.insert("b", 2);
        assert_eq!(m.get("a"), Some(&1));
        *m.get_mut("a").unwrap() = 3;
        m.insert("c", 4);
        assert_eq!(m.get("b"), None, "b was the least recently used");
        assert_eq!(m.get("a"), Some(&3));
        assert_eq!(m.remove("c"), Some(4));
        assert_eq!(m.len(), 1);
    }

    /// Removals and evictions move entries around; the use times must move
    /// with them, or the wrong keys would be forgotten.
    #[test]
    fn eviction_after_removals_forgets_the_least_recent() {
        let mut m = BoundedMap::new(20);
        for i in 0..20u32 {
            m.insert(i, i);
        }
        for i in [0, 5, 10] {
            m.remove(&i);
        }
        // Touch the oldest survivors: the least recent are now 4, 6, 7, 8, ...
        for i in [1, 2, 3] {
            m.get_mut(&i);
        }
        for i in 100..104u32 {
            m.insert(i, i);
        }
        assert_eq!(m.len(), 18, "one eviction, of three keys");
        for i in [4, 6, 7] {
            assert!(!m.contains_key(&i), "{i} was among the least recent");
        }
        for i in [1, 2, 3, 8, 19, 100, 103] {
            assert_eq!(m.get(&i), Some(&i), "{i} survives with its value");
        }
        assert_eq!(m.evicted(), 3);
    }
}
