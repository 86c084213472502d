//! Compile-time behaviour of `#[derive(HealthChecks)]`: every mistake in
//! `tests/ui/fail` must fail with exactly the error in its `.stderr`, and
//! every program in `tests/ui/pass` must build and run.
//!
//! Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p healthz --test ui`, then read the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
