//! The local model (being written).
