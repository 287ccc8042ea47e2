//! Manual pages: coffer(1) and one page per subcommand (coffer-encrypt(1), ...), made by
//! clap_mangen from the clap definitions, so a new subcommand or flag appears without
//! touching this file. This module adds what clap does not know: EXIT STATUS as a list
//! (parsed from the `--help` text, the one source of the codes), ENVIRONMENT, FILES,
//! EXAMPLES and SEE ALSO.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use clap::CommandFactory;
use clap_mangen::Man;

use super::args::{Cli, ManArgs, EXIT_CODES};
use super::error::{CliError, SUCCESS};

/// One rendered page.
pub struct Page {
    /// The page's name without the section (`coffer`, `coffer-encrypt`).
    pub name: String,
    pub roff: Vec<u8>,
}

/// `coffer man`: the main page to stdout, or every page into `--out-dir`.
pub fn run(args: &ManArgs) -> Result<(), CliError> {
    let pages = pages().map_err(|e| CliError::io_while("rendering the man pages", &e))?;
    match &args.out_dir {
        None => to_stdout(&pages[0].roff),
        Some(dir) => write_all(&pages, dir),
    }
}

/// Writes to stdout; a reader that went away (`coffer man | head`) is not an error.
fn to_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(CliError::io_while("writing standard output", &e))
        }
        _ => Ok(()),
    }
}

fn write_all(pages: &[Page], dir: &Path) -> Result<(), CliError> {
    fs::create_dir_all(dir)
        .map_err(|e| CliError::io_while(format_args!("creating {}", dir.display()), &e))?;
    let mut listing = String::new();
    for page in pages {
        let path = dir.join(format!("{}.1", page.name));
        fs::write(&path, &page.roff)
            .map_err(|e| CliError::io_while(format_args!("writing {}", path.display()), &e))?;
        listing.push_str(&format!("{}\n", path.display()));
    }
    to_stdout(listing.as_bytes())
}

/// Every page: coffer(1) first, then one per visible subcommand in definition order.
pub fn pages() -> io::Result<Vec<Page>> {
    let mut main = Cli::command().disable_help_subcommand(true);
    // Builds the subcommands too, so they carry their display names (coffer-encrypt).
    main.build();
    let subcommands: Vec<clap::Command> = main
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let names: Vec<String> = std::iter::once("coffer".to_string())
        .chain(subcommands.iter().map(page_name))
        .collect();
    let mut pages = vec![render(&main, "coffer", &names)?];
    for sub in &subcommands {
        let name = page_name(sub);
        pages.push(render(sub, &name, &names)?);
    }
    Ok(pages)
}

fn page_name(cmd: &clap::Command) -> String {
    format!("coffer-{}", cmd.get_name())
}

fn render(cmd: &clap::Command, name: &str, all: &[String]) -> io::Result<Page> {
    let man = Man::new(cmd.clone())
        .title(name.to_uppercase())
        .source(format!("coffer {}", env!("CARGO_PKG_VERSION")))
        .manual("coffer manual");
    let mut roff = Vec::new();
    man.render_title(&mut roff)?;
    man.render_name_section(&mut roff)?;
    man.render_synopsis_section(&mut roff)?;
    man.render_description_section(&mut roff)?;
    if name == "coffer" {
        paragraph(
            &mut roff,
            "coffer encrypts files with a passphrase before they leave the machine: a \
             header of Argon2id passphrase slots, then AES-256-GCM in authenticated 16 KiB \
             chunks. Built for scripted backups: streams, many files with one prompt, JSON \
             reports, distinct exit codes, no partial output after a failure. Files can \
             also be written to public-key recipients (post-quantum hybrid by default; age's \
             X25519 keys work too), so a backup host can write backups it cannot read. Each \
             subcommand has its own page, listed below.",
        );
    }
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut roff)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut roff)?;
    }
    let sub = name.strip_prefix("coffer-");
    exit_status(&mut roff);
    environment(&mut roff, sub);
    files(&mut roff, sub);
    examples(&mut roff, sub);
    see_also(&mut roff, name, all);
    man.render_version_section(&mut roff)?;
    Ok(Page {
        name: name.to_string(),
        roff,
    })
}

/// Text for a roff paragraph: backslashes, hyphens and leading control characters
/// escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            '.' | '\'' if i == 0 => {
                out.push_str("\\&");
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

fn heading(roff: &mut Vec<u8>, title: &str) {
    roff.extend_from_slice(format!(".SH \"{title}\"\n").as_bytes());
}

/// A tagged paragraph: `tag` in bold, then `text`.
fn item(roff: &mut Vec<u8>, tag: &str, text: &str) {
    roff.extend_from_slice(format!(".TP\n\\fB{}\\fR\n{}\n", escape(tag), escape(text)).as_bytes());
}

fn paragraph(roff: &mut Vec<u8>, text: &str) {
    roff.extend_from_slice(format!(".PP\n{}\n", escape(text)).as_bytes());
}

/// The exit codes of `--help`, as (code, meaning) pairs, and the note after them.
pub fn exit_codes() -> (Vec<(String, String)>, String) {
    let mut codes: Vec<(String, String)> = Vec::new();
    let mut note = String::new();
    for line in EXIT_CODES.lines().skip(1) {
        let trimmed = line.trim();
        let code = trimmed.split_whitespace().next().unwrap_or("");
        if line.starts_with("  ") && !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()) {
            codes.push((code.to_string(), trimmed[code.len()..].trim().to_string()));
        } else if line.starts_with("  ") && !codes.is_empty() {
            // A continuation of the previous meaning.
            let last = codes.len() - 1;
            codes[last].1.push(' ');
            codes[last].1.push_str(trimmed);
        } else {
            if !note.is_empty() {
                note.push(' ');
            }
            note.push_str(trimmed);
        }
    }
    (codes, note)
}

fn exit_status(roff: &mut Vec<u8>) {
    heading(roff, "EXIT STATUS");
    let (codes, note) = exit_codes();
    for (code, meaning) in &codes {
        item(roff, code, meaning);
    }
    if !note.is_empty() {
        paragraph(roff, &note);
    }
}

/// Whether a page's command reads a passphrase (and so the variable and the terminal).
fn uses_passphrase(sub: Option<&str>) -> bool {
    Cli::command()
        .get_subcommands()
        .filter(|s| sub.is_none_or(|name| s.get_name() == name))
        .any(|s| s.get_arguments().any(|a| a.get_id() == "passphrase_env"))
}

fn environment(roff: &mut Vec<u8>, sub: Option<&str>) {
    heading(roff, "ENVIRONMENT");
    if uses_passphrase(sub) {
        item(
            roff,
            "the variable named by --passphrase-env VAR",
            "Holds the passphrase: its value minus one trailing newline. A second line or an \
             empty value is refused (exit 2). Variables are inherited by child processes and \
             often logged: prefer --passphrase-fd or --passphrase-file.",
        );
    }
    paragraph(
        roff,
        "coffer reads no other variable of its own: no passphrase is ever taken from the \
         environment unless --passphrase-env names the variable. Temporary files go next \
         to their destination, not to TMPDIR.",
    );
}

fn files(roff: &mut Vec<u8>, sub: Option<&str>) {
    heading(roff, "FILES");
    let writes = matches!(sub, None | Some("encrypt" | "decrypt"));
    if writes {
        item(
            roff,
            "FILE.coffer",
            "What encrypt writes for FILE (unless -o, -c or --output-dir), and what decrypt \
             reads to write FILE.",
        );
        item(
            roff,
            ".coffer-tmp*",
            "The temporary file (mode 0600) each output is written to, next to its \
             destination; renamed into place only when complete, removed after a failure \
             or an interrupt.",
        );
    }
    if uses_passphrase(sub) {
        item(
            roff,
            "/dev/tty",
            "Where the passphrase is asked for when no --passphrase-file, --passphrase-fd or \
             --passphrase-env is given (twice on encrypt).",
        );
        item(
            roff,
            "the file named by --passphrase-file PATH",
            "The passphrase is the whole file minus one trailing newline (\"\\n\" or \
             \"\\r\\n\"); a second line is refused. Keep it mode 0600.",
        );
    }
    if matches!(sub, None | Some("encrypt" | "rekey")) {
        item(
            roff,
            "the file named by -R PATH (--recipients-file, --add-recipients-file)",
            "Public recipients, one per line; blank lines and lines starting with # are \
             ignored. Safe to share: it opens nothing.",
        );
    }
    if matches!(sub, None | Some("decrypt" | "verify" | "rekey" | "keygen")) {
        item(
            roff,
            "the file named by -i PATH (--identity)",
            "Secret keys made by coffer keygen or age-keygen, one per line, with # \
             comments; a coffer key file is accepted too. Keep it mode 0600: coffer warns \
             when others may read it.",
        );
    }
    if !writes && !uses_passphrase(sub) && sub != Some("keygen") {
        paragraph(roff, "None beyond the files named on the command line.");
    }
}

/// Worked examples by page: (what it does, the command).
fn examples_for(sub: Option<&str>) -> &'static [(&'static str, &'static str)] {
    match sub {
        None => &[
            (
                "Encrypt a file (asks twice for a passphrase), check it, restore it:",
                "coffer encrypt notes.txt\ncoffer verify notes.txt.coffer\n\
                 coffer decrypt notes.txt.coffer",
            ),
            (
                "A nightly backup from a script, the passphrase from a file:",
                concat!(
                    "tar -cf - /srv/data \\\n",
                    "  | coffer encrypt -q --passphrase-file /root/backup.key -c > data.tar.coffer",
                ),
            ),
            (
                "Install every page:",
                "coffer man --out-dir /usr/local/share/man/man1",
            ),
        ],
        Some("encrypt") => &[
            (
                "Encrypt two files with one prompt (a.txt.coffer, b.txt.coffer):",
                "coffer encrypt a.txt b.txt",
            ),
            (
                "A tree into a mirror directory, passphrase from a secret manager:",
                concat!(
                    "coffer encrypt -r --output-dir /backup \\\n",
                    "  --passphrase-fd 3 docs 3< <(pass show backup | head -n 1)",
                ),
            ),
            (
                "On a backup host that holds only public recipients (no secret, no prompt):",
                concat!(
                    "tar -cf - /srv/data \\\n",
                    "  | coffer encrypt -q -R /etc/coffer/recipients.txt -c > data.tar.coffer",
                ),
            ),
            (
                "A stream with a JSON report:",
                concat!(
                    "tar -cf - dir \\\n",
                    "  | coffer encrypt --passphrase-file key.txt --report run.json -c \\\n",
                    "  > dir.tar.coffer",
                ),
            ),
            (
                "Bind the file to where it belongs (restore with the same --context pairs):",
                "coffer encrypt --key-file backup.key --context host=db1 --context set=daily db.tar",
            ),
        ],
        Some("decrypt") => &[
            (
                "Decrypt next to the input (writes notes.txt):",
                "coffer decrypt notes.txt.coffer",
            ),
            (
                "Restore a tar stream; a non-zero exit means a failed restore:",
                concat!(
                    "set -o pipefail\n",
                    "coffer decrypt --passphrase-file key.txt -c dir.tar.coffer | tar -xf -",
                ),
            ),
            (
                "Restore with an identity file (made by coffer keygen or age-keygen):",
                "coffer decrypt -i ~/.config/coffer/identity.txt data.tar.coffer",
            ),
            (
                "Only bytes 1000 to 1999 of the plaintext:",
                "coffer decrypt --range 1000:1000 -o part.bin big.coffer",
            ),
            (
                "Refuse a file swapped in storage: its context must be exactly these pairs:",
                "coffer decrypt --key-file backup.key --context host=db1 --context set=daily db.tar.coffer",
            ),
        ],
        Some("verify") => &[(
            "Authenticate every chunk, write nothing:",
            "coffer verify --passphrase-file key.txt -q *.coffer",
        )],
        Some("inspect") => &[
            (
                "The header, slots and sizes (no passphrase):",
                "coffer inspect notes.txt.coffer",
            ),
            (
                "The ciphertext byte ranges that hold plaintext 0:65536:",
                "coffer inspect --ciphertext-range 0:65536 big.coffer",
            ),
        ],
        Some("keygen") => &[
            (
                "A post-quantum identity (mode 0600, never overwritten); its recipient is \
                 printed on stdout:",
                "coffer keygen -o ~/.config/coffer/identity.txt",
            ),
            (
                "The recipient(s) of an existing identity file (coffer's or age-keygen's):",
                "coffer keygen -y ~/.config/coffer/identity.txt > recipient.txt",
            ),
            (
                "A key file for scripts (mode 0600, never overwritten), then use it:",
                concat!(
                    "coffer keygen --symmetric -o /etc/coffer/backup.key\n",
                    "coffer encrypt --key-file /etc/coffer/backup.key data.db",
                ),
            ),
        ],
        Some("rekey") => &[
            (
                "Add a second key file, opening with the first; the payload is not rewritten:",
                "coffer rekey --key-file old.key --add-key-file new.key *.coffer",
            ),
            (
                "Give a new team member access; take it from one who left (their identity \
                 finds their slot, or use --remove-slot N):",
                concat!(
                    "coffer rekey -i admin.txt --add-recipient coffer1pq1... *.coffer\n",
                    "coffer rekey -i admin.txt -i old.txt --remove-recipient coffer1pq1... --rotate *.coffer",
                ),
            ),
            (
                "Remove a key file that may have leaked, re-encrypting under a new file key:",
                "coffer rekey --rotate --key-file new.key --remove-key-file old.key *.coffer",
            ),
        ],
        Some("completions") => &[(
            "Completions for bash:",
            "coffer completions bash > /etc/bash_completion.d/coffer",
        )],
        Some("man") => &[(
            "Install every page:",
            "coffer man --out-dir /usr/local/share/man/man1 && mandb -q",
        )],
        Some(_) => &[],
    }
}

fn examples(roff: &mut Vec<u8>, sub: Option<&str>) {
    let examples = examples_for(sub);
    if examples.is_empty() {
        return;
    }
    heading(roff, "EXAMPLES");
    for (what, command) in examples {
        paragraph(roff, what);
        // Shown verbatim (no fill), one escaped line per command line.
        roff.extend_from_slice(b".PP\n.nf\n.RS 4\n");
        for line in command.lines() {
            roff.extend_from_slice(format!("{}\n", escape(line)).as_bytes());
        }
        roff.extend_from_slice(b".RE\n.fi\n");
    }
}

fn see_also(roff: &mut Vec<u8>, name: &str, all: &[String]) {
    heading(roff, "SEE ALSO");
    let refs: Vec<String> = all
        .iter()
        .filter(|other| other.as_str() != name)
        .map(|other| format!("\\fB{}\\fR(1)", escape(other)))
        .collect();
    roff.extend_from_slice(format!("{}\n", refs.join(", ")).as_bytes());
    paragraph(
        roff,
        "The format, security notes and figures: docs/FORMAT.md, docs/SECURITY.md and \
         docs/PERFORMANCE.md in the source tree.",
    );
}

/// The exit code of `coffer man`.
pub fn main(args: &ManArgs) -> i32 {
    match run(args) {
        Ok(()) => SUCCESS,
        Err(err) => {
            eprintln!("{}", err.render());
            err.kind.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_parse_into_one_item_per_code() {
        let (codes, note) = exit_codes();
        let numbers: Vec<&str> = codes.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            numbers,
            ["0", "1", "2", "3", "4", "5", "7", "8", "9", "10", "11", "130", "141"]
        );
        assert!(codes[2].1.contains("no passphrase source"));
        assert!(
            codes[5].1.ends_with("(see --max-kdf-memory)"),
            "{}",
            codes[5].1
        );
        assert!(note.starts_with("With several files"));
    }

    #[test]
    fn escaping_keeps_roff_from_reading_text_as_requests() {
        assert_eq!(escape(".x-y\\z"), "\\&.x\\-y\\ez");
        assert_eq!(escape("'quoted"), "\\&'quoted");
    }
}
