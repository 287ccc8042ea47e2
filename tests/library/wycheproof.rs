//! Project Wycheproof's C2SP chunked-encryption vectors for Cobblestone-256 (SHA-512,
//! AES-256-GCM), run through coffer's own payload layer: the streaming reader and the
//! parallel pipeline must accept exactly the valid ones, and release exactly the
//! plaintext each vector allows before its error (`PartialPlaintext`).

use std::io::Read;

use coffer::internals::stream::{ChunkCipher, DecryptReader, PayloadPrefix, PREFIX_LEN};
use coffer::{FileKey, PipelineOptions};
use serde_json::Value;
use sha2::{Digest, Sha512};

const SUITE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/wycheproof/c2sp_chunked_encryption_aes_256_gcm_test.json"
);

/// Which way a payload is read.
#[derive(Debug, Clone, Copy)]
enum Reader {
    Stream,
    Pipeline(usize),
}

/// The plaintext released, and whether the whole payload was accepted.
fn decrypt(key: &[u8], context: &[u8], payload: &[u8], reader: Reader) -> (Vec<u8>, bool) {
    let mut released = Vec::new();
    // A key of another size cannot even be expressed as a coffer file key.
    let Ok(key) = <[u8; 32]>::try_from(key) else {
        return (released, false);
    };
    let key = FileKey::from_bytes(key);
    let Some(prefix) = payload.get(..PREFIX_LEN) else {
        return (released, false);
    };
    let prefix = PayloadPrefix::from_bytes(prefix.try_into().expect("56 bytes"));
    let Ok(cipher) = ChunkCipher::for_decryption_in_context(&key, &prefix, context) else {
        return (released, false);
    };
    let chunks = &payload[PREFIX_LEN..];
    let ok = match reader {
        Reader::Stream => DecryptReader::new(chunks, cipher)
            .read_to_end(&mut released)
            .is_ok(),
        Reader::Pipeline(threads) => coffer::internals::pipeline::decrypt(
            &cipher,
            coffer::internals::pipeline::Input::Stream(chunks),
            &mut released,
            &PipelineOptions::with_threads(threads),
        )
        .is_ok(),
    };
    (released, ok)
}

#[test]
fn wycheproof_c2sp_cobblestone_256_vectors_pass_through_the_payload_layer() {
    let suite: Value = serde_json::from_str(&std::fs::read_to_string(SUITE).unwrap()).unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for group in suite["testGroups"].as_array().unwrap() {
        assert_eq!(group["sha"], "SHA-512");
        assert_eq!(group["aead"], "AEAD_AES_256_GCM");
        for t in group["tests"].as_array().unwrap() {
            let hex_field = |name: &str| hex::decode(t[name].as_str().unwrap()).unwrap();
            let (key, context) = (hex_field("key"), hex_field("ctx"));
            let mut payload = Vec::new();
            flate2::read::ZlibDecoder::new(&hex_field("ct")[..])
                .read_to_end(&mut payload)
                .unwrap();
            let valid = t["result"] == "valid";
            let allowed = t["msgSha512"].as_str();
            for reader in [Reader::Stream, Reader::Pipeline(1), Reader::Pipeline(2)] {
                let (released, ok) = decrypt(&key, &context, &payload, reader);
                let digest = hex::encode(Sha512::digest(&released));
                let name = format!("tcId {} ({}), {reader:?}", t["tcId"], t["comment"]);
                if ok != valid {
                    failures.push(format!("{name}: accepted = {ok}, expected {valid}"));
                }
                let releases_right = match allowed {
                    // The streaming reader releases every chunk that authenticated; the
                    // pipeline only whole batches, so it may release less.
                    Some(expected) if valid || matches!(reader, Reader::Stream) => {
                        digest == expected
                    }
                    Some(_) => released.is_empty() || digest == allowed.unwrap(),
                    None => released.is_empty(),
                };
                if !releases_right {
                    failures.push(format!(
                        "{name}: released {} bytes not allowed",
                        released.len()
                    ));
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, suite["numberOfTests"].as_u64().unwrap() as usize);
    assert!(failures.is_empty(), "{failures:#?}");
}
