//! The command-line tool's end-to-end tests (the real binary, through `assert_cmd`), one
//! module per subject, in one test binary.

mod common;

mod cli_backup_script;
mod cli_context;
mod cli_encrypt;
mod cli_faults;
mod cli_keys;
mod cli_newcomer;
mod cli_range;
mod cli_recipients;
mod cli_safety;
mod cli_tamper;
mod cli_tree;
