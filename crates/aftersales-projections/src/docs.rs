//! The working set of a projection: the read-model documents a batch of
//! events reads and writes, held in memory until the batch commits.
//!
//! A projection only sees this set; the runner loads the documents an event
//! names in bulk before applying it, and writes back the changed ones with
//! the checkpoint in one transaction. The set is bounded: after a commit the
//! clean documents are dropped once it holds more than its capacity, so a
//! rebuild needs the same memory whatever the log's length.

use std::collections::HashMap;

/// Documents of a projection, by collection and key.
#[derive(Debug)]
pub struct Docs<D> {
    collections: HashMap<&'static str, HashMap<String, Slot<D>>>,
    len: usize,
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
}

/// A search term: `(field, value)`.
pub type Tag = (&'static str, String);

impl<D> Default for Docs<D> {
    fn default() -> Self {
        Self {
            collections: HashMap::new(),
            len: 0,
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
        self.collections.get(collection)?.get(key)?.doc.as_ref()
    }

    /// The document to change in place, if it exists.
    pub fn get_mut(&mut self, collection: &str, key: &str) -> Option<&mut D> {
        let slot = self.collections.get_mut(collection)?.get_mut(key)?;
        let doc = slot.doc.as_mut()?;
        slot.dirty = true;
        Some(doc)
    }

    /// Creates or replaces a document.
    pub fn put(&mut self, collection: &'static str, key: impl Into<String>, doc: D) {
        self.slot(collection, key.into()).doc = Some(doc);
    }

    pub fn delete(&mut self, collection: &'static str, key: impl Into<String>) {
        self.slot(collection, key.into()).doc = None;
    }

    fn slot(&mut self, collection: &'static str, key: String) -> &mut Slot<D> {
        let slots = self.collections.entry(collection).or_default();
        let len = &mut self.len;
        let slot = slots.entry(key).or_insert_with(|| {
            *len += 1;
            Slot {
                doc: None,
                dirty: false,
                stored: true,
                tags: None,
            }
        });
        slot.dirty = true;
        slot
    }

    pub(crate) fn is_loaded(&self, collection: &str, key: &str) -> bool {
        self.collections
            .get(collection)
            .is_some_and(|slots| slots.contains_key(key))
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
        let slots = self.collections.entry(collection).or_default();
        if slots
            .insert(
                key,
                Slot {
                    doc,
                    dirty: false,
                    stored,
                    tags: Some(tags),
                },
            )
            .is_none()
        {
            self.len += 1;
        }
    }

    pub(crate) fn changes(&self) -> impl Iterator<Item = Change<'_, D>> {
        self.collections.iter().flat_map(|(collection, slots)| {
            slots
                .iter()
                .filter(|(_, slot)| slot.dirty)
                .map(|(key, slot)| Change {
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
            .and_then(|slots| slots.get_mut(key))
        {
            slot.tags = Some(tags);
        }
    }

    /// After a commit: everything written is now stored; beyond `capacity`
    /// the set starts empty again.
    pub(crate) fn committed(&mut self, capacity: usize) {
        if self.len > capacity {
            self.clear();
            return;
        }
        for slot in self
            .collections
            .values_mut()
            .flat_map(|slots| slots.values_mut())
        {
            if slot.dirty {
                slot.stored = slot.doc.is_some();
                slot.dirty = false;
            }
        }
    }

    /// After a failed commit the set may hold uncommitted changes: forget it.
    pub(crate) fn clear(&mut self) {
        self.collections.clear();
        self.len = 0;
    }
}
