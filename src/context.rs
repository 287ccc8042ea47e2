//! The encryption context (FORMAT.md, "Context"): non-secret `key = value` pairs a file
//! is bound to, so that a file swapped for another in storage is caught on decrypt, and
//! that key services (KMS) can authorize on them.

use std::collections::BTreeMap;

/// Non-secret pairs, sorted by key, each key at most once. Empty for most files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pairs: BTreeMap<String, String>,
}

impl Context {
    /// No pairs: the file is bound to nothing beyond its own header.
    pub const fn new() -> Self {
        Context {
            pairs: BTreeMap::new(),
        }
    }

    /// The empty context, for bindings that need a `'static` one.
    pub(crate) const EMPTY: &'static Context = &Context::new();

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The pairs in key order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}
