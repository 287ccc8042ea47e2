//! The AES-256-GCM implementations that seal and open payload chunks.
//!
//! Two crates implement the same AEAD: aws-lc-rs (AWS-LC's stitched AES-NI/VAES + GHASH
//! assembly, about three times aes-gcm's speed per core; needs a C compiler, on by
//! default through the `aws-lc` feature) and RustCrypto's aes-gcm (pure Rust; always
//! built, since it also wraps keys in slots). Both produce the same bytes; the
//! differential test at the end of this file holds them to it.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};

/// An AES-256-GCM key.
pub(super) const KEY_LEN: usize = 32;
/// An AES-GCM nonce.
pub(super) const NONCE_LEN: usize = 12;
/// An AES-GCM tag.
pub(super) const TAG_LEN: usize = 16;

/// Which implementation seals and opens payload chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AeadBackend {
    /// aws-lc-rs (AWS-LC), the default where the `aws-lc` feature is built.
    #[cfg(feature = "aws-lc")]
    AwsLc,
    /// RustCrypto aes-gcm, pure Rust.
    RustCrypto,
}

impl AeadBackend {
    /// The backend this build uses for the payload.
    #[cfg(feature = "aws-lc")]
    pub const DEFAULT: AeadBackend = AeadBackend::AwsLc;
    /// The backend this build uses for the payload.
    #[cfg(not(feature = "aws-lc"))]
    pub const DEFAULT: AeadBackend = AeadBackend::RustCrypto;

    /// Every backend in this build, the default first (benchmarks compare them).
    pub const ALL: &'static [AeadBackend] = &[
        #[cfg(feature = "aws-lc")]
        AeadBackend::AwsLc,
        AeadBackend::RustCrypto,
    ];

    /// The implementation, as `coffer --version` and bug reports show it.
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "aws-lc")]
            AeadBackend::AwsLc => "AES-256-GCM by aws-lc-rs (AWS-LC)",
            AeadBackend::RustCrypto => "AES-256-GCM by aes-gcm (RustCrypto, pure Rust)",
        }
    }
}

/// The tag did not authenticate the ciphertext.
#[derive(Debug)]
pub(super) struct Rejected;

/// A chunk key scheduled for one backend. Both key types wipe their key schedule when
/// dropped (aes-gcm through its `zeroize` feature; AWS-LC cleanses every allocation it
/// frees, and the context is one).
pub(super) enum ChunkAead {
    #[cfg(feature = "aws-lc")]
    AwsLc(aws_lc_rs::aead::LessSafeKey),
    RustCrypto(Box<Aes256Gcm>),
}

impl ChunkAead {
    pub(super) fn new(backend: AeadBackend, key: &[u8; KEY_LEN]) -> ChunkAead {
        match backend {
            #[cfg(feature = "aws-lc")]
            AeadBackend::AwsLc => {
                use aws_lc_rs::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
                let key = UnboundKey::new(&AES_256_GCM, key).expect("32-byte key");
                ChunkAead::AwsLc(LessSafeKey::new(key))
            }
            AeadBackend::RustCrypto => ChunkAead::RustCrypto(Box::new(Aes256Gcm::new(key.into()))),
        }
    }

    /// Encrypts `text` in place (empty AAD) and returns the tag.
    pub(super) fn seal(&self, nonce: [u8; NONCE_LEN], text: &mut [u8]) -> [u8; TAG_LEN] {
        const TOO_LONG: &str = "chunks are far below the AES-GCM length limit";
        match self {
            #[cfg(feature = "aws-lc")]
            ChunkAead::AwsLc(key) => {
                let tag = key
                    .seal_in_place_separate_tag(
                        aws_nonce(nonce),
                        aws_lc_rs::aead::Aad::empty(),
                        text,
                    )
                    .expect(TOO_LONG);
                tag.as_ref().try_into().expect("16-byte tag")
            }
            ChunkAead::RustCrypto(aead) => aead
                .encrypt_inout_detached(&Nonce::from(nonce), &[], text.into())
                .expect(TOO_LONG)
                .into(),
        }
    }

    /// Encrypts `plaintext` into `out` (same length, empty AAD) and returns the tag: the
    /// pipeline seals straight out of a mapped input this way, with no copy before it.
    pub(super) fn seal_into(
        &self,
        nonce: [u8; NONCE_LEN],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> [u8; TAG_LEN] {
        const TOO_LONG: &str = "chunks are far below the AES-GCM length limit";
        match self {
            #[cfg(feature = "aws-lc")]
            ChunkAead::AwsLc(key) => {
                let mut tag = [0; TAG_LEN];
                key.seal_out_of_place_scatter(
                    aws_nonce(nonce),
                    aws_lc_rs::aead::Aad::empty(),
                    plaintext,
                    out,
                    &[],
                    &mut tag,
                )
                .expect(TOO_LONG);
                tag
            }
            ChunkAead::RustCrypto(aead) => {
                let buf = InOutBuf::new(plaintext, out).expect("equal lengths");
                aead.encrypt_inout_detached(&Nonce::from(nonce), &[], buf)
                    .expect(TOO_LONG)
                    .into()
            }
        }
    }

    /// Authenticates and decrypts `text` in place. On failure `text` holds no plaintext
    /// but not necessarily the ciphertext either: AWS-LC zeroes it, aes-gcm leaves it.
    pub(super) fn open(
        &self,
        nonce: [u8; NONCE_LEN],
        text: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), Rejected> {
        match self {
            #[cfg(feature = "aws-lc")]
            ChunkAead::AwsLc(key) => key
                .open_in_place_separate_tag(
                    aws_nonce(nonce),
                    aws_lc_rs::aead::Aad::empty(),
                    tag,
                    text,
                )
                .map(|_| ())
                .map_err(|_| Rejected),
            ChunkAead::RustCrypto(aead) => aead
                .decrypt_inout_detached(&Nonce::from(nonce), &[], text.into(), &Tag::from(*tag))
                .map_err(|_| Rejected),
        }
    }

    /// Authenticates `ciphertext` and decrypts it into `out` (same length), leaving the
    /// ciphertext as it was whatever the outcome. On failure `out` holds no plaintext.
    pub(super) fn open_into(
        &self,
        nonce: [u8; NONCE_LEN],
        ciphertext: &[u8],
        tag: &[u8; TAG_LEN],
        out: &mut [u8],
    ) -> Result<(), Rejected> {
        match self {
            #[cfg(feature = "aws-lc")]
            ChunkAead::AwsLc(key) => key
                .open_separate_gather(
                    aws_nonce(nonce),
                    aws_lc_rs::aead::Aad::empty(),
                    ciphertext,
                    tag,
                    out,
                )
                .map_err(|_| Rejected),
            ChunkAead::RustCrypto(aead) => {
                let buf = InOutBuf::new(ciphertext, out).expect("equal lengths");
                aead.decrypt_inout_detached(&Nonce::from(nonce), &[], buf, &Tag::from(*tag))
                    .map_err(|_| Rejected)
            }
        }
    }
}

#[cfg(feature = "aws-lc")]
fn aws_nonce(nonce: [u8; NONCE_LEN]) -> aws_lc_rs::aead::Nonce {
    // Unique per chunk: the base nonce is fresh per file and the counter never repeats.
    aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce)
}

/// The differential test: aws-lc-rs against aes-gcm as the oracle, on the chunk cipher,
/// the streaming adapters and the pipeline. Built only where both backends are.
#[cfg(all(test, feature = "aws-lc"))]
mod differential {
    use std::io::{Read, Write};

    use proptest::prelude::*;

    use super::AeadBackend::{self, AwsLc, RustCrypto};
    use crate::error::Error;
    use crate::keys::FileKey;
    use crate::pipeline::{self, PipelineOptions};
    use crate::stream::{
        ChunkCipher, DecryptReader, EncryptWriter, PayloadPrefix, CHUNK_SIZE, PREFIX_LEN, SALT_LEN,
        TAG_LEN,
    };

    fn cipher(backend: AeadBackend, key: [u8; 32], salt: [u8; SALT_LEN]) -> ChunkCipher {
        ChunkCipher::with_salt_on(backend, &FileKey::from_bytes(key), salt).0
    }

    fn encrypt(backend: AeadBackend, key: [u8; 32], salt: [u8; SALT_LEN], data: &[u8]) -> Vec<u8> {
        let (cipher, prefix) = ChunkCipher::with_salt_on(backend, &FileKey::from_bytes(key), salt);
        let mut writer = EncryptWriter::new(Vec::new(), cipher, &prefix).unwrap();
        writer.write_all(data).unwrap();
        writer.finish().unwrap()
    }

    fn pipeline_encrypt(backend: AeadBackend, key: [u8; 32], data: &[u8]) -> Vec<u8> {
        let cipher = cipher(backend, key, [7; SALT_LEN]);
        let mut out = Vec::new();
        pipeline::encrypt(
            &cipher,
            pipeline::Input::Stream(data),
            &mut out,
            &PipelineOptions::with_threads(2),
        )
        .unwrap();
        out
    }

    /// The plaintext, or the error's description (errors carry no plaintext or key).
    fn decrypt(backend: AeadBackend, key: [u8; 32], payload: &[u8]) -> Result<Vec<u8>, String> {
        let mut input = payload;
        let prefix = PayloadPrefix::read_from(&mut input).map_err(|e| format!("{e:?}"))?;
        let cipher = cipher(backend, key, prefix.salt);
        let mut out = Vec::new();
        DecryptReader::new(input, cipher)
            .read_to_end(&mut out)
            .map_err(|e| format!("{:?}", Error::from_io(e)))?;
        Ok(out)
    }

    fn pipeline_decrypt(
        backend: AeadBackend,
        key: [u8; 32],
        chunks: &[u8],
    ) -> Result<Vec<u8>, String> {
        let cipher = cipher(backend, key, [7; SALT_LEN]);
        let mut out = Vec::new();
        pipeline::decrypt(
            &cipher,
            pipeline::Input::Stream(chunks),
            &mut out,
            &PipelineOptions::with_threads(2),
        )
        .map_err(|e| format!("{e:?}"))?;
        Ok(out)
    }

    /// Both backends write the same bytes, each opens the other's, and a tampered copy
    /// gets the same verdict from both.
    fn check_stream(
        key: [u8; 32],
        salt: [u8; SALT_LEN],
        data: &[u8],
        tamper: &dyn Fn(&mut Vec<u8>),
    ) {
        let ours = encrypt(AwsLc, key, salt, data);
        let oracle = encrypt(RustCrypto, key, salt, data);
        assert!(
            ours == oracle,
            "ciphertexts differ at length {}",
            data.len()
        );
        for backend in [AwsLc, RustCrypto] {
            assert_eq!(decrypt(backend, key, &oracle).as_deref(), Ok(data));
        }
        let mut bad = oracle.clone();
        tamper(&mut bad);
        let verdict = decrypt(AwsLc, key, &bad);
        assert_eq!(verdict, decrypt(RustCrypto, key, &bad));
        assert!(
            bad == oracle || verdict.is_err(),
            "tampering went unnoticed"
        );
    }

    #[test]
    fn backends_agree_at_every_chunk_boundary() {
        let key = [0x5a; 32];
        let data: Vec<u8> = (0..4 * CHUNK_SIZE + 2)
            .map(|i| (i * 13 + 1) as u8)
            .collect();
        let mut lengths = vec![0, 1, 15, 16, 17];
        for k in 1..=4 {
            lengths.extend([
                k * CHUNK_SIZE - TAG_LEN,
                k * CHUNK_SIZE - 1,
                k * CHUNK_SIZE,
                k * CHUNK_SIZE + 1,
            ]);
        }
        for len in lengths {
            let flip_last = |ct: &mut Vec<u8>| *ct.last_mut().unwrap() ^= 0x80;
            check_stream(key, [len as u8; SALT_LEN], &data[..len], &flip_last);
            let drop_last = |ct: &mut Vec<u8>| {
                ct.pop();
            };
            check_stream(key, [1; SALT_LEN], &data[..len], &drop_last);
            let append = |ct: &mut Vec<u8>| ct.extend_from_slice(&[0; 3]);
            check_stream(key, [2; SALT_LEN], &data[..len], &append);
        }
    }

    #[test]
    fn backends_agree_through_the_pipeline() {
        let key = [0xc3; 32];
        // Three batches and a bit, so two workers share the work.
        let data: Vec<u8> = (0..3 * (1 << 20) + 5 * CHUNK_SIZE + 7)
            .map(|i| (i ^ (i >> 9)) as u8)
            .collect();
        let ours = pipeline_encrypt(AwsLc, key, &data);
        assert!(ours == pipeline_encrypt(RustCrypto, key, &data));
        assert_eq!(
            pipeline_decrypt(RustCrypto, key, &ours).as_deref(),
            Ok(&data[..])
        );
        assert_eq!(
            pipeline_decrypt(AwsLc, key, &ours).as_deref(),
            Ok(&data[..])
        );
        let last_full_of_batch = (1 << 20) / CHUNK_SIZE * (CHUNK_SIZE + TAG_LEN) - 1;
        for at in [0, 5000, last_full_of_batch, ours.len() - 1] {
            let mut bad = ours.clone();
            bad[at] ^= 1;
            let verdict = pipeline_decrypt(AwsLc, key, &bad);
            assert!(verdict.is_err());
            assert_eq!(verdict, pipeline_decrypt(RustCrypto, key, &bad));
        }
        let mut trailing = ours.clone();
        trailing.extend_from_slice(&[9; 40]);
        let verdict = pipeline_decrypt(AwsLc, key, &trailing);
        assert_eq!(verdict, Err("TrailingData { bytes: 40 }".into()));
        assert_eq!(verdict, pipeline_decrypt(RustCrypto, key, &trailing));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn backends_agree_on_random_streams(
            key in any::<[u8; 32]>(),
            salt in any::<[u8; SALT_LEN]>(),
            len in 0..3 * CHUNK_SIZE + 100,
            flip in any::<prop::sample::Index>(),
            bit in 0..8u8,
        ) {
            let data: Vec<u8> = (0..len).map(|i| (i * 31) as u8 ^ key[i % 32]).collect();
            let tamper = |ct: &mut Vec<u8>| {
                // Anywhere past the prefix (a prefix change is caught by the commitment
                // check, which is not the backend's).
                let at = PREFIX_LEN + flip.index(ct.len() - PREFIX_LEN);
                ct[at] ^= 1 << bit;
            };
            check_stream(key, salt, &data, &tamper);
        }

        #[test]
        fn backends_agree_on_single_chunks(
            key in any::<[u8; 32]>(),
            index in 0..crate::stream::MAX_CHUNKS,
            len in 0..=CHUNK_SIZE,
            flip in any::<prop::sample::Index>(),
        ) {
            let mut ours = vec![0u8; len + TAG_LEN];
            ours.iter_mut().enumerate().for_each(|(i, b)| *b = (i as u8) ^ key[0]);
            let plaintext = ours[..len].to_vec();
            let mut oracle = ours.clone();
            cipher(AwsLc, key, [0; SALT_LEN]).seal(index, &mut ours, len).unwrap();
            cipher(RustCrypto, key, [0; SALT_LEN]).seal(index, &mut oracle, len).unwrap();
            prop_assert_eq!(&ours, &oracle);
            // Sealing out of place (from a mapped input) writes the same chunk.
            for backend in [AwsLc, RustCrypto] {
                let mut out = vec![0x5a; len + TAG_LEN];
                cipher(backend, key, [0; SALT_LEN]).seal_from(index, &plaintext, &mut out).unwrap();
                prop_assert_eq!(&out, &oracle);
            }
            for (opener, sealed) in [(AwsLc, &oracle), (RustCrypto, &ours)] {
                let mut chunk = sealed.clone();
                prop_assert_eq!(cipher(opener, key, [0; SALT_LEN]).open(index, &mut chunk).unwrap(), len);
                prop_assert_eq!(&chunk[..len], &plaintext[..]);
            }
            let mut bad = oracle.clone();
            let at = flip.index(bad.len());
            bad[at] ^= 0x10;
            for opener in [AwsLc, RustCrypto] {
                let c = cipher(opener, key, [0; SALT_LEN]);
                let mut chunk = bad.clone();
                prop_assert!(c.open(index, &mut chunk).is_err());
                let mut out = vec![0xaa; len];
                prop_assert!(c.open_into(index, &bad, &mut out).is_err());
                prop_assert!(len == 0 || out != plaintext);
            }
        }
    }
}
