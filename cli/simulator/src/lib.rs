//! The local simulator behind `cargo pluto run`: the whole app on this machine, with no cloud.
//!
//! - [`model`]: a real local language model (a quantized llama GGUF run by candle) standing in for
//!   SageMaker endpoints.

pub mod model;
