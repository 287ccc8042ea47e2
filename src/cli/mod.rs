//! The command line: argument parsing ([`args`]), credentials ([`credentials`],
//! [`passphrase`], [`recipients`]), `keygen`, `rekey`,
//! safe outputs ([`output`]), planning ([`plan`]), the batch runner ([`run`]), `inspect`,
//! reports and progress. Exit codes are decided in [`error::Kind::exit_code`] only.

mod args;
mod context;
mod credentials;
mod error;
mod harden;
mod hooks;
mod inspect;
mod interrupt;
mod keygen;
mod kms;
mod man;
mod mapped;
mod output;
mod passphrase;
mod plan;
mod progress;
mod read_back;
mod recipients;
mod rekey;
mod removal;
mod report;
mod run;
mod source;

use std::io::{self, Write};

use clap::{CommandFactory, Parser};

use args::{Cli, Command};
use error::{CliError, SUCCESS};

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    harden::harden_process();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and --version exit 0; usage errors exit 2.
            let _ = err.print();
            return err.exit_code();
        }
    };
    match &cli.command {
        Command::Encrypt(args) => run::encrypt(args),
        Command::Decrypt(args) => run::decrypt(args),
        Command::Verify(args) => run::verify(args),
        Command::Inspect(args) => inspect::inspect(args),
        Command::Rekey(args) => rekey::rekey(args),
        Command::Keygen(args) => keygen::keygen(args),
        Command::Completions { shell } => {
            let mut out = io::stdout().lock();
            clap_complete::generate(*shell, &mut Cli::command(), "coffer", &mut out);
            finish_stdout(out.flush())
        }
        Command::Man(args) => man::main(args),
    }
}

fn finish_stdout(result: io::Result<()>) -> i32 {
    match result {
        Ok(()) => SUCCESS,
        // The reader went away (`coffer man | head`): nothing left to tell it.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => SUCCESS,
        Err(e) => {
            let err = CliError::io_while("writing standard output", &e);
            eprintln!("{}", err.render());
            err.kind.exit_code()
        }
    }
}
