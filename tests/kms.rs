//! AWS KMS slots end to end: the real binary against a real KMS emulator (`moto_server`,
//! Python package `moto[server]`) on a free loopback port. No network beyond 127.0.0.1.
//!
//! moto decrypts with a disabled key and ignores `KeyId` on `Decrypt`: those paths are
//! covered by the test double in src/slots/kms.rs. Without the `kms` feature only the
//! one-line refusal of the flags is tested here.

#[path = "cli/common.rs"]
mod common;

#[cfg(not(feature = "kms"))]
#[test]
fn kms_flags_in_a_build_without_kms_say_how_to_get_it() {
    let fx = common::Fx::new();
    fx.write("a", b"data");
    // Credentials are read before any input is: the content does not matter.
    fx.write("b.coffer", b"not read");
    for args in [
        vec!["encrypt", "--kms-key", "alias/backup", "a"],
        vec!["decrypt", "--kms-discovery", "b.coffer"],
        vec!["verify", "--kms-key", "alias/backup", "b.coffer"],
        vec![
            "rekey",
            "--key-file",
            "k",
            "--add-kms-key",
            "alias/backup",
            "b.coffer",
        ],
    ] {
        let run = fx.run(&args);
        run.expect(2);
        assert!(
            run.stderr
                .contains("built without KMS support; cargo install --path . --features kms"),
            "{}",
            run.stderr
        );
        assert!(!fx.p("a.coffer").exists() && !fx.p("b").exists());
    }
}

#[cfg(feature = "kms")]
mod emulator {
    use std::net::{TcpListener, TcpStream};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use super::common::{self, Fx, Run};

    /// moto's default account.
    const ACCOUNT: &str = "123456789012";
    /// The longest a KMS failure may take: the client's whole-call bound (30 s) plus
    /// the process around it. A hang is the failure this catches, not a slow machine.
    const KMS_BOUND: Duration = Duration::from_secs(60);

    /// `moto_server` on a free loopback port, killed when dropped.
    struct Moto {
        child: Child,
        endpoint: String,
        runtime: tokio::runtime::Runtime,
        client: aws_sdk_kms::Client,
    }

    impl Moto {
        fn start() -> Moto {
            let port = free_port();
            let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
            let child = Command::new(&program)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot start {program} (pip install 'moto[server]'; .ci/run does): {e}")
                });
            let endpoint = format!("http://127.0.0.1:{port}");
            let mut moto = Moto {
                child,
                runtime: tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap(),
                client: admin_client(&endpoint),
                endpoint,
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = moto.child.try_wait() {
                    panic!("moto_server exited early: {status}");
                }
                assert!(
                    Instant::now() < deadline,
                    "moto_server did not answer in 60 s"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            moto
        }

        /// A new symmetric key: its ARN.
        fn create_key(&self) -> String {
            let out = self
                .runtime
                .block_on(self.client.create_key().send())
                .unwrap();
            out.key_metadata().unwrap().arn().unwrap().to_owned()
        }

        fn create_alias(&self, alias: &str, key_arn: &str) {
            self.runtime
                .block_on(
                    self.client
                        .create_alias()
                        .alias_name(alias)
                        .target_key_id(key_arn)
                        .send(),
                )
                .unwrap();
        }

        /// Runs coffer with fake credentials pointed at this emulator.
        fn run(&self, fx: &Fx, args: &[&str]) -> Run {
            run_with(fx, args, &self.endpoint, true, b"")
        }
    }

    impl Drop for Moto {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// A port nothing listens on: connections are refused at once.
    fn closed_endpoint() -> String {
        format!("http://127.0.0.1:{}", free_port())
    }

    fn admin_client(endpoint: &str) -> aws_sdk_kms::Client {
        let config = aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_kms::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .build();
        aws_sdk_kms::Client::from_conf(config)
    }

    /// coffer with an environment that holds only what the test gives: no profile, no
    /// config files, no instance metadata.
    fn run_with(fx: &Fx, args: &[&str], endpoint: &str, credentials: bool, stdin: &[u8]) -> Run {
        let mut cmd = fx.cmd();
        for var in [
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL_KMS",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", fx.dir())
            .env("AWS_CONFIG_FILE", fx.p("no-aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", fx.p("no-aws-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", endpoint);
        if credentials {
            cmd.env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing");
        }
        cmd.args(args).write_stdin(stdin.to_vec());
        common::run(&mut cmd)
    }

    /// An emulator with one key, and a directory holding the file `a`.
    fn one_key_and_file(plain: &[u8]) -> (Moto, String, Fx) {
        let moto = Moto::start();
        let arn = moto.create_key();
        let fx = Fx::new();
        fx.write("a", plain);
        (moto, arn, fx)
    }

    /// Where the first slot's body starts, and its length (FORMAT.md: 48 fixed bytes,
    /// then type, reserved, u16 body length).
    fn first_slot_body(ct: &[u8]) -> (usize, usize) {
        assert_eq!(ct[48], 0x20, "the first slot is a KMS slot");
        (52, usize::from(u16::from_be_bytes([ct[50], ct[51]])))
    }

    #[test]
    fn a_file_encrypted_to_a_kms_alias_opens_with_its_arn_key_id_or_alias() {
        let moto = Moto::start();
        let arn = moto.create_key();
        moto.create_alias("alias/backup", &arn);
        let fx = Fx::new();
        let plain = common::data(100_000, 1);
        fx.write("a", &plain);
        // KMS alone: no passphrase, nothing on stdin.
        moto.run(&fx, &["encrypt", "--kms-key", "alias/backup", "a"])
            .expect(0);
        let ct = fx.read("a.coffer");
        let (start, len) = first_slot_body(&ct);
        let body = &ct[start..start + len];
        let arn_len = usize::from(u16::from_be_bytes([body[0], body[1]]));
        assert_eq!(
            &body[2..2 + arn_len],
            arn.as_bytes(),
            "the slot holds the key ARN"
        );
        let inspect = fx.run(["inspect", "a.coffer"]);
        inspect.expect(0);
        assert!(inspect.out().contains("aws-kms"), "{}", inspect.out());
        let key_id = arn.rsplit('/').next().unwrap();
        for allowed in [arn.as_str(), key_id, "alias/backup"] {
            moto.run(&fx, &["decrypt", "-f", "--kms-key", allowed, "a.coffer"])
                .expect(0);
            assert_eq!(fx.read("a"), plain, "{allowed}");
            moto.run(&fx, &["verify", "--kms-key", allowed, "a.coffer"])
                .expect(0);
        }
    }

    #[test]
    fn a_batch_from_stdin_and_files_round_trips_with_each_of_several_kms_keys() {
        let moto = Moto::start();
        let (one, two) = (moto.create_key(), moto.create_key());
        let fx = Fx::new();
        fx.write("d/a", &common::data(10, 2));
        fx.write("d/b", &common::data(70_000, 3));
        let out = moto.run(
            &fx,
            &["encrypt", "-r", "--kms-key", &one, "--kms-key", &two, "d"],
        );
        out.expect(0);
        for key in [&one, &two] {
            moto.run(&fx, &["decrypt", "-f", "-r", "--kms-key", key, "d"])
                .expect(0);
            assert_eq!(fx.read("d/b"), common::data(70_000, 3));
        }
        let stdin = common::data(5000, 4);
        let piped = run_with(
            &fx,
            &["encrypt", "--kms-key", &two],
            &moto.endpoint,
            true,
            &stdin,
        );
        piped.expect(0);
        fx.write("s.coffer", &piped.stdout);
        moto.run(&fx, &["decrypt", "--kms-key", &two, "s.coffer"])
            .expect(0);
        assert_eq!(fx.read("s"), common::data(5000, 4));
    }

    #[test]
    fn a_key_file_opens_a_kms_file_while_kms_is_unreachable() {
        let moto = Moto::start();
        let arn = moto.create_key();
        let fx = Fx::new();
        fx.run(["keygen", "--symmetric", "-o", "break-glass.key"])
            .expect(0);
        fx.write("a", b"restore me");
        moto.run(
            &fx,
            &[
                "encrypt",
                "--kms-key",
                &arn,
                "--key-file",
                "break-glass.key",
                "a",
            ],
        )
        .expect(0);
        std::fs::remove_file(fx.p("a")).unwrap();
        let down = closed_endpoint();
        let run = run_with(
            &fx,
            &[
                "decrypt",
                "--kms-key",
                &arn,
                "--key-file",
                "break-glass.key",
                "a.coffer",
            ],
            &down,
            true,
            b"",
        );
        run.expect(0);
        assert_eq!(fx.read("a"), b"restore me");
        // With KMS alone, the same outage is its own error (exit 11), within the bound.
        let run = run_with(
            &fx,
            &["verify", "--kms-key", &arn, "a.coffer"],
            &down,
            true,
            b"",
        );
        run.expect(11);
        assert!(run.stderr.contains("AWS KMS unreachable"), "{}", run.stderr);
        assert!(run.elapsed < KMS_BOUND, "{:?}", run.elapsed);
    }

    #[test]
    fn a_modified_blob_fails_authentication() {
        let (moto, arn, fx) = one_key_and_file(b"secret");
        moto.run(&fx, &["encrypt", "--kms-key", &arn, "a"])
            .expect(0);
        let ct = fx.read("a.coffer");
        let (start, len) = first_slot_body(&ct);
        common::flip_bit(&fx.p("a.coffer"), start + len - 1, 0);
        let run = moto.run(
            &fx,
            &["decrypt", "-o", "out", "--kms-key", &arn, "a.coffer"],
        );
        run.expect(4);
        assert!(
            run.stderr.contains("could not decrypt the slot"),
            "{}",
            run.stderr
        );
        assert!(!fx.p("out").exists());
    }

    #[test]
    fn a_slot_moved_into_another_file_does_not_open_there() {
        let (moto, arn, fx) = one_key_and_file(b"file a");
        fx.write("b", b"file b");
        moto.run(&fx, &["encrypt", "--kms-key", &arn, "a", "b"])
            .expect(0);
        let (a, mut b) = (fx.read("a.coffer"), fx.read("b.coffer"));
        let (start, len) = first_slot_body(&a);
        assert_eq!(
            first_slot_body(&b),
            (start, len),
            "same key, same blob size"
        );
        b[start..start + len].copy_from_slice(&a[start..start + len]);
        fx.write("b.coffer", &b);
        let run = moto.run(
            &fx,
            &["decrypt", "-o", "out", "--kms-key", &arn, "b.coffer"],
        );
        run.expect(4);
        assert!(
            run.stderr.contains("comes from another file"),
            "{}",
            run.stderr
        );
        assert!(!fx.p("out").exists());
    }

    #[test]
    fn the_context_reaches_kms_and_a_wrong_one_is_refused() {
        let (moto, arn, fx) = one_key_and_file(b"web1's data");
        let enc = ["encrypt", "--context", "host=web1", "--kms-key", &arn, "a"];
        moto.run(&fx, &enc).expect(0);
        moto.run(
            &fx,
            &[
                "verify",
                "--context",
                "host=web1",
                "--kms-key",
                &arn,
                "a.coffer",
            ],
        )
        .expect(0);
        // The reader asks for another host's file: refused (exit 3), nothing written.
        let run = moto.run(
            &fx,
            &[
                "decrypt",
                "-o",
                "out",
                "--context",
                "host=web2",
                "--kms-key",
                &arn,
                "a.coffer",
            ],
        );
        run.expect(3);
        assert!(!fx.p("out").exists());
        // The context in the header changed to web2 (the block's last value byte, at
        // 48 + 2 + 2 + 4 + 2 + 3): KMS itself refuses, since the pairs are in its
        // encryption context; without that the header MAC would fail instead (another
        // message).
        let mut ct = fx.read("a.coffer");
        assert_eq!(&ct[58..62], b"web1");
        ct[61] = b'2';
        fx.write("a.coffer", &ct);
        let run = moto.run(
            &fx,
            &["decrypt", "-o", "out", "--kms-key", &arn, "a.coffer"],
        );
        run.expect(4);
        assert!(run.stderr.contains("the context differs"), "{}", run.stderr);
        assert!(!fx.p("out").exists());
    }

    #[test]
    fn a_key_outside_the_allow_list_is_refused_without_asking_kms() {
        let moto = Moto::start();
        let (used, other) = (moto.create_key(), moto.create_key());
        let fx = Fx::new();
        fx.write("a", b"data");
        moto.run(&fx, &["encrypt", "--kms-key", &used, "a"])
            .expect(0);
        // Against a live KMS: refused as "no slot opens".
        let run = moto.run(
            &fx,
            &["decrypt", "-o", "out", "--kms-key", &other, "a.coffer"],
        );
        run.expect(3);
        assert!(!fx.p("out").exists());
        // Against no KMS at all: still exit 3, not 11, so no call was made.
        let down = closed_endpoint();
        run_with(
            &fx,
            &["verify", "--kms-key", &other, "a.coffer"],
            &down,
            true,
            b"",
        )
        .expect(3);
    }

    #[test]
    fn discovery_opens_any_key_and_kms_account_restricts_it() {
        let moto = Moto::start();
        let arn = moto.create_key();
        assert!(arn.contains(&format!(":{ACCOUNT}:")), "{arn}");
        let fx = Fx::new();
        fx.write("a", b"data");
        moto.run(&fx, &["encrypt", "--kms-key", &arn, "a"])
            .expect(0);
        moto.run(&fx, &["verify", "--kms-discovery", "a.coffer"])
            .expect(0);
        moto.run(
            &fx,
            &[
                "verify",
                "--kms-discovery",
                "--kms-account",
                ACCOUNT,
                "a.coffer",
            ],
        )
        .expect(0);
        let down = closed_endpoint();
        let other_account = [
            "verify",
            "--kms-discovery",
            "--kms-account",
            "999999999999",
            "a.coffer",
        ];
        run_with(&fx, &other_account, &down, true, b"").expect(3);
        // --kms-account alone is a usage error, as is a malformed account.
        moto.run(&fx, &["verify", "--kms-account", ACCOUNT, "a.coffer"])
            .expect(2);
        moto.run(
            &fx,
            &[
                "verify",
                "--kms-discovery",
                "--kms-account",
                "12",
                "a.coffer",
            ],
        )
        .expect(2);
    }

    #[test]
    fn no_credentials_is_its_own_error_and_leaves_nothing() {
        let (moto, arn, fx) = one_key_and_file(b"data");
        let run = run_with(
            &fx,
            &["encrypt", "--kms-key", &arn, "a"],
            &moto.endpoint,
            false,
            b"",
        );
        run.expect(10);
        assert!(
            run.stderr.contains("no AWS credentials found"),
            "{}",
            run.stderr
        );
        assert!(run.elapsed < KMS_BOUND, "{:?}", run.elapsed);
        assert!(!fx.p("a.coffer").exists());
        common::assert_no_temp_files(fx.dir());
    }

    #[test]
    fn an_unreachable_endpoint_on_encrypt_is_a_network_error_and_leaves_nothing() {
        let fx = Fx::new();
        fx.write("a", b"data");
        let arn =
            format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000");
        let run = run_with(
            &fx,
            &["encrypt", "--kms-key", &arn, "a"],
            &closed_endpoint(),
            true,
            b"",
        );
        run.expect(11);
        assert!(run.elapsed < KMS_BOUND, "{:?}", run.elapsed);
        assert!(!fx.p("a.coffer").exists());
        common::assert_no_temp_files(fx.dir());
    }

    #[test]
    fn a_missing_key_is_its_own_error() {
        let moto = Moto::start();
        let fx = Fx::new();
        fx.write("a", b"data");
        let run = moto.run(&fx, &["encrypt", "--kms-key", "alias/does-not-exist", "a"]);
        run.expect(8);
        assert!(run.stderr.contains("not found"), "{}", run.stderr);
        assert!(!fx.p("a.coffer").exists());
    }

    #[test]
    fn rekey_adds_a_kms_slot_and_rotates_between_kms_keys() {
        let moto = Moto::start();
        let (old, new) = (moto.create_key(), moto.create_key());
        let fx = Fx::new();
        fx.write("a", b"rotate me");
        fx.run(
            ["encrypt", "--passphrase-file", "pw"]
                .into_iter()
                .chain(common::SMALL_KDF)
                .chain(["a"]),
        )
        .expect(0);
        moto.run(
            &fx,
            &[
                "rekey",
                "--passphrase-file",
                "pw",
                "--add-kms-key",
                &old,
                "a.coffer",
            ],
        )
        .expect(0);
        moto.run(&fx, &["verify", "--kms-key", &old, "a.coffer"])
            .expect(0);
        // Rotate: open with the old key, add the new one, drop the old slot (slot 1).
        moto.run(
            &fx,
            &[
                "rekey",
                "--kms-key",
                &old,
                "--add-kms-key",
                &new,
                "--remove-slot",
                "1",
                "a.coffer",
            ],
        )
        .expect(0);
        moto.run(&fx, &["verify", "--kms-key", &old, "a.coffer"])
            .expect(3);
        moto.run(&fx, &["decrypt", "-f", "--kms-key", &new, "a.coffer"])
            .expect(0);
        assert_eq!(fx.read("a"), b"rotate me");
        // --rotate makes the KMS slot again (a new file key, a new Encrypt) and the
        // payload changes; the passphrase slot goes, since no passphrase is given here.
        let before = fx.read("a.coffer");
        let rotate = [
            "rekey",
            "--kms-key",
            &new,
            "--rotate",
            "--remove-slot",
            "0",
            "a.coffer",
        ];
        moto.run(&fx, &rotate).expect(0);
        let after = fx.read("a.coffer");
        assert_ne!(before[before.len() - 100..], after[after.len() - 100..]);
        moto.run(&fx, &["decrypt", "-f", "--kms-key", &new, "a.coffer"])
            .expect(0);
        assert_eq!(fx.read("a"), b"rotate me");
        fx.run(["verify", "--passphrase-file", "pw", "a.coffer"])
            .expect(3);
    }

    #[test]
    fn delete_source_with_kms_keeps_a_copy_that_decrypts() {
        // The read-back before removing the source uses the keys this run sealed (no
        // Decrypt call; the unit tests of src/slots/kms.rs count the calls).
        let (moto, arn, fx) = one_key_and_file(b"move me");
        moto.run(&fx, &["encrypt", "--delete-source", "--kms-key", &arn, "a"])
            .expect(0);
        assert!(!fx.p("a").exists());
        moto.run(&fx, &["decrypt", "--kms-key", &arn, "a.coffer"])
            .expect(0);
        assert_eq!(fx.read("a"), b"move me");
    }
}
