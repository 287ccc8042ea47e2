//! The `coffer` command: a thin layer over the `coffer` library (see `src/cli/`).
#![forbid(unsafe_code)]

mod cli;

fn main() {
    std::process::exit(cli::main());
}
