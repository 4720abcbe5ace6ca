//! What a read model is: a fold of events into documents.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::docs::Docs;
use crate::envelope::Envelope;
use crate::error::ProjectionError;

/// A document a projection needs to read before applying an event.
pub type DocKey = (&'static str, String);

/// A read model. Its documents live in a table of its own
/// (`rm_<name>`) with a checkpoint; a new `VERSION` rebuilds it.
pub trait Projection: Send + Sync + 'static {
    type Doc: Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug + Send + Sync;

    const NAME: &'static str;
    /// Bump when the documents change shape or meaning: the service rebuilds
    /// the read model at start-up.
    const VERSION: u32;

    /// The documents `apply` will read for this event. Documents it only
    /// writes need not be named.
    fn reads(&self, event: &Envelope, keys: &mut Vec<DocKey>);

    fn apply(&self, event: &Envelope, docs: &mut Docs<Self::Doc>) -> Result<(), ProjectionError>;

    /// The order documents of a collection are listed in (e.g. a case's
    /// registration time); empty when the key alone orders them.
    fn sort_key(&self, _doc: &Self::Doc) -> String {
        String::new()
    }

    /// Search terms of a document: `(field, value)` pairs a list can filter
    /// on with an index.
    fn tags(&self, _doc: &Self::Doc, _tags: &mut Vec<(&'static str, String)>) {}
}
