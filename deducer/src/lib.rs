//! The deducer: static analysis of a Pluto app crate into its `Architecture` — the resources it
//! declares, its functions, and the least-privilege grants each function needs, with provenance.
//!
//! Not written yet: it is the next issue. It will parse `#[resource]` declarations with the same
//! option model as the macro (`pluto_spec::parse`), so the two can never disagree.
