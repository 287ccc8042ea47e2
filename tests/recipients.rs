//! Public-key recipients through the library (issue 9; FORMAT.md, "X25519 slot body" and
//! "Hybrid slot body"): round trips, teams of 32 hybrid recipients, every tampered field,
//! low-order shares, transplanted slots, and keys made by age's own tools.

use std::path::{Path, PathBuf};
use std::process::Command;

use coffer::internals::keys::LABEL_HEADER_MAC;
use coffer::internals::slots::{hybrid, x25519};
use coffer::{
    AnyIdentity, AnyRecipient, Encryptor, Error, FileKey, HybridIdentity, HybridRecipient,
    Identity, KdfParams, Limits, Passphrase, PassphraseIdentity, PassphraseKey, Recipient,
    SymmetricKey, X25519Identity, X25519Recipient,
};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::io::Write;

const PLAINTEXT: &[u8] = b"the backup host wrote this and cannot read it";
/// Where the first slot's body starts: fixed fields (48), slot type, reserved, length (4).
const BODY: usize = 52;
const FILE_KEY: [u8; 32] = [0x5a; 32];
const NONCE: [u8; 32] = [0x17; 32];

/// A file with a known file key, so a test can change its header and sign it again.
fn file_for(recipients: &[&dyn Recipient]) -> Vec<u8> {
    let enc = Encryptor::from_parts(&FileKey::from_bytes(FILE_KEY), NONCE, [3; 24], recipients);
    let mut writer = enc.writer(Vec::new()).unwrap();
    writer.write_all(PLAINTEXT).unwrap();
    writer.finish().unwrap()
}

fn header_len(file: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([file[10], file[11]]))
}

/// Recomputes the header MAC, so that the only thing wrong is what the test changed.
fn remac(file: &mut [u8]) {
    let len = header_len(file);
    let mut mac_key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&file[16..48]), &FILE_KEY)
        .expand(LABEL_HEADER_MAC, &mut mac_key)
        .unwrap();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&mac_key).unwrap();
    mac.update(&file[..len - 32]);
    let tag = mac.finalize().into_bytes();
    file[len - 32..len].copy_from_slice(&tag);
}

fn open(identity: &dyn Identity, file: &[u8]) -> Result<Vec<u8>, Error> {
    coffer::decrypt(&[identity], file)
}

fn small_passphrase_key(pass: &Passphrase) -> PassphraseKey {
    PassphraseKey::generate(pass, KdfParams::new(19, 2, 1), &Limits::default()).unwrap()
}

#[test]
fn each_type_round_trips_and_opens_only_with_its_identity() {
    let classic = X25519Identity::generate();
    let hybrid = HybridIdentity::generate();
    for (identity, recipient) in [
        (
            &classic as &dyn Identity,
            &classic.recipient() as &dyn Recipient,
        ),
        (&hybrid, &hybrid.recipient()),
    ] {
        let file = coffer::encrypt(&[recipient], PLAINTEXT).unwrap();
        assert_eq!(open(identity, &file).unwrap(), PLAINTEXT);
    }
    let file = coffer::encrypt(&[&hybrid.recipient()], PLAINTEXT).unwrap();
    assert_eq!(header_len(&file), 48 + 4 + hybrid::BODY_LEN + 32);
    for stranger in [
        &X25519Identity::generate() as &dyn Identity,
        &HybridIdentity::generate(),
        &classic, // the wrong type
    ] {
        assert!(matches!(
            open(stranger, &file),
            Err(Error::NoSlotOpened { offered: 1, .. })
        ));
    }
}

#[test]
fn recipients_mix_with_passphrase_and_key_file_slots() {
    let classic = X25519Identity::generate();
    let hybrid = HybridIdentity::generate();
    let key_file = SymmetricKey::generate();
    let pass = Passphrase::new(b"mixed slots".to_vec());
    let file = coffer::encrypt(
        &[
            &small_passphrase_key(&pass),
            &classic.recipient(),
            &key_file,
            &hybrid.recipient(),
        ],
        PLAINTEXT,
    )
    .unwrap();
    let by_passphrase = PassphraseIdentity::new(pass, Limits::default());
    for identity in [
        &classic as &dyn Identity,
        &hybrid,
        &key_file,
        &by_passphrase,
    ] {
        assert_eq!(open(identity, &file).unwrap(), PLAINTEXT);
    }
    let names: Vec<&str> = coffer::Decryptor::new(&file[..])
        .unwrap()
        .slots()
        .iter()
        .map(|slot| slot.type_name())
        .collect();
    assert_eq!(names, ["passphrase", "x25519", "key-file", "hybrid"]);
}

#[test]
fn thirty_two_hybrid_recipients_each_open_alone_and_a_33rd_does_not() {
    let team: Vec<HybridIdentity> = (0..32).map(|_| HybridIdentity::generate()).collect();
    let recipients: Vec<HybridRecipient> = team.iter().map(HybridIdentity::recipient).collect();
    let refs: Vec<&dyn Recipient> = recipients.iter().map(|r| r as &dyn Recipient).collect();
    let file = coffer::encrypt(&refs, PLAINTEXT).unwrap();
    assert_eq!(header_len(&file), 48 + 32 * (4 + hybrid::BODY_LEN) + 32);
    for identity in &team {
        assert_eq!(open(identity, &file).unwrap(), PLAINTEXT);
    }
    let outsider = HybridIdentity::generate();
    assert!(matches!(
        open(&outsider, &file),
        Err(Error::NoSlotOpened {
            offered: 1,
            unsupported_slots: 0
        })
    ));
}

#[test]
fn the_header_holds_54_hybrid_slots_and_refuses_55() {
    let recipient = HybridIdentity::generate().recipient();
    let refs = vec![&recipient as &dyn Recipient; 55];
    let file = coffer::encrypt(&refs[..54], b"").unwrap();
    assert_eq!(header_len(&file), 48 + 54 * 1204 + 32);
    let err = coffer::encrypt(&refs, b"").unwrap_err();
    assert!(
        matches!(err, Error::HeaderTooLarge { slots: 55, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("65535"), "{err}");
}

/// Every X25519 point whose multiples by a clamped scalar are all zero (the encodings of
/// the low-order points, and their non-canonical twins).
const LOW_ORDER: [&str; 7] = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

#[test]
fn a_low_order_share_is_refused_in_both_slot_types() {
    let classic = X25519Identity::generate();
    let hybrid = HybridIdentity::generate();
    let classic_file = file_for(&[&classic.recipient()]);
    let hybrid_file = file_for(&[&hybrid.recipient()]);
    // The X25519 share of an X-Wing ciphertext is its last 32 bytes.
    let hybrid_share = BODY + hybrid::CIPHERTEXT_LEN - 32;
    for point in LOW_ORDER {
        let point = hex::decode(point).unwrap();
        for (identity, original, at) in [
            (&classic as &dyn Identity, &classic_file, BODY),
            (&hybrid, &hybrid_file, hybrid_share),
        ] {
            let mut file = original.clone();
            file[at..at + 32].copy_from_slice(&point);
            remac(&mut file);
            assert!(
                matches!(open(identity, &file), Err(Error::HeaderAuthentication)),
                "share {} at {at} was not refused",
                hex::encode(&point)
            );
        }
    }
    let err = coffer::encrypt(&[&X25519Recipient::from_bytes([0; 32])], b"").unwrap_err();
    assert!(matches!(err, Error::InvalidRecipient(_)), "{err}");
}

/// Flips one bit of the first slot at `offset` into its body and says how the file fails
/// with `identity`, with the MAC left alone and with it recomputed.
fn flipped(identity: &dyn Identity, file: &[u8], offset: usize) -> [String; 2] {
    let mut bytes = file.to_vec();
    bytes[BODY + offset] ^= 0x01;
    let plain = format!("{:?}", open(identity, &bytes).map(|_| ()));
    remac(&mut bytes);
    let resigned = format!("{:?}", open(identity, &bytes).map(|_| ()));
    [plain, resigned]
}

#[test]
fn flipped_bits_open_nothing_or_fail_authentication() {
    let no_slot = "Err(NoSlotOpened { offered: 1, unsupported_slots: 0 })";
    let auth = "Err(HeaderAuthentication)";
    let classic = X25519Identity::generate();
    let file = file_for(&[&classic.recipient()]);
    let cases = [
        ("ephemeral share", 0, no_slot),
        ("check", 32, no_slot),
        ("wrapped key", 64, auth),
        ("wrapped key tag", 111, auth),
    ];
    for (field, offset, want) in cases {
        for got in flipped(&classic, &file, offset) {
            assert_eq!(got, want, "X25519 {field}");
        }
    }
    let hybrid = HybridIdentity::generate();
    let file = file_for(&[&hybrid.recipient()]);
    let ct = hybrid::CIPHERTEXT_LEN;
    let cases = [
        ("ML-KEM ciphertext", 0, no_slot),
        ("ML-KEM ciphertext end", 1087, no_slot),
        ("X25519 share", 1088, no_slot),
        ("check", ct, no_slot),
        ("wrapped key", ct + 32, auth),
        ("wrapped key tag", ct + 79, auth),
    ];
    for (field, offset, want) in cases {
        for got in flipped(&hybrid, &file, offset) {
            assert_eq!(got, want, "hybrid {field}");
        }
    }
}

#[test]
fn a_slot_transplanted_from_another_file_does_not_open() {
    let classic = X25519Identity::generate();
    let hybrid = HybridIdentity::generate();
    for (identity, recipient, body_len) in [
        (
            &classic as &dyn Identity,
            &classic.recipient() as &dyn Recipient,
            x25519::BODY_LEN,
        ),
        (&hybrid, &hybrid.recipient(), hybrid::BODY_LEN),
    ] {
        let mut file = file_for(&[recipient]);
        // The same recipient's slot in another file (another header nonce and file key).
        let other = coffer::encrypt(&[recipient], PLAINTEXT).unwrap();
        let body = BODY..BODY + body_len;
        file[body.clone()].copy_from_slice(&other[body]);
        remac(&mut file);
        assert!(matches!(
            open(identity, &file),
            Err(Error::NoSlotOpened { .. })
        ));
    }
}

#[test]
fn an_identity_opens_its_slot_wherever_it_is_in_the_header() {
    let mine = X25519Identity::generate();
    let others: Vec<X25519Recipient> = (0..5)
        .map(|_| X25519Identity::generate().recipient())
        .collect();
    let mut refs: Vec<&dyn Recipient> = others.iter().map(|r| r as &dyn Recipient).collect();
    let my_recipient = mine.recipient();
    refs.insert(3, &my_recipient);
    let file = coffer::encrypt(&refs, PLAINTEXT).unwrap();
    let opened = coffer::Decryptor::new(&file[..])
        .unwrap()
        .slots_opened_by(&mine)
        .unwrap();
    assert_eq!(opened, [3]);
}

#[test]
fn debug_output_redacts_identities() {
    let classic = X25519Identity::generate();
    let hybrid = HybridIdentity::generate();
    let lines = [classic.to_line(), hybrid.to_line()];
    let any: Vec<AnyIdentity> = lines
        .iter()
        .map(|line| AnyIdentity::parse(line).unwrap())
        .collect();
    let debug = format!("{classic:?} {hybrid:?} {any:?}");
    for line in &lines {
        // The Bech32 data of the secret, without its prefix.
        let data = &line[line.find('1').unwrap() + 1..];
        assert!(!debug.to_uppercase().contains(&data[..12]), "{debug}");
    }
    assert_eq!(debug.matches("REDACTED").count(), 4, "{debug}");
}

#[test]
fn recipient_strings_parse_in_both_encodings() {
    let hybrid = HybridIdentity::generate();
    let bytes = hybrid.recipient().to_bytes();
    let text = hybrid.recipient().to_string();
    assert_eq!(text, encode_unlimited("coffer1pq", &bytes));
    let any: AnyRecipient = text.parse().unwrap();
    assert!(any.is_post_quantum());
    assert_eq!(any.to_string(), text);
    // age's encoding of the same key is the same recipient.
    let age = encode_unlimited("age1pq", &bytes);
    assert_eq!(age.parse::<HybridRecipient>().unwrap(), hybrid.recipient());
    let classic = X25519Identity::generate().recipient();
    let age = encode_unlimited("age", classic.as_bytes());
    assert_eq!(
        classic.to_string(),
        encode_unlimited("coffer", classic.as_bytes())
    );
    assert_eq!(
        age.parse::<AnyRecipient>().unwrap(),
        AnyRecipient::X25519(classic)
    );
    // One recipient type is not the other.
    let err = text.parse::<X25519Recipient>().unwrap_err();
    assert!(err.to_string().contains("coffer1 or age1"), "{err}");
    let err = text[..text.len() - 1].parse::<AnyRecipient>().unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
}

/// Bech32 without a length limit, written here independently of the library.
fn encode_unlimited(hrp: &str, data: &[u8]) -> String {
    const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    fn polymod(values: &[u8]) -> u32 {
        let gen = [
            0x3b6a57b2u32,
            0x26508e6d,
            0x1ea119fa,
            0x3d4233dd,
            0x2a1462b3,
        ];
        let mut chk = 1u32;
        for &v in values {
            let top = chk >> 25;
            chk = ((chk & 0x1ffffff) << 5) ^ u32::from(v);
            for (i, g) in gen.iter().enumerate() {
                if (top >> i) & 1 == 1 {
                    chk ^= g;
                }
            }
        }
        chk
    }
    let mut words = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for &byte in data {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            words.push(((acc >> bits) & 31) as u8);
        }
    }
    if bits > 0 {
        words.push(((acc << (5 - bits)) & 31) as u8);
    }
    let mut values: Vec<u8> = hrp.bytes().map(|b| b >> 5).collect();
    values.push(0);
    values.extend(hrp.bytes().map(|b| b & 31));
    values.extend(&words);
    values.extend([0; 6]);
    let check = polymod(&values) ^ 1;
    let mut out = format!("{hrp}1");
    for w in words {
        out.push(CHARSET[usize::from(w)] as char);
    }
    for i in 0..6 {
        out.push(CHARSET[((check >> (5 * (5 - i))) & 31) as usize] as char);
    }
    out
}

// ---- Keys made by age's own tools ----

/// Runs `age-keygen` and returns (identity line, public key), or `None` with the reason
/// printed when it is not installed (Debian package `age`; CI installs it).
fn age_keygen() -> Option<(String, String)> {
    let out = match Command::new("age-keygen").output() {
        Ok(out) if out.status.success() => out,
        Ok(out) => panic!(
            "age-keygen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(err) => {
            eprintln!("SKIPPED: age-keygen is not installed ({err}); apt-get install age");
            return None;
        }
    };
    let text = String::from_utf8(out.stdout).unwrap();
    let public = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen prints the public key as a comment")
        .to_string();
    let secret = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .expect("age-keygen prints the secret key")
        .to_string();
    Some((secret, public))
}

#[test]
fn keys_made_by_age_keygen_round_trip() {
    let Some((secret, public)) = age_keygen() else {
        return;
    };
    let identity = X25519Identity::parse(&secret).unwrap();
    let recipient: X25519Recipient = public.parse().unwrap();
    assert_eq!(
        identity.recipient(),
        recipient,
        "coffer derives age's public key"
    );
    // The same key in coffer's encoding is the same recipient.
    assert_eq!(
        identity
            .recipient()
            .to_string()
            .parse::<X25519Recipient>()
            .unwrap(),
        recipient
    );
    let file = coffer::encrypt(&[&recipient], PLAINTEXT).unwrap();
    let identities = coffer::parse_identity_file(&format!(
        "# created by age-keygen\n# public key: {public}\n{secret}\n"
    ))
    .unwrap();
    assert_eq!(identities.len(), 1);
    assert_eq!(open(identities[0].as_identity(), &file).unwrap(), PLAINTEXT);
    assert!(matches!(
        coffer::parse_recipients_file(&format!("{public}\n")).unwrap()[..],
        [AnyRecipient::X25519(_)]
    ));
}

/// A directory under the test target for the npm package, installed once per build.
fn typage_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("typage")
}

/// Runs tests/typage_keys.mjs with typage (npm `age-encryption`), installing it into the
/// test's own directory first; `None` with the reason printed when node or npm are
/// missing or the registry cannot be reached.
fn typage_keys() -> Option<String> {
    let dir = typage_dir();
    let module = dir.join("node_modules/age-encryption/package.json");
    if !module.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let install = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&dir)
            .arg("age-encryption@0.3.1")
            .output();
        match install {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                eprintln!(
                    "SKIPPED: npm could not install age-encryption: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                return None;
            }
            Err(err) => {
                eprintln!("SKIPPED: npm is not installed ({err})");
                return None;
            }
        }
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/typage_keys.mjs");
    let out = match Command::new("node")
        .arg(script)
        .env("TYPAGE_DIR", &dir)
        .current_dir(&dir)
        .output()
    {
        Ok(out) => out,
        Err(err) => {
            eprintln!("SKIPPED: node is not installed ({err})");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "typage_keys.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// age 1.3's hybrid keys (typage, the TypeScript age by age's author) give the same
/// recipient in coffer: the X-Wing seed expansion is the same, so age's encodings are
/// accepted. X25519 keys too.
#[test]
fn keys_made_by_typage_derive_the_same_recipients() {
    let Some(text) = typage_keys() else {
        return;
    };
    let mut checked = [0, 0];
    for line in text.lines() {
        let (secret, public) = line.split_once(' ').expect("identity recipient");
        let identity = AnyIdentity::parse(secret).unwrap();
        let recipient: AnyRecipient = public.parse().unwrap();
        assert_eq!(identity.recipient(), recipient, "line {line:.30}...");
        checked[usize::from(recipient.is_post_quantum())] += 1;
        let file = coffer::encrypt(&[recipient.as_recipient()], PLAINTEXT).unwrap();
        assert_eq!(open(identity.as_identity(), &file).unwrap(), PLAINTEXT);
    }
    assert_eq!(checked, [4, 4], "typage printed 4 keys of each type");
}

// ---- The X-Wing draft's own vectors ----

/// tests/vectors/xwing/README.md says where they come from.
#[test]
fn x_wing_matches_the_drafts_vectors() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/xwing/test-vectors.json");
    let vectors: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let vectors = vectors.as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    let field = |v: &serde_json::Value, name: &str| hex::decode(v[name].as_str().unwrap()).unwrap();
    for v in vectors {
        let seed: [u8; 32] = field(v, "sk").try_into().unwrap();
        let identity = HybridIdentity::from_seed(seed.into());
        assert_eq!(identity.recipient().to_bytes().to_vec(), field(v, "pk"));

        let eseed: [u8; 64] = field(v, "eseed").try_into().unwrap();
        let recipient = identity.recipient();
        let file = file_for(&[&recipient.for_test_vectors(eseed)]);
        let body = &file[BODY..BODY + hybrid::BODY_LEN];
        assert_eq!(&body[..hybrid::CIPHERTEXT_LEN], &field(v, "ct")[..]);
        // wrap key || check = HKDF-SHA-256(ss, salt = header nonce, "coffer.v1 X-Wing slot")
        let mut okm = [0u8; 64];
        Hkdf::<Sha256>::new(Some(&NONCE), &field(v, "ss"))
            .expand(b"coffer.v1 X-Wing slot", &mut okm)
            .unwrap();
        let check = &body[hybrid::CIPHERTEXT_LEN..hybrid::CIPHERTEXT_LEN + 32];
        assert_eq!(check, &okm[32..]);
        assert_eq!(open(&identity, &file).unwrap(), PLAINTEXT);
    }
}

/// FORMAT.md, "X25519 slot example", byte for byte.
#[test]
fn the_format_example_of_an_x25519_slot() {
    let identity = X25519Identity::parse(
        "COFFER-SECRET-KEY-1QQQSYQCYQ5RQWZQFPG9SCRGWPUGPZYSNZS23V9CCRYDPK8QARC0SXH424P",
    )
    .unwrap();
    let age = X25519Identity::parse(
        "AGE-SECRET-KEY-1QQQSYQCYQ5RQWZQFPG9SCRGWPUGPZYSNZS23V9CCRYDPK8QARC0SWRYDWG",
    )
    .unwrap();
    let recipient = identity.recipient();
    assert_eq!(age.recipient(), recipient);
    assert_eq!(
        recipient.to_string(),
        "coffer13aqvttdk3ujkyjh9kg2w5an6dmy5mq5a84a4uxk3hfhnugfc9p0s2pjpre"
    );
    assert_eq!(
        "age13aqvttdk3ujkyjh9kg2w5an6dmy5mq5a84a4uxk3hfhnugfc9p0sy5p2wh"
            .parse::<X25519Recipient>()
            .unwrap(),
        recipient
    );
    let bytes = |start: u8| -> [u8; 32] { std::array::from_fn(|i| start + i as u8) };
    let slot = recipient
        .for_test_vectors(bytes(32))
        .seal(
            &FileKey::from_bytes(bytes(96)),
            coffer::FileBinding::without_context(&bytes(64)),
        )
        .unwrap();
    assert_eq!(slot.slot_type, 0x10);
    assert_eq!(
        hex::encode(&slot.body),
        "358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254\
         e634bbcffe3be845adb89d26f5b74f30fd28a3adcaa274f744bd8040f958e81f\
         92ac3d0d5e347b15c6c7769fdf408702f1f5a7639f00e93340d850c55f6ef06b\
         194a5dd0af042fe63db2e20bff141f35"
    );
}

#[test]
fn slot_bodies_of_the_wrong_length_are_invalid_headers() {
    use coffer::{RawSlot, Slot};
    for (slot_type, len) in [(0x10u8, x25519::BODY_LEN), (0x11, hybrid::BODY_LEN)] {
        for wrong in [len - 1, len + 1, 0] {
            let raw = RawSlot {
                slot_type,
                body: vec![7; wrong],
            };
            assert!(
                matches!(Slot::decode(&raw), Err(Error::InvalidHeader(_))),
                "type {slot_type:#x} with {wrong} bytes"
            );
        }
        let raw = RawSlot {
            slot_type,
            body: vec![7; len],
        };
        assert!(Slot::decode(&raw).is_ok());
    }
}

#[test]
fn every_single_character_typo_in_a_key_is_caught() {
    let classic = X25519Identity::generate();
    let hybrid = HybridIdentity::generate();
    let texts = [
        classic.to_line().to_string(),
        hybrid.to_line().to_string(),
        classic.recipient().to_string(),
    ];
    for text in &texts {
        let data_start = text.rfind('1').unwrap() + 1;
        for i in data_start..text.len() {
            let mut typo = text.as_bytes().to_vec();
            typo[i] = match typo[i] {
                b'q' => b'p',
                b'Q' => b'P',
                c if c.is_ascii_uppercase() => b'Q',
                _ => b'q',
            };
            let typo = String::from_utf8(typo).unwrap();
            let rejected = if text.starts_with("coffer1") {
                typo.parse::<AnyRecipient>().is_err()
            } else {
                AnyIdentity::parse(&typo).is_err()
            };
            assert!(
                rejected,
                "a typo at {i} of a {:.12}... key was accepted",
                text
            );
        }
    }
    // The long hybrid recipient: a typo in each of 200 places spread over it.
    let text = hybrid.recipient().to_string();
    for i in (10..text.len()).step_by(text.len() / 200) {
        let mut typo = text.as_bytes().to_vec();
        typo[i] = if typo[i] == b'q' { b'p' } else { b'q' };
        let typo = String::from_utf8(typo).unwrap();
        assert!(typo.parse::<AnyRecipient>().is_err(), "typo at {i}");
    }
}
