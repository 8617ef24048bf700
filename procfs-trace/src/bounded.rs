//! The one bounded map: tables that must not grow with the workload (per
//! process, per path, per fd table, per dentry) keep their most recently used
//! keys and forget the rest.

use std::{borrow::Borrow, collections::HashMap, hash::Hash};

use foldhash::fast::RandomState;

/// A map of at most `cap` keys that evicts the least recently used.
///
/// Eviction runs in batches of a tenth of the capacity, so its sort costs
/// O(log n) per insertion, amortised.
///
/// Hashed with foldhash, randomly seeded per process: several times faster
/// than SipHash on the short keys of the hot path, and still keyed, so paths
/// a traced process chooses cannot be crafted to collide.
#[derive(Debug, Clone)]
pub struct BoundedMap<K, V> {
    slots: HashMap<K, Slot<V>, RandomState>,
    cap: usize,
    clock: u64,
    evicted: u64,
}

#[derive(Debug, Clone)]
struct Slot<V> {
    value: V,
    used: u64,
}

impl<K: Eq + Hash + Clone, V> BoundedMap<K, V> {
    /// An empty map holding at most `cap` keys (at least one).
    pub fn new(cap: usize) -> Self {
        BoundedMap {
            slots: HashMap::default(),
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
        let used = self.make_room(&key);
        let slot = self.slots.entry(key).or_insert_with(|| Slot {
            value: make(),
            used,
        });
        slot.used = used;
        &mut slot.value
    }

    /// [`BoundedMap::entry`] for a borrowed key, owned only when inserted.
    pub fn entry_ref<Q>(&mut self, key: &Q) -> &mut V
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ToOwned<Owned = K> + ?Sized,
        V: Default,
    {
        if !self.slots.contains_key(key) {
            return self.entry(key.to_owned());
        }
        self.clock += 1;
        let used = self.clock;
        let slot = self
            .slots
            .get_mut(key)
            .expect("the key was found just above");
        slot.used = used;
        &mut slot.value
    }

    /// Sets `key` to `value`, as the most recently used.
    pub fn insert(&mut self, key: K, value: V) {
        let used = self.make_room(&key);
        self.slots.insert(key, Slot { value, used });
    }

    /// Evicts if `key` is new and the map is full; returns the time of this use.
    fn make_room(&mut self, key: &K) -> u64 {
        if self.slots.len() >= self.cap && !self.slots.contains_key(key) {
            self.evict();
        }
        self.clock += 1;
        self.clock
    }

    /// The value of `key`, without marking it used.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.slots.get(key).map(|s| &s.value)
    }

    /// The value of `key` to change, marking it used.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.clock += 1;
        let used = self.clock;
        self.slots.get_mut(key).map(|s| {
            s.used = used;
            &mut s.value
        })
    }

    /// Removes `key`.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.slots.remove(key).map(|s| s.value)
    }

    /// Whether `key` is held.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.slots.contains_key(key)
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Keys forgotten to stay within the capacity, since the map was made.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Every key and value, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots.iter().map(|(k, s)| (k, &s.value))
    }

    /// Every value, in no order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.slots.values().map(|s| &s.value)
    }

    /// Forgets the least recently used tenth of the capacity (at least one key).
    fn evict(&mut self) {
        let n = (self.slots.len() + 1 - self.cap + self.cap / 10).min(self.slots.len());
        let mut ages: Vec<(u64, K)> = self
            .slots
            .iter()
            .map(|(k, s)| (s.used, k.clone()))
            .collect();
        ages.select_nth_unstable_by_key(n.saturating_sub(1), |(used, _)| *used);
        for (_, k) in ages.into_iter().take(n) {
            self.slots.remove(&k);
        }
        self.evicted += n as u64;
    }
}

impl<K, Q, V> std::ops::Index<&Q> for BoundedMap<K, V>
where
    K: Eq + Hash + Clone + Borrow<Q>,
    Q: Eq + Hash + ?Sized,
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
}
