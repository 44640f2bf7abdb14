//! A bounded least-recently-used map of lookups, so the addresses a log repeats (the same
//! clients, over and over) cost one database walk each.
//!
//! Entries live in one vector linked in recency order by index; a full cache reuses the slot of
//! its least recently used entry, so after warm-up nothing is allocated but the value itself.

use std::collections::HashMap;
use std::hash::Hash;

const NIL: usize = usize::MAX;

pub struct Lru<K, V> {
    index: HashMap<K, usize>,
    slots: Vec<Slot<K, V>>,
    /// Most recently used.
    head: usize,
    /// Least recently used: the next to go.
    tail: usize,
    capacity: usize,
}

struct Slot<K, V> {
    key: K,
    value: V,
    prev: usize,
    next: usize,
}

impl<K: Hash + Eq + Copy, V> Lru<K, V> {
    /// A cache of at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Lru<K, V> {
        let capacity = capacity.max(1);
        // Reserve lazily past a modest size: a huge cache_size need not cost memory up front.
        let reserve = capacity.min(4096);
        Lru { index: HashMap::with_capacity(reserve), slots: Vec::with_capacity(reserve), head: NIL, tail: NIL, capacity }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The value for `key`, which becomes the most recently used.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        let i = *self.index.get(key)?;
        self.unlink(i);
        self.push_front(i);
        Some(&self.slots[i].value)
    }

    /// Insert or replace; a full cache forgets its least recently used entry.
    pub fn put(&mut self, key: K, value: V) {
        if let Some(&i) = self.index.get(&key) {
            self.slots[i].value = value;
            self.unlink(i);
            self.push_front(i);
            return;
        }
        let i = if self.slots.len() < self.capacity {
            self.slots.push(Slot { key, value, prev: NIL, next: NIL });
            self.slots.len() - 1
        } else {
            let i = self.tail;
            self.unlink(i);
            let old = std::mem::replace(&mut self.slots[i], Slot { key, value, prev: NIL, next: NIL });
            self.index.remove(&old.key);
            i
        };
        self.index.insert(key, i);
        self.push_front(i);
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = (self.slots[i].prev, self.slots[i].next);
        match prev {
            NIL => self.head = next,
            p => self.slots[p].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n].prev = prev,
        }
        self.slots[i].prev = NIL;
        self.slots[i].next = NIL;
    }

    fn push_front(&mut self, i: usize) {
        self.slots[i].prev = NIL;
        self.slots[i].next = self.head;
        if self.head != NIL {
            self.slots[self.head].prev = i;
        }
        self.head = i;
        if self.tail == NIL {
            self.tail = i;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_least_recently_used() {
        let mut c = Lru::new(2);
        c.put(1, "one");
        c.put(2, "two");
        assert_eq!(c.get(&1), Some(&"one")); // 2 is now the oldest
        c.put(3, "three");
        assert_eq!(c.get(&2), None);
        assert_eq!(c.get(&1), Some(&"one"));
        assert_eq!(c.get(&3), Some(&"three"));
        assert_eq!(c.len(), 2);
        c.put(3, "THREE");
        assert_eq!(c.get(&3), Some(&"THREE"));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn capacity_one_and_a_long_run_stay_consistent() {
        let mut c = Lru::new(1);
        for i in 0..10 {
            c.put(i, i * 10);
            assert_eq!(c.get(&i), Some(&(i * 10)));
            assert_eq!(c.len(), 1);
        }
        // Against a plain model: a list of keys in recency order.
        let mut c = Lru::new(8);
        let mut model: Vec<u32> = Vec::new();
        let mut x: u32 = 7;
        for _ in 0..5000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let k = (x >> 16) % 20;
            if x & 1 == 0 {
                let hit = c.get(&k).copied();
                let pos = model.iter().position(|m| *m == k);
                assert_eq!(hit, pos.map(|_| k * 2));
                if let Some(p) = pos {
                    model.remove(p);
                    model.insert(0, k);
                }
            } else {
                c.put(k, k * 2);
                if let Some(p) = model.iter().position(|m| *m == k) {
                    model.remove(p);
                }
                model.insert(0, k);
                model.truncate(8);
            }
            assert_eq!(c.len(), model.len());
        }
    }
}
