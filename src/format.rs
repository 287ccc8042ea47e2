//! The header's syntax (FORMAT.md, "Header"): strict parsing and encoding of the fixed
//! fields, the context block, the slot framing and the MAC field.
//!
//! No cryptography happens here. The MAC is computed and checked by the caller
//! ([`crate::protocol`]), and each slot body is decoded by the module of its slot type
//! ([`crate::slots`]). Parsing happens before any key is derived: one valid encoding per
//! header, every reserved field zero, every length canonical and bounded.

use std::io::Read;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::keys::{HeaderNonce, HEADER_NONCE_LEN, MAC_LEN};
use crate::stream::read_full;

/// The first eight bytes of every coffer file: a high byte (catches 7-bit channels),
/// the name, and a line feed (catches newline translation).
pub const MAGIC: [u8; 8] = *b"\x89coffer\n";
/// The format version this library reads and writes.
pub const VERSION: u8 = 1;
/// magic (8) || version (1) || flags (1) || header length (2) || slot count (1) ||
/// reserved (3) || header nonce (32).
pub const FIXED_LEN: usize = 48;
/// Flags bit: a context block follows the fixed fields (FORMAT.md, "Context"). Every
/// other bit is reserved and must be zero.
pub const FLAG_CONTEXT: u8 = 0x02;
/// slot type (1) || reserved (1) || body length (2).
pub const SLOT_PREFIX_LEN: usize = 4;
/// At most this many slots: a team of 32 hybrid recipients and room to spare.
pub const MAX_SLOTS: usize = 64;
/// No header is longer than this (bytes, MAC included): the largest the 16-bit length
/// field can say, enough for 54 hybrid slots (1204 bytes each).
pub const MAX_HEADER_LEN: usize = 65535;
/// The shortest header: fixed fields, one empty slot, the MAC.
pub const MIN_HEADER_LEN: usize = FIXED_LEN + SLOT_PREFIX_LEN + MAC_LEN;

/// One slot as framed in the header: its type byte and its body, not yet interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSlot {
    /// The slot type byte (never 0).
    pub slot_type: u8,
    /// The type-specific body.
    pub body: Vec<u8>,
}

impl RawSlot {
    /// Bytes this slot takes in the header.
    pub fn encoded_len(&self) -> usize {
        SLOT_PREFIX_LEN + self.body.len()
    }
}

/// A parsed (or newly encoded) header: everything before the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    header_nonce: HeaderNonce,
    context: Context,
    slots: Vec<RawSlot>,
    /// The header bytes exactly as read or written, MAC included.
    raw: Vec<u8>,
}

impl Header {
    /// Encodes a header around `slots`, then appends the MAC that `mac` computes over
    /// every byte before it.
    ///
    /// # Errors
    /// [`Error::HeaderTooLarge`] when there are no slots, more than [`MAX_SLOTS`], or
    /// they need more than [`MAX_HEADER_LEN`] bytes.
    pub fn encode(
        header_nonce: HeaderNonce,
        slots: Vec<RawSlot>,
        mac: impl FnOnce(&[u8]) -> [u8; MAC_LEN],
    ) -> Result<Header> {
        Self::encode_with_context(header_nonce, Context::new(), slots, mac)
    }

    /// As [`Header::encode`], with a context block when `context` is not empty (the
    /// flag and the block; an empty context writes the same bytes as [`Header::encode`]).
    ///
    /// # Errors
    /// As [`Header::encode`]; the context block counts toward the header length.
    pub fn encode_with_context(
        header_nonce: HeaderNonce,
        context: Context,
        slots: Vec<RawSlot>,
        mac: impl FnOnce(&[u8]) -> [u8; MAC_LEN],
    ) -> Result<Header> {
        let block = context.encode();
        let total = FIXED_LEN
            + block.len()
            + slots.iter().map(RawSlot::encoded_len).sum::<usize>()
            + MAC_LEN;
        if slots.is_empty() || slots.len() > MAX_SLOTS || total > MAX_HEADER_LEN {
            return Err(Error::HeaderTooLarge {
                slots: slots.len(),
                bytes: total,
            });
        }
        let mut raw = Vec::with_capacity(total);
        raw.extend_from_slice(&MAGIC);
        raw.push(VERSION);
        raw.push(if context.is_empty() { 0 } else { FLAG_CONTEXT });
        raw.extend_from_slice(&(total as u16).to_be_bytes());
        raw.push(slots.len() as u8);
        raw.extend_from_slice(&[0, 0, 0]);
        raw.extend_from_slice(&header_nonce);
        raw.extend_from_slice(&block);
        for slot in &slots {
            assert!(slot.slot_type != 0, "slot type 0 is reserved");
            raw.push(slot.slot_type);
            raw.push(0);
            raw.extend_from_slice(&(slot.body.len() as u16).to_be_bytes());
            raw.extend_from_slice(&slot.body);
        }
        let tag = mac(&raw);
        raw.extend_from_slice(&tag);
        debug_assert_eq!(raw.len(), total);
        Ok(Header {
            header_nonce,
            context,
            slots,
            raw,
        })
    }

    /// Reads and strictly parses a header (FORMAT.md, "Decryption procedure", steps 1
    /// to 10, framing only). Needs no key.
    ///
    /// # Errors
    /// [`Error::NotCoffer`], [`Error::UnsupportedVersion`], [`Error::InvalidHeader`],
    /// [`Error::Truncated`], [`Error::Io`].
    pub fn read_from<R: Read + ?Sized>(reader: &mut R) -> Result<Header> {
        let mut raw = vec![0; FIXED_LEN];
        let got = read_full(reader, &mut raw[..MAGIC.len()])?;
        if raw[..got] != MAGIC[..got] {
            return Err(Error::NotCoffer);
        }
        if got < MAGIC.len() {
            return Err(if got == 0 {
                Error::NotCoffer
            } else {
                Error::Truncated { at_chunk: None }
            });
        }
        if read_full(reader, &mut raw[MAGIC.len()..MAGIC.len() + 1])? < 1 {
            return Err(Error::Truncated { at_chunk: None });
        }
        if raw[8] != VERSION {
            return Err(Error::UnsupportedVersion(raw[8]));
        }
        if read_full(reader, &mut raw[9..])? < FIXED_LEN - 9 {
            return Err(Error::Truncated { at_chunk: None });
        }
        if raw[9] & !FLAG_CONTEXT != 0 {
            return Err(Error::InvalidHeader("reserved flags are set"));
        }
        let total = usize::from(u16::from_be_bytes([raw[10], raw[11]]));
        if !(MIN_HEADER_LEN..=MAX_HEADER_LEN).contains(&total) {
            return Err(Error::InvalidHeader("header length out of bounds"));
        }
        let slot_count = usize::from(raw[12]);
        if slot_count == 0 || slot_count > MAX_SLOTS {
            return Err(Error::InvalidHeader("slot count must be 1 to 64"));
        }
        if raw[13..16] != [0, 0, 0] {
            return Err(Error::InvalidHeader("reserved bytes are not zero"));
        }
        raw.resize(total, 0);
        if read_full(reader, &mut raw[FIXED_LEN..])? < total - FIXED_LEN {
            return Err(Error::Truncated { at_chunk: None });
        }
        let mut header_nonce = [0; HEADER_NONCE_LEN];
        header_nonce.copy_from_slice(&raw[16..FIXED_LEN]);
        let body = &raw[FIXED_LEN..total - MAC_LEN];
        let (context, context_len) = if raw[9] & FLAG_CONTEXT != 0 {
            Context::decode_prefix(body).map_err(Error::InvalidHeader)?
        } else {
            (Context::new(), 0)
        };
        let slots = parse_slots(&body[context_len..], slot_count)?;
        Ok(Header {
            header_nonce,
            context,
            slots,
            raw,
        })
    }

    /// The per-file random nonce.
    pub fn header_nonce(&self) -> &HeaderNonce {
        &self.header_nonce
    }

    /// The context the header carries (empty when the flag is clear). Not yet
    /// authenticated when parsed: the MAC covers it once a file key checks the header.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The context block exactly as in the header (empty when there is none): what the
    /// payload derivation binds (FORMAT.md, "Context").
    pub fn context_block(&self) -> &[u8] {
        &self.raw[FIXED_LEN..FIXED_LEN + self.context.encoded_len()]
    }

    /// The slots, in file order, as framed.
    pub fn slots(&self) -> &[RawSlot] {
        &self.slots
    }

    /// The header bytes, MAC included: what is written before the payload.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The bytes the MAC covers: all of the header before the MAC.
    pub fn mac_input(&self) -> &[u8] {
        &self.raw[..self.raw.len() - MAC_LEN]
    }

    /// The MAC as stored.
    pub fn mac(&self) -> &[u8; MAC_LEN] {
        self.raw[self.raw.len() - MAC_LEN..]
            .try_into()
            .expect("MAC_LEN bytes")
    }

    /// Header length in bytes; the payload starts at this offset.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Never true: a header has at least one slot. Present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

fn parse_slots(mut bytes: &[u8], count: usize) -> Result<Vec<RawSlot>> {
    let mut slots = Vec::with_capacity(count);
    for _ in 0..count {
        if bytes.len() < SLOT_PREFIX_LEN {
            return Err(Error::InvalidHeader("slots do not fill the header length"));
        }
        let slot_type = bytes[0];
        if bytes[1] != 0 {
            return Err(Error::InvalidHeader("reserved slot byte is not zero"));
        }
        let body_len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        let body = bytes
            .get(SLOT_PREFIX_LEN..SLOT_PREFIX_LEN + body_len)
            .ok_or(Error::InvalidHeader(
                "slot body runs past the header length",
            ))?;
        if slot_type == 0 {
            return Err(Error::InvalidHeader("slot type 0 is reserved"));
        }
        slots.push(RawSlot {
            slot_type,
            body: body.to_vec(),
        });
        bytes = &bytes[SLOT_PREFIX_LEN + body_len..];
    }
    if !bytes.is_empty() {
        return Err(Error::InvalidHeader(
            "header length does not match the slots it holds",
        ));
    }
    Ok(slots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_magic_alone_is_a_truncated_file() {
        let raw = sample().as_bytes()[..MAGIC.len()].to_vec();
        let err = Header::read_from(&mut &raw[..]).unwrap_err();
        assert!(
            matches!(err, Error::Truncated { at_chunk: None }),
            "{err:?}"
        );
        assert!(!sample().is_empty());
        // Cut inside the fixed part, after the version byte.
        for cut in 10..FIXED_LEN {
            let raw = sample().as_bytes()[..cut].to_vec();
            let err = Header::read_from(&mut &raw[..]).unwrap_err();
            assert!(
                matches!(err, Error::Truncated { at_chunk: None }),
                "{cut}: {err:?}"
            );
        }
    }

    #[test]
    fn a_slot_count_of_zero_or_over_64_is_refused_as_such() {
        for count in [0u8, 65, 255] {
            let mut raw = sample().as_bytes().to_vec();
            raw[12] = count;
            let err = Header::read_from(&mut &raw[..]).unwrap_err();
            assert!(
                matches!(err, Error::InvalidHeader("slot count must be 1 to 64")),
                "{count} slots: {err:?}"
            );
        }
    }

    fn sample() -> Header {
        let slots = vec![
            RawSlot {
                slot_type: 1,
                body: vec![7; 108],
            },
            RawSlot {
                slot_type: 0x42,
                body: vec![],
            },
        ];
        Header::encode([2; 32], slots, |_| [9; MAC_LEN]).unwrap()
    }

    #[test]
    fn encoding_round_trips_byte_for_byte() {
        let header = sample();
        assert_eq!(header.len(), FIXED_LEN + 4 + 108 + 4 + MAC_LEN);
        let parsed = Header::read_from(&mut header.as_bytes()).unwrap();
        assert_eq!(parsed, header);
        assert_eq!(parsed.mac(), &[9; MAC_LEN]);
        assert_eq!(parsed.mac_input().len(), header.len() - MAC_LEN);
    }

    #[test]
    fn encode_refuses_what_no_reader_accepts() {
        let slot = |len| RawSlot {
            slot_type: 1,
            body: vec![0; len],
        };
        let mac = |_: &[u8]| [0; MAC_LEN];
        assert!(Header::encode([0; 32], vec![], mac).is_err());
        assert!(Header::encode([0; 32], vec![slot(0); MAX_SLOTS + 1], mac).is_err());
        assert!(Header::encode([0; 32], vec![slot(MAX_HEADER_LEN)], mac).is_err());
        let fits = MAX_HEADER_LEN - MIN_HEADER_LEN;
        assert_eq!(
            Header::encode([0; 32], vec![slot(fits)], mac)
                .unwrap()
                .len(),
            MAX_HEADER_LEN
        );
    }

    fn with_context() -> Header {
        let context = Context::from_pairs([("host", "db1")]).unwrap();
        let slot = RawSlot {
            slot_type: 2,
            body: vec![7; 80],
        };
        Header::encode_with_context([2; 32], context, vec![slot], |_| [9; MAC_LEN]).unwrap()
    }

    #[test]
    fn a_context_block_sits_before_the_slots_under_its_flag() {
        let header = with_context();
        let bytes = header.as_bytes();
        assert_eq!(bytes[9], FLAG_CONTEXT);
        assert_eq!(header.context_block(), b"\x00\x01\x00\x04host\x00\x03db1");
        assert_eq!(&bytes[FIXED_LEN..FIXED_LEN + 13], header.context_block());
        assert_eq!(bytes[FIXED_LEN + 13], 2, "the slot follows the block");
        assert_eq!(header.len(), FIXED_LEN + 13 + 84 + MAC_LEN);
        let parsed = Header::read_from(&mut &bytes[..]).unwrap();
        assert_eq!(parsed, header);
        assert_eq!(parsed.context().get("host"), Some("db1"));
        // No context: no flag, no block, the bytes of `encode`.
        let plain = sample();
        assert_eq!(plain.as_bytes()[9], 0);
        assert!(plain.context().is_empty() && plain.context_block().is_empty());
    }

    #[test]
    fn only_the_context_flag_is_defined() {
        for bit in (0..8).map(|i| 1u8 << i).filter(|&b| b != FLAG_CONTEXT) {
            for header in [sample(), with_context()] {
                let mut bytes = header.as_bytes().to_vec();
                bytes[9] |= bit;
                let err = Header::read_from(&mut &bytes[..]).unwrap_err();
                assert!(
                    err.to_string().contains("reserved flags"),
                    "bit {bit:#04x}: {err}"
                );
            }
        }
        // The flag toggled either way leaves a header that does not parse.
        for header in [sample(), with_context()] {
            let mut bytes = header.as_bytes().to_vec();
            bytes[9] ^= FLAG_CONTEXT;
            assert!(Header::read_from(&mut &bytes[..]).is_err());
        }
    }

    #[test]
    fn the_context_counts_toward_the_header_length() {
        let big = Context::from_pairs((0..2).map(|i| (format!("k{i}"), "v".repeat(1000)))).unwrap();
        let slot = |len| RawSlot {
            slot_type: 1,
            body: vec![0; len],
        };
        let room = MAX_HEADER_LEN - FIXED_LEN - big.encoded_len() - SLOT_PREFIX_LEN - MAC_LEN;
        let mac = |_: &[u8]| [0; MAC_LEN];
        let fits = Header::encode_with_context([0; 32], big.clone(), vec![slot(room)], mac);
        assert_eq!(fits.unwrap().len(), MAX_HEADER_LEN);
        let over = Header::encode_with_context([0; 32], big, vec![slot(room + 1)], mac);
        assert!(matches!(over, Err(Error::HeaderTooLarge { .. })));
    }

    #[test]
    fn every_framing_byte_is_checked() {
        let header = sample();
        let framing = [9, 10, 11, 12, 13, 14, 15, 48, 49, 50, 51, 161, 162, 163];
        for i in framing {
            let mut bytes = header.as_bytes().to_vec();
            bytes[i] ^= 0x01;
            assert!(
                Header::read_from(&mut &bytes[..]).is_err(),
                "flip at byte {i} parsed"
            );
        }
    }
}
