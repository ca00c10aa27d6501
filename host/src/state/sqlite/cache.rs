//! Recently read and written values, kept in memory so that a get of a warm
//! key is answered on the async worker, without the hop to the blocking
//! pool (which costs more than the SQLite read itself).
//!
//! Coherence is the store's job, not the cache's: the store writes through
//! it under the writer lock, clears it when another process has committed,
//! and hands out [`Ticket`]s so that a value read from the database before
//! a write never lands in the cache after it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hashlink::LruCache;

/// A key of one bucket. The bucket name is part of the key, so one plugin's
/// entries can never answer another's lookups.
type Slot = (Arc<str>, String);

/// `None` records a key known to be unset, which is as useful to cache as a
/// value: "have I seen this delivery id?" is usually answered "no".
type Known = Option<Vec<u8>>;

/// What an entry costs beyond its key and value: the bucket pointer, the
/// map's links and the allocations' headers, roughly.
const ENTRY_OVERHEAD: usize = 96;

pub(super) struct ReadCache {
    inner: Mutex<Inner>,
    budget: usize,
    max_value: usize,
}

struct Inner {
    map: LruCache<Slot, Known>,
    bytes: usize,
    /// Moves on every change the cache did not learn by reading; a fill
    /// whose ticket is older is dropped, as its value may predate the change.
    generation: u64,
}

/// The cache's generation when a database read began.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket(u64);

impl ReadCache {
    /// At most `budget` bytes of keys and values; values over `max_value`
    /// bytes are never kept. A budget of 0 keeps nothing.
    pub fn new(budget: usize, max_value: usize) -> ReadCache {
        ReadCache {
            inner: Mutex::new(Inner {
                map: LruCache::new_unbounded(),
                bytes: 0,
                generation: 0,
            }),
            budget,
            max_value,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change below leaves the map and its byte count consistent
        // before anything that could panic, so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the cache knows of `key`: `Ok(known)` on a hit, else the key
    /// back for the database read.
    pub fn lookup(&self, bucket: &Arc<str>, key: String) -> Result<Known, String> {
        let slot = (Arc::clone(bucket), key);
        match self.lock().map.get(&slot) {
            Some(known) => Ok(known.clone()),
            None => Err(slot.1),
        }
    }

    pub fn ticket(&self) -> Ticket {
        Ticket(self.lock().generation)
    }

    /// Keeps what a read found, unless something changed since `ticket`.
    pub fn fill(&self, ticket: Ticket, bucket: &Arc<str>, key: &str, known: &Known) {
        if !self.keeps(known) {
            return;
        }
        let mut inner = self.lock();
        if inner.generation == ticket.0 {
            inner.put(
                (Arc::clone(bucket), key.to_owned()),
                known.clone(),
                self.budget,
            );
        }
    }

    /// Records a committed write: the key's new value, or `None` once it
    /// is deleted. Called with the writer lock held, so writes land in the
    /// order they committed.
    pub fn wrote(&self, bucket: &Arc<str>, key: String, known: Known) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        let slot = (Arc::clone(bucket), key);
        if self.keeps(&known) {
            inner.put(slot, known, self.budget);
        } else {
            inner.remove(&slot);
        }
    }

    /// Drops the key: a write of it may or may not have committed.
    pub fn forget(&self, bucket: &Arc<str>, key: String) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.remove(&(Arc::clone(bucket), key));
    }

    /// Drops everything: another process changed the database.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.map.clear();
        inner.bytes = 0;
    }

    fn keeps(&self, known: &Known) -> bool {
        self.budget > 0 && known.as_ref().is_none_or(|v| v.len() <= self.max_value)
    }
}

impl Inner {
    fn put(&mut self, slot: Slot, known: Known, budget: usize) {
        let size = cost(&slot, &known);
        if let Some(old) = self.map.insert(slot.clone(), known) {
            self.bytes = self.bytes.saturating_sub(cost(&slot, &old));
        }
        self.bytes = self.bytes.saturating_add(size);
        while self.bytes > budget {
            let Some((slot, known)) = self.map.remove_lru() else {
                self.bytes = 0;
                break;
            };
            self.bytes = self.bytes.saturating_sub(cost(&slot, &known));
        }
    }

    fn remove(&mut self, slot: &Slot) {
        if let Some(old) = self.map.remove(slot) {
            self.bytes = self.bytes.saturating_sub(cost(slot, &old));
        }
    }
}

fn cost((_, key): &Slot, known: &Known) -> usize {
    ENTRY_OVERHEAD + key.len() + known.as_ref().map_or(0, Vec::len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(name: &str) -> Arc<str> {
        Arc::from(name)
    }

    #[test]
    fn a_fill_after_a_write_of_the_key_is_dropped() {
        let cache = ReadCache::new(1 << 20, 1024);
        let a = bucket("a");
        // A read began, then a write committed, then the read finished.
        let ticket = cache.ticket();
        cache.wrote(&a, "k".into(), Some(b"new".to_vec()));
        cache.fill(ticket, &a, "k", &Some(b"old".to_vec()));
        assert_eq!(cache.lookup(&a, "k".into()), Ok(Some(b"new".to_vec())));
    }

    #[test]
    fn a_fill_after_a_clear_is_dropped() {
        let cache = ReadCache::new(1 << 20, 1024);
        let a = bucket("a");
        let ticket = cache.ticket();
        cache.clear();
        cache.fill(ticket, &a, "k", &Some(b"old".to_vec()));
        assert_eq!(cache.lookup(&a, "k".into()), Err("k".to_owned()));
        let ticket = cache.ticket();
        cache.fill(ticket, &a, "k", &None);
        assert_eq!(cache.lookup(&a, "k".into()), Ok(None), "unset is known");
    }

    #[test]
    fn buckets_do_not_share_keys() {
        let cache = ReadCache::new(1 << 20, 1024);
        cache.wrote(&bucket("a"), "k".into(), Some(b"a's".to_vec()));
        assert_eq!(cache.lookup(&bucket("b"), "k".into()), Err("k".to_owned()));
    }

    #[test]
    fn the_budget_evicts_the_least_recently_used() {
        // Room for three entries of a 2-byte key and a 2-byte value.
        let cache = ReadCache::new(3 * (ENTRY_OVERHEAD + 4), 1024);
        let a = bucket("a");
        for k in ["k1", "k2", "k3"] {
            cache.wrote(&a, k.into(), Some(b"vv".to_vec()));
        }
        assert!(cache.lookup(&a, "k1".into()).is_ok(), "k1 is now recent");
        cache.wrote(&a, "k4".into(), Some(b"vv".to_vec()));
        assert_eq!(cache.lookup(&a, "k2".into()), Err("k2".to_owned()));
        for k in ["k1", "k3", "k4"] {
            assert!(cache.lookup(&a, k.into()).is_ok(), "{k}");
        }
    }

    #[test]
    fn large_values_and_a_zero_budget_are_not_kept() {
        let cache = ReadCache::new(1 << 20, 4);
        let a = bucket("a");
        cache.wrote(&a, "small".into(), Some(b"1234".to_vec()));
        cache.wrote(&a, "large".into(), Some(b"12345".to_vec()));
        assert!(cache.lookup(&a, "small".into()).is_ok());
        assert!(cache.lookup(&a, "large".into()).is_err());
        // Replacing a kept value with one too large drops the old one.
        cache.wrote(&a, "small".into(), Some(b"12345".to_vec()));
        assert!(cache.lookup(&a, "small".into()).is_err());

        let off = ReadCache::new(0, 4);
        off.wrote(&a, "k".into(), None);
        assert!(off.lookup(&a, "k".into()).is_err());
    }
}
