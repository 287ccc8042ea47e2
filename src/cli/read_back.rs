//! `encrypt --delete-source` to public-key recipients alone. A source is removed only
//! after its output was read back and authenticated, but a recipient cannot decrypt
//! anything. So the run keeps each file's key as it seals that file's first slot (the
//! key is in this process's memory anyway, inside the encryptor) and hands it back,
//! once, to the read-back; it never leaves the process and is zeroized when dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use coffer::{AnyRecipient, FileBinding, FileKey, HeaderNonce, Identity, RawSlot, Recipient, Slot};

/// File keys of this run's outputs that wait to be read back, by header nonce (fresh
/// and random for every file).
#[derive(Default)]
pub struct FileKeys {
    waiting: Mutex<HashMap<HeaderNonce, FileKey>>,
}

fn copy(key: &FileKey) -> FileKey {
    FileKey::from_bytes(*key.expose())
}

impl Identity for FileKeys {
    /// The key of the file being read back, taken out: each output is read back once.
    fn open(&self, _slot: &Slot, file: FileBinding<'_>) -> coffer::Result<Option<FileKey>> {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(waiting.remove(file.header_nonce))
    }
}

/// A recipient whose slots are made as usual, keeping each file key for the read-back.
pub struct Capturing {
    pub recipient: AnyRecipient,
    pub keys: Arc<FileKeys>,
}

impl Recipient for Capturing {
    fn seal(&self, file_key: &FileKey, file: FileBinding<'_>) -> coffer::Result<RawSlot> {
        let slot = self.recipient.seal(file_key, file)?;
        let mut waiting = self
            .keys
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        waiting.insert(*file.header_nonce, copy(file_key));
        Ok(slot)
    }
}
