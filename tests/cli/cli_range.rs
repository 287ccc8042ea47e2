//! `decrypt --range` (random access) and `inspect` (text, `--json`,
//! `--ciphertext-range`), checked against the plaintext and the spec's formulas.

use std::fs;

use crate::common::*;
use serde_json::Value;

/// Three full chunks and a 1234-byte final chunk.
const LEN: usize = 3 * CHUNK + 1234;

fn setup(len: usize, seed: u64) -> (Fx, Vec<u8>) {
    let fx = Fx::new();
    let plain = data(len, seed);
    fx.make_encrypted("f.bin", &plain);
    fs::remove_file(fx.p("f.bin")).unwrap();
    (fx, plain)
}

fn range_arg(start: usize, len: Option<usize>) -> String {
    match len {
        Some(len) => format!("{start}:{len}"),
        None => format!("{start}:"),
    }
}

#[test]
fn decrypt_range_returns_the_same_slice_as_the_plaintext() {
    let (fx, plain) = setup(LEN, 1);
    let cases: Vec<(usize, Option<usize>)> = vec![
        (0, Some(10)),                    // at 0
        (100, Some(1000)),                // inside a chunk
        (CHUNK - 5, Some(10)),            // across one chunk boundary
        (CHUNK - 1, Some(2 * CHUNK + 2)), // across several boundaries
        (CHUNK, Some(CHUNK)),             // exactly one chunk
        (3 * CHUNK, Some(1234)),          // exactly the final chunk
        (LEN - 10, Some(10)),             // ending exactly at the end
        (LEN - 1, Some(1)),               // the last byte
        (0, Some(LEN)),                   // everything
        (100, None),                      // START: to the end
        (2 * CHUNK + 7, None),            // START: inside a later chunk
        (0, None),                        // 0: is everything
    ];
    for (start, len) in cases {
        let end = len.map_or(LEN, |l| start + l);
        let r = fx.decrypt(["-q", "--range", &range_arg(start, len), "f.bin.coffer"]);
        r.expect(0);
        assert!(
            r.stdout == plain[start..end],
            "--range {}: got {} bytes, want {}",
            range_arg(start, len),
            r.stdout.len(),
            end - start
        );
    }
    // With -o.
    let r = fx.decrypt(["-q", "--range", "20000:5000", "-o", "slice", "f.bin.coffer"]);
    r.expect(0);
    assert!(fx.read("slice") == plain[20000..25000]);
    assert_eq!(mode(&fx.p("slice")), 0o600);
    assert!(
        !fx.p("f.bin").exists(),
        "--range must not write the default output"
    );
}

#[test]
fn decrypt_empty_range_writes_nothing_and_exits_0() {
    let (fx, _) = setup(LEN, 2);
    let r = fx.decrypt(["-q", "--range", "5:0", "f.bin.coffer"]);
    r.expect(0);
    assert!(r.stdout.is_empty());
    let r = fx.decrypt(["-q", "--range", "0:0", "-o", "empty.out", "f.bin.coffer"]);
    r.expect(0);
    if fx.p("empty.out").exists() {
        assert!(fx.read("empty.out").is_empty());
    }
}

#[test]
fn decrypt_empty_range_still_authenticates_the_final_chunk() {
    let (fx, _) = setup(LEN, 3);
    let ct = fx.p("f.bin.coffer");
    let len = fs::metadata(&ct).unwrap().len() as usize;
    flip_bit(&ct, len - 1, 0);
    fx.decrypt(["--range", "5:0", "f.bin.coffer"]).expect(4);
}

#[test]
fn decrypt_range_past_the_end_is_a_usage_error() {
    let (fx, _) = setup(LEN, 4);
    let before = fx.snapshot();
    for range in [
        format!("{}:10", LEN - 5),
        format!("{}:1", LEN + 100),
        format!("{}:", LEN + 1),
    ] {
        let r = fx.decrypt(["--range", &range, "-o", "out", "f.bin.coffer"]);
        r.expect(2);
        assert!(r.stdout.is_empty());
    }
    assert_eq!(fx.snapshot(), before);
}

#[test]
fn decrypt_range_rejects_malformed_ranges_and_several_inputs() {
    let (fx, _) = setup(100, 5);
    fx.write("g.bin", b"g");
    fx.encrypt("g.bin");
    for bad in ["abc", "1:x", "-1:2", ":5", ""] {
        let r = fx.decrypt(["--range", bad, "f.bin.coffer"]);
        r.expect(2);
        assert!(r.stdout.is_empty(), "--range {bad:?} wrote data");
    }
    fx.decrypt(["--range", "0:1", "f.bin.coffer", "g.bin.coffer"])
        .expect(2);
}

#[test]
fn decrypt_range_fails_with_exit_4_on_a_tampered_final_chunk_even_for_a_range_at_the_start() {
    let (fx, _) = setup(LEN, 6);
    let ct = fx.read("f.bin.coffer");
    // A byte inside the final chunk's body.
    flip_bit(&fx.p("f.bin.coffer"), chunk_offset(&ct, 3) + 100, 2);
    let before = fx.snapshot();
    let r = fx.decrypt(["--range", "0:10", "f.bin.coffer"]);
    r.expect(4);
    assert!(
        r.stdout.is_empty(),
        "no plaintext before the final chunk authenticates"
    );
    let r = fx.decrypt(["--range", "0:10", "-o", "part", "f.bin.coffer"]);
    r.expect(4);
    assert_eq!(
        fx.snapshot(),
        before,
        "no output or temp file after a failed range read"
    );
}

#[test]
fn decrypt_range_fails_with_exit_4_when_a_covered_chunk_is_tampered() {
    let (fx, plain) = setup(LEN, 7);
    let ct = fx.read("f.bin.coffer");
    flip_bit(&fx.p("f.bin.coffer"), chunk_offset(&ct, 1) + 5, 0);
    let before = fx.snapshot();
    let r = fx.decrypt([
        "--range",
        &format!("{}:10", CHUNK + 1),
        "-o",
        "x",
        "f.bin.coffer",
    ]);
    r.expect(4);
    assert_eq!(fx.snapshot(), before);
    // A range that does not cover chunk 1 reads only chunk 0 and the final chunk, as the
    // spec says (random access), so it succeeds.
    let r = fx.decrypt(["-q", "--range", "0:100", "f.bin.coffer"]);
    r.expect(0);
    assert!(r.stdout == plain[..100]);
}

#[test]
fn decrypt_range_works_on_a_file_whose_length_is_a_multiple_of_the_chunk_size() {
    let (fx, plain) = setup(2 * CHUNK, 8);
    for (start, len) in [(0, 1), (CHUNK - 1, 2), (2 * CHUNK - 3, 3)] {
        let r = fx.decrypt(["-q", "--range", &format!("{start}:{len}"), "f.bin.coffer"]);
        r.expect(0);
        assert!(r.stdout == plain[start..start + len]);
    }
    let r = fx.decrypt(["-q", "--range", &format!("{}:", CHUNK), "f.bin.coffer"]);
    r.expect(0);
    assert!(r.stdout == plain[CHUNK..]);
}

// ---------------------------------------------------------------------------------------
// inspect
// ---------------------------------------------------------------------------------------

/// `inspect` with no passphrase source at all and no terminal.
fn inspect(fx: &Fx, args: &[&str]) -> Run {
    let mut cmd = fx.cmd();
    cmd.arg("inspect").args(args).write_stdin(Vec::new());
    run(&mut cmd)
}

#[test]
fn inspect_json_reports_the_header_and_sizes_without_a_passphrase() {
    let fx = Fx::new();
    let sizes = [0usize, 1, CHUNK, LEN];
    let mut names = Vec::new();
    for (i, &len) in sizes.iter().enumerate() {
        let name = format!("s{i}");
        fx.write(&name, &data(len, 10 + i as u64));
        names.push(name);
    }
    let mut args: Vec<String> = vec!["-q".into()];
    args.extend(names.iter().cloned());
    fx.encrypt_args(&args).expect(0);
    let cts: Vec<String> = names.iter().map(|n| format!("{n}.coffer")).collect();
    let mut iargs = vec!["--json"];
    iargs.extend(cts.iter().map(String::as_str));
    let r = inspect(&fx, &iargs);
    r.expect(0);
    let lines = r.json_stdout();
    assert_eq!(
        lines.len(),
        sizes.len(),
        "one object per file:\n{}",
        r.out()
    );
    for ((line, &len), ct_name) in lines.iter().zip(&sizes).zip(&cts) {
        let ct = fx.read(ct_name);
        assert!(
            line["path"].as_str().unwrap().ends_with(ct_name.as_str()),
            "{line}"
        );
        assert_eq!(line["version"], 1);
        assert_eq!(line["header_len"], header_len(&ct) as u64);
        assert_eq!(line["chunk_size"], CHUNK as u64);
        assert_eq!(line["ciphertext_len"], ct.len() as u64);
        assert_eq!(line["plaintext_len"], len as u64, "{line}");
        assert_eq!(line["length_consistent"], true);
        let slots = line["slots"].as_array().expect("slots array");
        assert_eq!(slots.len(), 1);
        let slot = &slots[0];
        assert_eq!(slot["type"], "passphrase");
        assert_eq!(slot["kdf"], "argon2id");
        assert_eq!(slot["memory_mib"], 19);
        assert_eq!(slot["memory_kib"], 19 * 1024);
        assert_eq!(slot["passes"], 2);
        assert_eq!(slot["lanes"], 1);
    }
}

#[test]
fn inspect_text_reports_version_kdf_and_sizes() {
    let (fx, _) = setup(LEN, 11);
    let ct = fx.read("f.bin.coffer");
    let r = inspect(&fx, &["f.bin.coffer"]);
    r.expect(0);
    let text = r.out();
    let lower = text.to_lowercase();
    assert!(lower.contains("passphrase"), "{text}");
    assert!(lower.contains("argon2id"), "{text}");
    assert!(text.contains("19"), "memory MiB missing:\n{text}");
    assert!(text.contains("16384"), "chunk size missing:\n{text}");
    assert!(
        text.contains(&LEN.to_string()),
        "plaintext size missing:\n{text}"
    );
    assert!(
        text.contains(&ct.len().to_string()),
        "ciphertext size missing:\n{text}"
    );
    assert!(
        text.contains(&header_len(&ct).to_string()),
        "header size missing:\n{text}"
    );
}

#[test]
fn inspect_flags_an_inconsistent_length() {
    let (fx, _) = setup(LEN, 12);
    let mut ct = fx.read("f.bin.coffer");
    // Cut at a chunk boundary: no final chunk can end there.
    ct.truncate(chunk_offset(&ct, 3));
    fx.write("cut.coffer", &ct);
    let r = inspect(&fx, &["--json", "cut.coffer"]);
    assert_no_panic(&r.stderr);
    let lines = json_lines(&r.out());
    assert_eq!(
        lines.len(),
        1,
        "inspect should still describe the file:\n{}",
        r.stderr
    );
    assert_eq!(lines[0]["length_consistent"], false);
    assert_eq!(lines[0]["plaintext_len"], Value::Null);
    assert_eq!(lines[0]["ciphertext_len"], ct.len() as u64);
}

#[test]
fn inspect_of_a_non_coffer_file_exits_5() {
    let fx = Fx::new();
    fx.write("plain.txt", b"hello, not encrypted");
    inspect(&fx, &["plain.txt"]).expect(5);
    inspect(&fx, &["--json", "plain.txt"]).expect(5);
}

/// The spec's ranges for a plaintext range, as half-open intervals.
fn expected_ranges(
    h: usize,
    file_len: usize,
    plain_len: usize,
    start: usize,
    len: usize,
) -> Vec<(usize, usize)> {
    let base = h + PREFIX;
    let first = start / CHUNK;
    let last = (start + len - 1) / CHUNK;
    let n = plain_len / CHUNK;
    vec![
        (0, base),
        (
            base + first * ENC_CHUNK,
            (base + (last + 1) * ENC_CHUNK).min(file_len),
        ),
        (base + n * ENC_CHUNK, file_len),
    ]
}

fn merge(mut v: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    v.sort();
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

#[test]
fn inspect_ciphertext_range_follows_the_formulas_and_suffices_to_decrypt_the_range() {
    for (plain_len, seed) in [(LEN, 20u64), (2 * CHUNK, 21), (5000, 22)] {
        let (fx, plain) = setup(plain_len, seed);
        let ct = fx.read("f.bin.coffer");
        let h = header_len(&ct);
        let mut cases = vec![(0usize, 10usize), (plain_len - 1, 1), (0, plain_len)];
        if plain_len > 2 * CHUNK {
            cases.extend([(CHUNK - 3, 6), (CHUNK, CHUNK), (CHUNK + 5, 2 * CHUNK)]);
        }
        for (start, len) in cases {
            if start + len > plain_len {
                continue;
            }
            let arg = format!("{start}:{len}");
            let r = inspect(&fx, &["--json", "--ciphertext-range", &arg, "f.bin.coffer"]);
            r.expect(0);
            let lines = r.json_stdout();
            assert_eq!(lines.len(), 1, "{}", r.out());
            let ranges = lines[0]["ranges"].as_array().expect("ranges array");
            let got: Vec<(usize, usize)> = ranges
                .iter()
                .map(|x| {
                    let s = x["start"].as_u64().expect("start") as usize;
                    let e = x["end"].as_u64().expect("end") as usize;
                    assert!(
                        s < e && e <= ct.len(),
                        "bad range {x} for file of {}",
                        ct.len()
                    );
                    assert!(x["what"].is_string(), "{x}");
                    (s, e)
                })
                .collect();
            let header = ranges
                .iter()
                .find(|x| x["what"] == "header")
                .expect("header range");
            assert_eq!(header["start"], 0);
            assert_eq!(header["end"], (h + PREFIX) as u64);
            let want = expected_ranges(h, ct.len(), plain_len, start, len);
            assert_eq!(
                merge(got.clone()),
                merge(want),
                "plain {plain_len}, range {arg}"
            );

            // Strong check: only those bytes, everything else zeroed, decrypt the range.
            let mut sparse = vec![0u8; ct.len()];
            for (s, e) in &got {
                sparse[*s..*e].copy_from_slice(&ct[*s..*e]);
            }
            fx.write("sparse.coffer", &sparse);
            let d = fx.decrypt(["-q", "--range", &arg, "sparse.coffer"]);
            d.expect(0);
            assert!(
                d.stdout == plain[start..start + len],
                "plain {plain_len}, range {arg}"
            );

            // Text form: mentions the end of the header range.
            let t = inspect(&fx, &["--ciphertext-range", &arg, "f.bin.coffer"]);
            t.expect(0);
            assert!(t.out().contains(&(h + PREFIX).to_string()), "{}", t.out());
        }
        // Sanity of the strong check: zeroing one byte of a needed chunk breaks it.
        if plain_len == LEN {
            let arg = format!("{}:10", CHUNK + 5);
            let mut sparse = ct.clone();
            let at = chunk_offset(&ct, 1) + 20;
            sparse[at] ^= 0xff;
            fx.write("sparse.coffer", &sparse);
            fx.decrypt(["--range", &arg, "sparse.coffer"]).expect(4);
        }
    }
}

#[test]
fn decrypt_range_needs_a_seekable_input_file_not_stdin() {
    let (fx, _) = setup(LEN, 30);
    let ct = fx.read("f.bin.coffer");
    let pw = fx.passfile();
    let r = fx.run_stdin(
        [
            "decrypt",
            "--passphrase-file",
            pw.to_str().unwrap(),
            "--range",
            "0:10",
        ],
        &ct,
    );
    r.expect(2);
    assert!(r.stdout.is_empty());
}
