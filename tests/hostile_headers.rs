//! Headers built to make a reader work: every refusal must come before any Argon2id
//! derivation, and name the limit and the option that raises it.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use coffer::internals::format::{Header, RawSlot};
use coffer::internals::slots::passphrase::SLOT_TYPE;
use coffer::kdf::{derivation_count, DEFAULT_MAX_WORK_MIB_PASSES};
use coffer::{
    Decryptor, Error, Identity, KdfParams, Limits, Passphrase, PassphraseIdentity, Recipient,
    SymmetricKey,
};

/// Tests that compare the process-wide derivation count run one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// A passphrase slot body with these parameters and a per-slot salt; the check value and
/// wrapped key are junk (the reader must refuse before it gets that far).
fn slot(memory_kib: u32, passes: u32, lanes: u32, salt: u8) -> RawSlot {
    let mut body = Vec::new();
    body.extend_from_slice(&memory_kib.to_be_bytes());
    body.extend_from_slice(&passes.to_be_bytes());
    body.extend_from_slice(&lanes.to_be_bytes());
    body.extend_from_slice(&[salt; 16]);
    body.extend_from_slice(&[0x55; 80]);
    RawSlot {
        slot_type: SLOT_TYPE,
        body,
    }
}

fn file(slots: Vec<RawSlot>) -> Vec<u8> {
    let header = Header::encode([7; 32], slots, |_| [0; 32]).unwrap();
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(&[0; 56 + 16]);
    bytes
}

fn unlock(bytes: &[u8], limits: Limits) -> Result<coffer::FileKey, Error> {
    let identity = PassphraseIdentity::new(Passphrase::new(b"guess".to_vec()), limits);
    Decryptor::new(bytes)?.unlock(&[&identity as &dyn Identity])
}

/// 16 slots was the worst legal file until the caps were raised for public-key recipients;
/// 64 slots (65535 bytes at most) is the worst now. Both are refused by the same budget.
#[test]
fn sixteen_or_sixty_four_slots_at_the_caps_are_refused_at_once_by_the_work_budget() {
    let _serial = serial();
    for count in [16u8, 64] {
        let slots = (0..count).map(|i| slot(1024 * 1024, 16, 16, i)).collect();
        let bytes = file(slots);
        let before = derivation_count();
        let started = Instant::now();
        let err = unlock(&bytes, Limits::default()).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(derivation_count(), before, "derived before refusing");
        match err {
            Error::KdfWorkOverBudget { work, budget } => {
                assert_eq!(work, u64::from(count) * 1024 * 16);
                assert_eq!(budget, DEFAULT_MAX_WORK_MIB_PASSES);
            }
            other => panic!("{other}"),
        }
        assert!(
            err_text(&bytes).contains("budget of 8192"),
            "{}",
            err_text(&bytes)
        );
    }
}

/// A header of 54 junk hybrid slots (the most a header holds) costs a hybrid identity 54
/// decapsulations and nothing else: no slot opens, nothing panics.
#[test]
fn a_header_full_of_junk_hybrid_slots_opens_nothing() {
    let junk = |i: u8| RawSlot {
        slot_type: coffer::internals::slots::hybrid::SLOT_TYPE,
        body: vec![i; coffer::internals::slots::hybrid::BODY_LEN],
    };
    let bytes = file((1..=54).map(junk).collect());
    let identity = coffer::HybridIdentity::generate();
    assert!(matches!(
        Decryptor::new(&bytes[..])
            .unwrap()
            .unlock(&[&identity as &dyn Identity]),
        Err(Error::NoSlotOpened { .. })
    ));
}

fn err_text(bytes: &[u8]) -> String {
    unlock(bytes, Limits::default()).unwrap_err().to_string()
}

#[test]
fn slots_sharing_a_salt_count_once_and_the_budget_can_be_raised() {
    let _serial = serial();
    // Two slots with the same parameters and salt cost one derivation: 64 MiB x 2.
    let same = vec![slot(64 * 1024, 2, 1, 1), slot(64 * 1024, 2, 1, 1)];
    let limits = Limits {
        max_work_mib_passes: 128,
        ..Limits::default()
    };
    // Under budget: the reader goes on to derive, and the junk slots do not open.
    assert!(matches!(
        unlock(&file(same), limits),
        Err(Error::NoSlotOpened { .. })
    ));
    let distinct = vec![slot(64 * 1024, 2, 1, 1), slot(64 * 1024, 2, 1, 2)];
    assert!(matches!(
        unlock(&file(distinct.clone()), limits),
        Err(Error::KdfWorkOverBudget {
            work: 256,
            budget: 128
        })
    ));
    let raised = Limits {
        max_work_mib_passes: 256,
        ..Limits::default()
    };
    assert!(matches!(
        unlock(&file(distinct), raised),
        Err(Error::NoSlotOpened { .. })
    ));
}

/// The parameter a reader with default limits names when it refuses these slots.
fn over_limit_param(slots: Vec<RawSlot>) -> String {
    match unlock(&file(slots), Limits::default()) {
        Err(Error::KdfOverLimit { param, .. }) => param.to_string(),
        other => format!("not KdfOverLimit: {:?}", other.map(|_| ())),
    }
}

#[test]
fn the_caps_of_every_slot_are_checked_before_any_slot_is_judged_runnable() {
    // Slot 0 cannot run at all (t = 0); slot 1 is over the memory cap. The caps come first.
    assert_eq!(
        over_limit_param(vec![slot(64, 0, 1, 1), slot(4 * 1024 * 1024, 2, 1, 2)]),
        "memory"
    );
    // Several parameters over: memory is named first, then passes, then lanes.
    assert_eq!(over_limit_param(vec![slot(4 << 20, 99, 99, 1)]), "memory");
    assert_eq!(over_limit_param(vec![slot(64, 99, 99, 1)]), "passes");
    assert_eq!(over_limit_param(vec![slot(64, 2, 99, 1)]), "lanes");
}

/// A recipient that writes a slot exactly as given: a hostile header with a valid MAC.
struct Verbatim(RawSlot);

impl Recipient for Verbatim {
    fn seal(&self, _: &coffer::FileKey, _: coffer::FileBinding<'_>) -> Result<RawSlot, Error> {
        Ok(self.0.clone())
    }
}

#[test]
fn a_key_file_opens_a_file_whose_passphrase_slots_are_over_every_limit() {
    let _serial = serial();
    let key = SymmetricKey::from_bytes([3; 32]);
    let file_key = coffer::FileKey::from_bytes([4; 32]);
    let hostile = Verbatim(slot(4 << 20, 99, 99, 1));
    let encryptor = coffer::Encryptor::from_parts(&file_key, [7; 32], [8; 24], &[&hostile, &key]);
    let header = encryptor.header();
    let decryptor = Decryptor::new(header.as_bytes()).unwrap();
    let before = derivation_count();
    let identity = PassphraseIdentity::new(Passphrase::new(b"x".to_vec()), Limits::default());
    // The key file is tried first and opens it; the passphrase is never consulted.
    let opened = decryptor
        .unlock(&[&key as &dyn Identity, &identity])
        .unwrap();
    assert_eq!(opened.expose(), file_key.expose());
    // The passphrase alone is refused for the slot's parameters, before any work.
    assert!(matches!(
        decryptor.unlock(&[&identity as &dyn Identity]),
        Err(Error::KdfOverLimit { .. })
    ));
    assert_eq!(derivation_count(), before);
}

#[test]
fn an_unrunnable_memory_request_is_named_as_memory_not_a_bad_header() {
    // Writers may not exceed the caps, and a reader's error for memory it cannot
    // allocate names the machine, not the header (checked end to end under ulimit in
    // tests/cli_keys.rs). Here: the floor and work checks of a writer.
    let err = KdfParams::new(1024, 16, 1)
        .check_floor(&Limits::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::KdfAboveCap {
                unit: " MiB x passes",
                ..
            }
        ),
        "{err}"
    );
    KdfParams::default()
        .check_floor(&Limits::default())
        .unwrap();
    assert!(KdfParams::default().work_mib_passes() * 4 <= DEFAULT_MAX_WORK_MIB_PASSES);
}
