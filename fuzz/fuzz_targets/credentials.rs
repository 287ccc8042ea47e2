//! The text parsers a user's files and arguments reach: key files, identity files,
//! recipients files, single recipients and `--context KEY=VALUE` pairs. None may panic;
//! whatever one accepts must re-encode to text that parses to the same thing.
#![no_main]

use coffer::{
    parse_identity_file, parse_recipients_file, AnyIdentity, AnyRecipient, Context,
    SymmetricKey,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Key files are read as bytes: text that is not UTF-8 is an error class of its own.
    if let Ok(key) = SymmetricKey::parse(data) {
        let again = SymmetricKey::parse(key.to_line().as_bytes()).expect("its own line parses");
        assert_eq!(*again.to_line(), *key.to_line(), "a key file does not round-trip");
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(identities) = parse_identity_file(text) {
        for identity in identities {
            let again = AnyIdentity::parse(&identity.to_line()).expect("its own line parses");
            assert_eq!(again.recipient(), identity.recipient());
        }
    }
    if let Ok(recipients) = parse_recipients_file(text) {
        for recipient in recipients {
            let again: AnyRecipient = recipient.to_string().parse().expect("its own text parses");
            assert_eq!(again, recipient);
        }
    }
    for line in text.lines() {
        if let Ok(recipient) = line.parse::<AnyRecipient>() {
            assert_eq!(recipient.to_string().parse::<AnyRecipient>().ok(), Some(recipient));
        }
        if let Ok((key, value)) = Context::parse_pair(line) {
            let mut context = Context::new();
            if context.insert(key.clone(), value.clone()).is_ok() {
                let block = context.encode();
                let (decoded, used) = Context::decode_prefix(&block).expect("its own block");
                assert_eq!(used, block.len());
                assert_eq!(decoded, context);
                assert_eq!(decoded.get(&key), Some(value.as_str()));
            }
        }
    }
});
