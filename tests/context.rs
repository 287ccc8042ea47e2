//! The encryption context through the library (FORMAT.md, "Context"): stored, bound into
//! the payload and given to slots; kept by rekey; compared exactly.

use std::io::{Read, Write};
use std::sync::Mutex;

use coffer::{
    Context, Decryptor, Encryptor, Error, FileBinding, FileKey, Identity, RawSlot, Recipient, Slot,
    SymmetricKey,
};

fn context(pairs: &[(&str, &str)]) -> Context {
    Context::from_pairs(pairs.iter().copied()).unwrap()
}

fn encrypt(key: &SymmetricKey, context: Context, plaintext: &[u8]) -> Vec<u8> {
    let mut writer = Encryptor::with_context(&[key], context)
        .unwrap()
        .writer(Vec::new())
        .unwrap();
    writer.write_all(plaintext).unwrap();
    writer.finish().unwrap()
}

#[test]
fn a_file_with_a_context_round_trips_and_says_its_context() {
    let key = SymmetricKey::generate();
    let wanted = context(&[("host", "db1"), ("path", "/srv")]);
    let file = encrypt(&key, wanted.clone(), &[5; 40_000]);
    let decryptor = Decryptor::new(&file[..]).unwrap();
    assert_eq!(decryptor.context(), &wanted);
    decryptor.context().must_equal(&wanted).unwrap();
    assert_eq!(coffer::decrypt(&[&key], &file).unwrap(), vec![5; 40_000]);
}

#[test]
fn an_empty_context_writes_a_file_like_new() {
    let key = SymmetricKey::generate();
    let file = encrypt(&key, Context::new(), b"x");
    assert_eq!(file[9], 0, "no flag");
    let plain = coffer::encrypt(&[&key], b"x").unwrap();
    assert_eq!(file.len(), plain.len());
    assert!(Decryptor::new(&file[..]).unwrap().context().is_empty());
}

#[test]
fn must_equal_wants_every_pair_and_no_more() {
    let file = context(&[("a", "1"), ("b", "2")]);
    for asked in [
        context(&[("a", "1")]),
        context(&[("a", "1"), ("b", "3")]),
        context(&[("a", "1"), ("b", "2"), ("c", "3")]),
        Context::new(),
    ] {
        let err = file.must_equal(&asked).unwrap_err();
        assert!(matches!(err, Error::ContextMismatch(_)), "{asked:?}: {err}");
        assert_eq!(err.kind(), coffer::ErrorKind::ContextMismatch);
    }
}

/// A recipient that records the binding it is given, then seals like a key file.
struct Recording {
    key: SymmetricKey,
    seen: Mutex<Vec<Context>>,
}

impl Recipient for Recording {
    fn seal(&self, file_key: &FileKey, file: FileBinding<'_>) -> coffer::Result<RawSlot> {
        self.seen.lock().unwrap().push(file.context.clone());
        self.key.seal(file_key, file)
    }
}

/// An identity that records the binding it is given, then opens like a key file.
struct RecordingIdentity {
    key: SymmetricKey,
    seen: Mutex<Vec<Context>>,
}

impl Identity for RecordingIdentity {
    fn open(&self, slot: &Slot, file: FileBinding<'_>) -> coffer::Result<Option<FileKey>> {
        self.seen.lock().unwrap().push(file.context.clone());
        self.key.open(slot, file)
    }
}

#[test]
fn slots_are_given_the_context_on_seal_open_and_rekey() {
    let wanted = context(&[("bucket", "backups")]);
    let recipient = Recording {
        key: SymmetricKey::from_bytes([7; 32]),
        seen: Mutex::new(Vec::new()),
    };
    let mut writer = Encryptor::with_context(&[&recipient], wanted.clone())
        .unwrap()
        .writer(Vec::new())
        .unwrap();
    writer.write_all(b"data").unwrap();
    let file = writer.finish().unwrap();
    assert_eq!(*recipient.seen.lock().unwrap(), vec![wanted.clone()]);

    let identity = RecordingIdentity {
        key: SymmetricKey::from_bytes([7; 32]),
        seen: Mutex::new(Vec::new()),
    };
    let decryptor = Decryptor::new(&file[..]).unwrap();
    let file_key = decryptor.unlock(&[&identity]).unwrap();
    assert_eq!(*identity.seen.lock().unwrap(), vec![wanted.clone()]);

    // A header-only rekey keeps the block; the new slot is sealed in the same context.
    let added = Recording {
        key: SymmetricKey::generate(),
        seen: Mutex::new(Vec::new()),
    };
    let header = decryptor.rekey(&file_key, &[0], &[&added]).unwrap();
    assert_eq!(*added.seen.lock().unwrap(), vec![wanted.clone()]);
    assert_eq!(header.context(), &wanted);
    let mut rekeyed = header.as_bytes().to_vec();
    let mut payload = Vec::new();
    decryptor.into_payload().read_to_end(&mut payload).unwrap();
    rekeyed.extend_from_slice(&payload);
    assert_eq!(coffer::decrypt(&[&added.key], &rekeyed).unwrap(), b"data");
}

/// A slot of a type this version does not know, with a passphrase slot's body length.
struct Opaque;

impl Recipient for Opaque {
    fn seal(&self, _: &FileKey, _: FileBinding<'_>) -> coffer::Result<RawSlot> {
        Ok(RawSlot {
            slot_type: 0xf0,
            body: vec![0; 108],
        })
    }
}

#[test]
fn the_largest_context_fits_beside_sixteen_passphrase_sized_slots() {
    // 2 + (6 + 1024) + (6 + 1010) = 2048 bytes: the block's limit (FORMAT.md, "Limits").
    let largest = context(&[("k0", &"v".repeat(1024)), ("k1", &"w".repeat(1010))]);
    assert_eq!(largest.encoded_len(), 2048);
    let mut over = largest.clone();
    assert!(
        over.insert("k2", "x").is_err(),
        "one more pair passes the limit"
    );
    let slots: Vec<&dyn Recipient> = vec![&Opaque; 16];
    let encryptor = Encryptor::with_context(&slots, largest.clone()).unwrap();
    assert_eq!(encryptor.header().len(), 48 + 2048 + 16 * 112 + 32);
    let parsed = Decryptor::new(encryptor.header().as_bytes()).unwrap();
    assert_eq!(parsed.context(), &largest);
}
