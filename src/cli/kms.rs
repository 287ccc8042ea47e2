//! AWS KMS from the command line: `--kms-key` becomes recipients (encrypt, rekey
//! `--add-kms-key`) or an allow-list identity (decrypt, verify, rekey), `--kms-discovery`
//! and `--kms-account` a discovery identity. The flags exist in every build; a build
//! without the `kms` feature refuses them with one line instead of clap's "unknown flag".

use std::sync::Arc;

use coffer::{KmsClient, KmsIdentity, KmsRecipient};

use super::args::KmsArgs;
use super::error::CliError;

/// The recipients of `--kms-key` on encrypt: `--kms-discovery` and `--kms-account` only
/// make sense when reading.
pub fn recipients(args: &KmsArgs) -> Result<Vec<KmsRecipient>, CliError> {
    if args.kms_discovery {
        return Err(CliError::usage(
            "--kms-discovery is for decrypt and verify; encrypt needs --kms-key KEY",
        ));
    }
    recipients_for(&args.kms_keys)
}

/// One recipient per key, all sharing one client.
pub fn recipients_for(keys: &[String]) -> Result<Vec<KmsRecipient>, CliError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    check_key_names(keys)?;
    let client = client()?;
    Ok(keys
        .iter()
        .map(|key| KmsRecipient::new(Arc::clone(&client), key.as_str()))
        .collect())
}

/// The identity of decrypt, verify and rekey: the allow-list of `--kms-key`, or
/// discovery; `None` without KMS flags.
pub fn identity(args: &KmsArgs) -> Result<Option<KmsIdentity>, CliError> {
    if args.is_empty() {
        return Ok(None);
    }
    if args.kms_discovery && !args.kms_keys.is_empty() {
        return Err(CliError::usage(
            "--kms-discovery opens any key: give it or --kms-key, not both",
        ));
    }
    for account in &args.kms_accounts {
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CliError::usage(format!(
                "--kms-account {account:?} is not a 12-digit AWS account ID"
            )));
        }
    }
    check_key_names(&args.kms_keys)?;
    let client = client()?;
    Ok(Some(if args.kms_discovery {
        KmsIdentity::discovery(client, &args.kms_accounts)
    } else {
        KmsIdentity::allow_list(client, &args.kms_keys).map_err(CliError::usage)?
    }))
}

/// Refuses what is no key name before any AWS call.
fn check_key_names(keys: &[String]) -> Result<(), CliError> {
    for key in keys {
        if key.is_empty() || key.len() > 2048 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(CliError::usage(format!(
                "--kms-key {key:?} is not a KMS key ID, key ARN or alias"
            )));
        }
    }
    Ok(())
}

#[cfg(feature = "kms")]
fn client() -> Result<Arc<dyn KmsClient>, CliError> {
    Ok(Arc::new(
        coffer::AwsKmsClient::from_env().map_err(|e| CliError::lib(e.into()))?,
    ))
}

#[cfg(not(feature = "kms"))]
fn client() -> Result<Arc<dyn KmsClient>, CliError> {
    Err(CliError::usage(
        "built without KMS support; cargo install --path . --features kms",
    ))
}
