//! The header parser: never panics, consumes exactly the header, and accepts a header
//! only in its one canonical encoding (checked against a framing checker written from
//! FORMAT.md); what it accepts re-encodes (`as_bytes`) to the very bytes it read.
#![no_main]

use coffer::{Decryptor, Header};
use coffer_fuzz::{header_framing_is_canonical, slot_types};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    // The whole strict parse: framing (format.rs) and every known slot body (slots/).
    match Decryptor::new(&mut rest).map(|decryptor| decryptor.header().clone()) {
        Ok(header) => {
            let bytes = header.as_bytes();
            assert_eq!(bytes.len(), header.len());
            assert_eq!(
                bytes,
                &data[..header.len()],
                "as_bytes is not what was read"
            );
            assert_eq!(
                rest.len(),
                data.len() - header.len(),
                "read past the header"
            );
            assert!(
                header_framing_is_canonical(bytes),
                "accepted a non-canonical header"
            );
            let again = Header::read_from(&mut &bytes[..]).expect("its own bytes re-parse");
            assert_eq!(again, header);
        }
        Err(_) => {
            // The spec accepts every canonically framed header whose slots are all of
            // types this build knows (passphrase, key file, X25519, hybrid); unknown slot
            // types may carry rules of their own later.
            let declared = data
                .get(10..12)
                .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
            if let Some(raw) = data.get(..declared) {
                if header_framing_is_canonical(raw) {
                    assert!(
                        slot_types(raw)
                            .iter()
                            .any(|&t| ![0x01, 0x02, 0x10, 0x11].contains(&t)),
                        "refused a canonical header of known slot types"
                    );
                }
            }
        }
    }
});
