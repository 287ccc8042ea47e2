//! The `coffer` command: a thin layer over the `coffer` library (see `src/cli/`).
// Unsafe code only in src/cli/mapped.rs (a memory map and its SIGBUS handler), which
// allows it for itself; the library forbids it.
#![deny(unsafe_code)]

mod cli;

fn main() {
    std::process::exit(cli::main());
}
