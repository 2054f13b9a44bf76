//! The one model between analysis and the engines: source -> deducer -> [`Architecture`] ->
//! {simulator | AWS engine | other engines}.
//!
//! The deducer produces an [`Architecture`]; every engine consumes it with the facts derived from
//! it here, once: physical names ([`naming`]), what each operation is in the runtime's handles and
//! in IAM ([`operation`]), the environment each function process gets ([`env`]), ARNs and IAM
//! policies ([`iam`]), and the TGI wire format and chat tags the runtime speaks to SageMaker and
//! the local model answers ([`llm`]). No parser, no cargo, no AWS SDK: engines and the runtime
//! link it cheaply.

pub mod architecture;
pub mod env;
pub mod iam;
pub mod llm;
pub mod naming;
pub mod operation;

pub use architecture::{
    ARCHITECTURE_VERSION, Architecture, CallChain, CallStep, Escape, Function, Grant, GrantSummary,
    Operation, Param, Resource, ResourceRef, ResourceSpec, ResponseMode, SourceLocation,
};
pub use pluto_spec;
