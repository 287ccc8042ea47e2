//! `coffer inspect`: what a header says, and which ciphertext bytes a range needs. No
//! passphrase, no decryption; the MAC cannot be checked without the key, so everything
//! shown is unauthenticated.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use coffer::{
    Context, Decryptor, Slot, CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, FORMAT_VERSION as VERSION,
};
use serde_json::{json, Map, Value};

use super::args::{InspectArgs, RangeSpec};
use super::error::{combine, CliError, SUCCESS};
use super::report::put_path;

pub fn inspect(args: &InspectArgs) -> i32 {
    let mut code = SUCCESS;
    let stdout = std::io::stdout();
    for path in &args.files {
        let result = inspect_one(path, args.ciphertext_range);
        let mut out = stdout.lock();
        match result {
            Ok(report) => {
                let text = if args.json {
                    report.json.to_string()
                } else {
                    report.text
                };
                if let Err(e) = writeln!(out, "{text}") {
                    return combine(
                        code,
                        CliError::io_while("writing stdout", &e).kind.exit_code(),
                    );
                }
            }
            Err(err) => {
                let err = err.context(path.display().to_string());
                eprintln!("{}", err.render());
                code = combine(code, err.kind.exit_code());
                if args.json {
                    let mut map = Map::new();
                    put_path(&mut map, Some(path));
                    map.insert("error_kind".into(), Value::from(err.kind.name()));
                    map.insert("error".into(), Value::from(err.message()));
                    map.insert("exit_code".into(), Value::from(err.kind.exit_code()));
                    let _ = writeln!(out, "{}", Value::Object(map));
                }
            }
        }
    }
    code
}

struct Report {
    json: Value,
    text: String,
}

/// The facts of one file's layout.
struct Layout {
    header_len: usize,
    /// The pairs the header binds the file to (not yet authenticated, like all of it).
    context: Context,
    slots: Vec<Slot>,
    file_len: u64,
    /// Where chunk 0 starts: header length + the 56-byte payload prefix.
    chunks_offset: u64,
    plaintext: Result<u64, coffer::Error>,
}

fn layout(path: &Path) -> Result<Layout, CliError> {
    if path == Path::new("-") {
        return Err(CliError::usage("inspect needs a file, not stdin"));
    }
    let mut file = File::open(path).map_err(|e| CliError::io(e.to_string()))?;
    let file_len = file
        .metadata()
        .map_err(|e| CliError::io(e.to_string()))?
        .len();
    let decryptor = Decryptor::new(&mut file)?;
    Ok(Layout {
        file_len,
        chunks_offset: decryptor.chunks_offset(),
        plaintext: decryptor.plaintext_len(file_len),
        header_len: decryptor.header().len(),
        context: decryptor.context().clone(),
        slots: decryptor.slots().to_vec(),
    })
}

fn inspect_one(path: &Path, range: Option<RangeSpec>) -> Result<Report, CliError> {
    let layout = layout(path)?;
    match range {
        Some(range) => ranges(path, &layout, range),
        None => Ok(describe(path, &layout)),
    }
}

fn describe(path: &Path, layout: &Layout) -> Report {
    let plaintext = layout.plaintext.as_ref().ok().copied();
    let mut slots_json = Vec::new();
    let mut text = format!(
        "{}\n  format version:  {VERSION}\n  header:          {} bytes\n",
        path.display(),
        layout.header_len
    );
    text += &context_lines(&layout.context);
    for (i, slot) in layout.slots.iter().enumerate() {
        match slot {
            Slot::Passphrase(slot) => {
                let p = slot.params();
                slots_json.push(json!({
                    "index": i,
                    "type": "passphrase",
                    "kdf": "argon2id",
                    "memory_mib": p.memory_mib(),
                    "memory_kib": p.memory_kib,
                    "passes": p.passes,
                    "lanes": p.lanes,
                }));
                // Exact: a memory that is not a whole number of MiB is shown in KiB.
                let memory = if p.memory_kib % 1024 == 0 {
                    format!("{} MiB", p.memory_kib / 1024)
                } else {
                    format!("{} KiB", p.memory_kib)
                };
                text += &format!(
                    "  slot {i}:          passphrase (argon2id, {memory}, {} passes, {} lanes)\n",
                    p.passes, p.lanes
                );
            }
            Slot::Kms(slot) => {
                // The ARN is not authenticated without the file key: shown, not vouched for.
                slots_json.push(json!({
                    "index": i,
                    "type": "aws-kms",
                    "key_arn": slot.key_arn(),
                    "blob_len": slot.ciphertext_blob().len(),
                }));
                text += &format!("  slot {i}:          aws-kms ({})\n", slot.key_arn());
            }
            Slot::Unknown {
                slot_type,
                body_len,
            } => {
                slots_json.push(json!({
                    "index": i,
                    "type": "unknown",
                    "slot_type": slot_type,
                    "body_len": body_len,
                }));
                text +=
                    &format!("  slot {i}:          unknown type {slot_type} ({body_len} bytes)\n");
            }
            other => {
                slots_json.push(json!({ "index": i, "type": other.type_name() }));
                text += &format!("  slot {i}:          {}\n", other.type_name());
            }
        }
    }
    text += &format!(
        "  chunk size:      {CHUNK_SIZE}\n  ciphertext:      {} bytes\n",
        layout.file_len
    );
    match plaintext {
        Some(n) => text += &format!("  plaintext:       {n} bytes\n  length:          consistent"),
        None => text +=
            "  plaintext:       unknown\n  length:          INCONSISTENT (truncated or extended)",
    }
    let mut map = Map::new();
    put_path(&mut map, Some(path));
    let rest = json!({
        "version": VERSION,
        "header_len": layout.header_len,
        "context": layout.context.pairs().map(|(k, v)| (k.to_owned(), Value::from(v))).collect::<Map<_, _>>(),
        "slots": slots_json,
        "chunk_size": CHUNK_SIZE,
        "ciphertext_len": layout.file_len,
        "plaintext_len": plaintext,
        "length_consistent": plaintext.is_some(),
    });
    if let Value::Object(rest) = rest {
        map.extend(rest);
    }
    Report {
        json: Value::Object(map),
        text,
    }
}

/// `  context:  KEY=VALUE`, one pair a line, or `none`. The format forbids control
/// characters in pairs, so they print as they are.
fn context_lines(context: &Context) -> String {
    if context.is_empty() {
        return "  context:         none\n".to_string();
    }
    let mut text = String::new();
    for (i, (key, value)) in context.pairs().enumerate() {
        let label = if i == 0 { "context:" } else { "" };
        text += &format!("  {label:<17}{key}={value}\n");
    }
    text
}

fn ranges(path: &Path, layout: &Layout, range: RangeSpec) -> Result<Report, CliError> {
    let plaintext = match &layout.plaintext {
        Ok(n) => *n,
        Err(_) => {
            return Err(CliError::lib(coffer::Error::Truncated { at_chunk: None })
                .hint("the file length does not fit the format; ranges cannot be computed"))
        }
    };
    let (start, len) = range.resolve(plaintext)?;
    let base = layout.chunks_offset;
    let stride = ENCRYPTED_CHUNK_SIZE as u64;
    let chunk = CHUNK_SIZE as u64;
    let mut list = vec![FetchRange {
        what: "header",
        start: 0,
        end: base,
        chunks: None,
    }];
    if len > 0 {
        let first = start / chunk;
        let last = (start + len - 1) / chunk;
        list.push(FetchRange {
            what: "chunks",
            start: base + first * stride,
            end: (base + (last + 1) * stride).min(layout.file_len),
            chunks: Some((first, last)),
        });
    }
    let n = plaintext / chunk;
    list.push(FetchRange {
        what: "final",
        start: base + n * stride,
        end: layout.file_len,
        chunks: Some((n, n)),
    });

    let mut text = format!(
        "{}: plaintext bytes [{start}, {}) need ciphertext bytes (end exclusive):",
        path.display(),
        start + len
    );
    let mut json_ranges = Vec::new();
    for range in list {
        let FetchRange {
            what,
            start: from,
            end: to,
            chunks,
        } = range;
        let label = match chunks {
            Some((f, l)) if f == l => format!(" (chunk {f})"),
            Some((f, l)) => format!(" (chunks {f} to {l})"),
            None => " (header and payload prefix)".to_string(),
        };
        text += &format!("\n  {what:<7} [{from}, {to}) {} bytes{label}", to - from);
        let mut entry = json!({ "what": what, "start": from, "end": to });
        if let (Some((f, l)), Value::Object(map)) = (chunks, &mut entry) {
            map.insert("first_chunk".into(), Value::from(f));
            map.insert("last_chunk".into(), Value::from(l));
        }
        json_ranges.push(entry);
    }
    let mut map = Map::new();
    put_path(&mut map, Some(path));
    map.insert("ranges".into(), Value::from(json_ranges));
    Ok(Report {
        json: Value::Object(map),
        text,
    })
}

/// One ciphertext byte range a remote reader must fetch (end exclusive).
struct FetchRange {
    what: &'static str,
    start: u64,
    end: u64,
    /// First and last chunk covered, for chunk ranges.
    chunks: Option<(u64, u64)>,
}
