//! The tests that need no display: the command line, the model manager and the perception
//! gate over the development set. One test binary (modules below), so `tests/common` and the
//! library are compiled and linked once for all of them; `./scripts/test --quick` runs it.
//!
//! `cargo test --test offline MODULE::` runs one module (`cli::`, `models::`, `perception::`).

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod fuzz;
mod models;
mod perception;
