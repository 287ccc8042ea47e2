//! AWS KMS slots (type `0x20`; FORMAT.md, "KMS slot body"): the file key encrypted by
//! KMS `Encrypt` under a key that never leaves KMS, bound to the file by the KMS
//! encryption context.
//!
//! This module holds no AWS code: it talks to KMS through the [`KmsClient`] trait, which
//! the `kms` feature implements with the AWS SDK (`AwsKmsClient`) and tests
//! implement with doubles.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use zeroize::Zeroizing;

use super::{FileBinding, Identity, Recipient, Slot};
use crate::error::{Error, Result};
use crate::format::RawSlot;
use crate::keys::{FileKey, FILE_KEY_LEN};

/// The slot type byte.
pub const SLOT_TYPE: u8 = 0x20;
/// The longest key ARN a slot holds. KMS key ARNs are about 75 characters; the bound
/// keeps a hostile header from spending its 4096 bytes on one field.
pub const MAX_ARN_LEN: usize = 512;
/// The longest ciphertext blob a slot holds. KMS returns about 180 bytes for a 32-byte
/// key under a symmetric KMS key.
pub const MAX_BLOB_LEN: usize = 1024;
/// The encryption-context key that binds a slot to its file: the lowercase hex of the
/// header nonce. Keys starting with `coffer:` are reserved for coffer.
pub const CONTEXT_KEY_HEADER_NONCE: &str = "coffer:header-nonce";
/// The prefix of encryption-context keys that user contexts may not use.
pub const RESERVED_CONTEXT_PREFIX: &str = "coffer:";

/// The KMS encryption context of a call: sorted `key -> value` pairs.
pub type EncryptionContext = BTreeMap<String, String>;

/// What KMS `Encrypt` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    /// The ARN of the key that encrypted (KMS resolves aliases and key IDs to it).
    pub key_arn: String,
    /// The ciphertext blob, opaque to coffer; not secret.
    pub ciphertext_blob: Vec<u8>,
}

/// What KMS `Decrypt` returned.
pub struct Decrypted {
    /// The ARN of the key that decrypted.
    pub key_arn: String,
    /// The file key.
    pub plaintext: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypted")
            .field("key_arn", &self.key_arn)
            .finish_non_exhaustive()
    }
}

/// The two KMS operations a slot needs. Blocking; an implementation may run its own
/// runtime inside.
pub trait KmsClient: Send + Sync {
    /// KMS `Encrypt` of `plaintext` under `key_id` (key ID, key ARN, alias name or alias
    /// ARN) with this encryption context.
    ///
    /// # Errors
    /// The failure class KMS or the transport reported.
    fn encrypt(
        &self,
        key_id: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> std::result::Result<Encrypted, KmsError>;

    /// KMS `Decrypt` of `ciphertext_blob`, asking KMS to use `key_id` only (KMS fails the
    /// call when the blob was made under another key), with this encryption context.
    ///
    /// # Errors
    /// The failure class KMS or the transport reported.
    fn decrypt(
        &self,
        ciphertext_blob: &[u8],
        key_id: &str,
        context: &EncryptionContext,
    ) -> std::result::Result<Decrypted, KmsError>;
}

/// How a KMS call failed. One variant per failure class the CLI gives its own exit
/// code ([`KmsError::class`]). Messages name keys (not secret), never key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KmsError {
    /// The caller's IAM identity may not use the key (`AccessDeniedException`).
    #[error("AWS KMS denied access to key {key}")]
    AccessDenied {
        /// The key named in the call.
        key: String,
    },
    /// The key is disabled or pending deletion.
    #[error("AWS KMS key {key} is disabled or pending deletion")]
    KeyDisabled {
        /// The key named in the call.
        key: String,
    },
    /// The key, or the alias, does not exist (in this account and region).
    #[error("AWS KMS key {key} was not found")]
    KeyNotFound {
        /// The key named in the call.
        key: String,
    },
    /// KMS refused the blob: it was modified, moved from another file, or the context
    /// differs from the one it was made with.
    #[error("AWS KMS could not decrypt the slot of key {key}: the slot was modified, comes from another file, or the context differs")]
    InvalidCiphertext {
        /// The key named in the call.
        key: String,
    },
    /// The blob was made under a key other than the one the slot names and the caller
    /// allowed (`IncorrectKeyException`, or a response naming another key).
    #[error(
        "the KMS slot names key {key} but was made under another key: the header was modified"
    )]
    WrongKey {
        /// The key named in the call.
        key: String,
    },
    /// Still throttled after the bounded retries.
    #[error("AWS KMS throttled the request (still after retries); try again later")]
    Throttled,
    /// The standard chain found no credentials.
    #[error(
        "no AWS credentials found (environment, profile, web identity, container or instance role)"
    )]
    NoCredentials,
    /// No region is configured.
    #[error("no AWS region configured: set AWS_REGION or a profile's region")]
    NoRegion,
    /// The endpoint could not be reached in the bounded time.
    #[error("AWS KMS unreachable: {detail}")]
    Unreachable {
        /// Connection refused, timed out, DNS: one short line.
        detail: String,
    },
    /// Any other refusal or failure of the service.
    #[error("AWS KMS request failed: {detail}")]
    Service {
        /// KMS's error code and message, shortened.
        detail: String,
    },
    /// KMS answered with something a slot cannot hold.
    #[error("AWS KMS returned an unusable response: {0}")]
    BadResponse(&'static str),
}

/// Failure classes of [`KmsError`], each with its own exit code in the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KmsFailure {
    /// Access denied.
    AccessDenied,
    /// The key is disabled, pending deletion, or not found.
    KeyUnusable,
    /// The blob does not decrypt (modified, another file's, another context, other key).
    InvalidCiphertext,
    /// Throttled after retries.
    Throttled,
    /// No credentials or no region: the AWS configuration is missing.
    NoCredentials,
    /// The endpoint is unreachable or timed out.
    Unreachable,
    /// Anything else.
    Other,
}

impl KmsError {
    /// The class of this failure.
    pub fn class(&self) -> KmsFailure {
        match self {
            KmsError::AccessDenied { .. } => KmsFailure::AccessDenied,
            KmsError::KeyDisabled { .. } | KmsError::KeyNotFound { .. } => KmsFailure::KeyUnusable,
            KmsError::InvalidCiphertext { .. } | KmsError::WrongKey { .. } => {
                KmsFailure::InvalidCiphertext
            }
            KmsError::Throttled => KmsFailure::Throttled,
            KmsError::NoCredentials | KmsError::NoRegion => KmsFailure::NoCredentials,
            KmsError::Unreachable { .. } => KmsFailure::Unreachable,
            KmsError::Service { .. } | KmsError::BadResponse(_) => KmsFailure::Other,
        }
    }
}

/// A decoded KMS slot: the key ARN as KMS returned it, and the ciphertext blob.
#[derive(Clone, PartialEq, Eq)]
pub struct KmsSlot {
    key_arn: String,
    ciphertext_blob: Vec<u8>,
}

impl fmt::Debug for KmsSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsSlot")
            .field("key_arn", &self.key_arn)
            .field("blob_len", &self.ciphertext_blob.len())
            .finish()
    }
}

impl KmsSlot {
    /// The ARN of the KMS key the slot names. Not authenticated until the file key is
    /// recovered and the header MAC checked: never trust it alone.
    pub fn key_arn(&self) -> &str {
        &self.key_arn
    }

    /// The KMS ciphertext blob.
    pub fn ciphertext_blob(&self) -> &[u8] {
        &self.ciphertext_blob
    }

    /// A slot from its parts, checking the bounds a reader checks.
    ///
    /// # Errors
    /// [`Error::InvalidHeader`], as a reader would give for the encoded body.
    pub fn new(key_arn: String, ciphertext_blob: Vec<u8>) -> Result<Self> {
        check_arn(&key_arn)?;
        check_blob(&ciphertext_blob)?;
        Ok(KmsSlot {
            key_arn,
            ciphertext_blob,
        })
    }

    /// `u16 ARN length || ARN || u16 blob length || blob`, big-endian lengths.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(4 + self.key_arn.len() + self.ciphertext_blob.len());
        body.extend_from_slice(&(self.key_arn.len() as u16).to_be_bytes());
        body.extend_from_slice(self.key_arn.as_bytes());
        body.extend_from_slice(&(self.ciphertext_blob.len() as u16).to_be_bytes());
        body.extend_from_slice(&self.ciphertext_blob);
        body
    }

    /// Strict decode: both lengths within bounds and non-zero, the ARN printable ASCII
    /// starting `arn:`, nothing after the blob.
    pub(crate) fn decode(body: &[u8]) -> Result<Self> {
        let (arn, rest) = take_field(body, "KMS slot body ends inside the key ARN")?;
        let (blob, rest) = take_field(rest, "KMS slot body ends inside the ciphertext blob")?;
        if !rest.is_empty() {
            return Err(Error::InvalidHeader(
                "KMS slot body has bytes after the ciphertext blob",
            ));
        }
        let arn = std::str::from_utf8(arn)
            .map_err(|_| Error::InvalidHeader("KMS slot key ARN is not printable ASCII"))?;
        Self::new(arn.to_owned(), blob.to_vec())
    }

    /// The account field of the ARN (`arn:partition:kms:region:account:key/id`), when the
    /// ARN has that shape.
    fn account(&self) -> Option<&str> {
        let mut fields = self.key_arn.splitn(6, ':');
        let (_arn, _partition, service, _region, account, resource) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        (service == "kms" && resource.starts_with("key/") && !account.is_empty()).then_some(account)
    }
}

/// Splits `u16 length || bytes` off the front of `bytes`.
fn take_field<'a>(bytes: &'a [u8], truncated: &'static str) -> Result<(&'a [u8], &'a [u8])> {
    let len = bytes
        .get(..2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or(Error::InvalidHeader(truncated))?;
    let field = bytes
        .get(2..2 + len)
        .ok_or(Error::InvalidHeader(truncated))?;
    Ok((field, &bytes[2 + len..]))
}

fn check_arn(arn: &str) -> Result<()> {
    if arn.is_empty() || arn.len() > MAX_ARN_LEN {
        return Err(Error::InvalidHeader(
            "KMS slot key ARN length is not 1 to 512 bytes",
        ));
    }
    if !arn.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::InvalidHeader(
            "KMS slot key ARN is not printable ASCII",
        ));
    }
    if !arn.starts_with("arn:") {
        return Err(Error::InvalidHeader(
            "KMS slot key ARN does not start with arn:",
        ));
    }
    Ok(())
}

fn check_blob(blob: &[u8]) -> Result<()> {
    if blob.is_empty() || blob.len() > MAX_BLOB_LEN {
        return Err(Error::InvalidHeader(
            "KMS slot ciphertext blob length is not 1 to 1024 bytes",
        ));
    }
    Ok(())
}

/// The encryption context of every KMS call for this file: the file's context pairs
/// and `coffer:header-nonce` = lowercase hex of the header nonce.
///
/// # Errors
/// [`Error::InvalidHeader`] if the file's context uses a reserved `coffer:` key (the
/// context parser refuses those; this is the second line).
pub fn encryption_context(file: FileBinding<'_>) -> Result<EncryptionContext> {
    let mut context = EncryptionContext::new();
    for (key, value) in file.context.pairs() {
        if key.starts_with(RESERVED_CONTEXT_PREFIX) {
            return Err(Error::InvalidHeader(
                "context keys starting with coffer: are reserved",
            ));
        }
        context.insert(key.to_owned(), value.to_owned());
    }
    let hex: String = file
        .header_nonce
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    context.insert(CONTEXT_KEY_HEADER_NONCE.to_owned(), hex);
    Ok(context)
}

/// Writes KMS slots: one KMS `Encrypt` per file, under one key.
pub struct KmsRecipient {
    client: Arc<dyn KmsClient>,
    key_id: String,
    /// Where sealed file keys are remembered, when a read-back needs them.
    memory: OnceLock<Arc<Mutex<Cache>>>,
}

impl KmsRecipient {
    /// A recipient for `key_id` (key ID, key ARN, alias name or alias ARN).
    pub fn new(client: Arc<dyn KmsClient>, key_id: impl Into<String>) -> Self {
        KmsRecipient {
            client,
            key_id: key_id.into(),
            memory: OnceLock::new(),
        }
    }

    /// The client this recipient calls.
    pub fn client(&self) -> Arc<dyn KmsClient> {
        Arc::clone(&self.client)
    }

    /// From now on, remembers every file key it seals in `identity` (for the run), so
    /// that what this run wrote can be read back without a `Decrypt` call, and without
    /// the `kms:Decrypt` permission a backup role should not have.
    pub fn remember_in(&self, identity: &KmsIdentity) {
        let _ = self.memory.set(Arc::clone(&identity.cache));
    }
}

impl Recipient for KmsRecipient {
    fn seal(&self, file_key: &FileKey, file: FileBinding<'_>) -> Result<RawSlot> {
        let context = encryption_context(file)?;
        let encrypted = self
            .client
            .encrypt(&self.key_id, file_key.expose(), &context)?;
        let slot = KmsSlot::new(encrypted.key_arn, encrypted.ciphertext_blob).map_err(|_| {
            KmsError::BadResponse("the key ARN or ciphertext blob is out of a slot's bounds")
        })?;
        if let Some(memory) = self.memory.get() {
            let key = FileKey::from_bytes(*file_key.expose());
            let entry = (slot.ciphertext_blob.clone(), context);
            memory.lock().expect("cache lock").insert(entry, key);
        }
        Ok(RawSlot {
            slot_type: SLOT_TYPE,
            body: slot.encode(),
        })
    }
}

/// One entry of an allow-list, as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AllowedKey {
    /// `arn:...:key/ID`: the slot's ARN must be exactly this.
    KeyArn(String),
    /// A bare key ID (`1234abcd-...` or `mrk-...`): the slot's ARN must end `:key/ID`.
    KeyId(String),
    /// `alias/NAME` or an alias ARN: the ARN it points to is known only to KMS, so KMS
    /// decides (the alias is the `KeyId` of `Decrypt`, which fails for another key).
    Alias(String),
}

impl AllowedKey {
    fn parse(text: &str) -> std::result::Result<Self, String> {
        if text.is_empty() || text.len() > 2048 || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("{text:?} is not a KMS key ID, key ARN or alias"));
        }
        Ok(if text.starts_with("alias/") || text.contains(":alias/") {
            AllowedKey::Alias(text.to_owned())
        } else if text.starts_with("arn:") {
            AllowedKey::KeyArn(text.to_owned())
        } else {
            AllowedKey::KeyId(text.to_owned())
        })
    }

    /// Whether this entry names the slot's key without asking KMS.
    fn names(&self, key_arn: &str) -> bool {
        match self {
            AllowedKey::KeyArn(arn) => arn == key_arn,
            AllowedKey::KeyId(id) => key_arn
                .strip_suffix(id.as_str())
                .is_some_and(|head| head.ends_with(":key/")),
            AllowedKey::Alias(_) => false,
        }
    }

    fn as_str(&self) -> &str {
        match self {
            AllowedKey::KeyArn(s) | AllowedKey::KeyId(s) | AllowedKey::Alias(s) => s,
        }
    }
}

/// Which KMS keys an identity may ask KMS to use.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyPolicy {
    /// Only these keys: the slot's ARN must match one (aliases: KMS checks).
    AllowList(Vec<AllowedKey>),
    /// Any key the slot names (the AWS Encryption SDK's "discovery"), restricted to
    /// these AWS accounts when the list is not empty.
    Discovery { accounts: Vec<String> },
}

/// Cached file keys: (ciphertext blob, encryption context) -> file key.
type Cache = HashMap<(Vec<u8>, EncryptionContext), FileKey>;

/// Opens KMS slots through a [`KmsClient`], only for keys its policy allows.
///
/// Unwrapped file keys are cached in memory for the identity's life (one run), so a
/// slot opened twice (rekey, a read-back before `--delete-source`) costs one `Decrypt`.
#[derive(Clone)]
pub struct KmsIdentity {
    client: Arc<dyn KmsClient>,
    policy: KeyPolicy,
    /// Shared by clones, and with the recipients told to [`KmsRecipient::remember_in`].
    cache: Arc<Mutex<Cache>>,
}

impl KmsIdentity {
    /// An identity that asks KMS only about the keys listed: key IDs, key ARNs, alias
    /// names (`alias/NAME`) or alias ARNs.
    ///
    /// # Errors
    /// A message naming an entry that is none of these.
    pub fn allow_list<S: AsRef<str>>(
        client: Arc<dyn KmsClient>,
        keys: &[S],
    ) -> std::result::Result<Self, String> {
        let keys = keys
            .iter()
            .map(|k| AllowedKey::parse(k.as_ref()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Self::with_policy(client, KeyPolicy::AllowList(keys)))
    }

    /// An identity that asks KMS about whatever key a slot names, only in `accounts`
    /// (12-digit AWS account IDs) when that is not empty.
    pub fn discovery<S: AsRef<str>>(client: Arc<dyn KmsClient>, accounts: &[S]) -> Self {
        let accounts = accounts.iter().map(|a| a.as_ref().to_owned()).collect();
        Self::with_policy(client, KeyPolicy::Discovery { accounts })
    }

    /// The client this identity calls (to make an opened slot again, `rekey --rotate`).
    pub fn client(&self) -> Arc<dyn KmsClient> {
        Arc::clone(&self.client)
    }

    /// An identity that asks KMS nothing: it opens only the slots that recipients
    /// remembering in it ([`KmsRecipient::remember_in`]) sealed.
    pub fn remembered_only(client: Arc<dyn KmsClient>) -> Self {
        Self::with_policy(client, KeyPolicy::AllowList(Vec::new()))
    }

    fn with_policy(client: Arc<dyn KmsClient>, policy: KeyPolicy) -> Self {
        KmsIdentity {
            client,
            policy,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The `KeyId`s to try `Decrypt` with for this slot, each with whether a refusal
    /// for another key ends the attempt (an alias may simply point elsewhere).
    fn candidates<'a>(&'a self, slot: &'a KmsSlot) -> Vec<(&'a str, bool)> {
        match &self.policy {
            KeyPolicy::AllowList(keys) => {
                if let Some(key) = keys.iter().find(|k| k.names(&slot.key_arn)) {
                    return vec![(key.as_str(), true)];
                }
                keys.iter()
                    .filter(|k| matches!(k, AllowedKey::Alias(_)))
                    .map(|k| (k.as_str(), false))
                    .collect()
            }
            KeyPolicy::Discovery { accounts } => {
                let allowed = match slot.account() {
                    Some(account) => accounts.is_empty() || accounts.iter().any(|a| a == account),
                    None => false,
                };
                if allowed {
                    vec![(slot.key_arn.as_str(), true)]
                } else {
                    Vec::new()
                }
            }
        }
    }

    fn decrypt(
        &self,
        slot: &KmsSlot,
        key_id: &str,
        context: &EncryptionContext,
    ) -> std::result::Result<FileKey, KmsError> {
        let decrypted = self
            .client
            .decrypt(&slot.ciphertext_blob, key_id, context)?;
        if decrypted.key_arn != slot.key_arn {
            return Err(KmsError::WrongKey {
                key: slot.key_arn.clone(),
            });
        }
        let bytes: [u8; FILE_KEY_LEN] = decrypted
            .plaintext
            .as_slice()
            .try_into()
            .map_err(|_| KmsError::BadResponse("the plaintext is not a 32-byte file key"))?;
        Ok(FileKey::from_bytes(bytes))
    }
}

impl Identity for KmsIdentity {
    fn open(&self, slot: &Slot, file: FileBinding<'_>) -> Result<Option<FileKey>> {
        let Slot::Kms(slot) = slot else {
            return Ok(None);
        };
        let context = encryption_context(file)?;
        let cache_key = (slot.ciphertext_blob.clone(), context);
        if let Some(key) = self.cache.lock().expect("cache lock").get(&cache_key) {
            return Ok(Some(FileKey::from_bytes(*key.expose())));
        }
        for (key_id, decisive) in self.candidates(slot) {
            match self.decrypt(slot, key_id, &cache_key.1) {
                Ok(key) => {
                    let copy = FileKey::from_bytes(*key.expose());
                    self.cache
                        .lock()
                        .expect("cache lock")
                        .insert(cache_key, copy);
                    return Ok(Some(key));
                }
                Err(KmsError::WrongKey { .. }) if !decisive => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_kms_answer_shows_the_key_not_the_plaintext() {
        let answer = Decrypted {
            key_arn: "arn:aws:kms:r:1:key/k".to_string(),
            plaintext: Zeroizing::new(vec![0x41; 32]),
        };
        let text = format!("{answer:?}");
        assert!(text.contains("key/k") && !text.contains("65"), "{text}");
    }

    #[test]
    fn only_a_kms_key_arn_has_an_account() {
        let blob = vec![7; 64];
        let slot = |arn: &str| KmsSlot::new(arn.to_string(), blob.clone()).unwrap();
        let key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(slot(key).account(), Some("111122223333"));
        assert_eq!(
            slot("arn:aws:kms:eu-west-1:111122223333:alias/backup").account(),
            None
        );
        assert_eq!(
            slot("arn:aws:s3:eu-west-1:111122223333:key/x").account(),
            None
        );
        assert_eq!(slot("arn:aws:kms:eu-west-1::key/x").account(), None);
    }

    #[test]
    fn an_arn_must_be_1_to_512_bytes() {
        let blob = vec![7; 64];
        for bad in [
            String::new(),
            format!("arn:aws:kms:r:1:key/{}", "a".repeat(500)),
        ] {
            let err = KmsSlot::new(bad, blob.clone()).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidHeader("KMS slot key ARN length is not 1 to 512 bytes")
                ),
                "{err:?}"
            );
        }
        KmsSlot::new(format!("arn:aws:kms:r:1:key/{}", "a".repeat(492)), blob).unwrap();
    }

    #[test]
    fn a_slot_shows_the_blob_it_was_made_with() {
        let blob: Vec<u8> = (0..200).map(|i| i as u8).collect();
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let slot = KmsSlot::new(arn.to_string(), blob.clone()).unwrap();
        assert_eq!(slot.ciphertext_blob(), &blob[..]);
        assert_eq!(slot.key_arn(), arn);
    }
    use crate::keys::HeaderNonce;

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const OTHER_ARN: &str =
        "arn:aws:kms:us-east-1:444455556666:key/0987dcba-09fe-87dc-65ba-ab0987654321";

    /// A KMS double: "encrypts" by recording the plaintext and context under a counter
    /// blob; decrypts only with the same context, and fails as told.
    #[derive(Default)]
    struct Double {
        stored: Mutex<Vec<(String, Vec<u8>, EncryptionContext)>>,
        fail_decrypt: Mutex<Option<KmsError>>,
        decrypt_calls: Mutex<Vec<String>>,
        /// Aliases this double knows: alias -> ARN.
        aliases: Vec<(String, String)>,
    }

    impl Double {
        /// As KMS resolves a KeyId: an alias to its key, a bare key ID to its ARN.
        fn resolve(&self, key_id: &str) -> String {
            if let Some((_, arn)) = self.aliases.iter().find(|(alias, _)| alias == key_id) {
                return arn.clone();
            }
            [ARN, OTHER_ARN]
                .into_iter()
                .find(|arn| arn.ends_with(&format!(":key/{key_id}")))
                .unwrap_or(key_id)
                .to_owned()
        }
    }

    impl KmsClient for Double {
        fn encrypt(
            &self,
            key_id: &str,
            plaintext: &[u8],
            context: &EncryptionContext,
        ) -> std::result::Result<Encrypted, KmsError> {
            let arn = self.resolve(key_id);
            let mut stored = self.stored.lock().unwrap();
            stored.push((arn.clone(), plaintext.to_vec(), context.clone()));
            Ok(Encrypted {
                key_arn: arn,
                ciphertext_blob: (stored.len() as u32).to_be_bytes().to_vec(),
            })
        }

        fn decrypt(
            &self,
            blob: &[u8],
            key_id: &str,
            context: &EncryptionContext,
        ) -> std::result::Result<Decrypted, KmsError> {
            self.decrypt_calls.lock().unwrap().push(key_id.to_owned());
            if let Some(err) = self.fail_decrypt.lock().unwrap().clone() {
                return Err(err);
            }
            let index = u32::from_be_bytes(blob.try_into().unwrap()) as usize - 1;
            let (arn, plaintext, made_with) = self.stored.lock().unwrap()[index].clone();
            if self.resolve(key_id) != arn {
                return Err(KmsError::WrongKey { key: key_id.into() });
            }
            if &made_with != context {
                return Err(KmsError::InvalidCiphertext { key: key_id.into() });
            }
            Ok(Decrypted {
                key_arn: arn,
                plaintext: Zeroizing::new(plaintext),
            })
        }
    }

    fn seal_with(client: &Arc<Double>, key: &str, nonce: &HeaderNonce) -> (FileKey, Slot) {
        let file_key = FileKey::generate();
        let raw = KmsRecipient::new(client.clone(), key)
            .seal(&file_key, FileBinding::without_context(nonce))
            .unwrap();
        (file_key, Slot::decode(&raw).unwrap())
    }

    fn open_with(
        identity: &KmsIdentity,
        slot: &Slot,
        nonce: &HeaderNonce,
    ) -> Result<Option<FileKey>> {
        identity.open(slot, FileBinding::without_context(nonce))
    }

    #[test]
    fn a_sealed_slot_opens_with_its_key_arn_or_key_id() {
        let client = Arc::new(Double::default());
        let nonce = [7; 32];
        let (file_key, slot) = seal_with(&client, ARN, &nonce);
        let context = client.stored.lock().unwrap()[0].2.clone();
        assert_eq!(context[CONTEXT_KEY_HEADER_NONCE], "07".repeat(32));
        for allowed in [ARN, "1234abcd-12ab-34cd-56ef-1234567890ab"] {
            let identity = KmsIdentity::allow_list(client.clone(), &[allowed]).unwrap();
            let opened = open_with(&identity, &slot, &nonce).unwrap().unwrap();
            assert_eq!(opened.expose(), file_key.expose());
        }
        // The key ID is what the user allowed, passed to KMS as the KeyId.
        assert_eq!(
            client.decrypt_calls.lock().unwrap()[1],
            "1234abcd-12ab-34cd-56ef-1234567890ab"
        );
    }

    #[test]
    fn a_key_not_in_the_allow_list_is_refused_without_asking_kms() {
        let client = Arc::new(Double::default());
        let (_, slot) = seal_with(&client, ARN, &[1; 32]);
        // A key ID that is only a suffix of the slot's key ID does not count.
        for allowed in [
            OTHER_ARN,
            "12ab-34cd-56ef-1234567890ab",
            "abcd-12ab-34cd-56ef-1234567890ab",
        ] {
            let identity = KmsIdentity::allow_list(client.clone(), &[allowed]).unwrap();
            assert!(open_with(&identity, &slot, &[1; 32]).unwrap().is_none());
        }
        assert!(client.decrypt_calls.lock().unwrap().is_empty());
    }

    #[test]
    fn an_alias_is_checked_by_kms_and_one_pointing_elsewhere_opens_nothing() {
        let client = Arc::new(Double {
            aliases: vec![
                ("alias/backup".into(), ARN.into()),
                ("alias/other".into(), OTHER_ARN.into()),
            ],
            ..Double::default()
        });
        let (file_key, slot) = seal_with(&client, "alias/backup", &[2; 32]);
        assert!(matches!(&slot, Slot::Kms(s) if s.key_arn() == ARN));
        let other = KmsIdentity::allow_list(client.clone(), &["alias/other"]).unwrap();
        assert!(open_with(&other, &slot, &[2; 32]).unwrap().is_none());
        let both =
            KmsIdentity::allow_list(client.clone(), &["alias/other", "alias/backup"]).unwrap();
        let opened = open_with(&both, &slot, &[2; 32]).unwrap().unwrap();
        assert_eq!(opened.expose(), file_key.expose());
    }

    #[test]
    fn a_slot_moved_into_another_file_does_not_open() {
        let client = Arc::new(Double::default());
        let (_, slot) = seal_with(&client, ARN, &[3; 32]);
        let identity = KmsIdentity::allow_list(client.clone(), &[ARN]).unwrap();
        let err = open_with(&identity, &slot, &[4; 32]).unwrap_err();
        assert!(
            matches!(&err, Error::Kms(e) if e.class() == KmsFailure::InvalidCiphertext),
            "{err}"
        );
    }

    #[test]
    fn a_header_naming_another_key_than_the_blobs_is_refused() {
        let client = Arc::new(Double::default());
        let (_, slot) = seal_with(&client, ARN, &[5; 32]);
        let Slot::Kms(kms) = slot else { unreachable!() };
        let forged =
            Slot::Kms(KmsSlot::new(OTHER_ARN.into(), kms.ciphertext_blob.clone()).unwrap());
        let identity = KmsIdentity::allow_list(client.clone(), &[OTHER_ARN]).unwrap();
        let err = open_with(&identity, &forged, &[5; 32]).unwrap_err();
        assert!(
            matches!(err, Error::Kms(KmsError::WrongKey { .. })),
            "{err}"
        );
    }

    #[test]
    fn failures_of_kms_keep_their_class() {
        let classes = [
            (
                KmsError::AccessDenied { key: ARN.into() },
                KmsFailure::AccessDenied,
            ),
            (
                KmsError::KeyDisabled { key: ARN.into() },
                KmsFailure::KeyUnusable,
            ),
            (
                KmsError::KeyNotFound { key: ARN.into() },
                KmsFailure::KeyUnusable,
            ),
            (KmsError::Throttled, KmsFailure::Throttled),
            (KmsError::NoCredentials, KmsFailure::NoCredentials),
            (
                KmsError::Unreachable {
                    detail: "timed out".into(),
                },
                KmsFailure::Unreachable,
            ),
        ];
        for (failure, class) in classes {
            let client = Arc::new(Double::default());
            let (_, slot) = seal_with(&client, ARN, &[6; 32]);
            *client.fail_decrypt.lock().unwrap() = Some(failure.clone());
            let identity = KmsIdentity::allow_list(client.clone(), &[ARN]).unwrap();
            match open_with(&identity, &slot, &[6; 32]) {
                Err(Error::Kms(got)) => {
                    assert_eq!(got, failure);
                    assert_eq!(got.class(), class);
                }
                other => panic!("{failure}: got {other:?}"),
            }
        }
    }

    #[test]
    fn discovery_opens_any_key_of_the_allowed_accounts_only() {
        let client = Arc::new(Double::default());
        let (file_key, slot) = seal_with(&client, ARN, &[8; 32]);
        let anywhere = KmsIdentity::discovery::<&str>(client.clone(), &[]);
        assert_eq!(
            open_with(&anywhere, &slot, &[8; 32])
                .unwrap()
                .unwrap()
                .expose(),
            file_key.expose()
        );
        let ours = KmsIdentity::discovery(client.clone(), &["111122223333"]);
        assert!(open_with(&ours, &slot, &[8; 32]).unwrap().is_some());
        let theirs = KmsIdentity::discovery(client.clone(), &["444455556666"]);
        assert!(open_with(&theirs, &slot, &[8; 32]).unwrap().is_none());
        assert_eq!(client.decrypt_calls.lock().unwrap().len(), 2);
    }

    #[test]
    fn a_slot_opened_twice_costs_one_decrypt() {
        let client = Arc::new(Double::default());
        let (_, slot) = seal_with(&client, ARN, &[9; 32]);
        let identity = KmsIdentity::allow_list(client.clone(), &[ARN]).unwrap();
        assert!(open_with(&identity, &slot, &[9; 32]).unwrap().is_some());
        assert!(open_with(&identity, &slot, &[9; 32]).unwrap().is_some());
        assert_eq!(client.decrypt_calls.lock().unwrap().len(), 1);
        // Another file (another context) is not served from the cache.
        assert!(open_with(&identity, &slot, &[10; 32]).is_err());
    }

    #[test]
    fn a_remembering_recipient_lets_its_run_read_back_without_kms() {
        let client = Arc::new(Double::default());
        let memory = KmsIdentity::remembered_only(client.clone());
        let recipient = KmsRecipient::new(client.clone(), ARN);
        recipient.remember_in(&memory);
        let file_key = FileKey::generate();
        let raw = recipient
            .seal(&file_key, FileBinding::without_context(&[11; 32]))
            .unwrap();
        let slot = Slot::decode(&raw).unwrap();
        let opened = open_with(&memory, &slot, &[11; 32]).unwrap().unwrap();
        assert_eq!(opened.expose(), file_key.expose());
        assert!(client.decrypt_calls.lock().unwrap().is_empty());
        // It opens nothing else, and asks KMS nothing.
        let (_, other) = seal_with(&client, ARN, &[12; 32]);
        assert!(open_with(&memory, &other, &[12; 32]).unwrap().is_none());
        assert!(client.decrypt_calls.lock().unwrap().is_empty());
    }

    #[test]
    fn bodies_decode_strictly() {
        let good = KmsSlot::new(ARN.into(), vec![0xAB; 180]).unwrap().encode();
        assert_eq!(KmsSlot::decode(&good).unwrap().key_arn(), ARN);
        let mut trailing = good.clone();
        trailing.push(0);
        let mut overrun = good.clone();
        overrun[0] = 0xFF;
        let zero_arn = [&[0, 0][..], &[0, 1, 0xAB]].concat();
        let zero_blob = [&[0, 4][..], b"arn:", &[0, 0]].concat();
        let not_arn = KmsSlot {
            key_arn: "alias/backup".into(),
            ciphertext_blob: vec![1],
        }
        .encode();
        let spaces = KmsSlot {
            key_arn: "arn: x".into(),
            ciphertext_blob: vec![1],
        }
        .encode();
        let long_blob = KmsSlot {
            key_arn: ARN.into(),
            ciphertext_blob: vec![1; MAX_BLOB_LEN + 1],
        }
        .encode();
        for bad in [
            &trailing[..],
            &overrun,
            &good[..good.len() - 1],
            &good[..1],
            &[],
            &zero_arn,
            &zero_blob,
            &not_arn,
            &spaces,
            &long_blob,
        ] {
            assert!(
                matches!(KmsSlot::decode(bad), Err(Error::InvalidHeader(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn allow_list_entries_must_look_like_keys() {
        let client: Arc<dyn KmsClient> = Arc::new(Double::default());
        assert!(KmsIdentity::allow_list(client.clone(), &[""]).is_err());
        assert!(KmsIdentity::allow_list(client.clone(), &["alias/a b"]).is_err());
        assert!(KmsIdentity::allow_list(client, &["alias/a", ARN, "mrk-1"]).is_ok());
    }

    #[test]
    fn a_blob_may_be_1024_bytes_not_more() {
        let arn = "arn:aws:kms:r:1:key/k".to_string();
        KmsSlot::new(arn.clone(), vec![7; MAX_BLOB_LEN]).unwrap();
        assert!(matches!(
            KmsSlot::new(arn, vec![7; MAX_BLOB_LEN + 1]),
            Err(Error::InvalidHeader(_))
        ));
    }

    #[test]
    fn an_allowed_key_may_be_2048_characters_not_more() {
        assert!(matches!(
            AllowedKey::parse(&"k".repeat(2048)),
            Ok(AllowedKey::KeyId(_))
        ));
        assert!(AllowedKey::parse(&"k".repeat(2049)).is_err());
        assert!(AllowedKey::parse("").is_err());
    }

    #[test]
    fn debug_of_a_slot_shows_the_key_and_the_blob_length() {
        let slot = KmsSlot::new("arn:aws:kms:r:1:key/k".to_string(), vec![0x41; 40]).unwrap();
        assert_eq!(
            format!("{slot:?}"),
            r#"KmsSlot { key_arn: "arn:aws:kms:r:1:key/k", blob_len: 40 }"#
        );
    }
}
