//! The README's walkthrough ("The demo, scenario by scenario") as data: its prose, the shell
//! lines a reader types, and what each answer must be. One source for two readers:
//! [`markdown`] renders the README section (tests/readme.rs fails when README.md differs, and
//! `jwt-relay-cli demo --update-readme README.md` rewrites it), and [`run`] walks it against a
//! real Envoy (`make demo`), running every line as written with bash and checking every answer.
//!
//! There is no language to parse: a line's kind and a check are Rust values.

pub mod run;
mod walkthrough;

pub use walkthrough::WALKTHROUGH;

/// The whole section.
#[derive(Debug)]
pub struct Walkthrough {
    /// Before the setup block.
    pub intro: &'static [&'static str],
    /// Shell variables every scenario uses.
    pub setup: &'static [Line],
    /// After the setup block, before the first scenario.
    pub after_setup: &'static [&'static str],
    pub scenarios: &'static [Scenario],
}

/// One `###` scenario: prose paragraphs and shell blocks, in order.
#[derive(Debug)]
pub struct Scenario {
    pub title: &'static str,
    pub parts: &'static [Part],
}

#[derive(Debug)]
pub enum Part {
    /// A paragraph of Markdown.
    Prose(&'static str),
    /// A ```sh block. When its last line is a curl, `checks` say what its answer must be.
    Block {
        lines: &'static [Line],
        checks: &'static [Check],
    },
}

/// One shell line, as the reader types it.
#[derive(Debug)]
pub enum Line {
    /// `VAR=VALUE` (bash expands VALUE, e.g. `$(jwt-relay-cli mint ...)`); the demo keeps the
    /// result for the lines after it. `export` only changes how the line reads.
    Set {
        var: &'static str,
        value: &'static str,
        export: bool,
        comment: Option<&'static str>,
    },
    /// A command whose output is shown (`jwt-relay-cli keygen`, `revoke`).
    Run {
        command: &'static str,
        comment: Option<&'static str>,
    },
    /// A request to the demo Envoy. With `repeat_until`, sent every 0.2 s (10 s at most) until
    /// it answers that status.
    Curl {
        args: &'static str,
        repeat_until: Option<u16>,
    },
}

/// What an answer must be. `Var` names are the shell variables of [`Line::Set`].
#[derive(Debug, Clone, Copy)]
pub enum Check {
    Status(u16),
    /// The `www-authenticate` response header is exactly this.
    ChallengeIs(&'static str),
    /// The `www-authenticate` response header contains this.
    ChallengeHas(&'static str),
    /// The upstream got exactly one bearer token: the value of this variable.
    ForwardedTokenIs(&'static str),
    /// The upstream got exactly one bearer token, whose `aud` is this string.
    ForwardedAudIs(&'static str),
    /// The value of this variable appears nowhere in what the upstream received.
    NowhereUpstream(&'static str),
    /// The path (with query) the upstream received.
    UpstreamPathIs(&'static str),
    /// The upstream got exactly one `x-jwt-sub` header, with this value.
    XJwtSubIs(&'static str),
    /// The answer carries the refresh hint (`x-token-expires-in`), at most this many seconds;
    /// `None`: no hint.
    RefreshHint(Option<u64>),
}

impl Line {
    /// The line as the README shows it and bash runs it.
    pub fn text(&self) -> String {
        let with_comment = |text: String, comment: Option<&str>| match comment {
            Some(comment) => format!("{text}   # {comment}"),
            None => text,
        };
        match self {
            Line::Set {
                var,
                value,
                export,
                comment,
            } => {
                let export = if *export { "export " } else { "" };
                with_comment(format!("{export}{var}={value}"), *comment)
            }
            Line::Run { command, comment } => with_comment((*command).to_owned(), *comment),
            Line::Curl {
                args,
                repeat_until: Some(code),
            } => format!("curl {args}   # repeat until {code}"),
            Line::Curl {
                args,
                repeat_until: None,
            } => format!("curl {args}"),
        }
    }
}

impl Check {
    /// For the demo's output: what was checked.
    pub fn describe(&self) -> String {
        match self {
            Check::Status(code) => format!("status {code}"),
            Check::ChallengeIs(text) => format!("www-authenticate is {text}"),
            Check::ChallengeHas(text) => format!("www-authenticate contains {text}"),
            Check::ForwardedTokenIs(var) => format!("the upstream got exactly ${var}"),
            Check::ForwardedAudIs(aud) => {
                format!("the upstream got exactly one token, for audience {aud:?}")
            }
            Check::NowhereUpstream(var) => format!("${var} appears nowhere upstream"),
            Check::UpstreamPathIs(path) => format!("the upstream path is {path}"),
            Check::XJwtSubIs(sub) => format!("the upstream got exactly one x-jwt-sub: {sub}"),
            Check::RefreshHint(Some(most)) => {
                format!("the answer says the token expires in at most {most} s")
            }
            Check::RefreshHint(None) => "the answer carries no refresh hint".to_owned(),
        }
    }
}

/// The markers around the section in README.md.
pub const BEGIN: &str = "<!-- demo:begin -->";
pub const END: &str = "<!-- demo:end -->";
const NOTE: &str = "<!-- Generated from cli/src/demo/walkthrough.rs: edit it there, then run
`cargo run -p jwt-relay-cli -- demo --update-readme README.md`. `make demo` runs the same lines
and checks every answer; tests/readme.rs fails when this section and the walkthrough differ. -->";

/// The README section, markers included.
pub fn markdown(walkthrough: &Walkthrough) -> String {
    let mut out = format!("{BEGIN}\n{NOTE}\n\n");
    for paragraph in walkthrough.intro {
        out.push_str(&format!("{paragraph}\n\n"));
    }
    push_block(&mut out, walkthrough.setup);
    for paragraph in walkthrough.after_setup {
        out.push_str(&format!("{paragraph}\n\n"));
    }
    for scenario in walkthrough.scenarios {
        out.push_str(&format!("### {}\n\n", scenario.title));
        for part in scenario.parts {
            match part {
                Part::Prose(paragraph) => out.push_str(&format!("{paragraph}\n\n")),
                Part::Block { lines, .. } => push_block(&mut out, lines),
            }
        }
    }
    out.push_str(END);
    out
}

fn push_block(out: &mut String, lines: &[Line]) {
    out.push_str("```sh\n");
    for line in lines {
        out.push_str(&line.text());
        out.push('\n');
    }
    out.push_str("```\n\n");
}

/// `readme` with its section replaced by `section`; `None` without both markers.
pub fn replace_section(readme: &str, section: &str) -> Option<String> {
    let start = readme.find(BEGIN)?;
    let end = readme.get(start..)?.find(END)? + start + END.len();
    Some(format!(
        "{}{section}{}",
        readme.get(..start)?,
        readme.get(end..)?
    ))
}

/// The section of `readme`, markers included.
pub fn section(readme: &str) -> Option<&str> {
    let start = readme.find(BEGIN)?;
    let end = readme.get(start..)?.find(END)? + start + END.len();
    readme.get(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_follows_a_block_that_ends_in_a_curl() {
        for scenario in WALKTHROUGH.scenarios {
            let mut curls = 0;
            for part in scenario.parts {
                let Part::Block { lines, checks } = part else {
                    continue;
                };
                let last_is_curl = matches!(lines.last(), Some(Line::Curl { .. }));
                let curls_here = lines
                    .iter()
                    .filter(|line| matches!(line, Line::Curl { .. }))
                    .count();
                assert!(curls_here <= 1, "{}: one curl a block", scenario.title);
                assert_eq!(
                    last_is_curl,
                    !checks.is_empty(),
                    "{}: a block ending in a curl has checks, and only such a block",
                    scenario.title
                );
                if last_is_curl {
                    assert!(
                        checks.iter().any(|check| matches!(check, Check::Status(_))),
                        "{}: every answer's status is checked",
                        scenario.title
                    );
                }
                curls += curls_here;
            }
            assert!(curls > 0, "{}: a scenario sends a request", scenario.title);
        }
    }

    #[test]
    fn checks_name_variables_set_before_them() {
        let mut set: Vec<&str> = Vec::new();
        let record = |lines: &[Line], set: &mut Vec<&'static str>| {
            for line in lines {
                if let Line::Set { var, .. } = line {
                    set.push(var);
                }
            }
        };
        record(WALKTHROUGH.setup, &mut set);
        for scenario in WALKTHROUGH.scenarios {
            for part in scenario.parts {
                if let Part::Block { lines, checks } = part {
                    record(lines, &mut set);
                    for check in *checks {
                        if let Check::ForwardedTokenIs(var) | Check::NowhereUpstream(var) = check {
                            assert!(set.contains(var), "{}: ${var} is never set", scenario.title);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_section_round_trips_through_a_readme() {
        let section = markdown(&WALKTHROUGH);
        let readme = format!("# Title\n\nbefore\n\n{section}\n\nafter\n");
        assert_eq!(super::section(&readme), Some(section.as_str()));
        let replaced = replace_section(&readme, "NEW").unwrap();
        assert_eq!(replaced, "# Title\n\nbefore\n\nNEW\n\nafter\n");
        assert_eq!(replace_section("no markers", "NEW"), None);
    }
}
