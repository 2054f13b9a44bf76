//! Compile-time behaviour of `#[resource]`: what compiles, and the errors (with spans) for what
//! does not. Regenerate the expected `.stderr` files with `TRYBUILD=overwrite` after a deliberate
//! change to a message, and review the diff.

#[test]
fn resource_declarations() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
