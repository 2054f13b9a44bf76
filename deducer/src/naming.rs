//! Physical AWS names (being written).
