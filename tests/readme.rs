//! README.md's walkthrough and the demo are one source (cli/src/demo/walkthrough.rs): the
//! section between the demo markers must be exactly what the walkthrough renders, so what a
//! reader types is what `make demo` runs and checks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use std::fs;

use jwt_relay_cli::demo;

#[test]
fn the_readme_walkthrough_is_the_demo() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = fs::read_to_string(format!("{root}/README.md")).unwrap();
    let section = demo::section(&readme).expect("README.md has the demo markers");
    let rendered = demo::markdown(&demo::WALKTHROUGH);
    if section != rendered {
        let first = section
            .lines()
            .zip(rendered.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| section.lines().count().min(rendered.lines().count()));
        panic!(
            "README.md's demo section differs from cli/src/demo/walkthrough.rs, first at line \
             {} of the section:\n  README: {:?}\n  demo:   {:?}\nEdit the walkthrough, then run \
             `cargo run -p jwt-relay-cli -- demo --update-readme README.md`",
            first + 1,
            section.lines().nth(first),
            rendered.lines().nth(first)
        );
    }
}

#[test]
fn the_walkthrough_covers_the_three_problems() {
    // The scenarios the README promises: edge validation, lifetime only at the edge, narrowing.
    let titles: Vec<&str> = demo::WALKTHROUGH
        .scenarios
        .iter()
        .map(|scenario| scenario.title)
        .collect();
    for wanted in [
        "No token: 401",
        "An expired token is refused at the edge…",
        "…but an internal hop accepts it",
        "The edge forwards only the narrowed token",
        "Revoking a session cuts off the whole chain within seconds",
    ] {
        assert!(
            titles.contains(&wanted),
            "no scenario {wanted:?} in {titles:?}"
        );
    }
}
