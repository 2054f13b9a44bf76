//! The deducer: static analysis of a Pluto app crate into its [`Architecture`] — the resources
//! it declares, its functions, and the least-privilege grants each function needs, with the call
//! chains that need them.
//!
//! `#[resource]` declarations are parsed with the same option model as the macro
//! (`pluto_spec::parse`), so the two can never disagree.

pub mod architecture;
pub mod iam;
pub mod naming;

pub use architecture::{
    ARCHITECTURE_VERSION, Architecture, CallChain, CallStep, Escape, Function, Grant, Operation,
    Param, Resource, ResourceRef, SourceLocation,
};
