//! The `a11y` detector: what applications publish about themselves through the
//! accessibility tree (AT-SPI over D-Bus, on Linux), as proposals in frame pixels with the
//! toolkit's own roles, names and states. Fusion with vision is in [`fuse`]; the reading in
//! `detector` (a thread of its own), `tree` (the D-Bus walk), `place` (toolkit units →
//! desktop pixels) and `elements` (nodes → proposals).

#[cfg(all(unix, not(target_os = "macos")))]
mod detector;
#[cfg(all(unix, not(target_os = "macos")))]
mod elements;
pub mod fuse;
#[cfg(all(unix, not(target_os = "macos")))]
mod place;
#[cfg(all(unix, not(target_os = "macos")))]
mod tree;

#[cfg(all(unix, not(target_os = "macos")))]
pub use detector::{A11yDetector, A11yError, DEFAULT_TIMEOUT};

/// The source of every proposal the tree makes.
pub const SOURCE: &str = "a11y";
