//! Recipients and identities as text (FORMAT.md, "Recipient and identity encodings"):
//! Bech32 strings in coffer's encoding and in age's, one key of either type behind
//! [`AnyRecipient`] / [`AnyIdentity`], and the line-oriented recipients and identity files.
//!
//! Messages about identities never quote the line: it is a secret, even when mistyped.

use std::fmt;
use std::str::FromStr;

use bech32::primitives::checksum::Checksum;
use bech32::primitives::decode::CheckedHrpstring;
use bech32::Hrp;
use zeroize::Zeroizing;

use super::hybrid::{self, HybridIdentity, HybridRecipient};
use super::x25519::{self, X25519Identity, X25519Recipient};
use super::{FileBinding, Identity, Recipient, Slot};
use crate::error::{Error, Result};
use crate::format::RawSlot;
use crate::keys::FileKey;

/// Bech32 (BIP 173) without its 90-character limit, as age writes its keys: a hybrid
/// recipient is 1216 bytes, about 1950 characters. The checksum is Bech32's, unchanged.
enum Bech32Unlimited {}

impl Checksum for Bech32Unlimited {
    type MidstateRepr = u32;
    const CODE_LENGTH: usize = usize::MAX;
    const CHECKSUM_LENGTH: usize = 6;
    // BIP 173's generator and its shifts, as in `bech32::Bech32`.
    const GENERATOR_SH: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    const TARGET_RESIDUE: u32 = 1;
}

/// One Bech32 encoding of a key: its human-readable part and its case.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Encoding {
    /// The human-readable part, lower case (a string starts with it and `1`).
    pub(crate) hrp: &'static str,
    /// Written upper case (secret keys, as age writes them).
    pub(crate) upper: bool,
}

impl Encoding {
    pub(crate) fn encode(&self, data: &[u8]) -> String {
        let hrp = Hrp::parse_unchecked(self.hrp);
        if self.upper {
            bech32::encode_upper::<Bech32Unlimited>(hrp, data)
        } else {
            bech32::encode_lower::<Bech32Unlimited>(hrp, data)
        }
        .expect("the human-readable parts are valid and the length is unlimited")
    }

    /// How a string of this encoding starts, as written.
    fn prefix(&self) -> String {
        let prefix = format!("{}1", self.hrp);
        if self.upper {
            prefix.to_uppercase()
        } else {
            prefix
        }
    }

    fn matches(&self, text: &str) -> bool {
        hrp_of(text).is_some_and(|hrp| hrp.eq_ignore_ascii_case(self.hrp))
    }
}

/// The human-readable part: everything before the last `1` (Bech32's separator).
fn hrp_of(text: &str) -> Option<&str> {
    text.rfind('1').map(|at| &text[..at])
}

/// Why a string is not a key of `N` bytes in one of `encodings`.
fn decode_into(text: &str, encodings: &[Encoding], out: &mut [u8]) -> Result<(), String> {
    if !encodings.iter().any(|e| e.matches(text)) {
        let names: Vec<String> = encodings.iter().map(|e| e.prefix()).collect();
        return Err(format!("it does not start with {}", names.join(" or ")));
    }
    let checked = CheckedHrpstring::new::<Bech32Unlimited>(text).map_err(|_| {
        "checksum mismatch: it is mistyped, truncated or damaged (or mixes upper and lower case)"
            .to_string()
    })?;
    key_bytes_into(&checked, out).map_err(|err| match err {
        KeyBytesError::Longer => format!("the key is longer than {} bytes", out.len()),
        KeyBytesError::Shorter => format!("the key is shorter than {} bytes", out.len()),
        KeyBytesError::Padding => "non-zero padding bits: it is mistyped or damaged".to_string(),
    })
}

/// Why a checksummed Bech32 string does not hold exactly one key of the expected length.
pub(crate) enum KeyBytesError {
    Longer,
    Shorter,
    Padding,
}

/// The data of a checksummed Bech32 string into `out`, which it must fill exactly, with
/// zero leftover bits so that a key has exactly one encoding. Shared by every key text:
/// recipients, identities and key files.
pub(crate) fn key_bytes_into(
    checked: &CheckedHrpstring<'_>,
    out: &mut [u8],
) -> Result<(), KeyBytesError> {
    let mut len = 0;
    for byte in checked.byte_iter() {
        if len == out.len() {
            return Err(KeyBytesError::Longer);
        }
        out[len] = byte;
        len += 1;
    }
    if len != out.len() {
        return Err(KeyBytesError::Shorter);
    }
    checked
        .validate_segwit_padding()
        .map_err(|_| KeyBytesError::Padding)
}

/// A public key of `N` bytes from `text` in one of `encodings`.
pub(crate) fn decode_recipient<const N: usize>(
    text: &str,
    encodings: &[Encoding],
) -> Result<[u8; N]> {
    let mut out = [0; N];
    decode_into(text, encodings, &mut out).map_err(Error::InvalidRecipient)?;
    Ok(out)
}

/// A secret of `N` bytes from `line` in one of `encodings`; errors never quote the line.
pub(crate) fn decode_identity<const N: usize>(
    line: &str,
    encodings: &[Encoding],
) -> Result<Zeroizing<[u8; N]>> {
    let mut out = Zeroizing::new([0; N]);
    decode_into(line, encodings, out.as_mut()).map_err(Error::InvalidIdentity)?;
    Ok(out)
}

const RECIPIENT_ENCODINGS: [Encoding; 4] = [
    x25519::RECIPIENT,
    hybrid::RECIPIENT,
    x25519::AGE_RECIPIENT,
    hybrid::AGE_RECIPIENT,
];
const IDENTITY_ENCODINGS: [Encoding; 4] = [
    x25519::IDENTITY,
    hybrid::IDENTITY,
    x25519::AGE_IDENTITY,
    hybrid::AGE_IDENTITY,
];

/// A recipient of either public-key type, as read from a command line or a file.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyRecipient {
    /// Classic X25519 (`coffer1...`, `age1...`).
    X25519(X25519Recipient),
    /// Post-quantum hybrid X-Wing (`coffer1pq1...`, `age1pq1...`).
    Hybrid(HybridRecipient),
}

impl AnyRecipient {
    /// Whether slots for this recipient resist a quantum computer.
    pub fn is_post_quantum(&self) -> bool {
        matches!(self, AnyRecipient::Hybrid(_))
    }

    /// The recipient, to seal a slot.
    pub fn as_recipient(&self) -> &dyn Recipient {
        match self {
            AnyRecipient::X25519(r) => r,
            AnyRecipient::Hybrid(r) => r,
        }
    }
}

impl Recipient for AnyRecipient {
    fn seal(&self, file_key: &FileKey, file: FileBinding<'_>) -> Result<RawSlot> {
        self.as_recipient().seal(file_key, file)
    }
}

impl FromStr for AnyRecipient {
    type Err = Error;

    /// Any of `coffer1...`, `coffer1pq1...`, `age1...`, `age1pq1...`.
    ///
    /// # Errors
    /// [`Error::InvalidRecipient`]; a secret key given by mistake is named as such and
    /// never quoted.
    fn from_str(text: &str) -> Result<Self> {
        if hybrid::RECIPIENT.matches(text) || hybrid::AGE_RECIPIENT.matches(text) {
            return text.parse().map(AnyRecipient::Hybrid);
        }
        if x25519::RECIPIENT.matches(text) || x25519::AGE_RECIPIENT.matches(text) {
            return text.parse().map(AnyRecipient::X25519);
        }
        if IDENTITY_ENCODINGS.iter().any(|e| e.matches(text)) {
            return Err(Error::InvalidRecipient(
                "this is a secret key (an identity), not a recipient; `coffer keygen -y` \
                 prints the recipient of an identity file"
                    .into(),
            ));
        }
        let names: Vec<String> = RECIPIENT_ENCODINGS.iter().map(|e| e.prefix()).collect();
        Err(Error::InvalidRecipient(format!(
            "unknown recipient type (a recipient starts with {})",
            names.join(", ")
        )))
    }
}

impl fmt::Display for AnyRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyRecipient::X25519(r) => r.fmt(f),
            AnyRecipient::Hybrid(r) => r.fmt(f),
        }
    }
}

/// An identity of either public-key type, as read from an identity file.
#[derive(Debug)]
pub enum AnyIdentity {
    /// Classic X25519 (`COFFER-SECRET-KEY-1...`, `AGE-SECRET-KEY-1...`).
    X25519(X25519Identity),
    /// Post-quantum hybrid X-Wing (`COFFER-SECRET-KEY-PQ-1...`, `AGE-SECRET-KEY-PQ-1...`).
    Hybrid(HybridIdentity),
}

impl AnyIdentity {
    /// Parses one identity line of either type, in coffer's or age's encoding.
    ///
    /// # Errors
    /// [`Error::InvalidIdentity`], never quoting the line.
    pub fn parse(line: &str) -> Result<Self> {
        if hybrid::IDENTITY.matches(line) || hybrid::AGE_IDENTITY.matches(line) {
            return HybridIdentity::parse(line).map(AnyIdentity::Hybrid);
        }
        if x25519::IDENTITY.matches(line) || x25519::AGE_IDENTITY.matches(line) {
            return X25519Identity::parse(line).map(AnyIdentity::X25519);
        }
        if RECIPIENT_ENCODINGS.iter().any(|e| e.matches(line)) {
            return Err(Error::InvalidIdentity(
                "this is a recipient (a public key), not an identity: it can encrypt but not \
                 decrypt"
                    .into(),
            ));
        }
        let names: Vec<String> = IDENTITY_ENCODINGS.iter().map(|e| e.prefix()).collect();
        Err(Error::InvalidIdentity(format!(
            "unknown identity type (an identity starts with {})",
            names.join(", ")
        )))
    }

    /// The identity, to open slots.
    pub fn as_identity(&self) -> &dyn Identity {
        match self {
            AnyIdentity::X25519(i) => i,
            AnyIdentity::Hybrid(i) => i,
        }
    }

    /// The public recipient of this identity.
    pub fn recipient(&self) -> AnyRecipient {
        match self {
            AnyIdentity::X25519(i) => AnyRecipient::X25519(i.recipient()),
            AnyIdentity::Hybrid(i) => AnyRecipient::Hybrid(i.recipient()),
        }
    }

    /// The identity line in coffer's encoding.
    pub fn to_line(&self) -> Zeroizing<String> {
        match self {
            AnyIdentity::X25519(i) => i.to_line(),
            AnyIdentity::Hybrid(i) => i.to_line(),
        }
    }
}

impl Identity for AnyIdentity {
    fn open(&self, slot: &Slot, file: FileBinding<'_>) -> Result<Option<FileKey>> {
        self.as_identity().open(slot, file)
    }
}

/// The lines of a key file that hold keys, numbered from 1: blank lines and `#` comments
/// are skipped, surrounding white space ignored.
fn key_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
}

/// Parses an identity file: one identity per line, `#` comments and blank lines ignored.
///
/// # Errors
/// [`Error::InvalidIdentity`] naming the first bad line's number (never its text), or
/// saying the file holds no identity.
pub fn parse_identity_file(text: &str) -> Result<Vec<AnyIdentity>> {
    let identities = key_lines(text)
        .map(|(number, line)| {
            AnyIdentity::parse(line).map_err(|err| match err {
                Error::InvalidIdentity(why) => {
                    Error::InvalidIdentity(format!("line {number}: {why}"))
                }
                other => other,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if identities.is_empty() {
        return Err(Error::InvalidIdentity("the file holds no identity".into()));
    }
    Ok(identities)
}

/// Parses a recipients file: one recipient per line, `#` comments and blank lines ignored.
///
/// # Errors
/// [`Error::InvalidRecipient`] naming the first bad line's number, or saying the file
/// holds no recipient.
pub fn parse_recipients_file(text: &str) -> Result<Vec<AnyRecipient>> {
    let recipients = key_lines(text)
        .map(|(number, line)| {
            line.parse::<AnyRecipient>().map_err(|err| match err {
                Error::InvalidRecipient(why) => {
                    Error::InvalidRecipient(format!("line {number}: {why}"))
                }
                other => other,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if recipients.is_empty() {
        return Err(Error::InvalidRecipient(
            "the file holds no recipient".into(),
        ));
    }
    Ok(recipients)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parsed identity opens what its recipient sealed, whichever the type.
    #[test]
    fn a_parsed_identity_opens_its_recipients_slot() {
        let nonce: crate::keys::HeaderNonce = [3; 32];
        let file_key = FileKey::from_bytes([5; 32]);
        let lines = [
            X25519Identity::generate().to_line(),
            HybridIdentity::generate().to_line(),
        ];
        for line in lines {
            let identity = AnyIdentity::parse(&line).unwrap();
            assert_eq!(*identity.to_line(), *line, "its line round-trips");
            let raw = identity
                .recipient()
                .seal(&file_key, FileBinding::without_context(&nonce))
                .unwrap();
            let slot = Slot::decode(&raw).unwrap();
            let opened = identity
                .open(&slot, FileBinding::without_context(&nonce))
                .unwrap()
                .expect("its own slot");
            assert_eq!(opened.expose(), file_key.expose());
        }
    }

    #[test]
    fn the_unlimited_checksum_is_bech32s() {
        Bech32Unlimited::sanity_check();
        let hrp = Hrp::parse_unchecked("age");
        let data = [7u8; 32];
        assert_eq!(
            bech32::encode_lower::<Bech32Unlimited>(hrp, &data).unwrap(),
            bech32::encode_lower::<bech32::Bech32>(hrp, &data).unwrap()
        );
    }

    #[test]
    fn files_hold_several_keys_of_both_types() {
        let a = X25519Identity::generate();
        let b = HybridIdentity::generate();
        let text = format!(
            "# created: now\n# recipient: {}\n{}\n\n  {}  \n",
            a.recipient(),
            *a.to_line(),
            *b.to_line()
        );
        let ids = parse_identity_file(&text).unwrap();
        assert_eq!(ids.len(), 2);
        assert!(!ids[0].recipient().is_post_quantum());
        assert!(ids[1].recipient().is_post_quantum());
        assert_eq!(ids[1].recipient(), AnyRecipient::Hybrid(b.recipient()));

        let text = format!("{}\n# team\n{}\n", a.recipient(), b.recipient());
        let recipients = parse_recipients_file(&text).unwrap();
        assert_eq!(recipients, vec![ids[0].recipient(), ids[1].recipient()]);
    }

    #[test]
    fn a_bad_line_is_named_by_number_never_quoted() {
        let a = X25519Identity::generate();
        let line = a.to_line();
        let last = if line.ends_with('Q') { 'P' } else { 'Q' };
        let typo = format!("{}{last}", &line[..line.len() - 1]);
        let text = format!("# one\n{}\n{typo}\n", *line);
        let err = parse_identity_file(&text).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("checksum"), "{err}");
        assert!(!err.contains(&line[20..40]), "{err}");

        let err = parse_recipients_file(&format!("{}\n", *line))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1") && err.contains("secret key"),
            "{err}"
        );
        assert!(!err.contains(&line[20..40]), "{err}");

        let err = parse_identity_file(&format!("\n{}\n", a.recipient()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("recipient"), "{err}");
        for empty in ["", "# nothing\n\n"] {
            assert!(parse_identity_file(empty).is_err());
            assert!(parse_recipients_file(empty).is_err());
        }
        let err = "ssh-ed25519 AAAA".parse::<AnyRecipient>().unwrap_err();
        assert!(err.to_string().contains("unknown recipient type"), "{err}");
    }
}
