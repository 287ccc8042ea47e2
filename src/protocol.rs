//! Whole files: header + payload. `Encryptor` writes them, `Decryptor` reads them, and
//! `KeyCache` lets one Argon2id derivation open every file of a batch.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::format::{Header, Slot};
use crate::kdf::{KdfParams, Limits, SALT_LEN};
use crate::keys::{FileKey, Passphrase, PassphraseKey, HEADER_NONCE_LEN};
use crate::pipeline::{self, PipelineOptions};
use crate::stream::{
    ChunkCipher, DecryptReader, EncryptWriter, PayloadPrefix, SeekableReader,
    SALT_LEN as PAYLOAD_SALT_LEN,
};

/// A new file ready to be written: a fresh file key, its header and payload cipher.
pub struct Encryptor {
    header: Header,
    cipher: ChunkCipher,
    prefix: PayloadPrefix,
}

impl Encryptor {
    /// A new file whose key is wrapped once for each passphrase key (one slot each).
    ///
    /// The passphrase keys may be shared by many files: each file gets its own random
    /// file key, header nonce and payload salt.
    ///
    /// # Panics
    /// If `keys` is empty or has more than 16 entries.
    pub fn new(keys: &[&PassphraseKey]) -> Self {
        let file_key = FileKey::generate();
        let header = Header::seal_new(&file_key, keys);
        let (cipher, prefix) = ChunkCipher::for_encryption(&file_key);
        Encryptor {
            header,
            cipher,
            prefix,
        }
    }

    /// A file from fixed parts, for deterministic test vectors. Never reuse a file key.
    pub fn from_parts(
        file_key: &FileKey,
        header_nonce: [u8; HEADER_NONCE_LEN],
        payload_salt: [u8; PAYLOAD_SALT_LEN],
        keys: &[&PassphraseKey],
    ) -> Self {
        let header = Header::seal(file_key, header_nonce, keys);
        let (cipher, prefix) = ChunkCipher::with_salt(file_key, payload_salt);
        Encryptor {
            header,
            cipher,
            prefix,
        }
    }

    /// The header that will be written.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Writes the header and payload prefix, returning a streaming writer for the
    /// plaintext. Call [`EncryptWriter::finish`] at the end.
    ///
    /// # Errors
    /// Any write error.
    pub fn writer<W: Write>(self, mut output: W) -> io::Result<EncryptWriter<W>> {
        output.write_all(self.header.as_bytes())?;
        EncryptWriter::new(output, self.cipher, &self.prefix)
    }

    /// Encrypts all of `input` into `output` with the parallel pipeline, returning the
    /// plaintext length. Flushes `output` but does not sync it.
    ///
    /// # Errors
    /// I/O errors, [`Error::Interrupted`] if cancelled, [`Error::MessageTooLong`].
    pub fn encrypt<R: Read + Send, W: Write>(
        self,
        input: R,
        output: &mut W,
        options: &PipelineOptions,
    ) -> Result<u64> {
        output.write_all(self.header.as_bytes())?;
        output.write_all(&self.prefix.to_bytes())?;
        let len = pipeline::encrypt(&self.cipher, input, output, options)?;
        output.flush()?;
        Ok(len)
    }
}

impl Encryptor {
    /// Encrypts all of `input` into `file` (from offset 0), every worker writing its own
    /// batches: faster than [`Encryptor::encrypt`] into a regular file. On error the file
    /// holds garbage: delete it.
    ///
    /// # Errors
    /// As [`Encryptor::encrypt`].
    pub fn encrypt_to_file<R: Read + Send>(
        self,
        input: R,
        file: &File,
        options: &PipelineOptions,
    ) -> Result<u64> {
        file.write_all_at(self.header.as_bytes(), 0)?;
        file.write_all_at(&self.prefix.to_bytes(), self.header.len() as u64)?;
        let chunks_at = self.header.chunks_offset();
        pipeline::encrypt_at(&self.cipher, input, file, chunks_at, options)
    }
}

/// Passphrase keys derived so far, by (parameters, salt), so that files written in one
/// run (which share a slot salt) cost one Argon2id derivation to open. Shared across
/// threads; keys are zeroized when the cache is dropped.
pub struct KeyCache {
    passphrase: Passphrase,
    limits: Limits,
    keys: Mutex<HashMap<SlotKdfInput, Arc<PassphraseKey>>>,
}

/// What a passphrase key depends on besides the passphrase.
type SlotKdfInput = (KdfParams, [u8; SALT_LEN]);

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl KeyCache {
    /// A cache for one passphrase, applying `limits` to every slot before deriving.
    pub fn new(passphrase: Passphrase, limits: Limits) -> Self {
        KeyCache {
            passphrase,
            limits,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The key for a slot's parameters and salt, derived at most once.
    ///
    /// Derivation happens under the lock, so concurrent files that share a salt wait for
    /// the first one instead of deriving again; Argon2id itself uses every core.
    ///
    /// # Errors
    /// [`Error::KdfOverLimit`] (before any work) and Argon2 errors.
    pub fn key_for(&self, params: KdfParams, salt: [u8; SALT_LEN]) -> Result<Arc<PassphraseKey>> {
        params.check_limits(&self.limits)?;
        let mut keys = self
            .keys
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(key) = keys.get(&(params, salt)) {
            return Ok(Arc::clone(key));
        }
        let key = Arc::new(PassphraseKey::derive(
            &self.passphrase,
            params,
            salt,
            &self.limits,
        )?);
        keys.insert((params, salt), Arc::clone(&key));
        Ok(key)
    }

    /// Adds a key derived elsewhere (an encrypt run verifying what it wrote).
    pub fn insert(&self, key: Arc<PassphraseKey>) {
        let mut keys = self
            .keys
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        keys.insert((key.params(), *key.salt()), key);
    }
}

/// A file being read: its header parsed, its payload not yet touched.
pub struct Decryptor<R: Read> {
    reader: R,
    header: Header,
}

impl<R: Read> Decryptor<R> {
    /// Reads and strictly parses the header. No key is needed yet.
    ///
    /// # Errors
    /// See [`Header::read_from`].
    pub fn new(mut reader: R) -> Result<Self> {
        let header = Header::read_from(&mut reader)?;
        Ok(Decryptor { reader, header })
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Finds a slot that opens with the cache's passphrase and authenticates the header.
    ///
    /// Every passphrase slot's parameters are checked against the limits before anything
    /// is derived.
    ///
    /// # Errors
    /// [`Error::KdfOverLimit`], [`Error::NoSlotOpened`], [`Error::HeaderAuthentication`].
    pub fn unlock(&self, cache: &KeyCache) -> Result<FileKey> {
        let mut unsupported_slots = 0;
        for slot in &self.header.slots {
            if let Slot::Passphrase(slot) = slot {
                slot.params.check_limits(cache.limits())?;
            }
        }
        for slot in &self.header.slots {
            match slot {
                Slot::Passphrase(slot) => {
                    let key = cache.key_for(slot.params, slot.salt)?;
                    if let Some(file_key) = slot.unwrap(&key, &self.header.header_nonce)? {
                        self.header.verify_mac(&file_key)?;
                        return Ok(file_key);
                    }
                }
                _ => unsupported_slots += 1,
            }
        }
        Err(Error::NoSlotOpened { unsupported_slots })
    }

    /// Accepts a file key known by other means (test vectors): checks the header MAC.
    ///
    /// # Errors
    /// [`Error::HeaderAuthentication`].
    pub fn unlock_with_file_key(&self, file_key: FileKey) -> Result<FileKey> {
        self.header.verify_mac(&file_key)?;
        Ok(file_key)
    }

    fn payload_cipher(&mut self, file_key: &FileKey) -> Result<ChunkCipher> {
        let prefix = PayloadPrefix::read_from(&mut self.reader)?;
        ChunkCipher::for_decryption(file_key, &prefix)
    }

    /// A streaming reader of the plaintext, after the commitment check.
    ///
    /// # Errors
    /// [`Error::Truncated`], [`Error::CommitmentMismatch`], I/O.
    pub fn into_reader(mut self, file_key: &FileKey) -> Result<DecryptReader<R>> {
        let cipher = self.payload_cipher(file_key)?;
        Ok(DecryptReader::new(self.reader, cipher))
    }

    /// Decrypts the whole payload into `output` with the parallel pipeline, returning the
    /// plaintext length. Every chunk written was authenticated first; an error may come
    /// after some plaintext was written, so write to a temporary file and keep it only on
    /// success.
    ///
    /// # Errors
    /// [`Error::CommitmentMismatch`], [`Error::ChunkAuthentication`], [`Error::Truncated`],
    /// [`Error::TrailingData`], [`Error::Interrupted`], I/O.
    pub fn decrypt<W: Write>(
        mut self,
        file_key: &FileKey,
        output: &mut W,
        options: &PipelineOptions,
    ) -> Result<u64>
    where
        R: Send,
    {
        let cipher = self.payload_cipher(file_key)?;
        let len = pipeline::decrypt(&cipher, self.reader, output, options)?;
        output.flush()?;
        Ok(len)
    }
}

impl<R: Read + Send> Decryptor<R> {
    /// Decrypts the whole payload into `file` (from offset 0), every worker writing its
    /// own batches. Only authenticated chunks are written, but on error the file is
    /// incomplete and may have gaps: delete it.
    ///
    /// # Errors
    /// As [`Decryptor::decrypt`].
    pub fn decrypt_to_file(
        mut self,
        file_key: &FileKey,
        file: &File,
        options: &PipelineOptions,
    ) -> Result<u64> {
        let cipher = self.payload_cipher(file_key)?;
        pipeline::decrypt_at(&cipher, self.reader, file, 0, options)
    }
}

impl<R: Read + Seek> Decryptor<R> {
    /// Random access to the plaintext; authenticates the final chunk (and so the length)
    /// first.
    ///
    /// # Errors
    /// As [`SeekableReader::new`], plus [`Error::CommitmentMismatch`].
    pub fn into_seekable(mut self, file_key: &FileKey) -> Result<SeekableReader<R>> {
        let cipher = self.payload_cipher(file_key)?;
        SeekableReader::new(self.reader, cipher, self.header.chunks_offset())
    }
}
