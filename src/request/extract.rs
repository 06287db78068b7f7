//! Finds the token in a request, and removes it from the query string when it must not travel on.
//!
//! A request that offers more than one token, or the same token header twice, is ambiguous and
//! refused: guessing which one counts is how validation and the upstream end up disagreeing.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

use crate::config::Location;

/// A token and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted<'r> {
    /// Borrowed from the request, or decoded from a percent-encoded query parameter.
    pub token: Cow<'r, str>,
    pub location: &'r Location,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractError {
    /// Several tokens, or a token header sent more than once.
    Ambiguous,
    /// A token source holds something that cannot be a token (not UTF-8, empty after the prefix).
    Malformed,
}

/// Looks in every configured location. `headers` are (lower-case name, raw value) pairs.
pub fn extract<'r>(
    headers: &'r [(String, Vec<u8>)],
    path: &'r str,
    locations: &'r [Location],
) -> Result<Option<Extracted<'r>>, ExtractError> {
    let mut found: Option<Extracted<'r>> = None;
    let mut record = |token: Cow<'r, str>, location: &'r Location| {
        if found.is_some() {
            return Err(ExtractError::Ambiguous);
        }
        found = Some(Extracted { token, location });
        Ok(())
    };
    for location in locations {
        match location {
            Location::Header { name, prefix } => {
                let mut values = headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
                let Some(value) = values.next() else { continue };
                if values.next().is_some() {
                    return Err(ExtractError::Ambiguous);
                }
                let value = std::str::from_utf8(value).map_err(|_| ExtractError::Malformed)?;
                if let Some(token) = strip_prefix_ignore_case(value, prefix) {
                    // Envoy joins a repeated `authorization` header into one value with commas
                    // ("Bearer a,Bearer b"); a JWT never holds a comma, so one means two tokens.
                    if token.contains(',') {
                        return Err(ExtractError::Ambiguous);
                    }
                    record(Cow::Borrowed(non_empty(token)?), location)?;
                } else if let Some(part) = value
                    .split(',')
                    .position(|part| loose_scheme(part.trim_start_matches([' ', '\t']), prefix))
                {
                    // Not this prefix, yet a lenient upstream reads a token after the scheme:
                    // `Bearer<TAB>t`, `bearer<NBSP>t`, or one of Envoy's joined copies
                    // (`Basic x,Bearer t`). Never let it pass unchecked beside another token, on
                    // a preflight or where a token may be missing.
                    return Err(if part == 0 {
                        ExtractError::Malformed
                    } else {
                        ExtractError::Ambiguous
                    });
                }
            }
            Location::Param(name) => {
                let mut value = None;
                for pair in query_pairs(path) {
                    match param_match(pair, name) {
                        ParamMatch::Exact if value.is_none() => value = Some(split_pair(pair).1),
                        ParamMatch::Exact | ParamMatch::LookAlike => {
                            return Err(ExtractError::Ambiguous)
                        }
                        ParamMatch::Other => {}
                    }
                }
                let Some(value) = value else { continue };
                // Decoded as the upstream would decode it (RFC 6750 §2.3: form-encoded).
                let value = percent_decode_str(value)
                    .decode_utf8()
                    .map_err(|_| ExtractError::Malformed)?;
                let token = match value {
                    Cow::Borrowed(raw) => Cow::Borrowed(non_empty(raw)?),
                    Cow::Owned(decoded) => Cow::Owned(non_empty(&decoded)?.to_owned()),
                };
                record(token, location)?;
            }
            Location::Cookie(name) => {
                let mut value = None;
                for cookie in cookies(headers) {
                    let Ok(cookie) = cookie else {
                        return Err(ExtractError::Malformed);
                    };
                    match cookie_match(cookie, name) {
                        ParamMatch::Exact if value.is_none() => value = Some(cookie_value(cookie)),
                        ParamMatch::Exact | ParamMatch::LookAlike => {
                            return Err(ExtractError::Ambiguous)
                        }
                        ParamMatch::Other => {}
                    }
                }
                let Some(value) = value else { continue };
                record(Cow::Borrowed(non_empty(value)?), location)?;
            }
        }
    }
    Ok(found)
}

/// Every `name=value` pair of every `cookie` header, in order (RFC 6265 §4.2.1: `; `-separated;
/// HTTP/2 may split them over several headers, RFC 9113 §8.2.3). A header that is not UTF-8 is
/// an error: a token could hide in it.
fn cookies(headers: &[(String, Vec<u8>)]) -> impl Iterator<Item = Result<&str, ()>> {
    headers
        .iter()
        .filter(|(name, _)| name == "cookie")
        .flat_map(|(_, value)| {
            let text = std::str::from_utf8(value);
            let malformed = text.is_err().then_some(Err(()));
            text.ok()
                .into_iter()
                .flat_map(|text| text.split(';'))
                .map(|pair| pair.trim_matches([' ', '\t']))
                .filter(|pair| !pair.is_empty())
                .map(Ok)
                .chain(malformed)
        })
}

/// The value of a `name=value` cookie, without the optional double quotes (RFC 6265 §4.1.1).
fn cookie_value(cookie: &str) -> &str {
    let value = split_pair(cookie).1.trim_matches([' ', '\t']);
    value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(value)
}

/// Cookie names are exact (RFC 6265), but frameworks decode and fold them (PHP turns `.` into
/// `_` and url-decodes): a cookie one of them reads as the token's is a second token. Parsers
/// of RFC 2965 cookies (Java's `HttpCookie`, older servlet containers) split on `,` as well:
/// to them `theme=dark, at=x` holds a second cookie, the token's.
fn cookie_match(cookie: &str, name: &str) -> ParamMatch {
    let wanted = skeleton(name);
    let mut segments = cookie.split(',');
    let raw_name = split_pair(segments.next().unwrap_or_default())
        .0
        .trim_matches([' ', '\t']);
    if segments.any(|segment| skeleton(split_pair(segment).0) == wanted) {
        return ParamMatch::LookAlike;
    }
    if raw_name == name {
        ParamMatch::Exact
    } else if skeleton(raw_name) == wanted {
        ParamMatch::LookAlike
    } else {
        ParamMatch::Other
    }
}

/// The `cookie` header without the cookie `name`, as one value; `None` when nothing is left.
pub fn remove_cookie(headers: &[(String, Vec<u8>)], name: &str) -> Option<String> {
    let kept: Vec<&str> = cookies(headers)
        .filter_map(Result::ok)
        .filter(|cookie| cookie_match(cookie, name) == ParamMatch::Other)
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// Whether `value` starts with the scheme of `prefix` (`Bearer` of `Bearer `), in any case, then
/// any whitespace or control character: what a parser that splits on whitespace reads as that
/// scheme and a credential.
fn loose_scheme(value: &str, prefix: &str) -> bool {
    let scheme = prefix.trim_end_matches(' ');
    if scheme.is_empty() || scheme.len() == prefix.len() {
        return false;
    }
    strip_prefix_ignore_case(value, scheme)
        .and_then(|rest| rest.chars().next())
        .is_some_and(|next| next.is_whitespace() || next.is_control())
}

fn strip_prefix_ignore_case<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    let head = value.get(..prefix.len())?;
    let rest = value.get(prefix.len()..)?;
    head.eq_ignore_ascii_case(prefix).then_some(rest)
}

/// A token is one non-empty run without whitespace (RFC 6750 `b64token`); surrounding optional
/// whitespace is tolerated.
fn non_empty(token: &str) -> Result<&str, ExtractError> {
    let token = token.trim_matches([' ', '\t']);
    if token.is_empty() || token.contains(|c: char| c.is_ascii_whitespace()) {
        return Err(ExtractError::Malformed);
    }
    Ok(token)
}

/// The raw `name=value` pairs of the query string, `&`-separated.
fn query_pairs(path: &str) -> impl Iterator<Item = &str> {
    let query = path.split_once('?').map_or("", |(_, query)| query);
    query.split('&').filter(|pair| !pair.is_empty())
}

fn split_pair(pair: &str) -> (&str, &str) {
    pair.split_once('=').unwrap_or((pair, ""))
}

/// How one `name=value` pair of the query relates to the token parameter `name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParamMatch {
    /// The parameter itself, possibly percent-encoded once (`access%5Ftoken`).
    Exact,
    /// A name some upstream framework reads as the token parameter, or a pair a `;`-splitting
    /// framework reads as one: a second token the filter would not have checked.
    LookAlike,
    Other,
}

fn param_match(pair: &str, name: &str) -> ParamMatch {
    let (raw_name, _) = split_pair(pair);
    let wanted = skeleton(name);
    if pair.contains(';') {
        // Frameworks that also split on `;` read `a=1;access_token=x` as two pairs.
        let mut names = pair.split(';').map(|segment| split_pair(segment).0);
        return if names.any(|segment| skeleton(segment) == wanted) {
            ParamMatch::LookAlike
        } else {
            ParamMatch::Other
        };
    }
    if param_name_is(raw_name, name) {
        ParamMatch::Exact
    } else if skeleton(raw_name) == wanted {
        ParamMatch::LookAlike
    } else {
        ParamMatch::Other
    }
}

/// Whether a raw (possibly percent-encoded) parameter name is `name`: `access%5Ftoken` is
/// `access_token` to any upstream that decodes its query, so it is to the filter too.
fn param_name_is(raw: &str, name: &str) -> bool {
    if raw.contains('%') {
        percent_decode_str(raw).decode_utf8_lossy() == name
    } else {
        raw == name
    }
}

/// How many rounds of percent-decoding a parameter name gets: `%2525…` layers beyond this are
/// not a name any framework decodes to the token's.
const MAX_DECODE_ROUNDS: usize = 4;

/// A parameter name reduced to what the common frameworks read it as: percent- and
/// form-decoded (repeatedly: double-encoding), cut at a NUL (C strings) and at `[` (PHP and Rack
/// arrays, `access_token[]`), Unicode case-folded (`ACCESS_TOKEN`, the long `ſ`, the Kelvin
/// sign), and only letters and digits kept (PHP reads `.`, ` ` and `[` as `_`).
fn skeleton(raw: &str) -> String {
    let mut name: Cow<'_, str> = Cow::Borrowed(raw);
    for _ in 0..MAX_DECODE_ROUNDS {
        if !name.contains(['%', '+']) {
            break;
        }
        let spaced = name.replace('+', " ");
        name = Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned());
    }
    let name = name.split(['\0', '[']).next().unwrap_or_default();
    name.chars()
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// `path` without any `name=...` query parameter; everything else keeps its order and bytes.
pub fn remove_query_param(path: &str, name: &str) -> String {
    let Some((base, query)) = path.split_once('?') else {
        return path.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !param_name_is(split_pair(pair).0, name))
        .collect();
    if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer() -> Location {
        Location::Header {
            name: "authorization".into(),
            prefix: "Bearer ".into(),
        }
    }

    fn headers(pairs: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_vec()))
            .collect()
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let locations = [bearer()];
        for value in [
            &b"Bearer abc.def.ghi"[..],
            b"bearer abc.def.ghi",
            b"BEARER  abc.def.ghi ",
        ] {
            let h = headers(&[("authorization", value)]);
            let found = extract(&h, "/", &locations).unwrap().unwrap();
            assert_eq!(found.token, "abc.def.ghi");
            assert_eq!(found.location, &locations[0]);
        }
    }

    #[test]
    fn other_schemes_and_absence_are_no_token() {
        let locations = [bearer()];
        let basic = headers(&[("authorization", b"Basic dXNlcjpwYXNz")]);
        assert_eq!(extract(&basic, "/", &locations), Ok(None));
        assert_eq!(extract(&headers(&[]), "/", &locations), Ok(None));
        let short = headers(&[("authorization", b"Bear")]);
        assert_eq!(extract(&short, "/", &locations), Ok(None));
    }

    #[test]
    fn empty_spaced_or_binary_tokens_are_malformed() {
        let locations = [bearer()];
        for value in [&b"Bearer "[..], b"Bearer a b", b"Bearer \xff\xfe"] {
            let h = headers(&[("authorization", value)]);
            assert_eq!(
                extract(&h, "/", &locations),
                Err(ExtractError::Malformed),
                "{value:?}"
            );
        }
    }

    #[test]
    fn a_scheme_a_lenient_upstream_reads_is_never_passed_over() {
        let locations = [bearer(), Location::Cookie("at".into())];
        let cookie: (&str, &[u8]) = ("cookie", b"at=a.b.c");
        for value in [
            &b"Bearer\tx.y.z"[..],
            b"bearer\x0bx.y.z",
            b"BEARER\x1fx.y.z",
            "Bearer\u{a0}x.y.z".as_bytes(),
            "Bearer\u{3000}x.y.z".as_bytes(),
            b"Bearer\t",
        ] {
            for h in [
                headers(&[("authorization", value)]),
                headers(&[("authorization", value), cookie]),
            ] {
                assert_eq!(
                    extract(&h, "/", &locations),
                    Err(ExtractError::Malformed),
                    "{value:?}"
                );
            }
        }
        // Envoy joins a repeated authorization header: a bearer token after a comma is a second
        // credential.
        for value in [
            &b"Basic eDp5,Bearer x.y.z"[..],
            b"Basic eDp5, bearer\tx.y.z",
        ] {
            let h = headers(&[("authorization", value), cookie]);
            assert_eq!(
                extract(&h, "/", &locations),
                Err(ExtractError::Ambiguous),
                "{value:?}"
            );
        }
        // Other schemes, and words that only begin like the scheme, are no token.
        for value in [
            &b"Basic eDp5"[..],
            b"Bearer",
            b"BearerX",
            b"Bearers x",
            b"Digest realm=\"a, bearer\", nonce=\"1\"",
        ] {
            let h = headers(&[("authorization", value), cookie]);
            let found = extract(&h, "/", &locations).unwrap().unwrap();
            assert_eq!(found.token, "a.b.c", "{value:?}");
        }
        // A prefix-less header has no scheme to be lenient about.
        assert!(!loose_scheme("x y", ""));
    }

    #[test]
    fn a_repeated_token_header_is_ambiguous() {
        let locations = [bearer()];
        let h = headers(&[
            ("authorization", b"Bearer a.b.c"),
            ("authorization", b"Bearer d.e.f"),
        ]);
        assert_eq!(extract(&h, "/", &locations), Err(ExtractError::Ambiguous));
        let mixed = headers(&[
            ("authorization", b"Basic x"),
            ("authorization", b"Bearer d.e.f"),
        ]);
        assert_eq!(
            extract(&mixed, "/", &locations),
            Err(ExtractError::Ambiguous)
        );
    }

    #[test]
    fn query_parameter_tokens_and_ambiguity() {
        let locations = [bearer(), Location::Param("access_token".into())];
        let none = headers(&[]);
        let found = extract(&none, "/x?a=1&access_token=t.u.v", &locations)
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.token.as_ref(), found.location),
            ("t.u.v", &locations[1])
        );
        assert_eq!(
            extract(
                &none,
                "/x?access_token=a.b.c&access_token=d.e.f",
                &locations
            ),
            Err(ExtractError::Ambiguous)
        );
        let both = headers(&[("authorization", b"Bearer a.b.c")]);
        assert_eq!(
            extract(&both, "/x?access_token=a.b.c", &locations),
            Err(ExtractError::Ambiguous)
        );
        assert_eq!(
            extract(&none, "/x?access_token=", &locations),
            Err(ExtractError::Malformed)
        );
        assert_eq!(extract(&none, "/x?access_tokenx=1", &locations), Ok(None));
    }

    #[test]
    fn query_parameters_are_percent_decoded_like_the_upstream_would() {
        let locations = [Location::Param("access_token".into())];
        let none = headers(&[]);
        let found = extract(&none, "/x?access%5Ftoken=a%2Eb.c", &locations)
            .unwrap()
            .unwrap();
        assert_eq!(found.token, "a.b.c");
        // An encoded name is the same parameter: two of them are two tokens.
        assert_eq!(
            extract(
                &none,
                "/x?access_token=a.b.c&access%5ftoken=d.e.f",
                &locations
            ),
            Err(ExtractError::Ambiguous)
        );
        for bad in ["/x?access_token=%FF.b.c", "/x?access_token=a%20b.c"] {
            assert_eq!(
                extract(&none, bad, &locations),
                Err(ExtractError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            remove_query_param("/a?b=1&access%5Ftoken=x&c=2", "access_token"),
            "/a?b=1&c=2"
        );
    }

    #[test]
    fn removing_a_query_parameter_keeps_the_rest() {
        assert_eq!(
            remove_query_param("/a?access_token=x", "access_token"),
            "/a"
        );
        assert_eq!(
            remove_query_param("/a?b=1&access_token=x&c=%20", "access_token"),
            "/a?b=1&c=%20"
        );
        assert_eq!(remove_query_param("/a?b=1", "access_token"), "/a?b=1");
        assert_eq!(remove_query_param("/a", "access_token"), "/a");
        assert_eq!(remove_query_param("/a?access_token", "access_token"), "/a");
    }

    #[test]
    fn cookie_tokens_over_one_or_several_headers() {
        let locations = [bearer(), Location::Cookie("at".into())];
        for h in [
            headers(&[("cookie", b"theme=dark; at=a.b.c; lang=en")]),
            headers(&[("cookie", b"theme=dark"), ("cookie", b"at=\"a.b.c\"")]),
            headers(&[("cookie", b"  at=a.b.c ;;")]),
            headers(&[("cookie", b"prefs=a,b,att=1; at=a.b.c")]),
        ] {
            let found = extract(&h, "/", &locations).unwrap().unwrap();
            assert_eq!(
                (found.token.as_ref(), found.location),
                ("a.b.c", &locations[1])
            );
        }
        type Headers<'a> = &'a [(&'a str, &'a [u8])];
        let cases: [(Headers<'_>, _); 10] = [
            (
                &[("cookie", b"at=a.b.c; at=d.e.f")],
                Err(ExtractError::Ambiguous),
            ),
            (
                &[("cookie", b"at=a.b.c"), ("cookie", b"at=a.b.c")],
                Err(ExtractError::Ambiguous),
            ),
            (
                &[("cookie", b"at=a.b.c"), ("authorization", b"Bearer a.b.c")],
                Err(ExtractError::Ambiguous),
            ),
            // Names PHP or Rack read as `at` are a second token.
            (
                &[("cookie", b"a%74=x.y.z; at=a.b.c")],
                Err(ExtractError::Ambiguous),
            ),
            (&[("cookie", b"AT=x.y.z")], Err(ExtractError::Ambiguous)),
            // A comma-splitting parser sees a second cookie, and it is the token's.
            (
                &[
                    ("cookie", b"theme=dark, at=x.y.z"),
                    ("authorization", b"Bearer a.b.c"),
                ],
                Err(ExtractError::Ambiguous),
            ),
            (
                &[("cookie", b"at=a.b.c; lang=en,AT=x.y.z")],
                Err(ExtractError::Ambiguous),
            ),
            (&[("cookie", b"x,at=x.y.z")], Err(ExtractError::Ambiguous)),
            (&[("cookie", b"at=")], Err(ExtractError::Malformed)),
            (
                &[("cookie", b"theme=\xff; at=a.b.c")],
                Err(ExtractError::Malformed),
            ),
        ];
        for (pairs, expected) in cases {
            assert_eq!(
                extract(&headers(pairs), "/", &locations),
                expected,
                "{pairs:?}"
            );
        }
        for other in [&b"att=a.b.c; xat=1"[..], b"theme=at", b""] {
            let h = headers(&[("cookie", other)]);
            assert_eq!(extract(&h, "/", &locations), Ok(None), "{other:?}");
        }
    }

    #[test]
    fn removing_a_cookie_keeps_the_others() {
        let h = headers(&[("cookie", b"theme=dark; at=a.b.c"), ("cookie", b"lang=en")]);
        assert_eq!(
            remove_cookie(&h, "at").as_deref(),
            Some("theme=dark; lang=en")
        );
        assert_eq!(
            remove_cookie(&headers(&[("cookie", b"at=a.b.c")]), "at"),
            None
        );
        assert_eq!(remove_cookie(&headers(&[]), "at"), None);
    }

    #[test]
    fn look_alike_parameter_names_are_a_second_token() {
        // Names that PHP, Rack, Spring, Express or a C-string reader would take for
        // `access_token`: refused, alone or beside a token, never passed over.
        let locations = [bearer(), Location::Param("access_token".into())];
        let header = headers(&[("authorization", b"Bearer a.b.c")]);
        let none = headers(&[]);
        for query in [
            "Access_Token=x.y.z",
            "ACCESS_TOKEN=x.y.z",
            "acce\u{17f}s_token=x.y.z",
            "access_to\u{212a}en=x.y.z",
            "access_token[]=x.y.z",
            "access_token[0]=x.y.z",
            "access_token[=x.y.z",
            "access.token=x.y.z",
            "access+token=x.y.z",
            "access%20token=x.y.z",
            "access%255Ftoken=x.y.z",
            "access%25255Ftoken=x.y.z",
            "access_token%00x=x.y.z",
            "accesstoken=x.y.z",
            "a=1;access_token=x.y.z",
            "access_token=x.y.z;b=1",
            "%26access_token=x.y.z",
        ] {
            for h in [&header, &none] {
                let path = format!("/orders?q=1&{query}");
                assert_eq!(
                    extract(h, &path, &locations),
                    Err(ExtractError::Ambiguous),
                    "{query}"
                );
            }
        }
        // Unrelated names and values stay unrelated.
        for query in ["access_token_x=1", "token=1", "q=access_token", "a=1;b=2"] {
            let path = format!("/orders?{query}");
            assert_eq!(extract(&none, &path, &locations), Ok(None), "{query}");
        }
    }
}
