//! `jwt-relay-cli`: the command-line front lands in a later commit.

fn main() {}
