//! The AWS SDK implementation of [`KmsClient`] (feature `kms`).
//!
//! Credentials, region and endpoint come from the standard AWS chain (environment,
//! shared config and credentials files, web identity, container and instance roles;
//! `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_KMS`). The SDK is asynchronous; a
//! current-thread tokio runtime lives inside this client only, so the library's face
//! stays blocking.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use zeroize::Zeroizing;

use super::kms::{Decrypted, Encrypted, EncryptionContext, KmsClient, KmsError};

/// Time to open a TCP (and TLS) connection to KMS.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time for one attempt of a call, connection included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a whole call, retries included: the longest a file waits on KMS.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts per call (the first one and two retries), with the SDK's standard jittered
/// backoff, for throttling and transient network errors.
pub const MAX_ATTEMPTS: u32 = 3;

/// A KMS client over the AWS SDK, with bounded timeouts and retries.
pub struct AwsKmsClient {
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_kms::Client,
}

impl AwsKmsClient {
    /// Loads the AWS configuration from the standard chain. Credentials are resolved on
    /// the first call, not here.
    ///
    /// # Errors
    /// [`KmsError::NoRegion`] when no region is configured; [`KmsError::Service`] when
    /// the runtime cannot start.
    pub fn from_env() -> Result<Self, KmsError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| KmsError::Service {
                detail: format!("cannot start the KMS client's runtime: {e}"),
            })?;
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        let config = runtime.block_on(
            aws_config::defaults(BehaviorVersion::latest())
                .timeout_config(timeouts)
                .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
                .load(),
        );
        if config.region().is_none() {
            return Err(KmsError::NoRegion);
        }
        Ok(AwsKmsClient {
            runtime,
            client: aws_sdk_kms::Client::new(&config),
        })
    }
}

impl KmsClient for AwsKmsClient {
    fn encrypt(
        &self,
        key_id: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Encrypted, KmsError> {
        let call = self
            .client
            .encrypt()
            .key_id(key_id)
            .plaintext(Blob::new(plaintext.to_vec()))
            .set_encryption_context(Some(as_map(context)))
            .send();
        let output = self
            .runtime
            .block_on(call)
            .map_err(|e| classify(e, key_id))?;
        Ok(Encrypted {
            key_arn: output
                .key_id()
                .ok_or(KmsError::BadResponse("no key ARN"))?
                .to_owned(),
            ciphertext_blob: output
                .ciphertext_blob()
                .ok_or(KmsError::BadResponse("no ciphertext blob"))?
                .as_ref()
                .to_vec(),
        })
    }

    fn decrypt(
        &self,
        ciphertext_blob: &[u8],
        key_id: &str,
        context: &EncryptionContext,
    ) -> Result<Decrypted, KmsError> {
        let call = self
            .client
            .decrypt()
            .key_id(key_id)
            .ciphertext_blob(Blob::new(ciphertext_blob.to_vec()))
            .set_encryption_context(Some(as_map(context)))
            .send();
        let output = self
            .runtime
            .block_on(call)
            .map_err(|e| classify(e, key_id))?;
        Ok(Decrypted {
            key_arn: output
                .key_id()
                .ok_or(KmsError::BadResponse("no key ARN"))?
                .to_owned(),
            plaintext: Zeroizing::new(
                output
                    .plaintext()
                    .ok_or(KmsError::BadResponse("no plaintext"))?
                    .as_ref()
                    .to_vec(),
            ),
        })
    }
}

fn as_map(context: &EncryptionContext) -> HashMap<String, String> {
    context
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Maps an SDK failure to its class. Service errors by their code (access denied has no
/// modelled type, so codes are the common ground); transport errors by kind; missing
/// credentials by the provider error found in the source chain.
fn classify<E, R>(err: SdkError<E, R>, key_id: &str) -> KmsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let key = || key_id.to_owned();
    if let SdkError::ServiceError(_) = &err {
        let code = err.code().unwrap_or("unknown error");
        return match code {
            "AccessDeniedException"
            | "AccessDenied"
            | "UnrecognizedClientException"
            | "InvalidSignatureException" => KmsError::AccessDenied { key: key() },
            "DisabledException" | "KMSInvalidStateException" | "KeyUnavailableException" => {
                KmsError::KeyDisabled { key: key() }
            }
            "NotFoundException" => KmsError::KeyNotFound { key: key() },
            "InvalidCiphertextException" => KmsError::InvalidCiphertext { key: key() },
            "IncorrectKeyException" => KmsError::WrongKey { key: key() },
            "ThrottlingException" | "LimitExceededException" => KmsError::Throttled,
            _ => KmsError::Service {
                detail: short(&format!("{code}: {}", err.message().unwrap_or(""))),
            },
        };
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(current) = source {
        if let Some(credentials) = current.downcast_ref::<CredentialsError>() {
            return match credentials {
                CredentialsError::ProviderTimedOut(_) => KmsError::Unreachable {
                    detail: "the credential provider timed out".into(),
                },
                _ => KmsError::NoCredentials,
            };
        }
        source = current.source();
    }
    match &err {
        SdkError::TimeoutError(_) => KmsError::Unreachable {
            detail: format!("no answer within {} s", OPERATION_TIMEOUT.as_secs()),
        },
        SdkError::DispatchFailure(failure) if failure.is_timeout() => KmsError::Unreachable {
            detail: "the connection timed out".into(),
        },
        SdkError::DispatchFailure(failure) if failure.is_io() => KmsError::Unreachable {
            detail: short(&innermost(&err)),
        },
        _ => KmsError::Service {
            detail: short(&innermost(&err)),
        },
    }
}

/// The deepest message of an error chain: the one that says what happened.
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// At most one line of 200 characters: messages stay short.
fn short(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line.to_owned(),
    }
}
