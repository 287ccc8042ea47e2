//! The library's integration tests, one module per subject, in one test binary: one
//! link instead of one per file keeps a fresh `cargo test --release` short.

mod fixtures;

mod backends;
mod context;
mod gen_vectors;
mod hostile_headers;
mod key_files;
mod mutations;
mod pipeline;
mod recipients;
mod roundtrip;
mod secrets;
mod seekable;
mod tamper;
mod vectors;
mod wycheproof;
