//! The seekable reader over fuzz bytes under a fuzz-chosen key (seeded with the test
//! vectors and their keys), with arbitrary seeks and reads. Whatever it returns agrees
//! with the streaming decryptor, and a file it reads in full the streaming one accepts.
//!
//! Input: key (32) || op count (1) || ops (7 bytes each: whence, i32 LE offset, u16 LE
//! length) || file.
#![no_main]

use std::io::{Read, Seek, SeekFrom};

use coffer_fuzz::{decrypt_streaming, open_seekable, read_to_end_in_steps, split_key};
use libfuzzer_sys::fuzz_target;

const OP_LEN: usize = 7;

fuzz_target!(|data: &[u8]| {
    let Some((key, rest)) = split_key(data) else {
        return;
    };
    let Some((&count, rest)) = rest.split_first() else {
        return;
    };
    let ops_len = (usize::from(count) % 16 * OP_LEN).min(rest.len());
    let (ops, file) = rest.split_at(ops_len);

    let (streamed, stream_outcome) = decrypt_streaming(file, key, &[], &[]);
    let Ok(mut reader) = open_seekable(file, key) else {
        return;
    };
    let len = reader.seek(SeekFrom::End(0)).expect("seek to the end");
    if stream_outcome.is_ok() {
        assert_eq!(
            len,
            streamed.len() as u64,
            "the two readers disagree on the length"
        );
    }
    for op in ops.chunks_exact(OP_LEN) {
        let offset = i32::from_le_bytes([op[1], op[2], op[3], op[4]]);
        let want = usize::from(u16::from_le_bytes([op[5], op[6]]));
        let target = match op[0] % 3 {
            0 => SeekFrom::Start(offset.unsigned_abs().into()),
            1 => SeekFrom::End(offset.into()),
            _ => SeekFrom::Current(offset.into()),
        };
        let Ok(pos) = reader.seek(target) else {
            continue;
        };
        let mut got = Vec::new();
        let read = (&mut reader).take(want as u64).read_to_end(&mut got);
        if stream_outcome.is_ok() {
            read.expect("every range of an intact file reads");
            let start = (pos as usize).min(streamed.len());
            let end = (start + want).min(streamed.len());
            assert!(
                got == streamed[start..end],
                "a range differs from the stream"
            );
        } else {
            // Bytes that the streaming decryptor also released must agree with it.
            let start = (pos as usize).min(streamed.len());
            let both = got.len().min(streamed.len() - start);
            assert!(
                got[..both] == streamed[start..start + both],
                "a range differs from the stream"
            );
        }
    }
    reader.seek(SeekFrom::Start(0)).expect("seek to the start");
    let (whole, outcome) = read_to_end_in_steps(reader, &[]);
    if outcome.is_ok() {
        stream_outcome.expect("a file the seekable reader reads in full streams");
        assert!(
            whole == streamed,
            "the two readers disagree on the plaintext"
        );
    }
});
