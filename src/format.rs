//! The header's syntax (FORMAT.md, "Header"): strict parsing and encoding of the fixed
//! fields, the slot framing and the MAC field.
//!
//! No cryptography happens here. The MAC is computed and checked by the caller
//! ([`crate::protocol`]), and each slot body is decoded by the module of its slot type
//! ([`crate::slots`]). Parsing happens before any key is derived: one valid encoding per
//! header, every reserved field zero, every length canonical and bounded.

use std::io::Read;

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
        let total = FIXED_LEN + slots.iter().map(RawSlot::encoded_len).sum::<usize>() + MAC_LEN;
        if slots.is_empty() || slots.len() > MAX_SLOTS || total > MAX_HEADER_LEN {
            return Err(Error::HeaderTooLarge {
                slots: slots.len(),
                bytes: total,
            });
        }
        let mut raw = Vec::with_capacity(total);
        raw.extend_from_slice(&MAGIC);
        raw.push(VERSION);
        raw.push(0); // flags
        raw.extend_from_slice(&(total as u16).to_be_bytes());
        raw.push(slots.len() as u8);
        raw.extend_from_slice(&[0, 0, 0]);
        raw.extend_from_slice(&header_nonce);
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
        if raw[9] != 0 {
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
        let slots = parse_slots(&raw[FIXED_LEN..total - MAC_LEN], slot_count)?;
        Ok(Header {
            header_nonce,
            slots,
            raw,
        })
    }

    /// The per-file random nonce.
    pub fn header_nonce(&self) -> &HeaderNonce {
        &self.header_nonce
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
