//! markpilot: a Set-of-Mark desktop agent.
//!
//! The loop (see DESIGN.md): capture → perceive → mark → decide → guard → act → record.
//! This crate is the library every shell (CLI, desktop app) uses; each stage of the loop
//! is a module of the same name.

pub mod act;
pub mod action;
pub mod agent;
pub mod annotate;
pub mod bench;
pub mod capture;
pub mod config;
pub mod coords;
pub mod decide;
pub mod demonstrate;
pub mod desk;
pub mod files;
#[doc(hidden)]
pub mod fuzz;
pub mod geometry;
pub mod guard;
pub mod mark;
pub mod mcp;
pub mod models;
pub mod onnx;
pub mod perceive;
pub mod record;
pub mod replay;
pub mod report;
pub mod run;
pub mod score;
pub mod secrets;

pub use geometry::Rect;
