//! The end-to-end tests on a real X server: each test starts its own Xvfb (on a free display
//! number), D-Bus and AT-SPI buses and window manager, real applications in it, and the real
//! `markpilot` binary (and the desktop app). One test binary (modules below), so
//! `tests/common` and the library are compiled and linked once for all of them.
//!
//! `cargo test --test display MODULE::` runs one module (`agent::`, `replay::`, `a11y::`…).

#[path = "../common/mod.rs"]
mod common;

mod a11y;
mod agent;
mod app;
mod mcp;
mod quality;
mod replay;
mod screen;
mod text;
