//! The encryption context (FORMAT.md, "Context"): non-secret `key = value` pairs a file
//! is bound to, so that a file swapped for another in storage is caught on decrypt, and
//! that key services (KMS) can authorize on them.
//!
//! This module owns the rules for a pair and the one canonical encoding of the header's
//! context block; [`crate::format`] only places the block in the header.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, Result};

/// At most this many pairs in one context.
pub const MAX_PAIRS: usize = 64;
/// A key is 1 to this many bytes of UTF-8.
pub const MAX_KEY_LEN: usize = 256;
/// A value is 1 to this many bytes of UTF-8 (room for an S3 object key, 1024 bytes).
pub const MAX_VALUE_LEN: usize = 1024;
/// The whole encoded block, pair count included, is at most this many bytes. With it, a
/// context and 32 hybrid recipient slots still fit a header.
pub const MAX_BLOCK_LEN: usize = 2048;
/// Key prefixes kept for coffer's own use (and AWS's, whose KMS encryption context the
/// pairs also enter): no file's context may use them, compared without regard to ASCII
/// case.
pub const RESERVED_KEY_PREFIXES: [&str; 2] = ["coffer:", "aws:"];

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

    /// A context of these pairs, in any order.
    ///
    /// # Errors
    /// [`Error::InvalidContext`] when a pair breaks a rule (see [`Context::insert`]) or
    /// a key is given twice.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut context = Context::new();
        for (key, value) in pairs {
            context.insert(key, value)?;
        }
        Ok(context)
    }

    /// Adds one pair.
    ///
    /// A key is 1 to [`MAX_KEY_LEN`] bytes with no `=`, and does not begin with a
    /// reserved prefix ([`RESERVED_KEY_PREFIXES`]); a value is 1 to [`MAX_VALUE_LEN`]
    /// bytes; neither holds a control character. At most [`MAX_PAIRS`] pairs and
    /// [`MAX_BLOCK_LEN`] encoded bytes.
    ///
    /// # Errors
    /// [`Error::InvalidContext`] naming the rule broken, and when `key` is already
    /// present (a key has one value; nothing is replaced).
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Result<()> {
        let (key, value) = (key.into(), value.into());
        check_pair(&key, &value).map_err(Error::InvalidContext)?;
        if self.pairs.contains_key(&key) {
            return Err(Error::InvalidContext("a key is given twice"));
        }
        if self.pairs.len() == MAX_PAIRS {
            return Err(Error::InvalidContext("more than 64 pairs"));
        }
        if self.encoded_len() + pair_len(&key, &value) > MAX_BLOCK_LEN {
            return Err(Error::InvalidContext(
                "the pairs take more than 2048 bytes encoded",
            ));
        }
        self.pairs.insert(key, value);
        Ok(())
    }

    /// Splits `KEY=VALUE` at the first `=` (the command line's form; keys hold no `=`,
    /// values may) and checks the pair.
    ///
    /// # Errors
    /// [`Error::InvalidContext`] when there is no `=` or the pair breaks a rule.
    pub fn parse_pair(text: &str) -> Result<(String, String)> {
        let (key, value) = text
            .split_once('=')
            .ok_or(Error::InvalidContext("expected KEY=VALUE"))?;
        check_pair(key, value).map_err(Error::InvalidContext)?;
        Ok((key.to_owned(), value.to_owned()))
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// How many pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// The value of `key`, if the context has it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.get(key).map(String::as_str)
    }

    /// The pairs in key order (bytewise, which is the order of the encoding).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Checks that `self`, a file's context, is exactly `expected`: the same pairs, no
    /// more and no fewer.
    ///
    /// # Errors
    /// [`Error::ContextMismatch`] naming the keys that differ.
    pub fn must_equal(&self, expected: &Context) -> Result<()> {
        if self == expected {
            return Ok(());
        }
        let absent_from = |from: &Context, other: &Context| -> Vec<String> {
            let keys = from.pairs.keys();
            keys.filter(|key| !other.pairs.contains_key(*key))
                .cloned()
                .collect()
        };
        let different = self
            .pairs
            .iter()
            .filter(|(key, value)| expected.pairs.get(*key).is_some_and(|want| want != *value))
            .map(|(key, _)| key.clone())
            .collect();
        Err(Error::ContextMismatch(Box::new(ContextMismatch {
            missing: absent_from(expected, self),
            unexpected: absent_from(self, expected),
            different,
        })))
    }

    /// Bytes of the encoded block: `u16` pair count, then per pair `u16` key length, key,
    /// `u16` value length, value. Zero for the empty context, which has no block.
    pub fn encoded_len(&self) -> usize {
        if self.is_empty() {
            return 0;
        }
        2 + self.pairs().map(|(k, v)| pair_len(k, v)).sum::<usize>()
    }

    /// The header's context block (FORMAT.md, "Context"), empty for the empty context.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        if self.is_empty() {
            return out;
        }
        out.extend_from_slice(&(self.len() as u16).to_be_bytes());
        for (key, value) in self.pairs() {
            for field in [key, value] {
                out.extend_from_slice(&(field.len() as u16).to_be_bytes());
                out.extend_from_slice(field.as_bytes());
            }
        }
        out
    }

    /// Decodes a context block at the start of `bytes`, strictly: the one canonical
    /// encoding of a non-empty context. Returns the context and the bytes it took.
    ///
    /// # Errors
    /// The reason, for [`Error::InvalidHeader`].
    pub fn decode_prefix(bytes: &[u8]) -> Result<(Context, usize), &'static str> {
        let mut reader = BlockReader { bytes, at: 0 };
        let count = usize::from(reader.u16()?);
        if count == 0 {
            return Err("the context flag is set but the context is empty");
        }
        if count > MAX_PAIRS {
            return Err("the context has more than 64 pairs");
        }
        let mut pairs = BTreeMap::new();
        let mut previous: Option<&str> = None;
        for _ in 0..count {
            let key = reader.text()?;
            let value = reader.text()?;
            check_pair(key, value)?;
            if previous.is_some_and(|before| before.as_bytes() >= key.as_bytes()) {
                return Err("context keys are not in strictly ascending order");
            }
            previous = Some(key);
            pairs.insert(key.to_owned(), value.to_owned());
        }
        if reader.at > MAX_BLOCK_LEN {
            return Err("the context block is longer than 2048 bytes");
        }
        Ok((Context { pairs }, reader.at))
    }
}

/// How a file's context differs from the one asked for: key names only (the values are
/// not secret, but `coffer inspect` shows them; an error line stays short).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextMismatch {
    /// Keys asked for that the file does not have.
    pub missing: Vec<String>,
    /// Keys the file has that were not asked for.
    pub unexpected: Vec<String>,
    /// Keys both have, with other values.
    pub different: Vec<String>,
}

impl fmt::Display for ContextMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (what, keys) in [
            ("another value for", &self.different),
            ("missing", &self.missing),
            ("not asked for", &self.unexpected),
        ] {
            if !keys.is_empty() {
                parts.push(format!("{what} {}", keys.join(", ")));
            }
        }
        if parts.is_empty() {
            // Unreachable for contexts that differ; kept total for Display.
            parts.push("differs".to_owned());
        }
        write!(
            f,
            "the file's context does not match the one given: {}",
            parts.join("; ")
        )
    }
}

fn pair_len(key: &str, value: &str) -> usize {
    2 + key.len() + 2 + value.len()
}

/// The rules for one pair, shared by construction and decoding.
fn check_pair(key: &str, value: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("a context key is empty");
    }
    if key.len() > MAX_KEY_LEN {
        return Err("a context key is longer than 256 bytes");
    }
    if key.contains('=') {
        return Err("a context key contains '='");
    }
    let reserved = RESERVED_KEY_PREFIXES.iter().any(|prefix| {
        key.as_bytes()
            .get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix.as_bytes()))
    });
    if reserved {
        return Err("context keys beginning with \"coffer:\" or \"aws:\" are reserved");
    }
    if value.is_empty() {
        return Err("a context value is empty");
    }
    if value.len() > MAX_VALUE_LEN {
        return Err("a context value is longer than 1024 bytes");
    }
    if key.chars().chain(value.chars()).any(char::is_control) {
        return Err("a context key or value contains a control character");
    }
    Ok(())
}

/// A cursor over a context block; every read is bounds-checked.
struct BlockReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> BlockReader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], &'static str> {
        let taken = self
            .bytes
            .get(self.at..self.at + len)
            .ok_or("the context block runs past the header")?;
        self.at += len;
        Ok(taken)
    }

    fn u16(&mut self) -> Result<u16, &'static str> {
        let bytes = self.take(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    /// A length-prefixed UTF-8 string.
    fn text(&mut self) -> Result<&'a str, &'static str> {
        let len = usize::from(self.u16()?);
        std::str::from_utf8(self.take(len)?).map_err(|_| "a context key or value is not UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_may_be_exactly_256_bytes_long() {
        let mut context = Context::default();
        context.insert("k".repeat(MAX_KEY_LEN), "v").unwrap();
        assert!(context.insert("k".repeat(MAX_KEY_LEN + 1), "v").is_err());
    }

    fn context(pairs: &[(&str, &str)]) -> Context {
        Context::from_pairs(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn encoding_is_sorted_and_round_trips() {
        let c = context(&[("b", "2"), ("a", "1=x")]);
        assert_eq!(
            c.encode(),
            b"\x00\x02\x00\x01a\x00\x031=x\x00\x01b\x00\x012".to_vec()
        );
        assert_eq!(c.encoded_len(), c.encode().len());
        let mut block = c.encode();
        block.extend_from_slice(b"slots follow");
        assert_eq!(Context::decode_prefix(&block), Ok((c, 16)));
        assert!(Context::new().encode().is_empty());
    }

    #[test]
    fn decode_refuses_every_non_canonical_block() {
        let refused = |bytes: &[u8]| Context::decode_prefix(bytes).unwrap_err();
        assert!(refused(b"\x00\x00").contains("empty"));
        assert!(refused(b"\x00\x02\x00\x01b\x00\x011\x00\x01a\x00\x012").contains("order"));
        assert!(refused(b"\x00\x02\x00\x01a\x00\x011\x00\x01a\x00\x012").contains("order"));
        assert!(refused(b"\x00\x01\x00\x01a\x00\x05ab").contains("runs past"));
        assert!(refused(b"\x00").contains("runs past"));
        assert!(refused(b"\x00\x01\x00\x01\xff\x00\x011").contains("UTF-8"));
        assert!(refused(b"\x00\x01\x00\x01a\x00\x00").contains("empty"));
        assert!(refused(b"\x00\x41").contains("64"));
    }

    #[test]
    fn pairs_follow_the_rules() {
        let refused = |k: &str, v: &str| Context::from_pairs([(k, v)]).unwrap_err().to_string();
        assert!(refused("", "v").contains("empty"));
        assert!(refused("k", "").contains("empty"));
        assert!(refused("a=b", "v").contains("'='"));
        assert!(refused("Coffer:x", "v").contains("reserved"));
        assert!(refused("AWS:x", "v").contains("reserved"));
        assert!(refused("k", "line\nbreak").contains("control"));
        assert!(refused(&"k".repeat(257), "v").contains("256"));
        assert!(refused("k", &"v".repeat(1025)).contains("1024"));
        assert!(Context::from_pairs([("k", "1"), ("k", "2")]).is_err());
        assert_eq!(
            Context::parse_pair("path=a=b").unwrap(),
            ("path".into(), "a=b".into())
        );
        assert!(Context::parse_pair("novalue").is_err());
    }

    #[test]
    fn limits_hold_at_the_edges() {
        let many = (0..MAX_PAIRS).map(|i| (format!("k{i:02}"), "v".to_owned()));
        let full = Context::from_pairs(many).unwrap();
        assert!(full
            .clone()
            .insert("z", "v")
            .unwrap_err()
            .to_string()
            .contains("64"));
        let (decoded, used) = Context::decode_prefix(&full.encode()).unwrap();
        assert_eq!((decoded, used), (full.clone(), full.encoded_len()));
        let big = (0..2).map(|i| (format!("k{i}"), "v".repeat(MAX_VALUE_LEN)));
        assert!(Context::from_pairs(big)
            .unwrap_err()
            .to_string()
            .contains("2048"));
    }

    #[test]
    fn mismatch_names_the_keys() {
        let file = context(&[("host", "a"), ("path", "x")]);
        file.must_equal(&file.clone()).unwrap();
        let asked = context(&[("host", "b"), ("env", "prod")]);
        let message = file.must_equal(&asked).unwrap_err().to_string();
        assert!(message.contains("another value for host"), "{message}");
        assert!(message.contains("missing env"), "{message}");
        assert!(message.contains("not asked for path"), "{message}");
        assert!(!message.contains("prod"), "{message}");
    }
}
