//! A newcomer's first hour (issue 12): documented figures that match the code, complete
//! man pages, passphrase sources that refuse what they would otherwise cut, a report
//! that survives Ctrl-C, the restore script on unusual names, and the small rough edges.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn repo_file(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---- README figures -------------------------------------------------------------------

/// The figures README states, as the library defines them, in the order README states
/// them: (the text just before the number, the value). The one place this test reaches
/// into the library: if the constants move, only this function changes.
fn library_figures() -> Vec<(&'static str, u64)> {
    use coffer::internals::stream::{CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, PREFIX_LEN, TAG_LEN};
    use coffer::kdf;
    let kib = |bytes: usize| (bytes / 1024) as u64;
    vec![
        ("undetected. Every ", kib(CHUNK_SIZE)),
        (
            "`--kdf-memory MIB` (default ",
            kdf::DEFAULT_MEMORY_MIB.into(),
        ),
        ("`--kdf-passes N` (default ", kdf::DEFAULT_PASSES.into()),
        ("`--kdf-lanes N` (default ", kdf::DEFAULT_LANES.into()),
        ("The floor is ", kdf::FLOOR_MEMORY_MIB.into()),
        (" MiB and ", kdf::FLOOR_PASSES.into()),
        ("; at most ", kdf::MAX_PASSES.into()),
        (" passes and\n", kdf::MAX_LANES.into()),
        (
            "`--max-kdf-memory MIB` (default ",
            kdf::DEFAULT_MAX_MEMORY_MIB.into(),
        ),
        ("made of fixed ", kib(CHUNK_SIZE)),
        ("L=$((size - H - ", PREFIX_LEN as u64),
        ("P=$((L / ", ENCRYPTED_CHUNK_SIZE as u64),
        (" * ", CHUNK_SIZE as u64),
        (" + L % ", ENCRYPTED_CHUNK_SIZE as u64),
        (" - ", TAG_LEN as u64),
        ("coffer's defaults: ", kdf::DEFAULT_MEMORY_MIB.into()),
        (" MiB, ", kdf::DEFAULT_PASSES.into()),
        (" passes, ", kdf::DEFAULT_LANES.into()),
    ]
}

/// The decimal number right after the first `marker` at or after `from`, and where it
/// ends.
fn number_after(text: &str, marker: &str, from: usize) -> (u64, usize) {
    let at = text[from..]
        .find(marker)
        .unwrap_or_else(|| panic!("README no longer says {marker:?}: update library_figures"))
        + from
        + marker.len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let value = digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {marker:?} in README"));
    (value, at + digits.len())
}

#[test]
fn readme_states_the_kdf_defaults_caps_and_chunk_sizes_the_library_defines() {
    let readme = repo_file("README.md");
    // Markers are searched in order, each after the previous figure.
    let mut from = 0;
    for (marker, value) in library_figures() {
        let (stated, end) = number_after(&readme, marker, from);
        assert_eq!(
            stated, value,
            "README says {stated} after {marker:?}; the library says {value}"
        );
        from = end;
    }
}

#[test]
fn readme_states_the_minimum_rust_version_of_cargo_toml() {
    let readme = repo_file("README.md");
    let msrv = env!("CARGO_PKG_RUST_VERSION");
    assert!(!msrv.is_empty(), "Cargo.toml has no rust-version");
    assert!(
        readme.contains(&format!("You need Rust {msrv} or newer")),
        "README must state the rust-version of Cargo.toml ({msrv})"
    );
    assert!(readme.contains("cargo install --locked --path ."));
    assert!(readme.contains("[profile.dev.package.argon2]\nopt-level = 3"));
}

// ---- man pages ------------------------------------------------------------------------

/// Subcommand names from `coffer --help` (independent of the man page code).
fn subcommands() -> Vec<String> {
    let fx = Fx::new();
    let help = fx.run(["--help"]);
    help.expect(0);
    let text = help.out();
    let commands = text
        .split("Commands:\n")
        .nth(1)
        .expect("--help lists commands");
    commands
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Every `--long` option that `coffer SUB --help` lists.
fn long_options(sub: &str) -> Vec<String> {
    let fx = Fx::new();
    let help = fx.run([sub, "--help"]);
    help.expect(0);
    let mut options = Vec::new();
    for line in help.out().lines() {
        let line = line.trim_start();
        if !line.starts_with('-') {
            continue;
        }
        for word in line.split([' ', ',']) {
            if let Some(name) = word.strip_prefix("--") {
                if !name.is_empty() && !options.iter().any(|o| o == name) {
                    options.push(name.to_string());
                }
            }
        }
    }
    options
}

/// The exit codes `--help` lists.
fn exit_codes_in_help() -> Vec<String> {
    let fx = Fx::new();
    let help = fx.run(["encrypt", "--help"]).out();
    let list = help.split("Exit codes:\n").nth(1).expect("exit codes");
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

#[test]
fn man_out_dir_writes_a_complete_page_for_coffer_and_every_subcommand() {
    let fx = Fx::new();
    fx.run(["man", "--out-dir", "pages"]).expect(0);
    let subs = subcommands();
    assert!(subs.len() >= 6, "{subs:?}");
    let codes = exit_codes_in_help();
    assert_eq!(
        codes,
        ["0", "1", "2", "3", "4", "5", "7", "8", "9", "10", "11", "130", "141"]
    );
    let mut pages = vec![("coffer".to_string(), None)];
    pages.extend(
        subs.iter()
            .map(|s| (format!("coffer-{s}"), Some(s.as_str()))),
    );
    for (page, sub) in &pages {
        let path = fx.p(format!("pages/{page}.1"));
        let roff = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{page}.1: {e}"));
        assert!(
            roff.contains(&format!("\n.TH {} 1 ", page.to_uppercase())),
            "{page}"
        );
        for section in ["EXIT STATUS", "ENVIRONMENT", "FILES", "SEE ALSO"] {
            assert!(
                roff.contains(&format!(".SH \"{section}\"")),
                "{page}.1 lacks {section}"
            );
        }
        // One tagged paragraph per exit code: a list, not run-together text.
        for code in &codes {
            assert!(
                roff.contains(&format!(".TP\n\\fB{code}\\fR\n")),
                "{page}.1 lacks exit status {code} as a list item"
            );
        }
        if let Some(sub) = sub {
            for option in long_options(sub) {
                let escaped = format!("\\-\\-{}", option.replace('-', "\\-"));
                assert!(roff.contains(&escaped), "{page}.1 lacks --{option}");
            }
            assert!(
                roff.contains("\\fBcoffer\\fR(1)"),
                "{page}.1 links coffer(1)"
            );
        } else {
            for sub in &subs {
                assert!(
                    roff.contains(&format!("coffer\\-{sub}")),
                    "coffer.1 lacks {sub}"
                );
            }
        }
    }
    for page in ["coffer", "coffer-encrypt", "coffer-decrypt"] {
        let roff = fs::read_to_string(fx.p(format!("pages/{page}.1"))).unwrap();
        assert!(roff.contains(".SH \"EXAMPLES\""), "{page}.1 lacks EXAMPLES");
    }
    // The passphrase sources are documented with what counts as the passphrase.
    let encrypt = fs::read_to_string(fx.p("pages/coffer-encrypt.1")).unwrap();
    assert!(encrypt.matches("minus one trailing").count() >= 3);
    // `coffer man` alone prints coffer(1).
    let main = fx.run(["man"]);
    main.expect(0);
    assert_eq!(main.stdout, fs::read(fx.p("pages/coffer.1")).unwrap());
}

#[test]
fn man_pages_render_without_roff_warnings() {
    let fx = Fx::new();
    fx.run(["man", "--out-dir", "pages"]).expect(0);
    if Command::new("groff").arg("--version").output().is_err() {
        eprintln!("groff not installed: rendering not checked");
        return;
    }
    for path in files_below(&fx.p("pages")) {
        let out = Command::new("groff")
            .args(["-man", "-ww", "-z"])
            .arg(fx.p("pages").join(&path))
            .output()
            .unwrap();
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(warnings.trim().is_empty(), "{}: {warnings}", path.display());
    }
}

// ---- passphrase sources ---------------------------------------------------------------

#[test]
fn a_multi_line_passphrase_env_is_refused_not_cut_to_its_first_line() {
    let fx = Fx::new();
    fx.write("f", b"data");
    let mut cmd = fx.cmd();
    cmd.env("PW", "abc\nrest")
        .args(["encrypt", "--passphrase-env", "PW"])
        .args(SMALL_KDF)
        .arg("f");
    let r = run(&mut cmd);
    r.expect(2);
    assert!(
        r.stderr
            .contains("the passphrase from environment variable PW has more than one line"),
        "{}",
        r.stderr
    );
    assert!(!fx.p("f.coffer").exists());
    assert_no_temp_files(fx.dir());
}

#[test]
fn a_pem_file_or_two_lines_on_a_descriptor_are_refused_as_passphrases() {
    let fx = Fx::new();
    fx.make_encrypted("f", b"data");
    fx.passfile_with(
        "key.pem",
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA\n-----END PRIVATE KEY-----\n",
    );
    let r = fx.run([
        "decrypt",
        "--passphrase-file",
        "key.pem",
        "-o",
        "out",
        "f.coffer",
    ]);
    r.expect(2);
    assert!(r
        .stderr
        .contains("from file key.pem has more than one line"));
    assert!(!fx.p("out").exists());
    // A descriptor is read to its end: a second line there is refused too.
    let r = fx.bash(&format!(
        "printf '{PASS}\\nsecond\\n' | \"$COFFER\" decrypt --passphrase-fd 0 -o out2 f.coffer"
    ));
    r.expect(2);
    assert!(r.stderr.contains("from fd 0 has more than one line"));
    // One trailing "\r\n" is not a second line.
    fx.passfile_with("crlf", &format!("{PASS}\r\n"));
    fx.run([
        "decrypt",
        "-q",
        "--passphrase-file",
        "crlf",
        "-o",
        "out3",
        "f.coffer",
    ])
    .expect(0);
    assert_eq!(fx.read("out3"), b"data");
}

#[test]
fn an_empty_passphrase_on_decrypt_is_refused_before_any_derivation() {
    let fx = Fx::new();
    fx.make_encrypted("f", b"data");
    // Without the check this runs the derivation and exits 3 ("wrong passphrase?").
    let mut cmd = fx.cmd();
    cmd.env("PW", "")
        .args(["decrypt", "--passphrase-env", "PW", "-o", "out", "f.coffer"]);
    let r = run(&mut cmd);
    r.expect(2);
    assert!(
        r.stderr
            .contains("the passphrase from environment variable PW is empty"),
        "{}",
        r.stderr
    );
    fx.passfile_with("blank", "\n");
    let r = fx.run(["verify", "--passphrase-file", "blank", "f.coffer"]);
    r.expect(2);
    assert!(r.stderr.contains("the passphrase from file blank is empty"));
    assert!(!fx.p("out").exists());
}

#[test]
fn every_passphrase_source_says_what_counts_as_the_passphrase() {
    let fx = Fx::new();
    for sub in ["encrypt", "decrypt", "verify"] {
        let help = fx.run([sub, "--help"]).out();
        for flag in ["--passphrase-file", "--passphrase-fd", "--passphrase-env"] {
            let at = help.find(flag).unwrap();
            let next_flag = help[at + flag.len()..]
                .find("\n  -")
                .map_or(help.len(), |n| n + at + flag.len());
            let text = help[at..next_flag]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            assert!(
                text.contains("minus one trailing") && text.contains("second line"),
                "{sub} {flag}: {text}"
            );
        }
    }
}

// ---- the report after Ctrl-C ----------------------------------------------------------

/// Waits until `cond` holds, for at most a minute.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn interrupt(pid: u32) {
    // bash's builtin: no dependency on procps.
    let status = Command::new("bash")
        .args(["-c", &format!("kill -INT {pid}")])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn an_interrupted_run_still_writes_the_interrupted_line_and_the_summary_to_the_report() {
    let fx = Fx::new();
    let mut child = Command::new(bin())
        .current_dir(fx.dir())
        .args([
            "encrypt",
            "--passphrase-file",
            "pw",
            "--report",
            "run.json",
            "-o",
            "out",
        ])
        .args(SMALL_KDF)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&data(3 * CHUNK, 1)).unwrap();
    // The temporary output exists once the key is derived and the file is being written;
    // stdin stays open, so the run is still in progress when the signal comes.
    let pid = child.id();
    wait_for("the temporary output", || {
        output_in_progress(pid, fx.dir()).is_some()
    });
    interrupt(child.id());
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(out.status.code(), Some(130));
    let report = String::from_utf8(fs::read(fx.p("run.json")).unwrap()).unwrap();
    let lines = json_lines(&report);
    assert_eq!(lines.len(), 2, "{report}");
    assert_eq!(lines[0]["path"], "-");
    assert_eq!(lines[0]["outcome"], "error");
    assert_eq!(lines[0]["error_kind"], "interrupted");
    assert_eq!(lines[0]["exit_code"], 130);
    let summary = summary(&lines);
    assert_eq!(summary["exit_code"], 130);
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["files"], 1);
    assert!(!fx.p("out").exists());
    assert_no_temp_files(fx.dir());
}

/// Resident memory of a process in KiB (Linux).
fn resident_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn files_not_started_when_interrupted_get_interrupted_lines_in_input_order() {
    let fx = Fx::new();
    for name in ["a", "b", "c"] {
        fx.write(name, b"data");
    }
    let child = Command::new(bin())
        .current_dir(fx.dir())
        .args(["encrypt", "--passphrase-file", "pw", "--json"])
        .args([
            "--kdf-memory",
            "256",
            "--kdf-passes",
            "16",
            "--kdf-lanes",
            "1",
        ])
        .args(["a", "b", "c"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Memory grows once the derivation runs, well after the handler is installed.
    let pid = child.id();
    wait_for("the key derivation", || resident_kib(pid) > 64 * 1024);
    interrupt(pid);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let lines = json_lines(&String::from_utf8(out.stdout).unwrap());
    let paths: Vec<&str> = lines[..lines.len() - 1]
        .iter()
        .map(|l| l["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["a", "b", "c"]);
    assert!(lines[..3].iter().all(|l| l["error_kind"] == "interrupted"));
    let summary = summary(&lines);
    assert_eq!(summary["files"], 3);
    assert_eq!(summary["failed"], 3);
    assert_eq!(summary["exit_code"], 130);
    for name in ["a.coffer", "b.coffer", "c.coffer"] {
        assert!(!fx.p(name).exists());
    }
}

// ---- restore.sh -----------------------------------------------------------------------

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/examples")
        .join(name)
}

/// Runs a docs/examples script in `locale`, with `cp` as the transfer command.
fn run_script(fx: &Fx, name: &str, args: &[&Path], locale: &str) -> Run {
    let mut cmd = assert_cmd::Command::new("bash");
    cmd.current_dir(fx.dir())
        .arg(script(name))
        .args(args)
        .env("COFFER", bin())
        .env("PASSPHRASE_FILE", fx.p("secret/pw"))
        .env("UPLOAD_CMD", "cp")
        .env("DOWNLOAD_CMD", "cp")
        .env("KDF_ARGS", SMALL_KDF.join(" "))
        .env("TMPDIR", fx.p("staging"))
        .env("LC_ALL", locale)
        .write_stdin(Vec::new());
    run(&mut cmd)
}

/// Names tar escapes in its listing: non-ASCII (escaped in the C locale only), a
/// backslash, a tab, a newline, a control character, and a plain neighbour.
const ODD_NAMES: [&str; 6] = [
    "café.txt",
    "back\\slash.txt",
    "tab\tname.txt",
    "new\nline.txt",
    "bell\u{7}.txt",
    "plain.txt",
];

fn backup_odd_names(locale: &str) -> Fx {
    let fx = Fx::new();
    fs::create_dir_all(fx.p("staging")).unwrap();
    fs::create_dir_all(fx.p("bucket")).unwrap();
    fx.passfile_with("secret/pw", &format!("{PASS}\n"));
    for (i, name) in ODD_NAMES.iter().enumerate() {
        fx.write(
            Path::new("src/dir").join(name),
            &data(1000 + i * 700, i as u64),
        );
    }
    run_script(
        &fx,
        "backup.sh",
        &[
            Path::new("-n"),
            Path::new("b"),
            &fx.p("src"),
            &fx.p("bucket"),
        ],
        locale,
    )
    .expect(0);
    fx
}

#[test]
fn restore_script_finds_non_ascii_backslash_tab_and_control_names_in_the_c_locale() {
    for backup_locale in ["C", "C.UTF-8"] {
        let fx = backup_odd_names(backup_locale);
        for (i, name) in ODD_NAMES.iter().enumerate() {
            let want = Path::new("dir").join(name);
            let out = fx.p(format!("restored{i}"));
            let r = run_script(
                &fx,
                "restore.sh",
                &[
                    Path::new("-o"),
                    &out,
                    &fx.p("bucket"),
                    Path::new("b"),
                    &want,
                ],
                "C",
            );
            r.expect(0);
            assert_eq!(
                fs::read(out.join(&want)).unwrap(),
                fx.read(Path::new("src").join(&want)),
                "{name:?} (backup in {backup_locale})"
            );
            // Only that member came back.
            assert_eq!(files_below(&out).len(), 1, "{name:?}");
        }
    }
}

#[test]
fn restore_script_finds_names_in_an_index_listed_in_a_utf8_locale() {
    // An index made by an older backup.sh in the caller's UTF-8 locale holds raw UTF-8.
    let fx = backup_odd_names("C");
    let index = fx.p("bucket/b.index.coffer");
    fx.bash(&format!(
        "set -e; \"$COFFER\" decrypt -q --passphrase-file secret/pw -c bucket/b.tar.coffer \
         | LC_ALL=C.UTF-8 tar -tR -f - > listing; grep -q 'café' listing; \
         \"$COFFER\" encrypt -q -f --passphrase-file secret/pw {} -o {} listing",
        SMALL_KDF.join(" "),
        index.display()
    ))
    .expect(0);
    let want = Path::new("dir/café.txt");
    let r = run_script(
        &fx,
        "restore.sh",
        &[
            Path::new("-o"),
            &fx.p("out"),
            &fx.p("bucket"),
            Path::new("b"),
            want,
        ],
        "C",
    );
    r.expect(0);
    assert_eq!(
        fs::read(fx.p("out").join(want)).unwrap(),
        fx.read(Path::new("src").join(want))
    );
}

#[test]
fn restore_script_help_and_errors_read_cleanly() {
    let fx = Fx::new();
    let help = run_script(&fx, "restore.sh", &[Path::new("-h")], "C");
    help.expect(0);
    assert!(help
        .out()
        .contains("restore.sh [-o OUTPUT_DIR] SOURCE NAME PATH_IN_BACKUP"));
    assert!(!help.stderr.contains("illegal option"), "{}", help.stderr);
    let bad = run_script(&fx, "restore.sh", &[Path::new("-x")], "C");
    bad.expect(2);
    assert!(bad.stderr.contains("unknown option -x"), "{}", bad.stderr);
    assert!(!bad.stderr.contains("illegal option"), "{}", bad.stderr);
    // The exit code is not appended to the message.
    let few = run_script(&fx, "restore.sh", &[Path::new("only-one")], "C");
    few.expect(2);
    let last = few.stderr.lines().last().unwrap();
    assert!(last.ends_with("PATH_IN_BACKUP"), "{last}");
    let backup = run_script(&fx, "backup.sh", &[Path::new("-x")], "C");
    backup.expect(2);
    assert!(
        !backup.stderr.contains("illegal option"),
        "{}",
        backup.stderr
    );
    assert!(
        backup.stderr.trim_end().ends_with("DESTINATION"),
        "{}",
        backup.stderr
    );
}

// ---- small ones -----------------------------------------------------------------------

#[test]
fn a_non_coffer_file_gets_no_hint_to_run_inspect() {
    let fx = Fx::new();
    fx.write("plain.txt", b"just text, not encrypted\n");
    for args in [
        vec!["inspect", "plain.txt"],
        vec![
            "decrypt",
            "--passphrase-file",
            "pw",
            "-o",
            "out",
            "plain.txt",
        ],
    ] {
        let r = fx.run(&args);
        r.expect(5);
        assert!(r.stderr.contains("not a coffer file"), "{}", r.stderr);
        assert!(
            !r.stderr.contains("coffer inspect"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(r.stderr.contains("hint: "), "{}", r.stderr);
    }
}

#[test]
fn a_process_substitution_input_gets_a_hint_to_use_c_or_o() {
    let fx = Fx::new();
    fx.write("f", b"data");
    let r = fx.bash(&format!(
        "\"$COFFER\" encrypt --passphrase-file pw {} <(cat f)",
        SMALL_KDF.join(" ")
    ));
    r.expect(2);
    assert!(r.stderr.contains("/dev/fd/"), "{}", r.stderr);
    assert!(
        r.stderr.contains("use -c to write to stdout, or -o PATH"),
        "{}",
        r.stderr
    );
    // With -c it works.
    let r = fx.bash(&format!(
        "\"$COFFER\" encrypt -q --passphrase-file pw {} -c <(cat f) > f.coffer",
        SMALL_KDF.join(" ")
    ));
    r.expect(0);
    fx.decrypt(["-o", "back", "f.coffer"]).expect(0);
    assert_eq!(fx.read("back"), b"data");
}

#[test]
fn help_exit_codes_include_no_passphrase_source() {
    let fx = Fx::new();
    for args in [
        vec!["--help"],
        vec!["encrypt", "--help"],
        vec!["decrypt", "--help"],
    ] {
        let help = fx.run(&args).out();
        let codes = help.split("Exit codes:").nth(1).expect("exit codes");
        assert!(codes.contains("no passphrase source"), "{args:?}");
    }
}

/// Runs a Python script that drives coffer on a pseudo-terminal (argv[1] is the binary).
fn on_a_pty(fx: &Fx, script: &str) -> Run {
    let mut cmd = assert_cmd::Command::new("python3");
    cmd.current_dir(fx.dir())
        .arg("-c")
        .arg(script)
        .arg(bin())
        .env("LC_ALL", "C")
        .write_stdin(Vec::new());
    run(&mut cmd)
}

/// Runs `coffer decrypt` on a pty, interrupts it at the passphrase prompt with `how`
/// (Python: `os.write(fd, b"\\x03")` types Ctrl-C, `os.kill(pid, ...)` signals from
/// outside), and returns what the script saw: the exit code and the echo flag after.
fn interrupt_at_the_prompt(fx: &Fx, how: &str) -> String {
    let r = on_a_pty(
        fx,
        &format!(
            r#"
import os, pty, signal, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "decrypt", "-o", "out", "f.coffer"])
seen = b""
deadline = time.time() + 60
while b"Passphrase:" not in seen:
    assert time.time() < deadline, seen
    seen += os.read(fd, 1024)
time.sleep(0.2)
assert not termios.tcgetattr(fd)[3] & termios.ECHO, "echo is on at the prompt"
{how}
_, status = os.waitpid(pid, 0)
print("exit", os.waitstatus_to_exitcode(status))
print("echo", "on" if termios.tcgetattr(fd)[3] & termios.ECHO else "off")
"#
        ),
    );
    r.expect(0);
    r.out()
}

#[test]
fn interrupting_the_passphrase_prompt_gives_the_terminal_its_echo_back() {
    let fx = Fx::new();
    fx.make_encrypted("f", b"data");
    for how in [
        "os.kill(pid, signal.SIGINT)",
        "os.kill(pid, signal.SIGTERM)",
        "os.write(fd, b'\\x03')",
    ] {
        let seen = interrupt_at_the_prompt(&fx, how);
        assert!(seen.contains("exit 130"), "{how}: {seen}");
        assert!(seen.contains("echo on"), "{how}: {seen}");
        assert!(!fx.p("out").exists());
    }
}

#[test]
fn a_tiny_piped_input_draws_no_spinner_on_a_terminal() {
    let fx = Fx::new();
    let r = on_a_pty(
        &fx,
        &format!(
            r#"
import os, pty, subprocess, sys
master, slave = os.openpty()
p = subprocess.run([sys.argv[1], "encrypt", "--passphrase-file", "pw", {kdf}, "-c"],
                   input=b"hello\n", stdout=open("out.coffer", "wb"), stderr=slave)
os.close(slave)
drawn = b""
try:
    while True:
        chunk = os.read(master, 4096)
        if not chunk:
            break
        drawn += chunk
except OSError:
    pass
print("exit", p.returncode)
print("stderr", repr(drawn))
"#,
            kdf = SMALL_KDF
                .iter()
                .map(|a| format!("{a:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    r.expect(0);
    assert!(r.out().contains("exit 0"), "{}", r.out());
    assert!(r.out().contains("stderr b''"), "{}", r.out());
    fx.decrypt(["-o", "back", "out.coffer"]).expect(0);
    assert_eq!(fx.read("back"), b"hello\n");
}
