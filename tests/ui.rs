//! Misuse of `#[derive(Audited)]` is a compile error pointing at the culprit.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
