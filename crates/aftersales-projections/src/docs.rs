//! The working set of a projection: the read-model documents a batch of
//! events reads and writes, held in memory until the batch commits.
//!
//! A projection only sees this set; the runner loads the documents an event
//! names in bulk before applying it, and writes back the changed ones with
//! the checkpoint in one transaction. The set is bounded: after a commit the
//! least recently used documents are dropped until it holds no more than its
//! capacity. So a rebuild needs the same memory whatever the log's length,
//! and a live service holds a steady set of the documents its recent events
//! touched instead of filling up and starting empty again.
//!
//! Rows that are written once and never read back while projecting (a
//! case's timeline) are appended beside the set: they are neither loaded
//! nor kept.

use std::collections::HashMap;

use lru::LruCache;

use crate::error::ProjectionError;

/// Documents of a projection, by collection and key.
#[derive(Debug)]
pub struct Docs<D> {
    /// Each collection from least to most recently used.
    collections: HashMap<&'static str, LruCache<String, Slot<D>>>,
    /// The documents changed since the last commit, so that a batch's
    /// writes are found without scanning the whole set.
    dirty: Vec<(&'static str, String)>,
    /// Commits so far: a slot's `used` is the batch that last read or wrote
    /// it, which orders the collections' least recently used documents
    /// against each other.
    batch: u64,
    /// Rows appended since the last commit: collection, key and JSON.
    appended: Vec<(&'static str, String, String)>,
}

#[derive(Debug)]
struct Slot<D> {
    doc: Option<D>,
    dirty: bool,
    /// Whether a row for it may exist in the table (so deletes and tag
    /// rewrites are needed when it changes).
    stored: bool,
    /// Its search terms as the table holds them, when known: unchanged
    /// terms are not rewritten.
    tags: Option<Vec<Tag>>,
    used: u64,
}

/// A search term: `(field, value)`.
pub type Tag = (&'static str, String);

impl<D> Default for Docs<D> {
    fn default() -> Self {
        Self {
            collections: HashMap::new(),
            dirty: Vec::new(),
            batch: 0,
            appended: Vec::new(),
        }
    }
}

/// One changed document, as the runner writes it.
#[derive(Debug)]
pub(crate) struct Change<'a, D> {
    pub collection: &'static str,
    pub key: &'a str,
    pub doc: Option<&'a D>,
    pub stored: bool,
    pub tags: Option<&'a [Tag]>,
}

impl<D> Docs<D> {
    pub fn get(&self, collection: &str, key: &str) -> Option<&D> {
        self.collections.get(collection)?.peek(key)?.doc.as_ref()
    }

    /// The document to change in place, if it exists.
    pub fn get_mut(&mut self, collection: &'static str, key: &str) -> Option<&mut D> {
        let batch = self.batch;
        let slot = self.collections.get_mut(collection)?.get_mut(key)?;
        let doc = slot.doc.as_mut()?;
        if !slot.dirty {
            slot.dirty = true;
            self.dirty.push((collection, key.to_owned()));
        }
        slot.used = batch;
        Some(doc)
    }

    /// Creates or replaces a document.
    pub fn put(&mut self, collection: &'static str, key: impl Into<String>, doc: D) {
        self.slot(collection, key.into()).doc = Some(doc);
    }

    pub fn delete(&mut self, collection: &'static str, key: impl Into<String>) {
        self.slot(collection, key.into()).doc = None;
    }

    /// Writes a row of another shape that the projection never reads back
    /// (one entry of a log it keeps), without holding it in the set. A row
    /// appended again under the same key replaces the first.
    pub fn append<T: serde::Serialize>(
        &mut self,
        collection: &'static str,
        key: String,
        row: &T,
    ) -> Result<(), ProjectionError> {
        let json = serde_json::to_string(row)
            .map_err(|e| ProjectionError::CorruptRow(format!("{collection}/{key}: {e}")))?;
        self.appended.push((collection, key, json));
        Ok(())
    }

    /// The rows appended since the last commit, to be written with it.
    pub(crate) fn take_appended(&mut self) -> Vec<(&'static str, String, String)> {
        std::mem::take(&mut self.appended)
    }

    fn slot(&mut self, collection: &'static str, key: String) -> &mut Slot<D> {
        let batch = self.batch;
        let slots = self
            .collections
            .entry(collection)
            .or_insert_with(LruCache::unbounded);
        if !slots.peek(&key).is_some_and(|slot| slot.dirty) {
            self.dirty.push((collection, key.clone()));
        }
        let slot = slots.get_or_insert_mut(key, || Slot {
            doc: None,
            dirty: false,
            stored: true,
            tags: None,
            used: batch,
        });
        slot.dirty = true;
        slot.used = batch;
        slot
    }

    /// Whether the set holds what the table has for a key; if so, marks it
    /// used by the current batch.
    pub(crate) fn touch(&mut self, collection: &str, key: &str) -> bool {
        let batch = self.batch;
        match self
            .collections
            .get_mut(collection)
            .and_then(|slots| slots.get_mut(key))
        {
            Some(slot) => {
                slot.used = batch;
                true
            }
            None => false,
        }
    }

    /// Records what the table holds for a key (`None`: no row).
    pub(crate) fn loaded(
        &mut self,
        collection: &'static str,
        key: String,
        doc: Option<D>,
        tags: Vec<Tag>,
    ) {
        let stored = doc.is_some();
        self.collections
            .entry(collection)
            .or_insert_with(LruCache::unbounded)
            .put(
                key,
                Slot {
                    doc,
                    dirty: false,
                    stored,
                    tags: Some(tags),
                    used: self.batch,
                },
            );
    }

    pub(crate) fn changes(&self) -> impl Iterator<Item = Change<'_, D>> {
        self.dirty.iter().filter_map(|(collection, key)| {
            let slot = self.collections.get(collection)?.peek(key)?;
            slot.dirty.then_some(Change {
                collection,
                key,
                doc: slot.doc.as_ref(),
                stored: slot.stored,
                tags: slot.tags.as_deref(),
            })
        })
    }

    /// Records the search terms a document is written with.
    pub(crate) fn set_tags(&mut self, collection: &str, key: &str, tags: Vec<Tag>) {
        if let Some(slot) = self
            .collections
            .get_mut(collection)
            .and_then(|slots| slots.peek_mut(key))
        {
            slot.tags = Some(tags);
        }
    }

    /// After a commit: everything written is now stored, and the least
    /// recently used documents go until at most `capacity` are left.
    pub(crate) fn committed(&mut self, capacity: usize) {
        for (collection, key) in self.dirty.drain(..) {
            if let Some(slot) = self
                .collections
                .get_mut(collection)
                .and_then(|slots| slots.peek_mut(&key))
            {
                slot.stored = slot.doc.is_some();
                slot.dirty = false;
            }
        }
        self.batch += 1;
        let mut len: usize = self.collections.values().map(LruCache::len).sum();
        while len > capacity {
            let oldest = self
                .collections
                .values_mut()
                .filter_map(|slots| Some((slots.peek_lru()?.1.used, slots)))
                .min_by_key(|(used, _)| *used);
            let Some((_, slots)) = oldest else { break };
            slots.pop_lru();
            len -= 1;
        }
    }

    /// After a failed commit the set may hold uncommitted changes: forget it.
    pub(crate) fn clear(&mut self) {
        self.collections.clear();
        self.dirty.clear();
        self.appended.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed_batch(docs: &mut Docs<u32>, touched: &[(&'static str, &str)]) {
        for &(collection, key) in touched {
            if !docs.touch(collection, key) {
                docs.loaded(collection, key.to_owned(), Some(0), Vec::new());
            }
        }
        docs.committed(3);
    }

    #[test]
    fn beyond_its_capacity_the_set_keeps_the_most_recently_used_documents() {
        let mut docs = Docs::default();
        committed_batch(&mut docs, &[("case", "a"), ("agent", "x")]);
        committed_batch(&mut docs, &[("case", "b")]);
        committed_batch(&mut docs, &[("case", "a"), ("case", "c")]);

        assert!(
            !docs.touch("agent", "x"),
            "the oldest, from another collection, went"
        );
        for key in ["a", "b", "c"] {
            assert!(docs.touch("case", key), "{key} stays");
        }

        docs.put("case", "d", 4);
        *docs.get_mut("case", "d").expect("just put") += 1;
        docs.put("case", "d", 4);
        let written: Vec<_> = docs.changes().map(|c| (c.key, c.doc)).collect();
        assert_eq!(
            written,
            [("d", Some(&4))],
            "a document changed thrice is written once"
        );
        docs.committed(3);
        assert!(docs.touch("case", "d"), "a document just written stays");
        assert_eq!(docs.get("case", "d"), Some(&4));
        assert!(docs.changes().next().is_none(), "nothing is left to write");
        let kept = ["a", "b", "c"]
            .iter()
            .filter(|k| docs.touch("case", k))
            .count();
        assert_eq!(kept, 2, "one older document made room");
    }

    #[test]
    fn appended_rows_are_written_once_and_not_held() {
        let mut docs: Docs<u32> = Docs::default();
        docs.append("timeline", "a/1".to_owned(), &serde_json::json!({"n": 1}))
            .expect("serialisable");
        assert!(docs.changes().next().is_none(), "not a document of the set");
        assert!(!docs.touch("timeline", "a/1"), "not held");
        assert_eq!(
            docs.take_appended(),
            [("timeline", "a/1".to_owned(), r#"{"n":1}"#.to_owned())]
        );
        assert!(docs.take_appended().is_empty(), "taken once");
        docs.append("timeline", "a/2".to_owned(), &2)
            .expect("serialisable");
        docs.clear();
        assert!(
            docs.take_appended().is_empty(),
            "a failed commit drops them"
        );
    }
}
