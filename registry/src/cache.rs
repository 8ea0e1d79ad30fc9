//! A bounded cache from a text (and the schema references that go with it) to what was derived
//! from it. The registry keeps a request's schema text → the schema parsed, its identity, its
//! prepared compatibility form and its returned text, so that a repeated lookup, check or
//! registration of the same text does no parsing and no normalization; the REST layer keeps a
//! request body → the body parsed, so that a repeated request does not unescape its schema.
//!
//! Entries are found by a hash of the text and the references and verified against both,
//! so a hash collision is a miss, never a wrong answer. The cache is bounded by the bytes of
//! text it holds, in two generations: new entries and hits go to the young one; when it is full
//! it becomes the old one and the previous old one is dropped, so the entries unused the
//! longest go first, at constant cost per operation.
//!
//! What references resolve to changes only when a version is removed for good (a later
//! registration may then reuse its number), so the registry calls [`TextCache::forget_references`]
//! after such a removal; what was derived from a text alone stays valid forever.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::types::SchemaReference;

/// The text one generation holds at most, in bytes (schemas themselves are up to 1 MiB).
const GENERATION_BYTES: usize = 16 << 20;
/// The entries one generation holds at most.
const GENERATION_ENTRIES: usize = 4096;

/// Values by text and references, shared by all readers.
pub(crate) struct TextCache<T> {
    hasher: RandomState,
    generations: Mutex<Generations<T>>,
}

struct Generations<T> {
    young: Generation<T>,
    old: Generation<T>,
}

struct Generation<T> {
    entries: HashMap<u64, Arc<Entry<T>>>,
    bytes: usize,
}

impl<T> Default for Generation<T> {
    fn default() -> Self {
        Generation { entries: HashMap::new(), bytes: 0 }
    }
}

struct Entry<T> {
    text: Box<str>,
    references: Box<[SchemaReference]>,
    value: Arc<T>,
}

impl<T> TextCache<T> {
    pub(crate) fn new() -> TextCache<T> {
        TextCache {
            hasher: RandomState::new(),
            generations: Mutex::new(Generations { young: Generation::default(), old: Generation::default() }),
        }
    }

    fn key(&self, text: &str, references: &[SchemaReference]) -> u64 {
        let mut h = self.hasher.build_hasher();
        text.hash(&mut h);
        references.hash(&mut h);
        h.finish()
    }

    /// The value cached for `text` with `references`, if any.
    pub(crate) fn get(&self, text: &str, references: &[SchemaReference]) -> Option<Arc<T>> {
        let key = self.key(text, references);
        let mut gens = self.generations.lock();
        if let Some(entry) = gens.young.entries.get(&key).filter(|e| e.is(text, references)) {
            return Some(entry.value.clone());
        }
        // A hit in the old generation moves the entry to the young one: it is in use.
        let entry = gens.old.entries.get(&key).filter(|e| e.is(text, references))?.clone();
        gens.old.entries.remove(&key);
        gens.old.bytes -= entry.text.len();
        let value = entry.value.clone();
        gens.insert(key, entry);
        Some(value)
    }

    /// Remembers `value` for `text` with `references`.
    pub(crate) fn insert(&self, text: &str, references: &[SchemaReference], value: Arc<T>) {
        let key = self.key(text, references);
        let entry = Arc::new(Entry { text: text.into(), references: references.into(), value });
        self.generations.lock().insert(key, entry);
    }

    /// Drops every entry whose schema has references (see the module comment).
    pub(crate) fn forget_references(&self) {
        let mut guard = self.generations.lock();
        let gens = &mut *guard;
        for generation in [&mut gens.young, &mut gens.old] {
            generation.entries.retain(|_, e| e.references.is_empty());
            generation.bytes = generation.entries.values().map(|e| e.text.len()).sum();
        }
    }
}

impl<T> Entry<T> {
    /// Whether this is the entry of `text` with `references` (not only of the same hash).
    fn is(&self, text: &str, references: &[SchemaReference]) -> bool {
        &*self.text == text && &*self.references == references
    }
}

impl<T> Generations<T> {
    fn insert(&mut self, key: u64, entry: Arc<Entry<T>>) {
        if self.young.bytes + entry.text.len() > GENERATION_BYTES
            || self.young.entries.len() >= GENERATION_ENTRIES
        {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.bytes += entry.text.len();
        if let Some(previous) = self.young.entries.insert(key, entry) {
            self.young.bytes -= previous.text.len();
        }
        // The same key in the old generation is now shadowed; drop it so it is counted once.
        if let Some(stale) = self.old.entries.remove(&key) {
            self.old.bytes -= stale.text.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(version: i32) -> SchemaReference {
        SchemaReference { name: "a.B".into(), subject: "b".into(), version }
    }

    #[test]
    fn finds_by_text_and_references_and_forgets_referencing_entries() {
        let cache = TextCache::new();
        cache.insert("s", &[], Arc::new(1));
        cache.insert("s", &[reference(1)], Arc::new(2));
        assert_eq!(cache.get("s", &[]).as_deref(), Some(&1));
        assert_eq!(cache.get("s", &[reference(1)]).as_deref(), Some(&2));
        assert_eq!(cache.get("s", &[reference(2)]), None);
        assert_eq!(cache.get("t", &[]), None);
        cache.forget_references();
        assert_eq!(cache.get("s", &[reference(1)]), None);
        assert_eq!(cache.get("s", &[]).as_deref(), Some(&1));
    }

    #[test]
    fn stays_bounded_and_keeps_what_is_used() {
        let cache = TextCache::new();
        cache.insert("kept", &[], Arc::new(0));
        for i in 0..3 * GENERATION_ENTRIES {
            cache.insert(&i.to_string(), &[], Arc::new(i));
            if i % 100 == 0 {
                assert!(cache.get("kept", &[]).is_some(), "a used entry survives");
            }
        }
        let gens = cache.generations.lock();
        assert!(gens.young.entries.len() + gens.old.entries.len() <= 2 * GENERATION_ENTRIES);
        assert_eq!(gens.young.bytes, gens.young.entries.values().map(|e| e.text.len()).sum::<usize>());
    }
}
