//! IAM mapping (being written).
