//! The streaming decryptor over a valid file (fuzz-chosen length) with fuzz-chosen
//! damage, short reads on the input and arbitrary read sizes on the output. It must
//! release exactly the plaintext of an intact file, and from a damaged one only a prefix
//! of the plaintext made of chunks wholly before the damage, then fail.
#![no_main]

use arbitrary::Arbitrary;
use coffer_fuzz::{
    decrypt_streaming, encrypt, plaintext, releasable, Damage, CHUNK_SIZE, FILE_KEY,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Case {
    plaintext_len: u32,
    seed: u8,
    damage: Vec<Damage>,
    input_splits: Vec<u16>,
    read_sizes: Vec<u16>,
}

fuzz_target!(|case: Case| {
    let len = case.plaintext_len as usize % (4 * CHUNK_SIZE + 100);
    let plain = plaintext(len, case.seed);
    let (original, chunks_offset) = encrypt(&plain);
    let mut file = original.clone();
    for damage in case.damage.iter().take(4) {
        damage.apply(&mut file);
    }
    let (released, outcome) =
        decrypt_streaming(&file, FILE_KEY, &case.input_splits, &case.read_sizes);
    if file == original {
        outcome.expect("an intact file decrypts");
        assert!(
            released == plain,
            "an intact file decrypts to its plaintext"
        );
    } else {
        assert!(outcome.is_err(), "a damaged file was accepted");
        assert!(
            plain.starts_with(&released),
            "released bytes that are not the plaintext"
        );
        let most = releasable(&original, &file, chunks_offset);
        assert!(
            released.len() <= most,
            "released {} bytes, but only {most} precede the damage",
            released.len()
        );
    }
});
