//! Whole files: header + payload. [`Encryptor`] writes them for a set of recipients,
//! [`Decryptor`] reads them with a set of identities, and [`rekey`](Decryptor::rekey)
//! rewrites a header for new recipients without touching the payload.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::FileExt;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::format::{Header, RawSlot};
use crate::keys::{random, FileKey, HeaderNonce};
use crate::pipeline::{self, Input, PipelineOptions};
use crate::slots::{FileBinding, Identity, Recipient, Slot};
use crate::stream::{
    chunks_len, plaintext_len, ChunkCipher, DecryptReader, EncryptWriter, PayloadPrefix,
    SeekableReader, CONTEXT_V1, PREFIX_LEN, SALT_LEN as PAYLOAD_SALT_LEN,
};

/// A new file ready to be written: a fresh file key, its header and payload cipher.
pub struct Encryptor {
    header: Header,
    cipher: ChunkCipher,
    prefix: PayloadPrefix,
}

/// Wraps `file_key` once per recipient, each bound to this header nonce and context, and
/// MACs the header (context block included).
fn seal_header(
    file_key: &FileKey,
    header_nonce: HeaderNonce,
    context: &Context,
    kept: Vec<RawSlot>,
    recipients: &[&dyn Recipient],
) -> Result<Header> {
    let mut slots = kept;
    let file = FileBinding {
        header_nonce: &header_nonce,
        context,
    };
    for recipient in recipients {
        slots.push(recipient.seal(file_key, file)?);
    }
    let mac_key = file_key.header_mac_key(&header_nonce);
    Header::encode_with_context(header_nonce, context.clone(), slots, |bytes| {
        mac_key.tag(bytes)
    })
}

/// The C2SP context of a file's payload: `"coffer.v1 payload"`, followed by the header's
/// context block when it has one (FORMAT.md, "Context"). Without a context it is exactly
/// the context every file had before contexts.
fn payload_context(header: &Header) -> Vec<u8> {
    [CONTEXT_V1, header.context_block()].concat()
}

impl Encryptor {
    /// A new file whose key is wrapped once for each recipient (one slot each).
    ///
    /// Recipients may be shared by many files: each file gets its own random file key,
    /// header nonce and payload salt.
    ///
    /// # Errors
    /// [`Error::HeaderTooLarge`] for no recipient or too many, and whatever a recipient
    /// fails with.
    pub fn new(recipients: &[&dyn Recipient]) -> Result<Self> {
        Self::with_context(recipients, Context::new())
    }

    /// As [`Encryptor::new`], for a file bound to `context`: stored in the header (under
    /// the MAC), bound into the payload derivation and given to every recipient's slot.
    /// An empty context makes the same kind of file as [`Encryptor::new`].
    ///
    /// # Errors
    /// As [`Encryptor::new`]; the context counts toward the header length.
    pub fn with_context(recipients: &[&dyn Recipient], context: Context) -> Result<Self> {
        let file_key = FileKey::generate();
        let header = seal_header(&file_key, random(), &context, Vec::new(), recipients)?;
        Ok(Self::with_header(&file_key, header, random()))
    }

    /// A file from fixed parts, for deterministic test vectors. Never reuse a file key.
    ///
    /// # Panics
    /// If a recipient fails or the slots do not fit a header (fixed test inputs).
    #[doc(hidden)]
    pub fn from_parts(
        file_key: &FileKey,
        header_nonce: HeaderNonce,
        payload_salt: [u8; PAYLOAD_SALT_LEN],
        recipients: &[&dyn Recipient],
    ) -> Self {
        Self::from_parts_in_context(
            file_key,
            header_nonce,
            payload_salt,
            &Context::new(),
            recipients,
        )
    }

    /// As [`Encryptor::from_parts`], for a file with a context.
    ///
    /// # Panics
    /// As [`Encryptor::from_parts`].
    #[doc(hidden)]
    pub fn from_parts_in_context(
        file_key: &FileKey,
        header_nonce: HeaderNonce,
        payload_salt: [u8; PAYLOAD_SALT_LEN],
        context: &Context,
        recipients: &[&dyn Recipient],
    ) -> Self {
        let header = seal_header(file_key, header_nonce, context, Vec::new(), recipients)
            .expect("test-vector recipients fit a header");
        Self::with_header(file_key, header, payload_salt)
    }

    fn with_header(
        file_key: &FileKey,
        header: Header,
        payload_salt: [u8; PAYLOAD_SALT_LEN],
    ) -> Self {
        let (cipher, prefix) =
            ChunkCipher::with_salt_in_context(file_key, payload_salt, &payload_context(&header));
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

    /// The length of the whole file for `plaintext_len` bytes of plaintext.
    pub fn file_len(&self, plaintext_len: u64) -> u64 {
        payload_offset(&self.header) + chunks_len(plaintext_len)
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
        self.encrypt_input(Input::Stream(input), output, options)
    }

    /// As [`Encryptor::encrypt`], from bytes in memory (a mapped file): each worker seals
    /// its share straight out of `plaintext`, with no copy before it.
    ///
    /// # Errors
    /// As [`Encryptor::encrypt`].
    pub fn encrypt_bytes<W: Write>(
        self,
        plaintext: &[u8],
        output: &mut W,
        options: &PipelineOptions,
    ) -> Result<u64> {
        self.encrypt_input(Input::<&[u8]>::Bytes(plaintext), output, options)
    }

    /// As [`Encryptor::encrypt`], from the first `len` bytes of `input` (its length when
    /// opened), which each worker reads itself at its batches' offsets (`pread`). A file
    /// that turns out shorter is an I/O error; bytes past `len` are not read.
    ///
    /// # Errors
    /// As [`Encryptor::encrypt`].
    pub fn encrypt_file<W: Write>(
        self,
        input: &File,
        len: u64,
        output: &mut W,
        options: &PipelineOptions,
    ) -> Result<u64> {
        self.encrypt_input(whole_file(input, len), output, options)
    }

    /// As [`Encryptor::encrypt_to_file`], reading as [`Encryptor::encrypt_file`] does.
    ///
    /// # Errors
    /// As [`Encryptor::encrypt`].
    pub fn encrypt_file_to_file(
        self,
        input: &File,
        len: u64,
        file: &File,
        options: &PipelineOptions,
    ) -> Result<u64> {
        self.encrypt_input_to_file(whole_file(input, len), file, options)
    }

    fn encrypt_input<R: Read + Send, W: Write>(
        self,
        input: Input<'_, R>,
        output: &mut W,
        options: &PipelineOptions,
    ) -> Result<u64> {
        output.write_all(self.header.as_bytes())?;
        output.write_all(&self.prefix.to_bytes())?;
        let len = pipeline::encrypt(&self.cipher, input, output, options)?;
        output.flush()?;
        Ok(len)
    }

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
        self.encrypt_input_to_file(Input::Stream(input), file, options)
    }

    /// As [`Encryptor::encrypt_to_file`], from bytes in memory (a mapped file), as
    /// [`Encryptor::encrypt_bytes`] reads them.
    ///
    /// # Errors
    /// As [`Encryptor::encrypt`].
    pub fn encrypt_bytes_to_file(
        self,
        plaintext: &[u8],
        file: &File,
        options: &PipelineOptions,
    ) -> Result<u64> {
        self.encrypt_input_to_file(Input::<&[u8]>::Bytes(plaintext), file, options)
    }

    fn encrypt_input_to_file<R: Read + Send>(
        self,
        input: Input<'_, R>,
        file: &File,
        options: &PipelineOptions,
    ) -> Result<u64> {
        file.write_all_at(self.header.as_bytes(), 0)?;
        file.write_all_at(&self.prefix.to_bytes(), self.header.len() as u64)?;
        let chunks_at = payload_offset(&self.header);
        pipeline::encrypt_at(&self.cipher, input, file, chunks_at, options)
    }
}

/// The first `len` bytes of `file`, for the workers to read by position.
fn whole_file(file: &File, len: u64) -> Input<'_, &File> {
    Input::File {
        file,
        offset: 0,
        len,
    }
}

/// Where chunk 0 starts: after the header and the payload prefix.
fn payload_offset(header: &Header) -> u64 {
    (header.len() + PREFIX_LEN) as u64
}

/// A file being read: its header parsed and its slots decoded, its payload not yet
/// touched.
pub struct Decryptor<R: Read> {
    reader: R,
    header: Header,
    slots: Vec<Slot>,
    context: Context,
}

impl<R: Read> Decryptor<R> {
    /// Reads and strictly parses the header and every slot body. No key is needed yet.
    ///
    /// # Errors
    /// See [`Header::read_from`] and [`Slot::decode`].
    pub fn new(mut reader: R) -> Result<Self> {
        let header = Header::read_from(&mut reader)?;
        let slots = header
            .slots()
            .iter()
            .map(Slot::decode)
            .collect::<Result<_>>()?;
        let context = header.context().clone();
        Ok(Decryptor {
            reader,
            header,
            slots,
            context,
        })
    }

    /// What this file's slots are bound to.
    fn binding(&self) -> FileBinding<'_> {
        FileBinding {
            header_nonce: self.header.header_nonce(),
            context: &self.context,
        }
    }

    /// The file's encryption context (empty for most files), as the header says. The
    /// header MAC covers it, so it is authenticated once [`Decryptor::unlock`] succeeds;
    /// comparing it before that ([`Context::must_equal`]) refuses a swapped file without
    /// deriving any key.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The decoded slots, in file order.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// The plaintext length of a whole file of `file_len` bytes with this header, or the
    /// error a reader must give for that length.
    ///
    /// # Errors
    /// [`Error::Truncated`] when the length cannot end in a valid final chunk.
    pub fn plaintext_len(&self, file_len: u64) -> Result<u64> {
        let chunks = file_len
            .checked_sub(payload_offset(&self.header))
            .ok_or(Error::Truncated { at_chunk: None })?;
        plaintext_len(chunks)
    }

    /// Where chunk 0 starts in the file.
    pub fn chunks_offset(&self) -> u64 {
        payload_offset(&self.header)
    }

    /// Finds a slot that one of `identities` opens, and authenticates the header.
    ///
    /// Identities are tried in the order given, each against every slot (put the cheap
    /// ones, key files, before passphrases). Before an identity opens anything it checks
    /// the work the header would make it do ([`Identity::preflight`]).
    ///
    /// # Errors
    /// [`Error::KdfOverLimit`], [`Error::NoSlotOpened`], [`Error::HeaderAuthentication`].
    pub fn unlock(&self, identities: &[&dyn Identity]) -> Result<FileKey> {
        for identity in identities {
            identity.preflight(&self.slots)?;
            for slot in &self.slots {
                if let Some(file_key) = identity.open(slot, self.binding())? {
                    self.verify_mac(&file_key)?;
                    return Ok(file_key);
                }
            }
        }
        Err(Error::NoSlotOpened {
            offered: identities.len(),
            unsupported_slots: self
                .slots
                .iter()
                .filter(|slot| matches!(slot, Slot::Unknown { .. }))
                .count(),
        })
    }

    /// The indexes of the slots `identity` opens, all of them (not only the first), each
    /// checked against the header MAC: what `rekey` removes or carries over.
    ///
    /// # Errors
    /// As [`Decryptor::unlock`].
    pub fn slots_opened_by(&self, identity: &dyn Identity) -> Result<Vec<usize>> {
        identity.preflight(&self.slots)?;
        let mut opened = Vec::new();
        for (index, slot) in self.slots.iter().enumerate() {
            if let Some(file_key) = identity.open(slot, self.binding())? {
                self.verify_mac(&file_key)?;
                opened.push(index);
            }
        }
        Ok(opened)
    }

    /// Accepts a file key known by other means (test vectors): checks the header MAC.
    ///
    /// # Errors
    /// [`Error::HeaderAuthentication`].
    pub fn unlock_with_file_key(&self, file_key: FileKey) -> Result<FileKey> {
        self.verify_mac(&file_key)?;
        Ok(file_key)
    }

    fn verify_mac(&self, file_key: &FileKey) -> Result<()> {
        let mac_key = file_key.header_mac_key(self.header.header_nonce());
        if mac_key.verify(self.header.mac_input(), self.header.mac()) {
            Ok(())
        } else {
            Err(Error::HeaderAuthentication)
        }
    }

    /// A new header for the same file key and payload: the slots at `keep` (indexes into
    /// [`Decryptor::slots`], in that order) copied byte for byte, then one new slot per
    /// recipient, under a new MAC.
    ///
    /// The header nonce and the context stay, because the kept slots (and the payload,
    /// for the context) are bound to them and may belong to credentials the caller does
    /// not hold (FORMAT.md, "Rekeying").
    ///
    /// # Errors
    /// [`Error::HeaderAuthentication`] if `file_key` is not this file's,
    /// [`Error::HeaderTooLarge`], and recipient errors.
    pub fn rekey(
        &self,
        file_key: &FileKey,
        keep: &[usize],
        recipients: &[&dyn Recipient],
    ) -> Result<Header> {
        self.verify_mac(file_key)?;
        let kept = keep
            .iter()
            .map(|&index| self.header.slots()[index].clone())
            .collect();
        seal_header(
            file_key,
            *self.header.header_nonce(),
            &self.context,
            kept,
            recipients,
        )
    }

    /// The underlying reader, positioned at the start of the payload (for copying the
    /// payload byte for byte after a header-only rekey).
    pub fn into_payload(self) -> R {
        self.reader
    }

    fn payload_cipher(&mut self, file_key: &FileKey) -> Result<ChunkCipher> {
        let prefix = PayloadPrefix::read_from(&mut self.reader)?;
        ChunkCipher::for_decryption_in_context(file_key, &prefix, &payload_context(&self.header))
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
        let len = pipeline::decrypt(&cipher, Input::Stream(self.reader), output, options)?;
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
        pipeline::decrypt_at(&cipher, Input::Stream(self.reader), file, 0, options)
    }
}

impl Decryptor<File> {
    /// As [`Decryptor::decrypt`], for a whole file of `file_len` bytes (its length when
    /// opened): each worker reads its own batches (`pread`), so reading runs on every
    /// core. A file that turns out shorter is an I/O error; bytes past `file_len` are not
    /// read (compare the length afterwards to notice a file that grew).
    ///
    /// # Errors
    /// As [`Decryptor::decrypt`].
    pub fn decrypt_file<W: Write>(
        mut self,
        file_key: &FileKey,
        file_len: u64,
        output: &mut W,
        options: &PipelineOptions,
    ) -> Result<u64> {
        let cipher = self.payload_cipher(file_key)?;
        let input = self.payload_region(file_len);
        let len = pipeline::decrypt(&cipher, input, output, options)?;
        output.flush()?;
        Ok(len)
    }

    /// As [`Decryptor::decrypt_to_file`], reading as [`Decryptor::decrypt_file`] does.
    ///
    /// # Errors
    /// As [`Decryptor::decrypt`].
    pub fn decrypt_file_to_file(
        mut self,
        file_key: &FileKey,
        file_len: u64,
        file: &File,
        options: &PipelineOptions,
    ) -> Result<u64> {
        let cipher = self.payload_cipher(file_key)?;
        let input = self.payload_region(file_len);
        pipeline::decrypt_at(&cipher, input, file, 0, options)
    }

    /// The chunks of a file of `file_len` bytes, for the workers to read.
    fn payload_region(&self, file_len: u64) -> Input<'_, &File> {
        let offset = payload_offset(&self.header);
        Input::File {
            file: &self.reader,
            offset,
            len: file_len.saturating_sub(offset),
        }
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
        SeekableReader::new(self.reader, cipher, payload_offset(&self.header))
    }
}
